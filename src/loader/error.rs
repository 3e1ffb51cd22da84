//! The loader's typed errors: why `run` did not start ([`RunError`]), why
//! one variant failed ([`LoadError`], carrying libbpf's classification, the
//! errno and libbpf's log with the verifier's output), and why a shim could
//! not be written ([`ShimError`]).

use serde::{Deserialize, Serialize};

use super::params::ParamError;
use super::preflight::PreflightError;
use crate::exit_status::ExitStatus;
use crate::kernel::KernelError;

/// Why `run` could not run a scheduler.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("package {package} has several schedulers ({names}); pick one with --scheduler")]
    AmbiguousScheduler { package: String, names: String },
    #[error("package {package} has no scheduler named {name} (it has: {names})")]
    NoSuchScheduler {
        package: String,
        name: String,
        names: String,
    },
    #[error("scheduler {scheduler} has no variant named {name} (it has: {names})")]
    NoSuchVariant {
        scheduler: String,
        name: String,
        names: String,
    },
    #[error(
        "{scheduler} makes its scheduling decisions in user space: start it with its user-half \
         program `{program}` instead of `scxpack run` (`scxpack run --force` loads the BPF half \
         alone, which then only dispatches kernel-side)"
    )]
    NeedsUserHalf { scheduler: String, program: String },
    #[error(
        "{scheduler} (variant {variant}) {dependency}: start it with the program that ships as \
         its user-space half (`scxpack run --force` loads it alone anyway)"
    )]
    UserHalfDependency {
        scheduler: String,
        variant: String,
        dependency: String,
    },
    #[error("no variant of {scheduler} can load on this kernel:\n{details}")]
    NoLoadableVariant { scheduler: String, details: String },
    #[error(
        "package lacks object {object} (variant {variant}); verify the package and reinstall it"
    )]
    MissingObject { variant: String, object: String },
    #[error("no variant of {scheduler} loaded:\n{}", failure_lines(.failures))]
    NoVariantLoaded {
        scheduler: String,
        failures: Vec<(String, LoadError)>,
    },
}

impl RunError {
    /// The documented exit status for this error.
    #[must_use]
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            RunError::Preflight(p) => p.exit_status(),
            RunError::NoLoadableVariant { .. } | RunError::NoVariantLoaded { .. } => {
                ExitStatus::NotLoadable
            }
            _ => ExitStatus::Error,
        }
    }
}

fn failure_lines(failures: &[(String, LoadError)]) -> String {
    failures
        .iter()
        .map(|(variant, e)| format!("  {variant}: {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The step of a load at which a variant failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadStep {
    /// libbpf could not open (parse) the object.
    Open,
    /// A shim could not be written into the opened object.
    Shim,
    /// libbpf or the kernel (the verifier) refused the load.
    Load,
    /// The kernel refused to attach the struct_ops map.
    Attach,
    /// Attached, but sched_ext never reported it enabled.
    Enable,
}

/// Why one variant failed to load, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.describe())]
pub struct LoadError {
    pub step: LoadStep,
    /// One sentence classifying libbpf's log (or our own reason).
    pub class: String,
    /// The error libbpf returned, as it words it.
    pub detail: Option<String>,
    /// The errno behind it, when libbpf reported one.
    pub errno: Option<i32>,
    /// libbpf's messages during this attempt (the verifier log among them).
    pub log: Vec<String>,
}

impl LoadError {
    /// A failure libbpf reported: its error, and its log classified.
    #[must_use]
    pub fn libbpf(step: LoadStep, error: Option<&libbpf_rs::Error>, log: Vec<String>) -> Self {
        LoadError {
            step,
            class: super::libbpf_log::classify(&log),
            detail: error.map(ToString::to_string),
            errno: error.and_then(errno_of),
            log,
        }
    }

    /// A failure of our own making (a shim, the state after attach).
    #[must_use]
    pub fn ours(step: LoadStep, reason: impl std::fmt::Display) -> Self {
        LoadError {
            step,
            class: reason.to_string(),
            detail: None,
            errno: None,
            log: Vec::new(),
        }
    }

    fn describe(&self) -> String {
        match (self.step, &self.detail) {
            (LoadStep::Load, Some(d)) => format!("{}: {d}", self.class),
            (LoadStep::Attach, Some(d)) => format!("attach failed: {d} ({})", self.class),
            _ => self.class.clone(),
        }
    }
}

impl From<ShimError> for LoadError {
    fn from(e: ShimError) -> Self {
        LoadError::ours(LoadStep::Shim, e)
    }
}

/// The errno behind a libbpf error. libbpf-rs keeps the `io::Error` it
/// wraps out of `source()`, so the code is read from its text, which ends
/// in std's `(os error N)`.
fn errno_of(e: &libbpf_rs::Error) -> Option<i32> {
    let text = e.to_string();
    let tail = text.rsplit("(os error ").next()?;
    tail.strip_suffix(')')?.parse().ok()
}

/// Why a shim or parameter could not be written into an opened object.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("no .rodata variable {0}")]
    NoVariable(String),
    #[error("libbpf has no map for {0}")]
    NoDataMap(String),
    #[error("{0} has no initial value")]
    NoInitialValue(String),
    #[error("offset {offset}+{size} outside the map data")]
    OutOfBounds { offset: u32, size: u32 },
    #[error("libbpf has no struct_ops map {0}")]
    NoStructOpsMap(String),
    #[error("{map} has no member {member}")]
    NoMember { map: String, member: String },
    #[error("{0} contains a NUL byte")]
    Nul(String),
    #[error(transparent)]
    Global(#[from] crate::object::GlobalError),
    /// The object's BTF could not be read for its globals (its own text
    /// names the object and the damage).
    #[error("cannot read the object's globals: {0}")]
    Globals(crate::object::ObjectError),
}
