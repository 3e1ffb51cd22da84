//! arm64 kernel images as distributions ship them, read by content:
//!
//! - the plain `Image` (Debian's arm64 `vmlinuz`): a PE/EFI stub with the
//!   arm64 boot header (`Documentation/arch/arm64/booting.rst`, magic
//!   `"ARM\x64"` at 0x38), no ELF section table;
//! - a gzip-compressed `Image` (`Image.gz`), whose first decompressed bytes
//!   carry that header;
//! - an EFI zboot image (`drivers/firmware/efi/libstub/zboot-header.S`):
//!   `"MZ"`, `"zimg"` at 4, the payload's offset and size at 8 and 12, the
//!   compression's name at 24, a PE header for machine `0xaa64`; the payload
//!   (followed by its 4-byte little-endian decompressed size) is an `Image`.
//!
//! With no section table, `.BTF` is found by content: every `9f eb 01 00`
//! (magic, version 1, no flags) whose header is sane and whose sections fit in
//! the image is a candidate, and a candidate counts only when the BTF parser
//! accepts it whole; the largest such blob is the kernel's (only
//! [`MAX_CANDIDATES`] candidates are parsed, so hostile input stays linear).
//! The release comes from the `"Linux version X ("` banner.

use std::io::Read;
use std::path::Path;

use super::bzimage::{le_u16, le_u32};
use super::decompress::{self, Bounded};
use super::{Compression, Extracted, Limits, SourceError, SourceKind, elf, error};
use crate::btf::Btf;

/// Where the arm64 boot header keeps its magic.
const IMAGE_MAGIC_AT: usize = 0x38;
/// `ARM64_IMAGE_MAGIC`: `"ARM\x64"`.
const IMAGE_MAGIC: &[u8] = b"ARMd";
/// Where a zboot image says `"zimg"`.
const ZBOOT_MAGIC_AT: usize = 4;
const ZBOOT_MAGIC: &[u8] = b"zimg";
/// zboot header fields: payload offset, payload size (without the appended
/// 4-byte size), compression name (NUL-terminated, up to the PE magic at 0x38).
const ZBOOT_PAYLOAD_OFFSET: usize = 8;
const ZBOOT_PAYLOAD_SIZE: usize = 12;
const ZBOOT_COMP_TYPE: std::ops::Range<usize> = 24..0x38;
/// Where an MZ header keeps the PE header's offset.
const PE_POINTER_AT: usize = 0x3c;
/// `IMAGE_FILE_MACHINE_ARM64`.
const PE_MACHINE_ARM64: u16 = 0xaa64;
/// A gzip member's magic.
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// BTF magic (little-endian), version 1, flags 0.
const BTF_V1: &[u8] = &[0x9f, 0xeb, 0x01, 0x00];
/// The smallest BTF header (`struct btf_header` up to `str_len`).
const BTF_MIN_HEADER: u32 = 24;
/// Larger headers than this are not BTF (today's is 24 or 32 bytes).
const BTF_MAX_HEADER: u32 = 256;
/// Header-sane candidates handed to the BTF parser at most.
pub const MAX_CANDIDATES: usize = 64;

/// How an arm64 kernel is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Image,
    GzipImage,
    Zboot,
}

/// Whether `bytes` start an arm64 kernel in any supported container.
pub(super) fn is_arm64_kernel(bytes: &[u8]) -> bool {
    container(bytes).is_some()
}

fn container(bytes: &[u8]) -> Option<Container> {
    if is_zboot(bytes) {
        Some(Container::Zboot)
    } else if is_image(bytes) {
        Some(Container::Image)
    } else if bytes.starts_with(GZIP_MAGIC) && is_image(&gzip_head(bytes)) {
        Some(Container::GzipImage)
    } else {
        None
    }
}

/// A plain arm64 `Image`: the boot header magic at 0x38.
fn is_image(bytes: &[u8]) -> bool {
    bytes.get(IMAGE_MAGIC_AT..IMAGE_MAGIC_AT + 4) == Some(IMAGE_MAGIC)
}

