//! The VM proof behind `scxpack vmtest`: every scheduler of every package,
//! loaded for real with `scxpack run` inside each kernel under QEMU (through
//! the [`crate::vm`] harness), read back as one result per kernel × scheduler.
//! The guest's `run --json` line is read back as the same typed
//! [`RunRecord`] the loader writes; [`report`] renders the results.

pub mod latency;
pub mod report;
pub mod shard;

use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use shard::{MergeError, Shard, merge};

use crate::kernel::{Kconfig, source};
use crate::loader::RunRecord;
use crate::package::Package;
use crate::proof::ProofRecord;
use crate::vm::{self, GuestJob, KernelRun, VmConfig};

/// One kernel × scheduler result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VmResult {
    pub kernel: String,
    pub kernel_path: PathBuf,
    pub package: String,
    pub scheduler: String,
    pub variant: Option<String>,
    /// The kernel has sched_ext.
    pub sched_ext: bool,
    /// The scheduler attached and sched_ext reported it enabled.
    pub loaded: bool,
    /// Loaded, ran for the whole duration, and detached cleanly.
    pub ok: bool,
    pub reason: Option<String>,
    pub ran_secs: Option<f64>,
    pub detached_cleanly: Option<bool>,
    pub exit_code: Option<i32>,
    /// What the guest's `scxpack run --json` printed.
    pub report: Option<RunRecord>,
    /// sha256 of the kernel's BTF (what a proof record is keyed on).
    pub btf_sha256: Option<String>,
}

/// The whole run, or one shard of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VmMatrix {
    /// Which shard of the run this is (`1/1`: the whole run).
    pub shard: Shard,
    /// Kernels in the whole run, across all shards.
    pub kernels_total: usize,
    pub boots: Vec<BootSummary>,
    pub results: Vec<VmResult>,
    /// Extra jobs' raw results: (kernel release, result).
    pub extra: Vec<(Option<String>, vm::JobResult)>,
}

/// One boot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootSummary {
    pub kernel: PathBuf,
    /// The kernel's position in the whole run's kernel list.
    pub position: usize,
    pub release: Option<String>,
    pub booted: bool,
    pub boot_secs: Option<f64>,
    pub total_secs: f64,
    pub failure: Option<String>,
    /// The guest has `/sys/kernel/sched_ext`.
    pub sched_ext: bool,
    pub sched_ext_log: Vec<String>,
}

pub(crate) fn job_id(pkg: &str, sched: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    format!("{}:{}", clean(pkg), clean(sched))
}

/// Runs every scheduler of `packages` on every kernel (plus `extra` jobs,
/// whose raw results are in [`VmMatrix::extra`]).
pub fn matrix(
    packages: &[PathBuf],
    kernels: &[PathBuf],
    cfg: &VmConfig,
    duration: u32,
    extra: &[GuestJob],
) -> anyhow::Result<VmMatrix> {
    matrix_shard(packages, kernels, cfg, duration, extra, Shard::WHOLE)
}

