//! Manifests: the source manifest beside a scheduler's C file, and the
//! versioned package manifest (`manifest.json`) inside an `.scxpkg`.
//!
//! The package manifest is the contract between `pack` and every consumer
//! (`verify`, `install`, `check`, `run`): per variant it carries the object's
//! path, hash and size and the requirements `inspect` derived at pack time.
//! Its schema is versioned `MAJOR.MINOR`: a reader accepts any minor of the
//! major it knows and refuses a newer major.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::setup::{self, MAX_SETUP_STEPS, SetupProblem, SetupStep};
use crate::matching::VariantPolicy;
use crate::object::Requirements;

/// The schema this build writes.
/// 1.1 added `proofs`; 1.2 a scheduler's `setup` (older readers ignore it).
pub const SCHEMA_VERSION: &str = "1.2";
/// The newest schema major this build reads.
pub const SCHEMA_MAJOR: u32 = 1;

/// A load-time parameter: a `.rodata` variable the loader may set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    /// The `.rodata` variable name.
    pub name: String,
    /// `bool`, `u8`..`u64`, `s8`..`s64` (the C type of the variable). A
    /// source manifest may leave it out: `pack` then takes it from the
    /// object's BTF.
    #[serde(rename = "type", alias = "type_name", default)]
    pub type_name: String,
    /// Default as the object was compiled (JSON number or bool). A source
    /// manifest may leave it out: `pack` then reads it from `.rodata`.
    #[serde(default)]
    pub default: serde_json::Value,
    #[serde(alias = "meaning", alias = "doc", alias = "help", default)]
    pub description: String,
    /// Unit of the value, e.g. `us` (informative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// A named set of parameter values (`run NAME --mode M`): the names scx
/// uses are `auto`, `gaming`, `lowlatency`, `powersave` and `server`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mode {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Parameter name → value (JSON number, bool or string), checked against
    /// the scheduler's parameters by [`PackageManifest::validate`].
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

impl Mode {
    /// The mode's values as `KEY=VALUE` assignments (`None` for a value that
    /// is neither a number, a bool nor a string).
    #[must_use]
    pub fn assignments(&self) -> Option<Vec<(String, String)>> {
        self.params
            .iter()
            .map(|(k, v)| Some((k.clone(), value_text(v)?)))
            .collect()
    }
}

/// A JSON scalar as the text `--param` would take.
fn value_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A variant as the source manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceVariant {
    pub name: String,
    /// The object file, relative to the manifest.
    #[serde(alias = "file", alias = "path")]
    pub object: String,
    /// The C source it is built from, relative to the manifest.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default, alias = "notes")]
    pub description: String,
    /// Oldest kernel the author expects it to load on (informative; the
    /// matcher decides from the requirements).
    #[serde(default)]
    pub min_kernel: Option<String>,
    #[serde(flatten)]
    pub policy: VariantPolicy,
}

/// `bpf-objects/NAME/NAME.json`: a scheduler as its author describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceManifest {
    pub name: String,
    #[serde(default, alias = "summary")]
    pub description: String,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// What the loader does before load ([`super::setup`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<SetupStep>,
    /// Named parameter sets.
    #[serde(default)]
    pub modes: Vec<Mode>,
    /// Variants in preference order: the loader takes the first that loads.
    pub variants: Vec<SourceVariant>,
    /// The program that runs this scheduler's user-space half, when its
    /// decisions are made in user space (see [`Scheduler::user_half`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_half: Option<String>,
}

/// One variant inside a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    /// Path of the object inside the package.
    pub object: String,
    pub sha256: String,
    pub size: u64,
    #[serde(default)]
    pub description: String,
    /// Oldest kernel the author expects it to load on, from the source
    /// manifest (informative; the matcher decides from the requirements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
    #[serde(flatten)]
    pub policy: VariantPolicy,
    /// What `inspect` derived from the object at pack time.
    pub requirements: Requirements,
}

/// One scheduler inside a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduler {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// What the loader does before load (schema 1.2, [`super::setup`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<SetupStep>,
    /// Named parameter sets (`run NAME --mode M`); absent before modes existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modes: Vec<Mode>,
    /// Variants in preference order.
    pub variants: Vec<Variant>,
    /// The program (a command name such as `scxpack-relay`) that loads this
    /// scheduler and makes its decisions in user space. The BPF half alone
    /// schedules nothing of its own, so `run` refuses it and names this
    /// program instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_half: Option<String>,
}

