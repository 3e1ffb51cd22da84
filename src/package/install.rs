//! Installed packages under `ROOT/usr/lib/scxpack/`.
//!
//! Layout (`docs/package-format.md` has the details):
//!
//! ```text
//! usr/lib/scxpack/
//!   index.json                          installed packages and their schedulers
//!   install.lock                        held while an install or uninstall runs
//!   packages/NAME/VERSION/manifest.json the package's manifest, byte for byte
//!   packages/NAME/VERSION/objects/...   its objects, as in the archive
//!   .staging/                           work area of a running install
//! ```
//!
//! `index.json` is the single switch point: a package directory is complete
//! and never modified while the index lists it. An install verifies the
//! package, writes it under `.staging/`, fsyncs every file and directory,
//! verifies the staged copy, renames it to `packages/NAME/VERSION`, then
//! replaces the index (write a temporary file, fsync, rename, fsync the
//! directory) and only then removes the previous version. Killed at any
//! point, the previous index, and so the previous version, stays in force;
//! the next install or uninstall removes what the index does not list
//! (staging directories, half-installed or superseded versions).
//!
//! Only one install or uninstall runs at a time: `install.lock` is created
//! exclusively and holds the owner's pid and start time; a lock whose owner
//! is gone (killed) is taken over. Readers (`list`, `info`,
//! [`find_installed`]) take no lock: the index is replaced atomically.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Package, PackageError, check_name, sha256_hex};

/// Where packages are installed, relative to the root.
pub const LIB_DIR: &str = "usr/lib/scxpack";
/// The index of installed packages, in [`LIB_DIR`].
pub const INDEX_FILE: &str = "index.json";
/// The lock file, in [`LIB_DIR`].
pub const LOCK_FILE: &str = "install.lock";
/// `format` of the index this build writes and reads.
pub const INDEX_FORMAT: &str = "scxpack-index/1";
/// Test hook: when set to a path, `install` creates that file once the new
/// version is in place but not yet listed, then waits (up to a minute, or
/// until `PATH.resume` exists), so a test can kill it there.
pub const PAUSE_ENV: &str = "SCXPACK_TEST_PAUSE_INSTALL";

const PACKAGES_DIR: &str = "packages";
const STAGING_DIR: &str = ".staging";

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
    #[error("no installed package named {name:?} under {lib}{hint}")]
    NotInstalled {
        name: String,
        lib: PathBuf,
        hint: String,
    },
    #[error(
        "no installed package provides scheduler {scheduler:?} under {lib} (install one: scxpack install PKG)"
    )]
    NoScheduler { scheduler: String, lib: PathBuf },
    #[error("{path}: corrupt index: {reason}")]
    Index { path: PathBuf, reason: String },
    #[error("installed package {name} is damaged (reinstall it): {source}")]
    Damaged { name: String, source: PackageError },
}

/// `index.json`: what is installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub format: String,
    /// Sorted by name; one version per package name.
    pub packages: Vec<IndexEntry>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            format: INDEX_FORMAT.to_string(),
            packages: Vec::new(),
        }
    }
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub name: String,
    pub version: String,
    /// Its directory, relative to [`LIB_DIR`]: `packages/NAME/VERSION`.
    pub path: String,
    /// sha256 of its `manifest.json`.
    pub manifest_sha256: String,
    /// Its schedulers, in manifest order.
    pub schedulers: Vec<String>,
    /// Bytes installed (manifest and objects).
    pub size: u64,
}

impl IndexEntry {
    /// The directory relative to [`LIB_DIR`], derived from the (checked)
    /// name and version: the stored `path` is informative only.
    #[must_use]
    pub fn dir(&self) -> PathBuf {
        Path::new(PACKAGES_DIR).join(&self.name).join(&self.version)
    }
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

/// `ROOT/usr/lib/scxpack`.
#[must_use]
pub fn lib_dir(root: &Path) -> PathBuf {
    root.join(LIB_DIR)
}

/// The index under `root` (empty when nothing was ever installed).
pub fn read_index(root: &Path) -> Result<Index, InstallError> {
    read_index_at(&lib_dir(root))
}

fn read_index_at(lib: &Path) -> Result<Index, InstallError> {
    let path = lib.join(INDEX_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Index::default()),
        Err(source) => return Err(InstallError::Io { path, source }),
    };
    let bad = |reason: String| InstallError::Index {
        path: path.clone(),
        reason,
    };
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if index.format != INDEX_FORMAT {
        return Err(bad(format!(
            "format {:?}, this scxpack reads {INDEX_FORMAT:?}",
            index.format
        )));
    }
    for e in &index.packages {
        check_name("package name", &e.name).map_err(&bad)?;
        check_name("package version", &e.version).map_err(&bad)?;
    }
    Ok(index)
}

