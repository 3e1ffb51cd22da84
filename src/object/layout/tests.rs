//! The loader layout's text round-trips every shipped object's loader
//! fields, escapes awkward names, and refuses anything malformed.

use std::path::Path;

use super::*;

/// The fields the loader reads, to compare a layout's result with the
/// requirements it came from.
fn loader_part(r: &Requirements) -> impl PartialEq + std::fmt::Debug + '_ {
    (&r.struct_ops, &r.rodata, &r.kconfig, &r.exit_info)
}

#[test]
fn every_shipped_object_round_trips() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects");
    let mut seen = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).into_iter().flatten() {
            let path = file.unwrap().path();
            if !path.to_string_lossy().ends_with(".bpf.o") {
                continue;
            }
            let req = Requirements::from_path(&path).unwrap();
            assert!(!req.struct_ops.is_empty(), "{}", path.display());
            let back = Requirements::from_loader_layout(&req.loader_layout())
                .unwrap_or_else(|| panic!("{}: layout not read back", path.display()));
            assert_eq!(loader_part(&back), loader_part(&req), "{}", path.display());
            assert!(back.kfuncs.is_empty() && back.core_relocs.is_empty());
            seen += 1;
        }
    }
    assert!(seen >= 6, "only {seen} objects under {}", root.display());
}

fn awkward() -> Requirements {
    let mut req = Requirements::from_loader_layout(HEADER).unwrap();
    req.struct_ops.push(StructOpsMap {
        name: "ops map".into(),
        type_name: "-".into(),
        kernel_type: "100%".into(),
        link: true,
        members_set: vec!["é".into(), String::new()],
        callbacks: BTreeMap::from([("enqueue".into(), "a\nb".into())]),
        flags: Some(u64::MAX),
        ops_name: Some("-".into()),
        size: 7,
        layout: vec![MemberSlot {
            name: "flags".into(),
            offset: 1,
            size: 8,
        }],
    });
    req.rodata.push(RodataVar {
        name: "x".into(),
        section: ".rodata".into(),
        offset: 0,
        size: 4,
        type_name: "const volatile u32".into(),
        enum_slot: None,
        default: Some(0),
        referenced: false,
    });
    req.exit_info = Some(GlobalSlot {
        name: "uei".into(),
        section: ".data.uei".into(),
        offset: 8,
        size: 1024,
    });
    req
}

#[test]
fn spaces_percent_dashes_and_non_ascii_round_trip() {
    let req = awkward();
    let text = req.loader_layout();
    assert!(!text.contains("a\nb"), "{text}");
    let back = Requirements::from_loader_layout(&text).unwrap();
    assert_eq!(loader_part(&back), loader_part(&req));
}

#[test]
fn malformed_text_is_refused() {
    let good = awkward().loader_layout();
    let bad = [
        String::new(),
        "scxpack-layout 2\n".to_string(),
        good.replace("struct_ops ops%20map", "struct_ops"),
        good.replace("rodata x", "rodata"),
        good.replace(" 1024", " 1024 extra"),
        good.replace("exit ", "quit "),
        good.replace("%20", "%2"),
        good.replace("%20", "%ZZ"),
        good.replace("%C3%A9", "%C3"),
        good.replace(" 1 7 ", " 2 7 "),
        good.replace(" 4 const", " four const"),
        format!("{HEADER}\nmember flags 0 8\n"),
        format!("{HEADER}\ncallback a b\n"),
        format!("{HEADER}\nset a\n"),
    ];
    for text in bad {
        assert!(
            Requirements::from_loader_layout(&text).is_none(),
            "accepted:\n{text}"
        );
    }
}
