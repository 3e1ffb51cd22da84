//! The records the relay scheduler's two halves exchange, byte for byte as
//! `bpf-objects/relay/relay.bpf.c` lays them out (x86_64, little-endian,
//! natural alignment): what BPF hands up ([`RelayTask`]), what user space
//! hands back ([`RelayDispatch`]) and the statistics BPF keeps ([`Stats`]).
//! Pure: no syscall, so the layouts are unit-tested.

/// `struct relay_task`: a task became runnable (BPF → user space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayTask {
    pub pid: i32,
    /// `p->scx.weight`: 100 at nice 0, 1..10000 over the nice range.
    pub weight: u32,
    /// CPU time the task has used so far (`p->se.sum_exec_runtime`).
    pub sum_exec_ns: u64,
    /// `bpf_ktime_get_ns()` when it was enqueued.
    pub enqueued_ns: u64,
}

/// `struct relay_dispatch`: run this task for `slice_ns` (user space → BPF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayDispatch {
    pub pid: i32,
    pub slice_ns: u64,
    /// The task's `enqueued_ns`, returned so BPF can time the round trip.
    pub enqueued_ns: u64,
}

/// `struct relay_stats`, the one entry of the `stats` map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Tasks handed to user space.
    pub nr_enqueued: u64,
    /// Tasks dispatched as user space decided.
    pub nr_user_dispatched: u64,
    /// Tasks dispatched kernel-side (user space behind, or its queue full).
    pub nr_kernel_dispatched: u64,
    /// Enqueues of the user half's own threads (dispatched directly).
    pub nr_user_half: u64,
    /// Decisions for tasks that had exited by then.
    pub nr_lost: u64,
    /// Sum of the enqueue → user-space dispatch times.
    pub rtt_sum_ns: u64,
    /// Longest enqueue → user-space dispatch time.
    pub rtt_max_ns: u64,
}

/// Size of [`RelayTask`] and of [`RelayDispatch`] on the wire.
pub const RECORD_SIZE: usize = 24;
/// Size of [`Stats`] on the wire.
pub const STATS_SIZE: usize = 56;

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(w)
}

impl RelayTask {
    /// Decodes one record; `None` when `b` is not [`RECORD_SIZE`] bytes.
    #[must_use]
    pub fn decode(b: &[u8]) -> Option<Self> {
        (b.len() == RECORD_SIZE).then(|| RelayTask {
            pid: i32::from_le_bytes(u32_at(b, 0).to_le_bytes()),
            weight: u32_at(b, 4),
            sum_exec_ns: u64_at(b, 8),
            enqueued_ns: u64_at(b, 16),
        })
    }
}

impl RelayDispatch {
    /// The record as BPF pops it.
    #[must_use]
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut b = [0u8; RECORD_SIZE];
        b[0..4].copy_from_slice(&self.pid.to_le_bytes());
        b[8..16].copy_from_slice(&self.slice_ns.to_le_bytes());
        b[16..24].copy_from_slice(&self.enqueued_ns.to_le_bytes());
        b
    }
}

impl Stats {
    /// Decodes the map value; `None` when `b` is not [`STATS_SIZE`] bytes.
    #[must_use]
    pub fn decode(b: &[u8]) -> Option<Self> {
        (b.len() == STATS_SIZE).then(|| Stats {
            nr_enqueued: u64_at(b, 0),
            nr_user_dispatched: u64_at(b, 8),
            nr_kernel_dispatched: u64_at(b, 16),
            nr_user_half: u64_at(b, 24),
            nr_lost: u64_at(b, 32),
            rtt_sum_ns: u64_at(b, 40),
            rtt_max_ns: u64_at(b, 48),
        })
    }

    /// Mean enqueue → user-space dispatch time, in µs.
    #[must_use]
    #[allow(
        clippy::cast_precision_loss,
        reason = "a statistic: counts and sums far below 2^52 print exactly"
    )]
    pub fn rtt_mean_us(&self) -> f64 {
        if self.nr_user_dispatched == 0 {
            return 0.0;
        }
        self.rtt_sum_ns as f64 / self.nr_user_dispatched as f64 / 1000.0
    }

    /// Share of the dispatches user space decided (0..=1; the user half's
    /// own enqueues are not counted on either side).
    #[must_use]
    #[allow(
        clippy::cast_precision_loss,
        reason = "a statistic: counts far below 2^52 print exactly"
    )]
    pub fn user_share(&self) -> f64 {
        let total = self.nr_user_dispatched + self.nr_kernel_dispatched;
        if total == 0 {
            return 0.0;
        }
        self.nr_user_dispatched as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_record_decodes_field_by_field() {
        let mut b = [0u8; RECORD_SIZE];
        b[0..4].copy_from_slice(&(-7i32).to_le_bytes());
        b[4..8].copy_from_slice(&100u32.to_le_bytes());
        b[8..16].copy_from_slice(&123_456u64.to_le_bytes());
        b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        let t = RelayTask::decode(&b).expect("24 bytes");
        assert_eq!(
            t,
            RelayTask {
                pid: -7,
                weight: 100,
                sum_exec_ns: 123_456,
                enqueued_ns: u64::MAX
            }
        );
        assert_eq!(RelayTask::decode(&b[..23]), None);
    }

    #[test]
    fn a_dispatch_record_leaves_the_padding_zero() {
        let d = RelayDispatch {
            pid: 42,
            slice_ns: 5_000_000,
            enqueued_ns: 9,
        };
        let b = d.encode();
        assert_eq!(&b[0..4], &42i32.to_le_bytes());
        assert_eq!(&b[4..8], &[0; 4]);
        assert_eq!(&b[8..16], &5_000_000u64.to_le_bytes());
        assert_eq!(&b[16..24], &9u64.to_le_bytes());
    }

    #[test]
    fn stats_decode_and_derive_the_user_share_and_mean_round_trip() {
        let mut b = [0u8; STATS_SIZE];
        for (i, v) in [10u64, 8, 2, 5, 1, 16_000, 9_000].iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        let s = Stats::decode(&b).expect("56 bytes");
        assert_eq!(s.nr_user_dispatched, 8);
        assert_eq!(s.rtt_max_ns, 9_000);
        assert!((s.user_share() - 0.8).abs() < 1e-9);
        assert!((s.rtt_mean_us() - 2.0).abs() < 1e-9);
        assert!(Stats::default().user_share().abs() < f64::EPSILON);
        assert_eq!(Stats::decode(&b[1..]), None);
    }
}
