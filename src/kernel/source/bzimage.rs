//! x86 bzImage (`vmlinuz`): reads the boot protocol setup header
//! (`Documentation/arch/x86/boot.rst`) for the release string and the
//! compressed payload, and has `.BTF` taken from the payload (`decompress`).
//!
//! Assumes boot protocol ≥ 2.08 (kernels since 2.6.26), the first to record
//! `payload_offset`/`payload_length`.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use super::{
    Compression, Extracted, KernelBtf, Limits, SourceError, SourceKind, decompress, elf, stream,
};

/// `setup_sects`: number of 512-byte setup sectors after the boot sector.
const SETUP_SECTS: usize = 0x1f1;
/// Boot protocol version, e.g. 0x020f.
const VERSION: usize = 0x206;
/// Pointer to the kernel version string, minus 0x200.
const KERNEL_VERSION: usize = 0x20e;
/// Payload offset, relative to the start of the protected-mode code.
const PAYLOAD_OFFSET: usize = 0x248;
/// Payload length in bytes.
const PAYLOAD_LENGTH: usize = 0x24c;
/// The header must reach at least past `payload_length`.
const HEADER_END: usize = 0x250;
/// First protocol with payload fields.
const MIN_PROTOCOL: u16 = 0x0208;
/// Longest kernel version string considered.
const MAX_VERSION_STRING: usize = 256;

/// What the setup header says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SetupHeader {
    /// First word of the kernel version string (`uname -r`).
    release: Option<String>,
    /// Byte range of the compressed payload in the file, bounds-checked.
    payload: Range<usize>,
}

/// bzImage → (kind, release, BTF).
pub(super) fn extract(path: &Path, bytes: &[u8], limits: Limits) -> Result<Extracted, SourceError> {
    let header = parse_header(path, bytes)?;
    let payload = bytes.get(header.payload.clone()).unwrap_or_default();
    let offset = header.payload.start as u64;
    let compression = decompress::detect(path, payload, offset)?;
    let btf = decompress::payload_btf(path, compression, payload, limits.max_output)?;
    Ok((SourceKind::BzImage { compression }, header.release, btf))
}

/// Bytes read from the start of a file for the setup header and the
/// version string (its pointer is a `u16` past 0x200).
const PREFIX: usize = 0x1_0200 + MAX_VERSION_STRING;
/// Read buffer between the file and a streaming decoder.
const INPUT_BUFFER: usize = 256 << 10;

/// A bzImage file read without loading it: the header from its first
/// bytes, then the payload streamed from the file into a decoder that stops
/// after `.BTF`. `None` when the file is not a bzImage whose payload
/// [`decompress::streams_payload`] (the caller then reads it whole).
pub(super) fn read_streamed(path: &Path, limits: Limits) -> Result<Option<KernelBtf>, SourceError> {
    let io_err = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let metadata = file.metadata().map_err(io_err)?;
    if !metadata.is_file() || metadata.len() > super::MAX_INPUT {
        return Ok(None);
    }
    let mut prefix = Vec::with_capacity(PREFIX);
    (&mut file)
        .take(PREFIX as u64)
        .read_to_end(&mut prefix)
        .map_err(io_err)?;
    if super::sniff(&prefix) != Some(super::Format::BzImage) {
        return Ok(None);
    }
    let header = parse_header_of(path, &prefix, metadata.len())?;
    let (start, len) = (header.payload.start as u64, header.payload.len());
    let mut ends = [0u8; 16];
    let head_len = len.min(8);
    file.read_exact_at(&mut ends[..head_len], start)
        .map_err(io_err)?;
    let compression = decompress::detect(path, &ends[..head_len], start)?;
    if len < 4 {
        return Ok(None);
    }
    if compression == Compression::None {
        // The payload is the ELF itself: its headers and .BTF are read in place.
        let (btf, _) = elf::read_in_place(path, file, start, len as u64)?;
        return Ok(Some(KernelBtf {
            path: path.to_path_buf(),
            kind: SourceKind::BzImage { compression },
            release: header.release,
            btf,
        }));
    }
    file.read_exact_at(&mut ends[8..12], start + len as u64 - 4)
        .map_err(io_err)?;
    let declared = u64::from(u32::from_le_bytes([ends[8], ends[9], ends[10], ends[11]]));
    if !decompress::streams_payload(compression, declared, limits.max_output) {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(start)).map_err(io_err)?;
    let input = BufReader::with_capacity(INPUT_BUFFER, file.take(len as u64));
    let btf = stream::payload_btf(path, compression, input, declared, limits.max_output)?;
    Ok(Some(KernelBtf {
        path: path.to_path_buf(),
        kind: SourceKind::BzImage { compression },
        release: header.release,
        btf,
    }))
}

/// Parses and bounds-checks the setup header.
fn parse_header(path: &Path, bytes: &[u8]) -> Result<SetupHeader, SourceError> {
    parse_header_of(path, bytes, bytes.len() as u64)
}

