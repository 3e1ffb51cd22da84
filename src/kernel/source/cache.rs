//! A BTF cache, so that an offline `check` over many kernels does not
//! decompress every image every time.
//!
//! An entry holds what [`read_kernel_bytes`](super::read_kernel_bytes) returned for one kernel file,
//! keyed by the SHA-256 of the file's CONTENTS (not its name, size or mtime:
//! ~10 ms per 14 MB image, and a copy with preserved mtime or an image rebuilt
//! in place can never hit a stale entry). Layout: one JSON header line (format,
//! kind, release, BTF length and SHA-256), then the raw BTF. Writes go to a
//! temporary file renamed into place, so readers never see half an entry; an
//! entry that fails any check is ignored and rewritten.
//!
//! Where it lives ([`cache_choice`]): `$XDG_CACHE_HOME/scxpack/btf`, else
//! `$HOME/.cache/scxpack/btf`, only when that base directory already exists
//! (a build user's `HOME=/nonexistent` is never created); off with
//! `SCXPACK_NO_CACHE=1` or `--no-cache`. It stays under
//! [`DEFAULT_MAX_BYTES`]: each store evicts the least recently used entries
//! (a hit refreshes an entry's mtime); `scxpack cache prune` empties it.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{BTF_MAGIC_LE, KernelBtf, SourceError, SourceKind, read_input};

/// Version of the entry layout and of the extraction it caches; bump it when
/// either changes so old entries are simply not found.
const CACHE_FORMAT: u32 = 1;
/// The header line is never longer than this.
const MAX_HEADER: usize = 64 << 10;

/// Unique suffixes for temporary files written by this process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A directory of cached BTF extractions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfCache {
    dir: PathBuf,
}

/// What [`read_kernel_cached_with_outcome`] did with the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid entry was found; nothing was decompressed.
    Hit,
    /// The kernel was read and a new entry written (a corrupt one replaced).
    Stored,
    /// The kernel was read but the entry could not be written.
    StoreFailed { reason: String },
    /// No cache directory was given.
    Disabled,
}

/// The header line of an entry.
#[derive(Debug, Serialize, Deserialize)]
struct EntryHeader {
    format: u32,
    kind: SourceKind,
    release: Option<String>,
    btf_len: u64,
    btf_sha256: String,
}

/// The environment variable that turns the cache off (any value but empty or `0`).
pub const NO_CACHE_ENV: &str = "SCXPACK_NO_CACHE";
/// The cache's size bound: stores evict least recently used entries past it.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// The per-user cache directory ([`cache_choice`]), or `None` when off.
#[must_use]
pub fn default_cache_dir() -> Option<PathBuf> {
    cache_choice().ok()
}

/// The per-user cache: `$XDG_CACHE_HOME/scxpack/btf`, else
/// `$HOME/.cache/scxpack/btf`, when that base (`$XDG_CACHE_HOME`, or
/// `$HOME`) is an existing directory; relative values are ignored, as the
/// XDG spec says. `Err` says why there is no cache.
pub fn cache_choice() -> Result<PathBuf, String> {
    if std::env::var_os(NO_CACHE_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        return Err(format!("{NO_CACHE_ENV} is set"));
    }
    let absolute = |var| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = match (absolute("XDG_CACHE_HOME"), absolute("HOME")) {
        (Some(xdg), _) if xdg.is_dir() => xdg,
        (Some(xdg), _) => {
            return Err(format!("XDG_CACHE_HOME={} does not exist", xdg.display()));
        }
        (None, Some(home)) if home.is_dir() => home.join(".cache"),
        (None, Some(home)) => return Err(format!("HOME={} does not exist", home.display())),
        (None, None) => return Err("neither XDG_CACHE_HOME nor HOME is set".to_string()),
    };
    Ok(base.join("scxpack").join("btf"))
}

/// What [`BtfCache::prune`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    pub removed: usize,
    pub removed_bytes: u64,
    pub kept: usize,
    pub kept_bytes: u64,
}

/// [`read_kernel_file`](super::read_kernel_file) through the cache in
/// `cache_dir`; `None` reads without a cache (pass [`default_cache_dir`] for
/// the per-user one).
pub fn read_kernel_cached(path: &Path, cache_dir: Option<&Path>) -> Result<KernelBtf, SourceError> {
    read_kernel_cached_with_outcome(path, cache_dir).map(|(image, _)| image)
}

