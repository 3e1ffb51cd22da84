//! The hybrid scheduler `relay` with its user half `scxpack-relay` on every
//! kernel of `../shared/kernels` under QEMU (one boot per kernel, the
//! guest's CPU + wakeup workload running): `scxpack run` refuses the BPF
//! half alone and names the program; the user half attaches it (sched_ext
//! enabled with its ops name), makes the decisions (the BPF side's counter
//! of tasks dispatched from user space), the workload makes progress;
//! SIGSTOP of the user half for longer than the BPF half's `timeout_ms`
//! leaves the scheduler enabled and sends tasks kernel-side; SIGKILL of
//! the user half ends with sched_ext `disabled` (the link dies with the
//! process, the fair class takes the tasks back); a second run
//! stopped with SIGTERM detaches cleanly and reports the kernel's exit
//! record. `check` on the same images predicts every outcome.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scxpack::check;
use scxpack::package::Package;
use scxpack::vm::{self, Accel, GuestBinary, GuestJob, KernelRun, VmConfig};

/// Where the user half goes in the guest.
const RELAY: &str = "/bin/scxpack-relay";

fn prerequisites() -> Option<Vec<PathBuf>> {
    for tool in ["qemu-system-x86_64", "busybox"] {
        if vm::qemu::find_in_path(tool).is_none() && !Path::new("/bin/busybox").exists() {
            return common::missing(&format!(
                "{tool} (apt-get install qemu-system-x86 busybox-static)"
            ));
        }
    }
    let kernels = vm::expand_kernels(&[common::kernels()?]).expect("list kernels");
    if kernels.is_empty() {
        return common::missing("kernel images");
    }
    Some(kernels)
}

/// Waits (up to 30 s) until sched_ext is `$1`.
const WAIT_STATE: &str = "wait_state() { i=0; while [ $i -lt 300 ] && [ \"$(cat /sys/kernel/sched_ext/state 2>/dev/null)\" != \"$1\" ]; do sleep 0.1; i=$((i+1)); done; }";

/// The whole scenario, one job per boot.
fn relay_job() -> GuestJob {
    let script = format!(
        "{WAIT_STATE}; chmod 755 {RELAY}; \
         if [ ! -r /sys/kernel/sched_ext/state ]; then {RELAY} /pkg/relay.scxpkg; echo \"relay-rc=$?\"; exit 0; fi; \
         /bin/scxpack run /pkg/relay.scxpkg --duration 1 >/dev/null 2>/tmp/refused; echo \"run-rc=$?\"; cat /tmp/refused; \
         {RELAY} /pkg/relay.scxpkg --stats 0.5 >/dev/null 2>/tmp/first.err & pid=$!; \
         wait_state enabled; echo \"first-state=$(cat /sys/kernel/sched_ext/state 2>/dev/null) ops=$(cat /sys/kernel/sched_ext/root/ops 2>/dev/null)\"; \
         n=0; end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do n=$((n+1)); done; echo \"progress=$n\"; \
         kill -STOP $pid; sleep 1.5; echo \"stopped-state=$(cat /sys/kernel/sched_ext/state 2>/dev/null)\"; \
         kill -CONT $pid; sleep 1; \
         kill -KILL $pid; wait $pid; echo \"killed-rc=$?\"; wait_state disabled; \
         echo \"after-kill=$(cat /sys/kernel/sched_ext/state 2>/dev/null)\"; cat /tmp/first.err; \
         echo \"kill-dmesg=$(dmesg | grep 'BPF scheduler' | tail -n 1)\"; \
         {RELAY} /pkg/relay.scxpkg --stats 0 --json >/tmp/second.json 2>/tmp/second.err & pid=$!; \
         wait_state enabled; sleep 2; kill -TERM $pid; wait $pid; echo \"term-rc=$?\"; \
         echo \"after-term=$(cat /sys/kernel/sched_ext/state 2>/dev/null)\"; cat /tmp/second.err; cat /tmp/second.json"
    );
    GuestJob::new("relay", ["sh", "-c", script.as_str()]).with_timeout(Duration::from_secs(120))
}

fn vm_config(relay: PathBuf, dir: &Path) -> VmConfig {
    VmConfig {
        accel: Accel::Tcg,
        jobs: 2,
        timeout: Duration::from_secs(300),
        guest_binary: GuestBinary::Path(PathBuf::from(env!("CARGO_BIN_EXE_scxpack"))),
        files: vec![(RELAY.trim_start_matches('/').to_string(), relay)],
        log_dir: Some(dir.join("logs")),
        ..VmConfig::default()
    }
}

/// The value after `key=` on the line that starts with it.
fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.split_whitespace().next().unwrap_or(""))
}

/// The number after `key` in the last periodic statistics line of the
/// first (SIGKILLed) run.
fn last_stat(out: &str, key: &str) -> u64 {
    out.lines()
        .filter(|l| l.starts_with("scxpack-relay: ") && l.contains(" s: enqueued "))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == key)?;
            words.next()?.parse().ok()
        })
        .next_back()
        .unwrap_or(0)
}

