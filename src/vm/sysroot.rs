//! Shared libraries of a guest binary built for another architecture (the
//! arm64 scxpack on an `x86_64` host), found in a root file system of that
//! architecture instead of with the host's `ldd`, which cannot run it.
//!
//! The ELF is read without running it: its `PT_INTERP` (the dynamic loader,
//! placed at exactly that guest path) and its `DT_NEEDED` names, followed
//! recursively, each looked up in the multiarch and plain library
//! directories of the root. Symbolic links are resolved inside the root (an
//! absolute link target is taken relative to it), so nothing of the host
//! leaks in. A static binary (busybox-static) needs no root at all.

use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};

use super::error::VmError;
use crate::kernel::Arch;

/// Link hops followed before a path is taken as a loop.
const MAX_LINKS: usize = 40;

/// The dynamic-linking needs of one ELF file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// `PT_INTERP`: the loader's absolute path.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` library names, in order.
    pub needed: Vec<String>,
}

impl Dynamic {
    /// Nothing to load: a static executable.
    #[must_use]
    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.needed.is_empty()
    }
}

/// The ELF machine an [`Arch`] builds for.
#[must_use]
pub fn elf_machine(arch: Arch) -> u16 {
    match arch {
        Arch::X86_64 => elf::EM_X86_64,
        Arch::Arm64 => elf::EM_AARCH64,
    }
}