/// [`parse_header`] from the first bytes of a file of `file_len` bytes.
fn parse_header_of(path: &Path, bytes: &[u8], file_len: u64) -> Result<SetupHeader, SourceError> {
    let field16 = |at| le_u16(bytes, at);
    let field32 = |at| le_u32(bytes, at);
    let (Some(version), Some(offset), Some(length)) = (
        field16(VERSION),
        field32(PAYLOAD_OFFSET),
        field32(PAYLOAD_LENGTH),
    ) else {
        return Err(SourceError::Truncated {
            path: path.to_path_buf(),
            what: "bzImage setup header",
            needed: HEADER_END as u64,
            len: file_len,
        });
    };
    if version < MIN_PROTOCOL {
        return Err(SourceError::OldBootProtocol {
            path: path.to_path_buf(),
            version,
        });
    }
    let payload = payload_range(path, bytes, file_len, offset, length)?;
    let release = field16(KERNEL_VERSION).and_then(|ptr| release_at(bytes, ptr));
    Ok(SetupHeader { release, payload })
}

/// The payload's byte range: protected-mode code starts after the boot
/// sector and `setup_sects` sectors (0 means 4), the payload `offset` after it.
fn payload_range(
    path: &Path,
    bytes: &[u8],
    file_len: u64,
    offset: u32,
    length: u32,
) -> Result<Range<usize>, SourceError> {
    let setup_sects = match bytes.get(SETUP_SECTS).copied() {
        Some(0) | None => 4,
        Some(n) => u64::from(n),
    };
    let start = (setup_sects + 1) * 512 + u64::from(offset);
    let end = start + u64::from(length);
    if end > file_len {
        return Err(SourceError::PayloadOutOfBounds {
            path: path.to_path_buf(),
            offset: start,
            length: u64::from(length),
            file_len,
        });
    }
    // Both fit in usize: they are at most the file length (≤ MAX_INPUT).
    Ok(start as usize..end as usize)
}

/// The first word of the NUL-terminated version string at `ptr + 0x200`,
/// e.g. `6.16.3+deb13-amd64` from `6.16.3+deb13-amd64 (debian-kernel@…) #1 …`.
fn release_at(bytes: &[u8], ptr: u16) -> Option<String> {
    if ptr == 0 {
        return None;
    }
    let start = usize::from(ptr) + 0x200;
    let window = bytes.get(start..)?;
    let window = window.get(..MAX_VERSION_STRING).unwrap_or(window);
    let text = window.split(|&b| b == 0).next()?;
    let word = text.split(u8::is_ascii_whitespace).next()?;
    let printable = !word.is_empty() && word.iter().all(u8::is_ascii_graphic);
    printable.then(|| String::from_utf8_lossy(word).into_owned())
}

pub(super) fn le_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

pub(super) fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal bzImage: one setup sector, version 2.15, a payload at `offset`.
    fn image(version: u16, offset: u32, length: u32, total: usize) -> Vec<u8> {
        let mut b = vec![0u8; total];
        b[SETUP_SECTS] = 1;
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[VERSION..VERSION + 2].copy_from_slice(&version.to_le_bytes());
        b[KERNEL_VERSION..KERNEL_VERSION + 2].copy_from_slice(&0x100u16.to_le_bytes());
        b[0x300..0x310].copy_from_slice(b"6.1.0-test (x@y)");
        b[PAYLOAD_OFFSET..PAYLOAD_OFFSET + 4].copy_from_slice(&offset.to_le_bytes());
        b[PAYLOAD_LENGTH..PAYLOAD_LENGTH + 4].copy_from_slice(&length.to_le_bytes());
        b
    }

    #[test]
    fn header_gives_release_and_payload() {
        let bytes = image(0x020f, 16, 100, 2048);
        let header = parse_header(Path::new("x"), &bytes).unwrap();
        assert_eq!(header.release.as_deref(), Some("6.1.0-test"));
        assert_eq!(header.payload, 1040..1140);
    }

    #[test]
    fn old_protocol_and_overflowing_payload_are_errors() {
        let old = image(0x0207, 16, 100, 2048);
        let err = parse_header(Path::new("x"), &old).unwrap_err();
        assert!(matches!(
            err,
            SourceError::OldBootProtocol { version: 0x207, .. }
        ));
        let huge = image(0x020f, u32::MAX, u32::MAX, 2048);
        let err = parse_header(Path::new("x"), &huge).unwrap_err();
        assert!(
            matches!(err, SourceError::PayloadOutOfBounds { .. }),
            "{err}"
        );
    }

    #[test]
    fn short_header_and_bad_version_pointer() {
        let err = parse_header(Path::new("x"), &[0u8; 0x24e]).unwrap_err();
        assert!(matches!(err, SourceError::Truncated { needed: 0x250, .. }));
        assert_eq!(release_at(&[0u8; 16], 0xffff), None);
        assert_eq!(release_at(&[0u8; 0x300], 0x50), None);
    }
}
