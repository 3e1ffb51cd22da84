//! The pure core on its own: every [`Reason`] and every [`Shim`] that
//! [`assess`] can produce, and the variant walk of [`select`], on kernels
//! and objects built by hand: no kernel image, no object file, no syscall.

use std::collections::BTreeMap;

use super::*;
use crate::btf::tests::BtfBuilder;
use crate::btf::{Btf, CoreReloKind, Shape};
use crate::kernel::{Arch, EnumValue, Kconfig, KernelTypes, Kfunc, OpsMember};
use crate::object::{
    ArenaUse, CoreRequirement, KconfigExtern, MapDef, MemberSlot, Program, RodataVar,
    essential_name,
};

const SCX_OPS_ENQ_LAST: u64 = 1 << 1;
const SCX_OPS_BUILTIN_IDLE_PER_NODE: u64 = 1 << 6;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_ARENA: u32 = 33;

/// A sched_ext kernel of the 6.12 shape: a few members, kfuncs, enums.
fn kernel() -> KernelFacts {
    let member = |name: &str, callback: bool, i: u32| OpsMember {
        name: name.to_string(),
        callback,
        offset_bytes: i * 8,
        size_bytes: 8,
    };
    KernelFacts {
        release: Some("6.12.0-test".into()),
        sched_ext: true,
        kfunc_tags: true,
        kfuncs: vec![
            kfunc(
                "scx_bpf_create_dsq",
                "s32 scx_bpf_create_dsq(u64 dsq_id, s32 node)",
                &[int(8, false), int(4, true)],
                int(4, true),
            ),
            kfunc(
                "scx_bpf_dispatch",
                "void scx_bpf_dispatch(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags)",
                &[task(), int(8, false), int(8, false), int(8, false)],
                Shape::Void,
            ),
        ],
        ops_members: vec![
            member("enqueue", true, 0),
            member("dump", true, 1),
            member("flags", false, 2),
            member("name", false, 3),
        ],
        enums: BTreeMap::from([("SCX_DSQ_LOCAL".into(), EnumValue::Unsigned(1 << 63 | 2))]),
        ops_flags: BTreeMap::from([("SCX_OPS_ENQ_LAST".into(), SCX_OPS_ENQ_LAST)]),
        map_types: BTreeMap::from([("BPF_MAP_TYPE_ARRAY".into(), u64::from(BPF_MAP_TYPE_ARRAY))]),
        prog_types: BTreeMap::from([("BPF_PROG_TYPE_STRUCT_OPS".into(), 27)]),
        helpers: BTreeMap::from([("BPF_FUNC_map_lookup_elem".into(), 1)]),
        defects: Vec::new(),
        preempt_rt: false,
        kick_wait_in_irq: false,
        btf_types: 0,
        arch: Some(Arch::X86_64),
    }
}

fn int(bytes: u32, signed: bool) -> Shape {
    Shape::Int { bytes, signed }
}

fn task() -> Shape {
    Shape::Ptr {
        to: Box::new(Shape::Struct {
            name: "task_struct".into(),
        }),
    }
}

fn kfunc(name: &str, proto: &str, params: &[Shape], ret: Shape) -> Kfunc {
    Kfunc {
        name: name.into(),
        proto: proto.into(),
        signature: Shape::Func {
            ret: Box::new(ret),
            params: params.to_vec(),
        },
    }
}

/// An object with one struct_ops map setting `enqueue` and nothing else.
fn object() -> Requirements {
    Requirements {
        license: Some("GPL".into()),
        struct_ops: vec![StructOpsMap {
            name: "ops".into(),
            type_name: "sched_ext_ops".into(),
            kernel_type: SCHED_EXT_OPS.into(),
            link: true,
            members_set: vec!["enqueue".into(), "name".into()],
            callbacks: BTreeMap::from([("enqueue".into(), "test_enqueue".into())]),
            flags: None,
            ops_name: Some("test".into()),
            size: 32,
            layout: vec![MemberSlot {
                name: "flags".into(),
                offset: 16,
                size: 8,
            }],
        }],
        kfuncs: Vec::new(),
        kconfig: Vec::new(),
        core_relocs: Vec::new(),
        rodata: Vec::new(),
        maps: Vec::new(),
        programs: vec![Program {
            name: "test_enqueue".into(),
            section: "struct_ops/enqueue".into(),
            prog_type: Some("BPF_PROG_TYPE_STRUCT_OPS".into()),
            insn: 0,
            insns: 4,
        }],
        helpers: vec![1],
        exit_info: None,
        arena: ArenaUse::default(),
        compiler: None,
        arch: None,
    }
}

