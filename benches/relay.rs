//! The hybrid scheduler `relay` against `fair` under the same CPU + wakeup
//! workload, in one VM boot, rounds alternating so both see the same guest
//! and host noise: the workload's throughput under each (CPU loop
//! iterations and timer wakeups per second), and relay's user-space round
//! trip (runnable → decision handed back: median, p99, max) and share of
//! decisions made in user space.
//!
//! `cargo bench --bench relay` (needs QEMU, busybox-static and a kernel
//! image: `$SCXPACK_BENCH_KERNEL`, default
//! `../shared/kernels/7.2.13+deb14/vmlinuz`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use scxpack::vm::{self, Accel, GuestBinary, GuestJob, InitOptions, VmConfig};

const ROUNDS: usize = 3;
/// Seconds the workload runs in each round.
const WORK_SECS: u32 = 6;

/// The workload: one CPU loop per CPU and one 1 ms timer loop, until
/// /tmp/stop appears; prints `cpu N` per loop and `wake N`. It waits for
/// its own loops only (the scheduler runs in the same shell's background).
const WORKLOAD: &str = "rm -f /tmp/stop; w=''; \
    for c in $(seq $(nproc)); do ( n=0; while [ ! -e /tmp/stop ]; do n=$((n+1)); done; echo cpu $n ) & w=\"$w $!\"; done; \
    ( n=0; while [ ! -e /tmp/stop ]; do usleep 1000; n=$((n+1)); done; echo wake $n ) & w=\"$w $!\"; \
    sleep WORK_SECS; touch /tmp/stop; wait $w";

/// Waits (up to 30 s) until sched_ext is enabled.
const WAIT_ENABLED: &str = "i=0; while [ $i -lt 300 ] && [ \"$(cat /sys/kernel/sched_ext/state)\" != enabled ]; do sleep 0.1; i=$((i+1)); done";

/// Waits (up to 30 s) until sched_ext is disabled again, so that the next
/// round starts from the kernel's own scheduler.
const WAIT_DISABLED: &str = "i=0; while [ $i -lt 300 ] && [ \"$(cat /sys/kernel/sched_ext/state)\" != disabled ]; do sleep 0.1; i=$((i+1)); done";

fn pack(scxpack: &Path, dir: &Path, name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = dir.join(format!("{name}.scxpkg"));
    let status = Command::new(scxpack)
        .arg("pack")
        .arg(root.join("bpf-objects").join(name))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("scxpack pack");
    assert!(status.success(), "pack {name}");
    out
}

/// One round: the scheduler started in the background, the workload, then
/// the scheduler stopped with SIGTERM.
fn round(id: String, start: &str) -> GuestJob {
    let workload = WORKLOAD.replace("WORK_SECS", &WORK_SECS.to_string());
    let script = format!(
        "{start} & pid=$!; {WAIT_ENABLED}; echo state $(cat /sys/kernel/sched_ext/state); \
         echo ops $(cat /sys/kernel/sched_ext/root/ops); \
         {workload}; kill -TERM $pid; wait $pid; echo rc $?; cat /tmp/report 2>/dev/null; \
         cat /tmp/relay.err >&2 2>/dev/null; rm -f /tmp/report /tmp/relay.err; {WAIT_DISABLED}"
    );
    GuestJob::new(id, ["sh", "-c", script.as_str()]).with_timeout(Duration::from_secs(120))
}

