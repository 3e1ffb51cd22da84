//! `scxpack vmtest --latency` on one kernel under QEMU (CI=true; skipped
//! elsewhere without a kernel): one short round for the kernel's default
//! scheduler and each scheduler of the shipped package (relay under its user
//! half). Asserts that real figures come back for every row and that each
//! was measured under the scheduler it names; no assertion on the figures'
//! size (speed belongs in BENCHMARKS.md).

mod common;

use serde_json::Value;

const KERNEL: &str = "7.2.13+deb14";

#[test]
fn latency_table_has_real_figures_for_every_scheduler() {
    let Some(kernel) = common::vmlinuz(KERNEL) else {
        return;
    };
    let dir = common::temp_dir("vm-latency");
    let pkg = common::pack_shipped(&dir);
    let (code, out, err) = common::scxpack(&[
        "vmtest",
        pkg.to_str().unwrap(),
        "--kernel",
        kernel.to_str().unwrap(),
        "--latency",
        "--rounds",
        "1",
        "--duration",
        "2",
        "--accel",
        "tcg",
        "--json",
    ]);
    assert_eq!(code, 0, "vmtest --latency failed: {err}\n{out}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let kernels = report["kernels"].as_array().expect("kernels");
    assert_eq!(kernels.len(), 1, "{out}");
    assert!(kernels[0]["failure"].is_null(), "{out}");
    let rows = kernels[0]["rows"].as_array().expect("rows");
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["scheduler"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "fair", "fifo", "interactive", "relay"]);
    for row in rows {
        check_row(row);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One round with wakeups, ordered quantiles and background work, measured
/// under the row's own scheduler (sysfs before and after).
#[track_caller]
fn check_row(row: &Value) {
    let name = row["scheduler"].as_str().unwrap();
    assert_eq!(row["problems"].as_array().map(Vec::len), Some(0), "{row}");
    let rounds = row["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 1, "{name}: {row}");
    let m = &rounds[0];
    let w = &m["wakeup"];
    let f = |v: &Value| {
        v.as_f64()
            .unwrap_or_else(|| panic!("{name}: not a number: {m}"))
    };
    assert!(w["count"].as_u64().unwrap() > 0, "{name}: {m}");
    assert!(f(&w["p50_us"]) <= f(&w["p99_us"]), "{name}: {m}");
    assert!(f(&w["p99_us"]) <= f(&w["max_us"]), "{name}: {m}");
    assert!(
        f(&m["background"]["iterations_per_sec"]) > 0.0,
        "{name}: {m}"
    );
    for when in ["scheduler_before", "scheduler_after"] {
        let seen = &m[when];
        if name == "default" {
            assert_eq!(seen["state"], "disabled", "{name} {when}: {m}");
        } else {
            assert_eq!(seen["state"], "enabled", "{name} {when}: {m}");
            let ops = seen["ops"].as_str().unwrap_or_default();
            assert!(
                ops.starts_with(&format!("scxpack_{name}")),
                "{name} {when}: {m}"
            );
        }
    }
    for key in ["p50_us", "p99_us", "iterations_per_sec", "p99_ratio"] {
        assert!(row[key].as_f64().is_some(), "{name}: {key}: {row}");
    }
}
