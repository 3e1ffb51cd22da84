//! The live loader behind `scxpack run`: preflight, variant selection with
//! the shared matching code, shims, load with libbpf, attach, watch.
//!
//! This module and its children are the only code that makes BPF syscalls.
//! Everything they decide comes from [`crate::matching`], fed with the
//! running kernel's facts; the kernel BTF is dropped once the plan is made.

mod exit_info;
mod kconfig;
mod libbpf_log;
mod open;
mod params;
mod preflight;
mod watch;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use exit_info::ExitInfo;
pub use libbpf_log::classify;
pub use params::{ParamError, parse_assignment as parse_param};
pub use preflight::PreflightError;

use crate::btf::Btf;
use crate::kernel::KernelFacts;
use crate::live::Root;
use crate::matching::{self, Assessment, KernelTypes, Target};
use crate::package::{Package, Scheduler, Variant};

/// What the caller asks `run` to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Which scheduler of a multi-scheduler package.
    pub scheduler: Option<String>,
    /// Force a variant instead of the first loadable one.
    pub variant: Option<String>,
    /// `KEY=VALUE` parameter assignments.
    pub params: Vec<(String, String)>,
    /// Detach after this long (run until a signal otherwise).
    pub duration: Option<Duration>,
    /// Reloads allowed when the scheduler asks for a restart.
    pub max_restarts: u32,
    /// Show libbpf's messages and verifier logs.
    pub verbose: bool,
    /// Try variants that matching refuses too, so the kernel (libbpf and
    /// the verifier) gives its own verdict: what `vmtest` uses to prove
    /// `check` right.
    pub force: bool,
}

/// Why `run` could not run a scheduler.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Preflight(#[from] PreflightError),
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
    #[error("no variant of {scheduler} can load on this kernel:\n{details}")]
    NoLoadableVariant { scheduler: String, details: String },
    #[error("{0}")]
    Other(String),
}

impl RunError {
    /// The documented exit status for this error.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Preflight(p) => p.exit_code(),
            RunError::NoLoadableVariant { .. } => EXIT_NO_VARIANT,
            _ => 1,
        }
    }
}

/// Exit status: no variant loads on this kernel.
pub const EXIT_NO_VARIANT: u8 = 3;
/// Exit status: the kernel ejected the scheduler.
pub const EXIT_EJECTED: u8 = 5;

/// A variant skipped on the way to the one that loaded.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub variant: String,
    pub reasons: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Detached on request (duration over, SIGINT/SIGTERM).
    Detached,
    /// The kernel ejected the scheduler.
    Ejected,
}

/// The report `run --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scheduler: String,
    pub variant: String,
    pub kernel: Option<String>,
    pub ops_name: String,
    pub skipped: Vec<Skipped>,
    pub shims: Vec<String>,
    /// The scheduler attached and sched_ext reported it enabled.
    pub loaded: bool,
    /// Milliseconds from `run` start to sched_ext state `enabled`.
    pub enable_ms: u64,
    pub enabled_seen: bool,
    pub ran_secs: f64,
    pub outcome: Outcome,
    pub detached_cleanly: bool,
    pub exit: Option<ExitInfo>,
    pub restarts: u32,
    /// Resident set size of the loader while the scheduler ran, in KiB.
    pub rss_kib: Option<u64>,
}

impl RunReport {
    /// The exit status this report maps to.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self.outcome {
            Outcome::Detached if self.detached_cleanly => 0,
            Outcome::Detached => 1,
            Outcome::Ejected => EXIT_EJECTED,
        }
    }
}

/// The variant chosen for this kernel and what matching said about it.
struct Choice<'p> {
    variant: &'p Variant,
    assessment: Assessment,
    skipped: Vec<Skipped>,
}

/// Loads a scheduler from `pkg` on the running kernel and watches it.
pub fn run(pkg: &Package, opts: &RunOptions, root: &Root) -> Result<RunReport, RunError> {
    let start = Instant::now();
    libbpf_log::install(opts.verbose);
    watch::install_signal_handlers();
    preflight::privileges()?;
    let sched = pick_scheduler(pkg, opts.scheduler.as_deref())?;
    let values = params::resolve(sched, &opts.params)?;
    let live = preflight::kernel(root)?;
    let choices = choose(sched, &live, opts.variant.as_deref(), opts.force)?;
    drop(live);
    let mut restarts = 0;
    loop {
        let report = open::load_first(pkg, sched, &choices, &values, root, opts, start)?;
        let wants_restart = report.exit.as_ref().is_some_and(ExitInfo::wants_restart);
        if report.outcome == Outcome::Ejected && wants_restart && restarts < opts.max_restarts {
            restarts += 1;
            eprintln!(
                "scxpack: {} asked for a restart ({restarts}/{})",
                sched.name, opts.max_restarts
            );
            continue;
        }
        return Ok(RunReport { restarts, ..report });
    }
}

fn pick_scheduler<'p>(pkg: &'p Package, name: Option<&str>) -> Result<&'p Scheduler, RunError> {
    let all = &pkg.manifest.schedulers;
    let names = || {
        all.iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n) => all
            .iter()
            .find(|s| s.name == n)
            .ok_or_else(|| RunError::NoSuchScheduler {
                package: pkg.manifest.name.clone(),
                name: n.to_string(),
                names: names(),
            }),
        None if all.len() == 1 => Ok(&all[0]),
        None => Err(RunError::AmbiguousScheduler {
            package: pkg.manifest.name.clone(),
            names: names(),
        }),
    }
}

/// Assesses every variant against the running kernel, in preference order,
/// and returns the loadable ones (the forced one only, with `--variant`).
fn choose<'p>(
    sched: &'p Scheduler,
    live: &preflight::LiveTarget,
    forced: Option<&str>,
    force: bool,
) -> Result<Vec<Choice<'p>>, RunError> {
    if let Some(name) = forced {
        if !sched.variants.iter().any(|v| v.name == name) {
            return Err(RunError::NoSuchVariant {
                scheduler: sched.name.clone(),
                name: name.to_string(),
                names: sched
                    .variants
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let btf =
        Btf::parse(&live.btf).map_err(|e| RunError::Other(format!("running kernel BTF: {e}")))?;
    let facts: &KernelFacts = &live.facts;
    let types = KernelTypes::for_requirements(btf, sched.variants.iter().map(|v| &v.requirements));
    let target = Target {
        facts,
        btf: Some(&types),
        kconfig: live.kconfig.as_ref(),
    };
    let mut skipped = Vec::new();
    let mut out = Vec::new();
    for v in &sched.variants {
        if forced.is_some_and(|f| f != v.name) {
            continue;
        }
        let assessment = matching::assess(&v.requirements, &v.policy, &target);
        if force && !assessment.loadable() {
            eprintln!(
                "scxpack: trying variant {} although matching refuses it: {}",
                v.name,
                assessment
                    .reasons
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        if assessment.loadable() || force {
            out.push(Choice {
                variant: v,
                assessment,
                skipped: skipped.clone(),
            });
        } else {
            skipped.push(Skipped {
                variant: v.name.clone(),
                reasons: assessment.reasons.iter().map(ToString::to_string).collect(),
            });
        }
    }
    if out.is_empty() {
        let details = skipped
            .iter()
            .map(|s| format!("  {}: {}", s.variant, s.reasons.join("; ")))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(RunError::NoLoadableVariant {
            scheduler: sched.name.clone(),
            details,
        });
    }
    Ok(out)
}

/// Paths the loader reads to find the kernel config.
#[must_use]
pub fn kconfig_paths(release: Option<&str>) -> Vec<PathBuf> {
    kconfig::paths(release)
}
