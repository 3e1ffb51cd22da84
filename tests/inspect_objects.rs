//! `inspect` on test objects whose contents are known: what each object
//! declares is written down in its `*.expect.json` (by the person who wrote
//! the C source), and `Requirements` must find exactly that.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use scxpack::object::Requirements;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/objects")
        .join(name)
}

fn expected(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(&format!("{name}.expect.json"))).unwrap())
        .unwrap()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn externs_object_declares_what_its_source_says() {
    let req = Requirements::from_path(&fixture("externs.bpf.o")).unwrap();
    let want = &expected("externs")["contents"];
    assert_struct_ops(&req, want);
    assert_externs(&req, want);
    assert_rodata(&req, want);
    assert_relocs_and_programs(&req, want);
    let uei = req.exit_info.as_ref().expect("exit-info record");
    assert_eq!(
        (uei.name.as_str(), uei.section.as_str(), uei.size),
        ("uei", ".bss", 1168)
    );
    assert_eq!(req.license.as_deref(), Some("GPL"));
}

fn assert_struct_ops(req: &Requirements, want: &Value) {
    let ops = &req.struct_ops[0];
    let want_ops = &want["struct_ops"][0];
    assert_eq!(ops.name, want_ops["map"].as_str().unwrap());
    assert_eq!(ops.kernel_type, want_ops["type"].as_str().unwrap());
    assert!(ops.link);
    assert_eq!(ops.flags, want_ops["data"]["flags"].as_u64());
    assert_eq!(ops.ops_name.as_deref(), want_ops["data"]["name"].as_str());
    for (member, prog) in want_ops["callbacks"].as_object().unwrap() {
        assert_eq!(
            ops.callbacks.get(member).map(String::as_str),
            prog.as_str(),
            "callback {member}"
        );
        assert!(
            ops.members_set.contains(member),
            "{member} must count as set"
        );
    }
    assert_eq!(
        ops.callbacks.len(),
        want_ops["callbacks"].as_object().unwrap().len()
    );
}

