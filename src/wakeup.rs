//! Wakeup latency under load, measured on the running system (what
//! `scxpack wakeup-latency` prints, and what `scxpack vmtest --latency` runs
//! in each guest), in the manner of `cyclictest`: one CPU-bound spinner per
//! CPU counts loop iterations (the background throughput), while wakeup
//! threads sleep to absolute deadlines one period apart
//! (`clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`) and record how late
//! they woke (now − deadline) in a [`Latencies`] histogram.
//!
//! All threads are ordinary `SCHED_OTHER` threads at nice 0, so they are
//! scheduled by whatever the kernel runs: its default scheduler or a
//! sched_ext one. The sched_ext state and scheduler name are read before
//! and after the measurement ([`System::sched_ext`]) so a caller can tell
//! which scheduler it measured. Assumes Linux.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::histogram::{Latencies, LatencySummary};
use crate::live::System;

/// How long [`await_state`] waits for sched_ext to reach a state.
pub const AWAIT_LIMIT: Duration = Duration::from_secs(30);

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// How long the load and the wakeups run.
    pub duration: Duration,
    /// The wakeup period (each thread's deadlines are this far apart).
    pub period: Duration,
    /// Wakeup threads.
    pub wakers: usize,
    /// CPU-bound background threads (one per CPU is the intended load).
    pub spinners: usize,
}

/// Why a measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum WakeupError {
    #[error("{what} must be positive: {hint}")]
    Zero {
        what: &'static str,
        hint: &'static str,
    },
    #[error(
        "the period ({period_us} µs) is not shorter than the duration ({duration_ms} ms): \
         give a longer --duration or a shorter --period-us"
    )]
    PeriodTooLong { period_us: u128, duration_ms: u128 },
    #[error("cannot start a measurement thread: {0}")]
    Spawn(std::io::Error),
    #[error("a measurement thread panicked")]
    Thread,
    #[error("clock_gettime(CLOCK_MONOTONIC) failed: {0}")]
    Clock(std::io::Error),
    #[error("clock_nanosleep failed: {0}")]
    Sleep(std::io::Error),
    #[error("this kernel has no sched_ext (/sys/kernel/sched_ext is missing), so it is never {0}")]
    NoSchedExt(String),
    #[error(
        "sched_ext did not become {wanted} within {} s (it is {seen}): is a scheduler starting or stopping?",
        AWAIT_LIMIT.as_secs()
    )]
    StateTimeout { wanted: String, seen: String },
}

impl Settings {
    /// Checks the settings make a measurement.
    pub fn validate(&self) -> Result<(), WakeupError> {
        let zero = |what, hint| Err(WakeupError::Zero { what, hint });
        if self.duration.is_zero() {
            return zero("the duration", "give --duration in seconds, e.g. 5");
        }
        if self.period.is_zero() {
            return zero("the period", "give --period-us, e.g. 1000");
        }
        if self.wakers == 0 {
            return zero("the number of wakeup threads", "give --threads 1 or more");
        }
        if self.spinners == 0 {
            return zero("the number of spinners", "give --spinners 1 or more");
        }
        if self.period >= self.duration {
            return Err(WakeupError::PeriodTooLong {
                period_us: self.period.as_micros(),
                duration_ms: self.duration.as_millis(),
            });
        }
        Ok(())
    }
}

/// Which scheduler ran, as sched_ext's sysfs said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerSeen {
    /// `/sys/kernel/sched_ext/state`; `None` when the kernel has no sched_ext.
    pub state: Option<String>,
    /// `/sys/kernel/sched_ext/root/ops`, when a sched_ext scheduler is loaded.
    pub ops: Option<String>,
}

impl SchedulerSeen {
    /// What `system` shows now.
    #[must_use]
    pub fn now(system: &System) -> Self {
        let sysfs = system.sched_ext();
        Self {
            state: sysfs.as_ref().and_then(|s| s.state.clone()),
            ops: sysfs.and_then(|s| s.root_ops),
        }
    }

    /// The kernel's own scheduler ran (sched_ext absent or disabled).
    #[must_use]
    pub fn is_default(&self) -> bool {
        self.state.as_deref().is_none_or(|s| s == "disabled")
    }

    /// The sched_ext scheduler whose ops name starts with one of `names` ran.
    #[must_use]
    pub fn is_ops(&self, names: &[String]) -> bool {
        self.state.as_deref() == Some("enabled")
            && self
                .ops
                .as_deref()
                .is_some_and(|ops| names.iter().any(|n| ops.starts_with(n.as_str())))
    }
}

/// The background load's work.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Background {
    /// Spinner threads.
    pub threads: usize,
    /// Loop iterations of all spinners together.
    pub iterations: u64,
    /// `iterations` per second of the measurement.
    pub iterations_per_sec: f64,
}

/// The wakeups' lateness.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Wakeups {
    /// Wakeup threads.
    pub threads: usize,
    /// How late they woke, in µs, over all threads.
    #[serde(flatten)]
    pub latency: LatencySummary,
}

