//! The committed BPF objects are exactly what their sources build to.
//!
//! Rebuilds `bpf-objects/` and `tests/fixtures/objects/` with their Makefiles
//! into a fresh temporary directory (`make -C DIR OUT=TMP`) and requires every
//! `.bpf.o` and each `objects.lock` to be byte-identical to the committed
//! files, with no object missing or extra on either side.
//!
//! Needs `clang-16`, `llvm-strip-16` and `make` (the pinned toolchain of
//! `bpf-objects/flags.mk`). Without them the test says what is missing and
//! passes, except in CI (`CI=true`), where a missing tool is a failure.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Tools the Makefiles run.
const TOOLS: [&str; 3] = ["clang-16", "llvm-strip-16", "make"];

/// Variables that would change what the Makefiles build or where.
const SCRUBBED_ENV: [&str; 7] = [
    "CLANG",
    "LLVM_STRIP",
    "OUT",
    "LOCK",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A uniquely named directory under the system temp dir, removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let base = std::env::temp_dir();
        for attempt in 0u32.. {
            let dir = base.join(format!(
                "scxpack-{tag}-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            match fs::create_dir(&dir) {
                Ok(()) => return TempDir(dir),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => panic!("cannot create {}: {e}", dir.display()),
            }
        }
        unreachable!("u32 attempts exhausted")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The toolchain is present; otherwise skip (outside CI) or fail (in CI).
fn toolchain_present(test: &str) -> bool {
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|tool| {
            Command::new(tool)
                .arg("--version")
                .output()
                .is_err_and(|e| e.kind() == ErrorKind::NotFound)
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: cannot rebuild the BPF objects, missing {} (Debian: apt-get install clang-16 llvm-16 make, or run .ci/setup)",
        missing.join(", ")
    );
    assert!(!in_ci(), "{msg}");
    eprintln!("{msg}; skipped (set CI=true to make this a failure)");
    false
}

/// Paths of every `*.bpf.o` under `dir`, relative to it.
fn objects_under(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let entries =
            fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
                .path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.to_string_lossy().ends_with(".bpf.o") {
                out.insert(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// `None` when equal, else a description of the first difference.
fn difference(committed: &[u8], built: &[u8]) -> Option<String> {
    if committed == built {
        return None;
    }
    let at = committed
        .iter()
        .zip(built)
        .position(|(a, b)| a != b)
        .unwrap_or(committed.len().min(built.len()));
    Some(format!(
        "committed {} bytes, rebuilt {} bytes, first difference at byte {at}",
        committed.len(),
        built.len()
    ))
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn clang_version() -> String {
    Command::new("clang-16")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default()
}

/// Rebuilds `tree` (relative to the repository) into a temp dir and compares.
#[track_caller]
fn assert_reproducible(tree: &str) {
    if !toolchain_present(tree) {
        return;
    }
    let src = repo().join(tree);
    let tmp = TempDir::new("bpf-repro");
    let out = tmp.0.join("out");
    let mut make = Command::new("make");
    make.arg("--no-print-directory")
        .arg("-C")
        .arg(&src)
        .arg(format!("OUT={}", out.display()));
    for var in SCRUBBED_ENV {
        make.env_remove(var);
    }
    let result = make
        .output()
        .unwrap_or_else(|e| panic!("cannot run make -C {tree}: {e}"));
    assert!(
        result.status.success(),
        "make -C {tree} OUT={} failed ({}):\n{}\n{}",
        out.display(),
        result.status,
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );

    let committed = objects_under(&src);
    let built = objects_under(&out);
    assert!(
        !committed.is_empty(),
        "{tree}: no committed *.bpf.o (build them: make -C {tree})"
    );
    assert_eq!(
        committed, built,
        "{tree}: the committed objects and the ones its Makefile builds differ as sets"
    );

    let mut problems = Vec::new();
    for rel in committed
        .iter()
        .map(PathBuf::as_path)
        .chain([Path::new("objects.lock")])
    {
        if let Some(diff) = difference(&read(&src.join(rel)), &read(&out.join(rel))) {
            problems.push(format!("  {tree}/{}: {diff}", rel.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "{tree}: rebuilt files differ from the committed ones (compiler here: {}):\n{}\n\
         If the sources changed on purpose, rebuild and commit: make -C {tree}",
        clang_version(),
        problems.join("\n")
    );
}

#[test]
fn shipped_scheduler_objects_are_reproducible() {
    assert_reproducible("bpf-objects");
}

#[test]
fn fixture_objects_are_reproducible() {
    assert_reproducible("tests/fixtures/objects");
}
