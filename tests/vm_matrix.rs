//! The kernel is the judge: every shipped scheduler and every test object is
//! loaded with `scxpack run` inside every kernel image under QEMU, and the
//! offline `check` must give the same verdict for every kernel × scheduler.
//!
//! One boot per kernel runs everything (the package's schedulers, the test
//! objects, and the loader-behaviour jobs: a second `run` while one is
//! active, a scheduler that calls `scx_bpf_error()`), so the whole matrix
//! costs one boot per kernel. Needs QEMU, busybox-static, the kernel images
//! and a packed `bpf-objects/`: in CI all must be there; elsewhere the test
//! skips with a message.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use scxpack::check;
use scxpack::package::Package;
use scxpack::vm::{Accel, GuestBinary, GuestJob, VmConfig};
use scxpack::vmtest::{self, VmMatrix};

/// Seconds each scheduler runs under the guest's CPU + wakeup workload.
const DURATION: u32 = 3;

/// The shipped package, the fair variants as bare objects, then one package
/// per test-object manifest.
fn packages(dir: &Path) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![common::pack_shipped(dir)];
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(root.join("tests/fixtures/objects"))
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".manifest.json"))
        .collect();
    manifests.sort();
    // Both fair variants as bare objects too: the package loads only the
    // preferred variant, and the portable one must prove itself on 6.19+.
    out.push(root.join("bpf-objects/fair/fair-modern.bpf.o"));
    out.push(root.join("bpf-objects/fair/fair-portable.bpf.o"));
    for m in manifests {
        let name = m
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".manifest.json")
            .to_string();
        out.push(common::pack(&m, &name, dir));
    }
    out
}

fn prerequisites() -> Option<Vec<PathBuf>> {
    for tool in ["qemu-system-x86_64", "busybox"] {
        if scxpack::vm::qemu::find_in_path(tool).is_none() && !Path::new("/bin/busybox").exists() {
            return common::missing(&format!(
                "{tool} (apt-get install qemu-system-x86 busybox-static)"
            ));
        }
    }
    let dir = common::kernels()?;
    let kernels = check::expand_kernels(&[dir]).expect("list kernels");
    if kernels.is_empty() {
        return common::missing("kernel images");
    }
    Some(kernels)
}

/// `run` of the stock scheduler in the background, then a second `run`
/// while it is active: the second must fail with EBUSY naming the first.
fn busy_job(pkg_file: &str) -> GuestJob {
    let script = format!(
        "/bin/scxpack run /pkg/{pkg_file} --scheduler fifo --duration 8 >/dev/null 2>&1 & \
         i=0; while [ $i -lt 60 ] && [ \"$(cat /sys/kernel/sched_ext/state 2>/dev/null)\" != enabled ]; do sleep 0.5; i=$((i+1)); done; \
         /bin/scxpack run /pkg/{pkg_file} --scheduler fair --duration 1; rc=$?; wait; echo \"second-rc=$rc\""
    );
    GuestJob::new("busy", ["sh", "-c", script.as_str()]).with_timeout(Duration::from_secs(90))
}

/// `run` with no duration, stopped by SIGTERM (what systemd sends), with
/// `status` asked while it runs: it must detach cleanly and exit 0.
fn sigterm_job(pkg_file: &str) -> GuestJob {
    let script = format!(
        "/bin/scxpack run /pkg/{pkg_file} --scheduler interactive --json > /tmp/run.json 2>/dev/null & pid=$!; \
         i=0; while [ $i -lt 60 ] && [ \"$(cat /sys/kernel/sched_ext/state 2>/dev/null)\" != enabled ]; do sleep 0.5; i=$((i+1)); done; \
         sleep 1; /bin/scxpack status; kill -TERM $pid; wait $pid; echo \"run-rc=$?\"; \
         echo \"state-after=$(cat /sys/kernel/sched_ext/state)\"; cat /tmp/run.json"
    );
    GuestJob::new("sigterm", ["sh", "-c", script.as_str()]).with_timeout(Duration::from_secs(90))
}

fn vm_config() -> VmConfig {
    VmConfig {
        accel: Accel::Tcg,
        jobs: 2,
        timeout: Duration::from_secs(900),
        guest_binary: GuestBinary::Path(PathBuf::from(env!("CARGO_BIN_EXE_scxpack"))),
        log_dir: Some(
            std::env::temp_dir().join(format!("scxpack-vm-matrix-logs-{}", std::process::id())),
        ),
        ..VmConfig::default()
    }
}

#[test]
fn check_agrees_with_the_kernel_on_every_image() {
    let Some(kernels) = prerequisites() else {
        return;
    };
    let work = common::temp_dir("vm-matrix");
    let inputs = packages(&work);
    let pkg = inputs[0].clone();
    let packages: Vec<Package> = inputs
        .iter()
        .map(|p| Package::open(p).expect("open package"))
        .collect();
    let offline = check::matrix(&packages, &kernels, Some(&work.join("btf-cache"))).expect("check");
    let pkg_file = pkg.file_name().unwrap().to_string_lossy().into_owned();
    let extra = [busy_job(&pkg_file), sigterm_job(&pkg_file)];
    let vm = vmtest::matrix(&inputs, &kernels, &vm_config(), DURATION, &extra).expect("vmtest");
    for boot in &vm.boots {
        assert!(
            boot.failure.is_none(),
            "{}: {:?}",
            boot.kernel.display(),
            boot.failure
        );
    }
    let disagreements = common::disagreements(&offline, &vm);
    assert!(
        disagreements.is_empty(),
        "check and the kernel disagree:\n{}",
        disagreements.join("\n")
    );
    common::assert_shipped_schedulers_ran(&vm, &packages[0], DURATION);
    assert_loader_behaviour(&vm);
    assert_kernel_reads(&vm);
}

