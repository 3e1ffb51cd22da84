//! The relay scheduler's user half at work: select the variant for the
//! running kernel, load it with this process as `user_tgid`, attach, then
//! loop — heartbeat, drain the tasks BPF handed up, let the [`Policy`]
//! decide, hand the decisions back, print statistics — until a signal, the
//! duration, or the kernel ejects the scheduler; then detach and report the
//! kernel's exit record.
//!
//! It uses only the loader's public stages and the libbpf-rs maps reached
//! through [`AttachedScheduler::object`], as any third-party user half
//! would. The struct_ops link lives in this process: if it dies, the kernel
//! detaches the scheduler and the fair class takes every task back.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use libbpf_rs::{Map, MapCore, MapFlags, Object};
use serde::Serialize;

use super::policy::{Policy, PolicyConfig};
use super::wire::{RelayDispatch, RelayTask, Stats};
use crate::exit_status::ExitStatus;
use crate::histogram::{Latencies, LatencySummary};
use crate::live::System;
use crate::loader::{
    self, AttachedScheduler, Choice, Ended, ExitInfo, LoadError, Outcome, RunError, SelectOptions,
    Selected,
};
use crate::package::Package;

/// Most tasks drained from BPF per round.
const MAX_BATCH: usize = 4096;
/// How often the loop asks sysfs whether the scheduler is still ours.
const ENABLED_CHECK: Duration = Duration::from_millis(100);
/// Pause of a round that found nothing to do.
const IDLE_PAUSE: Duration = Duration::from_micros(500);

/// What to run and how.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Which scheduler of the package (default: its only one).
    pub scheduler: Option<String>,
    /// Detach after this long (run until SIGINT/SIGTERM otherwise).
    pub duration: Option<Duration>,
    /// Print statistics this often (never when `None`).
    pub stats_every: Option<Duration>,
    /// `timeout_ms` of the BPF half (its default when `None`).
    pub timeout_ms: Option<u64>,
    pub policy: PolicyConfig,
    /// Echo libbpf's messages and verifier logs.
    pub verbose: bool,
}

/// Why the user half could not run the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("variant {variant} failed: {source}")]
    Load {
        variant: String,
        #[source]
        source: LoadError,
    },
    #[error(
        "{scheduler} has no map {map}: it is not a relay scheduler (its user half needs the \
         queued, dispatched, heartbeat and stats maps of bpf-objects/relay/relay.bpf.c)"
    )]
    MissingMap {
        scheduler: String,
        map: &'static str,
    },
    #[error("map {map}: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
}

impl RelayError {
    /// The documented exit status for this error.
    #[must_use]
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            RelayError::Run(e) => e.exit_status(),
            RelayError::Load { .. } => ExitStatus::NotLoadable,
            _ => ExitStatus::Error,
        }
    }
}

/// How a relay run went, for people (stderr) and pipelines (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct RelayReport {
    pub scheduler: String,
    pub variant: String,
    pub ops_name: String,
    pub kernel: Option<String>,
    pub outcome: Outcome,
    pub detached_cleanly: bool,
    pub exit: Option<ExitInfo>,
    pub ran_secs: f64,
    /// Rounds of the user-space loop.
    pub rounds: u64,
    /// Decisions user space made (tasks it ordered and sliced).
    pub decisions: u64,
    /// The BPF half's counters at the end.
    pub stats: Stats,
    /// Runnable → decision handed back to BPF, per decision.
    pub round_trip: LatencySummary,
}

impl RelayReport {
    /// Success when detached cleanly on request; ejected otherwise.
    #[must_use]
    pub fn exit_status(&self) -> ExitStatus {
        self.outcome.exit_status(self.detached_cleanly)
    }
}

/// The maps the two halves share.
struct Maps<'o> {
    queued: Map<'o>,
    dispatched: Map<'o>,
    heartbeat: Map<'o>,
    stats: Map<'o>,
}

