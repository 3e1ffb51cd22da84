//! The offline compatibility matrix: every scheduler of every package against
//! every kernel, from kernel images alone.
//!
//! Each kernel is read and parsed once (in parallel, one thread per core) and
//! reused for every package; each variant is judged by the same pure
//! [`crate::matching::assess`] that `run` uses before it touches a kernel.
//! A cell whose kernel BTF a package's proof records cover says whether a
//! VM run proved or contradicted the prediction ([`Evidence`]).

pub mod report;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use crate::kernel::{CoreIndex, Kconfig, KernelError, KernelTarget, source};
use crate::matching::{self, Target};
use crate::package::Package;
use crate::progress::{Event, Progress};
use crate::proof::Evidence;

/// One variant's verdict on one kernel.
pub type VariantResult = matching::Judged;

/// One kernel × scheduler cell of the matrix.
#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    /// The kernel's label (release, else path).
    pub kernel: String,
    pub kernel_path: PathBuf,
    pub package: String,
    pub scheduler: String,
    /// The variant the loader would choose, if any loads.
    pub variant: Option<String>,
    pub loadable: bool,
    /// The kernel has sched_ext at all.
    pub sched_ext: bool,
    /// Shims of the chosen variant (as sentences).
    pub shims: Vec<String>,
    /// Why no variant loads, or why preferred variants were skipped (as sentences).
    pub reasons: Vec<String>,
    /// Whether a VM run on a kernel with this BTF proves (or contradicts)
    /// the verdict; `predicted` without one. Never changes `loadable`.
    pub evidence: Evidence,
    /// What the chosen variant needs to keep running once loaded (as
    /// sentences): "loads" is not "runs". Never part of `loadable`.
    pub depends: Vec<String>,
    /// Every variant's verdict, in preference order.
    pub variants: Vec<VariantResult>,
    /// What the manifest's setup will do on this kernel, one line per step
    /// (CPU counts come from the machine at run time). A step this kernel
    /// cannot resolve is a reason instead, and no variant loads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<String>,
}

/// A kernel given to `check`, as read.
#[derive(Debug, Clone, Serialize)]
pub struct KernelSummary {
    pub label: String,
    pub path: PathBuf,
    pub sched_ext: bool,
    pub kconfig: bool,
}

/// The whole matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    pub kernels: Vec<KernelSummary>,
    pub results: Vec<CellResult>,
}

impl Matrix {
    /// True when every sched_ext kernel has a loadable variant of every
    /// scheduler (and, with `require_sched_ext`, every kernel has sched_ext).
    #[must_use]
    pub fn all_loadable(&self, require_sched_ext: bool) -> bool {
        self.results
            .iter()
            .all(|c| c.loadable || (!c.sched_ext && !require_sched_ext))
    }
}

/// Expands `--kernel` arguments: files as given, directories searched for
/// every kind of kernel source.
pub fn expand_kernels(paths: &[PathBuf]) -> Result<Vec<PathBuf>, KernelError> {
    Ok(source::expand(paths, &source::ALL_FORMATS)?)
}

/// How a matrix run reports as it goes, and how wide it runs.
#[derive(Default)]
pub struct MatrixOptions<'a> {
    /// Kernels read at once (each holds one decompressed payload); 0: one
    /// per CPU.
    pub jobs: usize,
    /// Started/finished events per kernel.
    pub progress: Progress,
    /// Called with each kernel's cells as soon as they are judged (from
    /// worker threads, in completion order), for streamed output.
    pub on_kernel: Option<&'a KernelSink>,
}

/// What receives each kernel's cells as they are judged.
pub type KernelSink = dyn Fn(&KernelSummary, &[CellResult]) + Sync;

/// Runs the matrix: `packages` × `kernels`.
pub fn matrix(
    packages: &[Package],
    kernels: &[PathBuf],
    cache: Option<&Path>,
) -> Result<Matrix, KernelError> {
    matrix_with(packages, kernels, cache, &MatrixOptions::default())
}

/// [`matrix`], reporting through `opts`. The result keeps the kernels' order.
pub fn matrix_with(
    packages: &[Package],
    kernels: &[PathBuf],
    cache: Option<&Path>,
    opts: &MatrixOptions<'_>,
) -> Result<Matrix, KernelError> {
    let jobs = if opts.jobs == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        opts.jobs
    };
    opts.progress.emit(Event::Planned {
        total: kernels.len(),
    });
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<KernelCells>>> = Mutex::new(vec![None; kernels.len()]);
    let worker = || -> Result<(), KernelError> {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = kernels.get(i) else {
                return Ok(());
            };
            let label = path.display().to_string();
            opts.progress.emit(Event::Started { item: &label });
            let result = check_kernel(packages, path, cache);
            opts.progress.emit(Event::Finished {
                item: &label,
                ok: result.is_ok(),
            });
            let (summary, cells) = result?;
            if let Some(sink) = opts.on_kernel {
                sink(&summary, &cells);
            }
            done.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some((summary, cells));
        }
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..jobs.clamp(1, kernels.len().max(1)))
            .map(|_| s.spawn(worker))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("check worker panicked"))
            .collect::<Result<Vec<()>, KernelError>>()
    })?;
    let mut matrix = Matrix {
        kernels: Vec::new(),
        results: Vec::new(),
    };
    for (summary, cells) in done
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .flatten()
    {
        matrix.kernels.push(summary);
        matrix.results.extend(cells);
    }
    Ok(matrix)
}

