//! The exit record `ops.exit` leaves in the object's `struct user_exit_info`
//! (kernel sample layout: `int kind; s64 exit_code; char reason[128]; char msg[1024]`).

use serde::{Deserialize, Serialize};

/// `SCX_ECODE_ACT_RESTART`: the scheduler asks to be loaded again.
pub const ACT_RESTART: i64 = 1 << 48;

/// Why the scheduler stopped, as it recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    pub kind: i32,
    pub kind_name: String,
    pub exit_code: i64,
    pub reason: String,
    pub msg: String,
}

impl ExitInfo {
    /// Decodes the record; `None` while `kind` is still 0 (nothing recorded).
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let kind = i32::from_ne_bytes(bytes.get(0..4)?.try_into().ok()?);
        if kind == 0 {
            return None;
        }
        let exit_code = i64::from_ne_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(ExitInfo {
            kind,
            kind_name: kind_name(kind).to_string(),
            exit_code,
            reason: crate::object::c_string(bytes.get(16..144)?),
            msg: crate::object::c_string(bytes.get(144..1168)?),
        })
    }

    /// Whether the exit code asks for a reload.
    #[must_use]
    pub fn wants_restart(&self) -> bool {
        self.exit_code & ACT_RESTART != 0
    }

    /// Errors (kind >= 1024) as opposed to orderly unregistration.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.kind >= 1024
    }
}

/// `enum scx_exit_kind` names.
fn kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "SCX_EXIT_DONE",
        64 => "SCX_EXIT_UNREG",
        65 => "SCX_EXIT_UNREG_BPF",
        66 => "SCX_EXIT_UNREG_KERN",
        67 => "SCX_EXIT_SYSRQ",
        68 => "SCX_EXIT_PARENT",
        1024 => "SCX_EXIT_ERROR",
        1025 => "SCX_EXIT_ERROR_BPF",
        1026 => "SCX_EXIT_ERROR_STALL",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_sample_layout() {
        let mut b = vec![0u8; 1168];
        b[0..4].copy_from_slice(&1025i32.to_ne_bytes());
        b[8..16].copy_from_slice(&(ACT_RESTART | 3).to_ne_bytes());
        b[16..20].copy_from_slice(b"oops");
        b[144..147].copy_from_slice(b"msg");
        let e = ExitInfo::decode(&b).unwrap();
        assert_eq!(e.kind_name, "SCX_EXIT_ERROR_BPF");
        assert!(e.wants_restart() && e.is_error());
        assert_eq!((e.reason.as_str(), e.msg.as_str()), ("oops", "msg"));
        assert!(ExitInfo::decode(&[0; 1168]).is_none());
        assert!(ExitInfo::decode(&[1, 0]).is_none());
    }
}
