//! Integration tests of the VM harness (`scxpack::vm`) against real kernel
//! images under QEMU (TCG).
//!
//! Kernels come from `$SCXPACK_TEST_KERNELS` or `../shared/kernels` next to
//! the crate (one folder per kernel holding `vmlinuz`, see
//! `tests/vm/README.md`). The tests need `qemu-system-x86_64` and busybox:
//! with `CI=true` a missing prerequisite fails them, otherwise they are
//! skipped with a message naming what is missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scxpack::vm::{self, Accel, GuestBinary, GuestJob, KernelRun, VmConfig};

/// The stock Debian kernel built without `sched_ext`.
const STOCK_NO_SCX: &str = "6.12.117+deb13";

fn default_kernels_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kernels")
}

fn kernels_dir() -> PathBuf {
    std::env::var_os("SCXPACK_TEST_KERNELS").map_or_else(default_kernels_dir, PathBuf::from)
}

fn in_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// The kernel images to boot, or `None` (test skipped) when a prerequisite is
/// missing outside CI. Panics naming the missing pieces when `CI=true`.
fn prerequisites() -> Option<Vec<PathBuf>> {
    let dir = kernels_dir();
    let mut missing = Vec::new();
    if !in_path("qemu-system-x86_64") {
        missing.push("qemu-system-x86_64 (apt-get install qemu-system-x86)".to_owned());
    }
    if !Path::new("/bin/busybox").is_file() && !in_path("busybox") {
        missing.push("busybox (apt-get install busybox-static)".to_owned());
    }
    let kernels = vm::expand_kernels(std::slice::from_ref(&dir)).unwrap_or_default();
    if kernels.is_empty() {
        missing.push(format!(
            "kernel images under {} (set SCXPACK_TEST_KERNELS or run tests/vm/fetch-kernels.sh)",
            dir.display()
        ));
    }
    if missing.is_empty() {
        return Some(kernels);
    }
    let message = format!("VM harness prerequisites missing: {}", missing.join("; "));
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true: {message}"
    );
    eprintln!("skipping: {message}");
    None
}

/// A per-test scratch directory under the cargo target dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vm_harness-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

