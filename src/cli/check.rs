//! `scxpack check PKG... [--installed] --kernel PATH...`: the offline
//! compatibility matrix.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::output::print_json;
use crate::check::{self, report};
use crate::package::{Installed, Package};

/// Exit status when some sched_ext kernel has no loadable variant of some
/// scheduler (or, with `--require-sched-ext`, a kernel lacks sched_ext).
pub const EXIT_NOT_LOADABLE: u8 = 3;

#[derive(Debug, clap::Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent command-line flags"
)]
pub(crate) struct Args {
    /// Packages (.scxpkg), installed package directories or bare BPF objects (.bpf.o).
    #[arg(value_name = "PKG", required_unless_present = "installed")]
    packages: Vec<PathBuf>,
    /// Kernels, or directories searched for them: vmlinuz, ELF vmlinux, raw
    /// BTF or kernel .deb. Takes several paths (a shell glob works) and may be repeated.
    #[arg(long = "kernel", required = true, value_name = "PATH", num_args = 1..)]
    kernels: Vec<PathBuf>,
    /// Also check every installed scheduler (as `run NAME` would resolve it).
    #[arg(long)]
    installed: bool,
    /// Root of the installation --installed reads.
    #[arg(long, value_name = "DIR", default_value = "/", requires = "installed")]
    root: PathBuf,
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
    #[command(flatten)]
    cache: super::cache::CacheArg,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut packages = args
        .packages
        .iter()
        .map(|p| Package::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    if args.installed {
        packages.extend(installed_packages(&args.root)?);
    }
    let kernels = check::expand_kernels(&args.kernels)?;
    anyhow::ensure!(
        !kernels.is_empty(),
        "no kernel images found in {:?}",
        args.kernels
    );
    let matrix = check::run(&packages, &kernels, args.cache.dir(args.verbose).as_deref())?;
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
        ExitCode::from(EXIT_NOT_LOADABLE)
    })
}

/// Every installed scheduler, each in the package the resolver picks.
fn installed_packages(root: &Path) -> anyhow::Result<Vec<Package>> {
    let installed = Installed::scan(root)?;
    super::package::warn(&installed, |_| true);
    let packages = installed.providing_packages();
    anyhow::ensure!(
        !packages.is_empty(),
        "--installed: no installed schedulers (searched {})",
        crate::package::installed::searched(root)
    );
    Ok(packages)
}
