//! File-system steps of an install, each one durable when it returns:
//! files written with mode 0644 and fsynced, directories created 0755 and
//! synced, directories swapped atomically with `renameat2`.
//!
//! Assumes Linux (`renameat2`, `RENAME_NOREPLACE`, `RENAME_EXCHANGE`); on a
//! file system without them the swap falls back to two renames.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::InstallError;

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates a file with mode 0644, writes it and fsyncs it.
pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
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
pub(super) fn make_dirs(path: &Path) -> Result<(), InstallError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(io_err(path))
}

pub(super) fn sync_dir(path: &Path) -> Result<(), InstallError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err(path))
}

/// `rm -rf`, quiet when `path` does not exist.
pub(super) fn remove_tree(path: &Path) -> Result<(), InstallError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

/// Removes `dir` if it is empty (and exists); anything else is left alone.
pub(super) fn remove_if_empty(dir: &Path) {
    if fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none()) {
        let _ = fs::remove_dir(dir);
    }
}

fn rename_error(from: &Path, to: &Path, source: &std::io::Error) -> InstallError {
    InstallError::Io {
        path: to.to_path_buf(),
        source: std::io::Error::new(
            source.kind(),
            format!("cannot rename {} here: {source}", from.display()),
        ),
    }
}

pub(super) fn rename(from: &Path, to: &Path) -> Result<(), InstallError> {
    fs::rename(from, to).map_err(|e| rename_error(from, to, &e))
}

fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    let cstr = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Moves `from` to `to`, failing when `to` exists (never replacing what is
/// there, even a directory another process just created).
pub(super) fn rename_noreplace(from: &Path, to: &Path) -> Result<(), InstallError> {
    match renameat2(from, to, libc::RENAME_NOREPLACE) {
        Err(e) if unsupported(&e) => {
            if to.exists() {
                return Err(rename_error(
                    from,
                    to,
                    &std::io::Error::from(std::io::ErrorKind::AlreadyExists),
                ));
            }
            rename(from, to)
        }
        r => r.map_err(|e| rename_error(from, to, &e)),
    }
}

/// Swaps the directories `a` and `b` in one step: after it, `b` holds what
/// `a` held and `a` the previous `b`. Without `RENAME_EXCHANGE` (some
/// network file systems) it falls back to three renames through `aside`,
/// which leaves a moment when `b` is missing.
pub(super) fn exchange(a: &Path, b: &Path, aside: &Path) -> Result<(), InstallError> {
    match renameat2(a, b, libc::RENAME_EXCHANGE) {
        Err(e) if unsupported(&e) => {
            rename(b, aside)?;
            rename(a, b)?;
            rename(aside, a)
        }
        r => r.map_err(|e| rename_error(a, b, &e)),
    }
}

fn unsupported(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync,
/// rename (what `pack -o` uses).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp.{}", std::process::id()));
    // Errors name the file asked for, not the temporary beside it.
    write_file(&tmp, bytes).map_err(|e| match e {
        InstallError::Io { source, .. } => InstallError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => other,
    })?;
    if let Err(e) = rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_swaps_and_noreplace_refuses() {
        let dir = std::env::temp_dir().join(format!("scxpack-fsops-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        make_dirs(&a).unwrap();
        make_dirs(&b).unwrap();
        fs::write(a.join("x"), "new").unwrap();
        fs::write(b.join("x"), "old").unwrap();
        exchange(&a, &b, &dir.join("aside")).unwrap();
        assert_eq!(fs::read_to_string(b.join("x")).unwrap(), "new");
        assert_eq!(fs::read_to_string(a.join("x")).unwrap(), "old");
        let err = rename_noreplace(&a, &b).unwrap_err();
        assert!(err.to_string().contains("cannot rename"), "{err}");
        assert_eq!(fs::read_to_string(b.join("x")).unwrap(), "new");
        let _ = fs::remove_dir_all(&dir);
    }
}
