//! Kernel `.deb` packages: a bounds-checked `ar` reader, then a streaming walk
//! of `data.tar.{zst,xz,gz}` (or plain `data.tar`) to the first kernel file:
//! `vmlinuz*` anywhere (`boot/vmlinuz-KVER` in `linux-image-*`,
//! `usr/lib/modules/KVER/vmlinuz` in the split `linux-binary-*` packages) or
//! an ELF `vmlinux`/`vmlinux-*` (`-dbg` packages). That file is then read like
//! any other kernel source. Nothing is extracted to disk; the decompressed
//! stream is capped.
//!
//! Hostile archives are bounded (`docs/limits.md`): a GNU
//! long name or pax record is read only up to [`MAX_NAME_RECORD`] bytes, at
//! most [`MAX_LISTED`] top-level names are kept for messages, each cut to
//! [`MAX_SHOWN`] characters, and the kernel file is read once, into one
//! buffer, after its declared size is checked ([`MAX_BZIMAGE`] for a
//! vmlinuz, the decompression limit for an ELF vmlinux). When the control
//! member's `md5sums` lists no kernel file, `data.tar` is not decompressed.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::decompress::{Capped, read_bounded};
use super::sniff::AR_MAGIC;
use super::{Extracted, Format, Limits, SourceError, SourceKind, error, sniff};

/// The `ar` global header.
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
/// Characters of one name, or of a decoder's message, shown in an error.
const MAX_SHOWN: usize = 200;
/// Largest GNU long-name or pax extended-header record read (a path is at
/// most 4096 bytes on Linux; pax records carry a few more fields).
pub(super) const MAX_NAME_RECORD: u64 = 64 << 10;
/// Largest `vmlinuz` (bzImage) read from a `.deb`: real ones are 10-20 MB.
pub(super) const MAX_BZIMAGE: u64 = 256 << 20;

/// One `ar` member: its name and data, bounds-checked.
#[derive(Debug, Clone, Copy)]
struct Member<'a> {
    name: &'a str,
    data: &'a [u8],
}

/// `.deb` → (kind, release, BTF) of the kernel inside.
pub(super) fn extract(path: &Path, bytes: &[u8], limits: Limits) -> Result<Extracted, SourceError> {
    let members = ar_members(path, bytes)?;
    let data = data_member(path, &members)?;
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
    let data = data_member(path, &members)?;
    find_kernel(path, data, limits)
}

/// The error for a `.deb` without `data.tar`, naming its first members.
fn no_data(path: &Path, members: &[Member<'_>]) -> SourceError {
    SourceError::DebNoData {
        path: path.to_path_buf(),
        members: members
            .iter()
            .take(MAX_LISTED)
            .map(|m| m.name.to_owned())
            .collect(),
    }
}

/// The data member of a `.deb`, unless its control `md5sums` shows that
/// no kernel is inside (then decompressing `data.tar` would be wasted work).
fn data_member<'m, 'a>(
    path: &Path,
    members: &'m [Member<'a>],
) -> Result<&'m Member<'a>, SourceError> {
    let Some(data) = members.iter().find(|m| m.name.starts_with("data.tar")) else {
        return Err(no_data(path, members));
    };
    let listed = members
        .iter()
        .find(|m| m.name.starts_with("control.tar"))
        .and_then(|control| listed_files(control.data));
    match listed {
        Some(files) if !files.iter().any(|f| is_kernel_name(f)) => Err(SourceError::DebNoKernel {
            path: path.to_path_buf(),
            entries: files.len() as u64,
            top_level: top_level_of(files.iter().map(|f| (f.as_str(), false))),
        }),
        _ => Ok(data),
    }
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
        Err(_) if exceeded.get() => Err(SourceError::DebStreamTooLarge {
            path: path.to_path_buf(),
            member: data.name.to_owned(),
            limit: stream_limit,
        }),
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
///
/// Entries are read raw: GNU long names and pax paths are read here, within
/// [`MAX_NAME_RECORD`], rather than whole by the tar crate.
fn scan_tar(reader: impl Read, max_member: u64) -> Result<TarScan, String> {
    let mut archive = tar::Archive::new(reader);
    let mut top_level = BTreeSet::new();
    let mut entries = 0u64;
    let mut long_name = None;
    for entry in archive.entries().map_err(|e| one_line(&e))?.raw(true) {
        let mut entry = entry.map_err(|e| one_line(&e))?;
        let kind = entry.header().entry_type();
        if kind.is_gnu_longname() || kind.is_pax_local_extensions() {
            long_name = long_name_record(&mut entry, entries)?.or(long_name);
            continue;
        }
        if kind.is_gnu_longlink() || kind.is_pax_global_extensions() {
            continue; // skipped unread: a link target or global defaults
        }
        entries += 1;
        let raw = long_name
            .take()
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        let name = normalize(&raw);
        if let Some(top) = top_component(&name, kind.is_dir()) {
            keep_smallest(&mut top_level, top);
        }
        if !kind.is_file() || !is_kernel_name(&name) {
            continue;
        }
        if let Some(bytes) = read_if_kernel(&mut entry, &name, max_member)? {
            return Ok(TarScan::Found { name, bytes });
        }
    }
    let top_level = top_level.into_iter().collect();
    Ok(TarScan::NoKernel { entries, top_level })
}

/// The path a GNU long-name or pax record gives the next entry, read only
/// if the record is at most [`MAX_NAME_RECORD`] bytes.
fn long_name_record<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    index: u64,
) -> Result<Option<Vec<u8>>, String> {
    let size = entry.size();
    if size > MAX_NAME_RECORD {
        return Err(format!(
            "entry {index} has a {size}-byte long-name or pax record, over the {MAX_NAME_RECORD}-byte limit: corrupt or hostile archive"
        ));
    }
    if entry.header().entry_type().is_gnu_longname() {
        let mut name = read_bounded(entry, size, MAX_NAME_RECORD)
            .map_err(|_| format!("entry {index}: unreadable long-name record"))?;
        if name.last() == Some(&0) {
            name.pop();
        }
        return Ok(Some(name));
    }
    let pax = entry.pax_extensions().map_err(|e| one_line(&e))?;
    let path = pax.into_iter().flatten().find_map(|ext| {
        let ext = ext.ok()?;
        (ext.key_bytes() == b"path").then(|| ext.value_bytes().to_vec())
    });
    Ok(path)
}