/// [`read_kernel_cached`], also telling whether the cache was hit or written.
/// A cache that cannot be written never fails the read.
pub fn read_kernel_cached_with_outcome(
    path: &Path,
    cache_dir: Option<&Path>,
) -> Result<(KernelBtf, CacheOutcome), SourceError> {
    let Some(dir) = cache_dir else {
        return Ok((super::read_kernel_file(path)?, CacheOutcome::Disabled));
    };
    let cache = BtfCache::new(dir.to_path_buf());
    let (key, before) = key_of_file(path)?;
    if let Some(image) = cache.load(&key, path) {
        return Ok((image, CacheOutcome::Hit));
    }
    let image = super::read_kernel_file(path)?;
    if file_stamp(path).ok() != Some(before) {
        // Changed while it was read: the BTF may not be the hashed content's.
        return Ok((image, CacheOutcome::Disabled));
    }
    let outcome = match cache.store(&key, &image) {
        Ok(()) => {
            // Over the bound, the least recently used entries go; a failure
            // to remove one never fails the read.
            let _ = cache.prune(DEFAULT_MAX_BYTES);
            CacheOutcome::Stored
        }
        Err(e) => CacheOutcome::StoreFailed {
            reason: e.to_string(),
        },
    };
    Ok((image, outcome))
}

/// Size and modification time of a file: what must not change between
/// hashing it and reading its BTF.
type Stamp = (u64, Option<std::time::SystemTime>);

fn file_stamp(path: &Path) -> std::io::Result<Stamp> {
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.len(), metadata.modified().ok()))
}

/// The cache key of a file's content ([`BtfCache::key`]), hashed in chunks
/// so the file is never held whole, and the file's stamp before hashing.
/// Errors as [`read_kernel_file`](super::read_kernel_file) does for a file
/// it cannot read.
fn key_of_file(path: &Path) -> Result<(String, Stamp), SourceError> {
    let io_err = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let stamp = file_stamp(path).map_err(io_err)?;
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let metadata = file.metadata().map_err(io_err)?;
    if !metadata.is_file() || metadata.len() > super::MAX_INPUT {
        // Devices, pipes and oversized files get read_input's own error.
        let bytes = read_input(path)?;
        return Ok((BtfCache::key(&bytes), stamp));
    }
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        match std::io::Read::read(&mut file, &mut chunk) {
            Ok(0) => return Ok((format!("{:x}", hasher.finalize()), stamp)),
            Ok(n) => hasher.update(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e)),
        }
    }
}

impl BtfCache {
    /// A cache in `dir` (created on the first store).
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The cache directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key of a kernel file: the hex SHA-256 of its contents.
    #[must_use]
    pub fn key(contents: &[u8]) -> String {
        format!("{:x}", Sha256::digest(contents))
    }