/// [`matrix`] on the kernels `shard` owns.
pub fn matrix_shard(
    packages: &[PathBuf],
    kernels: &[PathBuf],
    cfg: &VmConfig,
    duration: u32,
    extra: &[GuestJob],
    shard: Shard,
) -> anyhow::Result<VmMatrix> {
    let mut jobs = Vec::new();
    let mut index = Vec::new();
    for path in packages {
        let pkg = Package::open(path)?;
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .context("package path has no file name")?;
        for s in &pkg.manifest.schedulers {
            let id = job_id(&pkg.manifest.name, &s.name);
            // --force: variants matching refuses are tried too, so every
            // verdict comes from the kernel, not from our own matching.
            let mut job = GuestJob::scxpack_run(id.clone(), &file, Some(&s.name), duration);
            job.argv.push("--force".to_string());
            // Room for the default 3 reloads a scheduler may ask for, each
            // with a slow (emulated) load.
            let job = job.with_timeout(std::time::Duration::from_secs(
                (u64::from(duration) + 25) * 4 + 30,
            ));
            jobs.push(job);
            index.push((id, pkg.manifest.name.clone(), s.name.clone()));
        }
    }
    jobs.extend_from_slice(extra);
    let boots = Boots::prepare(kernels, shard)?;
    let mut out = VmMatrix {
        shard,
        kernels_total: boots.total,
        boots: Vec::new(),
        results: Vec::new(),
        extra: Vec::new(),
    };
    if boots.kernels.is_empty() {
        return Ok(out);
    }
    let mut cfg = cfg.clone();
    cfg.files.extend(kernel_configs(&boots.kernels));
    let btf_hashes = btf_hashes(&boots.kernels);
    let runs = vm::run_matrix(&boots.kernels, packages, &jobs, &cfg)?;
    for (run, &position) in runs.iter().zip(&boots.positions) {
        out.boots.push(BootSummary {
            kernel: run.kernel.clone(),
            position,
            release: run.release.clone(),
            booted: run.booted,
            boot_secs: run.boot_secs,
            total_secs: run.total_secs,
            failure: run.failure.clone(),
            sched_ext: run.sched_ext.is_some(),
            sched_ext_log: run.sched_ext_log.clone(),
        });
        let btf = btf_hashes
            .iter()
            .find(|(k, _)| *k == run.kernel)
            .and_then(|(_, h)| h.clone());
        for (id, pkg, sched) in &index {
            let mut r = result(run, id, pkg, sched);
            r.btf_sha256.clone_from(&btf);
            out.results.push(r);
        }
        for job in extra {
            if let Some(j) = run.job(&job.id) {
                out.extra.push((run.release.clone(), j.clone()));
            }
        }
    }
    Ok(out)
}

/// The kernels one run (or shard) boots.
struct Boots {
    /// Kernels in the whole run, across all shards.
    total: usize,
    /// Each booted kernel's position in the whole run's list.
    positions: Vec<usize>,
    /// The bootable images, `.deb` files unpacked into `_debs`.
    kernels: Vec<PathBuf>,
    _debs: DebKernels,
}

impl Boots {
    /// Finds the kernels under `kernels` (images, `.deb` files, directories)
    /// and keeps those `shard` owns.
    fn prepare(kernels: &[PathBuf], shard: Shard) -> anyhow::Result<Self> {
        let formats = [
            source::Format::BzImage,
            source::Format::Arm64,
            source::Format::Deb,
        ];
        let found = source::expand(kernels, &formats)?;
        anyhow::ensure!(!found.is_empty(), "no kernel image found in {kernels:?}");
        let (positions, ours): (Vec<usize>, Vec<PathBuf>) = found
            .iter()
            .enumerate()
            .filter(|(position, _)| shard.owns(*position))
            .map(|(position, k)| (position, k.clone()))
            .unzip();
        let debs = DebKernels::unpack(&ours)?;
        let kernels = if ours.is_empty() {
            Vec::new()
        } else {
            vm::expand_kernels(&debs.paths)?
        };
        Ok(Self {
            total: found.len(),
            positions,
            kernels,
            _debs: debs,
        })
    }
}

/// Kernel `.deb` files given to `vmtest`, unpacked to bootable images in a
/// temporary directory that lives as long as this value.
struct DebKernels {
    paths: Vec<PathBuf>,
    dir: Option<PathBuf>,
}

impl DebKernels {
    fn unpack(kernels: &[PathBuf]) -> anyhow::Result<Self> {
        let mut out = DebKernels {
            paths: Vec::new(),
            dir: None,
        };
        for (i, k) in kernels.iter().enumerate() {
            let is_deb = k.is_file() && source::sniff_file(k)? == Some(source::Format::Deb);
            if !is_deb {
                out.paths.push(k.clone());
                continue;
            }
            let (_, image) = source::deb_kernel_image(k)?;
            let dir = out.dir.get_or_insert_with(|| {
                std::env::temp_dir().join(format!("scxpack-vmtest-debs-{}", std::process::id()))
            });
            let name = k.file_stem().map_or_else(
                || format!("kernel-{i}"),
                |s| s.to_string_lossy().into_owned(),
            );
            let image_path = dir.join(name).join("vmlinuz");
            std::fs::create_dir_all(image_path.parent().unwrap_or(dir))?;
            std::fs::write(&image_path, image)
                .with_context(|| format!("cannot write {}", image_path.display()))?;
            out.paths.push(image_path);
        }
        Ok(out)
    }
}