impl<'o> Maps<'o> {
    fn find(object: &'o Object, scheduler: &str) -> Result<Self, RelayError> {
        let get = |map: &'static str| {
            object
                .maps()
                .find(|m| m.name() == map)
                .ok_or_else(|| RelayError::MissingMap {
                    scheduler: scheduler.to_string(),
                    map,
                })
        };
        Ok(Maps {
            queued: get("queued")?,
            dispatched: get("dispatched")?,
            heartbeat: get("heartbeat")?,
            stats: get("stats")?,
        })
    }

    /// Tells BPF user space is alive now.
    fn beat(&self) -> Result<(), RelayError> {
        beat(&self.heartbeat).map_err(|source| RelayError::Map {
            map: "heartbeat",
            source,
        })
    }

    /// Pops up to `max` tasks BPF handed up.
    fn drain(&self, max: usize) -> Vec<RelayTask> {
        let mut batch = Vec::new();
        while batch.len() < max {
            match self.queued.lookup_and_delete(&[]) {
                Ok(Some(bytes)) => batch.extend(RelayTask::decode(&bytes)),
                Ok(None) | Err(_) => break,
            }
        }
        batch
    }

    /// Pushes decisions until BPF's queue is full (the rest wait a round),
    /// timing each task's wait from runnable to its decision handed back.
    fn push(&self, pending: &mut VecDeque<RelayDispatch>, latencies: &mut Latencies) {
        while let Some(d) = pending.front() {
            if self
                .dispatched
                .update(&[], &d.encode(), MapFlags::ANY)
                .is_err()
            {
                return;
            }
            latencies.record(monotonic_ns().saturating_sub(d.enqueued_ns));
            pending.pop_front();
        }
    }

    fn stats(&self) -> Stats {
        self.stats
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .and_then(|b| Stats::decode(&b))
            .unwrap_or_default()
    }
}

/// Writes the current time into the `heartbeat` map.
fn beat(heartbeat: &Map<'_>) -> Result<(), libbpf_rs::Error> {
    heartbeat.update(
        &0u32.to_ne_bytes(),
        &monotonic_ns().to_le_bytes(),
        MapFlags::ANY,
    )
}

/// `CLOCK_MONOTONIC` in ns: the clock of the BPF half's `bpf_ktime_get_ns()`.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts);
    }
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// Runs the relay scheduler of `pkg` with this process as its user half.
pub fn run(pkg: &Package, opts: &RelayOptions) -> Result<RelayReport, RelayError> {
    loader::install_libbpf_log(opts.verbose);
    loader::install_signal_handlers();
    let root = System::default();
    let select = SelectOptions {
        scheduler: opts.scheduler.clone(),
        ..SelectOptions::default()
    };
    let selected = Selected::for_running_kernel(pkg, &select, &root)?;
    for skipped in &selected.attempts()[0].skipped {
        crate::say!(
            "scxpack-relay: skipping variant {}: {}",
            skipped.variant,
            skipped.reasons.join("; ")
        );
    }
    let (running, choice) = start(&selected, opts, &root)?;
    let name = selected.scheduler.name.clone();
    crate::say!(
        "scxpack-relay: {name} ({}) enabled as {}, decisions in user space (pid {})",
        choice.variant.name,
        running.ops_name(),
        std::process::id()
    );
    let started = Instant::now();
    let maps = Maps::find(running.object(), &name)?;
    let mut relay = Relay::new(opts);
    let ended = relay.run(&running, &maps, started);
    let stats = maps.stats();
    let ops_name = running.ops_name().to_string();
    let detached = running.detach();
    let ended = ended?;
    let error_recorded = detached.exit.as_ref().is_some_and(ExitInfo::is_error);
    Ok(RelayReport {
        scheduler: name,
        variant: choice.variant.name.clone(),
        ops_name,
        kernel: root.release(),
        outcome: match (ended, error_recorded) {
            (Ended::Requested, false) => Outcome::Detached,
            _ => Outcome::Ejected,
        },
        detached_cleanly: detached.cleanly,
        exit: detached.exit,
        ran_secs: started.elapsed().as_secs_f64(),
        rounds: relay.rounds,
        decisions: relay.decisions,
        stats,
        round_trip: relay.latencies.summary(),
    })
}

