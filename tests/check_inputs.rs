//! What `check` takes (issue #11): several kernels after one `--kernel`, a
//! kernel given where a package is expected, `--installed` through the
//! resolver, and a BTF cache that never touches a missing `$HOME`, can be
//! turned off, and can be pruned.

mod common;

use std::path::{Path, PathBuf};

use common::{scxpack_env, temp_dir, vmlinuz};

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn fifo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o")
}

/// Runs scxpack with `HOME=home`, no `XDG_CACHE_HOME` and no `SCXPACK_NO_CACHE`.
fn with_home(args: &[&str], home: &Path, extra: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scxpack"));
    cmd.args(args)
        .env("HOME", home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("SCXPACK_NO_CACHE")
        .envs(extra.iter().copied());
    let out = cmd.output().expect("run scxpack");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, Iterator::count)
}

#[test]
fn kernel_takes_several_paths_and_installed_checks_the_resolved_schedulers() {
    let (Some(old), Some(new)) = (vmlinuz("6.12.117+deb13"), vmlinuz("6.16.3+deb13")) else {
        return;
    };
    let dir = temp_dir("check-installed");
    let root = dir.join("root");
    let (code, _, err) = scxpack_env(
        &["install", s(&fifo()), "--vendor", "--root", s(&root)],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    // HOME does not exist: the check works and never creates it.
    let home = dir.join("no-such-home");
    let (code, out, err) = with_home(
        &[
            "check",
            "--installed",
            "--root",
            s(&root),
            "--json",
            "-v",
            "--kernel",
            s(&old),
            s(&new),
        ],
        &home,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!home.exists(), "check created HOME");
    assert!(
        err.contains("no BTF cache") && err.contains("does not exist"),
        "{err}"
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["kernels"].as_array().unwrap().len(), 2, "{out}");
    let cells = json["results"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    assert!(cells.iter().all(|c| c["scheduler"] == "fifo"), "{out}");

    // A kernel where a package is expected names --kernel.
    let (code, _, err) = scxpack_env(&["check", s(&fifo()), s(&new), "--kernel", s(&new)], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains(s(&new)) && err.contains("is a kernel") && err.contains("--kernel"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_btf_cache_can_be_turned_off_and_pruned() {
    let Some(kernel) = vmlinuz("6.16.3+deb13") else {
        return;
    };
    let dir = temp_dir("check-cache");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let cache = home.join(".cache/scxpack/btf");
    let fifo = fifo();
    let check = ["check", s(&fifo), "--kernel", s(&kernel)];
    let (code, _, err) = with_home(&[&check[..], &["--no-cache"]].concat(), &home, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = with_home(&check, &home, &[("SCXPACK_NO_CACHE", "1")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !home.join(".cache").exists(),
        "a disabled cache was written"
    );

    let (code, _, err) = with_home(&check, &home, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(files_in(&cache), 1, "one entry per kernel");
    let (_, out, _) = with_home(&["cache", "dir"], &home, &[]);
    assert_eq!(out.trim(), s(&cache));
    let (code, out, err) = with_home(&["cache", "prune"], &home, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("removed 1 entries"), "{out}");
    assert_eq!(files_in(&cache), 0);
    let (_, out, _) = with_home(&["cache", "dir"], &dir.join("gone"), &[]);
    assert!(
        out.contains("no BTF cache") && out.contains("does not exist"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
