//! Kernel sources → raw BTF bytes plus the kernel release string.
//!
//! A packaging pipeline has kernels in many shapes: a raw BTF file (what
//! `/sys/kernel/btf/vmlinux` holds), an ELF `vmlinux`, a compressed bzImage
//! (`vmlinuz`, zstd/xz/gzip/lz4 payload) or a kernel `.deb`. This module tells
//! them apart by CONTENT (never by file name), extracts the `.BTF` bytes and the
//! release string, and hands them to the BTF parser, which validates them.
//!
//! Assumptions: the input may be hostile or truncated. Every offset is bounds
//! checked, every size is checked arithmetic, decompression is capped
//! ([`max_decompressed`]) and nothing panics. The only I/O is reading the
//! given files (and the BTF cache, [`BtfCache`]); parsing itself is pure.

mod arm64;
mod bzimage;
mod cache;
mod deb;
mod decompress;
mod elf;
mod error;
mod find;
mod sniff;
mod stream;

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use cache::{
    BtfCache, CacheOutcome, DEFAULT_MAX_BYTES, NO_CACHE_ENV, Pruned, cache_choice,
    default_cache_dir, read_kernel_cached, read_kernel_cached_with_outcome,
};
pub use error::SourceError;
pub use find::sniff_file;
pub use find::{ALL_FORMATS, expand, find_kernels, find_kernels_of};
pub use sniff::{Format, sniff};

/// Largest decompressed output accepted from any payload or archive member
/// (1 GiB); a real vmlinux is 50–70 MB, so anything above is corrupt or hostile.
/// [`MAX_DECOMPRESSED_ENV`] overrides it (`docs/limits.md`).
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Environment variable that sets the decompression limit: bytes, or a
/// number with a `K`, `M` or `G` suffix (KiB, MiB, GiB).
pub const MAX_DECOMPRESSED_ENV: &str = "SCXPACK_MAX_DECOMPRESSED";

/// Largest value [`MAX_DECOMPRESSED_ENV`] may set (16 GiB).
pub const MAX_DECOMPRESSED_CEILING: u64 = 16 << 30;

/// The decompression limit in force: [`MAX_DECOMPRESSED_ENV`] when set,
/// else [`MAX_DECOMPRESSED`]. A malformed or out-of-range value is an error.
pub fn max_decompressed() -> Result<u64, SourceError> {
    match std::env::var(MAX_DECOMPRESSED_ENV) {
        Ok(value) => parse_limit(&value).map_err(|reason| SourceError::BadLimit { value, reason }),
        Err(std::env::VarError::NotPresent) => Ok(MAX_DECOMPRESSED),
        Err(std::env::VarError::NotUnicode(raw)) => Err(SourceError::BadLimit {
            value: raw.to_string_lossy().into_owned(),
            reason: "not text".to_string(),
        }),
    }
}

/// `4096`, `64K`, `512M`, `2G` → bytes, within 1..=[`MAX_DECOMPRESSED_CEILING`].
fn parse_limit(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift): (&str, u32) = match text.as_bytes().last() {
        Some(b'K' | b'k') => (&text[..text.len() - 1], 10),
        Some(b'M' | b'm') => (&text[..text.len() - 1], 20),
        Some(b'G' | b'g') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let usage = "expected bytes, or a number with a K, M or G suffix (e.g. 2G)";
    let n: u64 = digits.parse().map_err(|_| usage.to_string())?;
    let bytes = n
        .checked_shl(shift)
        .filter(|b| b >> shift == n)
        .unwrap_or(u64::MAX);
    if bytes == 0 || bytes > MAX_DECOMPRESSED_CEILING {
        return Err(format!(
            "must be between 1 byte and {MAX_DECOMPRESSED_CEILING} bytes (16G)"
        ));
    }
    Ok(bytes)
}

/// Largest input file read (2 GiB): the biggest kernel sources, `-dbg`
/// packages and debug vmlinux files, stay well below.
pub const MAX_INPUT: u64 = 2 << 30;

/// The BTF magic `0xeb9f` as stored little-endian at offset 0.
pub const BTF_MAGIC_LE: [u8; 2] = [0x9f, 0xeb];

/// How a bzImage payload (the compressed vmlinux) is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// `CONFIG_KERNEL_ZSTD`: magic `28 b5 2f fd`.
    Zstd,
    /// `CONFIG_KERNEL_XZ`: magic `fd 37 7a 58 5a 00`.
    Xz,
    /// `CONFIG_KERNEL_GZIP`: magic `1f 8b`.
    Gzip,
    /// `CONFIG_KERNEL_LZ4`: the LZ4 *legacy* frame, magic `02 21 4c 18`.
    Lz4Legacy,
    /// `CONFIG_KERNEL_UNCOMPRESSED`: the payload is the ELF itself.
    None,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Zstd => "zstd",
            Self::Xz => "xz",
            Self::Gzip => "gzip",
            Self::Lz4Legacy => "lz4 (legacy frame)",
            Self::None => "uncompressed",
        })
    }
}

