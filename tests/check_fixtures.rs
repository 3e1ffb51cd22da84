//! `check` on the test objects made to fail in known ways: its verdict on
//! every kernel image must match what each fixture's `*.expect.json` says
//! (derived from the kernels' BTF when the fixture was written; the VM
//! matrix proves the same verdicts against the kernels themselves).

mod common;

use std::path::{Path, PathBuf};

use scxpack::check;
use scxpack::package::Package;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/objects")
}

/// Packs one fixture manifest with the library (what `scxpack pack` does).
fn fixture_package(manifest: &Path) -> Package {
    let name = manifest
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".manifest.json")
        .to_string();
    let opts = scxpack::package::pack::PackOptions {
        name: Some(name),
        ..Default::default()
    };
    scxpack::package::pack::pack(manifest, &opts)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()))
}

fn manifests() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".manifest.json"))
        .collect();
    out.sort();
    out
}

#[test]
fn check_matches_every_fixture_expectation() {
    let Some(dir) = common::kernels() else { return };
    let kernels = check::expand_kernels(&[dir]).unwrap();
    let manifests = manifests();
    assert!(manifests.len() >= 9, "fixture manifests: {manifests:?}");
    let packages: Vec<Package> = manifests.iter().map(|m| fixture_package(m)).collect();
    let cache = common::temp_dir("check-fixtures");
    let matrix = check::matrix(&packages, &kernels, Some(&cache)).unwrap();
    let mut wrong = Vec::new();
    for (manifest, pkg) in manifests.iter().zip(&packages) {
        let expect_path = PathBuf::from(
            manifest
                .to_string_lossy()
                .replace(".manifest.json", ".expect.json"),
        );
        let expect: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&expect_path).unwrap()).unwrap();
        for cell in matrix
            .results
            .iter()
            .filter(|c| c.package == pkg.manifest.name)
        {
            let folder = cell
                .kernel_path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy();
            let Some(loads) = expect["kernels"][folder.as_ref()]["loads"].as_bool() else {
                wrong.push(format!(
                    "{}: no expectation for {folder}",
                    expect_path.display()
                ));
                continue;
            };
            if loads != cell.loadable {
                wrong.push(format!(
                    "{} on {folder}: expected loads={loads} ({}), check says {} ({})",
                    pkg.manifest.name,
                    expect["kernels"][folder.as_ref()]["reason"],
                    cell.loadable,
                    cell.reasons.join("; ")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "check disagrees with the fixture expectations:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn check_exit_status_and_reports() {
    let Some(k) = common::vmlinuz("6.16.3+deb13") else {
        return;
    };
    let dir = common::temp_dir("check-cli");
    let (junit, md) = (dir.join("r.xml"), dir.join("r.md"));
    let obj = fixture_dir().join("strong_new_kfunc.bpf.o");
    let args = [
        "check",
        obj.to_str().unwrap(),
        "--kernel",
        k.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ];
    let (rc, out, err) = common::scxpack(&args);
    assert_eq!(rc, 3, "a strong 6.19 kfunc cannot load on 6.16: {out}{err}");
    assert!(out.contains("scx_bpf_task_set_slice is missing"), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<failure") && xml.contains("tests=\"1\""),
        "{xml}"
    );
    assert!(
        std::fs::read_to_string(&md)
            .unwrap()
            .contains("| 6.16.3+deb13-amd64 | NONE |")
    );
    let fifo = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
    let (rc, out, _) = common::scxpack(&[
        "check",
        fifo.to_str().unwrap(),
        "--kernel",
        k.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(rc, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &v["results"][0];
    assert_eq!(r["loadable"], true);
    assert_eq!(r["variant"], "default");
    assert!(
        r["shims"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().contains("__SCX_DSQ_LOCAL"))
    );
    let (rc, _, err) = common::scxpack(&[
        "check",
        "/nonexistent.bpf.o",
        "--kernel",
        k.to_str().unwrap(),
    ]);
    assert_eq!(rc, 1, "bad input: {err}");
}

#[test]
fn kernels_without_sched_ext_fail_only_when_required() {
    let Some(k) = common::vmlinuz("6.12.117+deb13") else {
        return;
    };
    let fifo = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
    let base = [
        "check",
        fifo.to_str().unwrap(),
        "--kernel",
        k.to_str().unwrap(),
    ];
    let (rc, out, _) = common::scxpack(&base);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("no sched_ext"), "{out}");
    let mut strict = base.to_vec();
    strict.push("--require-sched-ext");
    assert_eq!(common::scxpack(&strict).0, 3);
}
