//! The `.scxpkg` container: a ustar archive compressed with gzip.
//!
//! Writing is deterministic: `manifest.json` first, then the objects in
//! byte order of their paths; every header has mode 0644, uid/gid 0, empty
//! user and group names and the same mtime (`SOURCE_DATE_EPOCH` or 0); the
//! gzip header has mtime 0, no file name and OS byte 255 ("unknown"), and the
//! deflate stream comes from miniz_oxide (pure Rust, the same bytes on every
//! CPU and distribution) at level 9.
//!
//! Reading works on bytes already in memory and makes no syscall. It trusts
//! nothing: only regular files with clean relative paths are accepted, each
//! entry's declared size is checked against [`Limits`] before anything is
//! allocated for it, the decompressed stream is cut at the total limit, the
//! gzip trailer (CRC32 and length) must be intact, the archive must end with
//! its end-of-archive blocks and nothing but zeros may follow them.

use std::borrow::Borrow;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::ops::Bound;
use std::rc::Rc;

use flate2::Compression;
use flate2::bufread::GzDecoder;

use super::{EntryProblem, MANIFEST_ENTRY};

/// Size caps that protect readers from decompression bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest object entry, in bytes.
    pub max_object: u64,
    /// Largest `manifest.json`, in bytes.
    pub max_manifest: u64,
    /// Largest decompressed archive (all headers and data), in bytes; also
    /// the largest package file read from disk.
    pub max_total: u64,
    /// Most entries in one archive.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_object: 64 << 20,
            max_manifest: 16 << 20,
            max_total: 256 << 20,
            max_entries: 4096,
        }
    }
}

/// The tar block size.
const BLOCK: u64 = 512;
/// gzip magic bytes: how a package is recognised.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Compression level: fixed, so the same input always gives the same bytes.
const LEVEL: u32 = 9;
/// Longest entry path a plain ustar header holds (name field, no prefix).
pub(crate) const MAX_PATH: usize = 100;

/// Writes the archive: `manifest.json` then `entries` in key order.
pub(crate) fn write(
    manifest: &[u8],
    entries: &BTreeMap<String, Vec<u8>>,
    mtime: u64,
) -> io::Result<Vec<u8>> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::new(LEVEL));
    let mut tar = tar::Builder::new(gz);
    let all = std::iter::once((MANIFEST_ENTRY, manifest))
        .chain(entries.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
    for (path, data) in all {
        tar.append(&header(path, data.len() as u64, mtime)?, data)?;
    }
    tar.into_inner()?.finish()
}

/// A deterministic ustar header for a regular file.
fn header(path: &str, size: u64, mtime: u64) -> io::Result<tar::Header> {
    if path.len() > MAX_PATH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("entry path {path:?} is longer than {MAX_PATH} bytes"),
        ));
    }
    let mut h = tar::Header::new_ustar();
    h.set_path(path)?;
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_username("")?;
    h.set_groupname("")?;
    h.set_device_major(0)?;
    h.set_device_minor(0)?;
    h.set_cksum();
    Ok(h)
}

/// What a package archive holds, before its manifest is checked.
#[derive(Debug)]
pub(crate) struct Contents {
    pub manifest: Vec<u8>,
    /// Every entry but the manifest, by path.
    pub entries: BTreeMap<String, Vec<u8>>,
}

/// Why an archive could not be read (the caller adds the file name).
#[derive(Debug)]
pub(crate) enum ReadError {
    Corrupt(String),
    TotalTooLarge(u64),
    Entry(String, EntryProblem),
    NoManifest,
}

/// Reads and checks the structure of a `.scxpkg` held in memory.
pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Result<Contents, ReadError> {
    let count = Rc::new(Cell::new(0));
    let counted = Counted {
        inner: GzDecoder::new(bytes).take(limits.max_total + 1),
        count: Rc::clone(&count),
    };
    let io_problem = |e: &io::Error| {
        if count.get() > limits.max_total {
            ReadError::TotalTooLarge(limits.max_total)
        } else if e.kind() == io::ErrorKind::UnexpectedEof {
            ReadError::Corrupt("truncated".to_string())
        } else {
            ReadError::Corrupt(e.to_string())
        }
    };
    let mut archive = tar::Archive::new(counted);
    let mut manifest = None;
    let mut entries = BTreeMap::new();
    let mut seen = Seen::default();
    let mut end_of_last = 0;
    {
        let iter = archive.entries().map_err(|e| io_problem(&e))?.raw(true);
        for entry in iter {
            let mut entry = entry.map_err(|e| io_problem(&e))?;
            let size = entry.size();
            // Installs write 0644 whatever the header says; an unreadable mode
            // field carries no special bit to refuse.
            let mode = entry.header().mode().unwrap_or(0);
            let (path, is_manifest) = admit(
                &entry.path_bytes(),
                (entry.header().entry_type(), mode),
                size,
                &mut seen,
                limits,
            )?;
            // `size` is at most the per-entry limit: safe to reserve.
            let mut data = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut data).map_err(|e| io_problem(&e))?;
            if data.len() as u64 != size {
                return Err(ReadError::Corrupt(format!(
                    "entry {path:?} ends after {} of its {size} bytes",
                    data.len()
                )));
            }
            end_of_last = entry.raw_file_position() + size.div_ceil(BLOCK) * BLOCK;
            if is_manifest {
                manifest = Some(data);
            } else {
                entries.insert(path, data);
            }
        }
    }
    // The rest of the stream: the end-of-archive blocks, optional zero
    // padding, then the gzip trailer, which the decoder checks at EOF.
    let mut rest = archive.into_inner();
    let mut buf = [0u8; 8192];
    loop {
        let got = rest.read(&mut buf).map_err(|e| io_problem(&e))?;
        if got == 0 {
            break;
        }
        if buf[..got].iter().any(|&b| b != 0) {
            return Err(ReadError::Corrupt(
                "data after the end-of-archive blocks".to_string(),
            ));
        }
    }
    if count.get() > limits.max_total {
        return Err(ReadError::TotalTooLarge(limits.max_total));
    }
    if count.get() < end_of_last + 2 * BLOCK {
        return Err(ReadError::Corrupt(
            "the archive ends without its end-of-archive blocks (truncated?)".to_string(),
        ));
    }
    let trailing = rest.inner.into_inner().into_inner();
    if !trailing.is_empty() {
        return Err(ReadError::Corrupt(format!(
            "{} bytes after the end of the gzip stream",
            trailing.len()
        )));
    }
    let manifest = manifest.ok_or(ReadError::NoManifest)?;
    Ok(Contents { manifest, entries })
}

