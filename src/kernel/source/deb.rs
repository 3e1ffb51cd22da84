//! Kernel `.deb` packages: a bounds-checked `ar` reader, then a streaming walk
//! of `data.tar.{zst,xz,gz}` (or plain `data.tar`) to the first kernel file:
//! `vmlinuz*` anywhere (`boot/vmlinuz-KVER` in `linux-image-*`,
//! `usr/lib/modules/KVER/vmlinuz` in the split `linux-binary-*` packages) or
//! an ELF `vmlinux`/`vmlinux-*` (`-dbg` packages). That file is then read like
//! any other kernel source. Nothing is extracted to disk; the decompressed
//! stream is capped.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::decompress::{Capped, read_bounded};
use super::{Extracted, Format, Limits, SourceError, SourceKind, error, sniff};

/// The `ar` global header.
const AR_MAGIC: &[u8] = b"!<arch>\n";
/// Size of one `ar` member header.
const AR_HEADER: usize = 60;
/// How many times the member cap a whole `data.tar` stream may decompress to.
const STREAM_FACTOR: u64 = 4;
/// Bytes read from a `.deb` file to look at its control member when sniffing.
const SNIFF_PREFIX: u64 = 8 << 20;
/// Cap on the control `md5sums` file read when sniffing.
const MD5SUMS_LIMIT: u64 = 16 << 20;
/// Entries named in a "no kernel" error.
const MAX_LISTED: usize = 20;

/// One `ar` member: its name and data, bounds-checked.
#[derive(Debug, Clone, Copy)]
struct Member<'a> {
    name: &'a str,
    data: &'a [u8],
}

/// A `.deb`: `!<arch>\n` whose first member is `debian-binary`.
pub(super) fn is_deb(bytes: &[u8]) -> bool {
    bytes.starts_with(AR_MAGIC)
        && bytes
            .get(AR_MAGIC.len()..AR_MAGIC.len() + 16)
            .is_some_and(|name| name.starts_with(b"debian-binary"))
}

/// `.deb` → (kind, release, BTF) of the kernel inside.
pub(super) fn extract(path: &Path, bytes: &[u8], limits: Limits) -> Result<Extracted, SourceError> {
    let members = ar_members(path, bytes)?;
    let Some(data) = members.iter().find(|m| m.name.starts_with("data.tar")) else {
        return Err(SourceError::DebNoData {
            path: path.to_path_buf(),
            members: members.iter().map(|m| m.name.to_owned()).collect(),
        });
    };
    let (member, kernel) = find_kernel(path, data, limits)?;
    let inner_path = PathBuf::from(format!("{}:{member}", path.display()));
    let (inner, release, btf) = super::extract(&inner_path, &kernel, limits, false)?;
    let kind = SourceKind::Deb {
        member,
        inner: Box::new(inner),
    };
    Ok((kind, release, btf))
}

/// The kernel image inside a `.deb` (the bzImage bytes) and its member path,
/// for callers that boot it rather than read its BTF.
pub(super) fn kernel_image(
    path: &Path,
    bytes: &[u8],
    limits: Limits,
) -> Result<(String, Vec<u8>), SourceError> {
    let members = ar_members(path, bytes)?;
    let Some(data) = members.iter().find(|m| m.name.starts_with("data.tar")) else {
        return Err(SourceError::DebNoData {
            path: path.to_path_buf(),
            members: members.iter().map(|m| m.name.to_owned()).collect(),
        });
    };
    find_kernel(path, data, limits)
}

/// All `ar` members, or an error naming the offset of the first bad one.
fn ar_members<'a>(path: &Path, bytes: &'a [u8]) -> Result<Vec<Member<'a>>, SourceError> {
    let mut members = Vec::new();
    let mut pos = AR_MAGIC.len();
    while pos < bytes.len() {
        let (member, next) = ar_member(bytes, pos).map_err(|reason| SourceError::Ar {
            path: path.to_path_buf(),
            offset: pos as u64,
            reason,
        })?;
        members.push(member);
        pos = next;
    }
    Ok(members)
}