fn assert_externs(req: &Requirements, want: &Value) {
    let kfuncs: BTreeSet<(String, String, bool)> = req
        .kfuncs
        .iter()
        .map(|k| (k.name.clone(), k.kernel_name.clone(), k.weak))
        .collect();
    let want_kfuncs: BTreeSet<(String, String, bool)> = want["kfuncs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["extern"].as_str().unwrap().to_string(),
                k["kernel_name"].as_str().unwrap().to_string(),
                k["weak"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(kfuncs, want_kfuncs);
    let now = req.kfuncs.iter().find(|k| k.name == "scx_bpf_now").unwrap();
    assert_eq!(now.called_from, ["externs_running"]);
    assert_eq!(
        now.tested_in,
        ["externs_running"],
        "bpf_ksym_exists() guard seen"
    );

    let kconfig: BTreeSet<(String, bool)> = req
        .kconfig
        .iter()
        .map(|k| (k.name.clone(), k.weak))
        .collect();
    let want_kconfig: BTreeSet<(String, bool)> = want["kconfig"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap().to_string(),
                k["weak"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(kconfig, want_kconfig);
}

fn assert_rodata(req: &Requirements, want: &Value) {
    let slots: BTreeSet<String> = req.enum_slots().map(|v| v.name.clone()).collect();
    assert_eq!(slots, strings(&want["rodata"]["scx_enum_slots"]));
    let params: Vec<(String, Option<u64>)> = req
        .parameters()
        .map(|p| (p.name.clone(), p.default))
        .collect();
    let want_params: Vec<(String, Option<u64>)> = want["rodata"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["default"].as_u64(),
            )
        })
        .collect();
    assert_eq!(params, want_params);
}

fn assert_relocs_and_programs(req: &Requirements, want: &Value) {
    let relos: BTreeSet<(String, String, String)> = req
        .core_relocs
        .iter()
        .map(|c| {
            (
                c.program.clone().unwrap_or_default(),
                c.fields.join("."),
                c.access.clone(),
            )
        })
        .collect();
    let want_relos: BTreeSet<(String, String, String)> = want["core_relocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["program"].as_str().unwrap().to_string(),
                c["field"].as_str().unwrap().to_string(),
                c["access"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(relos, want_relos);

    let programs: BTreeSet<(String, String)> = req
        .programs
        .iter()
        .map(|p| (p.name.clone(), p.section.clone()))
        .collect();
    let want_programs: BTreeSet<(String, String)> = want["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["section"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(programs, want_programs);
    assert!(
        req.programs
            .iter()
            .all(|p| p.prog_type.as_deref() == Some("BPF_PROG_TYPE_STRUCT_OPS"))
    );

    let uei = req.exit_info.as_ref().expect("exit-info record");
    assert_eq!(
        (uei.name.as_str(), uei.section.as_str(), uei.size),
        ("uei", ".bss", 1168)
    );
    assert_eq!(req.license.as_deref(), Some("GPL"));
}

#[test]
fn modern_variant_calls_new_kfuncs_strongly_and_portable_weakly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fair");
    let modern = Requirements::from_path(&root.join("fair-modern.bpf.o")).unwrap();
    let portable = Requirements::from_path(&root.join("fair-portable.bpf.o")).unwrap();
    let strength = |r: &Requirements, name: &str| {
        r.kfuncs
            .iter()
            .find(|k| k.kernel_name == name)
            .map(|k| k.weak)
    };
    assert_eq!(strength(&modern, "scx_bpf_task_set_slice"), Some(false));
    assert_eq!(strength(&modern, "scx_bpf_dsq_peek"), Some(false));
    assert_eq!(strength(&portable, "scx_bpf_task_set_slice"), Some(true));
    assert_eq!(
        strength(&portable, "scx_bpf_dispatch"),
        Some(true),
        "6.12 fallback is weak"
    );
    assert!(
        portable
            .kfuncs
            .iter()
            .filter(|k| k.kernel_name != "scx_bpf_create_dsq")
            .all(|k| k.weak || k.kernel_name.starts_with("scx_bpf_"))
    );
}

#[test]
fn cli_json_carries_the_documented_keys() {
    let obj = fixture("externs.bpf.o");
    let (rc, out, err) = common::scxpack(&["inspect", obj.to_str().unwrap(), "--json"]);
    assert_eq!(rc, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    for key in ["struct_ops", "kfuncs", "kconfig", "core_relocs", "rodata"] {
        assert!(v[key].is_array(), "inspect --json lacks array {key}");
    }
    let ops = &v["struct_ops"][0];
    for key in ["name", "type", "members_set", "flags"] {
        assert!(!ops[key].is_null(), "struct_ops lacks {key}");
    }
    assert!(v["kfuncs"][0]["name"].is_string() && v["kfuncs"][0]["weak"].is_boolean());
    assert!(v["rodata"][0]["name"].is_string());
    let (rc, out, _) = common::scxpack(&["inspect", obj.to_str().unwrap()]);
    assert_eq!(rc, 0);
    assert!(out.contains("STRONG") && out.contains("weak"), "{out}");
}

#[test]
fn timer_object_shows_its_timer_map_sizes_and_no_arena() {
    let req = Requirements::from_path(&fixture("timer.bpf.o")).unwrap();
    let timer = req
        .maps
        .iter()
        .find(|m| m.name == "timer_map")
        .expect("timer_map found");
    assert!(timer.timer, "struct timer_slot holds a struct bpf_timer");
    assert_eq!(
        (timer.max_entries, timer.key_size, timer.value_size),
        (Some(1), Some(4), Some(16)),
        "u32 key, 16-byte struct bpf_timer"
    );
    assert!(
        req.maps
            .iter()
            .filter(|m| m.name != "timer_map")
            .all(|m| !m.timer),
        "only timer_map holds a timer"
    );
    for helper in [169, 170, 171] {
        assert!(req.helpers.contains(&helper), "bpf_timer helper {helper}");
    }
    assert!(!req.arena.used() && req.arena.casts == 0, "{:?}", req.arena);
    let (rc, out, err) = common::scxpack(&["inspect", fixture("timer.bpf.o").to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    assert!(
        out.contains("holds a bpf_timer") && out.contains("arena:      none"),
        "{out}"
    );
}

/// Every object built with compat/scx defines every `__SCX_*` slot; only a
/// relocation says the code reads one. relay inserts with SCX_DSQ_LOCAL_ON
/// and never kick-waits.
#[test]
fn enum_slots_are_referenced_only_where_the_code_reads_them() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/relay/relay.bpf.o");
    let req = Requirements::from_path(&path).expect("inspect relay");
    let slot = |name: &str| {
        req.enum_slots()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no slot {name}"))
            .referenced
    };
    assert!(slot("__SCX_DSQ_LOCAL_ON"));
    assert!(!slot("__SCX_KICK_WAIT"));
}