/// Where a package's objects came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Compiler identity, e.g. `Debian clang version 16.0.6`.
    #[serde(default)]
    pub compiler: Option<String>,
    /// sha256 of the `vmlinux.h` the objects were built against.
    #[serde(default)]
    pub vmlinux_h_sha256: Option<String>,
    /// Source file → sha256.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
    /// `SOURCE_DATE_EPOCH` of the build (0 when unset).
    #[serde(default)]
    pub build_epoch: u64,
    /// Compiler flags as `objects.lock` records them (checkout path hidden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cflags: Option<String>,
    /// The strip step as `objects.lock` records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strip: Option<String>,
    /// Per object (path inside the package): its source and extra flags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub objects: BTreeMap<String, ObjectProvenance>,
}

/// How one object was built, from `objects.lock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectProvenance {
    /// The C source, relative to the repository.
    pub source: String,
    /// Extra compiler flags of this object (e.g. `-DSCX_BASELINE=619`).
    #[serde(default)]
    pub defines: String,
}

/// `manifest.json` of an `.scxpkg`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageManifest {
    pub schema_version: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub provenance: Provenance,
    pub schedulers: Vec<Scheduler>,
    /// What VM runs saw (`pack --proof`; schema 1.1): `check` marks the
    /// cells they cover as proven, or contradicted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proofs: Vec<crate::proof::ProofRecord>,
}

impl PackageManifest {
    /// The scheduler named `name`.
    #[must_use]
    pub fn scheduler(&self, name: &str) -> Option<&Scheduler> {
        self.schedulers.iter().find(|s| s.name == name)
    }

    /// The schema major, when the version string is well formed.
    #[must_use]
    pub fn schema_major(&self) -> Option<u32> {
        schema_major(&self.schema_version)
    }
}

/// The major of a `MAJOR.MINOR` schema version (`None` when malformed).
#[must_use]
pub fn schema_major(version: &str) -> Option<u32> {
    let (major, minor) = version.split_once('.')?;
    minor.parse::<u32>().ok()?;
    major.parse().ok()
}

/// Longest description (scheduler, variant or parameter), in bytes.
pub const MAX_DESCRIPTION: usize = 4096;
/// Longest short text field (`type`, `unit`, `min_kernel`, `sha256`), in bytes.
pub const MAX_SHORT_TEXT: usize = 128;
/// Longest parameter name (a C identifier), in bytes.
pub const MAX_PARAMETER_NAME: usize = 128;
/// Most schedulers in one package.
pub const MAX_SCHEDULERS: usize = 256;
/// Most variants of one scheduler.
pub const MAX_VARIANTS: usize = 64;
/// Most parameters of one scheduler.
pub const MAX_PARAMETERS: usize = 256;
/// Most modes of one scheduler.
pub const MAX_MODES: usize = 32;

/// What is wrong with a package manifest: names an installer cannot place,
/// duplicates, inconsistent objects, or a field past its bound. Text from the
/// manifest is quoted escaped and cut to 80 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestProblem {
    #[error(
        "{what} {} is not allowed: use 1-64 of A-Z a-z 0-9 . _ - + ~, starting with a letter or digit",
        quote(name)
    )]
    BadName { what: &'static str, name: String },
    #[error(
        "{where_}: parameter name {} is not a C identifier of at most {MAX_PARAMETER_NAME} bytes",
        quote(name)
    )]
    BadParameterName { where_: String, name: String },
    #[error("{where_}: {what} {} is listed twice", quote(name))]
    Duplicate {
        where_: String,
        what: &'static str,
        name: String,
    },
    #[error("{where_} mode {}: {problem}", quote(mode))]
    BadMode {
        where_: String,
        mode: String,
        problem: String,
    },
    #[error("the package holds no scheduler")]
    NoScheduler,
    #[error("scheduler {}: has no variant", quote(scheduler))]
    NoVariant { scheduler: String },
    #[error("{where_}: object path {}: {problem}", quote(object))]
    BadObjectPath {
        where_: String,
        object: String,
        problem: String,
    },
    #[error(
        "{where_}: no struct_ops map in {}: not a sched_ext scheduler",
        quote(object)
    )]
    NoStructOps { where_: String, object: String },
    #[error(
        "{where_}: object {} is also used by {other} with another size or sha256: one object has one size and hash",
        quote(object)
    )]
    ObjectMismatch {
        where_: String,
        other: String,
        object: String,
    },
    #[error("{where_}: {what} is {len} bytes, over the limit of {max}")]
    TooLong {
        where_: String,
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{where_}: {count} {what}, over the limit of {max}")]
    TooMany {
        where_: String,
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{where_}: {problem}")]
    Setup {
        where_: String,
        problem: SetupProblem,
    },
}

/// `text` as an escaped, quoted string of its first 80 characters (only
/// those are escaped: a hostile name may be megabytes long).
fn quote(text: &str) -> String {
    const SHOWN: usize = 80;
    match text.char_indices().nth(SHOWN) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes)", &text[..cut], text.len()),
    }
}

