//! A log-linear histogram of latencies in nanoseconds (64 buckets per power
//! of two: a quantile is off by under 1.6 %, in constant memory however long
//! the run), summarised as median, p99 and maximum. Shared by the relay
//! scheduler's user-space round trip ([`crate::relay`]) and the wakeup
//! latency measurement ([`crate::wakeup`]). Pure: the caller supplies the
//! times.

use serde::{Deserialize, Serialize};

/// Bits of the mantissa kept per power of two.
const SUB_BITS: u32 = 6;
/// Values below this are counted exactly.
const EXACT: u64 = 2 << SUB_BITS;
/// Buckets: the exact ones, then 64 per power of two from 2^7 to 2^63.
const BUCKETS: usize = (((64 - SUB_BITS - 1) as usize) << SUB_BITS) + EXACT as usize;

/// A histogram of latencies in nanoseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    counts: Vec<u64>,
    count: u64,
    max_ns: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            counts: vec![0; BUCKETS],
            count: 0,
            max_ns: 0,
        }
    }
}

/// What a run's latencies came to, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Latencies recorded.
    pub count: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// The bucket of `ns`.
fn bucket(ns: u64) -> usize {
    if ns < EXACT {
        return usize::try_from(ns).unwrap_or(0);
    }
    let exp = ns.ilog2();
    let shift = exp - SUB_BITS;
    let mantissa = ns >> shift; // in [64, 128)
    usize::try_from((u64::from(shift) << SUB_BITS) + mantissa).unwrap_or(BUCKETS - 1)
}

/// The largest value bucket `i` holds.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < EXACT {
        return i;
    }
    let shift = (i >> SUB_BITS) - 1;
    let mantissa = (i & ((1 << SUB_BITS) - 1)) | (1 << SUB_BITS);
    let top = (u128::from(mantissa + 1) << shift) - 1;
    u64::try_from(top).unwrap_or(u64::MAX)
}

impl Latencies {
    /// Counts one latency of `ns` nanoseconds.
    pub fn record(&mut self, ns: u64) {
        self.counts[bucket(ns)] += 1;
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds everything `other` counted.
    pub fn merge(&mut self, other: &Latencies) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// The value at quantile `q` (0..=1) in ns, rounded up to its bucket's
    /// top and never above the maximum seen; 0 when nothing was recorded.
    #[must_use]
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        // The rank of the q-quantile, 1-based: ceil(q * count), at least 1.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a rank within 1..=count"
        )]
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return upper(i).min(self.max_ns);
            }
        }
        self.max_ns
    }

    /// Median, p99 and maximum in microseconds.
    #[must_use]
    #[allow(clippy::cast_precision_loss, reason = "figures for people")]
    pub fn summary(&self) -> LatencySummary {
        let us = |ns: u64| ns as f64 / 1000.0;
        LatencySummary {
            count: self.count,
            p50_us: us(self.quantile(0.5)),
            p99_us: us(self.quantile(0.99)),
            max_us: us(self.max_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut l = Latencies::default();
        for ns in 1..=100 {
            l.record(ns);
        }
        assert_eq!(l.quantile(0.5), 50);
        assert_eq!(l.quantile(0.99), 99);
        assert_eq!(l.quantile(1.0), 100);
        assert_eq!(l.quantile(0.0), 1);
    }

    #[test]
    fn every_bucket_holds_what_it_says() {
        for ns in (0..20_000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let i = bucket(ns);
            assert!(i < BUCKETS, "{ns}");
            assert!(ns <= upper(i), "{ns} above its bucket's top {}", upper(i));
            if i > 0 {
                assert!(ns > upper(i - 1), "{ns} belongs to an earlier bucket");
            }
        }
    }

    #[test]
    fn large_quantiles_are_within_two_percent() {
        let mut l = Latencies::default();
        // 1..=10000 us: the median is 5000 us, p99 9900 us.
        for us in 1..=10_000u64 {
            l.record(us * 1000);
        }
        let s = l.summary();
        assert_eq!(s.count, 10_000);
        assert!((s.p50_us - 5000.0).abs() / 5000.0 < 0.02, "{s:?}");
        assert!((s.p99_us - 9900.0).abs() / 9900.0 < 0.02, "{s:?}");
        assert!((s.max_us - 10_000.0).abs() < f64::EPSILON, "{s:?}");
    }

    #[test]
    fn merged_histograms_count_both() {
        let mut a = Latencies::default();
        let mut b = Latencies::default();
        for ns in 1..=50 {
            a.record(ns);
        }
        for ns in 51..=100 {
            b.record(ns);
        }
        a.merge(&b);
        assert_eq!(a.summary().count, 100);
        assert_eq!(a.quantile(0.5), 50);
        assert_eq!(a.quantile(1.0), 100);
    }

    #[test]
    fn nothing_recorded_is_zero() {
        let s = Latencies::default().summary();
        assert_eq!(s, LatencySummary::default());
    }
}
