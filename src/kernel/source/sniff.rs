//! Content sniffing: which kind of kernel source some bytes are, from their
//! first bytes only ([`sniff`]), or whether a file on disk is a kernel source at
//! all, reading a few KiB of it ([`sniff_file`], used by `find_kernels`).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{BTF_MAGIC_LE, SourceError, deb, elf};

/// Bytes read from a file's start to sniff it: enough for the bzImage setup
/// header (0x1f1..0x268), an ELF header and the first `ar` member header.
const SNIFF_LEN: usize = 4096;

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
    } else if deb::is_deb(bytes) {
        Some(Format::Deb)
    } else {
        None
    }
}

/// Whether the file at `path` is a kernel source, reading only a little of it:
/// an ELF must be an executable (not a BPF object) with a `.BTF` section, raw
/// BTF must be version 1, and a `.deb` whose control `md5sums` lists no
/// `vmlinuz*`/`vmlinux*` file is not one (a `.deb` without `md5sums` is).
pub fn sniff_file(path: &Path) -> Result<Option<Format>, SourceError> {
    let io_err = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut file)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    let verdict = match sniff(&head) {
        Some(Format::Elf) => elf::file_is_vmlinux_with_btf(&file).then_some(Format::Elf),
        Some(Format::RawBtf) => (head.get(2) == Some(&1)).then_some(Format::RawBtf),
        Some(Format::Deb) => deb::file_may_hold_kernel(&mut file).then_some(Format::Deb),
        other => other,
    };
    Ok(verdict)
}