fn facts_only(facts: &KernelFacts) -> Target<'_> {
    Target {
        facts,
        btf: None,
        kconfig: None,
    }
}

fn with_btf<'a>(facts: &'a KernelFacts, btf: &'a KernelTypes<'a>) -> Target<'a> {
    Target {
        facts,
        btf: Some(btf),
        kconfig: None,
    }
}

fn assess_on(req: &Requirements, policy: &VariantPolicy, facts: &KernelFacts) -> Assessment {
    assess(req, policy, &facts_only(facts))
}

#[track_caller]
fn refused_with(a: &Assessment, want: &Reason) {
    assert_eq!(a.verdict(), Verdict::Refused, "{a:?}");
    assert!(a.reasons.contains(want), "want {want:?} in {:?}", a.reasons);
    assert!(!want.to_string().is_empty());
}

#[test]
fn a_plain_object_loads_as_is() {
    let a = assess_on(&object(), &VariantPolicy::default(), &kernel());
    assert_eq!(a.verdict(), Verdict::Loads, "{a:?}");
    assert_eq!(a.plan(), ShimPlan::default());
}

#[test]
fn no_sched_ext() {
    let mut k = kernel();
    k.sched_ext = false;
    let a = assess_on(&object(), &VariantPolicy::default(), &k);
    assert_eq!(a.reasons, vec![Reason::NoSchedExt]);
    assert!(a.reasons[0].to_string().contains("CONFIG_SCHED_CLASS_EXT"));
}

#[test]
fn sched_ext_too_old() {
    let mut k = kernel();
    k.ops_members.retain(|m| m.name != "dump");
    refused_with(
        &assess_on(&object(), &VariantPolicy::default(), &k),
        &Reason::SchedExtTooOld,
    );
}

#[test]
fn a_member_the_kernel_lacks_is_refused_unless_optional() {
    let mut req = object();
    req.struct_ops[0]
        .members_set
        .push("cgroup_set_bandwidth".into());
    req.struct_ops[0]
        .callbacks
        .insert("cgroup_set_bandwidth".into(), "test_bw".into());
    let a = assess_on(&req, &VariantPolicy::default(), &kernel());
    refused_with(
        &a,
        &Reason::MemberMissing {
            map: "ops".into(),
            member: "cgroup_set_bandwidth".into(),
            optional_allowed: true,
        },
    );
    assert!(a.reasons[0].to_string().contains("mark it optional"));

    let policy = VariantPolicy {
        optional_members: ["cgroup_set_bandwidth".to_string()].into(),
        ..VariantPolicy::default()
    };
    let a = assess_on(&req, &policy, &kernel());
    assert_eq!(a.verdict(), Verdict::LoadsWithShims, "{a:?}");
    let null = Shim::NullCallback {
        map: "ops".into(),
        member: "cgroup_set_bandwidth".into(),
    };
    assert_eq!(a.shims, vec![null]);
    assert_eq!(
        a.plan().null_callbacks,
        vec![("ops".to_string(), "cgroup_set_bandwidth".to_string())]
    );
}

#[test]
fn a_data_member_the_kernel_lacks_cannot_be_optional() {
    let mut req = object();
    req.struct_ops[0].members_set.push("sub_cgroup_id".into());
    let a = assess_on(&req, &VariantPolicy::default(), &kernel());
    refused_with(
        &a,
        &Reason::MemberMissing {
            map: "ops".into(),
            member: "sub_cgroup_id".into(),
            optional_allowed: false,
        },
    );
}

#[test]
fn unknown_flags_are_masked_when_optional_else_refused() {
    let mut req = object();
    req.struct_ops[0].flags = Some(SCX_OPS_ENQ_LAST | SCX_OPS_BUILTIN_IDLE_PER_NODE);
    refused_with(
        &assess_on(&req, &VariantPolicy::default(), &kernel()),
        &Reason::UnknownFlags {
            map: "ops".into(),
            bits: SCX_OPS_BUILTIN_IDLE_PER_NODE,
            flags: SCX_OPS_ENQ_LAST | SCX_OPS_BUILTIN_IDLE_PER_NODE,
        },
    );
    let policy = VariantPolicy {
        optional_flags: BTreeMap::from([(
            "SCX_OPS_BUILTIN_IDLE_PER_NODE".to_string(),
            SCX_OPS_BUILTIN_IDLE_PER_NODE,
        )]),
        ..VariantPolicy::default()
    };
    let a = assess_on(&req, &policy, &kernel());
    assert_eq!(
        a.shims,
        vec![Shim::MaskFlags {
            map: "ops".into(),
            bits: SCX_OPS_BUILTIN_IDLE_PER_NODE,
            names: vec!["SCX_OPS_BUILTIN_IDLE_PER_NODE".into()],
            flags_after: SCX_OPS_ENQ_LAST,
        }]
    );
    assert_eq!(a.plan().flags, vec![("ops".to_string(), SCX_OPS_ENQ_LAST)]);
}

