//! Builds the guest initramfs: busybox, the loader binary with its shared
//! libraries, payload files and the generated `/init`.
//!
//! Layout: `/bin/busybox` plus symlinks for the applets `/init` uses (the rest
//! are added at boot by `busybox --install -s`), `/bin/scxpack` (optional) with
//! every library `ldd` lists copied at the same absolute path (the dynamic
//! loader included), `/pkg/<file name>` for each payload, extra files at
//! the guest paths the caller names (e.g. `/boot/config-RELEASE`), `/init`,
//! the mount points and a `/dev/console` node. Libraries of host binaries
//! come from `ldd` (a glibc host, `libc-bin`); those of another
//! architecture's binaries from its root file system ([`Libraries::Foreign`],
//! [`super::sysroot`]); a static binary simply has no libraries to copy. The guest
//! does not need debug info: [`strip_debug`] drops it with `objcopy` (a 46 MB
//! debug build becomes ~6 MB) when binutils is there. The archive is
//! deterministic (see [`super::cpio`]) and optionally gzip-compressed with a
//! fixed header (mtime 0, no name) at the fastest level: the image is built
//! once per run, and level 6 would save ~10 % for 3x the time.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::GzBuilder;

use super::cpio::{Archive, EntryError, Node};
use super::error::VmError;
use super::sysroot;
use crate::kernel::Arch;

/// Where the guest binary lands in the guest.
pub const GUEST_BINARY_PATH: &str = "/bin/scxpack";
/// The directory payloads land in.
pub const PAYLOAD_DIR: &str = "/pkg";

/// Applets linked in the archive itself, so `/init` works before
/// `busybox --install` runs.
const APPLETS: &[&str] = &[
    "sh", "mount", "umount", "mkdir", "poweroff", "cat", "dmesg", "sleep", "usleep", "grep",
    "uname", "echo", "kill", "printf", "test", "[", "timeout", "true", "false", "ls", "head",
    "tail", "ps", "sync", "env", "seq", "wc", "sed", "tr", "yes",
];

/// Empty directories the guest mounts file systems on.
const MOUNT_POINTS: &[&str] = &[
    "proc", "sys", "dev", "tmp", "run", "root", "sbin", "usr/bin",
];

/// How the archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitramfsCompression {
    /// gzip, fastest level (every kernel has `CONFIG_RD_GZIP`).
    #[default]
    Gzip,
    /// A plain cpio archive.
    None,
}

/// Where the shared libraries of the guest's binaries come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libraries<'a> {
    /// The host's, as `ldd` lists them: guests of the host's architecture.
    Host,
    /// Another architecture's, read from the binaries' ELF and taken from
    /// `sysroot` (needed unless the binaries are static).
    Foreign {
        arch: Arch,
        sysroot: Option<&'a Path>,
    },
}

/// What goes into the initramfs.
#[derive(Debug, Clone, Copy)]
pub struct InitramfsSpec<'a> {
    /// A busybox binary (Debian's `busybox-static`: `/bin/busybox`).
    pub busybox: &'a Path,
    /// A host binary to place at [`GUEST_BINARY_PATH`], with its libraries.
    pub binary: Option<&'a Path>,
    /// Files placed under [`PAYLOAD_DIR`] by file name.
    pub payloads: &'a [PathBuf],
    /// Files placed at a given guest path (e.g. `boot/config-RELEASE`): (guest, host).
    pub files: &'a [(String, PathBuf)],
    /// The `/init` script text.
    pub init: &'a str,
    /// Where the libraries of `busybox` and `binary` come from.
    pub libraries: Libraries<'a>,
}

/// Assembles the archive tree described by `spec`.
pub fn build_archive(spec: &InitramfsSpec<'_>) -> Result<Archive, VmError> {
    let mut archive = Archive::new();
    for dir in MOUNT_POINTS {
        add(&mut archive, dir, Node::Dir { mode: 0o755 })?;
    }
    let console = Node::CharDev {
        mode: 0o600,
        major: 5,
        minor: 1,
    };
    add(&mut archive, "dev/console", console)?;
    add_executable(&mut archive, spec.busybox, "/bin/busybox", spec.libraries)?;
    for applet in APPLETS {
        let link = Node::Symlink {
            target: "busybox".to_owned(),
        };
        add(&mut archive, &format!("bin/{applet}"), link)?;
    }
    if let Some(binary) = spec.binary {
        add_executable(&mut archive, binary, GUEST_BINARY_PATH, spec.libraries)?;
    }
    add_payloads(&mut archive, spec.payloads)?;
    add_files(&mut archive, spec.files)?;
    let init = Node::File {
        mode: 0o755,
        data: spec.init.as_bytes().to_vec(),
    };
    add(&mut archive, "init", init)?;
    Ok(archive)
}