/// An EFI zboot image for arm64: `"MZ"`, `"zimg"`, PE machine arm64.
fn is_zboot(bytes: &[u8]) -> bool {
    let pe_machine = le_u32(bytes, PE_POINTER_AT)
        .and_then(|pe| usize::try_from(pe).ok())
        .filter(|&pe| bytes.get(pe..pe.saturating_add(4)) == Some(b"PE\0\0".as_slice()))
        .and_then(|pe| le_u16(bytes, pe + 4));
    bytes.starts_with(b"MZ")
        && bytes.get(ZBOOT_MAGIC_AT..ZBOOT_MAGIC_AT + 4) == Some(ZBOOT_MAGIC)
        && pe_machine == Some(PE_MACHINE_ARM64)
}

/// The first 64 decompressed bytes of a gzip stream (fewer if it is short
/// or corrupt): enough to see the arm64 boot header.
fn gzip_head(bytes: &[u8]) -> Vec<u8> {
    let mut head = Vec::with_capacity(64);
    let _ = flate2::read::GzDecoder::new(bytes)
        .take(64)
        .read_to_end(&mut head);
    head
}

/// arm64 kernel → (kind, release, BTF).
pub(super) fn extract(path: &Path, bytes: &[u8], limits: Limits) -> Result<Extracted, SourceError> {
    let (kind, image) = match container(bytes) {
        Some(Container::Image) => (
            SourceKind::Arm64Image {
                compression: Compression::None,
            },
            std::borrow::Cow::Borrowed(bytes),
        ),
        Some(Container::GzipImage) => {
            let what = "gzip-compressed arm64 Image";
            let image = inflate(path, what, Compression::Gzip, bytes, None, limits)?;
            let kind = SourceKind::Arm64Image {
                compression: Compression::Gzip,
            };
            (kind, image.into())
        }
        Some(Container::Zboot) => {
            let (compression, image) = zboot_image(path, bytes, limits)?;
            (SourceKind::EfiZboot { compression }, image.into())
        }
        None => {
            return Err(SourceError::UnknownFormat {
                path: path.to_path_buf(),
                magic: error::prefix(bytes, 8),
                len: bytes.len() as u64,
            });
        }
    };
    let btf = find_btf(path, &image)?.to_vec();
    Ok((kind, elf::release_after_banner(&image), btf))
}

/// A zboot image's decompressed `Image`, and how its payload was compressed.
fn zboot_image(
    path: &Path,
    bytes: &[u8],
    limits: Limits,
) -> Result<(Compression, Vec<u8>), SourceError> {
    let (Some(offset), Some(size)) = (
        le_u32(bytes, ZBOOT_PAYLOAD_OFFSET),
        le_u32(bytes, ZBOOT_PAYLOAD_SIZE),
    ) else {
        return Err(SourceError::Truncated {
            path: path.to_path_buf(),
            what: "EFI zboot header",
            needed: 16,
            len: bytes.len() as u64,
        });
    };
    let start = u64::from(offset);
    // The payload is followed by the 4-byte decompressed size.
    let end = start + u64::from(size) + 4;
    let file_len = bytes.len() as u64;
    let Some(payload) = usize::try_from(start)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(s, e)| bytes.get(s..e))
    else {
        return Err(SourceError::ZbootPayloadOutOfBounds {
            path: path.to_path_buf(),
            offset: start,
            length: u64::from(size) + 4,
            file_len,
        });
    };
    let compression = decompress::detect(path, payload, start)?;
    let declared = le_u32(payload, payload.len() - 4).map(u64::from);
    let what = "EFI zboot payload";
    let image = inflate(path, what, compression, payload, declared, limits)?;
    if !is_image(&image) {
        return Err(SourceError::ZbootNotArm64 {
            path: path.to_path_buf(),
            comp_type: comp_type(bytes),
            magic: error::prefix(image.get(IMAGE_MAGIC_AT..).unwrap_or_default(), 4),
        });
    }
    Ok((compression, image))
}

/// The compression name a zboot header records (`gzip`, `zstd22`, ...).
fn comp_type(bytes: &[u8]) -> String {
    let field = bytes.get(ZBOOT_COMP_TYPE).unwrap_or_default();
    let name = field.split(|&b| b == 0).next().unwrap_or_default();
    error::one_line(&String::from_utf8_lossy(name))
}