impl PackageManifest {
    /// Checks everything every reader relies on (`docs/package-format.md`,
    /// "Verification"): names usable as directory names, unique schedulers,
    /// variants and parameters, object paths that stay inside the package,
    /// one size and sha256 per object, a struct_ops map in every variant, and
    /// the bounds on counts and text lengths. Objects themselves are checked
    /// by the package.
    pub fn validate(&self) -> Result<(), ManifestProblem> {
        check_name("package name", &self.name)?;
        check_name("package version", &self.version)?;
        count(
            "package",
            "schedulers",
            self.schedulers.len(),
            MAX_SCHEDULERS,
        )?;
        if self.schedulers.is_empty() {
            return Err(ManifestProblem::NoScheduler);
        }
        let mut names = BTreeSet::new();
        let mut objects = ObjectUsers::default();
        for s in &self.schedulers {
            check_name("scheduler name", &s.name)?;
            if !names.insert(s.name.as_str()) {
                return Err(duplicate("package".to_string(), "scheduler", &s.name));
            }
            s.validate(&mut objects)?;
        }
        Ok(())
    }
}

/// The object paths seen so far, and the first variant using each.
#[derive(Default)]
struct ObjectUsers<'m> {
    paths: BTreeSet<&'m str>,
    first: BTreeMap<&'m str, (&'m Variant, String)>,
}

impl Scheduler {
    fn validate<'m>(&'m self, objects: &mut ObjectUsers<'m>) -> Result<(), ManifestProblem> {
        let here = format!("scheduler {}", quote(&self.name));
        text(&here, "description", &self.description, MAX_DESCRIPTION)?;
        count(&here, "parameters", self.parameters.len(), MAX_PARAMETERS)?;
        count(&here, "variants", self.variants.len(), MAX_VARIANTS)?;
        count(&here, "setup steps", self.setup.len(), MAX_SETUP_STEPS)?;
        setup::validate(&self.setup).map_err(|problem| ManifestProblem::Setup {
            where_: here.clone(),
            problem,
        })?;
        if let Some(program) = &self.user_half {
            check_name("user-half program", program)?;
        }
        if self.variants.is_empty() {
            return Err(ManifestProblem::NoVariant {
                scheduler: self.name.clone(),
            });
        }
        let mut params = BTreeSet::new();
        for p in &self.parameters {
            p.validate(&here)?;
            if !params.insert(p.name.as_str()) {
                return Err(duplicate(here, "parameter", &p.name));
            }
        }
        self.validate_modes(&here)?;
        let mut variants = BTreeSet::new();
        for v in &self.variants {
            check_name("variant name", &v.name)?;
            if !variants.insert(v.name.as_str()) {
                return Err(duplicate(here, "variant", &v.name));
            }
            let at = format!("{here} variant {}", quote(&v.name));
            v.validate(&at)?;
            check_shared_object(objects, v, at)?;
        }
        Ok(())
    }
}

impl Scheduler {
    /// The mode named `name`.
    #[must_use]
    pub fn mode(&self, name: &str) -> Option<&Mode> {
        self.modes.iter().find(|m| m.name == name)
    }

    /// Mode names: usable words, unique, each value a declared parameter
    /// that its type can hold.
    fn validate_modes(&self, here: &str) -> Result<(), ManifestProblem> {
        count(here, "modes", self.modes.len(), MAX_MODES)?;
        let mut names = BTreeSet::new();
        for m in &self.modes {
            check_name("mode name", &m.name)?;
            if !names.insert(m.name.as_str()) {
                return Err(duplicate(here.to_string(), "mode", &m.name));
            }
            let at = format!("{here} mode {}", quote(&m.name));
            text(&at, "description", &m.description, MAX_DESCRIPTION)?;
            count(&at, "parameters", m.params.len(), MAX_PARAMETERS)?;
            for (key, value) in &m.params {
                self.check_mode_value(here, m, key, value)?;
            }
        }
        Ok(())
    }

    fn check_mode_value(
        &self,
        here: &str,
        m: &Mode,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), ManifestProblem> {
        let bad = |problem: String| ManifestProblem::BadMode {
            where_: here.to_string(),
            mode: m.name.clone(),
            problem,
        };
        let Some(p) = self.parameters.iter().find(|p| p.name == key) else {
            return Err(bad(format!(
                "sets {}, which is not a parameter of this scheduler",
                quote(key)
            )));
        };
        let fits =
            value_text(value).is_some_and(|v| crate::loader::param_value_fits(&p.type_name, &v));
        if fits {
            Ok(())
        } else {
            let shown = quote(&value.to_string());
            Err(bad(format!(
                "{} is {}: cannot take {shown}",
                quote(key),
                p.type_name
            )))
        }
    }
}

