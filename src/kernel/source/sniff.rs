//! Content sniffing: which kind of kernel source some bytes are, from their
//! first bytes only. Whether a file on disk really is one (an ELF with
//! `.BTF`, a `.deb` listing a kernel) is [`super::sniff_file`]'s job, which
//! reads a little more with the help of the format readers.

use serde::{Deserialize, Serialize};

use super::BTF_MAGIC_LE;

/// A kernel source container format, as told by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// x86 bzImage: `"HdrS"` at 0x202.
    BzImage,
    /// ELF: `7f 45 4c 46` at 0.
    Elf,
    /// Raw BTF: `9f eb` at 0.
    RawBtf,
    /// Debian package: `"!<arch>\n"` whose first member is `debian-binary`.
    Deb,
    /// arm64 kernel: an `Image` (`"ARM\x64"` at 0x38), gzip-compressed or
    /// not, or an EFI zboot image for arm64 (`"zimg"` at 4).
    Arm64,
}

impl Format {
    /// The architecture a bootable image of this format is for: a bzImage is
    /// `x86_64`, an arm64 `Image`/zboot is arm64; other formats say nothing.
    #[must_use]
    pub fn arch(self) -> Option<crate::kernel::Arch> {
        match self {
            Self::BzImage => Some(crate::kernel::Arch::X86_64),
            Self::Arm64 => Some(crate::kernel::Arch::Arm64),
            Self::Elf | Self::RawBtf | Self::Deb => None,
        }
    }
}

/// Tells the format of `bytes` from its first bytes; `None` if it is none.
#[must_use]
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.get(0x202..0x206) == Some(b"HdrS".as_slice()) {
        Some(Format::BzImage)
    } else if bytes.starts_with(b"\x7fELF") {
        Some(Format::Elf)
    } else if bytes.starts_with(&BTF_MAGIC_LE) {
        Some(Format::RawBtf)
    } else if is_deb(bytes) {
        Some(Format::Deb)
    } else if super::arm64::is_arm64_kernel(bytes) {
        Some(Format::Arm64)
    } else {
        None
    }
}

/// The `ar` archive magic a `.deb` starts with.
pub(super) const AR_MAGIC: &[u8] = b"!<arch>\n";

/// A `.deb`: `!<arch>\n` whose first member is `debian-binary`.
pub(super) fn is_deb(bytes: &[u8]) -> bool {
    bytes.starts_with(AR_MAGIC)
        && bytes
            .get(AR_MAGIC.len()..AR_MAGIC.len() + 16)
            .is_some_and(|name| name.starts_with(b"debian-binary"))
}
