//! Records the git commit the binary is built from, for `scxpack --version`.
//!
//! `SCXPACK_GIT_COMMIT` in the build environment wins (a distribution that
//! builds from a tarball may pass it); else `git rev-parse` in the source
//! tree; else nothing (no `.git`, no git): `--version` then says so. Never
//! fails the build.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=SCXPACK_GIT_COMMIT");
    let from_env = std::env::var("SCXPACK_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty());
    let commit = from_env.or_else(|| {
        // Only a checkout of this crate counts, not a parent repository
        // that happens to contain an unpacked tarball.
        let top = git(&["rev-parse", "--show-toplevel"])?;
        let here = std::env::var("CARGO_MANIFEST_DIR").ok()?;
        if Path::new(&top).canonicalize().ok()? != Path::new(&here).canonicalize().ok()? {
            return None;
        }
        for path in ["HEAD", "logs/HEAD"] {
            if let Some(p) = git(&["rev-parse", "--git-path", path]) {
                let p = Path::new(&here).join(p);
                if p.exists() {
                    println!("cargo:rerun-if-changed={}", p.display());
                }
            }
        }
        git(&["rev-parse", "--short=12", "HEAD"])
    });
    if let Some(commit) = commit {
        println!("cargo:rustc-env=SCXPACK_GIT_COMMIT={commit}");
    }
}
