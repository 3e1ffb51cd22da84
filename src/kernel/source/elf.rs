//! ELF vmlinux: the `.BTF` section, and the release from `linux_banner`
//! (`"Linux version 6.16.3+deb13-amd64 (…"` in `.rodata`).
//!
//! Uses the `object` crate's ELF reader, which bounds-checks every header.

use std::fs::File;
use std::path::Path;

use object::read::ReadCache;
use object::{Architecture, Object, ObjectKind, ObjectSection};

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

/// The release from `linux_banner` in `.rodata`, if the ELF has one.
pub(super) fn banner_release(bytes: &[u8]) -> Option<String> {
    let file = object::File::parse(bytes).ok()?;
    let rodata = file.section_by_name(".rodata")?.data().ok()?;
    release_after_banner(rodata)
}

/// Finds `"Linux version "` followed by a release starting with a digit.
pub(super) fn release_after_banner(haystack: &[u8]) -> Option<String> {
    let mut from = 0;
    while let Some(found) = find(haystack.get(from..)?, BANNER) {
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

    #[test]
    fn non_elf_and_elf_without_btf_are_errors() {
        let err = btf_section(Path::new("x"), b"\x7fELF\x02\x01\x01").unwrap_err();
        assert!(matches!(err, SourceError::Elf { .. }), "{err}");
    }
}
