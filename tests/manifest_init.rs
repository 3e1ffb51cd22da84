//! `scxpack manifest init OBJ`: the draft lists the object's parameters and
//! resizable arrays, `pack` accepts it as drafted, and `check` then reports
//! the drafted setup. On the `globals` fixture object.

mod common;

use std::path::Path;

#[test]
fn the_draft_lists_parameters_and_resizable_arrays_and_packs() {
    let dir = common::temp_dir("manifest-init");
    let obj = dir.join("globals.bpf.o");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/objects/globals.bpf.o"),
        &obj,
    )
    .unwrap();
    let (rc, printed, err) = common::scxpack(&["manifest", "init", obj.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    let draft: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(draft["name"], "globals");
    assert_eq!(draft["parameters"][2]["name"], "slice_ns", "{printed}");
    assert_eq!(draft["parameters"][2]["type"], "u64", "{printed}");
    assert_eq!(
        draft["setup"][0],
        serde_json::json!({"resize": "cpu_started_at", "to": "nr_cpu_ids"})
    );

    let manifest = dir.join("globals.json");
    let init = || {
        common::scxpack(&[
            "manifest",
            "init",
            obj.to_str().unwrap(),
            "-o",
            manifest.to_str().unwrap(),
        ])
    };
    let (rc, _, err) = init();
    assert_eq!(rc, 0, "{err}");
    let (rc, _, err) = init();
    assert_eq!(rc, 1, "an existing draft is never overwritten: {err}");
    let pkg = dir.join("globals.scxpkg");
    let (rc, _, err) = common::scxpack(&[
        "pack",
        manifest.to_str().unwrap(),
        "-o",
        pkg.to_str().unwrap(),
    ]);
    assert_eq!(rc, 0, "pack refuses the draft: {err}");
    let (rc, info, err) = common::scxpack(&["info", pkg.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    assert!(info.contains("nr_cpu_ids"), "{info}");
    std::fs::remove_dir_all(&dir).unwrap();
}
