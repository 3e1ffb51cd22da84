//! The kernel-matrix VM harness behind `scxpack vmtest`: boot each kernel
//! image under QEMU with a generated initramfs, run guest jobs (the loader)
//! inside, and report what happened per kernel and per job.
//!
//! Flow of [`run_matrix`]: expand the kernel paths ([`expand_kernels`]), find
//! the host tools (QEMU from `qemu-system-x86`, busybox from `busybox-static`,
//! `ldd` from `libc-bin`), build one initramfs for all kernels
//! ([`initramfs`]: busybox, the guest binary with its shared libraries,
//! payloads under `/pkg/`, the `/init` of [`guest`]), then boot up to
//! [`VmConfig::jobs`] guests at a time ([`qemu`]) and parse each serial console
//! ([`report`]) into a [`KernelRun`].
//!
//! A guest that does not boot, panics, or hangs is never an error of the run:
//! it is a [`KernelRun`] with `failure` set (QEMU's error text, the panic
//! line, or the timeout with the last console lines). [`VmError`] is kept for
//! host-side problems that stop everything (missing tool, unreadable input).
//! Each kernel's architecture is read from its image ([`Format::arch`]):
//! `x86_64` kernels boot under `qemu-system-x86_64` with the host's busybox
//! and guest binary; arm64 kernels under `qemu-system-aarch64 -M virt`
//! (TCG) with the arm64 busybox, binary and library root of
//! [`VmConfig::arm64`] ([`sysroot`]). One initramfs is built per
//! architecture present, so a mixed list boots in one run.
//! Assumes an `x86_64` Linux host with glibc.
//!
//! [`Format::arch`]: crate::kernel::source::Format::arch

pub mod cpio;
mod error;
pub mod guest;
pub mod initramfs;
mod matrix;
pub mod qemu;
pub mod report;
pub mod sysroot;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::VmError;
pub use guest::{GuestJob, InitOptions};
pub use initramfs::InitramfsCompression;
pub use matrix::{expand_kernels, run_matrix};
pub use report::JobResult;

/// Which QEMU accelerator to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM if `/dev/kvm` is usable and the guest reaches `/init` under it,
    /// otherwise TCG.
    #[default]
    Auto,
    /// Hardware virtualization only.
    Kvm,
    /// Software emulation (`-cpu max`): slower, works everywhere.
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Kvm => "kvm",
            Self::Tcg => "tcg",
        })
    }
}

impl FromStr for Accel {
    type Err = VmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "kvm" => Ok(Self::Kvm),
            "tcg" => Ok(Self::Tcg),
            other => Err(VmError::Config(format!(
                "unknown accelerator `{other}`: use auto, kvm or tcg"
            ))),
        }
    }
}

/// Which host binary goes to `/bin/scxpack` in the guest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GuestBinary {
    /// The running executable (`std::env::current_exe()`).
    #[default]
    CurrentExe,
    /// Another binary.
    Path(PathBuf),
    /// None: jobs use busybox only.
    None,
}

/// What arm64 guests need from an `x86_64` host: the arm64 builds of the
/// guest binary and busybox, and the root file system the binary's shared
/// libraries come from (`packaging/cross-arm64.sh` makes all three).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForeignGuest {
    /// The QEMU binary (default: `qemu-system-aarch64` from `PATH`).
    pub qemu: Option<PathBuf>,
    /// An arm64 busybox (static: Debian's `busybox-static:arm64`).
    pub busybox: Option<PathBuf>,
    /// The arm64 binary placed at `/bin/scxpack` (unless
    /// [`VmConfig::guest_binary`] is [`GuestBinary::None`]).
    pub binary: Option<PathBuf>,
    /// The arm64 root file system the binary's libraries are taken from
    /// (not needed for a static binary).
    pub sysroot: Option<PathBuf>,
}

