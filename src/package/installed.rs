//! The one resolver of installed schedulers: what `list`, `info`, `run NAME`
//! and `check --installed` see.
//!
//! Packages are found by scanning, never through an index: first the
//! administrator's directory, then the distribution's (see
//! [`Location::SEARCH_ORDER`]), and inside each, package directories in
//! byte order of their names (directories starting with `.` are skipped).
//! Every package found is opened and verified like an archive.
//!
//! Rules, applied in that order:
//! 1. A package name found twice: the first found is used, the later one is
//!    *shadowed* (an administrator's package overrides the distribution's).
//! 2. A scheduler provided by several packages in use: the first package
//!    found provides it, with a [`Notice::SchedulerProvidedTwice`].
//!
//! A directory that is not a valid package is skipped with a
//! [`Notice::Damaged`]; it never hides the packages beside it.

use std::fmt;
use std::path::{Path, PathBuf};

use super::install::InstallError;
use super::install::layout::Location;
use super::{Package, check_name};

/// An installed package as found.
#[derive(Debug, Clone)]
pub struct InstalledPackage {
    pub location: Location,
    /// Its directory (`.../packages/NAME`).
    pub dir: PathBuf,
    pub package: Package,
    /// The directory of the package of the same name that is used instead.
    pub shadowed_by: Option<PathBuf>,
    /// The schedulers this package provides (manifest order): those no
    /// package found earlier provides.
    pub provides: Vec<String>,
}

impl InstalledPackage {
    #[must_use]
    pub fn name(&self) -> &str {
        &self.package.manifest.name
    }

    #[must_use]
    pub fn version(&self) -> &str {
        &self.package.manifest.version
    }
}

/// Something the scan decided that a user should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A directory that is not a valid package; skipped.
    Damaged { dir: PathBuf, reason: String },
    /// A package of the same name found earlier is used instead.
    PackageShadowed {
        name: String,
        used: PathBuf,
        ignored: PathBuf,
    },
    /// The scheduler is provided by `used` (found first) and `ignored`.
    SchedulerProvidedTwice {
        scheduler: String,
        used: PathBuf,
        ignored: PathBuf,
    },
}

impl Notice {
    /// The scheduler this notice is about, if it is about one.
    #[must_use]
    pub fn scheduler(&self) -> Option<&str> {
        match self {
            Notice::SchedulerProvidedTwice { scheduler, .. } => Some(scheduler),
            _ => None,
        }
    }

    /// True when this notice is about the package or scheduler `name`.
    #[must_use]
    pub fn concerns(&self, name: &str) -> bool {
        match self {
            Notice::Damaged { dir, .. } => dir.file_name().is_some_and(|f| f == name),
            Notice::PackageShadowed { name: n, .. } => n == name,
            Notice::SchedulerProvidedTwice { scheduler, .. } => scheduler == name,
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Damaged { dir, reason } => {
                write!(
                    f,
                    "{}: skipped, not a valid package: {reason}",
                    dir.display()
                )
            }
            Notice::PackageShadowed {
                name,
                used,
                ignored,
            } => write!(
                f,
                "package {name} is installed twice: using {}, ignoring {} (the administrator's packages come first)",
                used.display(),
                ignored.display()
            ),
            Notice::SchedulerProvidedTwice {
                scheduler,
                used,
                ignored,
            } => write!(
                f,
                "scheduler {scheduler} is provided by {} and {}: using the first (administrator's packages first, then by package name); uninstall one to silence this",
                used.display(),
                ignored.display()
            ),
        }
    }
}

/// Every package installed under a root, resolved.
#[derive(Debug, Clone)]
pub struct Installed {
    /// In search order, shadowed ones included.
    pub packages: Vec<InstalledPackage>,
    pub notices: Vec<Notice>,
}

impl Installed {
    /// Scans `root` (see the module documentation).
    pub fn scan(root: &Path) -> Result<Self, InstallError> {
        let mut installed = Installed {
            packages: Vec::new(),
            notices: Vec::new(),
        };
        for location in Location::SEARCH_ORDER {
            for dir in package_dirs(&location.packages_dir(root))? {
                installed.add(location, dir);
            }
        }
        Ok(installed)
    }