/// Reads the interpreter and the needed libraries of a 64-bit ELF, checking
/// it is built for `arch`. `Err` says why the file is unusable.
pub fn read_dynamic(data: &[u8], arch: Arch) -> Result<Dynamic, String> {
    let header = elf::FileHeader64::<object::Endianness>::parse(data)
        .map_err(|e| format!("not a 64-bit ELF file ({e})"))?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let machine = header.e_machine(endian);
    if machine != elf_machine(arch) {
        return Err(format!(
            "built for ELF machine {machine}, not for {arch} (machine {})",
            elf_machine(arch)
        ));
    }
    let mut out = Dynamic::default();
    let bad = |e: object::read::Error| e.to_string();
    for segment in header.program_headers(endian, data).map_err(bad)? {
        if let Some(interp) = segment.interpreter(endian, data).map_err(bad)? {
            out.interpreter = Some(String::from_utf8_lossy(interp).into_owned());
        }
    }
    let sections = header.sections(endian, data).map_err(bad)?;
    if let Some((entries, link)) = sections.dynamic(endian, data).map_err(bad)? {
        let strings = sections.strings(endian, data, link).map_err(bad)?;
        for entry in entries {
            if entry.tag32(endian) == Some(elf::DT_NEEDED) {
                let name = entry
                    .string(endian, strings)
                    .map_err(|e| format!("DT_NEEDED name: {e}"))?;
                out.needed.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    Ok(out)
}

/// The library directories searched in the root, in order.
fn library_dirs(arch: Arch) -> [String; 6] {
    let triplet = match arch {
        Arch::X86_64 => "x86_64-linux-gnu",
        Arch::Arm64 => "aarch64-linux-gnu",
    };
    [
        format!("lib/{triplet}"),
        format!("usr/lib/{triplet}"),
        "lib".to_owned(),
        "usr/lib".to_owned(),
        "lib64".to_owned(),
        "usr/lib64".to_owned(),
    ]
}

/// `guest` (an absolute path) inside `root`, every symbolic link resolved
/// inside `root`; `None` if it does not exist there.
#[must_use]
pub fn resolve_in_root(root: &Path, guest: &str) -> Option<PathBuf> {
    let mut pending: Vec<String> = guest
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_owned)
        .collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(component) = pending.pop() {
        match component.as_str() {
            "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let host = root.join(resolved.join("/")).join(&component);
        let Ok(target) = std::fs::read_link(&host) else {
            resolved.push(component);
            continue;
        };
        hops += 1;
        if hops > MAX_LINKS {
            return None;
        }
        let target = target.to_string_lossy().into_owned();
        if target.starts_with('/') {
            resolved.clear();
        }
        pending.extend(
            target
                .split('/')
                .filter(|c| !c.is_empty())
                .rev()
                .map(str::to_owned),
        );
    }
    let host = root.join(resolved.join("/"));
    host.is_file().then_some(host)
}

/// Every file `binary` needs to run in the guest: (guest path, host path),
/// the loader first. `sysroot` is the root they are taken from; `None` is
/// fine for a static binary and an error otherwise.
pub fn guest_libraries(
    binary: &Path,
    arch: Arch,
    sysroot: Option<&Path>,
) -> Result<Vec<(String, PathBuf)>, VmError> {
    let bad = |reason: String| VmError::GuestBinary {
        path: binary.to_owned(),
        reason,
    };
    let data = std::fs::read(binary).map_err(|e| bad(e.to_string()))?;
    let dynamic = read_dynamic(&data, arch).map_err(bad)?;
    if dynamic.is_static() {
        return Ok(Vec::new());
    }
    let Some(root) = sysroot else {
        return Err(VmError::NoSysroot {
            arch,
            binary: binary.to_owned(),
            interpreter: dynamic.interpreter.unwrap_or_default(),
        });
    };
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    if let Some(interp) = &dynamic.interpreter {
        let host = resolve_in_root(root, interp)
            .ok_or_else(|| bad(format!("its loader {interp} is not in {}", root.display())))?;
        out.push((interp.clone(), host));
    }
    let mut queue = dynamic.needed;
    while let Some(name) = queue.pop() {
        if out
            .iter()
            .any(|(guest, _)| guest.ends_with(&format!("/{name}")))
        {
            continue;
        }
        let (guest, host) = find_library(root, arch, &name).ok_or_else(|| {
            bad(format!(
                "shared library {name} not found in {} ({})",
                root.display(),
                library_dirs(arch).join(", ")
            ))
        })?;
        let lib = std::fs::read(&host).map_err(|e| bad(format!("{}: {e}", host.display())))?;
        let needs = read_dynamic(&lib, arch).map_err(|e| bad(format!("{name}: {e}")))?;
        queue.extend(needs.needed);
        out.push((guest, host));
    }
    Ok(out)
}

fn find_library(root: &Path, arch: Arch, name: &str) -> Option<(String, PathBuf)> {
    library_dirs(arch).iter().find_map(|dir| {
        let guest = format!("/{dir}/{name}");
        resolve_in_root(root, &guest).map(|host| (guest, host))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_resolve_inside_the_root() {
        let root = std::env::temp_dir().join(format!("scxpack-sysroot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("usr/lib/aarch64-linux-gnu")).unwrap();
        std::fs::write(root.join("usr/lib/aarch64-linux-gnu/libx.so.1.2"), b"x").unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink(
            "libx.so.1.2",
            root.join("usr/lib/aarch64-linux-gnu/libx.so.1"),
        )
        .unwrap();
        // An absolute target means the root's /usr, never the host's.
        symlink(
            "/usr/lib/aarch64-linux-gnu/libx.so.1",
            root.join("usr/lib/abs.so"),
        )
        .unwrap();
        symlink("loop", root.join("usr/lib/loop")).unwrap();
        let want = root.join("usr/lib/aarch64-linux-gnu/libx.so.1.2");
        let got = resolve_in_root(&root, "/lib/aarch64-linux-gnu/libx.so.1");
        assert_eq!(got.as_deref(), Some(want.as_path()));
        assert_eq!(
            resolve_in_root(&root, "/lib/abs.so").as_deref(),
            Some(want.as_path())
        );
        assert_eq!(resolve_in_root(&root, "/usr/lib/loop"), None);
        assert_eq!(resolve_in_root(&root, "/lib/missing.so"), None);
        let found = find_library(&root, Arch::Arm64, "libx.so.1").unwrap();
        assert_eq!(found.0, "/lib/aarch64-linux-gnu/libx.so.1");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_host_binary_is_not_an_arm64_one() {
        let exe = std::env::current_exe().unwrap();
        let data = std::fs::read(&exe).unwrap();
        let err = read_dynamic(&data, Arch::Arm64).unwrap_err();
        assert!(err.contains("not for arm64"), "{err}");
        let host = read_dynamic(&data, Arch::X86_64).unwrap();
        assert!(
            host.needed.iter().any(|n| n.starts_with("libc.so")),
            "{host:?}"
        );
        assert!(read_dynamic(b"#!/bin/sh\n", Arch::Arm64).is_err());
    }

    #[test]
    fn a_dynamic_binary_without_a_root_says_what_to_give() {
        let exe = std::env::current_exe().unwrap();
        let err = guest_libraries(&exe, Arch::X86_64, None).unwrap_err();
        assert!(matches!(err, VmError::NoSysroot { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("cross-arm64.sh"), "{text}");
    }
}
