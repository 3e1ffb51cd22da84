//! The command line: argument definitions, dispatch, and error reporting.
//!
//! Each subcommand lives in its own module with a `run` function returning
//! an [`ExitCode`]; `main` prints any error as one `scxpack: error: ...` line
//! (with its causes) and treats a closed stdout as success.

mod btf;
mod cache;
mod check;
mod daemon;
mod generate;
mod inspect;
mod manifest;
mod output;
mod package;
mod probe;
mod progress;
mod report;
mod run;
pub mod vmtest;
mod wakeup;

pub use run::open_package;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

use clap::{Parser, Subcommand};

use crate::exit_status::ExitStatus;

#[derive(Debug, Parser)]
#[command(
    name = "scxpack",
    about = "Ship sched_ext schedulers as prebuilt CO-RE BPF objects"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what a kernel offers sched_ext schedulers (the running kernel by default).
    Probe(probe::Args),
    /// Show what a BPF object needs from a kernel.
    Inspect(inspect::Args),
    /// Load a scheduler on the running kernel and watch it until it stops.
    Run(run::Args),
    /// Show whether sched_ext is enabled, which scheduler runs, its counters, and the daemon's state.
    Status(run::StatusArgs),
    /// Hold one scheduler and take start/switch/stop/restart/status requests on a Unix socket.
    Daemon(daemon::DaemonArgs),
    /// Ask the daemon to replace its scheduler (or start one).
    Switch(daemon::SwitchArgs),
    /// Ask the daemon to detach its scheduler.
    Stop(daemon::ClientArgs),
    /// Boot kernels in QEMU and load every scheduler for real.
    Vmtest(vmtest::Args),
    /// Measure wakeup latency under a CPU-bound load on every CPU, under the running scheduler.
    ///
    /// Like cyclictest: threads sleep to absolute deadlines one period apart
    /// (clock_nanosleep TIMER_ABSTIME) while one CPU-bound spinner per CPU runs;
    /// prints how late they woke (median, p99, max in µs), the spinners' loop
    /// iterations per second, and which scheduler ran before and after.
    /// `scxpack vmtest --latency` runs it in each guest.
    WakeupLatency(wakeup::Args),
    /// Which variant of each scheduler loads on each kernel, offline.
    Check(check::Args),
    /// Reports of sharded runs.
    #[command(subcommand)]
    Report(report::Command),
    /// Kernel BTF tools.
    #[command(subcommand)]
    Btf(btf::Command),
    /// The per-user BTF cache of `check` and `probe`.
    #[command(subcommand)]
    Cache(cache::Command),
    /// Draft a source manifest for a bare object (`manifest init OBJ`).
    #[command(subcommand)]
    Manifest(manifest::Command),
    /// Pack scheduler objects into a deterministic .scxpkg package.
    Pack(package::PackArgs),
    /// Check a package: schema, every entry, every size and sha256, its signature.
    Verify(package::VerifyArgs),
    /// Sign a package's manifest with a minisign secret key (PKG.minisig).
    Sign(package::SignArgs),
    /// Verify a package, then install it atomically under ROOT/usr/lib/scxpack.
    Install(package::InstallArgs),
    /// Remove an installed package.
    Uninstall(package::UninstallArgs),
    /// List installed packages and their schedulers.
    List(package::ListArgs),
    /// Show a package's schedulers, parameters and variants (a file or an installed name).
    Info(package::InfoArgs),
}

/// When this command began (what `run` counts its `enable_ms` from).
static STARTED: OnceLock<Instant> = OnceLock::new();

fn started() -> Instant {
    *STARTED.get_or_init(Instant::now)
}