/// What the entries read so far add up to.
#[derive(Debug, Default)]
struct Seen {
    count: usize,
    total: u64,
    paths: BTreeSet<String>,
}

/// Checks an entry's header before its data is read: count, path, type and
/// mode, position of the manifest, duplicates and paths that are both a file
/// and a directory, declared size against the limits.
/// Returns the path and whether it is the manifest.
fn admit(
    raw_path: &[u8],
    (entry_type, mode): (tar::EntryType, u32),
    size: u64,
    seen: &mut Seen,
    limits: &Limits,
) -> Result<(String, bool), ReadError> {
    let name = String::from_utf8_lossy(raw_path).into_owned();
    seen.count += 1;
    if seen.count > limits.max_entries {
        return Err(ReadError::Entry(
            name,
            EntryProblem::TooMany(limits.max_entries),
        ));
    }
    let path = check_path(raw_path).map_err(|p| ReadError::Entry(name.clone(), p))?;
    check_type(entry_type).map_err(|p| ReadError::Entry(name.clone(), p))?;
    if mode & 0o7000 != 0 {
        return Err(ReadError::Entry(name, EntryProblem::SpecialMode(mode)));
    }
    let is_manifest = path == MANIFEST_ENTRY;
    if let Some(other) = path_conflict(&seen.paths, &path) {
        return Err(ReadError::Entry(
            path,
            EntryProblem::FileAndDirectory(other),
        ));
    }
    if !seen.paths.insert(path.clone()) {
        return Err(ReadError::Entry(path, EntryProblem::Duplicate));
    }
    if is_manifest != (seen.count == 1) {
        return Err(ReadError::Entry(path, EntryProblem::ManifestNotFirst));
    }
    let limit = if is_manifest {
        limits.max_manifest
    } else {
        limits.max_object
    };
    if size > limit {
        return Err(ReadError::Entry(
            path,
            EntryProblem::TooLarge { size, limit },
        ));
    }
    seen.total += size;
    if seen.total > limits.max_total {
        return Err(ReadError::TotalTooLarge(limits.max_total));
    }
    Ok((path, is_manifest))
}

/// Checks one entry path: relative, no `.`/`..`/empty components, UTF-8.
pub(crate) fn check_path(raw: &[u8]) -> Result<String, EntryProblem> {
    let Ok(path) = std::str::from_utf8(raw) else {
        return Err(EntryProblem::BadPath("not UTF-8"));
    };
    if path.starts_with('/') {
        return Err(EntryProblem::Absolute);
    }
    if path.split(['/', '\\']).any(|c| c == "..") {
        return Err(EntryProblem::ParentDir);
    }
    if path.is_empty() || path.len() > MAX_PATH {
        return Err(EntryProblem::BadPath("empty or too long"));
    }
    if path.contains('\\') || path.chars().any(char::is_control) {
        return Err(EntryProblem::BadPath("backslash or control character"));
    }
    if path.split('/').any(|c| c.is_empty() || c == ".") {
        return Err(EntryProblem::BadPath("empty or `.` component"));
    }
    Ok(path.to_string())
}

/// A path in `paths` that is a directory of `path` (`a` for `a/b`) or has
/// `path` as a directory (`a/b` for `a`): one path cannot be both a file and
/// a directory.
pub(crate) fn path_conflict<S: Borrow<str> + Ord>(
    paths: &BTreeSet<S>,
    path: &str,
) -> Option<String> {
    let ancestor = path
        .match_indices('/')
        .map(|(i, _)| &path[..i])
        .find(|dir| paths.contains(*dir));
    if let Some(dir) = ancestor {
        return Some(dir.to_string());
    }
    let dir = format!("{path}/");
    paths
        .range::<str, _>((Bound::Included(dir.as_str()), Bound::Unbounded))
        .next()
        .map(Borrow::borrow)
        .filter(|p| p.starts_with(&dir))
        .map(str::to_string)
}

/// Only regular files may be in a package.
fn check_type(t: tar::EntryType) -> Result<(), EntryProblem> {
    use tar::EntryType as T;
    let kind = match t {
        T::Regular => return Ok(()),
        T::Symlink => "symbolic link",
        T::Link => "hard link",
        T::Char | T::Block => "device",
        T::Fifo => "fifo",
        T::Directory => "directory",
        T::GNULongName | T::GNULongLink | T::XHeader | T::XGlobalHeader => "extension header",
        _ => "special",
    };
    Err(EntryProblem::Type(kind))
}

/// A reader that counts the bytes it hands out (the decompressed length).
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}
