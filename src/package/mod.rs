//! Packages: what `pack` writes and every other command reads.
//!
//! A [`Package`] is a manifest plus the bytes of its objects. It comes from
//! an `.scxpkg` archive (tar + gzip, deterministic), from an
//! installed package directory ([`install`]), or from a bare `.bpf.o`, which
//! is treated as a package with one scheduler (named after the file) and one
//! variant, so a pipeline can check someone else's object without packing it.
//!
//! Opening an archive or a directory verifies it fully before anything else
//! sees it: the schema major, every entry's path and type, every object's
//! size and sha256, no entry missing and none extra (see
//! `docs/package-format.md`). Everything here but the file reads in
//! [`Package::open`] and [`Package::open_dir`] is pure.

mod archive;
pub mod draft;
pub mod install;
pub mod installed;
pub mod manifest;
pub mod pack;
pub mod setup;
pub mod signature;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use archive::Limits;
pub use install::InstallError;
pub use installed::{Installed, find_installed};
pub use manifest::{
    ManifestProblem, Mode, ObjectProvenance, PackageManifest, Parameter, Provenance, Scheduler,
    SourceManifest, Variant,
};
pub use pack::{PackError, PackOptions};
pub use signature::{Signature, SignatureError, Trust};

use crate::matching::VariantPolicy;
use crate::object::{ObjectError, Requirements};

/// Name of the manifest entry, the first entry of every package.
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// File name extension of packages.
pub const PACKAGE_EXTENSION: &str = "scxpkg";

/// Why a package could not be opened or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error("{path}: neither an .scxpkg package nor a BPF object (starts with {magic:02x?})")]
    Unrecognised { path: PathBuf, magic: Vec<u8> },
    #[error("{path}: {size} bytes, over the {limit}-byte limit of a package")]
    FileTooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{path}: corrupt package archive: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{path}: decompresses to more than {limit} bytes (the package limit): refusing a possible decompression bomb"
    )]
    TotalTooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: entry {entry:?}: {problem}")]
    Entry {
        path: PathBuf,
        entry: String,
        problem: EntryProblem,
    },
    #[error("{path}: no manifest.json: not an scxpack package")]
    NoManifest { path: PathBuf },
    #[error(
        "{path}: manifest schema {found} is newer than this scxpack reads (schema {supported}.x); upgrade scxpack to open it"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: String,
        supported: u32,
    },
    #[error("{path}: invalid manifest.json: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("{path}: invalid manifest.json: {problem}")]
    Invalid {
        path: PathBuf,
        problem: Box<ManifestProblem>,
    },
    #[error(transparent)]
    Signature(Box<SignatureError>),
    #[error(
        "{path}: this is a kernel ({what}), not a package or BPF object: give kernels after --kernel (it takes several: --kernel A B ...)"
    )]
    KernelNotPackage { path: PathBuf, what: &'static str },
}

impl From<SignatureError> for PackageError {
    fn from(e: SignatureError) -> Self {
        PackageError::Signature(Box::new(e))
    }
}

/// What kind of kernel `head` (a file's first bytes) starts, if it is one:
/// a bzImage, an executable ELF (a BPF object is relocatable), raw BTF, or a
/// `.deb`.
#[must_use]
pub fn kernel_kind(head: &[u8]) -> Option<&'static str> {
    use crate::kernel::source::{Format, sniff};
    const ET_REL: u16 = 1;
    match sniff(head)? {
        Format::BzImage => Some("a bzImage vmlinuz"),
        Format::Elf => {
            let e_type = head.get(16..18).map(|b| u16::from_le_bytes([b[0], b[1]]));
            (e_type != Some(ET_REL)).then_some("an ELF vmlinux")
        }
        Format::RawBtf => Some("raw BTF"),
        Format::Deb => Some("a .deb"),
        Format::Arm64 => Some("an arm64 kernel Image"),
    }
}

/// The first 4 KiB of a file (enough for [`kernel_kind`]).
fn read_head(file: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    file.take(4096).read_to_end(&mut head)?;
    Ok(head)
}