impl Drop for DebKernels {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Each kernel image with the sha256 of its BTF (`None` when unreadable).
fn btf_hashes(kernels: &[PathBuf]) -> Vec<(PathBuf, Option<String>)> {
    let cache = source::default_cache_dir();
    kernels
        .iter()
        .map(|k| {
            let hash = source::read_kernel_cached(k, cache.as_deref())
                .ok()
                .map(|image| crate::package::sha256_hex(&image.btf));
            (k.clone(), hash)
        })
        .collect()
}

impl VmMatrix {
    /// The results as proof records dated `date`, for the schedulers of
    /// `packages` (the same packages the matrix ran): kernels whose BTF
    /// could not be read, and guests that never booted, prove nothing.
    #[must_use]
    pub fn proof_records(&self, packages: &[Package], date: &str) -> Vec<ProofRecord> {
        self.results
            .iter()
            .filter(|r| {
                self.boots
                    .iter()
                    .any(|b| b.kernel == r.kernel_path && b.booted && b.failure.is_none())
            })
            .filter_map(|r| {
                let object_sha256 = r.variant.as_ref().and_then(|v| {
                    let pkg = packages.iter().find(|p| p.manifest.name == r.package)?;
                    let sched = pkg.manifest.scheduler(&r.scheduler)?;
                    Some(sched.variants.iter().find(|x| &x.name == v)?.sha256.clone())
                });
                Some(ProofRecord {
                    kernel_release: self
                        .boots
                        .iter()
                        .find(|b| b.kernel == r.kernel_path)
                        .and_then(|b| b.release.clone()),
                    btf_sha256: r.btf_sha256.clone()?,
                    package: r.package.clone(),
                    scheduler: r.scheduler.clone(),
                    variant: r.variant.clone().filter(|_| r.loaded),
                    object_sha256: object_sha256.filter(|_| r.loaded),
                    loads: r.loaded,
                    ran: r.ok,
                    reason: r.reason.clone(),
                    date: date.to_string(),
                })
            })
            .collect()
    }
}

/// The `config` beside each kernel image, planted in the guest as
/// `/boot/config-RELEASE` where the loader looks for it, so the guest sees
/// the same configuration `check` reads beside the image.
fn kernel_configs(kernels: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let cache = source::default_cache_dir();
    kernels
        .iter()
        .filter_map(|k| {
            let release = source::read_kernel_cached(k, cache.as_deref())
                .ok()?
                .release?;
            let (config, _) = Kconfig::beside_image(k, Some(&release))?;
            Some((format!("boot/config-{release}"), config))
        })
        .collect()
}

fn result(run: &KernelRun, id: &str, pkg: &str, sched: &str) -> VmResult {
    let job = run.job(id);
    let record: Option<RunRecord> = job
        .and_then(|j| j.json.clone())
        .and_then(|v| serde_json::from_value(v).ok());
    let report = record.as_ref().and_then(RunRecord::report);
    let loaded = record.as_ref().is_some_and(RunRecord::loaded);
    let detached = report.map(|r| r.detached_cleanly);
    let rc = job.and_then(|j| j.rc);
    let ok = loaded && rc == Some(0) && detached == Some(true);
    let reason = if ok {
        None
    } else if let Some(f) = &run.failure {
        Some(format!("guest failed: {f}"))
    } else if let Some(e) = record.as_ref().and_then(RunRecord::error) {
        Some(e.to_string())
    } else if let Some(exit) = report.and_then(|r| r.exit.as_ref()) {
        Some(format!(
            "ejected by the kernel: {} ({}) {}",
            exit.kind_name, exit.reason, exit.msg
        ))
    } else if job.is_some_and(|j| !j.started) {
        Some("job never started".to_string())
    } else {
        Some(format!(
            "exit code {rc:?}, stderr: {}",
            job.map(|j| j.stderr.join(" | ")).unwrap_or_default()
        ))
    };
    VmResult {
        kernel: run
            .release
            .clone()
            .unwrap_or_else(|| run.kernel.display().to_string()),
        kernel_path: run.kernel.clone(),
        package: pkg.to_string(),
        scheduler: sched.to_string(),
        variant: report.map(|r| r.variant.clone()),
        sched_ext: run.sched_ext.is_some(),
        loaded,
        ok,
        reason,
        ran_secs: report.map(|r| r.ran_secs),
        detached_cleanly: detached,
        exit_code: rc,
        report: record,
        btf_sha256: None,
    }
}