/// What a kernel source turned out to be, detected from its content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SourceKind {
    /// Raw BTF, as in `/sys/kernel/btf/vmlinux`.
    RawBtf,
    /// An ELF `vmlinux` with a `.BTF` section.
    ElfVmlinux,
    /// An x86 bzImage (`vmlinuz`) with a compressed payload.
    BzImage { compression: Compression },
    /// An arm64 `Image`, as is (`compression` none, Debian's `vmlinuz`) or
    /// gzip-compressed (`Image.gz`).
    Arm64Image { compression: Compression },
    /// An EFI zboot image (arm64) with a compressed `Image` payload.
    EfiZboot { compression: Compression },
    /// A Debian package holding a kernel at `member` (path inside `data.tar`).
    Deb {
        member: String,
        inner: Box<SourceKind>,
    },
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RawBtf => f.write_str("raw BTF"),
            Self::ElfVmlinux => f.write_str("ELF vmlinux"),
            Self::BzImage { compression } => write!(f, "bzImage ({compression} payload)"),
            Self::Arm64Image {
                compression: Compression::None,
            } => f.write_str("arm64 Image"),
            Self::Arm64Image { compression } => write!(f, "arm64 Image ({compression})"),
            Self::EfiZboot { compression } => write!(f, "arm64 EFI zboot ({compression} payload)"),
            Self::Deb { member, inner } => write!(f, ".deb with {member}: {inner}"),
        }
    }
}

impl SourceKind {
    /// The architecture the container format implies: a bzImage is x86_64,
    /// an arm64 `Image` or zboot is arm64; an ELF or raw BTF says nothing here.
    #[must_use]
    pub fn arch(&self) -> Option<crate::kernel::Arch> {
        use crate::kernel::Arch;
        match self {
            Self::BzImage { .. } => Some(Arch::X86_64),
            Self::Arm64Image { .. } | Self::EfiZboot { .. } => Some(Arch::Arm64),
            Self::Deb { inner, .. } => inner.arch(),
            Self::RawBtf | Self::ElfVmlinux => None,
        }
    }
}

/// A kernel source reduced to what scxpack needs from it.
#[derive(Clone, PartialEq, Eq)]
pub struct KernelBtf {
    /// The file it came from (as given by the caller).
    pub path: PathBuf,
    /// What the file turned out to be.
    pub kind: SourceKind,
    /// Kernel release (`uname -r`), e.g. `6.16.3+deb13-amd64`, when the source
    /// carries one (bzImage header, or the `linux_banner` of an ELF vmlinux).
    pub release: Option<String>,
    /// The raw BTF bytes (not validated beyond the magic).
    pub btf: Vec<u8>,
}

impl fmt::Debug for KernelBtf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelBtf")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("release", &self.release)
            .field("btf_len", &self.btf.len())
            .finish_non_exhaustive()
    }
}

/// The bootable kernel image inside a kernel `.deb` at `path`: its member
/// path in the package and its bytes. Errors as [`read_kernel_file`] does.
pub fn deb_kernel_image(path: &Path) -> Result<(String, Vec<u8>), SourceError> {
    let bytes = read_input(path)?;
    if !sniff::is_deb(&bytes) {
        return Err(SourceError::UnknownFormat {
            path: path.to_path_buf(),
            magic: error::prefix(&bytes, 8),
            len: bytes.len() as u64,
        });
    }
    deb::kernel_image(
        path,
        &bytes,
        Limits {
            max_output: max_decompressed()?,
        },
    )
}

/// Reads one kernel source file and extracts its BTF and release.
/// A bzImage with a large zstd, xz or gzip payload is streamed from the
/// file (its header, then the payload up to the end of `.BTF`), and an ELF
/// vmlinux (or a bzImage's uncompressed ELF payload) is read in place (its
/// headers, `.BTF` and the start of `.rodata`), so neither the file nor the
/// vmlinux is held in memory.
pub fn read_kernel_file(path: &Path) -> Result<KernelBtf, SourceError> {
    let limits = Limits {
        max_output: max_decompressed()?,
    };
    if let Some(image) = bzimage::read_streamed(path, limits)? {
        return Ok(image);
    }
    if let Some(image) = read_elf_in_place(path)? {
        return Ok(image);
    }
    let bytes = read_input(path)?;
    read_kernel_bytes(path, &bytes)
}

