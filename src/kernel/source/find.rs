//! Finding kernel sources in a directory tree by content, never by name:
//! every regular file (or symlink to one) is sniffed with [`sniff_file`].
//! Symlinked directories are not followed, so the walk cannot loop.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Format, SourceError, sniff_file};

/// Every container format `find_kernels` looks for.
pub const ALL_FORMATS: [Format; 4] = [Format::BzImage, Format::Elf, Format::RawBtf, Format::Deb];

/// Deepest directory level searched below the given one.
const MAX_DEPTH: usize = 16;

/// All kernel sources under `dir` (recursively), sorted by path.
pub fn find_kernels(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    find_kernels_of(dir, &ALL_FORMATS)
}

/// The kernel sources of `formats` under `dir` (recursively), sorted by path.
pub fn find_kernels_of(dir: &Path, formats: &[Format]) -> Result<Vec<PathBuf>, SourceError> {
    let mut found = Vec::new();
    walk(dir, 0, formats, &mut found)?;
    found.sort();
    Ok(found)
}

/// Kernel arguments as the commands take them: files as given, directories
/// searched for sources of `formats`.
pub fn expand(paths: &[PathBuf], formats: &[Format]) -> Result<Vec<PathBuf>, SourceError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            out.extend(find_kernels_of(p, formats)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    depth: usize,
    formats: &[Format],
    found: &mut Vec<PathBuf>,
) -> Result<(), SourceError> {
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
                walk(&path, depth + 1, formats, found)?;
            }
            continue;
        }
        let is_file = file_type.is_file()
            || (file_type.is_symlink() && fs::metadata(&path).is_ok_and(|m| m.is_file()));
        if is_file && sniff_file(&path)?.is_some_and(|f| formats.contains(&f)) {
            found.push(path);
        }
    }
    Ok(())
}
