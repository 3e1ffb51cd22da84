//! Time from `scxpack run`'s process start (before it opens the package)
//! to sched_ext `enabled`, against the minimal libbpf-rs loader (`examples/minimal_loader.rs`) loading the same object in
//! the same VM boot, alternating, so both see the same guest and host noise.
//! Also reports the loader's resident set size while the scheduler runs, and
//! where `scxpack run`'s time went (its `phases`): the first round reads and
//! parses the kernel's BTF (a cold start), the later ones find the verdicts
//! in the running kernel's cache under `/var/cache/scxpack` (a restart, a
//! switch, or a later boot of the same kernel).
//! Then the same object is started and stopped through `scxpack daemon`,
//! alternating with the minimal loader again: the daemon's `enable_ms`
//! counts from a request's arrival, in a process whose code has run before
//! (what a switch pays, with no new process).
//! Last, the kernel's cache that boot wrote is taken out, and the same kernel
//! boots `$SCXPACK_BENCH_BOOTS` (default 3) more times with it in place: in
//! each, after one run of the minimal loader (so neither side pays for
//! QEMU's first translation of the kernel's BPF code), the boot's first
//! `scxpack run` is timed against the minimal loader right after it (what
//! the start at boot of a kernel booted before pays).
//!
//! `cargo bench --bench run_enable` (needs QEMU, busybox-static and a kernel
//! image: `$SCXPACK_BENCH_KERNEL`, default `../shared/kernels/7.2.13+deb14/vmlinuz`).

mod common;

use std::path::Path;
use std::time::Duration;

use scxpack::vm::{self, Accel, GuestBinary, GuestJob, VmConfig};

