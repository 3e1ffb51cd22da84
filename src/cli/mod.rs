//! The command line: argument definitions, dispatch, and error reporting.
//!
//! Each subcommand lives in its own module with a `run` function returning
//! an [`ExitCode`]; `main` prints any error as one `scxpack: error: ...` line
//! (with its causes) and treats a closed stdout as success.

mod btf;
mod check;
mod inspect;
mod output;
mod probe;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status when a command fails on bad input or an I/O error.
pub const EXIT_ERROR: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "scxpack",
    version,
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
    /// Which variant of each scheduler loads on each kernel, offline.
    Check(check::Args),
    /// Kernel BTF tools.
    #[command(subcommand)]
    Btf(btf::Command),
}

/// Entry point of the `scxpack` binary.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Probe(args) => probe::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Btf(cmd) => btf::run(&cmd),
        Command::Check(args) => check::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scxpack: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// `--kernel PATH` as several commands take it.
#[derive(Debug, Clone, clap::Args)]
struct KernelArg {
    /// A kernel: vmlinuz (bzImage), ELF vmlinux, raw BTF file or kernel .deb.
    /// Default: the running kernel.
    #[arg(long, value_name = "PATH")]
    kernel: Option<PathBuf>,
}
