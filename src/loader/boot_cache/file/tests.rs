//! The boot cache's file round-trips every kind of verdict and object
//! layout, and a damaged file is no file.

use super::*;
use crate::matching::Reason;

fn every_kind() -> Entry {
    let shims = vec![
        Shim::NullCallback {
            map: "ops map".into(),
            member: "-".into(),
        },
        Shim::MaskFlags {
            map: "ops".into(),
            bits: 1 << 40,
            names: vec!["SCX_OPS_A".into(), String::new(), "100%".into()],
            flags_after: 3,
        },
        Shim::MaskFlags {
            map: "ops".into(),
            bits: 0,
            names: Vec::new(),
            flags_after: 0,
        },
        Shim::FillEnumSlot {
            slot: "__SCX_X".into(),
            enumerator: "SCX_X".into(),
            value: u64::MAX,
            present: true,
        },
        Shim::SupplyKconfig {
            name: "CONFIG_HZ".into(),
            value: "250".into(),
            absent: false,
        },
        Shim::SupplyKconfig {
            name: "CONFIG_X".into(),
            value: String::new(),
            absent: true,
        },
    ];
    let notes = vec!["optional kfunc absent: é\nx".into(), String::new()];
    let depends = vec![
        Dependency::UserHalf {
            maps: vec!["dispatched".into(), "q q".into()],
        },
        Dependency::UserHalf { maps: Vec::new() },
    ];
    let loads = Assessment {
        shims,
        reasons: Vec::new(),
        notes,
        depends,
    };
    let mut refused = Assessment::default();
    refused.refuse(Reason::NoSchedExt);
    refused.refuse(Reason::KfuncMissing {
        name: "scx_bpf_x".into(),
        object_proto: "void (int)".into(),
        programs: vec!["a b".into()],
    });
    refused.note("and a note".into());
    let mut entry = Entry {
        release: Some("7.2.13+deb14-amd64".into()),
        sched_ext: true,
        ..Entry::default()
    };
    for (key, a) in [
        ("k loads", loads),
        ("refused", refused),
        ("empty", Assessment::default()),
    ] {
        entry.verdicts.insert(key.into(), Stored::new(a).unwrap());
    }
    entry.objects.insert(
        "ab".repeat(32),
        "scxpack-layout 1\nexit uei .data 0 8\n".into(),
    );
    entry
}

#[test]
fn every_kind_round_trips() {
    let entry = every_kind();
    let text = entry.write();
    assert_eq!(Entry::read(&text).as_ref(), Some(&entry), "{text}");
    let refused = entry.verdicts["refused"].assessment().unwrap();
    assert_eq!(refused.reasons.len(), 2);
    assert_eq!(
        entry.verdicts["k loads"].assessment().unwrap().shims.len(),
        6
    );
    let none = Entry {
        release: None,
        sched_ext: false,
        ..Entry::default()
    };
    assert_eq!(Entry::read(&none.write()), Some(none));
}

#[test]
fn a_damaged_file_is_no_file() {
    let text = every_kind().write();
    for bad in [
        String::new(),
        text.replace("scxpack-boot-cache 3", "scxpack-boot-cache 2"),
        format!("{text}verdict after-the-end\n"),
        text.replace("end\n", "shim null_callback a\nend\n"),
        text.replace("end\n", "shim warp a b\nend\n"),
        text.replace("end\n", "refused x\nend\n"),
        text.replace("end\n", "mystery\nend\n"),
        text.replace("kernel 7.2.13+deb14-amd64 1", "kernel 7.2.13+deb14-amd64 2"),
        text.replace("kernel 7.2.13+deb14-amd64 1\n", ""),
        text.replace("end\n", "kernel - 0\nend\n"),
        text.replace(
            "fill_enum_slot __SCX_X SCX_X",
            "fill_enum_slot __SCX_X SCX_X x",
        ),
        text.replace("%20", "%2"),
        "scxpack-boot-cache 3\nnote before any verdict\nend\n".into(),
    ] {
        assert_eq!(Entry::read(&bad), None, "{bad}");
    }
    // Cut short anywhere (the last newline aside): no file.
    for cut in 0..text.len() - 1 {
        assert_eq!(Entry::read(&text[..cut]), None, "cut at {cut}");
    }
}

#[test]
fn reasons_that_are_not_json_are_no_verdict() {
    let mut entry = every_kind();
    entry.verdicts.get_mut("refused").unwrap().reasons = Some("[{\"kind\"".into());
    let back = Entry::read(&entry.write()).unwrap();
    assert!(back.verdicts["refused"].assessment().is_none());
    assert!(back.verdicts["k loads"].assessment().is_some());
}