fn label(kernel: &Path) -> String {
    kernel
        .parent()
        .and_then(Path::file_name)
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Whether the kernel is expected to have `sched_ext`: by its `config` when it
/// has one, otherwise only the stock 6.12 kernel lacks it.
fn expects_sched_ext(kernel: &Path) -> bool {
    let config = kernel.with_file_name("config");
    match fs::read_to_string(&config) {
        Ok(text) => text.lines().any(|l| l == "CONFIG_SCHED_CLASS_EXT=y"),
        Err(_) => label(kernel) != STOCK_NO_SCX,
    }
}

fn tcg(jobs: usize) -> VmConfig {
    VmConfig {
        accel: Accel::Tcg,
        jobs,
        guest_binary: GuestBinary::None,
        timeout: Duration::from_secs(90),
        ..VmConfig::default()
    }
}

#[track_caller]
fn run_ok(
    kernels: &[PathBuf],
    payloads: &[PathBuf],
    jobs: &[GuestJob],
    cfg: &VmConfig,
) -> Vec<KernelRun> {
    vm::run_matrix(kernels, payloads, jobs, cfg).unwrap_or_else(|e| panic!("run_matrix: {e}"))
}

/// No process on the host still has `needle` on its command line.
fn no_process_mentions(needle: &str) -> bool {
    let Ok(procs) = fs::read_dir("/proc") else {
        return true;
    };
    !procs.filter_map(Result::ok).any(|p| {
        fs::read(p.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
    })
}

#[test]
fn every_kernel_boots_and_reports_its_sched_ext_state() {
    let Some(kernels) = prerequisites() else {
        return;
    };
    let dir = scratch("matrix");
    let payload = dir.join("hello.json");
    fs::write(&payload, "{\"hello\":\"guest\"}\n").unwrap();
    let jobs = [
        GuestJob::new("state", ["cat", "/sys/kernel/sched_ext/state"]),
        GuestJob::new("payload", ["cat", "/pkg/hello.json"]),
    ];
    let cfg = VmConfig {
        log_dir: Some(dir.join("logs")),
        ..tcg(2)
    };
    let started = Instant::now();
    let runs = run_ok(&kernels, &[payload], &jobs, &cfg);
    eprintln!(
        "booted {} kernels in {:.1} s with --jobs 2",
        runs.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(runs.len(), kernels.len());
    let (mut with_scx, mut without_scx) = (0, 0);
    for run in &runs {
        let name = label(&run.kernel);
        eprintln!(
            "{name}: release {:?}, sched_ext {:?}, boot {:.2} s, total {:.2} s",
            run.release,
            run.sched_ext,
            run.boot_secs.unwrap_or(f64::NAN),
            run.total_secs
        );
        assert_eq!(run.failure, None, "{name}: {:#?}", run.console);
        assert!(run.booted, "{name} did not boot");
        let release = run.release.as_deref().unwrap_or_default();
        let version = name.split(['+', '-']).next().unwrap_or_default();
        assert!(release.starts_with(version), "{name}: release {release}");
        let state = run
            .job("state")
            .unwrap_or_else(|| panic!("{name}: no state job"));
        if expects_sched_ext(&run.kernel) {
            with_scx += 1;
            assert_eq!(run.sched_ext.as_deref(), Some("disabled"), "{name}");
            assert_eq!(state.rc, Some(0), "{name}: {state:?}");
            assert_eq!(state.stdout, ["disabled"], "{name}");
        } else {
            without_scx += 1;
            assert_eq!(run.sched_ext, None, "{name} reports sched_ext");
            assert_ne!(state.rc, Some(0), "{name}: cat of a missing file succeeded");
            assert!(state.stdout.is_empty(), "{name}: {state:?}");
        }
        let payload = run
            .job("payload")
            .unwrap_or_else(|| panic!("{name}: no payload job"));
        let json = payload
            .json
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: {payload:?}"));
        assert_eq!(json["hello"], "guest", "{name}");
        let log = run
            .console_log
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no log"));
        let text = fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        assert!(
            text.contains("@@SCXPACK-DONE"),
            "{name}: log {}",
            log.display()
        );
    }
    if kernels_dir() == default_kernels_dir() {
        assert_eq!(without_scx, 1, "only {STOCK_NO_SCX} lacks sched_ext");
        assert!(with_scx >= 1);
    }
}

#[test]
fn a_guest_that_never_powers_off_is_killed_at_the_timeout() {
    let Some(kernels) = prerequisites() else {
        return;
    };
    let dir = scratch("hang");
    // A private copy, so the test can check that no QEMU still uses it.
    let kernel = dir.join("hang-kernel").join("vmlinuz");
    fs::create_dir_all(kernel.parent().unwrap()).unwrap();
    fs::copy(&kernels[0], &kernel).unwrap();
    let mut cfg = tcg(1);
    cfg.timeout = Duration::from_secs(12);
    cfg.init.poweroff = false;
    cfg.init.workload = false;
    let jobs = [GuestJob::new("hello", ["echo", "hello"])];
    let started = Instant::now();
    let runs = run_ok(std::slice::from_ref(&kernel), &[], &jobs, &cfg);
    let elapsed = started.elapsed();
    let run = &runs[0];
    let failure = run.failure.as_deref().unwrap_or_default();
    eprintln!("hang: {failure}");
    assert!(
        failure.starts_with("guest timed out after 12 s"),
        "{failure}"
    );
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    if run.booted {
        let hello = run.job("hello").unwrap();
        assert_eq!(hello.stdout, ["hello"]);
        assert!(
            failure.contains("@@SCXPACK-DONE"),
            "tail should show the last marker"
        );
    }
    assert!(
        no_process_mentions(&kernel.to_string_lossy()),
        "a QEMU process survived its timeout"
    );
}

#[test]
fn a_truncated_kernel_is_reported_as_not_booting() {
    let Some(kernels) = prerequisites() else {
        return;
    };
    let dir = scratch("truncated");
    let image = fs::read(&kernels[0]).unwrap();
    let truncated = dir.join("truncated").join("vmlinuz");
    fs::create_dir_all(truncated.parent().unwrap()).unwrap();
    fs::write(&truncated, &image[..image.len().min(1 << 20)]).unwrap();
    let garbage = dir.join("garbage").join("vmlinuz");
    fs::create_dir_all(garbage.parent().unwrap()).unwrap();
    fs::write(&garbage, vec![0u8; 4096]).unwrap();
    let started = Instant::now();
    let runs = run_ok(&[truncated, garbage], &[], &[], &tcg(2));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    for run in &runs {
        let failure = run.failure.as_deref().unwrap_or_default();
        eprintln!("{}: {failure}", label(&run.kernel));
        assert!(!run.booted, "{}", run.kernel.display());
        assert!(!failure.is_empty(), "{}: no failure", run.kernel.display());
    }
    let garbage = runs[1].failure.as_deref().unwrap_or_default();
    assert!(garbage.starts_with("QEMU failed"), "{garbage}");
}

#[test]
fn a_kernel_panic_is_reported_with_its_line() {
    let Some(kernels) = prerequisites() else {
        return;
    };
    let mut cfg = tcg(1);
    // No init at that path and no root device: the kernel panics.
    cfg.append = vec!["rdinit=/does-not-exist".to_owned()];
    let started = Instant::now();
    let runs = run_ok(&kernels[..1], &[], &[], &cfg);
    let failure = runs[0].failure.as_deref().unwrap_or_default();
    eprintln!("panic: {failure}");
    assert!(
        failure.starts_with("Kernel panic - not syncing"),
        "{failure}"
    );
    assert!(!runs[0].booted);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn auto_accel_guest_runs_the_binary_and_reports_each_job() {
    let Some(kernels) = prerequisites() else {
        return;
    };
    let cfg = VmConfig {
        accel: Accel::Auto,
        guest_binary: GuestBinary::Path(PathBuf::from(env!("CARGO_BIN_EXE_scxpack"))),
        ..tcg(1)
    };
    let jobs = [
        // The binary runs: its libraries and loader were copied.
        GuestJob::new("help", ["/bin/scxpack", "--help"]),
        GuestJob::new("fails", ["sh", "-c", "echo partial; echo oops >&2; exit 3"]),
        GuestJob::new("slow", ["sleep", "60"]).with_timeout(Duration::from_secs(1)),
        // Field 4 of loadavg is runnable/total: two spinners + cat make 3.
        GuestJob::new("load", ["cat", "/proc/loadavg"]),
    ];
    let kernel = kernels.last().unwrap();
    let runs = run_ok(std::slice::from_ref(kernel), &[], &jobs, &cfg);
    let run = &runs[0];
    eprintln!("auto: accel {} notes {:?}", run.accel, run.notes);
    assert_eq!(run.failure, None, "{:#?}", run.console);
    let help = run.job("help").unwrap();
    assert_eq!(help.rc, Some(0), "{help:?}");
    assert!(!help.stdout.is_empty(), "{help:?}");
    let fails = run.job("fails").unwrap();
    assert_eq!(fails.rc, Some(3), "{fails:?}");
    assert_eq!(
        (fails.stdout.as_slice(), fails.stderr.as_slice()),
        (&["partial".to_owned()][..], &["oops".to_owned()][..])
    );
    let slow = run.job("slow").unwrap();
    assert_eq!(slow.rc, Some(137), "killed by SIGKILL: {slow:?}");
    let load = run.job("load").unwrap();
    let runnable: u32 = load
        .stdout
        .first()
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|f| f.split('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{load:?}"));
    eprintln!("guest loadavg during the jobs: {:?}", load.stdout);
    assert!(runnable >= 3, "workload not running: {load:?}");
}

#[test]
fn missing_tools_name_their_debian_package() {
    let cfg = VmConfig {
        qemu: Some(PathBuf::from("/nonexistent/qemu-system-x86_64")),
        ..tcg(1)
    };
    let dir = scratch("tools");
    let err = vm::run_matrix(std::slice::from_ref(&dir), &[], &[], &cfg);
    // An empty folder holds no vmlinuz: that is reported first.
    assert!(matches!(err, Err(vm::VmError::NoKernels(_))), "{err:?}");
    let kernel = dir.join("vmlinuz");
    fs::write(&kernel, b"not a kernel").unwrap();
    let err = vm::run_matrix(std::slice::from_ref(&kernel), &[], &[], &cfg).unwrap_err();
    assert!(
        err.to_string().contains("apt-get install qemu-system-x86"),
        "{err}"
    );
    let cfg = VmConfig {
        busybox: Some(PathBuf::from("/nonexistent/busybox")),
        qemu: None,
        ..tcg(1)
    };
    if in_path("qemu-system-x86_64") {
        let err = vm::run_matrix(&[kernel], &[], &[], &cfg).unwrap_err();
        assert!(
            err.to_string().contains("apt-get install busybox-static"),
            "{err}"
        );
    }
}
