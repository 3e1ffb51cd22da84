//! A BTF cache, so that an offline `check` over many kernels does not
//! decompress every image every time.
//!
//! An entry holds what [`read_kernel_bytes`] returned for one kernel file,
//! keyed by the SHA-256 of the file's CONTENTS (not its name, size or mtime:
//! ~10 ms per 14 MB image, and a copy with preserved mtime or an image rebuilt
//! in place can never hit a stale entry). Layout: one JSON header line (format,
//! kind, release, BTF length and SHA-256), then the raw BTF. Writes go to a
//! temporary file renamed into place, so readers never see half an entry; an
//! entry that fails any check is ignored and rewritten.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{BTF_MAGIC_LE, KernelImage, SourceError, SourceKind, read_input, read_kernel_bytes};

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

/// The per-user cache: `$XDG_CACHE_HOME/scxpack/btf`, else
/// `$HOME/.cache/scxpack/btf` (relative values are ignored, as the XDG spec says).
#[must_use]
pub fn default_cache_dir() -> Option<PathBuf> {
    let absolute = |var| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base =
        absolute("XDG_CACHE_HOME").or_else(|| absolute("HOME").map(|home| home.join(".cache")))?;
    Some(base.join("scxpack").join("btf"))
}

/// [`read_kernel_file`](super::read_kernel_file) through the cache in
/// `cache_dir`; `None` reads without a cache (pass [`default_cache_dir`] for
/// the per-user one).
pub fn read_kernel_cached(
    path: &Path,
    cache_dir: Option<&Path>,
) -> Result<KernelImage, SourceError> {
    read_kernel_cached_with_outcome(path, cache_dir).map(|(image, _)| image)
}

/// [`read_kernel_cached`], also telling whether the cache was hit or written.
/// A cache that cannot be written never fails the read.
pub fn read_kernel_cached_with_outcome(
    path: &Path,
    cache_dir: Option<&Path>,
) -> Result<(KernelImage, CacheOutcome), SourceError> {
    let bytes = read_input(path)?;
    let Some(dir) = cache_dir else {
        return Ok((read_kernel_bytes(path, &bytes)?, CacheOutcome::Disabled));
    };
    let cache = BtfCache::new(dir.to_path_buf());
    let key = BtfCache::key(&bytes);
    if let Some(image) = cache.load(&key, path) {
        return Ok((image, CacheOutcome::Hit));
    }
    let image = read_kernel_bytes(path, &bytes)?;
    let outcome = match cache.store(&key, &image) {
        Ok(()) => CacheOutcome::Stored,
        Err(e) => CacheOutcome::StoreFailed {
            reason: e.to_string(),
        },
    };
    Ok((image, outcome))
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
    pub fn load(&self, key: &str, path: &Path) -> Option<KernelImage> {
        let entry = fs::read(self.entry_path(key)).ok()?;
        let (header, btf) = parse_entry(&entry)?;
        Some(KernelImage {
            path: path.to_path_buf(),
            kind: header.kind,
            release: header.release,
            btf: btf.to_vec(),
        })
    }

    /// Writes the entry for `key` atomically (temporary file, then rename).
    pub fn store(&self, key: &str, image: &KernelImage) -> Result<(), SourceError> {
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
