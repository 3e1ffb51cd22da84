//! What the kernel refuses beyond missing names: maps it will not create
//! (sizes its `map_alloc_check` rejects), `bpf_timer` on PREEMPT_RT kernels,
//! and arena code built without address-space casts.
//!
//! [`user_half`] tells "loads" from "runs": an object whose programs
//! consume what only user space produces needs its user-space half.
//!
//! Each rule is one the kernel applies to every object the same way, so it
//! can be judged from the object and the kernel's facts alone. Verifier
//! refusals that depend on the program's control flow are out of scope.

use super::{Assessment, Dependency, Reason};
use crate::kernel::KernelFacts;
use crate::object::{MapDef, Requirements, clang_major};

/// `BPF_MAP_TYPE_*` values the rules below name.
mod map_type {
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const LRU_HASH: u32 = 9;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const ARRAY_OF_MAPS: u32 = 12;
    pub const HASH_OF_MAPS: u32 = 13;
    pub const CGROUP_STORAGE: u32 = 19;
    pub const PERCPU_CGROUP_STORAGE: u32 = 21;
    pub const SK_STORAGE: u32 = 24;
    pub const STRUCT_OPS: u32 = 26;
    pub const INODE_STORAGE: u32 = 28;
    pub const TASK_STORAGE: u32 = 29;
    pub const QUEUE: u32 = 22;
    pub const STACK: u32 = 23;
    pub const CGRP_STORAGE: u32 = 32;
    pub const USER_RINGBUF: u32 = 31;
}

/// Map types whose `max_entries` must be 0 (the kernel sizes them itself:
/// cgroup storage and the local storages).
const UNSIZED: [u32; 6] = [
    map_type::CGROUP_STORAGE,
    map_type::PERCPU_CGROUP_STORAGE,
    map_type::SK_STORAGE,
    map_type::INODE_STORAGE,
    map_type::TASK_STORAGE,
    map_type::CGRP_STORAGE,
];
/// Map types a zero `max_entries` is fine for besides [`UNSIZED`]: libbpf
/// gives a perf event array one slot per CPU, and a struct_ops map one entry.
const LIBBPF_SIZED: [u32; 2] = [map_type::PERF_EVENT_ARRAY, map_type::STRUCT_OPS];
/// Hash maps: `htab_map_alloc_check` refuses a zero key or value size.
const HASHES: [u32; 4] = [
    map_type::HASH,
    map_type::PERCPU_HASH,
    map_type::LRU_HASH,
    map_type::LRU_PERCPU_HASH,
];
/// Arrays: `array_map_alloc_check` wants a 4-byte key and a value.
const ARRAYS: [u32; 2] = [map_type::ARRAY, map_type::PERCPU_ARRAY];
/// Maps of maps: a key is needed (the value is the inner map's fd, set by libbpf).
const MAPS_OF_MAPS: [u32; 2] = [map_type::ARRAY_OF_MAPS, map_type::HASH_OF_MAPS];

/// The helpers whose `struct bpf_timer *` argument the verifier refuses on
/// PREEMPT_RT (`process_timer_func`), by the kernel's `enum bpf_func_id` name.
const TIMER_HELPER_PREFIX: &str = "BPF_FUNC_timer_";

pub(super) fn check(req: &Requirements, facts: &KernelFacts, a: &mut Assessment) {
    for m in &req.maps {
        check_map(m, a);
    }
    if facts.preempt_rt {
        check_timers(req, facts, a);
    }
    if facts.kick_wait_in_irq && uses_enum(req, "SCX_KICK_WAIT") {
        a.refuse(Reason::KickWaitInIrq);
    }
    check_arena(req, a);
    check_arch(req, facts, a);
}

/// Whether the code refers to the `.rodata` slot of `enumerator`.
fn uses_enum(req: &Requirements, enumerator: &str) -> bool {
    req.enum_slots()
        .any(|v| v.referenced && v.enum_slot.as_deref() == Some(enumerator))
}

/// An object tied to one architecture is refused on a kernel of another.
fn check_arch(req: &Requirements, facts: &KernelFacts, a: &mut Assessment) {
    let (Some(used), Some(kernel_arch)) = (&req.arch, facts.arch) else {
        return;
    };
    if used.arch != kernel_arch {
        a.refuse(Reason::WrongArchitecture {
            object_arch: used.arch,
            kernel_arch,
            evidence: used.evidence.clone(),
        });
    }
}

/// The `max_entries` libbpf passes: what the definition says, 0 when a
/// BTF-defined map gives none.
fn max_entries(m: &MapDef) -> Option<u32> {
    match m.max_entries {
        Some(n) => Some(n),
        None if m.section == ".maps" => Some(0),
        None => None,
    }
}

