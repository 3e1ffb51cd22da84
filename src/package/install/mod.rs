//! Installing and removing packages: the administrator's `scxpack install`
//! and `uninstall`, and the distribution build's `install --vendor`.
//!
//! Every package lives in its own directory, `packages/NAME/` (its
//! `manifest.json` byte for byte and its objects, as in the archive), in
//! one of the two locations of [`layout`]; there is no shared index, so
//! files a package manager owns are never rewritten by another package.
//!
//! An install verifies the package, writes it under
//! `packages/.staging/NAME.PID`, fsyncs every file and directory, verifies
//! the staged copy, then puts it in place in one step: `renameat2` with
//! `RENAME_NOREPLACE` for a new package, `RENAME_EXCHANGE` to swap an
//! upgrade in (the previous version lands in the staging directory and is
//! removed). Killed at any point, either the previous or the new version is
//! in force, complete; what is left under `.staging/` is removed by the
//! next install or uninstall.
//!
//! The administrator's installs take [`layout::INSTALL_LOCK`] and only ever
//! create, replace or remove directories in [`layout::ADMIN_PACKAGES`]; the
//! distribution's [`layout::VENDOR_PACKAGES`] is read, never written. A
//! `--vendor` install writes a new `usr/lib/scxpack/packages/NAME` into a
//! build tree (`--root DESTDIR`): it never replaces anything and takes no
//! lock (the build tree is the build's own).
//!
//! Readers ([`crate::package::installed`]) take no lock: each package
//! directory appears and is replaced in one rename.

mod fsops;
pub mod layout;
mod lock;

use std::path::{Path, PathBuf};

use super::installed::{Installed, searched};
use super::{Package, PackageError};
pub use fsops::write_atomically;
use fsops::{
    exchange, make_dirs, remove_if_empty, remove_tree, rename, rename_noreplace, sync_dir,
    write_file,
};
pub use layout::Location;
use lock::LockGuard;

/// Why an install, uninstall or lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("{package}: cannot install: {reason}")]
    Invalid { package: String, reason: String },
    #[error(
        "{lock}: another scxpack install or uninstall is running{owner}; wait for it to finish"
    )]
    Locked { lock: PathBuf, owner: String },
    #[error(
        "scheduler {scheduler:?} is already installed by package {other}; uninstall that first (scxpack uninstall {other})"
    )]
    Conflict { scheduler: String, other: String },
    #[error(
        "{name} {version} is already installed with different content: give the new package another version, or uninstall {name} first"
    )]
    SameVersionDiffers { name: String, version: String },
    #[error(
        "{dir} already exists and --vendor never replaces anything: start from an empty build tree"
    )]
    VendorExists { dir: PathBuf },
    #[error("no package named {name:?} installed by scxpack under {lib}{hint}")]
    NotInstalled {
        name: String,
        lib: PathBuf,
        hint: String,
    },
    #[error(
        "no installed package provides scheduler {scheduler:?} (searched {searched}; install one: scxpack install PKG)"
    )]
    NoScheduler { scheduler: String, searched: String },
    #[error("installed package {name} is damaged (reinstall it): {source}")]
    Damaged { name: String, source: PackageError },
    #[error(
        "{path} exists and is not a package directory: scxpack did not make it and will not replace it; remove it first"
    )]
    InTheWay { path: PathBuf },
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    pub name: String,
    pub version: String,
    /// The version it replaced, if any.
    pub previous: Option<String>,
    /// True when this exact package was already installed and intact.
    pub unchanged: bool,
    /// The package directory.
    pub path: PathBuf,
    /// Bytes installed (manifest and objects).
    pub bytes: u64,
}

/// What [`uninstall`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub name: String,
    pub version: String,
    pub schedulers: Vec<String>,
}

/// Installs `package` under `root` in `location` (see the module
/// documentation).
pub fn install(
    root: &Path,
    package: &Package,
    location: Location,
) -> Result<InstallReport, InstallError> {
    install_with_hook(root, package, location, &mut || {})
}

