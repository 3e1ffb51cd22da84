//! scxpack's units under a real systemd: tests/vm/systemd-guest.sh boots a
//! minimal Debian trixie (systemd as PID 1, built once by
//! tests/vm/debian-rootfs.sh and cached) with scxpack installed as its
//! Debian package lays it out, on the oldest, a middle and the newest
//! sched_ext kernel in ../shared/kernels, and runs every guest check in
//! tests/vm/guest/checks in one boot per kernel. This test asserts that
//! each check passed on each kernel and prints the figures the checks
//! reported (start to enabled, boot to multi-user, ...).
//!
//! Slow (about two minutes per kernel under TCG): CI runs it; elsewhere it
//! runs only with SCXPACK_TEST_SYSTEMD_GUEST=1 (as root, with QEMU and
//! mmdebstrap), and otherwise says why it is skipped.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{in_ci, kernels, temp_dir};

/// Each tool the harness needs, with its Debian package.
const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("mmdebstrap", "mmdebstrap"),
    ("cpio", "cpio"),
    ("objcopy", "binutils"),
    ("make", "make"),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn prerequisites() -> Option<PathBuf> {
    if !in_ci() && std::env::var_os("SCXPACK_TEST_SYSTEMD_GUEST").is_none() {
        eprintln!(
            "SKIPPED: booting Debian under systemd takes minutes; set SCXPACK_TEST_SYSTEMD_GUEST=1 (CI always runs it)"
        );
        return None;
    }
    common::tools_and_root(
        TOOLS,
        "mmdebstrap builds the guest's root file system as root",
    )?;
    kernels()
}

/// "6.12.117-scx" → [6, 12, 117]: the numeric release, for ordering.
fn release_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()
        .unwrap_or_default()
        .split('.')
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Whether `scxpack probe` finds sched_ext in the kernel image.
fn has_sched_ext(vmlinuz: &Path) -> bool {
    let out = Command::new(env!("CARGO_BIN_EXE_scxpack"))
        .args(["probe", "--json", "--no-cache", "--kernel"])
        .arg(vmlinuz)
        .output()
        .expect("run scxpack probe");
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("probe {}: {e}", vmlinuz.display()));
    facts["sched_ext"] == serde_json::Value::Bool(true)
}

/// The kernel folders whose image has sched_ext (PREEMPT_RT builds left
/// out), oldest first.
fn sched_ext_kernels(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read the kernels directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("vmlinuz").is_file() && !p.to_string_lossy().ends_with("-rt"))
        .filter(|p| has_sched_ext(&p.join("vmlinuz")))
        .collect();
    found.sort_by_key(|p| release_key(&p.file_name().unwrap_or_default().to_string_lossy()));
    found
}

/// Oldest, middle and newest.
fn spread(kernels: &[PathBuf]) -> Vec<PathBuf> {
    let mut picked = Vec::new();
    for i in [0, kernels.len() / 2, kernels.len().saturating_sub(1)] {
        if let Some(k) = kernels.get(i) {
            if !picked.contains(k) {
                picked.push(k.clone());
            }
        }
    }
    picked
}

/// The checks the guest must run: tests/vm/guest/checks/*.sh, by name.
fn expected_checks() -> Vec<String> {
    let dir = repo().join("tests/vm/guest/checks");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read tests/vm/guest/checks")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            name.strip_suffix(".sh").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// What one boot reported (tests/vm/guest/run-checks's lines).
#[derive(Debug, Default)]
struct Boot {
    began: bool,
    ended: bool,
    /// check → (passed, milliseconds)
    checks: BTreeMap<String, (bool, u64)>,
    /// (check, key) → value
    facts: BTreeMap<(String, String), String>,
    host_wall_ms: Option<u64>,
}

fn parse(log: &str) -> Boot {
    let mut boot = Boot::default();
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("SCXPACK-GUEST-HOST ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            if let Some(i) = words.iter().position(|w| *w == "wall_ms") {
                boot.host_wall_ms = words.get(i + 1).and_then(|v| v.parse().ok());
            }
            continue;
        }
        let Some((_, report)) = line.split_once("SCXPACK-GUEST ") else {
            continue;
        };
        let words: Vec<&str> = report.split_whitespace().collect();
        match words.as_slice() {
            ["begin", ..] => boot.began = true,
            ["end", ..] => boot.ended = true,
            ["check", name, verdict, ms, ..] => {
                let ms = ms.parse().unwrap_or_default();
                boot.checks
                    .insert((*name).to_string(), (*verdict == "pass", ms));
            }
            ["fact", check, key, value, ..] => {
                boot.facts.insert(
                    ((*check).to_string(), (*key).to_string()),
                    (*value).to_string(),
                );
            }
            _ => {}
        }
    }
    boot
}