    /// Where the entry for `key` lives.
    #[must_use]
    pub fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("v{CACHE_FORMAT}-{key}.btf"))
    }

    /// The cached image for `key`, reported as read from `path`; `None` if
    /// there is no entry or it fails any check.
    #[must_use]
    pub fn load(&self, key: &str, path: &Path) -> Option<KernelBtf> {
        let entry_path = self.entry_path(key);
        let entry = fs::read(&entry_path).ok()?;
        let (header, btf) = parse_entry(&entry)?;
        // Recently used: kept longest by `prune`.
        if let Ok(f) = fs::File::options().write(true).open(&entry_path) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        Some(KernelBtf {
            path: path.to_path_buf(),
            kind: header.kind,
            release: header.release,
            btf: btf.to_vec(),
        })
    }

    /// Writes the entry for `key` atomically (temporary file, then rename).
    pub fn store(&self, key: &str, image: &KernelBtf) -> Result<(), SourceError> {
        let header = EntryHeader {
            format: CACHE_FORMAT,
            kind: image.kind.clone(),
            release: image.release.clone(),
            btf_len: image.btf.len() as u64,
            btf_sha256: format!("{:x}", Sha256::digest(&image.btf)),
        };
        let target = self.entry_path(key);
        let tmp = self.dir.join(format!(
            ".v{CACHE_FORMAT}-{key}.{}.{}.tmp",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = serde_json::to_string(&header)
            .map_err(std::io::Error::other)
            .and_then(|line| {
                fs::create_dir_all(&self.dir)?;
                write_entry(&tmp, &line, &image.btf)
            })
            .and_then(|()| fs::rename(&tmp, &target));
        written.map_err(|source| {
            let _ = fs::remove_file(&tmp);
            SourceError::Io {
                path: target,
                source,
            }
        })
    }
}

impl BtfCache {
    /// Removes the least recently used entries (by mtime) until the rest
    /// take at most `max_bytes`, and temporary files older than an hour (left
    /// by a killed writer). `prune(0)` empties the cache. A missing
    /// directory is an empty cache.
    pub fn prune(&self, max_bytes: u64) -> Result<Pruned, SourceError> {
        let io = |source| SourceError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut entries = Vec::new();
        let read = match fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Pruned::default()),
            Err(e) => return Err(io(e)),
        };
        for e in read {
            let e = e.map_err(io)?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(meta) = e.metadata() else { continue };
            let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            let ext = Path::new(&name).extension().and_then(|e| e.to_str());
            if name.starts_with(".v") && ext == Some("tmp") {
                let old = mtime.elapsed().is_ok_and(|a| a.as_secs() > 3600);
                if old {
                    let _ = fs::remove_file(e.path());
                }
            } else if name.starts_with('v') && ext == Some("btf") {
                entries.push((mtime, meta.len(), e.path()));
            }
        }
        // Newest first: keep while under the bound.
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        let mut pruned = Pruned::default();
        for (_, len, path) in entries {
            if pruned.kept_bytes + len <= max_bytes {
                pruned.kept += 1;
                pruned.kept_bytes += len;
                continue;
            }
            fs::remove_file(&path).map_err(|source| SourceError::Io { path, source })?;
            pruned.removed += 1;
            pruned.removed_bytes += len;
        }
        Ok(pruned)
    }
}

fn write_entry(tmp: &Path, header: &str, btf: &[u8]) -> std::io::Result<()> {
    let mut file = fs::File::create(tmp)?;
    file.write_all(header.as_bytes())?;
    file.write_all(b"\n")?;
    file.write_all(btf)
}

/// Splits and checks an entry: known format, exact length, matching hash, magic.
fn parse_entry(entry: &[u8]) -> Option<(EntryHeader, &[u8])> {
    let head = entry.get(..MAX_HEADER).unwrap_or(entry);
    let newline = head.iter().position(|&b| b == b'\n')?;
    let header: EntryHeader = serde_json::from_slice(&entry[..newline]).ok()?;
    let btf = entry.get(newline + 1..)?;
    let valid = header.format == CACHE_FORMAT
        && header.btf_len == btf.len() as u64
        && btf.starts_with(&BTF_MAGIC_LE)
        && header.btf_sha256 == format!("{:x}", Sha256::digest(btf));
    valid.then_some((header, btf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(tag: u8) -> KernelBtf {
        let mut btf = BTF_MAGIC_LE.to_vec();
        btf.extend(std::iter::repeat_n(tag, 1000));
        KernelBtf {
            path: PathBuf::from("k"),
            kind: SourceKind::RawBtf,
            release: None,
            btf,
        }
    }

    #[test]
    fn prune_keeps_the_most_recently_used_within_the_bound() {
        let dir = std::env::temp_dir().join(format!("scxpack-prune-{}", std::process::id()));
        let cache = BtfCache::new(dir.clone());
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            cache.store(key, &image(i as u8)).unwrap();
            let age = std::time::Duration::from_secs(100 * (3 - i as u64));
            let f = fs::File::options()
                .write(true)
                .open(cache.entry_path(key))
                .unwrap();
            f.set_modified(std::time::SystemTime::now() - age).unwrap();
        }
        // Using "a" makes it the most recent.
        assert!(cache.load("a", Path::new("k")).is_some());
        let one = fs::metadata(cache.entry_path("a")).unwrap().len();
        let p = cache.prune(2 * one).unwrap();
        assert_eq!((p.kept, p.removed), (2, 1), "{p:?}");
        assert!(cache.load("a", Path::new("k")).is_some());
        assert!(cache.load("c", Path::new("k")).is_some());
        assert!(
            cache.load("b", Path::new("k")).is_none(),
            "the oldest stays"
        );
        assert_eq!(cache.prune(0).unwrap().kept, 0);
        let _ = fs::remove_dir_all(&dir);
    }
}