fn kfunc_extern(name: &str, weak: bool, signature: Shape) -> KfuncExtern {
    KfuncExtern {
        name: name.into(),
        kernel_name: essential_name(name).into(),
        weak,
        proto: format!("... {name}(...)"),
        signature,
        called_from: vec!["test_enqueue".into()],
        tested_in: Vec::new(),
    }
}

fn dsq_insert() -> Shape {
    Shape::Func {
        ret: Box::new(Shape::Void),
        params: vec![task(), int(8, false), int(8, false), int(8, false)],
    }
}

#[test]
fn a_strong_kfunc_the_kernel_lacks_is_refused() {
    let mut req = object();
    req.kfuncs
        .push(kfunc_extern("scx_bpf_dsq_insert", false, dsq_insert()));
    refused_with(
        &assess_on(&req, &VariantPolicy::default(), &kernel()),
        &Reason::KfuncMissing {
            name: "scx_bpf_dsq_insert".into(),
            object_proto: "... scx_bpf_dsq_insert(...)".into(),
            programs: vec!["test_enqueue".into()],
        },
    );
}

#[test]
fn a_kfunc_of_another_prototype_is_incompatible() {
    let mut req = object();
    let wrong = Shape::Func {
        ret: Box::new(Shape::Void),
        params: vec![task(), int(8, false)],
    };
    req.kfuncs
        .push(kfunc_extern("scx_bpf_dispatch", false, wrong));
    let a = assess_on(&req, &VariantPolicy::default(), &kernel());
    let Reason::KfuncIncompatible {
        name, kernel_proto, ..
    } = &a.reasons[0]
    else {
        panic!("{a:?}");
    };
    assert_eq!(name, "scx_bpf_dispatch");
    assert!(kernel_proto.contains("u64 enq_flags"));
}

#[test]
fn a_matching_kfunc_with_a_flavor_resolves() {
    let mut req = object();
    req.kfuncs.push(kfunc_extern(
        "scx_bpf_dispatch___compat",
        false,
        dsq_insert(),
    ));
    assert_eq!(
        assess_on(&req, &VariantPolicy::default(), &kernel()).verdict(),
        Verdict::Loads
    );
}

#[test]
fn an_absent_weak_kfunc_is_fine_only_when_guarded() {
    let mut req = object();
    req.kfuncs
        .push(kfunc_extern("scx_bpf_dsq_insert", true, dsq_insert()));
    refused_with(
        &assess_on(&req, &VariantPolicy::default(), &kernel()),
        &Reason::WeakKfuncCalledUnguarded {
            name: "scx_bpf_dsq_insert".into(),
            programs: vec!["test_enqueue".into()],
        },
    );
    req.kfuncs[0].tested_in = vec!["test_enqueue".into()];
    let a = assess_on(&req, &VariantPolicy::default(), &kernel());
    assert_eq!(a.verdict(), Verdict::Loads, "{a:?}");
    assert!(a.notes[0].contains("dead code"), "{a:?}");
}

#[test]
fn a_btf_defect_is_named_as_such() {
    let mut k = kernel();
    k.kfuncs[1].signature = Shape::Func {
        ret: Box::new(Shape::Void),
        params: vec![
            task(),
            int(8, false),
            int(8, false),
            int(8, false),
            Shape::Opaque { name: "aux".into() },
        ],
    };
    k.defects.push(BtfDefect::ImplicitAuxArgument {
        kfunc: "scx_bpf_dispatch".into(),
        proto: "void scx_bpf_dispatch(..., struct bpf_prog_aux *aux)".into(),
    });
    let mut req = object();
    req.kfuncs
        .push(kfunc_extern("scx_bpf_dispatch", false, dsq_insert()));
    let a = assess_on(&req, &VariantPolicy::default(), &k);
    refused_with(
        &a,
        &Reason::BtfDefect {
            kfunc: "scx_bpf_dispatch".into(),
            kernel_proto: "void scx_bpf_dispatch(..., struct bpf_prog_aux *aux)".into(),
        },
    );
    assert!(a.reasons[0].to_string().contains("pahole"));
}

