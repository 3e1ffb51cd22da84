//! KernelFacts against the real kernel images: facts checked beforehand with
//! `bpftool btf dump` on each image's BTF.

mod common;

use scxpack::kernel::{BtfDefect, EnumValue, Kernel, KernelFacts};

fn facts(name: &str) -> Option<KernelFacts> {
    let path = common::vmlinuz(name)?;
    let cache = common::temp_dir(&format!("facts-cache-{name}"));
    let kernel = Kernel::open(&path, Some(&cache)).unwrap_or_else(|e| panic!("{name}: {e}"));
    Some(kernel.facts)
}

#[track_caller]
fn assert_kfunc(f: &KernelFacts, name: &str, present: bool) {
    assert_eq!(
        f.kfunc(name).is_some(),
        present,
        "{:?}: kfunc {name} should be {}",
        f.release,
        if present { "present" } else { "absent" }
    );
}

#[track_caller]
fn assert_member(f: &KernelFacts, name: &str, present: bool) {
    assert_eq!(
        f.ops_member(name).is_some(),
        present,
        "{:?}: sched_ext_ops.{name} should be {}",
        f.release,
        if present { "present" } else { "absent" }
    );
}

#[test]
fn stock_6_12_has_no_sched_ext() {
    let Some(f) = facts("6.12.117+deb13") else {
        return;
    };
    assert_eq!(f.release.as_deref(), Some("6.12.117+deb13-amd64"));
    assert!(!f.sched_ext);
    assert!(f.ops_members.is_empty());
    assert!(f.enums.is_empty());
    assert!(f.kfunc_tags, "Debian's pahole emits bpf_kfunc tags");
    assert!(f.helpers.contains_key("BPF_FUNC_map_lookup_elem"));
}

#[test]
fn scx_6_12_has_the_old_api_and_no_kfunc_tags() {
    let Some(f) = facts("6.12.117-scx") else {
        return;
    };
    assert!(f.sched_ext);
    assert!(!f.kfunc_tags, "built with pahole 1.24: no decl tags");
    assert_kfunc(&f, "scx_bpf_dispatch", true);
    assert_kfunc(&f, "scx_bpf_consume", true);
    assert_kfunc(&f, "scx_bpf_dsq_insert", false);
    assert_member(&f, "dump", true);
    assert_member(&f, "priv", false);
    assert_member(&f, "cgroup_set_bandwidth", false);
}

#[test]
fn debian_6_16_has_both_dispatch_names() {
    let Some(f) = facts("6.16.3+deb13") else {
        return;
    };
    assert_eq!(f.release.as_deref(), Some("6.16.3+deb13-amd64"));
    assert_kfunc(&f, "scx_bpf_dispatch", true);
    assert_kfunc(&f, "scx_bpf_dsq_insert", true);
    assert_kfunc(&f, "scx_bpf_select_cpu_and", true);
    assert_member(&f, "cgroup_set_bandwidth", false);
    assert_member(&f, "priv", true);
    let insert = f.kfunc("scx_bpf_dsq_insert").unwrap();
    assert_eq!(
        insert.proto,
        "void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags)"
    );
}

#[test]
fn debian_6_17_removed_the_old_dispatch_names() {
    let Some(f) = facts("6.17.13+deb13") else {
        return;
    };
    assert_kfunc(&f, "scx_bpf_dispatch", false);
    assert_kfunc(&f, "scx_bpf_consume", false);
    assert_member(&f, "cgroup_set_bandwidth", true);
}

#[test]
fn debian_6_19_has_cgroup_set_idle_and_new_kfuncs() {
    let Some(f) = facts("6.19.14+deb13") else {
        return;
    };
    assert_member(&f, "cgroup_set_idle", true);
    assert_kfunc(&f, "scx_bpf_dsq_peek", true);
    assert_kfunc(&f, "scx_bpf_task_set_slice", true);
    assert_kfunc(&f, "scx_bpf_dsq_insert___v2", true);
}

#[test]
fn debian_7_1_has_sub_scheduler_members() {
    let Some(f) = facts("7.1.13+deb13") else {
        return;
    };
    assert_member(&f, "sub_attach", true);
    assert_member(&f, "sub_detach", true);
}

#[test]
fn scx_enq_head_was_renumbered() {
    let (Some(old), Some(new)) = (facts("6.16.3+deb13"), facts("7.2.13+deb14")) else {
        return;
    };
    assert_eq!(
        old.enum_value("SCX_ENQ_HEAD"),
        Some(EnumValue::Unsigned(0x10))
    );
    assert_eq!(
        new.enum_value("SCX_ENQ_HEAD"),
        Some(EnumValue::Unsigned(0x10000))
    );
    for f in [&old, &new] {
        assert_eq!(
            f.enum_value("SCX_DSQ_LOCAL").map(EnumValue::bits),
            Some((1 << 63) | 2),
            "64-bit enumerators survive"
        );
    }
}

#[test]
fn every_image_parses_with_sane_facts() {
    let Some(dir) = common::kernels() else { return };
    let images = scxpack::kernel::source::find_kernels(&dir).expect("list kernels");
    assert!(
        images.len() >= 9,
        "expected the 9 test kernels, found {images:?}"
    );
    let cache = common::temp_dir("facts-all");
    for path in images {
        let k =
            Kernel::open(&path, Some(&cache)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let f = &k.facts;
        assert!(
            f.btf_types > 100_000,
            "{}: {} types",
            path.display(),
            f.btf_types
        );
        let defective: Vec<&str> = f
            .defects
            .iter()
            .map(|d| match d {
                BtfDefect::ImplicitAuxArgument { kfunc, .. } => kfunc.as_str(),
            })
            .collect();
        if f.release.as_deref() == Some("7.1.13+deb13-amd64") {
            // Checked with bpftool: these FUNC_PROTOs end in `aux` with no `_impl` twin.
            for k in [
                "scx_bpf_kick_cpu",
                "scx_bpf_exit_bstr",
                "bpf_iter_scx_dsq_new",
                "scx_bpf_locked_rq",
            ] {
                assert!(
                    defective.contains(&k),
                    "7.1.13: {k} carries aux: {defective:?}"
                );
            }
        } else {
            assert!(defective.is_empty(), "{}: {defective:?}", path.display());
        }
        let rt = f.release.as_deref().is_some_and(|r| r.contains("-rt"));
        assert_eq!(f.preempt_rt, rt, "{}: PREEMPT_RT", path.display());
        assert_eq!(f.map_types.get("BPF_MAP_TYPE_STRUCT_OPS"), Some(&26));
        assert_eq!(f.prog_types.get("BPF_PROG_TYPE_STRUCT_OPS"), Some(&27));
        if f.sched_ext {
            assert!(f.ops_member("dump").is_some(), "{}", path.display());
            assert!(f.kfuncs.iter().any(|k| k.name == "scx_bpf_kick_cpu"));
        }
    }
}

/// `struct scx_rq` has `kick_sync` from 6.19 on (bpftool: 6.12.117-scx to
/// 6.18.15 show `pnt_seq` only); before that SCX_KICK_WAIT is waited for in
/// hard IRQ. A kernel without sched_ext has no `scx_rq` and no such wait.
#[test]
fn kick_wait_is_waited_for_in_irq_before_6_19() {
    for (name, in_irq) in [
        ("6.12.117+deb13", false),
        ("6.12.117-scx", true),
        ("6.18.15+deb13", true),
        ("6.19.14+deb13", false),
        ("7.2.13+deb14", false),
    ] {
        let Some(f) = facts(name) else { return };
        assert_eq!(f.kick_wait_in_irq, in_irq, "{name}");
    }
}