/// Adds `name` to `set`, keeping only the [`MAX_LISTED`] smallest.
fn keep_smallest(set: &mut BTreeSet<String>, name: String) {
    set.insert(name);
    if set.len() > MAX_LISTED {
        set.pop_last();
    }
}

/// The first top-level names of `(path, is_dir)` items, for a message.
fn top_level_of<'p>(items: impl Iterator<Item = (&'p str, bool)>) -> Vec<String> {
    let mut set = BTreeSet::new();
    for (path, is_dir) in items {
        if let Some(top) = top_component(&normalize(path.as_bytes()), is_dir) {
            keep_smallest(&mut set, top);
        }
    }
    set.into_iter().collect()
}

/// Reads a tar entry if its first bytes are a bzImage or an ELF, into one
/// buffer sized from its header: at most [`MAX_BZIMAGE`] for a bzImage and
/// `max` for an ELF vmlinux, checked before the rest is read.
fn read_if_kernel<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &str,
    max: u64,
) -> Result<Option<Vec<u8>>, String> {
    let size = entry.size();
    let mut bytes = Vec::with_capacity(4096);
    entry
        .take(4096)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: {}", one_line(&e)))?;
    let limit = match sniff(&bytes) {
        Some(Format::BzImage | Format::Arm64) => MAX_BZIMAGE.min(max),
        Some(Format::Elf) => max,
        _ => return Ok(None),
    };
    if size > limit {
        return Err(format!(
            "{name}: {size} bytes, over the {limit}-byte limit for a kernel image (see SCXPACK_MAX_DECOMPRESSED): corrupt or hostile package"
        ));
    }
    let want = usize::try_from(size)
        .unwrap_or(0)
        .saturating_sub(bytes.len());
    bytes.try_reserve_exact(want).map_err(|_| {
        format!("{name}: out of memory reserving {size} bytes for the kernel image")
    })?;
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: {}", one_line(&e)))?;
    Ok(Some(bytes))
}

/// `./boot/vmlinuz-x` → `boot/vmlinuz-x`, control characters escaped.
fn normalize(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    error::one_line(text.trim_start_matches("./").trim_start_matches('/'))
}

/// An error's message on one line, cut to [`MAX_SHOWN`] characters.
fn one_line(e: &impl std::fmt::Display) -> String {
    shorten(error::one_line(&e.to_string()))
}

/// `text` cut to [`MAX_SHOWN`] characters, saying how long it was.
fn shorten(text: String) -> String {
    if text.chars().count() <= MAX_SHOWN {
        return text;
    }
    let head: String = text.chars().take(MAX_SHOWN).collect();
    format!("{head}... ({} bytes)", text.len())
}

/// `usr/lib/x` → `usr/`, directory `etc/` → `etc/`; a top-level file keeps
/// its name (cut to [`MAX_SHOWN`] characters).
fn top_component(name: &str, is_dir: bool) -> Option<String> {
    let top = match name.split_once('/') {
        _ if name.is_empty() || name == "." => return None,
        Some((top, _)) => format!("{top}/"),
        None if is_dir => format!("{name}/"),
        None => name.to_owned(),
    };
    Some(shorten(top))
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
    listed_files(control).map(|files| files.iter().any(|f| is_kernel_name(f)))
}

/// The files the control tar's `md5sums` lists, or `None` without one (or
/// when it cannot be read within [`MD5SUMS_LIMIT`]).
fn listed_files(control: &[u8]) -> Option<Vec<String>> {
    let mut archive = tar::Archive::new(tar_decoder(control).ok()?);
    for entry in archive.entries().ok()?.raw(true) {
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
        return Some(text.lines().map(path_of).collect());
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
        assert!(crate::kernel::source::sniff::is_deb(&bytes));
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
