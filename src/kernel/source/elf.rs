//! ELF vmlinux: the `.BTF` section, and the release from `linux_banner`
//! (`"Linux version 6.16.3+deb13-amd64 (…"` in `.rodata`).
//!
//! Uses the `object` crate's ELF reader, which bounds-checks every header.
//! An ELF file is read in place ([`read_in_place`]): its header, section
//! headers and section-name table, then `.BTF`, then `.rodata` in pieces up
//! to the banner, never the rest (symbols, debug info, code).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use object::elf::{FileHeader32, FileHeader64};
use object::read::ReadCache;
use object::read::elf::{FileHeader, SectionHeader as _};
use object::{Architecture, Endianness, Object, ObjectKind, ObjectSection};

use super::{BTF_MAGIC_LE, SourceError, error};

/// The prefix of `linux_banner`.
const BANNER: &[u8] = b"Linux version ";
/// Longest release string considered.
const MAX_RELEASE: usize = 128;

/// The bytes of the `.BTF` section; an error if it is missing or lacks the magic.
pub(super) fn btf_section<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], SourceError> {
    let elf_err = |e: object::Error| SourceError::Elf {
        path: path.to_path_buf(),
        reason: error::one_line(&e.to_string()),
    };
    let file = object::File::parse(bytes).map_err(elf_err)?;
    let section = file
        .section_by_name(".BTF")
        .ok_or_else(|| SourceError::NoBtfSection {
            path: path.to_path_buf(),
        })?;
    let data = section.data().map_err(elf_err)?;
    if !data.starts_with(&BTF_MAGIC_LE) {
        return Err(SourceError::BadBtfSection {
            path: path.to_path_buf(),
            offset: section.file_range().map_or(0, |(offset, _)| offset),
            size: data.len() as u64,
            found: error::prefix(data, 4),
        });
    }
    Ok(data)
}

/// Bytes of `.rodata` read at a time while looking for the banner (it is
/// within the first kilobytes of a vmlinux's `.rodata`).
const RODATA_PIECE: u64 = 256 << 10;

/// Where an ELF's `.BTF` and `.rodata` are, as (offset, size) in the ELF.
struct Ranges {
    btf: (u64, u64),
    rodata: Option<(u64, u64)>,
}

/// The `.BTF` bytes and the banner's release of the ELF vmlinux that
/// occupies `len` bytes from `base` in `reader`, read with positioned reads
/// of the headers, the section-name table, `.BTF` and `.rodata` up to the
/// banner only. Every range is checked against `len` before it is read or
/// allocated.
pub(super) fn read_in_place<R: Read + Seek>(
    path: &Path,
    reader: R,
    base: u64,
    len: u64,
) -> Result<(Vec<u8>, Option<String>), SourceError> {
    let cache = ReadCache::new(reader);
    let ranges = section_ranges(path, &cache, base, len)?;
    let mut reader = cache.into_inner();
    let (offset, size) = ranges.btf;
    let btf = read_range(path, &mut reader, base, len, offset, size)?;
    if !btf.starts_with(&BTF_MAGIC_LE) {
        return Err(SourceError::BadBtfSection {
            path: path.to_path_buf(),
            offset,
            size,
            found: error::prefix(&btf, 4),
        });
    }
    let release = ranges
        .rodata
        .and_then(|rodata| banner_in_place(path, &mut reader, base, len, rodata));
    Ok((btf, release))
}

/// Parses the header and the section table (and nothing else) of the ELF
/// at `base..base + len`.
fn section_ranges<R: Read + Seek>(
    path: &Path,
    cache: &ReadCache<R>,
    base: u64,
    len: u64,
) -> Result<Ranges, SourceError> {
    let data = cache.range(base, len);
    let class = object::ReadRef::read_bytes_at(data, 4, 1)
        .map_err(|()| elf_error(path, "too short for an ELF header"))?;
    match class {
        [1] => ranges_of::<FileHeader32<Endianness>, _>(path, data),
        [2] => ranges_of::<FileHeader64<Endianness>, _>(path, data),
        _ => Err(elf_error(path, "unknown ELF class")),
    }
}

