//! Finding kernel sources in a directory tree by content, never by name:
//! every regular file (or symlink to one) is sniffed with [`sniff_file`].
//! Symlinked directories are not followed, so the walk cannot loop.

use std::fs;
use std::path::{Path, PathBuf};

use super::{SourceError, sniff_file};

/// Deepest directory level searched below the given one.
const MAX_DEPTH: usize = 16;

/// All kernel sources under `dir` (recursively), sorted by path.
pub fn find_kernels(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let mut found = Vec::new();
    walk(dir, 0, &mut found)?;
    found.sort();
    Ok(found)
}

fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    let io_err = |source| SourceError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(io_err)?;
        if file_type.is_dir() {
            if depth < MAX_DEPTH {
                walk(&path, depth + 1, found)?;
            }
            continue;
        }
        let is_file = file_type.is_file()
            || (file_type.is_symlink() && fs::metadata(&path).is_ok_and(|m| m.is_file()));
        if is_file && sniff_file(&path)?.is_some() {
            found.push(path);
        }
    }
    Ok(())
}