/// How to boot the guests.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// The accelerator (default: auto).
    pub accel: Accel,
    /// Kill a guest after this long in any case (default: 120 s).
    pub timeout: Duration,
    /// Kill a guest that has not reached `/init` by then (default: 120 s,
    /// i.e. no earlier than `timeout`: a kernel that fails early panics and
    /// exits at once, and on a starved host a TCG boot can take a minute).
    pub boot_timeout: Duration,
    /// Guests booted in parallel (default: 1; 0 is taken as 1).
    pub jobs: usize,
    /// Guest memory in MiB (default: 1024).
    pub memory_mb: u32,
    /// Guest CPUs (default: 2).
    pub cpus: u32,
    /// The QEMU binary (default: `qemu-system-x86_64` from `PATH`).
    pub qemu: Option<PathBuf>,
    /// The busybox binary (default: `/bin/busybox`, then `PATH`).
    pub busybox: Option<PathBuf>,
    /// The binary placed at `/bin/scxpack`.
    pub guest_binary: GuestBinary,
    /// Copy the guest binary without debug info (`objcopy --strip-debug`;
    /// default: true). Without binutils the binary goes in as it is, with a note.
    pub strip_debug: bool,
    /// Extra kernel command-line words.
    pub append: Vec<String>,
    /// Host files copied into the guest at the given paths: (guest path, host path).
    pub files: Vec<(String, PathBuf)>,
    /// Write each guest's raw console to `<log_dir>/<NN>-<kernel>-<accel>.log`.
    pub log_dir: Option<PathBuf>,
    /// Switches of the generated `/init` (workload, poweroff).
    pub init: InitOptions,
    /// Initramfs compression (default: gzip).
    pub compression: InitramfsCompression,
    /// Where boots are reported as they start and end (default: nowhere).
    pub progress: crate::progress::Progress,
    /// What arm64 kernels are booted with ([`Self::qemu`], [`Self::busybox`]
    /// and [`Self::guest_binary`] are for `x86_64` kernels).
    pub arm64: ForeignGuest,
}

impl Default for VmConfig {
    fn default() -> Self {
        Self {
            accel: Accel::Auto,
            timeout: Duration::from_secs(120),
            boot_timeout: Duration::from_secs(120),
            jobs: 1,
            memory_mb: 1024,
            cpus: 2,
            qemu: None,
            busybox: None,
            guest_binary: GuestBinary::CurrentExe,
            strip_debug: true,
            append: Vec::new(),
            files: Vec::new(),
            log_dir: None,
            init: InitOptions::default(),
            compression: InitramfsCompression::Gzip,
            progress: crate::progress::Progress::default(),
            arm64: ForeignGuest::default(),
        }
    }
}

/// The outcome of booting one kernel and running every job in it.
#[derive(Debug, Clone, Serialize)]
pub struct KernelRun {
    /// The kernel image booted.
    pub kernel: PathBuf,
    /// The accelerator the reported run used.
    pub accel: Accel,
    /// `uname -r` in the guest.
    pub release: Option<String>,
    /// `/sys/kernel/sched_ext/state` before the jobs; `None` if the kernel has
    /// no `sched_ext` (or did not boot: see `booted`).
    pub sched_ext: Option<String>,
    /// The guest reached `/init`.
    pub booted: bool,
    /// Seconds from QEMU start to the boot marker (the reported attempt).
    pub boot_secs: Option<f64>,
    /// Seconds for this kernel in all, KVM attempt included.
    pub total_secs: f64,
    /// One result per job, in request order.
    pub jobs: Vec<JobResult>,
    /// `dmesg` lines mentioning `sched_ext`, after the jobs.
    pub sched_ext_log: Vec<String>,
    /// Why the guest did not complete every job, if it did not.
    pub failure: Option<String>,
    /// Remarks that are not failures (KVM fallback, QEMU warnings).
    pub notes: Vec<String>,
    /// The raw console log, when [`VmConfig::log_dir`] is set.
    pub console_log: Option<PathBuf>,
    /// The console lines (control sequences removed).
    #[serde(skip)]
    pub console: Vec<String>,
}

impl KernelRun {
    /// The guest completed and every job exited 0.
    #[must_use]
    pub fn all_jobs_succeeded(&self) -> bool {
        self.failure.is_none() && self.jobs.iter().all(JobResult::succeeded)
    }

    /// The result of job `id`.
    #[must_use]
    pub fn job(&self, id: &str) -> Option<&JobResult> {
        self.jobs.iter().find(|j| j.id == id)
    }
}
