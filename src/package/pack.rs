//! `pack`: a [`Package`] from scheduler sources.
//!
//! The input is one scheduler folder (holding its source manifest
//! `NAME.json`, see [`SourceManifest`]) or a folder of such folders
//! (`bpf-objects/`). Every object a manifest names is read and inspected
//! ([`Requirements::from_bytes`]); it must exist and hold a struct_ops map.
//! Provenance comes from the `objects.lock` in the source folder or its
//! parent (compiler, flags, per-object inputs and their hashes; an object
//! whose hash differs from its lock entry fails the pack, since the lock
//! would then describe another build), and from `vmlinux/vmlinux.h` beside
//! it. Nothing depends on the checkout path or the clock: the result only
//! changes with the inputs and `SOURCE_DATE_EPOCH`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::manifest::{self, ObjectProvenance, SourceVariant};
use super::{Package, PackageManifest, Parameter, Provenance, Scheduler, SourceManifest, Variant};
use crate::object::{ObjectError, Requirements};

/// The package name used when packing the whole `bpf-objects/` folder.
pub const DEFAULT_COLLECTION_NAME: &str = "scxpack-schedulers";
/// The lock file `bpf-objects/Makefile` writes.
pub const OBJECTS_LOCK: &str = "objects.lock";
/// Source manifest names tried in a scheduler folder, after `FOLDER.json`.
const OTHER_MANIFEST_NAMES: [&str; 2] = ["scheduler.json", "manifest.json"];

/// What `pack` takes besides the source folder.
#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// Package name (default: the folder name; `scxpack-schedulers` for `bpf-objects/`).
    pub name: Option<String>,
    /// Package version (default: this crate's version).
    pub version: Option<String>,
    /// `SOURCE_DATE_EPOCH`: recorded in the provenance and used as every
    /// entry's mtime.
    pub source_date_epoch: u64,
}

/// Why a pack failed.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no scheduler source manifest (FOLDER/FOLDER.json) here or in its subfolders")]
    NoSchedulers { path: PathBuf },
    #[error("{path}: invalid source manifest: {reason}")]
    SourceManifest { path: PathBuf, reason: String },
    #[error(
        "{manifest}: variant {variant:?} names object {object}, which does not exist (build it: make -C bpf-objects)"
    )]
    MissingObject {
        manifest: PathBuf,
        variant: String,
        object: PathBuf,
    },
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error("{object}: no struct_ops map: not a sched_ext scheduler")]
    NoStructOps { object: PathBuf },
    #[error("{path}: invalid lock file: {reason}")]
    Lock { path: PathBuf, reason: String },
    #[error(
        "{object}: sha256 {actual} but {lock} records {recorded}: the lock describes another build (rebuild: make -C bpf-objects)"
    )]
    LockMismatch {
        object: PathBuf,
        lock: PathBuf,
        recorded: String,
        actual: String,
    },
    #[error("{object}: not listed in {lock} (rebuild the lock: make -C bpf-objects lock)")]
    NotInLock { object: PathBuf, lock: PathBuf },
    #[error("{manifest}: parameter {name:?} is not a .rodata variable of {object}")]
    UnknownParameter {
        manifest: PathBuf,
        name: String,
        object: PathBuf,
    },
    #[error("{manifest}: setup step {step} of {object}: {problem}")]
    BadSetup {
        manifest: PathBuf,
        step: String,
        object: PathBuf,
        problem: String,
    },
    #[error("scheduler {name:?} is declared twice: {first} and {second}")]
    DuplicateScheduler {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("invalid package: {0}")]
    Invalid(String),
    #[error("SOURCE_DATE_EPOCH={0:?} is not a number of seconds")]
    Epoch(String),
    #[error(transparent)]
    Proof(#[from] crate::proof::ProofError),
    #[error(
        "{path}: no proof record for package {package:?} (the records name {found}); run `scxpack vmtest PKG --proof FILE` on this package"
    )]
    NoProofFor {
        path: PathBuf,
        package: String,
        found: String,
    },
    #[error(
        "{path}: the proof for {scheduler}/{variant} ran object sha256 {recorded}, this package has {packed} (or no such variant): rerun vmtest on this build"
    )]
    ProofMismatch {
        path: PathBuf,
        scheduler: String,
        variant: String,
        recorded: String,
        packed: String,
    },
}