#[test]
fn enum_slots_get_the_kernels_value_or_zero() {
    let mut req = object();
    for (name, enumerator) in [
        ("__SCX_DSQ_LOCAL", "SCX_DSQ_LOCAL"),
        ("__SCX_NEW", "SCX_NEW"),
    ] {
        req.rodata.push(RodataVar {
            name: name.into(),
            section: ".rodata".into(),
            offset: 0,
            size: 8,
            type_name: "const volatile u64".into(),
            enum_slot: Some(enumerator.into()),
            default: None,
            referenced: true,
        });
    }
    let a = assess_on(&req, &VariantPolicy::default(), &kernel());
    assert_eq!(a.verdict(), Verdict::LoadsWithShims);
    assert_eq!(
        a.plan().enum_slots,
        vec![
            ("__SCX_DSQ_LOCAL".to_string(), 1 << 63 | 2),
            ("__SCX_NEW".to_string(), 0)
        ]
    );
    assert!(a.shims[1].to_string().contains("absent from this kernel"));
}

fn kconfig_extern(name: &str, weak: bool, type_name: &str) -> KconfigExtern {
    KconfigExtern {
        name: name.into(),
        weak,
        type_name: type_name.into(),
    }
}

#[test]
fn kconfig_values_are_supplied_and_strong_absent_ones_refused() {
    let mut req = object();
    req.kconfig = vec![
        kconfig_extern("CONFIG_HZ", false, "int"),
        kconfig_extern("CONFIG_SMP", true, "bool"),
        kconfig_extern("LINUX_KERNEL_VERSION", false, "unsigned int"),
    ];
    let config = Kconfig::parse("CONFIG_HZ=250\n");
    let k = kernel();
    let target = Target {
        facts: &k,
        btf: None,
        kconfig: Some(&config),
    };
    let a = assess(&req, &VariantPolicy::default(), &target);
    assert_eq!(a.verdict(), Verdict::LoadsWithShims, "{a:?}");
    let plan = a.plan();
    assert_eq!(
        plan.kconfig,
        vec![
            ("CONFIG_HZ".to_string(), "250".to_string()),
            ("CONFIG_SMP".to_string(), "n".to_string())
        ]
    );
    assert_eq!(plan.kconfig_text(), "CONFIG_HZ=250\nCONFIG_SMP=n\n");
    assert_eq!(
        a.shims[1].to_string(),
        "kconfig CONFIG_SMP=n (absent, weak)"
    );

    for (config, known) in [
        (None, false),
        (Some(Kconfig::parse("CONFIG_SMP=y\n")), true),
    ] {
        let target = Target {
            facts: &k,
            btf: None,
            kconfig: config.as_ref(),
        };
        refused_with(
            &assess(&req, &VariantPolicy::default(), &target),
            &Reason::KconfigMissing {
                name: "CONFIG_HZ".into(),
                config_known: known,
            },
        );
    }
}

#[test]
fn map_program_and_helper_types_the_kernel_lacks() {
    let mut req = object();
    req.maps.push(MapDef {
        name: "arena".into(),
        map_type: BPF_MAP_TYPE_ARENA,
        section: ".maps".into(),
        max_entries: Some(1),
        key_size: Some(0),
        value_size: Some(0),
        timer: false,
        helpers: Vec::new(),
    });
    req.programs.push(Program {
        name: "test_syscall".into(),
        section: "syscall".into(),
        prog_type: Some("BPF_PROG_TYPE_SYSCALL".into()),
        insn: 0,
        insns: 2,
    });
    req.helpers.push(212);
    let a = assess_on(&req, &VariantPolicy::default(), &kernel());
    refused_with(
        &a,
        &Reason::MapTypeMissing {
            map: "arena".into(),
            map_type: BPF_MAP_TYPE_ARENA,
        },
    );
    refused_with(
        &a,
        &Reason::ProgTypeMissing {
            program: "test_syscall".into(),
            prog_type: "BPF_PROG_TYPE_SYSCALL".into(),
        },
    );
    refused_with(&a, &Reason::HelperMissing { id: 212 });
}

