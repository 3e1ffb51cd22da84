//! `scxpack check PKG... [--installed] --kernel PATH...`: the offline
//! compatibility matrix.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::output::{print_json, print_json_line};
use crate::check::{self, report};
use crate::exit_status::ExitStatus;
use crate::package::{Installed, Package};

#[derive(Debug, clap::Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches, as clap defines them"
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
    /// Kernels read at once (each holds one decompressed payload in memory).
    /// Default: one per CPU.
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    jobs: usize,
    /// Stream JSON Lines instead of the table: one line per kernel ×
    /// scheduler, printed as soon as its kernel is read (completion order).
    #[arg(long, conflicts_with = "json")]
    jsonl: bool,
    /// For kernel hooks: print only a warning on stderr for each scheduler
    /// that will not load (kernels without sched_ext included), and exit 0
    /// whatever happens, also when a kernel or package cannot be read.
    #[arg(long, conflicts_with_all = ["json", "jsonl", "junit", "markdown", "require_sched_ext", "verbose"])]
    warn_only: bool,
    #[command(flatten)]
    cache: super::cache::CacheArg,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.warn_only {
        warn_only(args);
        return Ok(ExitCode::SUCCESS);
    }
    let matrix = matrix(args)?;
    if args.jsonl {
        // Already streamed.
    } else if args.json {
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
    if args.require_sched_ext {
        say_kernels_without_sched_ext(&matrix);
    }
    Ok(if matrix.all_loadable(args.require_sched_ext) {
        ExitCode::SUCCESS
    } else {
        ExitStatus::NotLoadable.into()
    })
}

/// `--warn-only`: warnings on stderr, never a failure.
fn warn_only(args: &Args) {
    match matrix(args) {
        Ok(matrix) => {
            for warning in warnings(&matrix) {
                crate::say!("scxpack: warning: {warning}");
            }
        }
        Err(e) => {
            let kernels: Vec<String> = args
                .kernels
                .iter()
                .map(|k| k.display().to_string())
                .collect();
            crate::say!(
                "scxpack: warning: could not check the schedulers against {}: {e:#}",
                kernels.join(", ")
            );
        }
    }
}

/// One sentence per scheduler that will not load on a kernel, naming both and why.
fn warnings(matrix: &check::Matrix) -> Vec<String> {
    matrix
        .results
        .iter()
        .filter(|c| !c.loadable)
        .map(|c| {
            let why = if c.sched_ext {
                c.reasons.join("; ")
            } else {
                "the kernel has no sched_ext (CONFIG_SCHED_CLASS_EXT)".to_string()
            };
            format!(
                "scheduler {} (package {}) will not load on kernel {} ({}): {why}",
                c.scheduler,
                c.package,
                c.kernel,
                c.kernel_path.display()
            )
        })
        .collect()
}

/// Reads the packages (and the installed ones) and the kernels, and runs the matrix.
fn matrix(args: &Args) -> anyhow::Result<check::Matrix> {
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
    run_matrix(args, &packages, &kernels)
}

/// With `--require-sched-ext`, names the kernels that fail it (on stderr).
fn say_kernels_without_sched_ext(matrix: &check::Matrix) {
    let lacking: Vec<String> = matrix
        .kernels
        .iter()
        .filter(|k| !k.sched_ext)
        .map(|k| format!("{} ({})", k.label, k.path.display()))
        .collect();
    if !lacking.is_empty() {
        crate::say!(
            "scxpack: --require-sched-ext: {} kernel(s) lack sched_ext (built without CONFIG_SCHED_CLASS_EXT): {}",
            lacking.len(),
            lacking.join(", ")
        );
    }
}

/// Runs the matrix with a progress bar on a terminal and, with `--jsonl`,
/// each kernel's cells printed as they come.
fn run_matrix(
    args: &Args,
    packages: &[Package],
    kernels: &[PathBuf],
) -> anyhow::Result<check::Matrix> {
    let (progress, bar) =
        super::progress::bar("checked", args.json || args.jsonl || args.warn_only);
    let stream = |_: &check::KernelSummary, cells: &[check::CellResult]| {
        for cell in cells {
            // A closed pipe ends the stream; the exit status still says how the matrix went.
            let _ = print_json_line(cell);
        }
    };
    let opts = check::MatrixOptions {
        jobs: args.jobs,
        progress,
        on_kernel: args.jsonl.then_some(&stream as &check::KernelSink),
    };
    check::return_large_buffers_on_free();
    let matrix = check::matrix_with(
        packages,
        kernels,
        args.cache.dir(args.verbose).as_deref(),
        &opts,
    );
    super::progress::finish(bar);
    Ok(matrix?)
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
