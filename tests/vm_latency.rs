//! `scxpack vmtest --latency` on one kernel under QEMU (CI=true; skipped
//! elsewhere without a kernel): one short round for the kernel's default
//! scheduler and each scheduler of the shipped package (relay under its user
//! half). Asserts that real figures come back for every row and that each
//! was measured under the scheduler it names; no assertion on the figures'
//! size (speed belongs in BENCHMARKS.md). Also `wakeup-latency` itself on
//! this machine, and its bad settings.

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

/// `wakeup-latency` on this machine: one JSON line with real figures; bad
/// settings are one line saying what to give, and `vmtest` refuses options
/// `--latency` does not combine with.
#[test]
fn wakeup_latency_measures_here_and_refuses_bad_settings() {
    let (code, out, err) = common::scxpack(&["wakeup-latency", "--duration", "0.3", "--json"]);
    assert_eq!(code, 0, "{err}");
    let m: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(m["wakeup"]["count"].as_u64().unwrap() > 0, "{m}");
    assert!(m["background"]["iterations"].as_u64().unwrap() > 0, "{m}");
    let cases: [(&[&str], &str); 4] = [
        (&["--duration", "0"], "--duration"),
        (&["--duration", "nan"], "--duration"),
        (&["--period-us", "0"], "--period-us"),
        (&["--threads", "0"], "--threads"),
    ];
    for (args, hint) in cases {
        let args = [&["wakeup-latency"], args].concat();
        let (code, _, err) = common::scxpack(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("scxpack: error: ") && err.contains(hint),
            "{args:?}: {err}"
        );
    }
    let (code, _, err) = common::scxpack(&[
        "wakeup-latency",
        "--period-us",
        "2000000",
        "--duration",
        "1",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("shorter --period-us"), "{err}");
    for extra in [&["--rounds", "2"][..], &["--latency", "--shard", "1/2"]] {
        let args = [&["vmtest", "p.scxpkg", "--kernel", "k"], extra].concat();
        let (code, _, err) = common::scxpack(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}
