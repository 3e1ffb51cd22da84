//! Kernels: reading any kernel source into BTF ([`source`]) and deriving
//! what it offers ([`facts`]). [`Kernel::open`] is the one entry point the
//! commands use: a path (any source `source` recognises) or the running kernel.

pub mod arch;
pub mod facts;
pub mod kconfig;
pub mod source;
pub mod target;
pub mod types;

use std::path::{Path, PathBuf};

pub use arch::Arch;
pub use facts::{BtfDefect, EnumValue, KernelFacts, Kfunc, OpsMember};
pub use kconfig::Kconfig;
pub use source::{KernelBtf, SourceError, SourceKind};
pub use target::{CoreIndex, KernelTarget, Target};
pub use types::KernelTypes;

use crate::btf::BtfError;
use crate::live::{LiveError, SchedExtSysfs, System};

/// Why a kernel's facts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error("{path}: kernel BTF is corrupt: {source}")]
    Btf { path: PathBuf, source: BtfError },
    #[error(
        "{path}: the image is an {image} kernel but its BTF describes {btf} (struct pt_regs/user_pt_regs): the image is corrupt or was assembled from two kernels"
    )]
    ArchMismatch {
        path: PathBuf,
        image: Arch,
        btf: Arch,
    },
}

/// Sets `facts.arch` from the image format `kind` and the BTF, refusing
/// an image whose format and BTF name different architectures.
pub fn settle_arch(
    path: &Path,
    kind: &SourceKind,
    facts: &mut KernelFacts,
) -> Result<(), KernelError> {
    facts.arch = Arch::cross_check(kind.arch(), facts.arch).map_err(|(image, btf)| {
        KernelError::ArchMismatch {
            path: path.to_path_buf(),
            image,
            btf,
        }
    })?;
    Ok(())
}

/// Where a kernel's facts came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Origin {
    /// The running kernel (`/sys/kernel/btf/vmlinux`).
    Running {
        sched_ext_sysfs: Option<SchedExtSysfs>,
    },
    /// A file: vmlinuz, vmlinux, raw BTF or `.deb`.
    File { path: PathBuf, kind: SourceKind },
}

/// A kernel: where it came from, and its facts.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub origin: Origin,
    pub facts: KernelFacts,
}

impl Kernel {
    /// Reads the kernel at `path`, using the BTF cache in `cache_dir` when given.
    pub fn open(path: &Path, cache_dir: Option<&Path>) -> Result<Self, KernelError> {
        let image = source::read_kernel_cached(path, cache_dir)?;
        let mut facts = facts_from_btf(path, &image.btf, image.release.clone())?;
        settle_arch(path, &image.kind, &mut facts)?;
        Ok(Kernel {
            origin: Origin::File {
                path: path.to_path_buf(),
                kind: image.kind,
            },
            facts,
        })
    }

    /// Reads the running kernel through `root` (`/` normally).
    pub fn running(root: &System) -> Result<Self, KernelError> {
        let live = root.kernel()?;
        let facts = facts_from_btf(
            Path::new("/sys/kernel/btf/vmlinux"),
            &live.btf,
            live.release,
        )?;
        Ok(Kernel {
            origin: Origin::Running {
                sched_ext_sysfs: live.sched_ext,
            },
            facts,
        })
    }

    /// A short label: the release, else the file name.
    #[must_use]
    pub fn label(&self) -> String {
        if let Some(r) = &self.facts.release {
            return r.clone();
        }
        match &self.origin {
            Origin::Running { .. } => "running kernel".to_string(),
            Origin::File { path, .. } => path.display().to_string(),
        }
    }
}

fn facts_from_btf(
    path: &Path,
    btf: &[u8],
    release: Option<String>,
) -> Result<KernelFacts, KernelError> {
    Ok(KernelTarget::build(btf, path, release, None, CoreIndex::Skip)?.facts)
}