/// [`install`], calling `staged` once the new version is complete in the
/// staging directory and not yet in force (tests kill the process there).
#[doc(hidden)]
pub fn install_with_hook(
    root: &Path,
    package: &Package,
    location: Location,
    staged: &mut dyn FnMut(),
) -> Result<InstallReport, InstallError> {
    let m = &package.manifest;
    package.validate().map_err(|reason| InstallError::Invalid {
        package: m.name.clone(),
        reason,
    })?;
    let packages = location.packages_dir(root);
    let _lock = match location {
        Location::Admin => Some(lock_admin(root)?),
        Location::Vendor => None,
    };
    make_dirs(&packages)?;
    let staging_dir = packages.join(layout::STAGING_DIR);
    if location == Location::Admin {
        remove_tree(&staging_dir)?;
    }
    if location == Location::Admin {
        check_conflicts(&packages, package)?;
    }

    let manifest_json = package.manifest_json();
    let target = packages.join(&m.name);
    let report = InstallReport {
        name: m.name.clone(),
        version: m.version.clone(),
        previous: None,
        unchanged: false,
        path: target.clone(),
        bytes: manifest_json.len() as u64 + package.objects_size(),
    };
    let previous = match existing(&target, package, &manifest_json, location)? {
        Existing::None => None,
        Existing::Same => {
            return Ok(InstallReport {
                unchanged: true,
                ..report
            });
        }
        Existing::Other(version) => Some(version),
    };

    let staged_dir = staging_dir.join(format!("{}.{}", m.name, std::process::id()));
    let done = stage(&staged_dir, package, &manifest_json).and_then(|()| {
        staged();
        put_in_place(&staged_dir, &target)
    });
    // What is left in staging is this run's: the new copy when something
    // failed, the previous version after an upgrade.
    let cleaned = remove_tree(&staged_dir);
    remove_if_empty(&staging_dir);
    done.and(cleaned)?;
    Ok(InstallReport { previous, ..report })
}

/// Makes the complete `staged` directory the package at `target` in one
/// step; an existing `target` ends up at `staged`.
fn put_in_place(staged: &Path, target: &Path) -> Result<(), InstallError> {
    let packages = target.parent().expect("a package directory has a parent");
    let in_place = std::fs::symlink_metadata(target).ok();
    if in_place.as_ref().is_some_and(|m| !m.is_dir()) {
        return Err(InstallError::InTheWay {
            path: target.to_path_buf(),
        });
    }
    if in_place.is_some() {
        let mut aside = staged.as_os_str().to_owned();
        aside.push(".aside");
        exchange(staged, target, Path::new(&aside))?;
    } else {
        rename_noreplace(staged, target)?;
    }
    sync_dir(packages)
}

/// Takes the administrator's install lock (creating its directory).
fn lock_admin(root: &Path) -> Result<LockGuard, InstallError> {
    let lock = layout::lock_file(root);
    make_dirs(lock.parent().expect("the lock is in a directory"))?;
    LockGuard::acquire(&lock)
}

/// Refuses an administrator's package providing a scheduler another of the
/// administrator's packages provides (between the administrator's and the
/// distribution's packages, and between distribution packages, the search
/// order decides, with a warning).
fn check_conflicts(packages: &Path, package: &Package) -> Result<(), InstallError> {
    let Ok(entries) = std::fs::read_dir(packages) else {
        return Ok(());
    };
    let m = &package.manifest;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == m.name {
            continue;
        }
        let Ok(other) = Package::open_dir(&entry.path()) else {
            continue;
        };
        if let Some(s) = m
            .schedulers
            .iter()
            .find(|s| other.manifest.scheduler(&s.name).is_some())
        {
            return Err(InstallError::Conflict {
                scheduler: s.name.clone(),
                other: other.manifest.name,
            });
        }
    }
    Ok(())
}

/// What is at the target directory already.
enum Existing {
    None,
    /// This exact package, intact.
    Same,
    /// Another version (or a damaged copy) that an upgrade replaces.
    Other(String),
}

fn existing(
    target: &Path,
    package: &Package,
    manifest_json: &[u8],
    location: Location,
) -> Result<Existing, InstallError> {
    let Ok(meta) = std::fs::symlink_metadata(target) else {
        return Ok(Existing::None);
    };
    if !meta.is_dir() {
        return Err(InstallError::InTheWay {
            path: target.to_path_buf(),
        });
    }
    let m = &package.manifest;
    let same_signature = |old: &Package| {
        old.signature().map(super::Signature::text)
            == package.signature().map(super::Signature::text)
    };
    match Package::open_dir(target) {
        Ok(old) if old.manifest_json() == manifest_json && same_signature(&old) => {
            Ok(Existing::Same)
        }
        // The same content signed anew (or signed now): replace it.
        Ok(old) if old.manifest_json() == manifest_json && location == Location::Admin => {
            Ok(Existing::Other(old.manifest.version))
        }
        _ if location == Location::Vendor => Err(InstallError::VendorExists {
            dir: target.to_path_buf(),
        }),
        Ok(old) if old.manifest.version == m.version => Err(InstallError::SameVersionDiffers {
            name: m.name.clone(),
            version: m.version.clone(),
        }),
        Ok(old) => Ok(Existing::Other(old.manifest.version)),
        Err(_) => Ok(Existing::Other("a damaged copy".to_string())),
    }
}

