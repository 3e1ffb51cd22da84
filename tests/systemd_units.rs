//! The systemd units in packaging/systemd, read offline: each is hardened
//! (`systemd-analyze security --offline=true` exposure at most 2.5, which
//! needs no systemd running as PID 1), `scxpack.service`'s built-in default
//! is what the shipped `/etc/default/scxpack` says, and the two units
//! scxpack ships keep the same sandbox. tests/systemd_guest.rs proves them
//! under a real systemd.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::missing;

/// The highest exposure `systemd-analyze security` may report for a unit.
const MAX_EXPOSURE: f64 = 2.5;

fn units() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd");
    let mut units: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read packaging/systemd")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "service"))
        .collect();
    units.sort();
    assert!(!units.is_empty(), "no units in {}", dir.display());
    units
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The overall exposure in `systemd-analyze security` output:
/// "→ Overall exposure level for X.service: 0.9 SAFE".
fn exposure(report: &str) -> Option<f64> {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    line.rsplit(": ")
        .next()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
fn every_unit_is_hardened() {
    let probe = Command::new("systemd-analyze").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        missing::<()>("systemd-analyze (Debian package systemd; .ci/setup installs it)");
        return;
    }
    for unit in units() {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(&unit)
            .output()
            .expect("run systemd-analyze");
        let report = String::from_utf8_lossy(&out.stdout);
        let score = exposure(&report).unwrap_or_else(|| {
            panic!(
                "no exposure for {} in:\n{report}\n{}",
                unit.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        eprintln!("{}: exposure {score}", unit.display());
        assert!(
            score <= MAX_EXPOSURE,
            "{} has exposure {score} > {MAX_EXPOSURE}:\n{report}",
            unit.display()
        );
    }
}

#[test]
fn exposure_is_read_from_the_report() {
    let report = "  NAME  DESCRIPTION  EXPOSURE\n\
                  → Overall exposure level for scxpack.service: 1.2 OK :-)\n";
    assert_eq!(exposure(report), Some(1.2));
    assert_eq!(exposure("no summary"), None);
}

/// `KEY=VALUE` assignments, shell-style quotes removed, in order.
fn assignments(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let words = line.strip_prefix("Environment=").map_or_else(
            || vec![line.to_string()],
            |rest| {
                // systemd: space-separated, each optionally "double-quoted".
                let mut words = Vec::new();
                let mut rest = rest.trim();
                while !rest.is_empty() {
                    let (word, tail) = if let Some(quoted) = rest.strip_prefix('"') {
                        quoted.split_once('"').expect("closing quote")
                    } else {
                        rest.split_once(' ').unwrap_or((rest, ""))
                    };
                    words.push(word.to_string());
                    rest = tail.trim_start();
                }
                words
            },
        );
        for word in words {
            if let Some((key, value)) = word.split_once('=') {
                if key.starts_with("SCXPACK_") {
                    let value = value.trim_matches('"').to_string();
                    out.push((key.to_string(), value));
                }
            }
        }
    }
    out
}

#[test]
fn built_in_default_agrees_with_the_shipped_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = assignments(&read(&root.join("packaging/systemd/scxpack.service")));
    let config = assignments(&read(&root.join("packaging/default-scxpack")));
    assert!(
        config.iter().any(|(k, _)| k == "SCXPACK_SCHEDULER"),
        "packaging/default-scxpack sets no SCXPACK_SCHEDULER: {config:?}"
    );
    assert_eq!(
        unit, config,
        "scxpack.service's Environment= differs from packaging/default-scxpack"
    );
}

#[test]
fn environment_lines_are_parsed_like_systemd() {
    assert_eq!(
        assignments("Environment=SCXPACK_A=x \"SCXPACK_B=--param y=1\"\n# SCXPACK_C=no"),
        [
            ("SCXPACK_A".to_string(), "x".to_string()),
            ("SCXPACK_B".to_string(), "--param y=1".to_string())
        ]
    );
}

/// The lines from the sandbox comment to `MemoryMax=`.
fn sandbox(text: &str) -> &str {
    let start = text
        .find("# What the loader needs")
        .expect("the sandbox comment");
    let end = start + text[start..].find("MemoryMax=").expect("MemoryMax=");
    &text[start..end]
}

#[test]
fn scxpack_units_share_one_sandbox() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd");
    let plain = read(&dir.join("scxpack.service"));
    let template = read(&dir.join("scxpack@.service"));
    assert_eq!(
        sandbox(&plain),
        sandbox(&template),
        "scxpack.service and scxpack@.service sandbox the loader differently"
    );
    for other in [
        "scx.service",
        "scx_loader.service",
        "scxpack-daemon.service",
    ] {
        assert!(
            conflicts(&plain).contains(&other),
            "scxpack.service lacks Conflicts={other}"
        );
        assert!(
            conflicts(&template).contains(&other),
            "scxpack@.service lacks Conflicts={other}"
        );
    }
    assert!(
        conflicts(&template).contains(&"scxpack.service"),
        "scxpack@.service must conflict with scxpack.service"
    );
}

/// The units named by a unit's `Conflicts=` lines.
fn conflicts(unit: &str) -> Vec<&str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix("Conflicts="))
        .flat_map(str::split_whitespace)
        .collect()
}