/// The member whose header is at `pos`, and where the next header starts.
fn ar_member(bytes: &[u8], pos: usize) -> Result<(Member<'_>, usize), String> {
    let left = bytes.len().saturating_sub(pos);
    let header = bytes
        .get(pos..pos.saturating_add(AR_HEADER))
        .ok_or_else(|| format!("member header needs {AR_HEADER} bytes, {left} left: truncated"))?;
    if &header[58..60] != b"`\n" {
        return Err(format!(
            "bad member header end {}",
            error::hex(&header[58..60])
        ));
    }
    let name = std::str::from_utf8(&header[..16])
        .map_err(|_| "member name is not text".to_owned())?
        .trim_end()
        .trim_end_matches('/');
    if name.chars().any(char::is_control) {
        return Err(format!("member name {name:?} has control characters"));
    }
    let size_field = std::str::from_utf8(&header[48..58]).unwrap_or("?").trim();
    let size: usize = size_field
        .parse()
        .map_err(|_| format!("member {name:?} has size field {size_field:?}, not a number"))?;
    let start = pos + AR_HEADER;
    let data = bytes
        .get(start..)
        .and_then(|rest| rest.get(..size))
        .ok_or_else(|| {
            let have = bytes.len().saturating_sub(start);
            format!(
                "member {name:?} claims {size} bytes but only {have} follow: the .deb is truncated"
            )
        })?;
    // Member data is padded to an even offset.
    let next = start + size + (size & 1);
    Ok((Member { name, data }, next))
}

/// Streams `data.tar*` to the first kernel file; returns its path and bytes.
fn find_kernel(
    path: &Path,
    data: &Member<'_>,
    limits: Limits,
) -> Result<(String, Vec<u8>), SourceError> {
    let member_err = |reason: String| SourceError::DebMember {
        path: path.to_path_buf(),
        member: data.name.to_owned(),
        reason,
    };
    let stream_limit = limits.max_output.saturating_mul(STREAM_FACTOR);
    let exceeded = Cell::new(false);
    let reader = Capped::new(
        tar_decoder(data.data).map_err(&member_err)?,
        stream_limit,
        &exceeded,
    );
    let scan = scan_tar(reader, limits.max_output);
    match scan {
        Err(_) if exceeded.get() => Err(member_err(format!(
            "decompresses to more than {stream_limit} bytes without a kernel: stopped (corrupt or hostile input)"
        ))),
        Err(reason) => Err(member_err(reason)),
        Ok(TarScan::Found { name, bytes }) => Ok((name, bytes)),
        Ok(TarScan::NoKernel { entries, top_level }) => Err(SourceError::DebNoKernel {
            path: path.to_path_buf(),
            entries,
            top_level,
        }),
    }
}

/// A decoder for a `.tar*` member, chosen by its magic bytes.
fn tar_decoder(data: &[u8]) -> Result<Box<dyn Read + '_>, String> {
    let reader: Box<dyn Read + '_> = if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(|e| one_line(&e))?;
        Box::new(decoder)
    } else if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(data))
    } else if data.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(data))
    } else if data.get(257..262) == Some(b"ustar".as_slice()) {
        Box::new(data)
    } else {
        return Err(format!(
            "unsupported compression (starts with {}); supported: zstd, xz, gzip, none",
            error::hex(&error::prefix(data, 6))
        ));
    };
    Ok(reader)
}

/// What a walk over a tar stream found.
#[derive(Debug)]
enum TarScan {
    Found {
        name: String,
        bytes: Vec<u8>,
    },
    NoKernel {
        entries: u64,
        top_level: Vec<String>,
    },
}

/// Walks the tar entries; reads the first kernel-named regular file whose
/// content is a bzImage or ELF. Errors are the tar or decoder message.
fn scan_tar(reader: impl Read, max_member: u64) -> Result<TarScan, String> {
    let mut archive = tar::Archive::new(reader);
    let mut top_level = BTreeSet::new();
    let mut entries = 0u64;
    for entry in archive.entries().map_err(|e| one_line(&e))? {
        let mut entry = entry.map_err(|e| one_line(&e))?;
        entries += 1;
        let name = normalize(&entry.path_bytes());
        let is_dir = entry.header().entry_type().is_dir();
        if let Some(top) = top_component(&name, is_dir) {
            top_level.insert(top);
        }
        if !entry.header().entry_type().is_file() || !is_kernel_name(&name) {
            continue;
        }
        if let Some(bytes) = read_if_kernel(&mut entry, &name, max_member)? {
            return Ok(TarScan::Found { name, bytes });
        }
    }
    let top_level = top_level.into_iter().take(MAX_LISTED).collect();
    Ok(TarScan::NoKernel { entries, top_level })
}

/// Reads a tar entry if its first bytes are a bzImage or an ELF.
fn read_if_kernel(entry: &mut impl Read, name: &str, max: u64) -> Result<Option<Vec<u8>>, String> {
    let mut head = Vec::with_capacity(4096);
    entry
        .take(4096)
        .read_to_end(&mut head)
        .map_err(|e| format!("{name}: {}", one_line(&e)))?;
    if !matches!(sniff(&head), Some(Format::BzImage | Format::Elf)) {
        return Ok(None);
    }
    let rest = read_bounded(entry, 16 << 20, max.saturating_sub(head.len() as u64))
        .map_err(|_| format!("{name}: larger than the {max}-byte limit, or unreadable"))?;
    head.extend_from_slice(&rest);
    Ok(Some(head))
}