/// Adds the proof records in `path` that are about `package` to its
/// manifest (`pack --proof`). Every record must name a scheduler of the
/// package, and one that loaded a variant must have run that variant's
/// exact object; records of other packages are left out. Returns how many
/// records were added.
pub fn embed_proofs(package: &mut Package, path: &Path) -> Result<usize, PackError> {
    let file = crate::proof::ProofFile::read(path)?;
    let name = package.manifest.name.clone();
    let records: Vec<_> = file
        .records
        .iter()
        .filter(|r| r.package == name)
        .cloned()
        .collect();
    if records.is_empty() {
        let found: std::collections::BTreeSet<&str> =
            file.records.iter().map(|r| r.package.as_str()).collect();
        return Err(PackError::NoProofFor {
            path: path.to_path_buf(),
            package: name,
            found: found.into_iter().collect::<Vec<_>>().join(", "),
        });
    }
    for r in &records {
        let variant = r.variant.as_deref().unwrap_or("");
        let sched = package.manifest.scheduler(&r.scheduler);
        let packed = sched
            .and_then(|s| s.variants.iter().find(|v| v.name == variant))
            .map(|v| v.sha256.as_str());
        let same_object = match &r.object_sha256 {
            None => true,
            Some(recorded) => packed == Some(recorded.as_str()),
        };
        if sched.is_none() || !same_object {
            return Err(PackError::ProofMismatch {
                path: path.to_path_buf(),
                scheduler: r.scheduler.clone(),
                variant: variant.to_string(),
                recorded: r.object_sha256.clone().unwrap_or_else(|| "-".into()),
                packed: packed.unwrap_or("-").to_string(),
            });
        }
    }
    let added = records.len();
    package.manifest.proofs.extend(records);
    Ok(added)
}

/// `SOURCE_DATE_EPOCH` from the environment; 0 when unset or empty.
pub fn source_date_epoch() -> Result<u64, PackError> {
    parse_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

/// A `SOURCE_DATE_EPOCH` value: seconds; 0 when absent or empty.
fn parse_epoch(value: Option<&str>) -> Result<u64, PackError> {
    match value.map(str::trim) {
        None | Some("") => Ok(0),
        Some(v) => v.parse().map_err(|_| PackError::Epoch(v.to_string())),
    }
}

/// Packs `source`: one scheduler folder, or a folder of scheduler folders.
pub fn pack(source: &Path, options: &PackOptions) -> Result<Package, PackError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PackError::Io { path, source }
    };
    let given = std::fs::canonicalize(source).map_err(io(source))?;
    // A manifest file packs that one scheduler (test fixtures keep several
    // manifests in one folder); a folder is searched as below.
    let manifest_file = given.is_file().then(|| given.clone());
    // Its default package name: the file name without `.manifest.json`/`.json`.
    let manifest_name = manifest_file.as_ref().and_then(|f| {
        let file = f.file_name()?.to_string_lossy().into_owned();
        let stem = file.strip_suffix(".json").unwrap_or(&file);
        Some(stem.strip_suffix(".manifest").unwrap_or(stem).to_string())
    });
    let dir = match &manifest_file {
        Some(file) => file.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => given,
    };
    let folder = dir
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (manifests, single) = if let Some(file) = manifest_file {
        (vec![file], true)
    } else if let Some(m) = source_manifest_in(&dir) {
        (vec![m], true)
    } else {
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io(&dir))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        let found = subdirs
            .iter()
            .filter_map(|d| source_manifest_in(d))
            .collect();
        (found, false)
    };
    if manifests.is_empty() {
        return Err(PackError::NoSchedulers { path: dir });
    }
    let lock = Lock::find(&dir)?;
    let mut provenance = Provenance {
        build_epoch: options.source_date_epoch,
        ..Provenance::default()
    };
    if let Some(lock) = &lock {
        provenance.compiler.clone_from(&lock.file.compiler);
        provenance.cflags.clone_from(&lock.file.cflags);
        provenance.strip.clone_from(&lock.file.strip);
    }
    let mut objects = BTreeMap::new();
    let mut schedulers: Vec<(Scheduler, PathBuf)> = Vec::new();
    for path in &manifests {
        let (scheduler, objs) = pack_scheduler(path, lock.as_ref(), &mut provenance)?;
        if let Some((_, first)) = schedulers.iter().find(|(s, _)| s.name == scheduler.name) {
            return Err(PackError::DuplicateScheduler {
                name: scheduler.name,
                first: first.clone(),
                second: path.clone(),
            });
        }
        objects.extend(objs);
        schedulers.push((scheduler, path.clone()));
    }
    schedulers.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    provenance.vmlinux_h_sha256 = vmlinux_h_sha256(&dir, &provenance)?;
    let name = options.name.clone().unwrap_or_else(|| {
        if let Some(file) = &manifest_name {
            file.clone()
        } else if !single && folder == "bpf-objects" {
            DEFAULT_COLLECTION_NAME.to_string()
        } else {
            folder
        }
    });
    let manifest = PackageManifest {
        schema_version: manifest::SCHEMA_VERSION.to_string(),
        name,
        version: options
            .version
            .clone()
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string()),
        provenance,
        schedulers: schedulers.into_iter().map(|(s, _)| s).collect(),
        proofs: Vec::new(),
    };
    let package = Package::new(manifest, objects);
    package.validate().map_err(PackError::Invalid)?;
    Ok(package)
}