/// A `.maps` map as libbpf would create it.
fn map(name: &str, map_type: u32, max_entries: Option<u32>, key: u32, value: u32) -> MapDef {
    MapDef {
        name: name.into(),
        map_type,
        section: ".maps".into(),
        max_entries,
        key_size: Some(key),
        value_size: Some(value),
        timer: false,
        helpers: Vec::new(),
    }
}

/// `kernel()` knowing the map types the map-creation tests use.
fn kernel_with_map_types(types: &[(&str, u32)]) -> KernelFacts {
    let mut k = kernel();
    for (name, value) in types {
        k.map_types.insert((*name).into(), u64::from(*value));
    }
    k
}

#[test]
fn maps_the_kernel_refuses_to_create() {
    const HASH: u32 = 1;
    const TASK_STORAGE: u32 = 29;
    let k = kernel_with_map_types(&[
        ("BPF_MAP_TYPE_HASH", HASH),
        ("BPF_MAP_TYPE_TASK_STORAGE", TASK_STORAGE),
    ]);
    let mut req = object();
    req.maps = vec![
        // scx_pair's pair_ctx: sized by its C loader, 0 in the object.
        map("pair_ctx", BPF_MAP_TYPE_ARRAY, Some(0), 4, 16),
        // No max_entries at all in a BTF-defined map: libbpf passes 0.
        map("unsized", HASH, None, 4, 8),
        map("wide_key", BPF_MAP_TYPE_ARRAY, Some(1), 8, 8),
        map("no_value", HASH, Some(4), 4, 0),
        map("task_ctx", TASK_STORAGE, Some(0), 4, 8),
        map("sized_storage", TASK_STORAGE, Some(8), 4, 8),
        map("fine", HASH, Some(64), 4, 8),
    ];
    let a = assess_on(&req, &VariantPolicy::default(), &k);
    refused_with(
        &a,
        &Reason::MapUnsized {
            map: "pair_ctx".into(),
            map_type: BPF_MAP_TYPE_ARRAY,
        },
    );
    assert!(
        a.reasons[0]
            .to_string()
            .contains("size the map in the manifest's setup"),
        "{}",
        a.reasons[0]
    );
    refused_with(
        &a,
        &Reason::MapUnsized {
            map: "unsized".into(),
            map_type: HASH,
        },
    );
    let shape = |map: &str, field: &str, value: u32, need: &str| Reason::MapShape {
        map: map.into(),
        field: field.into(),
        value,
        need: need.into(),
    };
    refused_with(&a, &shape("wide_key", "key_size", 8, "4 (a u32 index)"));
    refused_with(&a, &shape("no_value", "value_size", 0, "more than 0"));
    refused_with(
        &a,
        &shape(
            "sized_storage",
            "max_entries",
            8,
            "0 (the kernel sizes this map type itself)",
        ),
    );
    assert_eq!(
        a.reasons.len(),
        5,
        "task_ctx and fine are fine: {:?}",
        a.reasons
    );
}

#[test]
fn bpf_timer_users_are_refused_on_preempt_rt_only() {
    const BPF_FUNC_TIMER_INIT: u32 = 169;
    let mut k = kernel();
    k.helpers
        .insert("BPF_FUNC_timer_init".into(), u64::from(BPF_FUNC_TIMER_INIT));
    let mut req = object();
    let mut timers = map("central_timer", BPF_MAP_TYPE_ARRAY, Some(1), 4, 16);
    timers.timer = true;
    req.maps.push(timers);
    req.helpers.push(BPF_FUNC_TIMER_INIT);
    let a = assess_on(&req, &VariantPolicy::default(), &k);
    assert_eq!(a.verdict(), Verdict::Loads, "not RT: {a:?}");
    k.preempt_rt = true;
    let a = assess_on(&req, &VariantPolicy::default(), &k);
    let want = Reason::BpfTimerOnRt {
        maps: vec!["central_timer".into()],
    };
    refused_with(&a, &want);
    assert!(
        want.to_string()
            .contains("bpf_timer cannot be used on PREEMPT_RT")
    );
    // A timer in a map value that no program arms is not refused.
    req.helpers.retain(|&h| h != BPF_FUNC_TIMER_INIT);
    assert!(assess_on(&req, &VariantPolicy::default(), &k).loadable());
}