/// Fixes glibc's mmap threshold at its default (128 KiB), for the whole
/// process: what the `check` command does before its matrix (a library
/// caller decides about its own allocator). Left dynamic, it
/// rises to the size of the largest block freed (up to 32 MiB), so after the
/// first kernel the megabytes of each kernel's BTF and tables come from the
/// heap, where freed memory is kept: peak memory then grew with the number
/// of kernels (106–110 MiB for 40 images against 91 MiB with the threshold
/// fixed). Fixed, every large block goes back to the system when freed.
pub fn return_large_buffers_on_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // Safety: mallopt only sets an allocator parameter; it may be called at
    // any time, from any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}

impl std::fmt::Debug for MatrixOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixOptions")
            .field("jobs", &self.jobs)
            .field("progress", &self.progress)
            .field("on_kernel", &self.on_kernel.is_some())
            .finish()
    }
}

/// One kernel's summary and cells.
type KernelCells = (KernelSummary, Vec<CellResult>);

fn check_kernel(
    packages: &[Package],
    path: &Path,
    cache: Option<&Path>,
) -> Result<KernelCells, KernelError> {
    let image = source::read_kernel_cached(path, cache)?;
    let roots = matching::core_roots(
        packages
            .iter()
            .flat_map(|p| &p.manifest.schedulers)
            .flat_map(|s| &s.variants)
            .map(|v| &v.requirements),
    );
    let kconfig = Kconfig::beside_image(path, image.release.as_deref()).map(|(_, k)| k);
    let mut kernel = KernelTarget::build(
        &image.btf,
        path,
        image.release.clone(),
        kconfig,
        CoreIndex::Names(&roots),
    )?;
    crate::kernel::settle_arch(path, &image.kind, &mut kernel.facts)?;
    let target = kernel.view();
    let facts = target.facts;
    // Proof records are matched by the BTF's hash; without any, no cell
    // looks at it, so a cold check does not hash megabytes per kernel.
    let any_proofs = packages.iter().any(|p| !p.manifest.proofs.is_empty());
    let btf_sha256 = if any_proofs {
        crate::package::sha256_hex(&image.btf)
    } else {
        String::new()
    };
    let label = facts
        .release
        .clone()
        .unwrap_or_else(|| path.display().to_string());
    let summary = KernelSummary {
        label: label.clone(),
        path: path.to_path_buf(),
        sched_ext: facts.sched_ext,
        kconfig: target.kconfig.is_some(),
    };
    let cells = packages
        .iter()
        .flat_map(|pkg| pkg.manifest.schedulers.iter().map(move |s| (pkg, s)))
        .map(|(pkg, sched)| {
            let mut c = cell(&label, path, pkg.manifest.name.clone(), sched, &target);
            c.evidence = Evidence::for_cell(
                &pkg.manifest.proofs,
                &sched.name,
                &btf_sha256,
                c.variant.as_deref(),
            );
            c
        })
        .collect();
    Ok((summary, cells))
}

fn cell(
    label: &str,
    path: &Path,
    package: String,
    sched: &crate::package::Scheduler,
    target: &Target<'_>,
) -> CellResult {
    let selection = matching::select(&sched.variants, target)
        .with_sized_maps(&crate::package::setup::sized_maps(&sched.setup));
    let (setup, refusals) =
        crate::package::setup::describe(&sched.setup, |n| target.facts.enum_value(n));
    let mut reasons: Vec<String> = selection
        .skipped()
        .iter()
        .flat_map(|v| {
            v.assessment
                .reasons
                .iter()
                .map(move |r| format!("{}: {r}", v.variant))
        })
        .collect();
    // The loader resolves the setup the same way and stops where it cannot.
    let chosen = selection.chosen().filter(|_| refusals.is_empty());
    reasons.extend(refusals);
    CellResult {
        kernel: label.to_string(),
        kernel_path: path.to_path_buf(),
        package,
        scheduler: sched.name.clone(),
        variant: chosen.map(|v| v.variant.clone()),
        loadable: chosen.is_some(),
        sched_ext: target.facts.sched_ext,
        shims: chosen
            .map(|v| v.assessment.shims.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        reasons,
        evidence: Evidence::Predicted,
        depends: chosen
            .map(|v| depends(sched, &v.assessment))
            .unwrap_or_default(),
        variants: selection.judged.clone(),
        setup,
    }
}

/// What the chosen variant needs to run, as sentences: matching's
/// dependencies, then the user-half program the manifest names.
fn depends(sched: &crate::package::Scheduler, a: &crate::matching::Assessment) -> Vec<String> {
    let mut out: Vec<String> = a.depends.iter().map(ToString::to_string).collect();
    if let Some(program) = &sched.user_half {
        out.push(format!(
            "its user-space half is the program {program}: start it with {program} \
             (`scxpack run` refuses to load the BPF half alone)"
        ));
    }
    out
}