/// Entry point of the `scxpack` binary.
#[must_use]
pub fn main() -> ExitCode {
    STARTED.get_or_init(Instant::now);
    // `scxpack generate ...` is parsed on its own so that the man pages and
    // completions it writes describe the user-facing commands only.
    if std::env::args_os().nth(1).is_some_and(|a| a == "generate") {
        return finish(generate::main());
    }
    let cli = parse();
    let result = match cli.command {
        Command::Probe(args) => probe::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Btf(cmd) => btf::run(&cmd),
        Command::Cache(cmd) => cache::run(&cmd),
        Command::Manifest(cmd) => manifest::run(&cmd),
        Command::Pack(args) => package::run_pack(&args),
        Command::Verify(args) => package::run_verify(&args),
        Command::Sign(args) => package::run_sign(&args),
        Command::Install(args) => package::run_install(&args),
        Command::Uninstall(args) => package::run_uninstall(&args),
        Command::List(args) => package::run_list(&args),
        Command::Info(args) => package::run_info(&args),
        Command::Check(args) => check::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Vmtest(args) => vmtest::run(&args),
        Command::WakeupLatency(args) => wakeup::run(&args),
        Command::Report(cmd) => report::run(&cmd),
        Command::Status(args) => run::status(&args),
        Command::Daemon(args) => daemon::serve(&args),
        Command::Switch(args) => daemon::switch(&args),
        Command::Stop(args) => daemon::stop(&args),
    };
    finish(result)
}

/// The exit status of a command's result; an error becomes one line on stderr.
fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            crate::say!("scxpack: error: {}", error_text(&e));
            ExitStatus::Error.into()
        }
    }
}

/// `e` and its causes joined by `: ` (what `{e:#}` prints), leaving out a
/// cause whose text a message before it already includes: many error types
/// both print their `io::Error` and return it as their source, which would
/// otherwise state it twice ("File exists (os error 17): File exists (os error 17)").
fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Parses the command line, with `--version` as [`version_text`] says.
fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    if let Some(cli) = parse_run_alone(std::env::args_os()) {
        return cli;
    }
    // Leaked once: clap wants a 'static version and libbpf's is known at run time.
    let version: &'static str = Box::leak(version_text().into_boxed_str());
    let matches = Cli::command().version(version).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `scxpack run ...` is what a boot waits for, so its common forms are
/// read without clap ([`run::Args::from_plain_argv`]): building the
/// definition of every subcommand costs ~0.4 s under emulation, and of the
/// `run` subcommand alone still ~130 ms (`benches/run_enable.rs`).
/// Anything that reader does not take as it is (help, a typo, a bad value)
/// is left to the full parser, whose messages and exit codes are the usual
/// ones.
fn parse_run_alone(mut argv: impl Iterator<Item = std::ffi::OsString>) -> Option<Cli> {
    let _bin = argv.next()?;
    if argv.next()? != "run" {
        return None;
    }
    Some(Cli {
        command: Command::Run(run::Args::from_plain_argv(argv)?),
    })
}

/// What `scxpack --version` prints after the name: the version, the git
/// commit it was built from (when known), the libbpf it loads with and the
/// package schema it reads.
#[must_use]
pub fn version_text() -> String {
    let commit = option_env!("SCXPACK_GIT_COMMIT").unwrap_or("unknown (not built from git)");
    // SAFETY: libbpf returns a pointer to a static NUL-terminated string.
    let libbpf =
        unsafe { std::ffi::CStr::from_ptr(libbpf_rs::libbpf_sys::libbpf_version_string()) };
    format!(
        "{}\ncommit: {commit}\nlibbpf: {}\npackage schema: {} (reads {}.x)",
        env!("CARGO_PKG_VERSION"),
        libbpf.to_string_lossy(),
        crate::package::manifest::SCHEMA_VERSION,
        crate::package::manifest::SCHEMA_MAJOR
    )
}

/// True when a command-line target names a file rather than an installed
/// package or scheduler: it exists, or it looks like a path (package and
/// scheduler names have no `/` and no such extension), so a missing file
/// is reported as one.
fn names_a_file(target: &str) -> bool {
    // The file system is asked last: the text alone usually tells.
    let path = std::path::Path::new(target);
    target.contains('/')
        || path
            .extension()
            .is_some_and(|e| e == crate::package::PACKAGE_EXTENSION || e == "o")
        || path.exists()
}

/// `--kernel PATH` as several commands take it.
#[derive(Debug, Clone, clap::Args)]
struct KernelArg {
    /// A kernel: vmlinuz (x86 bzImage, arm64 Image/Image.gz/EFI zboot), ELF vmlinux, raw BTF file or kernel .deb.
    /// Default: the running kernel.
    #[arg(long, value_name = "PATH")]
    kernel: Option<PathBuf>,
}