/// Opens an installed package (verifying it like an archive).
pub fn open_installed(root: &Path, entry: &IndexEntry) -> Result<Package, InstallError> {
    Package::open_dir(&lib_dir(root).join(entry.dir())).map_err(|source| InstallError::Damaged {
        name: entry.name.clone(),
        source,
    })
}

/// The installed package named `name`, if any.
pub fn find_package(
    root: &Path,
    name: &str,
) -> Result<Option<(IndexEntry, Package)>, InstallError> {
    let index = read_index(root)?;
    let Some(entry) = index.packages.into_iter().find(|e| e.name == name) else {
        return Ok(None);
    };
    let package = open_installed(root, &entry)?;
    Ok(Some((entry, package)))
}

/// The installed package that provides `scheduler`, verified, and the
/// scheduler's name in it (what `run NAME` loads).
pub fn find_installed(root: &Path, scheduler: &str) -> Result<(Package, String), InstallError> {
    let index = read_index(root)?;
    let entry = index
        .packages
        .iter()
        .find(|e| e.schedulers.iter().any(|s| s == scheduler))
        .ok_or_else(|| InstallError::NoScheduler {
            scheduler: scheduler.to_string(),
            lib: lib_dir(root),
        })?;
    let package = open_installed(root, entry)?;
    let Some(found) = package.manifest.scheduler(scheduler) else {
        return Err(InstallError::Index {
            path: lib_dir(root).join(INDEX_FILE),
            reason: format!(
                "lists scheduler {scheduler:?} in {} but its manifest does not have it",
                entry.name
            ),
        });
    };
    let name = found.name.clone();
    Ok((package, name))
}

/// Installs `package` under `root` (see the module documentation).
pub fn install(root: &Path, package: &Package) -> Result<InstallReport, InstallError> {
    let m = &package.manifest;
    package.validate().map_err(|reason| InstallError::Invalid {
        package: m.name.clone(),
        reason,
    })?;
    let lib = lib_dir(root);
    make_dirs(&lib)?;
    let _lock = LockGuard::acquire(&lib)?;
    let mut index = read_index_at(&lib)?;
    collect_garbage(&lib, &index)?;
    // Dropped before the lock: however the install ends, no staging is left.
    let _staging = StagingCleanup(&lib);

    let manifest_json = package.manifest_json();
    let manifest_sha256 = sha256_hex(&manifest_json);
    for s in &m.schedulers {
        if let Some(other) = index
            .packages
            .iter()
            .find(|e| e.name != m.name && e.schedulers.contains(&s.name))
        {
            return Err(InstallError::Conflict {
                scheduler: s.name.clone(),
                other: other.name.clone(),
            });
        }
    }
    let previous = index.packages.iter().find(|e| e.name == m.name).cloned();
    let entry = IndexEntry {
        name: m.name.clone(),
        version: m.version.clone(),
        path: String::new(),
        manifest_sha256,
        schedulers: m.schedulers.iter().map(|s| s.name.clone()).collect(),
        size: manifest_json.len() as u64 + package.objects_size(),
    };
    let entry = IndexEntry {
        path: entry.dir().to_string_lossy().into_owned(),
        ..entry
    };
    let target = lib.join(entry.dir());
    let report = InstallReport {
        name: entry.name.clone(),
        version: entry.version.clone(),
        previous: previous.as_ref().map(|p| p.version.clone()),
        unchanged: false,
        path: target.clone(),
        bytes: entry.size,
    };
    if let Some(prev) = previous.as_ref().filter(|p| p.version == m.version) {
        let intact = Package::open_dir(&target).is_ok();
        if prev.manifest_sha256 == entry.manifest_sha256 && intact {
            return Ok(InstallReport {
                unchanged: true,
                previous: None,
                ..report
            });
        }
        return Err(InstallError::SameVersionDiffers {
            name: m.name.clone(),
            version: m.version.clone(),
        });
    }

    let staging = stage(&lib, package, &manifest_json)?;

    // Move it into place: complete, but not listed yet.
    let name_dir = lib.join(PACKAGES_DIR).join(&m.name);
    make_dirs(&name_dir)?;
    sync_dir(&lib.join(PACKAGES_DIR))?;
    rename(&staging, &target)?;
    sync_dir(&name_dir)?;
    sync_dir(&lib.join(STAGING_DIR))?;
    pause_for_tests();

    // The switch: the new index lists the new version.
    index.packages.retain(|e| e.name != m.name);
    index.packages.push(entry);
    index.packages.sort_by(|a, b| a.name.cmp(&b.name));
    write_index(&lib, &index)?;

    // Only now is the previous version unused.
    if let Some(prev) = &previous {
        remove_tree(&lib.join(prev.dir()))?;
        sync_dir(&name_dir)?;
    }
    let _ = fs::remove_dir(lib.join(STAGING_DIR));
    Ok(report)
}

