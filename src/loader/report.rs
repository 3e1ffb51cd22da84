//! What a run produced, as `run --json` prints it and `vmtest` reads it
//! back from a guest: one serializable [`RunRecord`] on both sides.

use serde::{Deserialize, Serialize};

use super::error::RunError;
use super::exit_info::ExitInfo;
use crate::exit_status::ExitStatus;

/// A variant skipped on the way to the one that loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub variant: String,
    pub reasons: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Detached on request (duration over, SIGINT/SIGTERM).
    Detached,
    /// The kernel ejected the scheduler.
    Ejected,
}

impl Outcome {
    /// The exit status of a run that ended this way: success only for a
    /// clean detach on request.
    #[must_use]
    pub fn exit_status(self, detached_cleanly: bool) -> ExitStatus {
        match self {
            Outcome::Detached if detached_cleanly => ExitStatus::Success,
            Outcome::Detached => ExitStatus::Error,
            Outcome::Ejected => ExitStatus::Ejected,
        }
    }
}

/// The report of a scheduler that loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub scheduler: String,
    pub variant: String,
    pub kernel: Option<String>,
    pub ops_name: String,
    pub skipped: Vec<Skipped>,
    pub shims: Vec<String>,
    /// The scheduler attached and sched_ext reported it enabled.
    pub loaded: bool,
    /// Milliseconds from the caller's start ([`super::RunOptions::started`],
    /// else the call to `run`) to sched_ext state `enabled`.
    pub enable_ms: u64,
    pub enabled_seen: bool,
    pub ran_secs: f64,
    pub outcome: Outcome,
    pub detached_cleanly: bool,
    pub exit: Option<ExitInfo>,
    pub restarts: u32,
    /// Resident set size of the loader while the scheduler ran, in KiB.
    pub rss_kib: Option<u64>,
    /// The loader's peak resident set size up to then, in KiB (`VmHWM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_kib: Option<u64>,
    /// Where the time to `enabled` went.
    #[serde(default)]
    pub phases: Phases,
}

/// Milliseconds spent in each step from `run` start to `enabled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    /// Before the loader was called: the command line, opening and
    /// verifying the package (0 when the caller gave no start time).
    #[serde(default)]
    pub package_ms: u64,
    /// A bare object's requirements came from this boot's cache (an
    /// earlier start read the same bytes) instead of the object.
    #[serde(default)]
    pub object_cached: bool,
    #[serde(flatten)]
    pub select: SelectPhases,
    /// libbpf open and our shims.
    pub open_ms: u64,
    /// libbpf load: relocations, map creation, the verifier.
    pub load_ms: u64,
    /// struct_ops attach until sched_ext reports `enabled`.
    pub attach_ms: u64,
}

/// Where the variant selection's time went. The parts are zero when the
/// verdicts came from this boot's cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectPhases {
    /// Reading the kernel and judging the variants (or reading this boot's cache).
    pub select_ms: u64,
    /// The verdicts came from this boot's cache under `/run/scxpack`.
    pub cache_hit: bool,
    /// Reading the running kernel's BTF and config.
    #[serde(default)]
    pub read_ms: u64,
    /// The BTF was mapped from sysfs (6.16+) rather than copied.
    #[serde(default)]
    pub btf_mapped: bool,
    /// The kernel was read on a thread of its own while the package was
    /// opened (`read_ms` and part of `parse_ms` overlapped with that).
    #[serde(default)]
    pub read_ahead: bool,
    /// Parsing the BTF, deriving the kernel's facts, indexing the CO-RE types.
    #[serde(default)]
    pub parse_ms: u64,
    /// Matching the variants against the kernel.
    #[serde(default)]
    pub judge_ms: u64,
}

impl RunReport {
    /// The exit status this report maps to.
    #[must_use]
    pub fn exit_status(&self) -> ExitStatus {
        self.outcome.exit_status(self.detached_cleanly)
    }
}

/// Why a run did not load anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    /// Always false: nothing was loaded.
    pub loaded: bool,
    pub error: String,
    pub exit_code: ExitStatus,
}

impl From<&RunError> for RunFailure {
    fn from(e: &RunError) -> Self {
        RunFailure {
            loaded: false,
            error: e.to_string(),
            exit_code: e.exit_status(),
        }
    }
}

/// What `run --json` prints: the report of a run, or why it did not start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RunRecord {
    Ran(Box<RunReport>),
    Failed(RunFailure),
}

impl RunRecord {
    /// The scheduler attached and sched_ext reported it enabled.
    #[must_use]
    pub fn loaded(&self) -> bool {
        matches!(self, RunRecord::Ran(r) if r.loaded)
    }

    /// The report, when the scheduler loaded.
    #[must_use]
    pub fn report(&self) -> Option<&RunReport> {
        match self {
            RunRecord::Ran(r) => Some(r),
            RunRecord::Failed(_) => None,
        }
    }

    /// Why nothing loaded, when nothing did.
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        match self {
            RunRecord::Ran(_) => None,
            RunRecord::Failed(f) => Some(&f.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_round_trips_through_the_guest_json() {
        let f = RunRecord::Failed(RunFailure {
            loaded: false,
            error: "kernel 6.12 has no sched_ext".into(),
            exit_code: ExitStatus::NoSchedExt,
        });
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(
            text,
            r#"{"loaded":false,"error":"kernel 6.12 has no sched_ext","exit_code":4}"#
        );
        let back: RunRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, f);
        assert!(!back.loaded());
    }
}