/// An ELF file read with [`elf::read_in_place`]; `None` when the file is
/// not an ELF regular file within [`MAX_INPUT`] (the caller reads it whole).
fn read_elf_in_place(path: &Path) -> Result<Option<KernelBtf>, SourceError> {
    let io_err = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let metadata = file.metadata().map_err(io_err)?;
    if !metadata.is_file() || metadata.len() > MAX_INPUT {
        return Ok(None);
    }
    let mut magic = Vec::with_capacity(4);
    (&mut file)
        .take(4)
        .read_to_end(&mut magic)
        .map_err(io_err)?;
    if sniff(&magic) != Some(Format::Elf) {
        return Ok(None);
    }
    let (btf, release) = elf::read_in_place(path, file, 0, metadata.len())?;
    Ok(Some(KernelBtf {
        path: path.to_path_buf(),
        kind: SourceKind::ElfVmlinux,
        release,
        btf,
    }))
}

/// Reads a whole input file, refusing more than [`MAX_INPUT`] bytes (so a
/// device like `/dev/zero` or an endless pipe cannot exhaust memory).
fn read_input(path: &Path) -> Result<Vec<u8>, SourceError> {
    let io_err = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let metadata = file.metadata().map_err(io_err)?;
    if is_device(&metadata) {
        return Err(SourceError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let size = metadata.len();
    let too_large = || SourceError::InputTooLarge {
        path: path.to_path_buf(),
        limit: MAX_INPUT,
    };
    if size > MAX_INPUT {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(MAX_INPUT + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Extracts BTF and release from a kernel source already in memory;
/// `path_for_messages` names it in errors and in the result. The
/// decompression limit is [`max_decompressed`].
pub fn read_kernel_bytes(path_for_messages: &Path, bytes: &[u8]) -> Result<KernelBtf, SourceError> {
    read_kernel_bytes_with_limit(path_for_messages, bytes, max_decompressed()?)
}

/// [`read_kernel_bytes`] with a custom cap on decompressed sizes.
pub fn read_kernel_bytes_with_limit(
    path_for_messages: &Path,
    bytes: &[u8],
    max_output: u64,
) -> Result<KernelBtf, SourceError> {
    let limits = Limits { max_output };
    let (kind, release, btf) = extract(path_for_messages, bytes, limits, true)?;
    Ok(KernelBtf {
        path: path_for_messages.to_path_buf(),
        kind,
        release,
        btf,
    })
}

/// Character and block devices (`/dev/zero`, a disk) are never kernel sources.
#[cfg(unix)]
fn is_device(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    let file_type = metadata.file_type();
    file_type.is_char_device() || file_type.is_block_device()
}

#[cfg(not(unix))]
fn is_device(_: &std::fs::Metadata) -> bool {
    false
}

/// Caps applied while reading one source.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_output: u64,
}

/// What [`extract`] yields: the kind, the release and the BTF bytes.
type Extracted = (SourceKind, Option<String>, Vec<u8>);

/// Dispatches on the sniffed format; `allow_deb` is false inside a `.deb`.
fn extract(
    path: &Path,
    bytes: &[u8],
    limits: Limits,
    allow_deb: bool,
) -> Result<Extracted, SourceError> {
    match sniff(bytes) {
        Some(Format::BzImage) => bzimage::extract(path, bytes, limits),
        Some(Format::Elf) => {
            let btf = elf::btf_section(path, bytes)?.to_vec();
            Ok((SourceKind::ElfVmlinux, elf::banner_release(bytes), btf))
        }
        Some(Format::RawBtf) => Ok((SourceKind::RawBtf, None, raw_btf(path, bytes)?)),
        Some(Format::Arm64) => arm64::extract(path, bytes, limits),
        Some(Format::Deb) if allow_deb => deb::extract(path, bytes, limits),
        Some(Format::Deb) => Err(SourceError::NestedDeb {
            path: path.to_path_buf(),
        }),
        None if bytes.is_empty() => Err(SourceError::Empty {
            path: path.to_path_buf(),
        }),
        None => Err(SourceError::UnknownFormat {
            path: path.to_path_buf(),
            magic: error::prefix(bytes, 8),
            len: bytes.len() as u64,
        }),
    }
}

/// Raw BTF: checks the version byte and returns the bytes unchanged.
fn raw_btf(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, SourceError> {
    match bytes.get(2) {
        Some(1) => Ok(bytes.to_vec()),
        version => Err(SourceError::BtfVersion {
            path: path.to_path_buf(),
            version: version.copied(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_limit;

    #[test]
    fn decompression_limit_values() {
        assert_eq!(parse_limit("4096"), Ok(4096));
        assert_eq!(parse_limit("64K"), Ok(64 << 10));
        assert_eq!(parse_limit(" 512m "), Ok(512 << 20));
        assert_eq!(parse_limit("2G"), Ok(2 << 30));
        for bad in ["", "0", "-1", "1T", "lots", "17G", "99999999999999999999G"] {
            assert!(parse_limit(bad).is_err(), "{bad:?} accepted");
        }
    }
}
