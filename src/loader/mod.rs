//! The live loader behind `scxpack run`: preflight, variant selection with
//! the shared matching code, shims, load with libbpf, attach, watch.
//!
//! This module and its children are the only code that makes BPF syscalls.
//! Everything they decide comes from [`crate::matching`], fed with the
//! running kernel's facts; the kernel BTF is dropped once the plan is made.

mod boot_cache;
mod error;
mod exit_info;
mod globals;
mod libbpf_log;
mod open;
mod params;
mod prefetch;
mod preflight;
mod report;
pub mod setup;
mod stages;
mod watch;

use std::time::{Duration, Instant};

pub use crate::object::{Global, GlobalError, GlobalType, Globals, Scalar, Value};
pub use error::{LoadError, LoadStep, RunError, ShimError};
pub use exit_info::ExitInfo;
pub use globals::SetupError;
pub use libbpf_log::classify;
pub use params::{ParamError, parse_assignment as parse_param, value_fits as param_value_fits};
pub use prefetch::KernelPrefetch;
pub use preflight::{PreflightError, privileges as check_privileges};
pub use report::{Outcome, Phases, RunFailure, RunRecord, RunReport, SelectPhases, Skipped};
pub use stages::{
    AttachedScheduler, Choice, Detached, LoadedScheduler, OpenScheduler, SelectOptions, Selected,
    install_libbpf_log, install_signal_handlers, stop_requested,
};
pub use watch::Ended;

use crate::live::System;
use crate::package::Package;

/// What the caller asks `run` to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Which scheduler of a multi-scheduler package.
    pub scheduler: Option<String>,
    /// Force a variant instead of the first loadable one.
    pub variant: Option<String>,
    /// A named parameter set of the scheduler's manifest.
    pub mode: Option<String>,
    /// `KEY=VALUE` parameter assignments (on top of the mode's).
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
    /// When the caller began (the command line's start, before it opened
    /// the package): `enable_ms` counts from here. `None`: from the call.
    pub started: Option<Instant>,
}

/// Loads a scheduler from `pkg` on the running kernel and watches it: the
/// stages of [`Selected`] in order, falling back to the next variant when
/// the kernel refuses one, and reloading when the scheduler asks for it.
pub fn run(pkg: &Package, opts: &RunOptions, root: &System) -> Result<RunReport, RunError> {
    run_with_kernel(pkg, opts, root, None)
}

/// [`run`] with the running kernel already being read ([`KernelPrefetch`],
/// started before the caller opened the package).
pub fn run_with_kernel(
    pkg: &Package,
    opts: &RunOptions,
    root: &System,
    kernel: Option<KernelPrefetch>,
) -> Result<RunReport, RunError> {
    let start = opts.started.unwrap_or_else(Instant::now);
    let package_ms = stages::millis(start);
    install_libbpf_log(opts.verbose);
    install_signal_handlers();
    if !opts.force {
        refuse_user_half(pkg, opts.scheduler.as_deref())?;
    }
    preflight::privileges()?;
    let select = SelectOptions {
        scheduler: opts.scheduler.clone(),
        variant: opts.variant.clone(),
        force: opts.force,
        sized_maps: Vec::new(),
    };
    // Parameters are checked before the kernel is read: a typo fails fast.
    let values = resolve_params(
        pkg,
        opts.scheduler.as_deref(),
        opts.mode.as_deref(),
        &opts.params,
    )?;
    let selected = Selected::for_running_kernel_with(pkg, &select, root, kernel)?;
    if !opts.force {
        refuse_dependency(&selected)?;
    }
    let mut restarts = 0;
    loop {
        let mut report = run_first(&selected, &values, root, opts, start)?;
        report.phases.package_ms = package_ms;
        let wants_restart = report.exit.as_ref().is_some_and(ExitInfo::wants_restart);
        if report.outcome == Outcome::Ejected && wants_restart && restarts < opts.max_restarts {
            restarts += 1;
            crate::say!(
                "scxpack: {} asked for a restart ({restarts}/{})",
                selected.scheduler.name,
                opts.max_restarts
            );
            continue;
        }
        return Ok(RunReport { restarts, ..report });
    }
}

/// A scheduler whose manifest names its user-half program is started by
/// that program, never by `run` alone (decided from the manifest, before
/// any privilege or kernel is needed).
fn refuse_user_half(pkg: &Package, scheduler: Option<&str>) -> Result<(), RunError> {
    let Ok(sched) = stages::pick_scheduler(pkg, scheduler) else {
        return Ok(());
    };
    match &sched.user_half {
        Some(program) => Err(RunError::NeedsUserHalf {
            scheduler: sched.name.clone(),
            program: program.clone(),
        }),
        None => Ok(()),
    }
}

/// A variant matching found fed by user space (a third-party hybrid
/// without a manifest mark) would stall without its user half.
fn refuse_dependency(selected: &Selected<'_>) -> Result<(), RunError> {
    let choice = &selected.attempts()[0];
    match choice.assessment.depends.first() {
        Some(dependency) => Err(RunError::UserHalfDependency {
            scheduler: selected.scheduler.name.clone(),
            variant: choice.variant.name.clone(),
            dependency: dependency.to_string(),
        }),
        None => Ok(()),
    }
}

