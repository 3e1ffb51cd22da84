//! Where installed packages live under a root (`/` or an image or package
//! build tree given with `--root`), and the order they are found in.
//!
//! ```text
//! var/lib/scxpack/packages/NAME/   administrator's packages (scxpack install)
//! var/lib/scxpack/install.lock     held while an install or uninstall runs
//! usr/lib/scxpack/packages/NAME/   distribution packages (owned by dpkg/rpm)
//! ```
//!
//! Each `packages/NAME/` is self-contained (`manifest.json` and its
//! objects); there is no shared index. `docs/install-layout.md` explains
//! the choice for packagers.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Distribution packages, relative to the root: one directory per package,
/// dropped in by the package manager (or by `scxpack install --vendor
/// --root DESTDIR` while the distribution package is built).
pub const VENDOR_PACKAGES: &str = "usr/lib/scxpack/packages";
/// Packages the administrator installs with `scxpack install`.
pub const ADMIN_PACKAGES: &str = "var/lib/scxpack/packages";
/// The install lock, relative to the root (outside `/usr`).
pub const INSTALL_LOCK: &str = "var/lib/scxpack/install.lock";
/// Work area of a running install, inside the packages directory it
/// installs to (so the final rename stays on one file system).
pub const STAGING_DIR: &str = ".staging";

/// Which of the two package directories a package is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    /// [`ADMIN_PACKAGES`]: written only by `scxpack install`/`uninstall`.
    Admin,
    /// [`VENDOR_PACKAGES`]: owned by the distribution's package manager.
    Vendor,
}

impl Location {
    /// The order packages are searched in: the administrator's choice
    /// overrides the distribution's (as `/etc` overrides `/usr/lib`).
    pub const SEARCH_ORDER: [Location; 2] = [Location::Admin, Location::Vendor];

    /// This location's packages directory under `root`.
    #[must_use]
    pub fn packages_dir(self, root: &Path) -> PathBuf {
        root.join(match self {
            Location::Admin => ADMIN_PACKAGES,
            Location::Vendor => VENDOR_PACKAGES,
        })
    }
}

/// The install lock under `root`.
#[must_use]
pub fn lock_file(root: &Path) -> PathBuf {
    root.join(INSTALL_LOCK)
}