/// Writes a complete, synced and verified copy of `package` to `staging`
/// (a new directory in the staging directory).
fn stage(staging: &Path, package: &Package, manifest_json: &[u8]) -> Result<(), InstallError> {
    let m = &package.manifest;
    let staging_dir = staging
        .parent()
        .expect("staging is in the staging directory");
    let staging = staging.to_path_buf();
    remove_tree(&staging)?;
    make_dirs(&staging)?;
    write_file(&staging.join(super::MANIFEST_ENTRY), manifest_json)?;
    if let Some(sig) = package.signature() {
        write_file(
            &staging.join(super::signature::INSTALLED_SIGNATURE),
            sig.text().as_bytes(),
        )?;
    }
    let mut dirs = vec![staging.clone()];
    for (rel, data) in package.objects() {
        let path = staging.join(rel);
        let parent = path.parent().expect("an entry path has a parent");
        make_dirs(parent)?;
        for d in parent.ancestors().take_while(|d| d.starts_with(&staging)) {
            if !dirs.iter().any(|x| x == d) {
                dirs.push(d.to_path_buf());
            }
        }
        write_file(&path, data)?;
    }
    // Children before parents, so each directory is synced after its entries.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in &dirs {
        sync_dir(d)?;
    }
    sync_dir(staging_dir)?;
    Package::open_dir(&staging).map_err(|source| InstallError::Damaged {
        name: m.name.clone(),
        source,
    })?;
    Ok(())
}

/// Removes the package `name` that `scxpack install` installed (never a
/// distribution package).
pub fn uninstall(root: &Path, name: &str) -> Result<Removed, InstallError> {
    let packages = Location::Admin.packages_dir(root);
    let target = packages.join(name);
    let not_installed = || InstallError::NotInstalled {
        name: name.to_string(),
        lib: packages.clone(),
        hint: uninstall_hint(root, name),
    };
    if super::check_name("package name", name).is_err() || !target.is_dir() {
        return Err(not_installed());
    }
    let _lock = lock_admin(root)?;
    if !target.is_dir() {
        return Err(not_installed());
    }
    let staging_dir = packages.join(layout::STAGING_DIR);
    remove_tree(&staging_dir)?;
    let (version, schedulers) = match Package::open_dir(&target) {
        Ok(p) => (
            p.manifest.version,
            p.manifest.schedulers.into_iter().map(|s| s.name).collect(),
        ),
        Err(_) => ("(damaged)".to_string(), Vec::new()),
    };
    // One rename takes it out of use; removing the files follows.
    make_dirs(&staging_dir)?;
    let doomed = staging_dir.join(format!("{name}.removed.{}", std::process::id()));
    rename(&target, &doomed)?;
    sync_dir(&packages)?;
    remove_tree(&doomed)?;
    remove_if_empty(&staging_dir);
    Ok(Removed {
        name: name.to_string(),
        version,
        schedulers,
    })
}

/// Why `name` is not the administrator's package: a scheduler's name, or a
/// distribution package.
fn uninstall_hint(root: &Path, name: &str) -> String {
    let Ok(installed) = Installed::scan(root) else {
        return String::new();
    };
    if let Some(p) = installed.packages.iter().find(|p| p.name() == name) {
        return format!(
            " ({name} at {} belongs to the distribution: remove it with its package manager)",
            p.dir.display()
        );
    }
    if let Some(p) = installed.provider(name) {
        let how = match p.location {
            Location::Admin => format!("scxpack uninstall {}", p.name()),
            Location::Vendor => "its package manager".to_string(),
        };
        return format!(
            " (scheduler {name} belongs to package {} at {}: remove it with {how})",
            p.name(),
            p.dir.display()
        );
    }
    format!(" (searched {})", searched(root))
}
