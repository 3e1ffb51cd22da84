//! One package for x86_64 and arm64, proven by arm64 kernels (issue #16):
//! the very `.scxpkg` the x86_64 VM proof packs from `bpf-objects/` (same
//! bytes, same sha256) is booted in every cached Debian arm64 kernel under
//! `qemu-system-aarch64 -M virt` (TCG), where the arm64 scxpack cross-built
//! by `packaging/cross-arm64.sh` runs every shipped scheduler under load and
//! detaches; the offline `check` on the arm64 images must agree with each
//! kernel × scheduler. One boot per kernel, every scheduler a job in it.
//! A second test boots an x86_64 and an arm64 kernel in one run.
//!
//! Needs qemu-system-aarch64 (`qemu-system-arm`), the arm64 kernels
//! (`.ci/setup`) and the cross-built guest (`packaging/cross-arm64.sh`; its
//! folder is `$SCXPACK_ARM64_GUEST`, else the CI cache): in CI all must be
//! there, elsewhere the tests skip with a message.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scxpack::check;
use scxpack::kernel::Arch;
use scxpack::package::{Package, sha256_hex};
use scxpack::vm::{self, Accel, ForeignGuest, GuestBinary, GuestJob, VmConfig};
use scxpack::vmtest;

/// Seconds each scheduler runs under the guest's CPU + wakeup workload.
const DURATION: u32 = 3;

/// Where `packaging/cross-arm64.sh` leaves the arm64 guest by default.
const GUEST_CACHE: &str = "/var/cache/scxpack-ci/cross-arm64";

/// The arm64 guest made by `packaging/cross-arm64.sh`: scxpack, busybox and
/// the root its libraries come from; `None` (a skip, or a panic in CI) when
/// it or qemu-system-aarch64 is missing.
fn arm64_guest() -> Option<ForeignGuest> {
    if !common::have("qemu-system-aarch64") {
        return common::missing("qemu-system-aarch64 (apt-get install qemu-system-arm)");
    }
    let dir = std::env::var_os("SCXPACK_ARM64_GUEST")
        .map_or_else(|| PathBuf::from(GUEST_CACHE), PathBuf::from);
    let guest = ForeignGuest {
        qemu: None,
        busybox: Some(dir.join("busybox")),
        binary: Some(dir.join("scxpack")),
        sysroot: Some(dir.join("sysroot")),
    };
    let parts = [&guest.busybox, &guest.binary, &guest.sysroot];
    if let Some(absent) = parts.into_iter().flatten().find(|p| !p.exists()) {
        return common::missing(&format!(
            "the arm64 guest {} (run packaging/cross-arm64.sh as root)",
            absent.display()
        ));
    }
    Some(guest)
}

/// The arm64 kernel folder and the arm64 guest.
fn prerequisites() -> Option<(PathBuf, ForeignGuest)> {
    let dir = common::arm64_kernels()?;
    Some((dir, arm64_guest()?))
}

fn vm_config(guest: ForeignGuest, tag: &str) -> VmConfig {
    VmConfig {
        accel: Accel::Tcg,
        jobs: 2,
        timeout: Duration::from_secs(900),
        guest_binary: GuestBinary::Path(PathBuf::from(env!("CARGO_BIN_EXE_scxpack"))),
        log_dir: Some(std::env::temp_dir().join(format!(
            "scxpack-arm64-vm-{tag}-logs-{}",
            std::process::id()
        ))),
        arm64: guest,
        ..VmConfig::default()
    }
}

