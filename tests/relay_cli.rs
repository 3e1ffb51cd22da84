//! The hybrid scheduler `relay` outside a VM: its package says it needs its
//! user half, `scxpack run` refuses it naming `scxpack-relay` before any
//! privilege or kernel is needed, `check` names the program next to its
//! "loads", and `scxpack-relay` refuses bad input in one line. (The user
//! half at work is proven in QEMU by `tests/relay_vm.rs`.)

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn packed(dir: &Path) -> PathBuf {
    let out = dir.join("relay.scxpkg");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/relay");
    let (rc, _, err) =
        common::scxpack(&["pack", &src.to_string_lossy(), "-o", &out.to_string_lossy()]);
    assert_eq!(rc, 0, "pack: {err}");
    out
}

fn relay(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scxpack-relay"))
        .args(args)
        .output()
        .expect("run scxpack-relay");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_package_marks_the_user_half_and_run_refuses_the_bpf_half_alone() {
    let dir = common::temp_dir("relay-cli");
    let pkg = packed(&dir);
    let manifest = scxpack::package::Package::open(&pkg)
        .expect("open")
        .manifest;
    assert_eq!(
        manifest.schedulers[0].user_half.as_deref(),
        Some("scxpack-relay")
    );
    let (rc, _, err) = common::scxpack(&["run", &pkg.to_string_lossy(), "--duration", "1"]);
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("user-half program `scxpack-relay` instead of `scxpack run`"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("error")).count(),
        1,
        "one error line: {err}"
    );
}

#[test]
fn check_names_the_user_half_next_to_loads() {
    let Some(kernel) = common::vmlinuz("6.16.3+deb13") else {
        return;
    };
    let dir = common::temp_dir("relay-check");
    let pkg = packed(&dir);
    let (rc, out, err) = common::scxpack(&[
        "check",
        &pkg.to_string_lossy(),
        "--kernel",
        &kernel.to_string_lossy(),
        "--no-cache",
    ]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("portable loads; to run it needs"), "{out}");
    assert!(out.contains("only user space fills (dispatched)"), "{out}");
    assert!(out.contains("start it with scxpack-relay"), "{out}");
}

#[test]
fn the_user_half_refuses_bad_input_in_one_line() {
    let (rc, err) = relay(&["/nonexistent/relay.scxpkg"]);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("/nonexistent/relay.scxpkg"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let (rc, err) = relay(&["--target-latency-us", "0", "relay.scxpkg"]);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("give a time in µs > 0"), "{err}");
    let (rc, err) = relay(&["--stats=-1", "relay.scxpkg"]);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("--stats -1"), "{err}");
    let root = common::temp_dir("relay-root");
    let (rc, err) = relay(&["--root", &root.to_string_lossy()]);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("relay"), "not installed under the root: {err}");
}