fn check_map(m: &MapDef, a: &mut Assessment) {
    let t = m.map_type;
    match max_entries(m) {
        Some(0) if !UNSIZED.contains(&t) && !LIBBPF_SIZED.contains(&t) => {
            a.refuse(Reason::MapUnsized {
                map: m.name.clone(),
                map_type: t,
            });
        }
        Some(n) if n != 0 && UNSIZED.contains(&t) => a.refuse(Reason::MapShape {
            map: m.name.clone(),
            field: "max_entries".into(),
            value: n,
            need: "0 (the kernel sizes this map type itself)".into(),
        }),
        _ => {}
    }
    let key_ok = if ARRAYS.contains(&t) {
        Some((m.key_size.is_none_or(|k| k == 4), "4 (a u32 index)"))
    } else if HASHES.contains(&t) || MAPS_OF_MAPS.contains(&t) {
        Some((m.key_size.is_none_or(|k| k > 0), "more than 0"))
    } else {
        None
    };
    if let Some((false, need)) = key_ok {
        a.refuse(shape(m, "key_size", m.key_size.unwrap_or(0), need));
    }
    let needs_value = ARRAYS.contains(&t) || HASHES.contains(&t);
    if needs_value && m.value_size == Some(0) {
        a.refuse(shape(m, "value_size", 0, "more than 0"));
    }
}

fn shape(m: &MapDef, field: &str, value: u32, need: &str) -> Reason {
    Reason::MapShape {
        map: m.name.clone(),
        field: field.into(),
        value,
        need: need.into(),
    }
}

fn check_timers(req: &Requirements, facts: &KernelFacts, a: &mut Assessment) {
    let calls_timer = facts
        .helpers
        .iter()
        .filter(|(name, _)| name.starts_with(TIMER_HELPER_PREFIX))
        .any(|(_, id)| req.helpers.iter().any(|&h| u64::from(h) == *id));
    if calls_timer {
        a.refuse(Reason::BpfTimerOnRt {
            maps: req
                .maps
                .iter()
                .filter(|m| m.timer)
                .map(|m| m.name.clone())
                .collect(),
        });
    }
}

/// First clang that emits address-space casts for `__arena` pointers.
const CLANG_WITH_ARENA_CASTS: u32 = 19;

fn check_arena(req: &Requirements, a: &mut Assessment) {
    let old_clang = req
        .compiler
        .as_deref()
        .and_then(clang_major)
        .is_some_and(|v| v < CLANG_WITH_ARENA_CASTS);
    if req.arena.used() && (req.arena.casts == 0 || old_clang) {
        a.refuse(Reason::ArenaWithoutCasts {
            maps: req.arena.maps.clone(),
            globals: req.arena.globals.clone(),
            compiler: req.compiler.clone().filter(|_| old_clang),
        });
    }
}

/// Maps user space fills and BPF consumes: a queue or stack the programs
/// pop from (`bpf_map_pop_elem`) but never push to, a user ring buffer they
/// drain (`bpf_user_ringbuf_drain`): (map type, consuming helper, the
/// helper that would mean BPF feeds it itself).
const USER_FED: [(u32, &str, Option<&str>); 3] = [
    (
        map_type::QUEUE,
        "BPF_FUNC_map_pop_elem",
        Some("BPF_FUNC_map_push_elem"),
    ),
    (
        map_type::STACK,
        "BPF_FUNC_map_pop_elem",
        Some("BPF_FUNC_map_push_elem"),
    ),
    (map_type::USER_RINGBUF, "BPF_FUNC_user_ringbuf_drain", None),
];

/// Notes a [`Dependency::UserHalf`] for the maps the programs consume but
/// only user space can fill ([`USER_FED`]; which map a call reads is taken
/// from the map address loaded into `r1` before it, see
/// `MapDef::helpers`). scx_userland pops `dispatched` (filled by its user
/// half) and pushes `enqueued`; scx_central pushes and pops `central_q`
/// itself and needs nothing.
pub(super) fn user_half(req: &Requirements, facts: &KernelFacts, a: &mut Assessment) {
    let calls = |m: &MapDef, helper: &str| {
        facts
            .helpers
            .get(helper)
            .is_some_and(|id| m.helpers.iter().any(|&h| u64::from(h) == *id))
    };
    let maps: Vec<String> = req
        .maps
        .iter()
        .filter(|m| {
            USER_FED.iter().any(|(t, consume, feed)| {
                m.map_type == *t && calls(m, consume) && !feed.is_some_and(|f| calls(m, f))
            })
        })
        .map(|m| m.name.clone())
        .collect();
    if !maps.is_empty() {
        a.depends.push(Dependency::UserHalf { maps });
    }
}