/// One measurement, as `scxpack wakeup-latency --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Seconds the measurement ran.
    pub duration_secs: f64,
    pub period_us: u64,
    pub wakeup: Wakeups,
    pub background: Background,
    /// The scheduler before the load started and after it stopped.
    pub scheduler_before: SchedulerSeen,
    pub scheduler_after: SchedulerSeen,
}

/// Waits (up to [`AWAIT_LIMIT`]) until sched_ext's state is `wanted`
/// (`disabled` also accepts a kernel without sched_ext).
pub fn await_state(system: &System, wanted: &str) -> Result<(), WakeupError> {
    let start = Instant::now();
    loop {
        let seen = SchedulerSeen::now(system);
        match seen.state.as_deref() {
            None if wanted == "disabled" => return Ok(()),
            None => return Err(WakeupError::NoSchedExt(wanted.to_owned())),
            Some(s) if s == wanted => return Ok(()),
            Some(s) if start.elapsed() >= AWAIT_LIMIT => {
                return Err(WakeupError::StateTimeout {
                    wanted: wanted.to_owned(),
                    seen: s.to_owned(),
                });
            }
            Some(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Runs the load and the wakeups for `settings.duration`.
pub fn measure(system: &System, settings: &Settings) -> Result<Measurement, WakeupError> {
    settings.validate()?;
    let scheduler_before = SchedulerSeen::now(system);
    let stop = Arc::new(AtomicBool::new(false));
    let mut spinners = Vec::new();
    let timed = start_spinners(settings.spinners, &stop, &mut spinners)
        .and_then(|()| time_wakeups(settings));
    // The spinners stop whatever happened, so none outlives an error.
    stop.store(true, Ordering::Relaxed);
    let iterations = spinners.into_iter().try_fold(0u64, |sum, spinner| {
        let n = spinner.join().map_err(|_| WakeupError::Thread)??;
        Ok::<_, WakeupError>(sum.saturating_add(n))
    });
    let (elapsed, latencies) = timed?;
    let iterations = iterations?;
    #[allow(clippy::cast_precision_loss, reason = "a rate for people")]
    let iterations_per_sec = iterations as f64 / elapsed.as_secs_f64();
    Ok(Measurement {
        duration_secs: elapsed.as_secs_f64(),
        period_us: u64::try_from(settings.period.as_micros()).unwrap_or(u64::MAX),
        wakeup: Wakeups {
            threads: settings.wakers,
            latency: latencies.summary(),
        },
        background: Background {
            threads: settings.spinners,
            iterations,
            iterations_per_sec,
        },
        scheduler_before,
        scheduler_after: SchedulerSeen::now(system),
    })
}

/// Starts `n` spinners into `out` (those started stay there on an error).
fn start_spinners(
    n: usize,
    stop: &Arc<AtomicBool>,
    out: &mut Vec<Handle<u64>>,
) -> Result<(), WakeupError> {
    for _ in 0..n {
        let stop = Arc::clone(stop);
        out.push(spawn(move || Ok(spin(&stop)))?);
    }
    Ok(())
}

/// Runs the wakeup threads to the end; how long that took and what they saw.
fn time_wakeups(settings: &Settings) -> Result<(Duration, Latencies), WakeupError> {
    let start = Instant::now();
    let (duration, period) = (settings.duration, settings.period);
    let wakers = (0..settings.wakers)
        .map(|_| spawn(move || wake(duration, period)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut latencies = Latencies::default();
    for waker in wakers {
        latencies.merge(&waker.join().map_err(|_| WakeupError::Thread)??);
    }
    Ok((start.elapsed(), latencies))
}

type Handle<T> = thread::JoinHandle<Result<T, WakeupError>>;

fn spawn<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WakeupError> + Send + 'static,
) -> Result<Handle<T>, WakeupError> {
    thread::Builder::new()
        .name("scxpack-wakeup".to_owned())
        .spawn(f)
        .map_err(WakeupError::Spawn)
}

/// Counts loop iterations until `stop`.
fn spin(stop: &AtomicBool) -> u64 {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n = black_box(n + 1);
    }
    n
}

/// Sleeps to deadlines `period` apart for `duration`, recording lateness.
fn wake(duration: Duration, period: Duration) -> Result<Latencies, WakeupError> {
    let period = nanos(period);
    let start = monotonic_ns()?;
    let end = start.saturating_add(nanos(duration));
    let mut latencies = Latencies::default();
    let mut deadline = start.saturating_add(period);
    while deadline <= end {
        sleep_until(deadline)?;
        let now = monotonic_ns()?;
        latencies.record(now.saturating_sub(deadline));
        deadline = next_deadline(deadline, now, period);
    }
    Ok(latencies)
}

/// The first deadline after `now` on the grid of `deadline` + k·`period`
/// (deadlines missed while late are skipped, as `cyclictest` does).
fn next_deadline(deadline: u64, now: u64, period: u64) -> u64 {
    let next = deadline.saturating_add(period);
    if next > now {
        return next;
    }
    let missed = (now - next) / period + 1;
    next.saturating_add(missed.saturating_mul(period))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `CLOCK_MONOTONIC` in ns.
fn monotonic_ns() -> Result<u64, WakeupError> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) } != 0 {
        return Err(WakeupError::Clock(std::io::Error::last_os_error()));
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let ns = u64::try_from(ts.tv_nsec).unwrap_or(0);
    Ok(secs.saturating_mul(1_000_000_000).saturating_add(ns))
}

/// Sleeps until `CLOCK_MONOTONIC` reads `deadline` ns (restarted after a signal).
fn sleep_until(deadline: u64) -> Result<(), WakeupError> {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(deadline / 1_000_000_000).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::try_from(deadline % 1_000_000_000).unwrap_or(0),
    };
    loop {
        // SAFETY: `ts` is a valid timespec; no remainder is asked for.
        let rc = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &raw const ts,
                std::ptr::null_mut(),
            )
        };
        match rc {
            0 => return Ok(()),
            libc::EINTR => {}
            errno => return Err(WakeupError::Sleep(std::io::Error::from_raw_os_error(errno))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            duration: Duration::from_millis(300),
            period: Duration::from_millis(1),
            wakers: 2,
            spinners: 1,
        }
    }

    #[test]
    fn bad_settings_say_what_to_give() {
        let cases = [
            (
                Settings {
                    duration: Duration::ZERO,
                    ..settings()
                },
                "--duration",
            ),
            (
                Settings {
                    period: Duration::ZERO,
                    ..settings()
                },
                "--period-us",
            ),
            (
                Settings {
                    wakers: 0,
                    ..settings()
                },
                "--threads",
            ),
            (
                Settings {
                    spinners: 0,
                    ..settings()
                },
                "--spinners",
            ),
            (
                Settings {
                    period: Duration::from_secs(1),
                    ..settings()
                },
                "shorter --period-us",
            ),
        ];
        for (s, hint) in cases {
            let err = s.validate().unwrap_err().to_string();
            assert!(err.contains(hint), "{err}");
            let err = measure(&System::new("/nonexistent"), &s).unwrap_err();
            assert!(err.to_string().contains(hint), "{err}");
        }
        settings().validate().unwrap();
    }

    #[test]
    fn missed_deadlines_are_skipped_on_the_grid() {
        assert_eq!(next_deadline(1000, 1010, 100), 1100);
        assert_eq!(next_deadline(1000, 1100, 100), 1200);
        assert_eq!(next_deadline(1000, 1350, 100), 1400);
    }

    #[test]
    fn a_short_measurement_counts_wakeups_and_work() {
        let m = measure(&System::new("/nonexistent"), &settings()).unwrap();
        // 300 ms at 1 ms: at most 300 deadlines per thread, and a late
        // wakeup skips some; on a loaded host at least a few come.
        assert!(m.wakeup.latency.count > 0, "{m:?}");
        assert!(m.wakeup.latency.count <= 600, "{m:?}");
        let l = m.wakeup.latency;
        assert!(l.p50_us <= l.p99_us && l.p99_us <= l.max_us, "{m:?}");
        assert!(m.background.iterations > 0 && m.background.iterations_per_sec > 0.0);
        assert_eq!((m.wakeup.threads, m.background.threads), (2, 1));
        assert!(
            m.scheduler_before.is_default(),
            "no sched_ext under a fake root"
        );
    }

    #[test]
    fn json_has_the_documented_fields() {
        let m = measure(&System::new("/nonexistent"), &settings()).unwrap();
        let v = serde_json::to_value(&m).unwrap();
        for key in ["count", "p50_us", "p99_us", "max_us", "threads"] {
            assert!(v["wakeup"][key].is_number(), "wakeup.{key}: {v}");
        }
        for key in ["threads", "iterations", "iterations_per_sec"] {
            assert!(v["background"][key].is_number(), "background.{key}: {v}");
        }
        assert_eq!(v["period_us"], 1000);
        assert!(v["scheduler_before"]["state"].is_null(), "{v}");
        let back: Measurement = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn which_scheduler_ran() {
        let seen = |state: Option<&str>, ops: Option<&str>| SchedulerSeen {
            state: state.map(str::to_owned),
            ops: ops.map(str::to_owned),
        };
        let names = ["scxpack_fair".to_owned()];
        assert!(seen(None, None).is_default());
        assert!(seen(Some("disabled"), None).is_default());
        assert!(!seen(Some("enabled"), Some("scxpack_fair_1")).is_default());
        assert!(seen(Some("enabled"), Some("scxpack_fair_1")).is_ops(&names));
        assert!(!seen(Some("enabled"), Some("scxpack_fifo_1")).is_ops(&names));
        assert!(!seen(Some("disabling"), Some("scxpack_fair_1")).is_ops(&names));
        assert!(await_state(&System::new("/nonexistent"), "disabled").is_ok());
        let err = await_state(&System::new("/nonexistent"), "enabled").unwrap_err();
        assert!(err.to_string().contains("no sched_ext"), "{err}");
    }
}