/// Builds the initramfs image bytes.
pub fn build_initramfs(
    spec: &InitramfsSpec<'_>,
    compression: InitramfsCompression,
) -> Result<Vec<u8>, VmError> {
    let archive = build_archive(spec)?;
    encode(&archive, compression)
}

/// Serializes `archive` as newc, compressed as asked.
pub fn encode(archive: &Archive, compression: InitramfsCompression) -> Result<Vec<u8>, VmError> {
    let fail = |e| VmError::io("writing initramfs", "<memory>", e);
    let mut cpio = Vec::new();
    archive.write_newc(&mut cpio).map_err(fail)?;
    match compression {
        InitramfsCompression::None => Ok(cpio),
        InitramfsCompression::Gzip => {
            let mut gz = GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::fast());
            gz.write_all(&cpio).map_err(fail)?;
            gz.finish().map_err(fail)
        }
    }
}

/// The shared libraries `ldd` lists for `binary` (dynamic loader included),
/// as absolute host paths. A static binary has none.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, VmError> {
    let bad = |reason: String| VmError::GuestBinary {
        path: binary.to_owned(),
        reason,
    };
    let output = Command::new("ldd").arg(binary).output().map_err(|e| {
        bad(format!(
            "cannot run `ldd` ({e}): install it with `apt-get install libc-bin`"
        ))
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if is_static(&stdout) || is_static(&stderr) {
        return Ok(Vec::new());
    }
    if !output.status.success() {
        return Err(bad(format!("`ldd` failed: {}", stderr.trim())));
    }
    parse_ldd(&stdout).map_err(bad)
}

/// Copies `binary` without its debug sections into `dir` with
/// `objcopy --strip-debug` and returns the copy; `Err` says why not (then
/// use the binary as it is).
pub fn strip_debug(binary: &Path, dir: &Path) -> Result<PathBuf, String> {
    let name = binary.file_name().unwrap_or(binary.as_os_str());
    let out = dir.join(name).with_extension("stripped");
    let result = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(binary)
        .arg(&out)
        .output();
    match result {
        Ok(o) if o.status.success() => Ok(out),
        Ok(o) => Err(format!(
            "objcopy --strip-debug failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!(
            "objcopy not usable ({e}): apt-get install binutils to shrink the initramfs"
        )),
    }
}

fn is_static(ldd_text: &str) -> bool {
    ldd_text.contains("not a dynamic executable") || ldd_text.contains("statically linked")
}

/// Parses `ldd` output into library paths; a `=> not found` line is an error
/// naming the library. Virtual objects (`linux-vdso.so.1`) are skipped.
pub(crate) fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(format!("shared library {} not found", name.trim()));
                }
                rest
            }
            None => line,
        };
        if let Some(path) = target
            .split_whitespace()
            .next()
            .filter(|p| p.starts_with('/'))
        {
            let path = PathBuf::from(path);
            if !libs.contains(&path) {
                libs.push(path);
            }
        }
    }
    Ok(libs)
}

fn add(archive: &mut Archive, path: &str, node: Node) -> Result<(), VmError> {
    archive
        .add(path, node)
        .map_err(|EntryError { path, reason }| VmError::Initramfs { path, reason })
}

/// Adds a host executable at `guest_path`, plus its libraries at their
/// guest paths (a library already there, shared with an earlier binary, is
/// kept).
fn add_executable(
    archive: &mut Archive,
    host: &Path,
    guest_path: &str,
    libraries: Libraries<'_>,
) -> Result<(), VmError> {
    let data = fs::read(host).map_err(|e| VmError::GuestBinary {
        path: host.to_owned(),
        reason: e.to_string(),
    })?;
    add(archive, guest_path, Node::File { mode: 0o755, data })?;
    let libs = match libraries {
        Libraries::Host => shared_libraries(host)?
            .into_iter()
            .map(|lib| (lib.to_string_lossy().into_owned(), lib))
            .collect(),
        Libraries::Foreign { arch, sysroot } => sysroot::guest_libraries(host, arch, sysroot)?,
    };
    for (guest, lib) in libs {
        if archive.contains(&guest) {
            continue;
        }
        let data = fs::read(&lib).map_err(|e| VmError::GuestBinary {
            path: host.to_owned(),
            reason: format!("library {}: {e}", lib.display()),
        })?;
        add(archive, &guest, Node::File { mode: 0o755, data })?;
    }
    Ok(())
}

