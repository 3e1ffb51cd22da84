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

/// `examples/NAME` of this build: a plain `cargo test` builds the examples
/// before running tests (a single `--test` run does not, and cannot build
/// it here: cargo holds the build lock while tests run).
#[must_use]
pub fn example(name: &str) -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_BIN_EXE_scxpack"))
        .parent()?
        .join("examples")
        .join(name);
    let present = bin.is_file();
    found(bin, present, |bin| {
        format!(
            "{} (run `cargo build --example {name}` first, or plain `cargo test`)",
            bin.display()
        )
    })
}

/// `path` when `present`; else [`missing`] says what is missing (`what` of
/// the path).
fn found(path: PathBuf, present: bool, what: impl FnOnce(&Path) -> String) -> Option<PathBuf> {
    if present {
        Some(path)
    } else {
        missing(&what(&path))
    }
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
    let present = dir.is_dir();
    found(dir, present, |dir| {
        format!(
            "kernel images at {} (set SCXPACK_TEST_KERNELS or run tests/vm/fetch-kernels.sh)",
            dir.display()
        )
    })
}

/// The `vmlinuz` of kernel folder `name` (e.g. `6.16.3+deb13`), when present.
#[must_use]
pub fn vmlinuz(name: &str) -> Option<PathBuf> {
    let path = kernels()?.join(name).join("vmlinuz");
    let present = path.is_file();
    found(path, present, |path| path.display().to_string())
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

/// Packs `source` (a folder or a manifest) into `dir/NAME.scxpkg` with the
/// real CLI.
#[track_caller]
pub fn pack(source: &Path, name: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{name}.scxpkg"));
    let (rc, _, err) = scxpack(&[
        "pack",
        &source.to_string_lossy(),
        "-o",
        &out.to_string_lossy(),
        "--name",
        name,
    ]);
    assert_eq!(rc, 0, "pack {} failed: {err}", source.display());
    out
}

/// The shipped package: `bpf-objects/` packed as `scxpack-schedulers`, the
/// one package every VM proof (x86_64 and arm64) boots.
#[track_caller]
pub fn pack_shipped(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    pack(&root.join("bpf-objects"), "scxpack-schedulers", dir)
}

/// The VM result of one kernel × package × scheduler.
#[track_caller]
pub fn vm_result<'m>(
    m: &'m scxpack::vmtest::VmMatrix,
    kernel: &Path,
    package: &str,
    sched: &str,
) -> &'m scxpack::vmtest::VmResult {
    m.results
        .iter()
        .find(|r| r.kernel_path == kernel && r.package == package && r.scheduler == sched)
        .unwrap_or_else(|| panic!("no VM result for {package}/{sched} on {}", kernel.display()))
}

/// Every cell where the offline `check` and the kernel in the VM disagree
/// (loadable or not, and the variant chosen), one line each; panics when
/// they disagree on whether the kernel has sched_ext.
#[track_caller]
pub fn disagreements(
    offline: &scxpack::check::Matrix,
    vm: &scxpack::vmtest::VmMatrix,
) -> Vec<String> {
    let mut out = Vec::new();
    for cell in &offline.results {
        let r = vm_result(vm, &cell.kernel_path, &cell.package, &cell.scheduler);
        assert_eq!(
            r.sched_ext, cell.sched_ext,
            "{}: sched_ext presence",
            cell.kernel
        );
        if cell.loadable != r.loaded || (r.loaded && cell.variant != r.variant) {
            out.push(format!(
                "{} / {}: check says {:?} ({}), the kernel says loaded={} variant={:?} ({})",
                cell.kernel,
                cell.scheduler,
                cell.variant,
                cell.reasons.join("; "),
                r.loaded,
                r.variant,
                r.reason.as_deref().unwrap_or("ok")
            ));
        }
    }
    out
}

/// Every scheduler of `pkg` loads, runs `duration` seconds and detaches on
/// every sched_ext kernel; kernels without sched_ext get the clear error.
#[track_caller]
pub fn assert_shipped_schedulers_ran(
    vm: &scxpack::vmtest::VmMatrix,
    pkg: &scxpack::package::Package,
    duration: u32,
) {
    for r in vm.results.iter().filter(|r| r.package == pkg.manifest.name) {
        if r.sched_ext {
            assert!(
                r.ok,
                "{} / {} did not run cleanly: {:?}",
                r.kernel, r.scheduler, r.reason
            );
            assert!(
                r.ran_secs.unwrap_or(0.0) >= f64::from(duration) - 0.5,
                "{} / {}",
                r.kernel,
                r.scheduler
            );
        } else {
            assert_eq!(
                r.exit_code,
                Some(4),
                "{} / {}: exit code without sched_ext",
                r.kernel,
                r.scheduler
            );
            let err = r.reason.as_deref().unwrap_or_default();
            assert!(
                err.contains("CONFIG_SCHED_CLASS_EXT"),
                "{}: {err}",
                r.kernel
            );
        }
    }
}
