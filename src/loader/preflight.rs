//! Preflight: may we load, does this kernel run sched_ext, is it free?

use crate::exit_status::ExitStatus;
use crate::live::System;

/// `CAP_SYS_ADMIN`: stands in for `CAP_PERFMON` (the kernel's
/// `perfmon_capable()` accepts either).
const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_PERFMON`: `bpf(BPF_PROG_LOAD)` refuses struct_ops programs without
/// it (or `CAP_SYS_ADMIN`) with EPERM.
const CAP_PERFMON: u32 = 38;
/// `CAP_BPF`: needed for every bpf(2) command the loader uses.
const CAP_BPF: u32 = 39;

/// A reason not to try loading at all.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "loading a sched_ext scheduler needs root, or CAP_BPF and CAP_PERFMON \
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

/// The capabilities missing from effective set `caps` for loading a
/// sched_ext scheduler: `CAP_BPF`, and `CAP_PERFMON` unless `CAP_SYS_ADMIN`
/// stands in for it. Tried under systemd on 6.12 and 7.2 kernels
/// (tests/vm/guest/checks/60-capabilities.sh): exactly these are needed.
fn missing_caps(caps: u64) -> Vec<&'static str> {
    let has = |bit: u32| caps & (1u64 << bit) != 0;
    let mut missing = Vec::new();
    if !has(CAP_BPF) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_PERFMON) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_PERFMON");
    }
    missing
}

/// Fails unless the process may load struct_ops programs.
pub fn privileges() -> Result<(), PreflightError> {
    let missing = missing_caps(crate::live::effective_caps());
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
    root: &System,
) -> Result<(), PreflightError> {
    let release = release.unwrap_or("?").to_string();
    let (true, Some(state)) = (sched_ext, root.sched_ext_state()) else {
        return Err(PreflightError::NoSchedExt { release });
    };
    if state != "disabled" {
        return Err(PreflightError::Busy {
            ops: root
                .sched_ext_root_ops()
                .unwrap_or_else(|| "unknown scheduler".into()),
            state,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(bits: &[u32]) -> u64 {
        bits.iter().fold(0, |acc, bit| acc | (1u64 << bit))
    }

    #[test]
    fn bpf_and_perfmon_are_enough() {
        assert!(missing_caps(caps(&[CAP_BPF, CAP_PERFMON])).is_empty());
    }

    #[test]
    fn sys_admin_stands_in_for_perfmon() {
        assert!(missing_caps(caps(&[CAP_BPF, CAP_SYS_ADMIN])).is_empty());
    }

    #[test]
    fn each_missing_capability_is_named() {
        assert_eq!(missing_caps(0), ["CAP_BPF", "CAP_PERFMON"]);
        assert_eq!(missing_caps(caps(&[CAP_PERFMON])), ["CAP_BPF"]);
        assert_eq!(missing_caps(caps(&[CAP_BPF])), ["CAP_PERFMON"]);
        assert_eq!(missing_caps(caps(&[CAP_SYS_ADMIN])), ["CAP_BPF"]);
    }

    /// The kernel is judged from sched_ext's state file alone, and the
    /// running scheduler's name is read only to explain a refusal.
    #[test]
    fn a_kernel_is_ready_when_sched_ext_is_disabled() {
        let dir = std::env::temp_dir().join(format!("scxpack-preflight-{}", std::process::id()));
        let scx = dir.join("sys/kernel/sched_ext");
        std::fs::create_dir_all(scx.join("root")).unwrap();
        let root = System::new(&dir);
        std::fs::write(scx.join("state"), "disabled\n").unwrap();
        assert!(kernel_ready(Some("7.2"), true, &root).is_ok());
        // The BTF says no sched_ext: sysfs does not overrule it.
        assert!(matches!(
            kernel_ready(Some("7.2"), false, &root),
            Err(PreflightError::NoSchedExt { release }) if release == "7.2"
        ));
        std::fs::write(scx.join("state"), "enabled\n").unwrap();
        std::fs::write(scx.join("root/ops"), "other_1\n").unwrap();
        assert!(matches!(
            kernel_ready(None, true, &root),
            Err(PreflightError::Busy { ops, state }) if ops == "other_1" && state == "enabled"
        ));
        std::fs::remove_dir_all(&scx).unwrap();
        assert!(matches!(
            kernel_ready(None, true, &root),
            Err(PreflightError::NoSchedExt { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