/// The workload's figures of one round: (CPU iterations/s, wakeups/s),
/// when the scheduler `ops` (a prefix of its ops name) was the one enabled.
fn throughput(lines: &[String], ops: &str) -> Option<(f64, f64)> {
    let sum = |key: &str| -> f64 {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(key)?.trim().parse::<f64>().ok())
            .sum()
    };
    let enabled = lines.iter().any(|l| l == "state enabled")
        && lines
            .iter()
            .any(|l| l.strip_prefix("ops ").is_some_and(|o| o.starts_with(ops)));
    enabled.then(|| {
        (
            sum("cpu ") / f64::from(WORK_SECS),
            sum("wake ") / f64::from(WORK_SECS),
        )
    })
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(kernel) = common::kernel(root) else {
        return;
    };
    let release = common::build_release(root, &["--bin", "scxpack", "--bin", "scxpack-relay"]);
    let dir = std::env::temp_dir().join(format!("scxpack-bench-relay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scxpack = release.join("scxpack");
    let packages = [pack(&scxpack, &dir, "fair"), pack(&scxpack, &dir, "relay")];
    let mut jobs = vec![GuestJob::new(
        "chmod",
        ["chmod", "755", "/bin/scxpack-relay"],
    )];
    for i in 0..ROUNDS {
        jobs.push(round(
            format!("fair-{i}"),
            "/bin/scxpack run /pkg/fair.scxpkg 2>/dev/null",
        ));
        jobs.push(round(
            format!("relay-{i}"),
            "/bin/scxpack-relay /pkg/relay.scxpkg --json >/tmp/report 2>/tmp/relay.err",
        ));
    }
    let cfg = VmConfig {
        accel: Accel::Tcg,
        timeout: Duration::from_secs(1200),
        guest_binary: GuestBinary::Path(scxpack),
        files: vec![("bin/scxpack-relay".into(), release.join("scxpack-relay"))],
        init: InitOptions {
            workload: false,
            ..InitOptions::default()
        },
        ..VmConfig::default()
    };
    let runs = vm::run_matrix(std::slice::from_ref(&kernel), &packages, &jobs, &cfg).expect("vm");
    let run = &runs[0];
    assert!(run.failure.is_none(), "guest failed: {:?}", run.failure);
    report(run);
    let _ = std::fs::remove_dir_all(&dir);
}

fn report(run: &vm::KernelRun) {
    println!(
        "kernel {} (TCG, -smp {}), {ROUNDS} alternating rounds of {WORK_SECS} s: one CPU loop per CPU + a 1 ms timer loop",
        run.release.as_deref().unwrap_or("?"),
        VmConfig::default().cpus
    );
    let figures = |prefix: &str, ops: &str| -> (Vec<f64>, Vec<f64>) {
        let mut cpu = Vec::new();
        let mut wake = Vec::new();
        for job in run.jobs.iter().filter(|j| j.id.starts_with(prefix)) {
            let (c, w) = throughput(&job.stdout, ops).unwrap_or_else(|| {
                panic!("{}: not enabled: {:?} {:?}", job.id, job.stdout, job.stderr)
            });
            cpu.push(c);
            wake.push(w);
        }
        (cpu, wake)
    };
    let (fair_cpu, fair_wake) = figures("fair-", "scxpack_fair");
    let (relay_cpu, relay_wake) = figures("relay-", "scxpack_relay");
    println!("fair   CPU iterations/s {fair_cpu:.0?}  wakeups/s {fair_wake:.0?}");
    println!("relay  CPU iterations/s {relay_cpu:.0?}  wakeups/s {relay_wake:.0?}");
    println!(
        "relay / fair, medians: CPU {:.2}, wakeups {:.2}",
        common::median(relay_cpu) / common::median(fair_cpu),
        common::median(relay_wake) / common::median(fair_wake)
    );
    for job in run.jobs.iter().filter(|j| j.id.starts_with("relay-")) {
        let r = job
            .stdout
            .iter()
            .rev()
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .unwrap_or_else(|| panic!("{}: no report: {:?}", job.id, job.stdout));
        let s = &r["stats"];
        let user = s["nr_user_dispatched"].as_f64().unwrap_or(0.0);
        let kernel = s["nr_kernel_dispatched"].as_f64().unwrap_or(0.0);
        let t = &r["round_trip"];
        println!(
            "{}: runnable -> decision median {} us, p99 {} us, max {} us over {} decisions; \
             user space dispatched {:.1}% ({user} of {}); {}",
            job.id,
            t["p50_us"],
            t["p99_us"],
            t["max_us"],
            t["count"],
            100.0 * user / (user + kernel).max(1.0),
            user + kernel,
            r["exit"]["kind_name"]
        );
    }
}