#[test]
fn objects_tied_to_one_architecture_are_refused_on_the_other() {
    let mut arm64 = kernel();
    arm64.arch = Some(Arch::Arm64);
    let mut req = object();
    // Architecture-neutral objects load on both.
    assert!(assess_on(&req, &VariantPolicy::default(), &arm64).loadable());
    let evidence = vec!["CO-RE FieldByteOffset of pt_regs.di in probe".to_string()];
    req.arch = Some(crate::object::ArchUse {
        arch: Arch::X86_64,
        evidence: evidence.clone(),
    });
    assert!(assess_on(&req, &VariantPolicy::default(), &kernel()).loadable());
    let a = assess_on(&req, &VariantPolicy::default(), &arm64);
    let want = Reason::WrongArchitecture {
        object_arch: Arch::X86_64,
        kernel_arch: Arch::Arm64,
        evidence,
    };
    refused_with(&a, &want);
    let text = want.to_string();
    assert!(
        text.contains("built for x86_64 only (CO-RE FieldByteOffset of pt_regs.di in probe)")
            && text.contains("this kernel is arm64"),
        "{text}"
    );
    // A kernel whose architecture is unknown (raw BTF of another arch) is not judged.
    arm64.arch = None;
    assert!(assess_on(&req, &VariantPolicy::default(), &arm64).loadable());
}

#[test]
fn arena_users_without_address_space_casts_are_refused() {
    let k = kernel_with_map_types(&[("BPF_MAP_TYPE_ARENA", BPF_MAP_TYPE_ARENA)]);
    let mut req = object();
    req.maps
        .push(map("arena", BPF_MAP_TYPE_ARENA, Some(1024), 0, 0));
    req.arena = ArenaUse {
        maps: vec!["arena".into()],
        globals: Vec::new(),
        casts: 0,
    };
    let a = assess_on(&req, &VariantPolicy::default(), &k);
    let want = Reason::ArenaWithoutCasts {
        maps: vec!["arena".into()],
        globals: Vec::new(),
        compiler: None,
    };
    refused_with(&a, &want);
    assert!(want.to_string().contains("rebuild with clang >= 19"));
    // Built by clang >= 19: the casts are there.
    req.arena.casts = 12;
    req.compiler = Some("Debian clang version 19.1.7 (3)".into());
    let a = assess_on(&req, &VariantPolicy::default(), &k);
    assert_eq!(a.verdict(), Verdict::Loads, "{a:?}");
    // scx_sdt by clang 16: a few hand-written casts, not enough.
    req.arena.casts = 5;
    req.compiler = Some("Debian clang version 16.0.6 (15~deb12u1)".into());
    let a = assess_on(&req, &VariantPolicy::default(), &k);
    refused_with(
        &a,
        &Reason::ArenaWithoutCasts {
            maps: vec!["arena".into()],
            globals: Vec::new(),
            compiler: req.compiler.clone(),
        },
    );
}

#[test]
fn objects_fed_by_user_space_load_but_need_their_user_half_to_run() {
    const QUEUE: u32 = 22;
    const PUSH: u32 = 87;
    const POP: u32 = 88;
    let mut k = kernel_with_map_types(&[("BPF_MAP_TYPE_QUEUE", QUEUE)]);
    k.helpers
        .insert("BPF_FUNC_map_push_elem".into(), u64::from(PUSH));
    k.helpers
        .insert("BPF_FUNC_map_pop_elem".into(), u64::from(POP));
    let queue = |name: &str, helpers: &[u32]| MapDef {
        helpers: helpers.to_vec(),
        ..map(name, QUEUE, Some(4096), 0, 4)
    };
    let mut req = object();
    // scx_central: BPF pushes to and pops from its own queue.
    req.maps.push(queue("central_q", &[PUSH, POP]));
    // scx_userland: BPF pushes `enqueued` for user space to read.
    req.maps.push(queue("enqueued", &[PUSH]));
    let a = assess_on(&req, &VariantPolicy::default(), &k);
    assert!(a.depends.is_empty(), "BPF feeds these itself: {a:?}");
    // scx_userland: user space pushes `dispatched`, BPF only pops it.
    req.maps.push(queue("dispatched", &[POP]));
    let a = assess_on(&req, &VariantPolicy::default(), &k);
    assert_eq!(
        a.verdict(),
        Verdict::Loads,
        "the verdict is unchanged: {a:?}"
    );
    let want = Dependency::UserHalf {
        maps: vec!["dispatched".into()],
    };
    assert_eq!(a.depends, vec![want.clone()]);
    assert!(
        want.to_string()
            .contains("runs only with its user-space half")
    );
}