/// Loads and attaches the first variant that does, with `user_tgid` (and
/// `timeout_ms` when asked) set before load.
fn start<'s, 'p>(
    selected: &'s Selected<'p>,
    opts: &RelayOptions,
    root: &System,
) -> Result<(AttachedScheduler<'p>, &'s Choice<'p>), RelayError> {
    let mut last = None;
    for choice in selected.attempts() {
        match start_variant(selected, choice, opts, root) {
            Ok(running) => return Ok((running, choice)),
            Err(source) => {
                crate::say!(
                    "scxpack-relay: variant {} failed to load: {source}",
                    choice.variant.name
                );
                last = Some(RelayError::Load {
                    variant: choice.variant.name.clone(),
                    source,
                });
            }
        }
    }
    Err(last.expect("Selected has at least one attempt"))
}

fn start_variant<'p>(
    selected: &Selected<'p>,
    choice: &Choice<'p>,
    opts: &RelayOptions,
    root: &System,
) -> Result<AttachedScheduler<'p>, LoadError> {
    let mut open = selected.open(choice, root)?;
    open.set_rodata("user_tgid", u64::from(std::process::id()))?;
    if let Some(ms) = opts.timeout_ms {
        open.set_rodata("timeout_ms", ms)?;
    }
    let loaded = open.load()?;
    // A first heartbeat before attach, so the first tasks already go to
    // user space; if it fails the BPF half dispatches kernel-side until
    // the loop's first round, which reports the error.
    if let Some(heartbeat) = loaded.object().maps().find(|m| m.name() == "heartbeat") {
        let _ = beat(&heartbeat);
    }
    loaded.attach(root)
}

/// The user-space loop's state.
struct Relay {
    policy: Policy,
    pending: VecDeque<RelayDispatch>,
    duration: Option<Duration>,
    stats_every: Option<Duration>,
    rounds: u64,
    decisions: u64,
    latencies: Latencies,
}

impl Relay {
    fn new(opts: &RelayOptions) -> Self {
        Relay {
            policy: Policy::new(opts.policy),
            pending: VecDeque::new(),
            duration: opts.duration,
            stats_every: opts.stats_every,
            rounds: 0,
            decisions: 0,
            latencies: Latencies::default(),
        }
    }

    /// Rounds until a stop is asked for or the kernel ejects the scheduler.
    fn run(
        &mut self,
        running: &AttachedScheduler<'_>,
        maps: &Maps<'_>,
        started: Instant,
    ) -> Result<Ended, RelayError> {
        let mut next_check = started;
        let mut next_stats = self.stats_every.map(|d| started + d);
        loop {
            let now = Instant::now();
            if loader::stop_requested() || self.duration.is_some_and(|d| now - started >= d) {
                return Ok(Ended::Requested);
            }
            if now >= next_check {
                if !running.is_enabled() {
                    return Ok(Ended::Ejected);
                }
                next_check = now + ENABLED_CHECK;
            }
            let busy = self.round(maps)?;
            if let (Some(at), Some(every)) = (next_stats, self.stats_every) {
                if now >= at {
                    self.print_stats(&maps.stats(), now - started);
                    next_stats = Some(at + every);
                }
            }
            if !busy {
                std::thread::sleep(IDLE_PAUSE);
            }
        }
    }

    /// One round: heartbeat, drain, decide, hand back. True when it had work.
    fn round(&mut self, maps: &Maps<'_>) -> Result<bool, RelayError> {
        self.rounds += 1;
        maps.beat()?;
        let batch = maps.drain(MAX_BATCH);
        let decided = self.policy.decide(&batch);
        self.decisions += decided.len() as u64;
        self.pending.extend(decided);
        maps.push(&mut self.pending, &mut self.latencies);
        Ok(!batch.is_empty())
    }

    fn print_stats(&self, s: &Stats, at: Duration) {
        crate::say!(
            "scxpack-relay: {:.1} s: enqueued {} user-dispatched {} ({:.1}%) kernel-dispatched {} \
             own {} lost {} rtt mean {:.0} us max {} us, rounds {} tracking {} tasks",
            at.as_secs_f64(),
            s.nr_enqueued,
            s.nr_user_dispatched,
            s.user_share() * 100.0,
            s.nr_kernel_dispatched,
            s.nr_user_half,
            s.nr_lost,
            s.rtt_mean_us(),
            s.rtt_max_ns / 1000,
            self.rounds,
            self.policy.tracked()
        );
    }
}
