//! `scxpack run NAME|PKG|OBJ` and `scxpack status`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use super::output::{print_json, print_json_line};
use crate::daemon::protocol::DaemonStatus;
use crate::live::{SchedExtSysfs, System};
use crate::loader::{self, RunFailure, RunOptions, RunRecord};
use crate::package::Package;
use crate::package::installed::Notice;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// An installed scheduler's name, a package (.scxpkg) or a BPF object (.bpf.o).
    target: String,
    /// Which scheduler of a package with several.
    #[arg(long)]
    scheduler: Option<String>,
    /// Load this variant instead of the first one that loads.
    #[arg(long)]
    variant: Option<String>,
    /// Use a named parameter set of the scheduler (`info` lists them); --param overrides its values.
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// Set a scheduler parameter (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = loader_param)]
    params: Vec<(String, String)>,
    /// Detach after SECS seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    duration: Option<f64>,
    /// Reloads allowed when the scheduler exits asking for a restart.
    #[arg(long, default_value_t = 3)]
    max_restarts: u32,
    /// Print a JSON report on stdout when done.
    #[arg(long)]
    json: bool,
    /// Show libbpf's messages and verifier logs.
    #[arg(short, long)]
    verbose: bool,
    /// Also try variants the offline matching refuses, and let the kernel decide.
    #[arg(long)]
    force: bool,
    /// System of the installation to look NAME up in.
    #[arg(long, default_value = "/")]
    root: PathBuf,
}

impl Args {
    /// Reads `run`'s arguments (after `run`) without clap, for the forms a
    /// boot or a service unit writes: one target, `--flag`, `-v`,
    /// `--option VALUE` and `--option=VALUE`. `None` for anything else (help,
    /// `--`, a repeated single option, a value clap would read differently
    /// or reject), which the caller leaves to clap. Under emulation, clap
    /// building even this one subcommand costs ~130 ms of a start that is
    /// timed against a bare loader (`benches/run_enable.rs`).
    pub(super) fn from_plain_argv(words: impl Iterator<Item = std::ffi::OsString>) -> Option<Self> {
        let words = words
            .map(|a| a.into_string().ok())
            .collect::<Option<Vec<String>>>()?;
        let mut args = Args {
            target: String::new(),
            scheduler: None,
            variant: None,
            mode: None,
            params: Vec::new(),
            duration: None,
            max_restarts: 3,
            json: false,
            verbose: false,
            force: false,
            root: PathBuf::from("/"),
        };
        let (mut target, mut seen) = (None, Vec::new());
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            if !word.starts_with('-') {
                once(&mut target, word)?;
                continue;
            }
            let (name, inline) = match word.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (word, None),
            };
            let name = if name == "-v" {
                "--verbose".to_string()
            } else {
                name
            };
            if seen.contains(&name) && name != "--param" {
                return None;
            }
            seen.push(name.clone());
            if args.set_flag(&name) {
                if inline.is_some() {
                    return None;
                }
                continue;
            }
            let value = inline.or_else(|| words.next())?;
            if value.is_empty() || value.starts_with('-') {
                return None;
            }
            args.set_option(&name, value)?;
        }
        args.target = target?;
        Some(args)
    }

    /// Sets the boolean flag `name`; false when `name` is not one.
    fn set_flag(&mut self, name: &str) -> bool {
        let flag = match name {
            "--json" => &mut self.json,
            "--verbose" | "-v" => &mut self.verbose,
            "--force" => &mut self.force,
            _ => return false,
        };
        *flag = true;
        true
    }

    /// Sets the option `name` to `value`; `None` when it is not an option
    /// or the value does not parse.
    fn set_option(&mut self, name: &str, value: String) -> Option<()> {
        match name {
            "--scheduler" => self.scheduler = Some(value),
            "--variant" => self.variant = Some(value),
            "--mode" => self.mode = Some(value),
            "--param" => self.params.push(loader_param(&value).ok()?),
            "--duration" => self.duration = Some(seconds(&value).ok()?),
            "--max-restarts" if value.bytes().all(|b| b.is_ascii_digit()) => {
                self.max_restarts = value.parse().ok()?;
            }
            "--root" => self.root = PathBuf::from(value),
            _ => return None,
        }
        Some(())
    }
}

/// Puts `value` in an empty `slot`; `None` when it is taken already.
fn once(slot: &mut Option<String>, value: String) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// A number of seconds a `Duration` can hold (not negative, not NaN, not infinite).
fn seconds(s: &str) -> Result<f64, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(secs)
        .map(|_| secs)
        .map_err(|_| format!("{s} is not a number of seconds from 0 up"))
}

fn loader_param(s: &str) -> Result<(String, String), String> {
    crate::loader::parse_param(s).map_err(|e| e.to_string())
}

