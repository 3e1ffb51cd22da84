//! The distribution packages, built and installed as a distribution would:
//! packaging/build-packages.sh vendors the crates, builds the .debs with
//! `dpkg-buildpackage -b` and the RPMs with `rpmbuild -bb` with no network,
//! runs lintian (no errors), installs the .debs into an empty root with
//! `dpkg --root` and runs the installed `scxpack` from there. This test runs
//! it and checks what landed where.
//!
//! Slow (two release builds; compiled dependencies are cached under
//! SCXPACK_CACHE, default /var/cache/scxpack-ci): in CI it always runs;
//! outside CI it runs only as root with the tools present.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{in_ci, kernels, missing, temp_dir};

/// Each tool the script needs, with its Debian package.
const TOOLS: &[(&str, &str)] = &[
    ("dpkg-buildpackage", "dpkg-dev"),
    ("dh", "debhelper"),
    ("lintian", "lintian"),
    ("rpmbuild", "rpm"),
    ("unshare", "util-linux"),
    ("git", "git"),
];

fn prerequisites() -> Option<()> {
    common::tools_and_root(TOOLS, "unshare -n around the build, dpkg --root")?;
    if !in_ci() && std::env::var_os("SCXPACK_TEST_PACKAGING").is_none() {
        eprintln!(
            "SKIPPED: the packaging build takes minutes; set SCXPACK_TEST_PACKAGING=1 (CI always runs it)"
        );
        return None;
    }
    Some(())
}

/// The script's outputs.
struct Built {
    out: PathBuf,
    stdout: String,
    stderr: String,
}

fn build(kernels: &[PathBuf]) -> Built {
    let out = temp_dir("packaging");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/build-packages.sh");
    let result = Command::new(&script)
        .arg(&out)
        .args(kernels)
        .output()
        .expect("run packaging/build-packages.sh");
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert!(
        result.status.success(),
        "build-packages.sh failed ({}):\n{stdout}\n{}",
        result.status,
        tail(&stderr, 60)
    );
    Built {
        out,
        stdout,
        stderr,
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Files the .debs install, relative to the root.
const INSTALLED_DEB: &[&str] = &[
    "usr/bin/scxpack",
    "usr/bin/scxpack-relay",
    "usr/share/man/man1/scxpack.1.gz",
    "usr/share/man/man1/scxpack-check.1.gz",
    "usr/share/bash-completion/completions/scxpack",
    "usr/share/zsh/vendor-completions/_scxpack",
    "usr/share/fish/vendor_completions.d/scxpack.fish",
    "lib/systemd/system/scxpack.service",
    "lib/systemd/system/scxpack@.service",
    "etc/default/scxpack",
    "lib/systemd/system/scxpack-daemon.service",
    "usr/share/dbus-1/system.d/org.scx.Loader.conf",
    "usr/share/dbus-1/system-services/org.scx.Loader.service",
    "usr/share/polkit-1/actions/org.scx.Loader.policy",
    "usr/share/man/man1/scxpack-daemon.1.gz",
    "etc/kernel/postinst.d/scxpack",
    "usr/lib/kernel/install.d/50-scxpack.install",
    "usr/share/doc/scxpack/README.md",
];

/// Files the RPMs hold, relative to the root.
const INSTALLED_RPM: &[&str] = &[
    "usr/bin/scxpack",
    "usr/bin/scxpack-relay",
    "usr/share/man/man1/scxpack.1.gz",
    "usr/share/man/man1/scxpack-check.1.gz",
    "usr/share/bash-completion/completions/scxpack",
    "usr/share/zsh/site-functions/_scxpack",
    "usr/share/fish/vendor_completions.d/scxpack.fish",
    "usr/lib/systemd/system/scxpack.service",
    "usr/lib/systemd/system/scxpack@.service",
    "etc/default/scxpack",
    "usr/lib/systemd/system/scxpack-daemon.service",
    "usr/share/dbus-1/system.d/org.scx.Loader.conf",
    "usr/share/dbus-1/system-services/org.scx.Loader.service",
    "usr/share/polkit-1/actions/org.scx.Loader.policy",
    "usr/share/man/man1/scxpack-daemon.1.gz",
    "usr/lib/kernel/install.d/50-scxpack.install",
];

/// Every path of `files` exists under `root`.
#[track_caller]
fn assert_installed(root: &Path, files: &[&str]) {
    for f in files {
        assert!(root.join(f).exists(), "{} lacks /{f}", root.display());
    }
}

#[test]
fn debs_and_rpms_build_offline_install_with_dpkg_and_run() {
    let Some(()) = prerequisites() else {
        return;
    };
    let Some(dir) = kernels() else {
        return;
    };
    let stock = dir.join("6.12.117+deb13/vmlinuz");
    let scx = dir.join("6.16.3+deb13/vmlinuz");
    for k in [&stock, &scx] {
        if !k.is_file() {
            let _: Option<()> = missing(&k.display().to_string());
            return;
        }
    }
    let built = build(&[stock, scx]);
    let debs = files(&built.out, ".deb");
    for name in ["scxpack_", "scxpack-schedulers_"] {
        assert!(
            debs.iter().any(|d| d.starts_with(name)),
            "no {name}*.deb in {debs:?}"
        );
    }
    let rpms = files(&built.out.join("rpmbuild/RPMS/x86_64"), ".rpm");
    for name in ["scxpack-0", "scxpack-schedulers-0"] {
        assert!(
            rpms.iter().any(|r| r.starts_with(name)),
            "no {name}*.rpm in {rpms:?}"
        );
    }
    let lintian = std::fs::read_to_string(built.out.join("lintian.txt")).expect("lintian.txt");
    assert!(
        !lintian.lines().any(|l| l.starts_with("E: ")),
        "lintian errors:\n{lintian}"
    );
    assert_installed(&built.out.join("root"), INSTALLED_DEB);
    assert_installed(&built.out.join("rpmroot"), INSTALLED_RPM);
    // The installed scxpack, run from each root by the script (.debs, then RPMs).
    for s in ["fair", "fifo", "interactive", "relay", "scxpack-relay "] {
        assert!(
            built.stdout.contains(s),
            "installed `scxpack list` / `scxpack-relay --version` lack {s}:\n{}",
            built.stdout
        );
    }
    assert!(
        built.stdout.contains("hook 6.16.3+deb13:\nhook exit 0"),
        "the hook is not silent on 6.16.3+deb13:\n{}\n{}",
        built.stdout,
        tail(&built.stderr, 20)
    );
    assert!(
        built.stderr.contains(
            "scheduler fair (package scxpack-schedulers) will not load on kernel 6.12.117+deb13"
        ),
        "the hook did not warn about 6.12.117+deb13:\n{}",
        tail(&built.stderr, 20)
    );
    let timings = std::fs::read_to_string(built.out.join("timings.txt")).expect("timings");
    eprintln!("{timings}");
    for step in ["deb-build", "deb-lintian", "rpm-build", "installed-size"] {
        assert!(timings.contains(step), "no {step} in timings:\n{timings}");
    }
    let _ = std::fs::remove_dir_all(&built.out);
}