/// Kernel BTF holding `struct sched_ext_ops_cid { int enqueue; }`.
fn cid_ops_btf() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    b.int("int", 4, true);
    let enqueue = b.str("enqueue");
    b.raw("sched_ext_ops_cid", 4, 1, false, 4, &[enqueue, 1, 0]);
    b.build()
}

#[test]
fn struct_ops_maps_of_other_types_are_checked_against_kernel_btf() {
    let mut req = object();
    let ops = &mut req.struct_ops[0];
    ops.name = "cid_ops".into();
    ops.type_name = "sched_ext_ops_cid".into();
    ops.kernel_type = "sched_ext_ops_cid".into();
    ops.members_set = vec!["enqueue".into(), "dispatch".into()];
    let k = kernel();
    let bytes = cid_ops_btf();
    let types = KernelTypes::for_names(Btf::parse(&bytes).unwrap(), &core_roots([&req]));
    let target = with_btf(&k, &types);
    let a = assess(&req, &VariantPolicy::default(), &target);
    assert_eq!(
        a.reasons,
        vec![Reason::StructOpsMemberMissing {
            map: "cid_ops".into(),
            kernel_type: "sched_ext_ops_cid".into(),
            member: "dispatch".into(),
        }]
    );
    // A kernel whose BTF lacks the type.
    let bytes = task_struct_btf();
    let types = KernelTypes::for_names(Btf::parse(&bytes).unwrap(), &core_roots([&req]));
    let target = Target {
        btf: Some(&types),
        ..target
    };
    let want = Reason::StructOpsTypeMissing {
        map: "cid_ops".into(),
        kernel_type: "sched_ext_ops_cid".into(),
    };
    refused_with(&assess(&req, &VariantPolicy::default(), &target), &want);
    assert!(
        want.to_string()
            .contains("needs a kernel with struct sched_ext_ops_cid")
    );
    // Without kernel BTF: noted as not checked, not refused.
    let a = assess_on(&req, &VariantPolicy::default(), &k);
    assert!(
        a.loadable() && a.notes.iter().any(|n| n.contains("not checked")),
        "{a:?}"
    );
}

/// Kernel BTF holding `struct task_struct { int pid; }`.
fn task_struct_btf() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    b.int("int", 4, true);
    let pid = b.str("pid");
    b.raw("task_struct", 4, 1, false, 4, &[pid, 1, 0]);
    b.build()
}

fn core_relo(kind: CoreReloKind, field: &str) -> CoreRequirement {
    CoreRequirement {
        kind,
        program: Some("test_enqueue".into()),
        section: "struct_ops/enqueue".into(),
        insn: 1,
        root_type: "struct task_struct".into(),
        access: "0:0".into(),
        path: format!("task_struct.{field}"),
        fields: vec![field.into()],
    }
}

#[test]
fn core_relocations_resolve_against_kernel_btf_or_are_refused() {
    let bytes = task_struct_btf();
    let btf = Btf::parse(&bytes).unwrap();
    let k = kernel();
    let mut req = object();
    req.core_relocs = vec![
        core_relo(CoreReloKind::FieldByteOffset, "pid"),
        core_relo(CoreReloKind::FieldByteOffset, "scx_weight"),
    ];
    let types = KernelTypes::for_names(btf, &core_roots([&req]));
    let target = with_btf(&k, &types);
    let a = assess(&req, &VariantPolicy::default(), &target);
    assert_eq!(
        a.reasons,
        vec![Reason::CoreUnresolved {
            program: Some("test_enqueue".into()),
            relocation: "FieldByteOffset".into(),
            root_type: "struct task_struct".into(),
            path: "task_struct.scx_weight".into(),
        }]
    );
    // Guarded by an existence probe on the same path: dead code, a note.
    req.core_relocs
        .push(core_relo(CoreReloKind::FieldExists, "scx_weight"));
    let a = assess(&req, &VariantPolicy::default(), &target);
    assert_eq!(a.verdict(), Verdict::Loads, "{a:?}");
    // Without kernel BTF, the relocations are noted as not checked.
    let a = assess_on(&req, &VariantPolicy::default(), &k);
    assert!(a.notes.iter().any(|n| n.contains("not checked")), "{a:?}");
}