/// How each boot's runs read the kernel: the first run of a boot reads
/// it ahead (nothing cached yet), and the BTF is mapped from sysfs exactly
/// on the kernels that allow it (6.16+).
fn assert_kernel_reads(vm: &VmMatrix) {
    for boot in vm.boots.iter().filter(|b| b.sched_ext) {
        let release = boot.release.as_deref().unwrap_or_default();
        let reports: Vec<_> = vm
            .results
            .iter()
            .filter(|r| r.kernel_path == boot.kernel)
            .filter_map(|r| r.report.as_ref()?.report())
            .collect();
        let misses: Vec<_> = reports
            .iter()
            .map(|r| r.phases.select)
            .filter(|p| !p.cache_hit)
            .collect();
        assert!(
            misses.iter().any(|p| p.read_ahead),
            "{release}: no run read the kernel ahead: {misses:?}"
        );
        let mappable = kernel_at_least(release, (6, 16));
        for p in &misses {
            assert_eq!(p.btf_mapped, mappable, "{release}: {p:?}");
        }
        for r in &reports {
            assert_phases_within_enable(release, r);
        }
    }
}

/// `enable_ms` counts from the command's start, so the phases before
/// `enabled` (each rounded down to a millisecond) fit inside it; the peak
/// resident set is never below the resident set.
fn assert_phases_within_enable(release: &str, r: &scxpack::loader::RunReport) {
    let p = &r.phases;
    let parts = p.package_ms + p.select.select_ms + p.open_ms + p.load_ms + p.attach_ms;
    assert!(
        parts <= r.enable_ms + 5,
        "{release} {}: phases add up to {parts} ms, over enable_ms {}: {p:?}",
        r.scheduler,
        r.enable_ms
    );
    if let (Some(rss), Some(peak)) = (r.rss_kib, r.peak_rss_kib) {
        assert!(
            peak >= rss,
            "{release} {}: peak {peak} KiB < {rss} KiB",
            r.scheduler
        );
    }
}

fn kernel_at_least(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (major, minor)
}

fn assert_loader_behaviour(vm: &VmMatrix) {
    for r in vm
        .results
        .iter()
        .filter(|r| r.scheduler == "error_after" && r.sched_ext)
    {
        assert_eq!(
            r.exit_code,
            Some(5),
            "{}: error_after must end as ejected",
            r.kernel
        );
        let exit = r
            .report
            .as_ref()
            .and_then(|rec| rec.report())
            .and_then(|rep| rep.exit.as_ref())
            .expect("exit record");
        assert!(
            exit.kind_name.starts_with("SCX_EXIT_ERROR"),
            "{}: {exit:?}",
            r.kernel
        );
    }
    for r in vm
        .results
        .iter()
        .filter(|r| r.scheduler == "restart" && r.sched_ext)
    {
        let report = r
            .report
            .as_ref()
            .and_then(|rec| rec.report())
            .expect("restart report");
        assert_eq!(
            r.exit_code,
            Some(5),
            "{}: restart ends as an exit once reloads run out",
            r.kernel
        );
        if r.kernel.starts_with("7.1.13") {
            // scx_bpf_exit_bstr is unusable there (implicit aux in the BTF):
            // the fixture falls back to scx_bpf_error, which asks for nothing.
            assert_eq!(report.restarts, 0, "{}: {report:?}", r.kernel);
        } else {
            assert_eq!(
                report.restarts, 3,
                "{}: reloaded --max-restarts times: {report:?}",
                r.kernel
            );
            assert!(
                report
                    .exit
                    .as_ref()
                    .is_some_and(scxpack::loader::ExitInfo::wants_restart),
                "{}: exit code asks for a restart: {report:?}",
                r.kernel
            );
        }
    }
    for (release, job) in &vm.extra {
        let sched_ext = vm
            .boots
            .iter()
            .any(|b| &b.release == release && b.sched_ext);
        let out = format!("{}\n{}", job.stdout.join("\n"), job.stderr.join("\n"));
        if !sched_ext {
            continue;
        }
        if job.id == "busy" {
            assert!(
                out.contains("second-rc=6"),
                "{release:?}: second run must exit 6 (busy): {out}"
            );
            assert!(
                out.contains("scxpack_fifo"),
                "{release:?}: the busy error must name the active scheduler: {out}"
            );
        } else {
            assert!(
                out.contains("scheduler:   scxpack_interactive"),
                "{release:?}: status names it: {out}"
            );
            assert!(
                out.contains("run-rc=0"),
                "{release:?}: SIGTERM detaches with exit 0: {out}"
            );
            assert!(out.contains("state-after=disabled"), "{release:?}: {out}");
            assert!(
                out.contains("\"detached_cleanly\":true"),
                "{release:?}: {out}"
            );
        }
    }
}