/// Alternating rounds per side (`$SCXPACK_BENCH_ROUNDS`, default 11).
fn rounds() -> usize {
    std::env::var("SCXPACK_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= 2)
        .unwrap_or(11)
}

/// One `scxpack run` of the object for a second.
const RUN_ARGV: [&str; 6] = [
    "/bin/scxpack",
    "run",
    "/pkg/fifo.bpf.o",
    "--duration",
    "1",
    "--json",
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(kernel) = common::kernel(root) else {
        return;
    };
    let release = common::build_release(root, &["--bin", "scxpack", "--example", "minimal_loader"]);
    let object = root.join("bpf-objects/fifo/fifo.bpf.o");
    let minimal = release.join("examples/minimal_loader");
    let rounds = rounds();
    let mut jobs = vec![prepare_minimal()];
    for i in 0..rounds {
        jobs.push(GuestJob::new(format!("scxpack-{i}"), RUN_ARGV));
        jobs.push(GuestJob::new(
            format!("minimal-{i}"),
            ["/tmp/m", "/pkg/fifo.bpf.o", "1"],
        ));
    }
    jobs.extend(daemon_jobs(rounds));
    jobs.push(GuestJob::copy_out("kernel-cache", &kernel_cache_files()));
    let cfg = VmConfig {
        accel: Accel::Tcg,
        timeout: Duration::from_secs(900),
        guest_binary: GuestBinary::Path(release.join("scxpack")),
        ..VmConfig::default()
    };
    let runs = vm::run_matrix(
        std::slice::from_ref(&kernel),
        &[object.clone(), minimal.clone()],
        &jobs,
        &cfg,
    )
    .expect("vm run");
    let run = &runs[0];
    assert!(run.failure.is_none(), "guest failed: {:?}", run.failure);
    let figure = |prefix: &str, key: &str| figure(run, prefix, key);
    let ours = figure("scxpack-", "enable_ms");
    let theirs = figure("minimal-", "enable_ms");
    let rss = figure("scxpack-", "rss_kib");
    assert_eq!(ours.len(), rounds, "scxpack runs: {:?}", run.jobs);
    assert_eq!(theirs.len(), rounds, "minimal runs: {:?}", run.jobs);
    println!(
        "kernel {} (TCG, -smp 2, guest workload running), {rounds} alternating rounds",
        run.release.as_deref().unwrap_or("?")
    );
    print_ratios(&ours, &theirs);
    println!(
        "scxpack run resident set while running: median {:.0} KiB",
        common::median(rss)
    );
    println!(
        "peak resident set (VmHWM): scxpack run median {:.0} KiB, minimal median {:.0} KiB",
        common::median(figure("scxpack-", "peak_rss_kib")),
        common::median(figure("minimal-", "peak_rss_kib"))
    );
    print_phases(run);
    println!(
        "minimal loader open / load / attach->enabled (ms): {:?} / {:?} / {:?}",
        figure("minimal-", "open_ms"),
        figure("minimal-", "load_ms"),
        figure("minimal-", "attach_ms")
    );
    print_daemon(run, rounds);
    let cache = run.jobs.iter().find(|j| j.id == "kernel-cache");
    let files = cache.and_then(vm::JobResult::files).unwrap_or_default();
    let [(name, bytes)] = files.as_slice() else {
        panic!("one kernel cache file in the guest: {cache:?}");
    };
    let dir = std::env::temp_dir().join(format!("scxpack-bench-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join(name), bytes).expect("cache file");
    later_boots(&kernel, &[object, minimal, dir.join(name)], name, &cfg);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Makes the minimal loader executable once, so every round runs the same
/// file (as every `scxpack run` round runs the same /bin/scxpack).
fn prepare_minimal() -> GuestJob {
    GuestJob::new(
        "prepare",
        [
            "sh",
            "-c",
            "cp /pkg/minimal_loader /tmp/m && chmod +x /tmp/m",
        ],
    )
}

/// Where the guest's kernel cache files are.
fn kernel_cache_files() -> String {
    format!("/{}/*.cache", scxpack::live::KERNEL_CACHE)
}

/// Later boots of the same kernel with the first boot's kernel cache
/// `name` (among `files`) in place: each boot's first `scxpack run`
/// against the minimal loader right after it.
fn later_boots(kernel: &Path, files: &[std::path::PathBuf], name: &str, cfg: &VmConfig) {
    let boots = std::env::var("SCXPACK_BENCH_BOOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let jobs = [
        prepare_minimal(),
        GuestJob::copy_in("place", name, &format!("/{}", scxpack::live::KERNEL_CACHE)),
        GuestJob::new("warm-up", ["/tmp/m", "/pkg/fifo.bpf.o", "1"]),
        GuestJob::new("scxpack-first", RUN_ARGV),
        GuestJob::new("minimal-after", ["/tmp/m", "/pkg/fifo.bpf.o", "1"]),
    ];
    let (mut ours, mut theirs, mut hits) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..boots {
        let runs = vm::run_matrix(&[kernel.to_path_buf()], files, &jobs, cfg).expect("vm run");
        let run = &runs[0];
        assert!(run.failure.is_none(), "guest failed: {:?}", run.failure);
        ours.extend(figure(run, "scxpack-first", "enable_ms"));
        theirs.extend(figure(run, "minimal-after", "enable_ms"));
        let job = run.jobs.iter().find(|j| j.id == "scxpack-first");
        let phases = job.and_then(|j| j.json.as_ref()?.get("phases").cloned());
        hits.push(phases.and_then(|p| p.get("cache_hit")?.as_bool()));
    }
    assert_eq!((ours.len(), theirs.len()), (boots, boots), "later boots");
    assert!(
        hits.iter().all(|&h| h == Some(true)),
        "every later boot's first start found the kernel cache: {hits:?}"
    );
    let paired: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| a / b).collect();
    println!(
        "first start of a later boot (kernel cache in place, hit in every boot): \
         scxpack run {ours:?}, minimal after it {theirs:?}; ratios {paired:.2?}, median {:.2}",
        common::median(paired.clone())
    );
}

/// Both sides' enable times, and `ours` over `theirs`: cold (the first
/// round), warm (the rest) against the minimal median, and warm paired.
fn print_ratios(ours: &[f64], theirs: &[f64]) {
    let rounds = ours.len();
    println!(
        "scxpack run   enable ms: {ours:?}  median {:.0}",
        common::median(ours.to_vec())
    );
    println!(
        "minimal load  enable ms: {theirs:?}  median {:.0}",
        common::median(theirs.to_vec())
    );
    let cold = ours[0];
    let warm = common::median(ours[1..].to_vec());
    // Each warm round against the minimal round right after it: the pair
    // saw the same moment of the host's drift.
    let paired = common::median(
        ours[1..]
            .iter()
            .zip(&theirs[1..])
            .map(|(a, b)| a / b)
            .collect(),
    );
    let base = common::median(theirs.to_vec());
    println!(
        "ratio cold (round 1, BTF read) / median minimal: {:.2}",
        cold / base
    );
    println!(
        "ratio warm (rounds 2-{rounds}, boot cache) median / median minimal: {:.2}",
        warm / base
    );
    println!("ratio warm, median of each round over the minimal round after it: {paired:.2}");
}

/// The `key` figure of every job whose id starts with `prefix`, in order.
fn figure(run: &vm::KernelRun, prefix: &str, key: &str) -> Vec<f64> {
    run.jobs
        .iter()
        .filter(|j| j.id.starts_with(prefix))
        .filter_map(|j| j.json.as_ref()?.get(key)?.as_f64())
        .collect()
}

/// The daemon's starts against the minimal loader run beside them.
fn print_daemon(run: &vm::KernelRun, rounds: usize) {
    let daemon = figure(run, "daemon-", "enable_ms");
    let beside = figure(run, "beside-", "enable_ms");
    assert_eq!(daemon.len(), rounds + 1, "daemon starts: {:?}", run.jobs);
    let (first, rest) = (daemon[0], daemon[1..].to_vec());
    let (median, base) = (common::median(rest.clone()), common::median(beside.clone()));
    println!(
        "daemon start enable ms (from the request): first {first:.0}, then {rest:?} median \
         {median:.0}; minimal beside them {beside:?} median {base:.0}; ratio {:.2}",
        median / base
    );
}

/// `scxpack daemon` started in the background, then a first start and
/// `rounds` more of the object through it (each stopped a second later),
/// each round followed by the minimal loader.
fn daemon_jobs(rounds: usize) -> Vec<GuestJob> {
    const SOCKET: &str = "/tmp/scxpack-bench.sock";
    let up = format!(
        "/bin/scxpack daemon --socket {SOCKET} --state /tmp/scxpack-bench.json --no-restore \
         >/tmp/daemon.log 2>&1 & \
         for i in $(seq 100); do [ -S {SOCKET} ] && exit 0; sleep 0.1; done; cat /tmp/daemon.log; exit 1"
    );
    let start_stop = format!(
        "/bin/scxpack switch /pkg/fifo.bpf.o --socket {SOCKET} --json && sleep 1 && \
         /bin/scxpack stop --socket {SOCKET} >/dev/null"
    );
    let mut jobs = vec![
        GuestJob::new("daemon-up", ["sh", "-c", up.as_str()]),
        GuestJob::new("daemon-first", ["sh", "-c", start_stop.as_str()]),
    ];
    for i in 0..rounds {
        jobs.push(GuestJob::new(
            format!("daemon-{i}"),
            ["sh", "-c", start_stop.as_str()],
        ));
        jobs.push(GuestJob::new(
            format!("beside-{i}"),
            ["/tmp/m", "/pkg/fifo.bpf.o", "1"],
        ));
    }
    jobs
}

/// Where each `scxpack run` round's time went, from its JSON report.
fn print_phases(run: &vm::KernelRun) {
    println!("phases of each scxpack round (ms):");
    for job in run.jobs.iter().filter(|j| j.id.starts_with("scxpack-")) {
        let p = job.json.as_ref().and_then(|j| j.get("phases"));
        let get = |k: &str| {
            p.and_then(|p| p.get(k))
                .map_or_else(|| "?".into(), ToString::to_string)
        };
        println!(
            "  {}: package {}, select {} (cache hit {}; read {}, BTF mapped {}, read ahead {}, \
             parse {}, judge {}), open {}, load {}, attach->enabled {}",
            job.id,
            get("package_ms"),
            get("select_ms"),
            get("cache_hit"),
            get("read_ms"),
            get("btf_mapped"),
            get("read_ahead"),
            get("parse_ms"),
            get("judge_ms"),
            get("open_ms"),
            get("load_ms"),
            get("attach_ms")
        );
    }
}