    fn add(&mut self, location: Location, dir: PathBuf) {
        let package = match open_package_dir(&dir) {
            Ok(p) => p,
            Err(reason) => {
                self.notices.push(Notice::Damaged { dir, reason });
                return;
            }
        };
        let name = &package.manifest.name;
        if let Some(used) = self.package(name).map(|p| p.dir.clone()) {
            self.notices.push(Notice::PackageShadowed {
                name: name.clone(),
                used: used.clone(),
                ignored: dir.clone(),
            });
            self.packages.push(InstalledPackage {
                location,
                dir,
                package,
                shadowed_by: Some(used),
                provides: Vec::new(),
            });
            return;
        }
        let mut provides = Vec::new();
        for s in &package.manifest.schedulers {
            if let Some(used) = self.provider(&s.name).map(|p| p.dir.clone()) {
                self.notices.push(Notice::SchedulerProvidedTwice {
                    scheduler: s.name.clone(),
                    used,
                    ignored: dir.clone(),
                });
            } else {
                provides.push(s.name.clone());
            }
        }
        self.packages.push(InstalledPackage {
            location,
            dir,
            package,
            shadowed_by: None,
            provides,
        });
    }

    /// The packages in use (not shadowed), in search order.
    pub fn in_use(&self) -> impl Iterator<Item = &InstalledPackage> {
        self.packages.iter().filter(|p| p.shadowed_by.is_none())
    }

    /// The package in use named `name`.
    #[must_use]
    pub fn package(&self, name: &str) -> Option<&InstalledPackage> {
        self.in_use().find(|p| p.name() == name)
    }

    /// The package that provides `scheduler`.
    #[must_use]
    pub fn provider(&self, scheduler: &str) -> Option<&InstalledPackage> {
        self.in_use()
            .find(|p| p.provides.iter().any(|s| s == scheduler))
    }

    /// The package that provides `scheduler`, or why none does.
    pub fn resolve(&self, root: &Path, scheduler: &str) -> Result<&InstalledPackage, InstallError> {
        self.provider(scheduler)
            .ok_or_else(|| InstallError::NoScheduler {
                scheduler: scheduler.to_string(),
                searched: searched(root),
            })
    }

    /// Every scheduler in use, each in the package that provides it: the
    /// packages in use restricted to the schedulers they provide (what
    /// `check --installed` checks).
    #[must_use]
    pub fn providing_packages(&self) -> Vec<Package> {
        self.in_use()
            .filter(|p| !p.provides.is_empty())
            .map(|p| {
                let mut package = p.package.clone();
                package
                    .manifest
                    .schedulers
                    .retain(|s| p.provides.contains(&s.name));
                package
            })
            .collect()
    }
}

/// The package directories searched under `root`, for messages.
#[must_use]
pub fn searched(root: &Path) -> String {
    Location::SEARCH_ORDER
        .iter()
        .map(|l| l.packages_dir(root).display().to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The installed package that provides `scheduler`, verified, and the
/// scheduler's name in it (what `run NAME` loads).
pub fn find_installed(root: &Path, scheduler: &str) -> Result<(Package, String), InstallError> {
    let installed = Installed::scan(root)?;
    let found = installed.resolve(root, scheduler)?;
    Ok((found.package.clone(), scheduler.to_string()))
}

/// Package directories in `packages`, in byte order of their names; none
/// when `packages` does not exist.
fn package_dirs(packages: &Path) -> Result<Vec<PathBuf>, InstallError> {
    let entries = match std::fs::read_dir(packages) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(InstallError::Io {
                path: packages.to_path_buf(),
                source,
            });
        }
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().as_encoded_bytes().starts_with(b"."))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(dirs)
}

/// Opens `dir` as an installed package named after the directory.
fn open_package_dir(dir: &Path) -> Result<Package, String> {
    let package = Package::open_dir(dir).map_err(|e| e.to_string())?;
    let dir_name = dir.file_name().unwrap_or_default().to_string_lossy();
    check_name("package name", &package.manifest.name)?;
    if package.manifest.name != dir_name {
        return Err(format!(
            "its manifest names package {:?}, but the directory is {dir_name:?}",
            package.manifest.name
        ));
    }
    Ok(package)
}
