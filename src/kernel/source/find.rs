//! Finding kernel sources on disk by content, never by name: whether one
//! file is a kernel source ([`sniff_file`]: the first bytes, then a closer
//! look with the ELF and `.deb` readers), and every one in a directory tree.
//! Symlinked directories are not followed, so the walk cannot loop.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Format, SourceError, deb, elf, sniff};

/// Bytes read from a file's start to sniff it: enough for the bzImage setup
/// header (0x1f1..0x268), an ELF header and the first `ar` member header.
const SNIFF_LEN: usize = 4096;

/// Every container format `find_kernels` looks for.
pub const ALL_FORMATS: [Format; 5] = [
    Format::BzImage,
    Format::Elf,
    Format::RawBtf,
    Format::Deb,
    Format::Arm64,
];

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

/// Whether the file at `path` is a kernel source, reading only a little of it:
/// an ELF must be an executable (not a BPF object) with a `.BTF` section, raw
/// BTF must be version 1, and a `.deb` whose control `md5sums` lists no
/// `vmlinuz*`/`vmlinux*` file is not one (a `.deb` without `md5sums` is).
pub fn sniff_file(path: &Path) -> Result<Option<Format>, SourceError> {
    let io_err = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut file)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    let verdict = match sniff(&head) {
        Some(Format::Elf) => elf::file_is_vmlinux_with_btf(&file).then_some(Format::Elf),
        Some(Format::RawBtf) => (head.get(2) == Some(&1)).then_some(Format::RawBtf),
        Some(Format::Deb) => deb::file_may_hold_kernel(&mut file).then_some(Format::Deb),
        other => other,
    };
    Ok(verdict)
}