impl Parameter {
    fn validate(&self, here: &str) -> Result<(), ManifestProblem> {
        let identifier = self.name.len() <= MAX_PARAMETER_NAME
            && self
                .name
                .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !identifier {
            return Err(ManifestProblem::BadParameterName {
                where_: here.to_string(),
                name: self.name.clone(),
            });
        }
        let at = format!("{here} parameter {}", quote(&self.name));
        text(&at, "description", &self.description, MAX_DESCRIPTION)?;
        text(&at, "type", &self.type_name, MAX_SHORT_TEXT)?;
        text(
            &at,
            "unit",
            self.unit.as_deref().unwrap_or(""),
            MAX_SHORT_TEXT,
        )
    }
}

impl Variant {
    fn validate(&self, at: &str) -> Result<(), ManifestProblem> {
        text(at, "description", &self.description, MAX_DESCRIPTION)?;
        text(at, "sha256", &self.sha256, MAX_SHORT_TEXT)?;
        let min_kernel = self.min_kernel.as_deref().unwrap_or("");
        text(at, "min_kernel", min_kernel, MAX_SHORT_TEXT)?;
        let bad_path = |problem: String| ManifestProblem::BadObjectPath {
            where_: at.to_string(),
            object: self.object.clone(),
            problem,
        };
        super::archive::check_path(self.object.as_bytes()).map_err(|p| bad_path(p.to_string()))?;
        if self.object == super::MANIFEST_ENTRY {
            return Err(bad_path("reserved for the manifest".to_string()));
        }
        if self.requirements.struct_ops.is_empty() {
            return Err(ManifestProblem::NoStructOps {
                where_: at.to_string(),
                object: self.object.clone(),
            });
        }
        Ok(())
    }
}

/// Variants sharing an object must agree on its size and sha256, and no
/// object path may be a directory of another (`objects/a`, `objects/a/b`).
fn check_shared_object<'m>(
    objects: &mut ObjectUsers<'m>,
    v: &'m Variant,
    at: String,
) -> Result<(), ManifestProblem> {
    if let Some((first, other)) = objects.first.get(v.object.as_str()) {
        if first.size != v.size || !first.sha256.eq_ignore_ascii_case(&v.sha256) {
            return Err(ManifestProblem::ObjectMismatch {
                where_: at,
                other: other.clone(),
                object: v.object.clone(),
            });
        }
        return Ok(());
    }
    if let Some(other) = super::archive::path_conflict(&objects.paths, &v.object) {
        return Err(ManifestProblem::BadObjectPath {
            where_: at,
            object: v.object.clone(),
            problem: format!("{other:?} is a file there: a path cannot be a file and a directory"),
        });
    }
    objects.paths.insert(&v.object);
    objects.first.insert(&v.object, (v, at));
    Ok(())
}

/// A name that can be a directory name and a command-line word.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), ManifestProblem> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~'));
    if ok {
        Ok(())
    } else {
        Err(ManifestProblem::BadName {
            what,
            name: name.to_string(),
        })
    }
}

fn duplicate(where_: String, what: &'static str, name: &str) -> ManifestProblem {
    ManifestProblem::Duplicate {
        where_,
        what,
        name: name.to_string(),
    }
}

/// Refuses `value` longer than `max` bytes.
fn text(where_: &str, what: &'static str, value: &str, max: usize) -> Result<(), ManifestProblem> {
    if value.len() > max {
        return Err(ManifestProblem::TooLong {
            where_: where_.to_string(),
            what,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

/// Refuses more than `max` items.
fn count(where_: &str, what: &'static str, n: usize, max: usize) -> Result<(), ManifestProblem> {
    if n > max {
        return Err(ManifestProblem::TooMany {
            where_: where_.to_string(),
            what,
            count: n,
            max,
        });
    }
    Ok(())
}

/// Refuses JSON in which an object repeats a key (serde_json keeps the last
/// one silently, so a manifest could say two names). Walks the whole
/// document once; nesting is bounded by serde_json's recursion limit.
pub(crate) fn refuse_duplicate_keys(json: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<UniqueKeys>(json).map(|_| ())
}

/// Deserializes any JSON value, failing on a repeated key in any object.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut keys = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if keys.contains(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key {}: each key may appear once",
                    quote(&key)
                )));
            }
            map.next_value::<UniqueKeys>()?;
            keys.insert(key);
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
}

impl crate::matching::Candidate for Variant {
    fn name(&self) -> &str {
        &self.name
    }

    fn requirements(&self) -> &Requirements {
        &self.requirements
    }

    fn policy(&self) -> &VariantPolicy {
        &self.policy
    }
}
