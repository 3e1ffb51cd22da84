//! The daemon switching schedulers in QEMU (CI=true; skipped elsewhere
//! without kernels): on the oldest, a middle and the newest sched_ext
//! kernel, `scxpack daemon` runs and `scxpack switch` goes through the
//! three schedulers and their modes 15 times (each scheduler in each of the
//! five modes once: `s % 3` and `s % 5` below) under a CPU + wakeup
//! workload. Every switch must end with the requested scheduler enabled,
//! nothing ejected, the workload still progressing; the gaps are printed.

mod common;

use std::path::PathBuf;

use scxpack::vm::{self, GuestJob};

const SWITCHES: usize = 15;

/// The guest script: install, daemon, workload, switches; one line per
/// switch: `SWITCH <answer JSON>`, `OPS <root/ops>`, `PROGRESS <count>`.
fn script() -> String {
    format!(
        r#"
/bin/scxpack install /pkg/s.scxpkg >/dev/null 2>&1 || exit 10
/bin/scxpack daemon --no-restore --state /tmp/daemon.json 2>/tmp/daemon.log &
n=0; while [ ! -S /run/scxpack/daemon.sock ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
(c=0; while :; do c=$((c+1)); echo $c > /tmp/cpu.t; mv /tmp/cpu.t /tmp/cpu; done) &
(while :; do sleep 0.01; done) &
i=0
for s in $(seq 1 {SWITCHES}); do
  case $((s % 3)) in 0) name=fair;; 1) name=fifo;; 2) name=interactive;; esac
  case $((s % 5)) in 0) mode=auto;; 1) mode=gaming;; 2) mode=lowlatency;; 3) mode=powersave;; 4) mode=server;; esac
  echo "SWITCH $(/bin/scxpack switch $name --mode $mode --json) WANT scxpack_$name"
  echo "OPS $(cat /sys/kernel/sched_ext/root/ops) $(cat /sys/kernel/sched_ext/state)"
  sleep 0.3
  echo "PROGRESS $(cat /tmp/cpu)"
done
echo "STATUS $(/bin/scxpack status --json | tr -d '\n')"
/bin/scxpack stop >/dev/null
echo "FINAL $(cat /sys/kernel/sched_ext/state)"
"#
    )
}

fn kernels() -> Option<Vec<PathBuf>> {
    let dir = common::kernels()?;
    let pick = ["6.12.117-scx", "6.19.14+deb13", "7.2.13+deb14"];
    Some(pick.iter().map(|k| dir.join(k).join("vmlinuz")).collect())
}

#[test]
fn switches_between_schedulers_and_modes_under_load() {
    let Some(kernels) = kernels() else {
        return;
    };
    if let Some(k) = kernels.iter().find(|k| !k.exists()) {
        return common::missing(&format!("kernel {}", k.display())).unwrap_or(());
    }
    let dir = common::temp_dir("vm-switch");
    let pkg = dir.join("s.scxpkg");
    let objects = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-objects");
    let (code, _, err) = common::scxpack(&["pack", objects, "-o", pkg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let job = GuestJob::new("switch", ["sh", "-c", &script()]);
    let cfg = common::sample_vm_config(600);
    let runs = vm::run_matrix(&kernels, &[pkg], &[job], &cfg).unwrap();
    for run in &runs {
        let name = run
            .kernel
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let job = run
            .job("switch")
            .unwrap_or_else(|| panic!("{name}: no job: {:#?}", run.console));
        check_switches(&name, &job.stdout);
    }
}

/// Asserts every switch and prints the gaps (median, max) and the RSS.
fn check_switches(kernel: &str, lines: &[String]) {
    let mut gaps = Vec::new();
    let mut progress = Vec::new();
    let mut wanted = String::new();
    for line in lines {
        if let Some(rest) = line.strip_prefix("SWITCH ") {
            let (answer, want) = rest.rsplit_once(" WANT ").expect("WANT");
            let v: serde_json::Value =
                serde_json::from_str(answer).unwrap_or_else(|e| panic!("{kernel}: {e}: {line}"));
            assert_eq!(v["ok"], true, "{kernel}: {line}");
            assert!(
                v["status"]["last_ejection"].is_null(),
                "{kernel}: ejected: {line}"
            );
            if let Some(g) = v["gap_ms"].as_f64() {
                gaps.push(g);
            }
            let enable_ms = v["enable_ms"].as_f64();
            assert!(
                enable_ms.is_some_and(|t| t > 0.0 && v["gap_ms"].as_f64().is_none_or(|g| g <= t)),
                "{kernel}: a switch answers with enable_ms, covering the gap: {line}"
            );
            wanted = want.to_string();
        } else if let Some(rest) = line.strip_prefix("OPS ") {
            // The kernel may append the scheduler's version to the ops name.
            let (ops, state) = rest.rsplit_once(' ').expect("ops and state");
            assert!(
                ops.starts_with(&wanted) && state == "enabled",
                "{kernel}: wanted {wanted}: {line}"
            );
        } else if let Some(rest) = line.strip_prefix("PROGRESS ") {
            progress.push(rest.trim().parse::<u64>().unwrap_or(0));
        } else if let Some(rest) = line.strip_prefix("STATUS ") {
            let v: serde_json::Value = serde_json::from_str(rest).unwrap();
            let rss = v["daemon"]["rss_kib"].as_u64().unwrap_or(0);
            eprintln!("{kernel}: daemon RSS {rss} KiB while a scheduler runs");
        }
    }
    assert_eq!(progress.len(), SWITCHES, "{kernel}: {lines:#?}");
    assert!(
        progress.windows(2).all(|w| w[1] > w[0]),
        "{kernel}: workload stalled: {progress:?}"
    );
    assert_eq!(gaps.len(), SWITCHES - 1, "{kernel}: {lines:#?}");
    assert!(
        lines.iter().any(|l| l == "FINAL disabled"),
        "{kernel}: {lines:#?}"
    );
    gaps.sort_by(f64::total_cmp);
    eprintln!(
        "{kernel}: {} switches, gap median {:.1} ms, max {:.1} ms",
        SWITCHES,
        gaps[gaps.len() / 2],
        gaps[gaps.len() - 1]
    );
}
