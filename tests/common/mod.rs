//! Helpers shared by the integration tests: where the kernel images are, and
//! the rule for missing prerequisites (skip with a message outside CI, fail
//! when `CI=true`).
#![allow(dead_code, reason = "each test crate uses a different subset")]

use std::path::{Path, PathBuf};

/// `$SCXPACK_TEST_KERNELS`, else `../shared/kernels` beside the checkout.
#[must_use]
pub fn kernels_dir() -> PathBuf {
    std::env::var_os("SCXPACK_TEST_KERNELS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kernels"),
        PathBuf::from,
    )
}

/// True when running under CI, where nothing may be skipped.
#[must_use]
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Call when a prerequisite is missing: panics in CI, else prints why the
/// test is skipped. Returns `None` so callers can `let Some(..) = ... else { return }`.
pub fn missing<T>(what: &str) -> Option<T> {
    assert!(!in_ci(), "CI=true but {what} is missing");
    eprintln!("SKIPPED: {what} is missing");
    None
}

/// Whether `tool` is on `PATH`.
#[must_use]
pub fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Every `(tool, Debian package)` on `PATH`, and root (`why_root` says what
/// for); else [`missing`] names the first thing that is not there.
pub fn tools_and_root(tools: &[(&str, &str)], why_root: &str) -> Option<()> {
    for (tool, package) in tools {
        if !have(tool) {
            return missing(&format!(
                "{tool} (Debian package {package}; .ci/setup installs it)"
            ));
        }
    }
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        return missing(&format!("root ({why_root})"));
    }
    Some(())
}

/// The kernels directory, when it exists.
#[must_use]
pub fn kernels() -> Option<PathBuf> {
    let dir = kernels_dir();
    if dir.is_dir() {
        Some(dir)
    } else {
        missing(&format!(
            "kernel images at {} (set SCXPACK_TEST_KERNELS or run tests/vm/fetch-kernels.sh)",
            dir.display()
        ))
    }
}

/// The `vmlinuz` of kernel folder `name` (e.g. `6.16.3+deb13`), when present.
#[must_use]
pub fn vmlinuz(name: &str) -> Option<PathBuf> {
    let path = kernels()?.join(name).join("vmlinuz");
    if path.is_file() {
        Some(path)
    } else {
        missing(&format!("{}", path.display()))
    }
}

/// A fresh, empty temporary directory unique to this test.
#[must_use]
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scxpack-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Runs the `scxpack` binary with `args`; returns (exit code, stdout, stderr).
#[must_use]
pub fn scxpack(args: &[&str]) -> (i32, String, String) {
    scxpack_env(args, &[])
}

/// As [`scxpack`], with extra environment variables.
#[must_use]
pub fn scxpack_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scxpack"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run scxpack");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `script` with `sh -ec` in `dir`; whether it succeeded.
pub fn sh(dir: &Path, script: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-ec", script])
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success())
}

/// The VM settings of the kernel-sample tests: TCG, two guests at a time,
/// the `scxpack` binary of this build as the guest loader.
#[must_use]
pub fn sample_vm_config(timeout_secs: u64) -> scxpack::vm::VmConfig {
    scxpack::vm::VmConfig {
        accel: scxpack::vm::Accel::Tcg,
        jobs: 2,
        timeout: std::time::Duration::from_secs(timeout_secs),
        guest_binary: scxpack::vm::GuestBinary::Path(PathBuf::from(env!("CARGO_BIN_EXE_scxpack"))),
        ..scxpack::vm::VmConfig::default()
    }
}

/// Where the CI keeps arm64 kernels (`.ci/setup` fetches them there).
pub const ARM64_KERNELS_CACHE: &str = "/var/cache/scxpack-ci/kernels-arm64";

/// The arm64 kernel directory (`$SCXPACK_TEST_KERNELS_ARM64`, else
/// [`ARM64_KERNELS_CACHE`]; layout `VERSION/vmlinuz`), when it exists.
#[must_use]
pub fn arm64_kernels() -> Option<PathBuf> {
    let dir = std::env::var_os("SCXPACK_TEST_KERNELS_ARM64")
        .map_or_else(|| PathBuf::from(ARM64_KERNELS_CACHE), PathBuf::from);
    if dir.join("SHA256SUMS").is_file() {
        Some(dir)
    } else {
        missing(&format!(
            "arm64 kernel images at {} (set SCXPACK_TEST_KERNELS_ARM64 or run .ci/setup, which runs tests/vm/fetch-kernels.sh --arch arm64)",
            dir.display()
        ))
    }
}