/// The JSON report of the SIGTERM run.
fn report(lines: &[String]) -> serde_json::Value {
    lines
        .iter()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// What a kernel with sched_ext must show.
fn assert_ran(run: &KernelRun, out: &str) {
    let name = run.release.as_deref().unwrap_or("?");
    assert_eq!(
        field(out, "run-rc"),
        Some("1"),
        "{name}: run refuses: {out}"
    );
    assert!(
        out.contains("user-half program `scxpack-relay`"),
        "{name}: {out}"
    );
    assert_eq!(field(out, "first-state"), Some("enabled"), "{name}: {out}");
    assert!(out.contains("ops=scxpack_relay"), "{name}: ops name: {out}");
    let progress: u64 = field(out, "progress")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(progress > 0, "{name}: the workload made no progress: {out}");
    assert!(
        out.contains("user-dispatched"),
        "{name}: periodic stats: {out}"
    );
    assert_eq!(
        field(out, "after-kill"),
        Some("disabled"),
        "{name}: SIGKILL ejects: {out}"
    );
    assert_eq!(
        field(out, "stopped-state"),
        Some("enabled"),
        "{name}: a stopped user half does not stall the scheduler: {out}"
    );
    let fallback = last_stat(out, "kernel-dispatched");
    assert!(
        fallback > 0,
        "{name}: while the user half was stopped, tasks went kernel-side: {out}"
    );
    let kill_dmesg = out
        .lines()
        .find_map(|l| l.strip_prefix("kill-dmesg="))
        .unwrap_or_default();
    assert!(
        kill_dmesg.contains("scxpack_relay") && kill_dmesg.contains("disabled"),
        "{name}: the kernel logs the ejection after SIGKILL: {out}"
    );
    assert_eq!(
        field(out, "term-rc"),
        Some("0"),
        "{name}: SIGTERM detaches: {out}"
    );
    assert_eq!(field(out, "after-term"), Some("disabled"), "{name}: {out}");
    let job = run.job("relay").expect("relay job");
    let r = report(&job.stdout);
    assert_eq!(r["outcome"], "detached", "{name}: {r}");
    assert_eq!(r["detached_cleanly"], true, "{name}: {r}");
    assert_eq!(
        r["ops_name"]
            .as_str()
            .map(|s| s.starts_with("scxpack_relay")),
        Some(true)
    );
    assert!(
        r["exit"]["kind_name"]
            .as_str()
            .is_some_and(|k| k.starts_with("SCX_EXIT_UNREG")),
        "{name}: the exit record is reported: {r}"
    );
    let user = r["stats"]["nr_user_dispatched"].as_u64().unwrap_or(0);
    let kernel = r["stats"]["nr_kernel_dispatched"].as_u64().unwrap_or(0);
    assert!(user > 0, "{name}: user space dispatched nothing: {r}");
    assert!(user > kernel, "{name}: user space made most decisions: {r}");
    eprintln!(
        "{name}: progress {progress}, user-dispatched {user}, kernel-side {kernel}, rtt mean {} ns max {} ns",
        r["stats"]["rtt_sum_ns"].as_u64().unwrap_or(0) / user.max(1),
        r["stats"]["rtt_max_ns"]
    );
}

#[test]
fn the_user_half_runs_relay_on_every_kernel_and_its_death_ejects_it() {
    let Some(kernels) = prerequisites() else {
        return;
    };
    let dir = common::temp_dir("relay-vm");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pkg = dir.join("relay.scxpkg");
    let (rc, _, err) = common::scxpack(&[
        "pack",
        &root.join("bpf-objects/relay").to_string_lossy(),
        "-o",
        &pkg.to_string_lossy(),
    ]);
    assert_eq!(rc, 0, "pack: {err}");
    let relay = PathBuf::from(env!("CARGO_BIN_EXE_scxpack-relay"));
    let relay = vm::initramfs::strip_debug(&relay, &dir).unwrap_or(relay);
    let package = Package::open(&pkg).expect("open relay package");
    let offline = check::matrix(&[package], &kernels, None).expect("check");
    let started = Instant::now();
    let runs = vm::run_matrix(&kernels, &[pkg], &[relay_job()], &vm_config(relay, &dir))
        .expect("run_matrix");
    eprintln!(
        "relay on {} kernels: {:.1} s of VM time (2 guests at a time)",
        runs.len(),
        started.elapsed().as_secs_f64()
    );
    for run in &runs {
        assert_eq!(
            run.failure,
            None,
            "{}: {:?}",
            run.kernel.display(),
            run.console
        );
        let cell = offline
            .results
            .iter()
            .find(|c| c.kernel_path == run.kernel)
            .expect("check cell");
        let job = run.job("relay").expect("relay job");
        let out = format!("{}\n{}", job.stdout.join("\n"), job.stderr.join("\n"));
        let enabled = field(&out, "first-state") == Some("enabled");
        assert_eq!(
            cell.loadable, enabled,
            "{}: check says loadable={} ({:?}), the VM saw: {out}",
            cell.kernel, cell.loadable, cell.reasons
        );
        if run.sched_ext.is_some() {
            assert!(
                cell.depends.iter().any(|d| d.contains("scxpack-relay")),
                "{}: check names the user half: {:?}",
                cell.kernel,
                cell.depends
            );
            assert_ran(run, &out);
            // The variant check chose (untimed on PREEMPT_RT) is the one
            // the user half loaded.
            let job = run.job("relay").expect("relay job");
            assert_eq!(
                report(&job.stdout)["variant"].as_str(),
                cell.variant.as_deref(),
                "{}: the variant",
                cell.kernel
            );
        } else {
            assert_eq!(field(&out, "relay-rc"), Some("4"), "{}: {out}", cell.kernel);
            assert!(
                out.contains("CONFIG_SCHED_CLASS_EXT"),
                "{}: {out}",
                cell.kernel
            );
        }
    }
}