fn ranges_of<'data, Elf: FileHeader<Endian = Endianness>, R: object::ReadRef<'data>>(
    path: &Path,
    data: R,
) -> Result<Ranges, SourceError> {
    let elf_err = |e: object::Error| elf_error(path, &e.to_string());
    let header = Elf::parse(data).map_err(elf_err)?;
    let endian = header.endian().map_err(elf_err)?;
    let sections = header.sections(endian, data).map_err(elf_err)?;
    let (_, btf) =
        sections
            .section_by_name(endian, b".BTF")
            .ok_or_else(|| SourceError::NoBtfSection {
                path: path.to_path_buf(),
            })?;
    let btf = btf
        .file_range(endian)
        .ok_or_else(|| elf_error(path, ".BTF has no bytes in the file (SHT_NOBITS)"))?;
    let rodata = sections
        .section_by_name(endian, b".rodata")
        .and_then(|(_, s)| s.file_range(endian));
    Ok(Ranges { btf, rodata })
}

/// Reads `size` bytes at `offset` of the ELF at `base` (`len` bytes long),
/// after checking that they lie inside it.
fn read_range(
    path: &Path,
    reader: &mut (impl Read + Seek),
    base: u64,
    len: u64,
    offset: u64,
    size: u64,
) -> Result<Vec<u8>, SourceError> {
    let end = offset.checked_add(size).filter(|&end| end <= len);
    let (Some(_), Ok(size_usize)) = (end, usize::try_from(size)) else {
        return Err(elf_error(
            path,
            &format!(
                "section at offset {offset} with {size} bytes runs past the end of the ELF ({len} bytes): truncated or corrupt file"
            ),
        ));
    };
    let io_err = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(size_usize)
        .map_err(|_| elf_error(path, &format!("cannot allocate {size} bytes for a section")))?;
    reader
        .seek(SeekFrom::Start(base + offset))
        .map_err(io_err)?;
    reader.take(size).read_to_end(&mut bytes).map_err(io_err)?;
    if bytes.len() as u64 != size {
        return Err(elf_error(
            path,
            &format!(
                "the file ends {} bytes into a section of {size} bytes",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// The banner's release, reading `.rodata` in pieces that overlap by a
/// banner's length and stopping at the first banner.
fn banner_in_place(
    path: &Path,
    reader: &mut (impl Read + Seek),
    base: u64,
    len: u64,
    (offset, size): (u64, u64),
) -> Option<String> {
    let overlap = (BANNER.len() + MAX_RELEASE) as u64;
    let mut at = 0;
    while at < size {
        let piece = (size - at).min(RODATA_PIECE);
        let bytes = read_range(path, reader, base, len, offset + at, piece).ok()?;
        let last = at + piece == size;
        // A banner starting in the overlap is taken whole from the next piece.
        let starts_before = if last {
            bytes.len()
        } else {
            bytes.len() - overlap as usize
        };
        if let Some(release) = release_in(&bytes, starts_before) {
            return Some(release);
        }
        at += piece - if last { 0 } else { overlap };
    }
    None
}

fn elf_error(path: &Path, reason: &str) -> SourceError {
    SourceError::Elf {
        path: path.to_path_buf(),
        reason: error::one_line(reason),
    }
}

/// The release from `linux_banner` in `.rodata`, if the ELF has one.
pub(super) fn banner_release(bytes: &[u8]) -> Option<String> {
    let file = object::File::parse(bytes).ok()?;
    let rodata = file.section_by_name(".rodata")?.data().ok()?;
    release_after_banner(rodata)
}

/// Finds `"Linux version "` followed by a release starting with a digit.
pub(super) fn release_after_banner(haystack: &[u8]) -> Option<String> {
    release_in(haystack, haystack.len())
}

/// [`release_after_banner`] for a banner starting before `starts_before`.
fn release_in(haystack: &[u8], starts_before: usize) -> Option<String> {
    let mut from = 0;
    while let Some(found) = find(haystack.get(from..)?, BANNER) {
        if from + found >= starts_before {
            return None;
        }
        let start = from + found + BANNER.len();
        let tail = haystack.get(start..)?;
        let tail = tail.get(..MAX_RELEASE).unwrap_or(tail);
        let word: Vec<u8> = tail
            .iter()
            .copied()
            .take_while(u8::is_ascii_graphic)
            .collect();
        if word.first().is_some_and(u8::is_ascii_digit) {
            return String::from_utf8(word).ok();
        }
        from = start;
    }
    None
}

/// Position of `needle` in `haystack`: scans for the first byte, then compares.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut at = 0;
    while let Some(i) = haystack.get(at..)?.iter().position(|&b| b == first) {
        let candidate = at + i;
        if haystack.get(candidate + 1..)?.starts_with(rest) {
            return Some(candidate);
        }
        at = candidate + 1;
    }
    None
}

/// Whether an open ELF file is an executable (not a BPF object) with a
/// `.BTF` section; reads only the headers and the section name table.
pub(super) fn file_is_vmlinux_with_btf(file: &File) -> bool {
    let cache = ReadCache::new(file);
    let Ok(elf) = object::File::parse(&cache) else {
        return false;
    };
    elf.kind() == ObjectKind::Executable
        && elf.architecture() != Architecture::Bpf
        && elf.section_by_name(".BTF").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_release_skips_format_strings() {
        let rodata =
            b"\0%s version %s\0Linux version %s\0Linux version 6.16.3+deb13-amd64 (x@y) #1\0";
        assert_eq!(
            release_after_banner(rodata).as_deref(),
            Some("6.16.3+deb13-amd64")
        );
        assert_eq!(release_after_banner(b"Linux version "), None);
        assert_eq!(release_after_banner(b""), None);
    }

    #[test]
    fn find_handles_edges() {
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"abc", b""), None);
    }

    /// A little-endian ELF64 executable: the ELF header, then each section's
    /// bytes in order, then the section-name table and the section headers.
    /// `(name, type, bytes)`; type 8 is `SHT_NOBITS`.
    fn elf64(sections: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut names = vec![0u8];
        let mut body = vec![0u8; 64];
        let mut headers = vec![0u8; 64];
        let mut push = |name: &str, kind: u32, bytes: &[u8], body: &mut Vec<u8>| {
            let name_at = names.len() as u32;
            names.extend_from_slice(name.as_bytes());
            names.push(0);
            let offset = body.len() as u64;
            if kind != 8 {
                body.extend_from_slice(bytes);
            }
            for (v, width) in [
                (u64::from(name_at), 4),
                (u64::from(kind), 4),
                (0, 8),
                (0, 8),
                (offset, 8),
                (bytes.len() as u64, 8),
                (0, 4),
                (0, 4),
                (1, 8),
                (0, 8),
            ] {
                headers.extend_from_slice(&v.to_le_bytes()[..width]);
            }
        };
        for &(name, kind, bytes) in sections {
            push(name, kind, bytes, &mut body);
        }
        let names_at = body.len() as u64;
        let shstrndx = sections.len() as u16 + 1;
        names.extend_from_slice(b".shstrtab\0");
        let names_len = names.len() as u64;
        body.extend_from_slice(&names);
        for (v, width) in [
            (u64::from(names_len as u32 - 10), 4),
            (3, 4),
            (0, 8),
            (0, 8),
            (names_at, 8),
            (names_len, 8),
            (0, 4),
            (0, 4),
            (1, 8),
            (0, 8),
        ] {
            headers.extend_from_slice(&v.to_le_bytes()[..width]);
        }
        body.resize(body.len().next_multiple_of(8), 0);
        let shoff = body.len() as u64;
        body.extend_from_slice(&headers);
        let mut h = b"\x7fELF\x02\x01\x01".to_vec();
        h.resize(16, 0);
        h.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        h.extend_from_slice(&62u16.to_le_bytes()); // x86_64
        h.extend_from_slice(&1u32.to_le_bytes());
        h.extend_from_slice(&0u64.to_le_bytes()); // entry
        h.extend_from_slice(&0u64.to_le_bytes()); // phoff
        h.extend_from_slice(&shoff.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        for v in [64u16, 56, 0, 64, shstrndx + 1, shstrndx] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        body[..64].copy_from_slice(&h);
        body
    }

    /// A reader that counts the bytes it hands out.
    struct Counted<'a> {
        inner: std::io::Cursor<&'a [u8]>,
        read: &'a std::cell::Cell<u64>,
    }

    impl Read for Counted<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }

    impl Seek for Counted<'_> {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.inner.seek(to)
        }
    }

    /// What [`read_in_place`] answers.
    type InPlace = Result<(Vec<u8>, Option<String>), SourceError>;

    /// `read_in_place` over `bytes`: its answer and the bytes it read.
    fn in_place(bytes: &[u8]) -> (InPlace, u64) {
        let read = std::cell::Cell::new(0);
        let reader = Counted {
            inner: std::io::Cursor::new(bytes),
            read: &read,
        };
        let out = read_in_place(Path::new("vmlinux"), reader, 0, bytes.len() as u64);
        (out, read.get())
    }

    fn btf_blob(len: usize) -> Vec<u8> {
        let mut b = vec![0x9f, 0xeb, 1, 0];
        b.resize(len, 0x42);
        b
    }

    const PROGBITS: u32 = 1;

    #[test]
    fn reads_only_the_headers_btf_and_the_banner() {
        let btf = btf_blob(300_000);
        let mut rodata = b"Linux version %s\0Linux version 6.99.1-test (x@y) #1\0".to_vec();
        rodata.resize(4096, 0);
        let text = vec![0x90u8; 8 << 20];
        let elf = elf64(&[
            (".text", PROGBITS, &text),
            (".rodata", PROGBITS, &rodata),
            (".BTF", PROGBITS, &btf),
            (".data", PROGBITS, &text),
        ]);
        let (out, read) = in_place(&elf);
        let (got, release) = out.unwrap();
        assert_eq!(got, btf);
        assert_eq!(release.as_deref(), Some("6.99.1-test"));
        // What the whole-file reader finds, from a fraction of the bytes.
        assert_eq!(btf_section(Path::new("x"), &elf).unwrap(), &btf[..]);
        // ELF header, 6 section headers, and the name table (the reader
        // takes names in pieces of up to 4 KiB); never the 16 MiB of code.
        let headers = 64 + 6 * 64 + 4096;
        let wanted = (headers + btf.len() + rodata.len()) as u64;
        assert!(read <= wanted, "read {read} bytes, wanted at most {wanted}");
        assert!(read >= btf.len() as u64);
    }

    #[test]
    fn a_banner_across_two_rodata_pieces_is_read_whole() {
        let piece = usize::try_from(RODATA_PIECE).unwrap();
        let mut rodata = vec![0u8; piece - 7];
        rodata.extend_from_slice(b"Linux version 6.99.2-split #1\0");
        rodata.resize(3 * piece, 0);
        let btf = btf_blob(100);
        let elf = elf64(&[(".rodata", PROGBITS, &rodata), (".BTF", PROGBITS, &btf)]);
        let (out, read) = in_place(&elf);
        assert_eq!(out.unwrap().1.as_deref(), Some("6.99.2-split"));
        assert!(read < 2 * RODATA_PIECE + 4096, "read {read}");
    }

    /// Overwrites the 8-byte field `at` of section header `index` (0 is the
    /// null header) of an ELF built by [`elf64`].
    fn patch_section(elf: &mut [u8], index: usize, at: usize, value: u64) {
        let shoff = usize::try_from(u64::from_le_bytes(elf[40..48].try_into().unwrap())).unwrap();
        let field = shoff + index * 64 + at;
        elf[field..field + 8].copy_from_slice(&value.to_le_bytes());
    }

    #[test]
    fn truncated_and_corrupt_elves_are_typed_errors() {
        let btf = btf_blob(4096);
        let good = elf64(&[(".rodata", PROGBITS, b"x"), (".BTF", PROGBITS, &btf)]);
        let past_end = |e: &SourceError| matches!(e, SourceError::Elf { reason, .. } if reason.contains("past the end"));
        // .BTF's offset (field 24) beyond the end of the file.
        let mut bad = good.clone();
        patch_section(&mut bad, 2, 24, good.len() as u64 + 10);
        assert!(past_end(&in_place(&bad).0.unwrap_err()));
        // An absurd .BTF size (field 32): refused before any allocation.
        for size in [u64::MAX, u64::MAX / 2, 1 << 40] {
            let mut bad = good.clone();
            patch_section(&mut bad, 2, 32, size);
            assert!(past_end(&in_place(&bad).0.unwrap_err()), "{size}");
        }
        // The section headers beyond the end of the file.
        let mut bad = good.clone();
        bad[40..48].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let err = in_place(&bad).0.unwrap_err();
        assert!(matches!(err, SourceError::Elf { .. }), "{err}");
        // Cut inside the section headers, and inside the ELF header.
        for cut in [good.len() - 10, 30, 3] {
            let err = in_place(&good[..cut]).0.unwrap_err();
            assert!(matches!(err, SourceError::Elf { .. }), "{cut}: {err}");
        }
        // A .BTF without bytes in the file, one without the magic, none at all.
        let nobits = elf64(&[(".BTF", 8, &btf)]);
        assert!(matches!(
            in_place(&nobits).0.unwrap_err(),
            SourceError::Elf { .. }
        ));
        let no_magic = elf64(&[(".BTF", PROGBITS, b"nope")]);
        assert!(matches!(
            in_place(&no_magic).0.unwrap_err(),
            SourceError::BadBtfSection { .. }
        ));
        let none = elf64(&[(".rodata", PROGBITS, b"x")]);
        assert!(matches!(
            in_place(&none).0.unwrap_err(),
            SourceError::NoBtfSection { .. }
        ));
    }

    #[test]
    fn non_elf_and_elf_without_btf_are_errors() {
        let err = btf_section(Path::new("x"), b"\x7fELF\x02\x01\x01").unwrap_err();
        assert!(matches!(err, SourceError::Elf { .. }), "{err}");
    }
}
