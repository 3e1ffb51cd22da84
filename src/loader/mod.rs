//! The live loader behind `scxpack run`: preflight, variant selection with
//! the shared matching code, shims, load with libbpf, attach, watch.
//!
//! This module and its children are the only code that makes BPF syscalls.
//! Everything they decide comes from [`crate::matching`], fed with the
//! running kernel's facts; the kernel BTF is dropped once the plan is made.

mod error;
mod exit_info;
mod libbpf_log;
mod open;
mod params;
mod preflight;
mod report;
mod watch;

use std::time::{Duration, Instant};

pub use error::{LoadError, LoadStep, RunError, ShimError};
pub use exit_info::ExitInfo;
pub use libbpf_log::classify;
pub use params::{ParamError, parse_assignment as parse_param};
pub use preflight::PreflightError;
pub use report::{Outcome, RunFailure, RunRecord, RunReport, Skipped};

use crate::kernel::{CoreIndex, Kconfig, KernelError, KernelTarget};
use crate::live::{Root, SYS_BTF};
use crate::matching::{self, Assessment, Selection};
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
    let choices = choose(sched, root, opts.variant.as_deref(), opts.force)?;
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

/// Reads the running kernel once (its BTF parsed once, its config read
/// once), checks it can take a scheduler, and selects with the shared
/// matching code: the variants to try, in order (the forced one only, with
/// `--variant`; every one, with `force`).
fn choose<'p>(
    sched: &'p Scheduler,
    root: &Root,
    forced: Option<&str>,
    force: bool,
) -> Result<Vec<Choice<'p>>, RunError> {
    let variants = candidates(sched, forced)?;
    let live = root.kernel().map_err(KernelError::from)?;
    let roots = matching::core_roots(variants.iter().map(|v| &v.requirements));
    let kernel = KernelTarget::build(
        &live.btf,
        &root.path(std::path::Path::new(SYS_BTF)),
        live.release.clone(),
        Kconfig::running(root, live.release.as_deref()),
        CoreIndex::Names(&roots),
    )?;
    preflight::kernel_ready(&kernel.facts, live.sched_ext.as_ref())?;
    let selection = matching::select(variants.iter().copied(), &kernel.view());
    let attempts = selection.attempts(force);
    if attempts.is_empty() {
        return Err(RunError::NoLoadableVariant {
            scheduler: sched.name.clone(),
            details: selection
                .skipped()
                .iter()
                .map(|j| format!("  {}: {}", j.variant, reasons(&j.assessment).join("; ")))
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    Ok(attempts
        .into_iter()
        .map(|i| choice(&selection, &variants, i, force))
        .collect())
}

/// The variants to judge: all of them, or the one `--variant` names.
fn candidates<'p>(
    sched: &'p Scheduler,
    forced: Option<&str>,
) -> Result<Vec<&'p Variant>, RunError> {
    let Some(name) = forced else {
        return Ok(sched.variants.iter().collect());
    };
    match sched.variants.iter().find(|v| v.name == name) {
        Some(v) => Ok(vec![v]),
        None => Err(RunError::NoSuchVariant {
            scheduler: sched.name.clone(),
            name: name.to_string(),
            names: sched
                .variants
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn choice<'p>(
    selection: &Selection,
    variants: &[&'p Variant],
    i: usize,
    force: bool,
) -> Choice<'p> {
    let judged = &selection.judged[i];
    if !judged.assessment.loadable() {
        eprintln!(
            "scxpack: trying variant {} although matching refuses it: {}",
            judged.variant,
            reasons(&judged.assessment).join("; ")
        );
    }
    Choice {
        variant: variants[i],
        assessment: judged.assessment.clone(),
        skipped: selection
            .skipped_before(i, force)
            .into_iter()
            .map(|j| Skipped {
                variant: j.variant.clone(),
                reasons: reasons(&j.assessment),
            })
            .collect(),
    }
}

fn reasons(a: &Assessment) -> Vec<String> {
    a.reasons.iter().map(ToString::to_string).collect()
}
