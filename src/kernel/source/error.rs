//! Why a kernel source could not be read: one line each, naming the file,
//! the evidence (offsets, magic bytes, sizes) and, where useful, what to do.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::{Compression, MAX_DECOMPRESSED_ENV};

/// Everything that can go wrong turning a kernel source into BTF.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: is a device, not a file; pass a vmlinuz, vmlinux, raw BTF or kernel .deb", path.display())]
    NotAFile { path: PathBuf },

    #[error(
        "{}: more than {limit} bytes, far larger than any kernel source; pass a vmlinuz, vmlinux, raw BTF or kernel .deb",
        path.display()
    )]
    InputTooLarge { path: PathBuf, limit: u64 },

    #[error(
        "{}: file is empty; expected a bzImage or arm64 Image (vmlinuz), an ELF vmlinux, raw BTF or a kernel .deb",
        path.display()
    )]
    Empty { path: PathBuf },

    #[error(
        "{}: not a kernel source ({len} bytes starting {}): expected a bzImage (\"HdrS\" at 0x202), an arm64 Image (\"ARM\\x64\" at 0x38: plain, gzip or EFI zboot), an ELF vmlinux (7f 45 4c 46), raw BTF (9f eb) or a kernel .deb (\"!<arch>\")",
        path.display(), hex(magic)
    )]
    UnknownFormat {
        path: PathBuf,
        magic: Vec<u8>,
        len: u64,
    },

    #[error("{}: {what} needs {needed} bytes but only {len} are there; the file is truncated", path.display())]
    Truncated {
        path: PathBuf,
        what: &'static str,
        needed: u64,
        len: u64,
    },

    #[error(
        "{}: bzImage boot protocol {}.{:02} has no payload fields (they appeared in 2.08); cannot locate the compressed kernel",
        path.display(), version >> 8, version & 0xff
    )]
    OldBootProtocol { path: PathBuf, version: u16 },

    #[error(
        "{}: bzImage payload (offset {offset}, {length} bytes) ends past the end of the file ({file_len} bytes): the image is truncated or corrupt; copy it again",
        path.display()
    )]
    PayloadOutOfBounds {
        path: PathBuf,
        offset: u64,
        length: u64,
        file_len: u64,
    },

    #[error(
        "{}: payload at offset {offset} starts with {}, no known kernel compression (zstd 28 b5 2f fd, xz fd 37 7a 58 5a 00, gzip 1f 8b, lz4 legacy 02 21 4c 18, or an uncompressed ELF)",
        path.display(), hex(magic)
    )]
    UnknownCompression {
        path: PathBuf,
        offset: u64,
        magic: Vec<u8>,
    },

    #[error(
        "{}: payload at offset {offset} is {name}-compressed, which scxpack cannot decompress; use a kernel built with zstd, xz, gzip or lz4",
        path.display()
    )]
    UnsupportedCompression {
        path: PathBuf,
        offset: u64,
        name: &'static str,
    },

    #[error("{}: {what} is corrupt after {produced} bytes of output: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        what: String,
        produced: u64,
        reason: String,
    },

    #[error(
        "{}: {what} declares {declared} bytes of output, above the {limit}-byte decompression limit: refusing to decompress (corrupt or hostile input; {MAX_DECOMPRESSED_ENV} raises the limit)",
        path.display()
    )]
    DeclaredTooLarge {
        path: PathBuf,
        what: String,
        declared: u64,
        limit: u64,
    },

    #[error(
        "{}: {what} decompresses to more than the {limit}-byte decompression limit: stopped (corrupt or hostile input; a real kernel stays far below, but {MAX_DECOMPRESSED_ENV} raises the limit)",
        path.display()
    )]
    OutputTooLarge {
        path: PathBuf,
        what: String,
        limit: u64,
    },

    #[error(
        "{}: out of memory decompressing {what}: {wanted} bytes refused after {produced} bytes of output (decompression limit {limit} bytes); free memory or lower {MAX_DECOMPRESSED_ENV}",
        path.display()
    )]
    OutOfMemory {
        path: PathBuf,
        what: String,
        produced: u64,
        wanted: u64,
        limit: u64,
    },

    #[error(
        "{}: .deb member {member} decompresses to more than {limit} bytes (4 times the decompression limit) without a kernel: stopped (corrupt or hostile input; {MAX_DECOMPRESSED_ENV} raises the limit)",
        path.display()
    )]
    DebStreamTooLarge {
        path: PathBuf,
        member: String,
        limit: u64,
    },

    #[error("{MAX_DECOMPRESSED_ENV}={value:?}: {reason}")]
    BadLimit { value: String, reason: String },

    #[error(
        "{}: the decompressed {compression} payload is not an ELF vmlinux (starts with {})",
        path.display(), hex(magic)
    )]
    PayloadNotElf {
        path: PathBuf,
        compression: Compression,
        magic: Vec<u8>,
    },

    #[error("{}: malformed ELF: {reason}", path.display())]
    Elf { path: PathBuf, reason: String },

    #[error(
        "{}: ELF has no .BTF section: the kernel was built without CONFIG_DEBUG_INFO_BTF=y; use a kernel with BTF",
        path.display()
    )]
    NoBtfSection { path: PathBuf },

    #[error(
        "{}: .BTF section at file offset {offset} ({size} bytes) does not start with the BTF magic 9f eb (found {})",
        path.display(), hex(found)
    )]
    BadBtfSection {
        path: PathBuf,
        offset: u64,
        size: u64,
        found: Vec<u8>,
    },

    #[error(
        "{}: no valid BTF in the arm64 kernel image ({candidates} header-sane candidates, none a whole BTF): the kernel was built without CONFIG_DEBUG_INFO_BTF=y or the image is corrupt; use a kernel with BTF",
        path.display()
    )]
    NoBtfInImage { path: PathBuf, candidates: u64 },

    #[error(
        "{}: EFI zboot payload (offset {offset}, {length} bytes with its size trailer) ends past the end of the file ({file_len} bytes): the image is truncated or corrupt; copy it again",
        path.display()
    )]
    ZbootPayloadOutOfBounds {
        path: PathBuf,
        offset: u64,
        length: u64,
        file_len: u64,
    },

    #[error(
        "{}: the EFI zboot payload ({comp_type}) does not decompress to an arm64 Image (found {} where \"ARM\\x64\" belongs at 0x38)",
        path.display(), hex(magic)
    )]
    ZbootNotArm64 {
        path: PathBuf,
        comp_type: String,
        magic: Vec<u8>,
    },

    #[error("{}: raw BTF has version {}, only version 1 exists", path.display(), fmt_opt(*version))]
    BtfVersion { path: PathBuf, version: Option<u8> },

    #[error("{}: malformed .deb (ar archive) at offset {offset}: {reason}", path.display())]
    Ar {
        path: PathBuf,
        offset: u64,
        reason: String,
    },

    #[error(
        "{}: .deb has no data.tar member (members: {}); is it really a Debian package?",
        path.display(), members.join(", ")
    )]
    DebNoData { path: PathBuf, members: Vec<String> },

    #[error("{}: .deb member {member}: {reason}", path.display())]
    DebMember {
        path: PathBuf,
        member: String,
        reason: String,
    },

    #[error(
        "{}: .deb holds no kernel (no vmlinuz* or ELF vmlinux* among {entries} entries; top level: {}): pass a linux-image-* or linux-binary-* package",
        path.display(), top_level.join(" ")
    )]
    DebNoKernel {
        path: PathBuf,
        entries: u64,
        top_level: Vec<String>,
    },

    #[error("{}: a .deb inside a .deb is not a kernel source", path.display())]
    NestedDeb { path: PathBuf },
}

/// Space-separated lowercase hex, e.g. `28 b5 2f fd`.
pub(super) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        let _ = write!(out, "{sep}{b:02x}");
    }
    if out.is_empty() {
        out.push_str("(nothing)");
    }
    out
}

/// `text` with control characters (newlines, NULs from hostile archives)
/// escaped, so every message stays on one line.
pub(super) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The first `n` bytes (or fewer) as evidence.
pub(super) fn prefix(bytes: &[u8], n: usize) -> Vec<u8> {
    bytes.get(..n).unwrap_or(bytes).to_vec()
}

fn fmt_opt(v: Option<u8>) -> String {
    v.map_or_else(|| "(missing)".to_owned(), |v| v.to_string())
}