fn add_payloads(archive: &mut Archive, payloads: &[PathBuf]) -> Result<(), VmError> {
    for payload in payloads {
        let bad = |reason: String| VmError::Payload {
            path: payload.clone(),
            reason,
        };
        let name = payload
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad("has no UTF-8 file name".to_owned()))?;
        let guest = format!("{PAYLOAD_DIR}/{name}");
        if archive.contains(&guest) {
            return Err(bad(format!("another payload is also named {guest}")));
        }
        let data = fs::read(payload).map_err(|e| bad(e.to_string()))?;
        add(archive, &guest, Node::File { mode: 0o644, data })?;
    }
    Ok(())
}

/// Adds host files at the given guest paths (parents created as needed; a
/// clash with another member, `/init` included, is an error).
fn add_files(archive: &mut Archive, files: &[(String, PathBuf)]) -> Result<(), VmError> {
    for (guest, host) in files {
        let data = fs::read(host).map_err(|e| VmError::Payload {
            path: host.clone(),
            reason: e.to_string(),
        })?;
        add(archive, guest, Node::File { mode: 0o644, data })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDD: &str = "\tlinux-vdso.so.1 (0x00007ffc)\n\
        \tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f)\n\
        \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
        \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";

    #[test]
    fn ldd_output_lists_libraries_and_loader() {
        let libs = parse_ldd(LDD).unwrap();
        let want: Vec<PathBuf> = [
            "/lib/x86_64-linux-gnu/libz.so.1",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(libs, want);
    }

    #[test]
    fn ldd_missing_library_is_named() {
        let err = parse_ldd("\tlibelf.so.1 => not found\n").unwrap_err();
        assert!(err.contains("libelf.so.1"), "{err}");
    }

    #[test]
    fn payload_name_clash_is_an_error() {
        let dir = std::env::temp_dir().join(format!("scxpack-vm-unit-{}", std::process::id()));
        fs::create_dir_all(dir.join("a")).unwrap();
        fs::create_dir_all(dir.join("b")).unwrap();
        fs::write(dir.join("a/x.bpf.o"), b"1").unwrap();
        fs::write(dir.join("b/x.bpf.o"), b"2").unwrap();
        let mut archive = Archive::new();
        let payloads = [dir.join("a/x.bpf.o"), dir.join("b/x.bpf.o")];
        let err = add_payloads(&mut archive, &payloads).unwrap_err();
        assert!(err.to_string().contains("/pkg/x.bpf.o"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn extra_files_land_at_their_guest_paths() {
        let dir = std::env::temp_dir().join(format!("scxpack-vm-files-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config");
        fs::write(&config, b"CONFIG_SCHED_CLASS_EXT=y\n").unwrap();
        let mut archive = Archive::new();
        let files = [("/boot/config-6.16.3".to_owned(), config.clone())];
        add_files(&mut archive, &files).unwrap();
        assert!(archive.contains("boot") && archive.contains("/boot/config-6.16.3"));
        let clash = [("boot".to_owned(), config)];
        assert!(add_files(&mut archive, &clash).is_err());
        let missing = [("x".to_owned(), dir.join("missing"))];
        let err = add_files(&mut archive, &missing).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gzip_output_is_deterministic() {
        let mut archive = Archive::new();
        archive
            .add(
                "init",
                Node::File {
                    mode: 0o755,
                    data: b"#!/bin/sh\n".to_vec(),
                },
            )
            .unwrap();
        let a = encode(&archive, InitramfsCompression::Gzip).unwrap();
        let b = encode(&archive, InitramfsCompression::Gzip).unwrap();
        assert_eq!(a, b);
        assert_eq!(&a[..2], &[0x1f, 0x8b]);
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "gzip mtime must be 0");
    }
}