/// The shipped package, checked to be the x86_64 proof's: packing
/// `bpf-objects/` is reproducible (two packs, one sha256) and every object
/// in it is the one `objects.lock` records.
fn shipped_package(work: &Path) -> (PathBuf, String) {
    let pkg = common::pack_shipped(work);
    let again_dir = work.join("again");
    std::fs::create_dir_all(&again_dir).expect("create dir");
    let again = common::pack_shipped(&again_dir);
    let sha = sha256_hex(&std::fs::read(&pkg).expect("read package"));
    let sha_again = sha256_hex(&std::fs::read(&again).expect("read package"));
    assert_eq!(sha, sha_again, "packing bpf-objects/ is not reproducible");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock = std::fs::read_to_string(root.join("bpf-objects/objects.lock")).expect("lock");
    let lock: serde_json::Value = serde_json::from_str(&lock).expect("objects.lock is JSON");
    let locked: Vec<&str> = lock["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["sha256"].as_str())
        .collect();
    let opened = Package::open(&pkg).expect("open package");
    for s in &opened.manifest.schedulers {
        for v in &s.variants {
            assert!(
                locked.contains(&v.sha256.as_str()),
                "{}/{}: object {} is not in objects.lock",
                s.name,
                v.name,
                v.sha256
            );
        }
    }
    (pkg, sha)
}

#[test]
fn one_package_runs_every_scheduler_on_every_arm64_kernel() {
    let Some((dir, guest)) = prerequisites() else {
        return;
    };
    let kernels = check::expand_kernels(&[dir]).expect("list arm64 kernels");
    assert!(kernels.len() >= 4, "{kernels:?}");
    let work = common::temp_dir("arm64-vm");
    let (pkg, sha) = shipped_package(&work);
    eprintln!("package {} sha256 {sha}", pkg.display());
    let package = Package::open(&pkg).expect("open package");
    let offline = check::matrix(
        std::slice::from_ref(&package),
        &kernels,
        Some(&work.join("btf-cache")),
    )
    .expect("check");
    assert_eq!(
        offline.results.len(),
        kernels.len() * package.manifest.schedulers.len(),
        "check gives one cell per kernel × scheduler"
    );
    let begun = Instant::now();
    let cfg = vm_config(guest, "proof");
    let vm = vmtest::matrix(std::slice::from_ref(&pkg), &kernels, &cfg, DURATION, &[])
        .expect("vmtest on arm64");
    eprintln!(
        "arm64 matrix: {} kernels in {:.1} s",
        vm.boots.len(),
        begun.elapsed().as_secs_f64()
    );
    assert_eq!(vm.boots.len(), kernels.len());
    for boot in &vm.boots {
        eprintln!(
            "{}: boot {:.1} s, total {:.1} s",
            boot.release.as_deref().unwrap_or("?"),
            boot.boot_secs.unwrap_or(f64::NAN),
            boot.total_secs
        );
        assert!(
            boot.failure.is_none(),
            "{}: {:?}",
            boot.kernel.display(),
            boot.failure
        );
        let release = boot.release.as_deref().unwrap_or_default();
        assert!(release.ends_with("-arm64"), "booted {release:?}");
        assert!(boot.sched_ext, "{release}: Debian arm64 has sched_ext");
    }
    assert!(!package.manifest.schedulers.is_empty());
    for s in &package.manifest.schedulers {
        assert_eq!(
            vm.results
                .iter()
                .filter(|r| r.scheduler == s.name && r.ok)
                .count(),
            kernels.len(),
            "{} must run on every arm64 kernel",
            s.name
        );
    }
    common::assert_shipped_schedulers_ran(&vm, &package, DURATION);
    let disagreements = common::disagreements(&offline, &vm);
    assert!(
        disagreements.is_empty(),
        "check and the arm64 kernels disagree:\n{}",
        disagreements.join("\n")
    );
}

/// One x86_64 and one arm64 kernel in one run: each boots under its own
/// QEMU with its own initramfs, in the order given.
#[test]
fn a_mixed_list_boots_each_kernel_under_its_own_qemu() {
    let Some((dir, guest)) = prerequisites() else {
        return;
    };
    let Some(x86) = common::kernels() else {
        return;
    };
    let x86 = check::expand_kernels(&[x86]).expect("list x86 kernels");
    let Some(x86) = x86.into_iter().find(|k| {
        scxpack::kernel::source::sniff_file(k)
            .ok()
            .flatten()
            .and_then(scxpack::kernel::source::Format::arch)
            == Some(Arch::X86_64)
    }) else {
        common::missing::<()>("an x86_64 bzImage among the test kernels");
        return;
    };
    let arm = dir.join("6.16.3+deb13/vmlinuz");
    let jobs = [GuestJob::new("arch", ["uname", "-m"])];
    let mut cfg = vm_config(guest, "mixed");
    cfg.timeout = Duration::from_secs(300);
    let runs = vm::run_matrix(&[arm.clone(), x86.clone()], &[], &jobs, &cfg).expect("mixed run");
    assert_eq!(runs.len(), 2);
    for (run, (kernel, machine)) in runs.iter().zip([(&arm, "aarch64"), (&x86, "x86_64")]) {
        assert_eq!(&run.kernel, kernel);
        assert!(
            run.all_jobs_succeeded(),
            "{}: {:?}",
            kernel.display(),
            run.failure
        );
        let out = &run.job("arch").expect("arch job").stdout;
        assert_eq!(out, &[machine.to_owned()], "{}", kernel.display());
    }
}
