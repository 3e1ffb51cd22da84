//! Host-side errors of the VM harness.
//!
//! These stop a whole matrix run before or while preparing the guests: a
//! missing tool, an unreadable kernel or payload, an invalid job. What happens
//! inside one guest (no boot, panic, timeout) is not an error but a
//! [`KernelRun::failure`](super::KernelRun::failure).

use std::io;
use std::path::PathBuf;

use crate::kernel::Arch;

/// Why a VM matrix run could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// A host tool is missing; `package` is the Debian package that ships it.
    #[error("{tool} not found ({looked}): install it with `apt-get install {package}`")]
    MissingTool {
        tool: &'static str,
        looked: String,
        package: &'static str,
    },
    /// A kernel of another architecture is in the list, but what its guest
    /// needs (`what`: the scxpack binary, busybox) was not given.
    #[error("{kernel} is an {arch} kernel, but no {arch} {what} was given: {hint}")]
    MissingGuest {
        arch: Arch,
        what: &'static str,
        kernel: PathBuf,
        hint: &'static str,
    },
    /// A dynamically linked guest binary of another architecture, with no
    /// root file system to take its libraries from.
    #[error(
        "{binary} is dynamically linked (loader {interpreter}): give the {arch} root file system its libraries come from (VmConfig::arm64.sysroot, `vmtest --arm64-sysroot DIR`); packaging/cross-arm64.sh keeps one at /var/cache/scxpack-ci/cross-arm64/sysroot"
    )]
    NoSysroot {
        arch: Arch,
        binary: PathBuf,
        interpreter: String,
    },
    /// No kernel was given, or a directory held no `vmlinuz`.
    #[error("no kernel image to boot: {0}")]
    NoKernels(String),
    /// A kernel path does not exist or cannot be read.
    #[error("kernel image {path}: {source}")]
    Kernel { path: PathBuf, source: io::Error },
    /// A directory of kernels could not be searched.
    #[error(transparent)]
    Source(#[from] crate::kernel::SourceError),
    /// A payload file cannot be read or clashes with another one under `/pkg/`.
    #[error("payload {path}: {reason}")]
    Payload { path: PathBuf, reason: String },
    /// The binary to copy into the guest (or one of its libraries) cannot be used.
    #[error("guest binary {path}: {reason}")]
    GuestBinary { path: PathBuf, reason: String },
    /// A job definition is unusable.
    #[error("guest job `{id}`: {reason}")]
    Job { id: String, reason: String },
    /// The configuration is inconsistent.
    #[error("invalid VM configuration: {0}")]
    Config(String),
    /// An initramfs member could not be added.
    #[error("initramfs member {path}: {reason}")]
    Initramfs { path: String, reason: String },
    /// Host file-system I/O failed (work directory, initramfs, log files).
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl VmError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
