//! Manifests: the source manifest beside a scheduler's C file, and the
//! versioned package manifest (`manifest.json`) inside an `.scxpkg`.
//!
//! The package manifest is the contract between `pack` and every consumer
//! (`verify`, `install`, `check`, `run`): per variant it carries the object's
//! path, hash and size and the requirements `inspect` derived at pack time.
//! Its schema is versioned `MAJOR.MINOR`: a reader accepts any minor of the
//! major it knows and refuses a newer major.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::matching::VariantPolicy;
use crate::object::Requirements;

/// The schema this build writes.
/// 1.1 added `proofs`.
pub const SCHEMA_VERSION: &str = "1.1";
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
    /// Variants in preference order: the loader takes the first that loads.
    pub variants: Vec<SourceVariant>,
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
    /// Variants in preference order.
    pub variants: Vec<Variant>,
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