/// `./boot/vmlinuz-x` → `boot/vmlinuz-x`, control characters escaped.
fn normalize(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    error::one_line(text.trim_start_matches("./").trim_start_matches('/'))
}

/// An error's message on one line.
fn one_line(e: &impl std::fmt::Display) -> String {
    error::one_line(&e.to_string())
}

/// `usr/lib/x` → `usr/`, directory `etc/` → `etc/`; a top-level file keeps its name.
fn top_component(name: &str, is_dir: bool) -> Option<String> {
    match name.split_once('/') {
        _ if name.is_empty() || name == "." => None,
        Some((top, _)) => Some(format!("{top}/")),
        None if is_dir => Some(format!("{name}/")),
        None => Some(name.to_owned()),
    }
}

/// File names a kernel ships under: `vmlinuz*`, `vmlinux`, `vmlinux-*`
/// (but not `vmlinux.lds` or `vmlinux.h`).
fn is_kernel_name(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.starts_with("vmlinuz") || base == "vmlinux" || base.starts_with("vmlinux-")
}

/// Whether a `.deb` file may hold a kernel: false only when its control
/// `md5sums` exists and lists no kernel file. Reads at most the first 8 MiB.
pub(super) fn file_may_hold_kernel(file: &mut File) -> bool {
    let mut prefix = Vec::new();
    let read = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.take(SNIFF_PREFIX).read_to_end(&mut prefix));
    if read.is_err() {
        return true;
    }
    let mut pos = AR_MAGIC.len();
    while let Ok((member, next)) = ar_member(&prefix, pos) {
        if member.name.starts_with("control.tar") {
            return control_lists_kernel(member.data).unwrap_or(true);
        }
        pos = next;
    }
    true
}

/// `Some(listed)` if the control tar has `md5sums`, `None` if not or unreadable.
fn control_lists_kernel(control: &[u8]) -> Option<bool> {
    let mut archive = tar::Archive::new(tar_decoder(control).ok()?);
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        if normalize(&entry.path_bytes()) != "md5sums" {
            continue;
        }
        let sums = read_bounded(&mut entry, 0, MD5SUMS_LIMIT).ok()?;
        let text = String::from_utf8_lossy(&sums);
        let path_of = |line: &str| {
            line.split_once("  ")
                .map_or(line, |(_, p)| p)
                .trim_end()
                .to_owned()
        };
        return Some(text.lines().any(|line| is_kernel_name(&path_of(line))));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = AR_MAGIC.to_vec();
        for (name, data) in members {
            let header = format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                0,
                0,
                0,
                100_644,
                data.len()
            );
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    #[test]
    fn ar_reader_reads_members_and_rejects_truncation() {
        let bytes = ar(&[("debian-binary", b"2.0\n"), ("data.tar/", b"odd")]);
        assert!(is_deb(&bytes));
        let members = ar_members(Path::new("p"), &bytes).unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[1].name, "data.tar");
        assert_eq!(members[1].data, b"odd");
        let cut = &bytes[..bytes.len() - 3];
        let err = ar_members(Path::new("p"), cut).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = ar_members(Path::new("p"), &bytes[..bytes.len() - 70]).unwrap_err();
        assert!(matches!(err, SourceError::Ar { offset: 8, .. }), "{err}");
    }

    #[test]
    fn deb_without_data_member_lists_members() {
        let bytes = ar(&[("debian-binary", b"2.0\n"), ("control.tar.xz", b"xx")]);
        let limits = Limits {
            max_output: 1 << 20,
        };
        let err = extract(Path::new("p.deb"), &bytes, limits).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("debian-binary, control.tar.xz"), "{text}");
    }

    #[test]
    fn kernel_names_and_top_components() {
        assert!(is_kernel_name("boot/vmlinuz-6.16.3+deb13-amd64"));
        assert!(is_kernel_name("usr/lib/debug/boot/vmlinux-6.16"));
        assert!(!is_kernel_name("usr/src/linux/arch/x86/kernel/vmlinux.lds"));
        assert_eq!(
            top_component("usr/share/doc", false).as_deref(),
            Some("usr/")
        );
        assert_eq!(top_component("etc/", true).as_deref(), Some("etc/"));
        assert_eq!(top_component("etc", true).as_deref(), Some("etc/"));
        assert_eq!(top_component("README", false).as_deref(), Some("README"));
        assert_eq!(top_component("", true).as_deref(), None);
    }
}
