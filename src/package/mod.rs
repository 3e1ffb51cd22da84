//! Packages: what `pack` writes and every other command reads.
//!
//! A [`Package`] is a manifest plus the bytes of its objects. It comes from
//! an `.scxpkg` archive or from a bare `.bpf.o`, which is treated as a
//! package with one scheduler (named after the file) and one variant, so a
//! pipeline can check someone else's object without packing it.

pub mod manifest;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use manifest::{PackageManifest, Parameter, Provenance, Scheduler, SourceManifest, Variant};

use crate::matching::VariantPolicy;
use crate::object::{ObjectError, Requirements};

/// Why a package could not be opened.
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
}

/// A package in memory: its manifest and object bytes by path.
#[derive(Debug, Clone)]
pub struct Package {
    pub manifest: PackageManifest,
    objects: BTreeMap<String, Vec<u8>>,
}

impl Package {
    /// Assembles a package from a manifest and its objects.
    #[must_use]
    pub fn new(manifest: PackageManifest, objects: BTreeMap<String, Vec<u8>>) -> Self {
        Package { manifest, objects }
    }

    /// Opens a package file: an `.scxpkg` archive or a bare `.bpf.o`,
    /// recognised by content.
    pub fn open(path: &Path) -> Result<Self, PackageError> {
        let bytes = std::fs::read(path).map_err(|source| PackageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if bytes.starts_with(b"\x7fELF") {
            return Self::from_object_bytes(path, bytes);
        }
        Err(PackageError::Unrecognised {
            path: path.to_path_buf(),
            magic: bytes.iter().take(8).copied().collect(),
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
        let requirements = Requirements::from_bytes(path, &bytes)?;
        let file = path
            .file_name()
            .map_or_else(|| "object.bpf.o".to_string(), |f| f.to_string_lossy().into_owned());
        let name = file
            .strip_suffix(".bpf.o")
            .or_else(|| file.strip_suffix(".o"))
            .unwrap_or(&file)
            .to_string();
        let variant = Variant {
            name: "default".to_string(),
            object: file.clone(),
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
            description: format!("bare object {}", path.display()),
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
                variants: vec![variant],
            }],
        };
        Ok(Package::new(manifest, BTreeMap::from([(file, bytes)])))
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
}

/// Lower-case hex sha256 of `bytes`.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
        s
    })
}
