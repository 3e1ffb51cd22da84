//! Preflight: may we load, does this kernel run sched_ext, is it free?

use crate::exit_status::ExitStatus;
use crate::live::SchedExtSysfs;

/// `CAP_SYS_ADMIN`: needed to register struct_ops.
const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_BPF`: needed to load BPF programs.
const CAP_BPF: u32 = 39;

/// A reason not to try loading at all.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "loading a sched_ext scheduler needs root, or CAP_BPF and CAP_SYS_ADMIN \
         (this process has uid {uid}, missing {missing}); run it with sudo or from a systemd unit"
    )]
    Permission { uid: u32, missing: String },
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
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            PreflightError::Permission { .. } => ExitStatus::Permission,
            PreflightError::NoSchedExt { .. } => ExitStatus::NoSchedExt,
            PreflightError::Busy { .. } => ExitStatus::Busy,
        }
    }
}

/// Fails unless the process may load struct_ops programs.
pub fn privileges() -> Result<(), PreflightError> {
    let caps = crate::live::effective_caps();
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

/// Fails unless the running kernel (whether its BTF has sched_ext, and
/// sched_ext's sysfs state) can take a new scheduler.
pub(super) fn kernel_ready(
    release: Option<&str>,
    sched_ext: bool,
    sysfs: Option<&SchedExtSysfs>,
) -> Result<(), PreflightError> {
    let release = release.unwrap_or("?").to_string();
    let (true, Some(sysfs)) = (sched_ext, sysfs) else {
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
    Ok(())
}
