//! `scxpack generate`: man pages and shell completions, generated from the
//! same clap definitions that parse the command line.
//!
//! Not part of [`super::Cli`], so it appears in neither `--help`, the man
//! pages nor the completions: distribution recipes call it at build time
//! (offline, no `$HOME`), e.g. `scxpack generate man DIR` and
//! `scxpack generate completions bash DIR`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use clap_complete::Shell;

/// `scxpack generate`, parsed apart from the user-facing commands.
#[derive(Debug, Parser)]
#[command(
    name = "scxpack generate",
    about = "Generate scxpack's man pages or shell completions (for distribution recipes)"
)]
struct GenerateCli {
    #[command(subcommand)]
    command: Command,
}

/// What to generate.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write one man page per subcommand (scxpack.1, scxpack-check.1, ...) into DIR.
    Man {
        /// Output directory (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write the completion script for SHELL into DIR (scxpack.bash, _scxpack, scxpack.fish, ...).
    Completions {
        #[arg(value_name = "SHELL")]
        shell: Shell,
        /// Output directory (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Parses `scxpack generate ...` (the process arguments) and runs it.
pub(crate) fn main() -> anyhow::Result<ExitCode> {
    let args = std::env::args_os().skip(2);
    let cli = GenerateCli::parse_from(std::iter::once("scxpack generate".into()).chain(args));
    run(&cli.command)
}

fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Man { dir } => {
            create(dir)?;
            clap_mangen::generate_to(super::Cli::command(), dir)
                .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
        }
        Command::Completions { shell, dir } => {
            create(dir)?;
            let mut cli = super::Cli::command();
            let path = clap_complete::generate_to(*shell, &mut cli, "scxpack", dir).with_context(
                || {
                    format!(
                        "cannot write the {shell} completions into {}",
                        dir.display()
                    )
                },
            )?;
            println!("{}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn create(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}
