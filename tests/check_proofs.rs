//! Proven vs predicted: a package carrying proof records (`pack --proof`)
//! makes `check` say "proven in a VM (date)" on the kernels whose BTF the
//! records name, "predicted" on every other, and report a record that
//! disagrees with the prediction without changing the verdict.

mod common;

use std::path::{Path, PathBuf};

use scxpack::kernel::source;
use scxpack::package::sha256_hex;
use scxpack::proof::{ProofFile, ProofRecord};
use serde_json::Value;

const DATE: &str = "2026-12-04T13:00:00Z";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/objects")
        .join(name)
}

fn btf_sha256(kernel: &Path) -> String {
    let image =
        source::read_kernel_file(kernel).unwrap_or_else(|e| panic!("{}: {e}", kernel.display()));
    sha256_hex(&image.btf)
}

/// What a VM run of the `timer` fixture on `kernel` would record.
fn record(kernel: &Path, loads: bool) -> ProofRecord {
    let object = std::fs::read(fixture("timer.bpf.o")).unwrap();
    ProofRecord {
        kernel_release: None,
        btf_sha256: btf_sha256(kernel),
        package: "timer".into(),
        scheduler: "timer".into(),
        variant: loads.then(|| "only".to_string()),
        object_sha256: loads.then(|| sha256_hex(&object)),
        loads,
        ran: loads,
        reason: (!loads).then(|| "the verifier rejected program timer_init".to_string()),
        date: DATE.into(),
    }
}

fn write_proofs(dir: &Path, records: Vec<ProofRecord>) -> PathBuf {
    let path = dir.join("proof.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&ProofFile::new(records)).unwrap(),
    )
    .unwrap();
    path
}

fn pack(dir: &Path, proof: &Path) -> (i32, String, String, PathBuf) {
    let pkg = dir.join("timer.scxpkg");
    let (rc, out, err) = common::scxpack(&[
        "pack",
        fixture("timer.manifest.json").to_str().unwrap(),
        "-o",
        pkg.to_str().unwrap(),
        "--proof",
        proof.to_str().unwrap(),
    ]);
    (rc, out, err, pkg)
}

#[test]
fn check_says_proven_predicted_or_contradicted() {
    let Some(dir) = common::kernels() else { return };
    let plain = dir.join("7.2.13+deb14/vmlinuz");
    let rt = dir.join("7.2.13+deb14-rt/vmlinuz");
    let other = dir.join("7.1.13+deb13/vmlinuz");
    let tmp = common::temp_dir("check-proofs");
    // The plain kernel's record agrees (loads); the RT kernel's says it
    // loaded, where check predicts a refusal (bpf_timer on PREEMPT_RT).
    let proof = write_proofs(&tmp, vec![record(&plain, true), record(&rt, true)]);
    let (rc, _, err, pkg) = pack(&tmp, &proof);
    assert_eq!(rc, 0, "{err}");
    let kernels: Vec<&str> = [&plain, &rt, &other]
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect();
    let mut args = vec!["check", pkg.to_str().unwrap(), "--json"];
    args.extend(kernels.iter().flat_map(|k| ["--kernel", *k]));
    let (_, out, err) = common::scxpack(&args);
    let m: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let cells = m["results"].as_array().unwrap();
    let evidence = |i: usize| cells[i]["evidence"].clone();
    assert_eq!(evidence(0)["kind"], "proven", "{}", cells[0]);
    assert_eq!(evidence(0)["date"], DATE);
    assert_eq!(evidence(1)["kind"], "contradicted", "{}", cells[1]);
    assert_eq!(
        cells[1]["loadable"], false,
        "the verdict stays the prediction"
    );
    assert_eq!(evidence(2)["kind"], "predicted", "{}", cells[2]);
    let mut args = vec!["check", pkg.to_str().unwrap()];
    args.extend(kernels.iter().flat_map(|k| ["--kernel", *k]));
    let (_, text, _) = common::scxpack(&args);
    assert!(
        text.contains("only (shims) [proven]") && text.contains("only (shims) [predicted]"),
        "{text}"
    );
    assert!(text.contains("NONE [CONTRADICTED]"), "{text}");
    assert!(text.contains(&format!("proven in a VM ({DATE})")), "{text}");
    assert!(
        text.contains(&format!(
            "CONTRADICTED by a VM run ({DATE}): the kernel loaded variant only"
        )),
        "{text}"
    );
}

#[test]
fn pack_refuses_a_proof_of_another_build_or_package() {
    let Some(dir) = common::kernels() else { return };
    let plain = dir.join("7.2.13+deb14/vmlinuz");
    let tmp = common::temp_dir("check-proofs-bad");
    let mut other_build = record(&plain, true);
    other_build.object_sha256 = Some("00".repeat(32));
    let (rc, _, err, _) = pack(&tmp, &write_proofs(&tmp, vec![other_build]));
    assert_ne!(rc, 0);
    assert!(err.contains("rerun vmtest on this build"), "{err}");
    let mut other_package = record(&plain, true);
    other_package.package = "fair".into();
    let (rc, _, err, _) = pack(&tmp, &write_proofs(&tmp, vec![other_package]));
    assert_ne!(rc, 0);
    assert!(
        err.contains("no proof record for package \"timer\""),
        "{err}"
    );
}