/// The source manifest of a scheduler folder, if it has one.
fn source_manifest_in(dir: &Path) -> Option<PathBuf> {
    let own = dir
        .file_name()
        .map(|f| format!("{}.json", f.to_string_lossy()));
    own.iter()
        .map(String::as_str)
        .chain(OTHER_MANIFEST_NAMES)
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// One scheduler: its manifest entry and its objects by package path.
fn pack_scheduler(
    path: &Path,
    lock: Option<&Lock>,
    provenance: &mut Provenance,
) -> Result<(Scheduler, BTreeMap<String, Vec<u8>>), PackError> {
    let text = std::fs::read(path).map_err(|source| PackError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let src: SourceManifest =
        serde_json::from_slice(&text).map_err(|e| PackError::SourceManifest {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let invalid = |reason: String| PackError::SourceManifest {
        path: path.to_path_buf(),
        reason,
    };
    super::check_name("scheduler name", &src.name).map_err(invalid)?;
    if let Some(program) = &src.user_half {
        super::check_name("user-half program", program).map_err(invalid)?;
    }
    if src.variants.is_empty() {
        return Err(invalid("no variants".to_string()));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut objects = BTreeMap::new();
    let mut variants = Vec::new();
    let mut first_req: Option<(Requirements, PathBuf)> = None;
    for sv in &src.variants {
        let (variant, bytes, file) = pack_variant(path, base, &src.name, sv)?;
        if objects.contains_key(&variant.object) {
            return Err(invalid(format!(
                "two variants store the same object {}",
                variant.object
            )));
        }
        check_parameters(path, &src.parameters, &variant.requirements, &file)?;
        check_setup(path, &src.setup, &variant.requirements, &file, &bytes)?;
        if let Some(lock) = lock {
            let entry = lock.entry(&file, &bytes)?;
            provenance.objects.insert(
                variant.object.clone(),
                ObjectProvenance {
                    source: entry.source.clone(),
                    defines: entry.defines.clone(),
                },
            );
            for input in &entry.inputs {
                provenance
                    .sources
                    .insert(input.path.clone(), input.sha256.clone());
            }
        }
        if first_req.is_none() {
            first_req = Some((variant.requirements.clone(), file));
        }
        objects.insert(variant.object.clone(), bytes);
        variants.push(variant);
    }
    let (req, _) = first_req.expect("at least one variant");
    let parameters = src
        .parameters
        .iter()
        .map(|p| complete_parameter(p, &req))
        .collect();
    let scheduler = Scheduler {
        name: src.name.clone(),
        description: src.description.clone(),
        parameters,
        setup: src.setup.clone(),
        modes: src.modes.clone(),
        variants,
        user_half: src.user_half.clone(),
    };
    Ok((scheduler, objects))
}

/// Reads and inspects one variant's object.
fn pack_variant(
    manifest: &Path,
    base: &Path,
    scheduler: &str,
    sv: &SourceVariant,
) -> Result<(Variant, Vec<u8>, PathBuf), PackError> {
    let file = base.join(&sv.object);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PackError::MissingObject {
                manifest: manifest.to_path_buf(),
                variant: sv.name.clone(),
                object: file,
            });
        }
        Err(source) => return Err(PackError::Io { path: file, source }),
    };
    let requirements = Requirements::from_bytes(&file, &bytes)?;
    if requirements.struct_ops.is_empty() {
        return Err(PackError::NoStructOps { object: file });
    }
    let file_name = file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let variant = Variant {
        name: sv.name.clone(),
        object: format!("objects/{scheduler}/{file_name}"),
        sha256: super::sha256_hex(&bytes),
        size: bytes.len() as u64,
        description: sv.description.clone(),
        min_kernel: sv.min_kernel.clone(),
        policy: sv.policy.clone(),
        requirements,
    };
    Ok((variant, bytes, file))
}

/// Every declared parameter must be a `.rodata` variable of every variant.
fn check_parameters(
    manifest: &Path,
    parameters: &[Parameter],
    req: &Requirements,
    object: &Path,
) -> Result<(), PackError> {
    for p in parameters {
        if !req.parameters().any(|v| v.name == p.name) {
            return Err(PackError::UnknownParameter {
                manifest: manifest.to_path_buf(),
                name: p.name.clone(),
                object: object.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Fills a parameter's type and default from the object when the source
/// manifest leaves them out.
fn complete_parameter(p: &Parameter, req: &Requirements) -> Parameter {
    let mut p = p.clone();
    let Some(var) = req.parameters().find(|v| v.name == p.name) else {
        return p;
    };
    if p.type_name.is_empty() {
        p.type_name = var
            .type_name
            .split_whitespace()
            .filter(|w| !matches!(*w, "const" | "volatile"))
            .collect::<Vec<_>>()
            .join(" ");
    }
    if p.default.is_null() {
        if let Some(raw) = var.default {
            p.default = default_value(&p.type_name, raw, var.size);
        }
    }
    p
}

/// A compiled-in default as JSON: bool, signed or unsigned by the C type.
fn default_value(type_name: &str, raw: u64, size: u32) -> serde_json::Value {
    if type_name == "bool" || type_name == "_Bool" {
        return serde_json::Value::Bool(raw != 0);
    }
    let signed = type_name.starts_with('s') || type_name.starts_with("int");
    if signed && (1..8).contains(&size) {
        let shift = 64 - 8 * size;
        return serde_json::json!(((raw << shift) as i64) >> shift);
    }
    if signed {
        return serde_json::json!(raw as i64);
    }
    serde_json::json!(raw)
}

/// `vmlinux.h`'s sha256: as the lock records it, else hashed from
/// `vmlinux/vmlinux.h` in the source folder, its parent or grandparent.
fn vmlinux_h_sha256(dir: &Path, provenance: &Provenance) -> Result<Option<String>, PackError> {
    if let Some(h) = provenance.sources.get("vmlinux/vmlinux.h") {
        return Ok(Some(h.clone()));
    }
    for up in dir.ancestors().take(3) {
        let path = up.join("vmlinux/vmlinux.h");
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(|source| PackError::Io { path, source })?;
            return Ok(Some(super::sha256_hex(&bytes)));
        }
    }
    Ok(None)
}

/// `objects.lock` as `bpf-objects/lock.sh` writes it.
#[derive(Debug, Deserialize)]
struct LockFile {
    #[serde(default)]
    compiler: Option<String>,
    #[serde(default)]
    cflags: Option<String>,
    #[serde(default)]
    strip: Option<String>,
    #[serde(default)]
    objects: Vec<LockObject>,
}

#[derive(Debug, Deserialize)]
struct LockObject {
    object: String,
    sha256: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    defines: String,
    #[serde(default)]
    inputs: Vec<LockInput>,
}

#[derive(Debug, Deserialize)]
struct LockInput {
    path: String,
    sha256: String,
}

/// A lock file and the folder its object paths are relative to.
#[derive(Debug)]
struct Lock {
    path: PathBuf,
    base: PathBuf,
    file: LockFile,
}

impl Lock {
    /// The lock in `dir` or its parent.
    fn find(dir: &Path) -> Result<Option<Lock>, PackError> {
        for base in dir.ancestors().take(2) {
            let path = base.join(OBJECTS_LOCK);
            if !path.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|source| PackError::Io {
                path: path.clone(),
                source,
            })?;
            let file = serde_json::from_slice(&bytes).map_err(|e| PackError::Lock {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            return Ok(Some(Lock {
                path,
                base: base.to_path_buf(),
                file,
            }));
        }
        Ok(None)
    }

    /// The entry of `object` (an absolute path), checked against its bytes.
    fn entry(&self, object: &Path, bytes: &[u8]) -> Result<&LockObject, PackError> {
        let rel = std::fs::canonicalize(object)
            .ok()
            .and_then(|abs| {
                abs.strip_prefix(&self.base)
                    .ok()
                    .map(|r| r.to_string_lossy().into_owned())
            })
            .unwrap_or_default();
        let entry = self
            .file
            .objects
            .iter()
            .find(|o| o.object == rel)
            .ok_or_else(|| PackError::NotInLock {
                object: object.to_path_buf(),
                lock: self.path.clone(),
            })?;
        let actual = super::sha256_hex(bytes);
        if !actual.eq_ignore_ascii_case(&entry.sha256) {
            return Err(PackError::LockMismatch {
                object: object.to_path_buf(),
                lock: self.path.clone(),
                recorded: entry.sha256.clone(),
                actual,
            });
        }
        Ok(entry)
    }
}

/// Every setup step names what the object has: a global (a resizable
/// array for `resize`) or a map (for `max_entries`).
fn check_setup(
    manifest: &Path,
    steps: &[super::setup::SetupStep],
    req: &Requirements,
    file: &Path,
    bytes: &[u8],
) -> Result<(), PackError> {
    use super::setup::SetupTarget;
    if steps.is_empty() {
        return Ok(());
    }
    let globals = crate::object::Globals::from_bytes(file, bytes)?;
    for step in steps {
        let problem = match &step.target {
            SetupTarget::Set(name) => globals.get(name).err().map(|e| e.to_string()),
            SetupTarget::Resize(name) => match globals.get(name) {
                Err(e) => Some(e.to_string()),
                Ok(g) if !g.resizable => Some(format!(
                    "{name} ({} in {}) is not the last array of a .data.NAME/.bss.NAME/.rodata.NAME section",
                    g.type_name, g.section
                )),
                Ok(_) => None,
            },
            SetupTarget::MaxEntries(name) => {
                (!req.maps.iter().any(|m| m.name == *name)).then(|| {
                    let names = req.maps.iter().map(|m| m.name.as_str());
                    format!(
                        "no map {name} (near: {})",
                        crate::object::near_names(name, names)
                    )
                })
            }
        };
        if let Some(problem) = problem {
            return Err(PackError::BadSetup {
                manifest: manifest.to_path_buf(),
                step: step.to_string(),
                object: file.to_path_buf(),
                problem,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_c_type() {
        assert_eq!(default_value("bool", 1, 1), serde_json::json!(true));
        assert_eq!(default_value("u64", 5000, 8), serde_json::json!(5000));
        assert_eq!(default_value("s32", 0xffff_ffff, 4), serde_json::json!(-1));
        assert_eq!(default_value("s8", 0x80, 1), serde_json::json!(-128));
    }

    #[test]
    fn epoch_must_be_a_number() {
        assert_eq!(parse_epoch(None).unwrap(), 0);
        assert_eq!(parse_epoch(Some(" ")).unwrap(), 0);
        assert_eq!(parse_epoch(Some("1700000000")).unwrap(), 1_700_000_000);
        let err = parse_epoch(Some("12x")).unwrap_err().to_string();
        assert!(err.contains("\"12x\""), "{err}");
    }
}