/// A variant for [`select`].
struct V(&'static str, Requirements);

impl Candidate for V {
    fn name(&self) -> &str {
        self.0
    }
    fn requirements(&self) -> &Requirements {
        &self.1
    }
    fn policy(&self) -> &VariantPolicy {
        const NONE: &VariantPolicy = &VariantPolicy {
            optional_members: std::collections::BTreeSet::new(),
            optional_flags: BTreeMap::new(),
        };
        NONE
    }
}

#[test]
fn select_chooses_the_first_loadable_variant_and_keeps_the_skipped() {
    let mut modern = object();
    modern
        .kfuncs
        .push(kfunc_extern("scx_bpf_dsq_insert", false, dsq_insert()));
    let variants = [
        V("modern", modern),
        V("portable", object()),
        V("spare", object()),
    ];
    let k = kernel();
    let s = select(&variants, &facts_only(&k));
    assert_eq!(s.chosen().map(|j| j.variant.as_str()), Some("portable"));
    assert_eq!(s.skipped().len(), 1);
    assert_eq!(s.skipped()[0].variant, "modern");
    assert_eq!(s.attempts(false), vec![1, 2]);
    assert_eq!(s.skipped_before(1, false).len(), 1);
    // Forced: every variant is tried in order and none counts as skipped.
    assert_eq!(s.attempts(true), vec![0, 1, 2]);
    assert!(s.skipped_before(1, true).is_empty());
}

#[test]
fn select_with_nothing_loadable_skips_every_variant() {
    let mut k = kernel();
    k.sched_ext = false;
    let variants = [V("a", object()), V("b", object())];
    let s = select(&variants, &facts_only(&k));
    assert!(s.chosen().is_none());
    assert_eq!(s.skipped().len(), 2);
    assert!(s.attempts(false).is_empty());
}

#[test]
fn a_setup_that_sizes_the_map_lifts_only_that_refusal() {
    let k = kernel();
    let mut pair = object();
    pair.maps = vec![map("pair_ctx", BPF_MAP_TYPE_ARRAY, Some(0), 4, 16)];
    let mut two = pair.clone();
    two.maps
        .push(map("other_ctx", BPF_MAP_TYPE_ARRAY, Some(0), 4, 16));
    let variants = [V("two", two), V("pair", pair)];
    let s = select(&variants, &facts_only(&k));
    assert!(s.chosen().is_none(), "both unsized: {s:?}");
    let sized = BTreeSet::from(["pair_ctx"]);
    let s = s.with_sized_maps(&sized);
    // "two" still has an unsized map the setup does not size.
    assert_eq!(s.chosen().map(|j| j.variant.as_str()), Some("pair"));
    assert_eq!(
        s.judged[0].assessment.reasons,
        vec![Reason::MapUnsized {
            map: "other_ctx".into(),
            map_type: BPF_MAP_TYPE_ARRAY,
        }]
    );
    assert!(
        s.judged[1]
            .assessment
            .notes
            .iter()
            .any(|n| n.ends_with("sized before load by the setup: pair_ctx")),
        "{:?}",
        s.judged[1].assessment.notes
    );
    // Nothing to size: the selection is unchanged.
    let again = select(&variants, &facts_only(&k));
    assert_eq!(again.clone().with_sized_maps(&BTreeSet::new()), again);
}

#[test]
fn kick_wait_users_are_refused_where_the_kernel_waits_in_irq() {
    let slot = |referenced| RodataVar {
        name: "__SCX_KICK_WAIT".into(),
        section: ".rodata".into(),
        offset: 0,
        size: 8,
        type_name: "const volatile u64".into(),
        enum_slot: Some("SCX_KICK_WAIT".into()),
        default: None,
        referenced,
    };
    let mut uses = object();
    uses.rodata.push(slot(true));
    let mut defines_only = object();
    defines_only.rodata.push(slot(false));
    let mut old = kernel();
    old.kick_wait_in_irq = true;
    let a = assess_on(&uses, &VariantPolicy::default(), &old);
    refused_with(&a, &Reason::KickWaitInIrq);
    assert!(
        a.reasons[0].to_string().contains("hard IRQ"),
        "{}",
        a.reasons[0]
    );
    // Defined (as the samples' headers define every slot) but never read.
    let a = assess_on(&defines_only, &VariantPolicy::default(), &old);
    assert!(
        !a.reasons.contains(&Reason::KickWaitInIrq),
        "{:?}",
        a.reasons
    );
    // 6.19 on: the wait happens with IRQs on.
    let a = assess_on(&uses, &VariantPolicy::default(), &kernel());
    assert!(
        !a.reasons.contains(&Reason::KickWaitInIrq),
        "{:?}",
        a.reasons
    );
}
