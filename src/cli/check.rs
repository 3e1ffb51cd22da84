//! `scxpack check PKG... --kernel PATH...`: the offline compatibility matrix.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::output::print_json;
use crate::check::{self, report};
use crate::exit_status::ExitStatus;
use crate::kernel::source::default_cache_dir;
use crate::package::Package;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    inputs: super::MatrixInputs,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write JUnit XML (one test case per kernel × scheduler) to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write a Markdown table to FILE.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Count kernels without sched_ext as failures.
    #[arg(long)]
    require_sched_ext: bool,
    /// Show shims and the reasons preferred variants were skipped.
    #[arg(short, long)]
    verbose: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let packages = args
        .inputs
        .packages
        .iter()
        .map(|p| Package::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let kernels = check::expand_kernels(&args.inputs.kernels)?;
    anyhow::ensure!(
        !kernels.is_empty(),
        "no kernel images found in {:?}",
        args.inputs.kernels
    );
    let matrix = check::run(&packages, &kernels, default_cache_dir().as_deref())?;
    if args.json {
        print_json(&matrix)?;
    } else {
        print!("{}", report::text(&matrix, args.verbose));
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&matrix, args.require_sched_ext))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, report::markdown(&matrix))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if matrix.all_loadable(args.require_sched_ext) {
        ExitCode::SUCCESS
    } else {
        ExitStatus::NotLoadable.into()
    })
}
