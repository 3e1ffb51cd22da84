//! Preflight: may we load, does this kernel run sched_ext, is it free?

use crate::btf::Btf;
use crate::kernel::{KernelError, KernelFacts};
use crate::live::Root;
use crate::matching::Kconfig;

/// `CAP_SYS_ADMIN`: needed to register struct_ops.
const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_BPF`: needed to load BPF programs.
const CAP_BPF: u32 = 39;

/// Exit status: the kernel has no sched_ext.
pub const EXIT_NO_SCHED_EXT: u8 = 4;
/// Exit status: another scheduler is loaded.
pub const EXIT_BUSY: u8 = 6;
/// Exit status: not allowed to load BPF schedulers.
pub const EXIT_PERMISSION: u8 = 7;

/// A reason not to try loading at all.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "loading a sched_ext scheduler needs root, or CAP_BPF and CAP_SYS_ADMIN \
         (this process has uid {uid}, missing {missing}); run it with sudo or from a systemd unit"
    )]
    Permission { uid: u32, missing: String },
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(
        "kernel {release} has no sched_ext (no struct sched_ext_ops in its BTF, no /sys/kernel/sched_ext): \
         it must be built with CONFIG_SCHED_CLASS_EXT=y"
    )]
    NoSchedExt { release: String },
    #[error(
        "another sched_ext scheduler is active ({ops}, state {state}); stop it first \
         (e.g. systemctl stop scxpack@*.service) — the kernel would refuse with EBUSY"
    )]
    Busy { ops: String, state: String },
}

impl PreflightError {
    /// The documented exit status.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            PreflightError::Permission { .. } => EXIT_PERMISSION,
            PreflightError::NoSchedExt { .. } => EXIT_NO_SCHED_EXT,
            PreflightError::Busy { .. } => EXIT_BUSY,
            PreflightError::Kernel(_) => 1,
        }
    }
}

/// The running kernel as the loader needs it.
#[derive(Debug)]
pub(super) struct LiveTarget {
    pub facts: KernelFacts,
    pub btf: Vec<u8>,
    pub kconfig: Option<Kconfig>,
}

/// Effective capabilities from `/proc/self/status`.
fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Fails unless the process may load struct_ops programs.
pub(super) fn privileges() -> Result<(), PreflightError> {
    let caps = effective_caps();
    let missing: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_SYS_ADMIN, "CAP_SYS_ADMIN")]
        .into_iter()
        .filter(|(bit, _)| caps & (1u64 << bit) == 0)
        .map(|(_, name)| name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    Err(PreflightError::Permission {
        uid,
        missing: missing.join(" and "),
    })
}

/// Reads the running kernel and checks it can take a new scheduler.
pub(super) fn kernel(root: &Root) -> Result<LiveTarget, PreflightError> {
    let live = root.kernel().map_err(KernelError::from)?;
    let btf = Btf::parse(&live.btf).map_err(|source| KernelError::Btf {
        path: root.path(std::path::Path::new(crate::live::SYS_BTF)),
        source,
    })?;
    let facts = KernelFacts::from_btf(&btf, live.release.clone());
    drop(btf);
    let release = facts.release.clone().unwrap_or_else(|| "?".into());
    let (true, Some(sysfs)) = (facts.sched_ext, live.sched_ext) else {
        return Err(PreflightError::NoSchedExt { release });
    };
    let state = sysfs.state.clone().unwrap_or_default();
    if state != "disabled" {
        return Err(PreflightError::Busy {
            ops: sysfs
                .root_ops
                .clone()
                .unwrap_or_else(|| "unknown scheduler".into()),
            state,
        });
    }
    Ok(LiveTarget {
        kconfig: super::kconfig::read(root, facts.release.as_deref()),
        facts,
        btf: live.btf,
    })
}