/// Removes `.staging/` when dropped, so a failed install leaves none behind.
struct StagingCleanup<'l>(&'l Path);

impl Drop for StagingCleanup<'_> {
    fn drop(&mut self) {
        let _ = remove_tree(&self.0.join(STAGING_DIR));
    }
}

/// Writes a complete, synced and verified copy of `package` under
/// `.staging/`; returns its directory.
fn stage(lib: &Path, package: &Package, manifest_json: &[u8]) -> Result<PathBuf, InstallError> {
    let m = &package.manifest;
    let staging =
        lib.join(STAGING_DIR)
            .join(format!("{}-{}.{}", m.name, m.version, std::process::id()));
    make_dirs(&staging)?;
    write_file(&staging.join(super::MANIFEST_ENTRY), manifest_json)?;
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
    Package::open_dir(&staging).map_err(|source| InstallError::Damaged {
        name: m.name.clone(),
        source,
    })?;
    Ok(staging)
}

/// Removes the installed package `name`; returns its index entry.
pub fn uninstall(root: &Path, name: &str) -> Result<IndexEntry, InstallError> {
    let lib = lib_dir(root);
    let not_installed = |index: &Index| {
        let hint = index
            .packages
            .iter()
            .find(|e| e.schedulers.iter().any(|s| s == name))
            .map(|e| {
                format!(
                    " (scheduler {name} belongs to package {0}: scxpack uninstall {0})",
                    e.name
                )
            })
            .unwrap_or_default();
        InstallError::NotInstalled {
            name: name.to_string(),
            lib: lib.clone(),
            hint,
        }
    };
    if !lib.is_dir() {
        return Err(not_installed(&Index::default()));
    }
    let _lock = LockGuard::acquire(&lib)?;
    let mut index = read_index_at(&lib)?;
    collect_garbage(&lib, &index)?;
    let Some(pos) = index.packages.iter().position(|e| e.name == name) else {
        return Err(not_installed(&index));
    };
    let entry = index.packages.remove(pos);
    write_index(&lib, &index)?;
    remove_tree(&lib.join(entry.dir()))?;
    let name_dir = lib.join(PACKAGES_DIR).join(&entry.name);
    if fs::read_dir(&name_dir).is_ok_and(|mut d| d.next().is_none()) {
        let _ = fs::remove_dir(&name_dir);
    }
    Ok(entry)
}

/// Removes what the index does not list: staging directories, a stale
/// temporary index, package versions from interrupted or finished upgrades.
fn collect_garbage(lib: &Path, index: &Index) -> Result<(), InstallError> {
    remove_tree(&lib.join(STAGING_DIR))?;
    let tmp = lib.join(format!("{INDEX_FILE}.tmp"));
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(io_err(&tmp))?;
    }
    let packages = lib.join(PACKAGES_DIR);
    let Ok(names) = fs::read_dir(&packages) else {
        return Ok(());
    };
    for name in names.filter_map(Result::ok) {
        let name_dir = name.path();
        let name = name.file_name().to_string_lossy().into_owned();
        let Ok(versions) = fs::read_dir(&name_dir) else {
            continue;
        };
        for version in versions.filter_map(Result::ok) {
            let version = version.file_name().to_string_lossy().into_owned();
            let listed = index
                .packages
                .iter()
                .any(|e| e.name == name && e.version == version);
            if !listed {
                remove_tree(&name_dir.join(&version))?;
            }
        }
        if fs::read_dir(&name_dir).is_ok_and(|mut d| d.next().is_none()) {
            let _ = fs::remove_dir(&name_dir);
        }
    }
    Ok(())
}

/// Replaces the index atomically: temporary file, fsync, rename, fsync dir.
fn write_index(lib: &Path, index: &Index) -> Result<(), InstallError> {
    let mut json = serde_json::to_vec_pretty(index).expect("the index serializes");
    json.push(b'\n');
    let tmp = lib.join(format!("{INDEX_FILE}.tmp"));
    write_file(&tmp, &json)?;
    rename(&tmp, &lib.join(INDEX_FILE))?;
    sync_dir(lib)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync,
/// rename (what `pack -o` uses).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp.{}", std::process::id()));
    write_file(&tmp, bytes)?;
    if let Err(e) = rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir)?;
    }
    Ok(())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates a file with mode 0644, writes it and fsyncs it.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .map_err(io_err(path))?;
    f.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// `mkdir -p` with mode 0755.
