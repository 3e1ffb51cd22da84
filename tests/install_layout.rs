//! The install layout under a real package manager (issue #11): two
//! distribution packages laid out with `scxpack install --vendor` and
//! installed into one root by dpkg do not conflict, `list` shows both,
//! both schedulers resolve, and a later `scxpack install` leaves them
//! untouched; the resolver's order and warnings for a package or scheduler
//! found twice.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{missing, scxpack, temp_dir};
use scxpack::package::install::{self, Location};
use scxpack::package::installed::{InstalledPackage, Notice};
use scxpack::package::{Installed, Package, sha256_hex};

/// `bpf-objects/NAME/NAME.bpf.o` (`fair`: its portable variant).
fn object(scheduler: &str) -> PathBuf {
    let file = if scheduler == "fair" {
        "fair-portable"
    } else {
        scheduler
    };
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("bpf-objects/{scheduler}/{file}.bpf.o"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[track_caller]
fn succeeds(args: &[&str]) -> String {
    let (code, out, err) = scxpack(args);
    assert_eq!(code, 0, "{args:?} failed: {err}");
    out
}

#[track_caller]
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// sha256 of every file under `dir` by relative path.
fn tree_hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, sha256_hex(&std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// A .deb named `scx-SCHEDULER` holding the bare object of `scheduler`, laid
/// out the way a distribution build does: `scxpack install --vendor --root`.
fn build_deb(dir: &Path, scheduler: &str) -> PathBuf {
    let stage = dir.join(format!("stage-{scheduler}"));
    succeeds(&[
        "install",
        s(&object(scheduler)),
        "--vendor",
        "--root",
        s(&stage),
    ]);
    let files: Vec<PathBuf> = tree_hashes(&stage).into_keys().collect();
    assert!(
        files
            .iter()
            .all(|f| f.starts_with(format!("usr/lib/scxpack/packages/{scheduler}"))),
        "the vendor layout wrote outside its package directory: {files:?}"
    );
    std::fs::create_dir_all(stage.join("DEBIAN")).unwrap();
    std::fs::write(
        stage.join("DEBIAN/control"),
        format!(
            "Package: scx-{scheduler}\nVersion: 1.0\nArchitecture: all\n\
             Maintainer: Test <test@example.org>\nDescription: {scheduler} scheduler\n"
        ),
    )
    .unwrap();
    let deb = dir.join(format!("scx-{scheduler}.deb"));
    run(Command::new("dpkg-deb").args(["--root-owner-group", "--build", s(&stage), s(&deb)]));
    deb
}

#[test]
fn two_distribution_packages_installed_by_dpkg_coexist() {
    if Command::new("dpkg").arg("--version").output().is_err() {
        missing::<()>("dpkg");
        return;
    }
    if !nix_root() {
        missing::<()>("root (dpkg --root refuses other users)");
        return;
    }
    let dir = temp_dir("layout-dpkg");
    let debs = [build_deb(&dir, "fifo"), build_deb(&dir, "interactive")];
    let root = dir.join("root");
    let admin = root.join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    std::fs::create_dir_all(admin.join("updates")).unwrap();
    std::fs::write(admin.join("status"), "").unwrap();
    // Without --force-overwrite: a file conflict would fail here.
    run(Command::new("dpkg")
        .arg(format!("--root={}", s(&root)))
        .arg(format!("--log={}", s(&dir.join("dpkg.log"))))
        .args(["--force-script-chrootless", "--force-not-root", "-i"])
        .args(&debs));

    let out = succeeds(&["list", "--root", s(&root)]);
    assert!(
        out.contains("fifo") && out.contains("interactive") && out.contains("vendor"),
        "{out}"
    );
    for scheduler in ["fifo", "interactive"] {
        let out = succeeds(&["info", scheduler, "--root", s(&root)]);
        assert!(out.contains(&format!("scheduler {scheduler}")), "{out}");
        let (package, name) = scxpack::package::find_installed(&root, scheduler).unwrap();
        assert_eq!(
            (package.manifest.name.as_str(), name.as_str()),
            (scheduler, scheduler)
        );
    }

    // A third package by the administrator: dpkg's files stay as they were.
    let vendor = Location::Vendor.packages_dir(&root);
    let before = tree_hashes(&vendor);
    succeeds(&["install", s(&object("fair")), "--root", s(&root)]);
    succeeds(&["uninstall", "fair-portable", "--root", s(&root)]);
    succeeds(&["install", s(&object("fair")), "--root", s(&root)]);
    assert_eq!(
        tree_hashes(&vendor),
        before,
        "scxpack install touched dpkg's files"
    );
    run(Command::new("dpkg")
        .arg(format!("--root={}", s(&root)))
        .args(["--verify", "scx-fifo", "scx-interactive"]));
    let out = succeeds(&["list", "--root", s(&root)]);
    assert!(
        ["fifo", "interactive", "fair-portable"]
            .iter()
            .all(|n| out.contains(n)),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn nix_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `fifo.bpf.o` as a package named `name` (its scheduler stays `fifo`).
fn fifo_named(name: &str) -> Package {
    let bare = Package::open(&object("fifo")).unwrap();
    let mut manifest = bare.manifest.clone();
    manifest.name = name.to_string();
    let objects = bare
        .objects()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    Package::new(manifest, objects)
}

#[test]
fn the_resolver_prefers_the_administrator_then_the_package_name_and_warns() {
    let dir = temp_dir("layout-resolve");
    let root = dir.join("root");
    for name in ["zz-fifo", "fifo"] {
        install::install(&root, &fifo_named(name), Location::Vendor).unwrap();
    }
    let found = Installed::scan(&root).unwrap();
    let names: Vec<&str> = found.packages.iter().map(InstalledPackage::name).collect();
    assert_eq!(names, ["fifo", "zz-fifo"], "byte order inside a location");
    assert_eq!(found.provider("fifo").unwrap().name(), "fifo");
    assert!(
        matches!(&found.notices[..], [Notice::SchedulerProvidedTwice { scheduler, .. }] if scheduler == "fifo"),
        "{:?}",
        found.notices
    );
    let (code, _, err) = scxpack(&["info", "fifo", "--root", s(&root)]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: scheduler fifo is provided by") && err.contains("zz-fifo"),
        "{err}"
    );

    // The administrator's package of the same name wins over the vendor's.
    install::install(&root, &fifo_named("fifo"), Location::Admin).unwrap();
    let found = Installed::scan(&root).unwrap();
    let winner = found.provider("fifo").unwrap();
    assert_eq!(winner.location, Location::Admin);
    assert!(
        found
            .notices
            .iter()
            .any(|n| matches!(n, Notice::PackageShadowed { name, .. } if name == "fifo")),
        "{:?}",
        found.notices
    );
    // --vendor never replaces, and uninstall never removes, what a
    // distribution package owns.
    let vendor_fifo = Location::Vendor.packages_dir(&root).join("fifo");
    let before = tree_hashes(&vendor_fifo);
    let err = install::install(&root, &fifo_named("zz-fifo"), Location::Vendor);
    assert!(err.is_ok(), "identical content is a no-op: {err:?}");
    succeeds(&["uninstall", "fifo", "--root", s(&root)]);
    let (code, _, err) = scxpack(&["uninstall", "fifo", "--root", s(&root)]);
    assert_eq!(code, 1);
    assert!(err.contains("package manager"), "{err}");
    assert_eq!(tree_hashes(&vendor_fifo), before);
    let _ = std::fs::remove_dir_all(&dir);
}
