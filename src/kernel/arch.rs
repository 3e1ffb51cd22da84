//! The CPU architecture a kernel is built for, as far as scxpack tells them
//! apart: from the image format (a bzImage is x86_64, an arm64 `Image` or
//! zboot is arm64) and from the BTF (arm64 has `struct user_pt_regs`; x86_64's
//! `struct pt_regs` has `r15`). [`Arch::cross_check`] makes them agree.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::btf::{Btf, Type};

/// A kernel's architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Arch {
    /// `x86_64` or `arm64`, as `uname -m` (x86) and Debian (arm64) name them.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }

    /// The architecture both sources name: the image format's (`image`) and
    /// the BTF's (`btf`). Either may be unknown (raw BTF has no format; an
    /// unknown architecture's BTF has neither marker); when both are known
    /// they must be equal, else `Err((image, btf))`.
    pub fn cross_check(
        image: Option<Arch>,
        btf: Option<Arch>,
    ) -> Result<Option<Arch>, (Arch, Arch)> {
        match (image, btf) {
            (Some(i), Some(b)) if i != b => Err((i, b)),
            (i, b) => Ok(b.or(i)),
        }
    }
}

/// Whose register layout a `struct pt_regs` has: x86_64's starts with
/// `r15`, arm64's has `orig_x0` after its `user_pt_regs` union.
pub(crate) fn pt_regs_layout(btf: &Btf<'_>, pt_regs: &Type<'_>) -> Option<Arch> {
    pt_regs
        .members()
        .find_map(|m| match btf.str_at(m.name_off) {
            "r15" => Some(Arch::X86_64),
            "orig_x0" => Some(Arch::Arm64),
            _ => None,
        })
}

/// What the BTF shows of the architecture, gathered during the facts scan.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ArchMarkers {
    /// `struct user_pt_regs` exists (arm64's uapi register set).
    pub user_pt_regs: bool,
    /// `struct pt_regs` has x86_64's layout ([`pt_regs_layout`]).
    pub x86_pt_regs: bool,
}

impl ArchMarkers {
    /// The architecture the markers name; `None` when none or both are present.
    pub fn arch(self) -> Option<Arch> {
        match (self.user_pt_regs, self.x86_pt_regs) {
            (true, false) => Some(Arch::Arm64),
            (false, true) => Some(Arch::X86_64),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_check_prefers_agreement_and_refuses_conflict() {
        let (x, a) = (Some(Arch::X86_64), Some(Arch::Arm64));
        assert_eq!(Arch::cross_check(a, a), Ok(a));
        assert_eq!(Arch::cross_check(None, x), Ok(x));
        assert_eq!(Arch::cross_check(a, None), Ok(a));
        assert_eq!(Arch::cross_check(None, None), Ok(None));
        assert_eq!(Arch::cross_check(x, a), Err((Arch::X86_64, Arch::Arm64)));
        let both = ArchMarkers {
            user_pt_regs: true,
            x86_pt_regs: true,
        };
        assert_eq!(both.arch(), None);
        assert_eq!(ArchMarkers::default().arch(), None);
    }
}