/// The inputs of the matrix commands (`check`, `vmtest`).
#[derive(Debug, Clone, clap::Args)]
struct MatrixInputs {
    /// Packages (.scxpkg) or bare BPF objects (.bpf.o).
    #[arg(required = true, value_name = "PKG")]
    packages: Vec<PathBuf>,
    /// Kernels, or directories searched for them: vmlinuz (`check` also takes
    /// ELF vmlinux, raw BTF and kernel .deb files; `vmtest` boots x86_64 and
    /// arm64 vmlinuz, also from a kernel .deb).
    /// Takes several paths (a shell glob works) and may be repeated.
    #[arg(long = "kernel", required = true, value_name = "PATH", num_args = 1..)]
    kernels: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::{Cli, error_text, parse_run_alone};
    use clap::Parser as _;

    fn argv(args: &[&str]) -> Vec<std::ffi::OsString> {
        std::iter::once("scxpack")
            .chain(args.iter().copied())
            .map(Into::into)
            .collect()
    }

    /// A duration a `Duration` cannot hold is a usage error, never a panic
    /// when the run ends (`Duration::from_secs_f64` panics on it).
    #[test]
    fn run_refuses_durations_a_duration_cannot_hold() {
        for bad in ["inf", "NaN", "-1", "1e30"] {
            let option = format!("--duration={bad}");
            let args = argv(&["run", "fair", &option]);
            assert!(parse_run_alone(args.clone().into_iter()).is_none(), "{bad}");
            let err = Cli::try_parse_from(args).expect_err(bad);
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
        }
    }

    /// The `run`-only parser reads every `run` command line as the full
    /// parser does, and leaves everything else to it.
    #[test]
    fn run_alone_parses_like_the_full_parser() {
        let same = [
            vec!["run", "fifo"],
            vec![
                "run",
                "/pkg/x.scxpkg",
                "--scheduler",
                "fair",
                "--variant",
                "v",
            ],
            vec![
                "run",
                "x.bpf.o",
                "--duration",
                "1.5",
                "--json",
                "-v",
                "--force",
            ],
            vec![
                "run",
                "fair",
                "--mode",
                "lowlatency",
                "--param",
                "slice_us=5000",
            ],
            vec![
                "run",
                "fair",
                "--param=a=1",
                "--param",
                "b=2",
                "--max-restarts",
                "0",
            ],
            vec!["run", "--root", "/r", "fair"],
            vec![
                "run",
                "--duration=2",
                "--scheduler=fair",
                "--root=/r",
                "--variant=v1",
                "--mode=m",
                "--max-restarts=07",
                "x.scxpkg",
                "--verbose",
            ],
            vec![
                "run",
                "-v",
                "fair",
                "--param",
                "k=v=w",
                "--param=k2=",
                "--json",
            ],
        ];
        for args in same {
            let fast = parse_run_alone(argv(&args).into_iter())
                .unwrap_or_else(|| panic!("{args:?} left to the full parser"));
            let full = Cli::try_parse_from(argv(&args)).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{args:?}");
        }
        let others = [
            vec!["run"],
            vec!["run", "--help"],
            vec!["run", "fair", "--duration", "soon"],
            vec!["run", "fair", "--param", "novalue"],
            vec!["run", "fair", "--no-such-flag"],
            vec!["run", "fair", "--json", "--json"],
            vec!["run", "fair", "-v", "--verbose"],
            vec!["run", "fair", "--variant", "a", "--variant=b"],
            vec!["run", "fair", "--duration", "inf"],
            vec!["run", "fair", "--duration", "-1"],
            vec!["run", "fair", "--json=1"],
            vec!["run", "fair", "other"],
            vec!["run", "--", "fair"],
            vec!["run", "fair", "--max-restarts", "-1"],
            vec!["run", "fair", "--variant"],
            vec!["status"],
            vec!["check", "run"],
            vec!["--version"],
            vec![],
        ];
        for args in others {
            assert!(
                parse_run_alone(argv(&args).into_iter()).is_none(),
                "{args:?}"
            );
        }
    }

    #[test]
    fn error_text_states_each_cause_once() {
        let io = std::io::Error::from_raw_os_error(17);
        let outer = format!("/r/.staging: {io}");
        let e = anyhow::Error::new(io).context(outer);
        assert_eq!(error_text(&e), "/r/.staging: File exists (os error 17)");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&e), "outer: inner");
    }
}