fn make_dirs(path: &Path) -> Result<(), InstallError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(io_err(path))
}

fn sync_dir(path: &Path) -> Result<(), InstallError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err(path))
}

fn rename(from: &Path, to: &Path) -> Result<(), InstallError> {
    fs::rename(from, to).map_err(|source| InstallError::Io {
        path: to.to_path_buf(),
        source: std::io::Error::new(
            source.kind(),
            format!("cannot rename {} here: {source}", from.display()),
        ),
    })
}

/// `rm -rf`, quiet when `path` does not exist.
fn remove_tree(path: &Path) -> Result<(), InstallError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

/// See [`PAUSE_ENV`].
fn pause_for_tests() {
    let Some(marker) = std::env::var_os(PAUSE_ENV) else {
        return;
    };
    let marker = PathBuf::from(marker);
    let _ = fs::write(&marker, std::process::id().to_string());
    let mut resume = marker.into_os_string();
    resume.push(".resume");
    let resume = PathBuf::from(resume);
    for _ in 0..600 {
        if resume.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `install.lock`, held for the guard's lifetime.
#[derive(Debug)]
struct LockGuard {
    path: PathBuf,
}

impl LockGuard {
    fn acquire(lib: &Path) -> Result<Self, InstallError> {
        let path = lib.join(LOCK_FILE);
        let me = format!(
            "{} {}\n",
            std::process::id(),
            start_time(std::process::id()).unwrap_or_default()
        );
        for _ in 0..3 {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(me.as_bytes())
                        .and_then(|()| f.sync_all())
                        .map_err(io_err(&path))?;
                    return Ok(LockGuard { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let held = fs::read_to_string(&path).unwrap_or_default();
                    if let Some(owner) = live_owner(&path, &held) {
                        return Err(InstallError::Locked { lock: path, owner });
                    }
                    // The owner is gone (killed): take the lock over.
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        Err(InstallError::Locked {
            lock: path,
            owner: String::new(),
        })
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// `Some(" (pid N)")` when the lock's owner still runs; `None` when stale.
fn live_owner(path: &Path, held: &str) -> Option<String> {
    let mut words = held.split_whitespace();
    let pid = words.next().and_then(|p| p.parse::<u32>().ok());
    let started = words.next().and_then(|s| s.parse::<u64>().ok());
    let Some(pid) = pid else {
        // Being written right now, or left empty by a crash: trust it while young.
        let young = fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < Duration::from_secs(5));
        return young.then(String::new);
    };
    if start_time(std::process::id()).is_none() {
        // No /proc: cannot tell, so the lock holds.
        return Some(format!(" (pid {pid})"));
    }
    match (start_time(pid), started) {
        (Some(now), Some(then)) if now == then => Some(format!(" (pid {pid})")),
        (Some(_), None) => Some(format!(" (pid {pid})")),
        _ => None,
    }
}

/// A running process's start time (field 22 of `/proc/PID/stat`), to tell
/// a live lock owner from a reused pid; `None` for no such process or a
/// zombie (killed, not yet reaped: it holds nothing any more).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_comm) = stat.rsplit_once(')')?;
    let mut fields = after_comm.split_whitespace();
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_a_start_time() {
        assert!(start_time(std::process::id()).is_some());
    }

    #[test]
    fn a_dead_owner_does_not_hold_the_lock() {
        let dir = std::env::temp_dir().join(format!("scxpack-lock-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(LOCK_FILE);
        fs::write(&path, "x").unwrap();
        // pid_max is at most 2^22: this pid cannot exist.
        assert_eq!(live_owner(&path, "4294967295 1\n"), None);
        let me = std::process::id();
        let mine = format!("{me} {}\n", start_time(me).unwrap());
        assert_eq!(live_owner(&path, &mine), Some(format!(" (pid {me})")));
        // Same pid, another start time: a reused pid, the lock is stale.
        assert_eq!(live_owner(&path, &format!("{me} 1\n")), None);
        // Unparsable and fresh: being written, so held.
        assert_eq!(live_owner(&path, ""), Some(String::new()));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_killed_unreaped_owner_does_not_hold_the_lock() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("run sleep");
        let pid = child.id();
        let started = start_time(pid).expect("a running child has a start time");
        child.kill().unwrap();
        // Not reaped yet: a zombie, still in /proc.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while start_time(pid).is_some() {
            assert!(std::time::Instant::now() < deadline, "sleep never died");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            fs::metadata(format!("/proc/{pid}")).is_ok(),
            "reaped too early"
        );
        let path = std::env::temp_dir().join(format!("scxpack-zombie-lock-{pid}"));
        assert_eq!(live_owner(&path, &format!("{pid} {started}\n")), None);
        child.wait().unwrap();
    }
}