/// The rest of `file` after its head, appended to `bytes`, up to the
/// `size` `fstat` gave (and never past `limit`), in as few reads as the
/// kernel allows: one, for a file in the page cache. A file that shrank
/// meanwhile gives what it still holds.
fn read_rest(
    file: &mut std::fs::File,
    bytes: &mut Vec<u8>,
    size: u64,
    limit: u64,
) -> std::io::Result<()> {
    use std::io::Read;
    let start = bytes.len();
    let end = usize::try_from(size.min(limit)).unwrap_or(usize::MAX);
    if end <= start {
        return Ok(());
    }
    bytes.resize(end, 0);
    let mut filled = start;
    while filled < end {
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    Ok(())
}

/// What is wrong with one entry of a package.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("absolute path: entries must be relative to the package")]
    Absolute,
    #[error("path contains `..`: it would escape the package")]
    ParentDir,
    #[error("malformed path ({0})")]
    BadPath(&'static str),
    #[error("{0} entries are not allowed in a package (only regular files)")]
    Type(&'static str),
    #[error("duplicate entry")]
    Duplicate,
    #[error("the package also has {0:?}: one path cannot be both a file and a directory")]
    FileAndDirectory(String),
    #[error("mode {0:o} has the setuid, setgid or sticky bit: entries are plain 0644 files")]
    SpecialMode(u32),
    #[error("manifest.json must be the first entry")]
    ManifestNotFirst,
    #[error("more than {0} entries")]
    TooMany(usize),
    #[error("declares {size} bytes, over the {limit}-byte limit per entry")]
    TooLarge { size: u64, limit: u64 },
    #[error("sha256 is {actual}, the manifest says {expected}: the object was altered")]
    HashMismatch { expected: String, actual: String },
    #[error("{actual} bytes, the manifest says {expected}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("named by the manifest but missing from the package")]
    Missing,
    #[error("not named by the manifest")]
    Extra,
}

/// A package in memory: its manifest and object bytes by path.
#[derive(Debug, Clone)]
pub struct Package {
    pub manifest: PackageManifest,
    objects: BTreeMap<String, Vec<u8>>,
    /// `manifest.json` exactly as read, for packages read from an archive
    /// or a directory (installs copy it byte for byte).
    manifest_json: Option<Vec<u8>>,
    /// Made from a bare `.bpf.o` by [`Package::from_object_bytes`].
    bare: bool,
    /// The minisign signature of `manifest.json`, when one was found beside
    /// the archive or in the installed directory ([`signature`]).
    signature: Option<Signature>,
}

impl Package {
    /// Assembles a package from a manifest and its objects.
    #[must_use]
    pub fn new(manifest: PackageManifest, objects: BTreeMap<String, Vec<u8>>) -> Self {
        Package {
            manifest,
            objects,
            manifest_json: None,
            bare: false,
            signature: None,
        }
    }

    /// Opens a package: an `.scxpkg` archive or a bare `.bpf.o` (recognised
    /// by content), or an installed package directory (one holding
    /// `manifest.json`). Archives and directories are fully verified.
    pub fn open(path: &Path) -> Result<Self, PackageError> {
        Self::open_with_limits(path, &Limits::default())
    }

    /// As [`Package::open`], with other size limits.
    pub fn open_with_limits(path: &Path, limits: &Limits) -> Result<Self, PackageError> {
        Self::open_reusing(path, limits, |_| None)
    }

    /// As [`Package::open_with_limits`]; a bare object whose sha256 `known`
    /// recognises takes the requirements `known` gives for it instead of
    /// reading them from the object again (what `run` does with what an
    /// earlier start in the same boot read from the same bytes).
    pub fn open_reusing(
        path: &Path,
        limits: &Limits,
        known: impl FnOnce(&str) -> Option<Requirements>,
    ) -> Result<Self, PackageError> {
        let io = |source| PackageError::Io {
            path: path.to_path_buf(),
            source,
        };
        // One open for the checks and the read: a start under emulation
        // pays for every system call.
        let mut file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Self::open_dir(path);
        }
        let mut bytes = read_head(&mut file).map_err(io)?;
        if let Some(what) = kernel_kind(&bytes) {
            return Err(PackageError::KernelNotPackage {
                path: path.to_path_buf(),
                what,
            });
        }
        if meta.len() > limits.max_total {
            return Err(PackageError::FileTooLarge {
                path: path.to_path_buf(),
                size: meta.len(),
                limit: limits.max_total,
            });
        }
        read_rest(&mut file, &mut bytes, meta.len(), limits.max_total).map_err(io)?;
        if bytes.starts_with(b"\x7fELF") {
            return Self::from_object_parts(path, bytes, known);
        }
        if bytes.starts_with(&archive::GZIP_MAGIC) {
            let signature = signature::read_signature(&signature::detached_path(path))?;
            return Ok(Self::from_archive_bytes(path, &bytes, limits)?.with_signature(signature));
        }
        Err(PackageError::Unrecognised {
            path: path.to_path_buf(),
            magic: bytes.iter().take(8).copied().collect(),
        })
    }

    /// Reads and verifies an `.scxpkg` held in memory; `path` names it in errors.
    pub fn from_archive_bytes(
        path: &Path,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<Self, PackageError> {
        let contents = archive::read(bytes, limits).map_err(|e| {
            let path = path.to_path_buf();
            match e {
                archive::ReadError::Corrupt(reason) => PackageError::Corrupt { path, reason },
                archive::ReadError::TotalTooLarge(limit) => {
                    PackageError::TotalTooLarge { path, limit }
                }
                archive::ReadError::Entry(entry, problem) => PackageError::Entry {
                    path,
                    entry,
                    problem,
                },
                archive::ReadError::NoManifest => PackageError::NoManifest { path },
            }
        })?;
        Self::verified(path, contents.manifest, contents.entries)
    }

    /// Opens an installed package directory (`manifest.json` and the
    /// objects it names, nothing else) and verifies it like an archive.
    pub fn open_dir(dir: &Path) -> Result<Self, PackageError> {
        let limits = Limits::default();
        let manifest_path = dir.join(MANIFEST_ENTRY);
        let manifest = read_capped(&manifest_path, limits.max_manifest)?;
        let mut entries = BTreeMap::new();
        let mut total = manifest.len() as u64;
        for rel in walk_files(dir)? {
            if rel == MANIFEST_ENTRY || rel == signature::INSTALLED_SIGNATURE {
                continue;
            }
            let data = read_capped(&dir.join(&rel), limits.max_object)?;
            total += data.len() as u64;
            if total > limits.max_total {
                return Err(PackageError::TotalTooLarge {
                    path: dir.to_path_buf(),
                    limit: limits.max_total,
                });
            }
            entries.insert(rel, data);
        }
        let signature = signature::read_signature(&dir.join(signature::INSTALLED_SIGNATURE))?;
        Ok(Self::verified(dir, manifest, entries)?.with_signature(signature))
    }

    /// Checks a manifest against the entries beside it and builds the package.
    fn verified(
        path: &Path,
        manifest_json: Vec<u8>,
        mut entries: BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, PackageError> {
        let manifest = read_manifest(path, &manifest_json)?;
        let entry_err = |entry: &str, problem| PackageError::Entry {
            path: path.to_path_buf(),
            entry: entry.to_string(),
            problem,
        };
        let mut objects = BTreeMap::new();
        for variant in manifest.schedulers.iter().flat_map(|s| &s.variants) {
            if objects.contains_key(&variant.object) {
                continue;
            }
            let data = entries
                .remove(&variant.object)
                .ok_or_else(|| entry_err(&variant.object, EntryProblem::Missing))?;
            check_object(variant, &data).map_err(|p| entry_err(&variant.object, p))?;
            objects.insert(variant.object.clone(), data);
        }
        if let Some(extra) = entries.keys().next() {
            return Err(entry_err(extra, EntryProblem::Extra));
        }
        Ok(Package {
            manifest,
            objects,
            manifest_json: Some(manifest_json),
            bare: false,
            signature: None,
        })
    }

    /// Opens a bare `.bpf.o` as a one-scheduler, one-variant package.
    pub fn from_object(path: &Path) -> Result<Self, PackageError> {
        let bytes = std::fs::read(path).map_err(|source| PackageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_object_bytes(path, bytes)
    }

    /// As [`Package::from_object`], from bytes already read.
    pub fn from_object_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, PackageError> {
        Self::from_object_parts(path, bytes, |_| None)
    }

    /// As [`Package::from_object_bytes`], with the requirements `known`
    /// gives for the object's sha256, when it gives any.
    fn from_object_parts(
        path: &Path,
        bytes: Vec<u8>,
        known: impl FnOnce(&str) -> Option<Requirements>,
    ) -> Result<Self, PackageError> {
        let sha256 = sha256_hex(&bytes);
        let requirements = match known(&sha256) {
            Some(r) => r,
            None => Requirements::from_bytes(path, &bytes)?,
        };
        let file = path.file_name().map_or_else(
            || "object.bpf.o".to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        let name = file
            .strip_suffix(".bpf.o")
            .or_else(|| file.strip_suffix(".o"))
            .unwrap_or(&file)
            .to_string();
        let variant = Variant {
            name: "default".to_string(),
            object: file.clone(),
            sha256,
            size: bytes.len() as u64,
            description: format!("bare object {}", path.display()),
            min_kernel: None,
            policy: VariantPolicy::default(),
            requirements,
        };
        let manifest = PackageManifest {
            schema_version: manifest::SCHEMA_VERSION.to_string(),
            name: name.clone(),
            version: "0".to_string(),
            provenance: Provenance::default(),
            schedulers: vec![Scheduler {
                name,
                description: String::new(),
                parameters: Vec::new(),
                setup: Vec::new(),
                modes: Vec::new(),
                variants: vec![variant],
                user_half: None,
            }],
            proofs: Vec::new(),
        };
        Ok(Package {
            bare: true,
            ..Package::new(manifest, BTreeMap::from([(file, bytes)]))
        })
    }

    /// This package with `signature` (of its `manifest.json`) attached.
    #[must_use]
    pub fn with_signature(self, signature: Option<Signature>) -> Self {
        Package { signature, ..self }
    }

    /// The signature found with the package, if any.
    #[must_use]
    pub fn signature(&self) -> Option<&Signature> {
        self.signature.as_ref()
    }

    /// Checks the signature of `manifest.json` against `keys` under
    /// `policy` ([`signature::check`]); a bare object has no manifest to
    /// sign, so it counts as unsigned.
    pub fn check_signature(
        &self,
        keys: &signature::Keyring,
        policy: &signature::Policy,
    ) -> Result<Trust, SignatureError> {
        if self.bare && policy.require_signature {
            return Err(SignatureError::Unsigned {
                package: self.manifest.name.clone(),
                policy: policy.path_text(),
                expected: "a signed package (a bare .bpf.o has no manifest to sign: pack it with `scxpack pack`)".to_string(),
            });
        }
        // The manifest's bytes are only rendered when there is a signature
        // to check them against (a bare object's never are).
        signature::check(
            &self.manifest.name,
            || self.manifest_json(),
            self.signature.as_ref(),
            keys,
            policy,
        )
    }

    /// The bytes of `variant`'s object.
    #[must_use]
    pub fn object(&self, variant: &Variant) -> Option<&[u8]> {
        self.objects.get(&variant.object).map(Vec::as_slice)
    }

    /// Every object path and its bytes.
    pub fn objects(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.objects.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// True when the package came from a bare `.bpf.o` (no manifest of its own).
    #[must_use]
    pub fn is_bare_object(&self) -> bool {
        self.bare
    }

    /// `manifest.json` as stored: the bytes read, or the manifest as
    /// pretty JSON with a final newline (what `pack` writes).
    #[must_use]
    pub fn manifest_json(&self) -> Vec<u8> {
        self.manifest_json
            .clone()
            .unwrap_or_else(|| manifest_to_json(&self.manifest))
    }

    /// The deterministic `.scxpkg` bytes of this package; every entry gets
    /// `mtime` (`SOURCE_DATE_EPOCH`).
    pub fn to_archive(&self, mtime: u64) -> std::io::Result<Vec<u8>> {
        archive::write(&self.manifest_json(), &self.objects, mtime)
    }

    /// Total size of the objects, in bytes.
    #[must_use]
    pub fn objects_size(&self) -> u64 {
        self.objects.values().map(|v| v.len() as u64).sum()
    }

    /// Checks the manifest ([`PackageManifest::validate`], which every open
    /// of an archive or directory runs too) and that every object is present
    /// and matches its manifest entry.
    pub fn validate(&self) -> Result<(), String> {
        self.manifest.validate().map_err(|p| p.to_string())?;
        for v in self.manifest.schedulers.iter().flat_map(|s| &s.variants) {
            let data = self
                .objects
                .get(&v.object)
                .ok_or_else(|| format!("object {:?}: {}", v.object, EntryProblem::Missing))?;
            check_object(v, data).map_err(|p| format!("object {:?}: {p}", v.object))?;
        }
        Ok(())
    }
}

/// Pretty JSON with a final newline: how `manifest.json` is written.
pub(crate) fn manifest_to_json(manifest: &PackageManifest) -> Vec<u8> {
    let mut json = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
    json.push(b'\n');
    json
}

/// What every reader of a package does with `manifest.json` alone: parse
/// it (duplicate keys and a newer schema major refused) and validate it.
/// `path` names it in errors. (The fuzz target `manifest` drives this.)
pub fn read_manifest(path: &Path, json: &[u8]) -> Result<PackageManifest, PackageError> {
    let manifest = parse_manifest(path, json)?;
    manifest
        .validate()
        .map_err(|problem| PackageError::Invalid {
            path: path.to_path_buf(),
            problem: Box::new(problem),
        })?;
    Ok(manifest)
}

/// Parses `manifest.json`, refusing a newer schema major before reading
/// anything else (a newer schema may not deserialize at all).
fn parse_manifest(path: &Path, json: &[u8]) -> Result<PackageManifest, PackageError> {
    let bad = |reason: String| PackageError::Manifest {
        path: path.to_path_buf(),
        reason,
    };
    manifest::refuse_duplicate_keys(json).map_err(|e| bad(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| bad(e.to_string()))?;
    let version = value
        .get("schema_version")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| bad("no schema_version string".to_string()))?;
    let major = manifest::schema_major(version).ok_or_else(|| {
        bad(format!(
            "malformed schema_version {version:?} (expected MAJOR.MINOR)"
        ))
    })?;
    if major > manifest::SCHEMA_MAJOR {
        return Err(PackageError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version.to_string(),
            supported: manifest::SCHEMA_MAJOR,
        });
    }
    if major < manifest::SCHEMA_MAJOR {
        return Err(bad(format!(
            "schema {version} is older than any this scxpack reads ({}.x)",
            manifest::SCHEMA_MAJOR
        )));
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// Size, then sha256, of an object against its manifest entry.
fn check_object(variant: &Variant, data: &[u8]) -> Result<(), EntryProblem> {
    if data.len() as u64 != variant.size {
        return Err(EntryProblem::SizeMismatch {
            expected: variant.size,
            actual: data.len() as u64,
        });
    }
    let actual = sha256_hex(data);
    if !actual.eq_ignore_ascii_case(&variant.sha256) {
        return Err(EntryProblem::HashMismatch {
            expected: variant.sha256.clone(),
            actual,
        });
    }
    Ok(())
}

/// A name that can be a directory name and a command-line word.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), String> {
    manifest::check_name(what, name).map_err(|p| p.to_string())
}

/// Reads a regular file of at most `limit` bytes (checked before reading).
fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, PackageError> {
    let io = |source| PackageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(PackageError::Entry {
            path: path.to_path_buf(),
            entry: path.display().to_string(),
            problem: EntryProblem::Type(file_kind(&meta)),
        });
    }
    if meta.len() > limit {
        return Err(PackageError::Entry {
            path: path.to_path_buf(),
            entry: path.display().to_string(),
            problem: EntryProblem::TooLarge {
                size: meta.len(),
                limit,
            },
        });
    }
    std::fs::read(path).map_err(io)
}

/// Every file under `dir`, as `/`-separated relative paths; anything but
/// regular files and directories is refused.
fn walk_files(dir: &Path) -> Result<Vec<String>, PackageError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((abs, rel)) = stack.pop() {
        let io = |source| PackageError::Io {
            path: abs.clone(),
            source,
        };
        for entry in std::fs::read_dir(&abs).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::symlink_metadata(entry.path()).map_err(io)?;
            if meta.is_dir() {
                stack.push((entry.path(), child));
            } else if meta.file_type().is_file() {
                out.push(child);
            } else {
                return Err(PackageError::Entry {
                    path: dir.to_path_buf(),
                    entry: child,
                    problem: EntryProblem::Type(file_kind(&meta)),
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What kind of non-regular file `meta` describes.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_symlink() {
        "symbolic link"
    } else if t.is_dir() {
        "directory"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else {
        "special"
    }
}

/// Lower-case hex sha256 of `bytes`.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    lower_hex(&Sha256::digest(bytes))
}

/// `bytes` as lower-case hex, two digits each, without the formatting
/// machinery (what a start under emulation pays for on first use).
#[must_use]
pub fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests;