/// The package to run, its objects re-hashed against its manifest (every
/// open verifies) and the manifest's signature checked with the keys and
/// policy of `root`, so what is loaded is what was signed: `target` as
/// `run` reads it, a package or object file or the name of a scheduler
/// installed under `root`. Shared with the daemon and the user-half
/// programs (`scxpack-relay`).
pub fn open_package(target: &str, root: &Path) -> anyhow::Result<Package> {
    open_package_reusing(target, root, None, &std::cell::Cell::new(false))
}

/// [`open_package`], taking a bare object's requirements from what `kernel`
/// read of this boot's cache when an earlier start read the same bytes.
/// `reused` is set when it did.
fn open_package_reusing(
    target: &str,
    root: &Path,
    kernel: Option<&loader::KernelPrefetch>,
    reused: &std::cell::Cell<bool>,
) -> anyhow::Result<Package> {
    let path = Path::new(target);
    let (package, from) = if super::names_a_file(target) {
        let known = |sha: &str| {
            let req = kernel.and_then(|k| k.bare_requirements(sha));
            reused.set(req.is_some());
            req
        };
        let limits = crate::package::Limits::default();
        (
            Package::open_reusing(path, &limits, known)?,
            path.to_path_buf(),
        )
    } else {
        let installed = crate::package::Installed::scan(root)?;
        // A damaged package may be the one that provided the scheduler.
        super::package::warn(&installed, |n| {
            n.concerns(target) || matches!(n, Notice::Damaged { .. })
        });
        let found = installed.resolve(root, target)?;
        (found.package.clone(), found.dir.clone())
    };
    let trust = super::package::check_trust(&package, root)?;
    super::package::note_trust(&trust, &from);
    Ok(package)
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    // The kernel is read while the package is opened and verified.
    let kernel = loader::KernelPrefetch::start(&System::default());
    let reused = std::cell::Cell::new(false);
    let pkg = open_package_reusing(&args.target, &args.root, Some(&kernel), &reused)?;
    let mut scheduler = args.scheduler.clone();
    if scheduler.is_none() && !super::names_a_file(&args.target) {
        scheduler = Some(args.target.clone());
    }
    let opts = RunOptions {
        scheduler,
        variant: args.variant.clone(),
        mode: args.mode.clone(),
        params: args.params.clone(),
        duration: args.duration.map(Duration::from_secs_f64),
        max_restarts: args.max_restarts,
        verbose: args.verbose,
        force: args.force,
        started: Some(super::started()),
    };
    let mut report = match loader::run_with_kernel(&pkg, &opts, &System::default(), Some(kernel)) {
        Ok(r) => r,
        Err(e) => {
            crate::say!("scxpack: error: {e}");
            if args.json {
                print_json_line(&RunRecord::Failed(RunFailure::from(&e)))?;
            }
            return Ok(e.exit_status().into());
        }
    };
    report.phases.object_cached = reused.get();
    if let Some(exit) = &report.exit {
        crate::say!(
            "scxpack: {} stopped: {} ({}) exit_code {:#x}: {}",
            report.scheduler,
            exit.kind_name,
            exit.reason,
            exit.exit_code,
            exit.msg
        );
    }
    if args.json {
        print_json_line(&report)?;
    }
    Ok(report.exit_status().into())
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The daemon's socket.
    #[arg(long, value_name = "PATH", default_value = crate::daemon::SOCKET)]
    socket: PathBuf,
}

#[derive(Serialize)]
struct Status {
    sched_ext: bool,
    #[serde(flatten)]
    sysfs: Option<SchedExtSysfs>,
    /// The daemon's status (null when it could not be asked)...
    daemon: Option<DaemonStatus>,
    /// ... and why it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    daemon_unreachable: Option<String>,
}

pub(crate) fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let sysfs = System::default().sched_ext();
    let daemon = super::daemon::ask_status(&args.socket);
    let status = Status {
        sched_ext: sysfs.is_some(),
        sysfs,
        daemon: daemon.as_ref().ok().cloned(),
        daemon_unreachable: daemon.as_ref().err().cloned(),
    };
    if args.json {
        print_json(&status)?;
        return Ok(ExitCode::SUCCESS);
    }
    super::daemon::print_status(&daemon);
    let Some(s) = &status.sysfs else {
        println!(
            "sched_ext: not available (no /sys/kernel/sched_ext: the kernel lacks CONFIG_SCHED_CLASS_EXT)"
        );
        return Ok(ExitCode::SUCCESS);
    };
    println!("sched_ext:   {}", s.state.as_deref().unwrap_or("?"));
    println!("scheduler:   {}", s.root_ops.as_deref().unwrap_or("none"));
    if let Some(seq) = s.enable_seq {
        println!("enable_seq:  {seq} (schedulers enabled since boot)");
    }
    if let Some(n) = s.nr_rejected {
        println!("nr_rejected: {n}");
    }
    for (name, value) in &s.events {
        println!("  {name:40} {value}");
    }
    Ok(ExitCode::SUCCESS)
}