/// Decompresses one stream of `input` within the limit; `declared` (the
/// size the build appended), when given, must match the output.
fn inflate(
    path: &Path,
    what: &str,
    compression: Compression,
    input: &[u8],
    declared: Option<u64>,
    limits: Limits,
) -> Result<Vec<u8>, SourceError> {
    let limit = limits.max_output;
    let hint = declared.unwrap_or(0).min(limit);
    let decoded = match compression {
        Compression::Gzip => {
            decompress::read_bounded(flate2::read::GzDecoder::new(input), hint, limit)
        }
        Compression::Xz => {
            decompress::read_bounded(liblzma::read::XzDecoder::new(input), hint, limit)
        }
        Compression::Zstd => zstd::stream::read::Decoder::with_buffer(input)
            .map_err(|e| Bounded::Corrupt {
                produced: 0,
                reason: error::one_line(&e.to_string()),
            })
            .and_then(|d| decompress::read_bounded(d.single_frame(), hint, limit)),
        Compression::Lz4Legacy | Compression::None => {
            return Err(SourceError::UnsupportedCompression {
                path: path.to_path_buf(),
                offset: 0,
                name: "lz4 (in an arm64 image)",
            });
        }
    };
    let out = decoded.map_err(|e| e.into_error(path, what.to_owned(), limit))?;
    match declared {
        Some(size) if size != out.len() as u64 => Err(SourceError::Corrupt {
            path: path.to_path_buf(),
            what: what.to_owned(),
            produced: out.len() as u64,
            reason: format!("the image declares {size} bytes: truncated or corrupt payload"),
        }),
        _ => Ok(out),
    }
}

/// The kernel's `.BTF` inside a raw arm64 `Image`, found by content.
pub(super) fn find_btf<'a>(path: &Path, image: &'a [u8]) -> Result<&'a [u8], SourceError> {
    let mut best: Option<&[u8]> = None;
    let mut sane = 0usize;
    let mut from = 0usize;
    while let Some(found) = image
        .get(from..)
        .and_then(|rest| memchr::memmem::find(rest, BTF_V1))
    {
        let at = from + found;
        from = at + 1;
        let Some(blob) = blob_at(image, at) else {
            continue;
        };
        sane += 1;
        if Btf::parse(blob).is_ok() {
            if best.is_none_or(|b| blob.len() > b.len()) {
                best = Some(blob);
            }
            // Nothing inside a whole BTF blob is another one.
            from = at + blob.len();
        }
        if sane >= MAX_CANDIDATES {
            break;
        }
    }
    best.ok_or_else(|| SourceError::NoBtfInImage {
        path: path.to_path_buf(),
        candidates: sane as u64,
    })
}