/// The console lines of one check ("NAME| ...").
fn check_output(log: &str, check: &str) -> String {
    let tag = format!("{check}| ");
    log.lines()
        .filter_map(|l| l.split_once(&tag).map(|(_, rest)| rest))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn report_lines_are_parsed() {
    let log = "[ 7.6] run-checks[183]: SCXPACK-GUEST begin 7.2.13\n\
               [ 7.7] run-checks[183]: SCXPACK-GUEST fact boot multi_user_ms 7278\n\
               [ 8.1] run-checks[190]: 10-a| SCXPACK-GUEST fact 10-a start_ms 12\n\
               [ 8.2] run-checks[190]: 10-a| FAIL: no\n\
               [ 8.4] run-checks[183]: SCXPACK-GUEST check 10-a fail 171\n\
               [ 9.4] run-checks[183]: SCXPACK-GUEST check 20-b pass 9\n\
               [ 9.7] run-checks[183]: SCXPACK-GUEST end\n\
               SCXPACK-GUEST-HOST k wall_ms 15355 qemu_exit 0\n";
    let boot = parse(log);
    assert!(boot.began && boot.ended);
    assert_eq!(boot.checks["10-a"], (false, 171));
    assert_eq!(boot.checks["20-b"], (true, 9));
    assert_eq!(boot.facts[&("10-a".into(), "start_ms".into())], "12");
    assert_eq!(boot.host_wall_ms, Some(15355));
    assert_eq!(
        check_output(log, "10-a"),
        "SCXPACK-GUEST fact 10-a start_ms 12\nFAIL: no"
    );
}

#[test]
fn kernels_are_ordered_by_release() {
    assert!(release_key("6.12.117-scx") < release_key("6.16.3+deb13"));
    assert!(release_key("6.19.14+deb13") < release_key("7.0.13+deb13"));
    let names: Vec<PathBuf> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(spread(&names), ["a", "c", "e"].map(PathBuf::from));
    assert_eq!(spread(&names[..1]), ["a"].map(PathBuf::from));
}

#[test]
fn units_work_under_a_real_systemd() {
    let Some(dir) = prerequisites() else {
        return;
    };
    let picked = spread(&sched_ext_kernels(&dir));
    assert!(
        picked.len() >= 3 || !in_ci(),
        "CI needs three sched_ext kernels in {}, found {picked:?}",
        dir.display()
    );
    let out = temp_dir("systemd-guest");
    let result = Command::new(repo().join("tests/vm/systemd-guest.sh"))
        .arg(&out)
        .args(&picked)
        .env("SCXPACK_BIN", env!("CARGO_BIN_EXE_scxpack"))
        .output()
        .expect("run tests/vm/systemd-guest.sh");
    let stderr = String::from_utf8_lossy(&result.stderr);
    eprintln!("{stderr}");
    assert!(
        result.status.success(),
        "systemd-guest.sh failed ({})",
        result.status
    );
    let checks = expected_checks();
    let mut failures = Vec::new();
    for kernel in &picked {
        let name = kernel.file_name().unwrap_or_default().to_string_lossy();
        let log_path = out.join(format!("{name}.log"));
        let log =
            String::from_utf8_lossy(&std::fs::read(&log_path).unwrap_or_default()).into_owned();
        let boot = parse(&log);
        eprintln!("{name}: host wall {:?} ms", boot.host_wall_ms);
        for ((check, key), value) in &boot.facts {
            eprintln!("{name}: {check} {key} = {value}");
        }
        if !(boot.began && boot.ended) {
            failures.push(format!(
                "{name}: the guest did not run to the end (began {}, ended {}); console in {}:\n{}",
                boot.began,
                boot.ended,
                log_path.display(),
                log.lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        for check in &checks {
            match boot.checks.get(check) {
                Some((true, ms)) => eprintln!("{name}: {check} passed in {ms} ms"),
                Some((false, _)) => failures.push(format!(
                    "{name}: {check} failed:\n{}",
                    check_output(&log, check)
                )),
                None => failures.push(format!("{name}: {check} did not run")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let _ = std::fs::remove_dir_all(&out);
}