/// Tries each variant in order; runs the first that attaches.
fn run_first(
    selected: &Selected<'_>,
    params: &[(String, u64)],
    root: &System,
    opts: &RunOptions,
    start: Instant,
) -> Result<RunReport, RunError> {
    let started = attach_first(selected, params, root)?;
    let report = supervise(
        started.running,
        &selected.scheduler.name,
        started.choice,
        started.skipped,
        (root, opts, start),
    );
    Ok(RunReport {
        phases: started.phases,
        ..report
    })
}

/// A scheduler [`attach_first`] got running.
#[derive(Debug)]
pub struct Started<'s, 'p> {
    pub running: AttachedScheduler<'p>,
    pub choice: &'s Choice<'p>,
    /// Variants not tried or that failed to load, and why.
    pub skipped: Vec<Skipped>,
    pub phases: Phases,
}

/// The scheduler's parameters: `mode`'s values with `explicit` on top,
/// checked against its declarations and encoded for `.rodata` (what `run`
/// does before it reads the kernel, so a typo fails fast).
pub fn resolve_params(
    pkg: &Package,
    scheduler: Option<&str>,
    mode: Option<&str>,
    explicit: &[(String, String)],
) -> Result<Vec<(String, u64)>, RunError> {
    let scheduler = stages::pick_scheduler(pkg, scheduler)?;
    let assignments = params::with_mode(scheduler, mode, explicit)?;
    Ok(params::resolve(scheduler, &assignments)?)
}

/// Opens, loads and attaches the first variant of `selected` that the
/// kernel takes (the one load path of `run` and the daemon).
pub fn attach_first<'s, 'p>(
    selected: &'s Selected<'p>,
    params: &[(String, u64)],
    root: &System,
) -> Result<Started<'s, 'p>, RunError> {
    let mut failures: Vec<(String, LoadError)> = Vec::new();
    for choice in selected.attempts() {
        if !choice.assessment.loadable() {
            crate::say!(
                "scxpack: trying variant {} although matching refuses it: {}",
                choice.variant.name,
                stages::reasons(&choice.assessment).join("; ")
            );
        }
        match start_variant(selected, choice, params, root) {
            Ok((running, phases)) => {
                let mut skipped = choice.skipped.clone();
                skipped.extend(failures.into_iter().map(|(variant, e)| Skipped {
                    variant,
                    reasons: vec![e.to_string()],
                }));
                return Ok(Started {
                    running,
                    choice,
                    skipped,
                    phases,
                });
            }
            Err(e) => {
                crate::say!(
                    "scxpack: variant {} failed to load: {e}",
                    choice.variant.name
                );
                failures.push((choice.variant.name.clone(), e));
            }
        }
    }
    Err(RunError::NoVariantLoaded {
        scheduler: selected.scheduler.name.clone(),
        failures,
    })
}

/// Opens, sets the parameters, loads and attaches one variant, timing each step.
fn start_variant<'p>(
    selected: &Selected<'p>,
    choice: &Choice<'p>,
    params: &[(String, u64)],
    root: &System,
) -> Result<(AttachedScheduler<'p>, Phases), LoadError> {
    let mut clock = Instant::now();
    let mut lap = || stages::lap(&mut clock);
    let mut open = selected.open(choice, root)?;
    setup::apply(&mut open, &selected.scheduler.setup, root)?;
    for (name, value) in params {
        open.set_rodata(name, *value)?;
    }
    let open_ms = lap();
    let loaded = open.load()?;
    let load_ms = lap();
    let running = loaded.attach(root)?;
    let phases = Phases {
        package_ms: 0,
        object_cached: false,
        select: selected.phases,
        open_ms,
        load_ms,
        attach_ms: lap(),
    };
    Ok((running, phases))
}

/// Watches a running scheduler until it ends, detaches, and reports.
fn supervise(
    running: AttachedScheduler<'_>,
    scheduler: &str,
    choice: &Choice<'_>,
    skipped: Vec<Skipped>,
    (root, opts, start): (&System, &RunOptions, Instant),
) -> RunReport {
    let enable_ms = start.elapsed().as_millis() as u64;
    let ops_name = running.ops_name().to_string();
    crate::say!(
        "scxpack: {scheduler} ({}) enabled as {ops_name}",
        choice.variant.name
    );
    let ran = Instant::now();
    let ended = running.watch(opts.duration);
    let rss_kib = crate::live::rss_kib();
    let peak_rss_kib = crate::live::peak_rss_kib();
    let ran_secs = ran.elapsed().as_secs_f64();
    let detached = running.detach();
    // The kernel may eject the scheduler in the same moment the duration
    // ends: an error recorded in the exit info is an ejection either way.
    let error_recorded = detached.exit.as_ref().is_some_and(ExitInfo::is_error);
    RunReport {
        scheduler: scheduler.to_string(),
        variant: choice.variant.name.clone(),
        kernel: root.release(),
        ops_name,
        skipped,
        shims: choice
            .assessment
            .shims
            .iter()
            .map(ToString::to_string)
            .collect(),
        loaded: true,
        enable_ms,
        enabled_seen: true,
        ran_secs,
        outcome: match (ended, error_recorded) {
            (Ended::Requested, false) => Outcome::Detached,
            (Ended::Ejected, _) | (Ended::Requested, true) => Outcome::Ejected,
        },
        detached_cleanly: detached.cleanly,
        exit: detached.exit,
        restarts: 0,
        rss_kib,
        peak_rss_kib,
        phases: Phases::default(),
    }
}
