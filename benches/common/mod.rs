//! What the VM benchmarks share: the kernel image they boot, a release
//! build of what they run in the guest, and the median of their rounds.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `$SCXPACK_BENCH_KERNEL`, default `../shared/kernels/7.2.13+deb14/vmlinuz`;
/// `None` (after saying so) when it is not there.
pub fn kernel(root: &Path) -> Option<PathBuf> {
    let kernel = std::env::var_os("SCXPACK_BENCH_KERNEL").map_or_else(
        || root.join("../shared/kernels/7.2.13+deb14/vmlinuz"),
        PathBuf::from,
    );
    if kernel.is_file() {
        Some(kernel)
    } else {
        eprintln!("SKIPPED: no kernel image at {}", kernel.display());
        None
    }
}

/// `cargo build --release ARGS`; returns `target/release`.
pub fn build_release(root: &Path, args: &[&str]) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release"])
        .args(args)
        .current_dir(root)
        .status()
        .expect("cargo build");
    assert!(status.success(), "release build failed");
    root.join("target/release")
}

/// The median (the upper one of an even count); NaN when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
