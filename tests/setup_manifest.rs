//! Declarative setup in a manifest: `pack` checks every step against the
//! object (a global, a resizable array, a map), and `check` reports per
//! kernel what the setup will do, refusing the kernels that lack an `SCX_*`
//! enumerator it names. On the `globals` fixture object and a real kernel.

mod common;

use std::path::{Path, PathBuf};

const FIXTURE: &str = "tests/fixtures/objects/globals.bpf.o";

/// A scheduler folder with the fixture object and a manifest carrying `setup`.
fn scheduler_dir(tag: &str, setup: &str) -> PathBuf {
    let dir = common::temp_dir(tag);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE),
        dir.join("globals.bpf.o"),
    )
    .unwrap();
    let manifest = format!(
        r#"{{"schema": 1, "name": "globals", "description": "setup test",
            "setup": {setup},
            "variants": [{{"name": "only", "object": "globals.bpf.o"}}]}}"#
    );
    std::fs::write(dir.join("globals.json"), manifest).unwrap();
    dir
}

fn pack(dir: &Path) -> (i32, String, String, PathBuf) {
    let out = dir.join("globals.scxpkg");
    let (rc, so, se) = common::scxpack(&[
        "pack",
        dir.join("globals.json").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    (rc, so, se, out)
}

const SETUP: &str = r#"[
    {"set": "nr_cpu_ids", "to": "nr_cpu_ids"},
    {"set": "slice_ns", "to": "SCX_SLICE_DFL"},
    {"set": "central_cpu", "to": 0},
    {"resize": "cpu_started_at", "to": "nr_cpu_ids"},
    {"max_entries": "cpu_slots", "to": "online_cpus"}
]"#;

#[test]
fn pack_refuses_steps_the_object_cannot_take() {
    for (setup, needle) in [
        (r#"[{"set": "nr_cpu_id", "to": 1}]"#, "near: nr_cpu_ids"),
        (
            r#"[{"resize": "pair_cpu", "to": "nr_cpu_ids"}]"#,
            "not the last array",
        ),
        (
            r#"[{"max_entries": "cpu_slot", "to": 4}]"#,
            "near: cpu_slots",
        ),
        (
            r#"[{"set": "slice_ns", "to": "cpus"}]"#,
            "unknown value source",
        ),
    ] {
        let dir = scheduler_dir("setup-bad", setup);
        let (rc, _, err, _) = pack(&dir);
        assert_eq!(rc, 1, "{setup}: {err}");
        assert!(err.contains(needle), "{setup}: {err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn check_reports_the_setup_per_kernel_and_refuses_missing_enumerators() {
    let Some(kernel) = common::vmlinuz("6.16.3+deb13") else {
        return;
    };
    let dir = scheduler_dir("setup-check", SETUP);
    let (rc, _, err, pkg) = pack(&dir);
    assert_eq!(rc, 0, "{err}");
    let (rc, out, err) = common::scxpack(&[
        "check",
        pkg.to_str().unwrap(),
        "--kernel",
        kernel.to_str().unwrap(),
    ]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(
        out.contains("= set slice_ns = SCX_SLICE_DFL (20000000)"),
        "{out}"
    );
    assert!(
        out.contains("= resize cpu_started_at = nr_cpu_ids (from the machine at run time)"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let dir = scheduler_dir(
        "setup-refused",
        r#"[{"set": "slice_ns", "to": "SCX_NO_SUCH_ENUMERATOR"}]"#,
    );
    let (rc, _, err, pkg) = pack(&dir);
    assert_eq!(rc, 0, "{err}");
    let (rc, out, _) = common::scxpack(&[
        "check",
        pkg.to_str().unwrap(),
        "--kernel",
        kernel.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(rc, 3, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cell = &json["results"][0];
    assert_eq!(cell["loadable"], false, "{cell}");
    let reasons = cell["reasons"].to_string();
    assert!(
        reasons.contains("the kernel has no enumerator SCX_NO_SUCH_ENUMERATOR"),
        "{reasons}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