/// The BTF blob a header at `at` describes, when the header is sane:
/// its length within bounds and a multiple of 4, and every section
/// (`off`/`len` pairs after the first 8 bytes) inside the image.
fn blob_at(image: &[u8], at: usize) -> Option<&[u8]> {
    let hdr_len = le_u32(image, at + 4)?;
    if !(BTF_MIN_HEADER..=BTF_MAX_HEADER).contains(&hdr_len) || hdr_len % 4 != 0 {
        return None;
    }
    let mut end = u64::from(hdr_len);
    let mut has_empty_section = false;
    // Whole `off`/`len` pairs only: a header of 28 bytes has two.
    for field in (8..hdr_len.saturating_sub(7)).step_by(8) {
        let field = at + field as usize;
        let (off, len) = (le_u32(image, field)?, le_u32(image, field + 4)?);
        has_empty_section |= len == 0 && field < at + BTF_MIN_HEADER as usize;
        end = end.max(u64::from(hdr_len) + u64::from(off) + u64::from(len));
    }
    if has_empty_section {
        return None;
    }
    let end = at.checked_add(usize::try_from(end).ok()?)?;
    image.get(at..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny valid BTF: one INT type named "int".
    fn tiny_btf() -> Vec<u8> {
        let strings = b"\0int\0";
        let mut types = Vec::new();
        types.extend_from_slice(&1u32.to_le_bytes()); // name_off
        types.extend_from_slice(&(1u32 << 24).to_le_bytes()); // kind INT
        types.extend_from_slice(&4u32.to_le_bytes()); // size
        types.extend_from_slice(&((1u32 << 24) | 32).to_le_bytes()); // signed, 32 bits
        let mut b = BTF_V1.to_vec();
        for v in [24, 0, types.len() as u32, types.len() as u32, 5] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&types);
        b.extend_from_slice(strings);
        b
    }

    /// An arm64 Image-like buffer: header magic, decoys, a banner, the BTF.
    fn image_with(btf: &[u8]) -> Vec<u8> {
        let mut img = vec![0u8; 0x1000];
        img[IMAGE_MAGIC_AT..IMAGE_MAGIC_AT + 4].copy_from_slice(IMAGE_MAGIC);
        // A decoy whose header points past the end, one with a zero-length
        // type section, one whose sections parse as garbage.
        img.extend_from_slice(&[0x9f, 0xeb, 0x01, 0x00, 24, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        img.extend_from_slice(&[0x9f, 0xeb, 0x01, 0x00, 24, 0, 0, 0]);
        img.extend_from_slice(&[0u8; 16]);
        let mut garbage = tiny_btf();
        garbage[28..32].copy_from_slice(&[0xff; 4]);
        img.extend_from_slice(&garbage);
        img.extend_from_slice(b"Linux version %s\0Linux version 6.16.3+deb13-arm64 (x@y) #1\0");
        img.extend_from_slice(btf);
        img.extend_from_slice(&[0u8; 64]);
        img
    }

    #[test]
    fn btf_is_found_past_decoys_and_release_from_the_banner() {
        let btf = tiny_btf();
        let img = image_with(&btf);
        assert!(is_arm64_kernel(&img));
        let limits = Limits {
            max_output: 1 << 20,
        };
        let (kind, release, found) = extract(Path::new("Image"), &img, limits).unwrap();
        assert_eq!(found, btf);
        assert_eq!(release.as_deref(), Some("6.16.3+deb13-arm64"));
        assert_eq!(
            kind,
            SourceKind::Arm64Image {
                compression: Compression::None
            }
        );
    }

    #[test]
    fn image_without_btf_says_so_with_the_candidate_count() {
        let img = image_with(&[]);
        let err = find_btf(Path::new("Image"), &img).unwrap_err();
        assert!(
            matches!(err, SourceError::NoBtfInImage { candidates: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("CONFIG_DEBUG_INFO_BTF"), "{err}");
    }

    #[test]
    fn hostile_candidate_floods_stop_at_the_cap() {
        let mut img = vec![0u8; 0x40];
        img[IMAGE_MAGIC_AT..IMAGE_MAGIC_AT + 4].copy_from_slice(IMAGE_MAGIC);
        let mut bad = tiny_btf();
        bad[28..32].copy_from_slice(&[0xff; 4]);
        for _ in 0..MAX_CANDIDATES * 4 {
            img.extend_from_slice(&bad);
        }
        img.extend_from_slice(&tiny_btf());
        let err = find_btf(Path::new("Image"), &img).unwrap_err();
        assert!(
            matches!(err, SourceError::NoBtfInImage { candidates, .. } if candidates == MAX_CANDIDATES as u64),
            "{err}"
        );
    }

    #[test]
    fn zboot_header_checks_and_bounds() {
        let mut z = vec![0u8; 0x100];
        z[..2].copy_from_slice(b"MZ");
        z[4..8].copy_from_slice(ZBOOT_MAGIC);
        z[PE_POINTER_AT..PE_POINTER_AT + 4].copy_from_slice(&0x40u32.to_le_bytes());
        z[0x40..0x44].copy_from_slice(b"PE\0\0");
        z[0x44..0x46].copy_from_slice(&PE_MACHINE_ARM64.to_le_bytes());
        z[ZBOOT_PAYLOAD_OFFSET..ZBOOT_PAYLOAD_OFFSET + 4].copy_from_slice(&0x80u32.to_le_bytes());
        z[ZBOOT_PAYLOAD_SIZE..ZBOOT_PAYLOAD_SIZE + 4].copy_from_slice(&0x1000u32.to_le_bytes());
        z[24..28].copy_from_slice(b"gzip");
        assert_eq!(container(&z), Some(Container::Zboot));
        let limits = Limits {
            max_output: 1 << 20,
        };
        let err = extract(Path::new("z"), &z, limits).unwrap_err();
        assert!(
            matches!(
                err,
                SourceError::ZbootPayloadOutOfBounds { offset: 0x80, .. }
            ),
            "{err}"
        );
        // A RISC-V zboot (machine 0x5064) is not an arm64 kernel.
        z[0x44..0x46].copy_from_slice(&0x5064u16.to_le_bytes());
        assert_eq!(container(&z), None);
        assert_eq!(comp_type(&z), "gzip");
    }
}
