//! Matching: will this object load on that kernel, and with which shims?
//!
//! [`assess`] is a pure function of an object's [`Requirements`], its
//! [`VariantPolicy`] (what its manifest marks optional) and a [`Target`]
//! kernel ([`KernelFacts`], optionally its BTF for CO-RE, optionally its
//! Kconfig). It models what libbpf and the kernel do at open/load/attach
//! time (SCHED_EXT_COMPAT.md §3–4). `check` runs it offline over a matrix;
//! `run` runs it before touching the kernel and applies the [`ShimPlan`].
//! [`select`] walks a scheduler's variants in preference order with it: the
//! one variant walk `check`, `run` and the library share.

mod core_check;
mod kconfig;
mod kernel_rules;
mod select;
mod shape;
mod struct_ops;
mod verdict;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use crate::kernel::Target;
use crate::kernel::facts::SCHED_EXT_OPS;
use crate::kernel::{BtfDefect, KernelFacts};
use crate::object::{KfuncExtern, Requirements, StructOpsMap};
pub use core_check::core_roots;
pub use kconfig::LIBBPF_VIRTUAL_KCONFIG;
pub use select::{Candidate, Judged, Selection, select};
pub use shape::compatible;
pub use verdict::{Assessment, Dependency, Reason, Shim, ShimPlan, Verdict};

/// What a variant's manifest allows the loader to drop on older kernels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantPolicy {
    /// struct_ops callbacks the loader may set to NULL when the kernel lacks them.
    #[serde(default)]
    pub optional_members: BTreeSet<String>,
    /// `ops.flags` bits (name → value) the loader may clear when the kernel
    /// does not know them.
    #[serde(default)]
    pub optional_flags: BTreeMap<String, u64>,
}

/// Libbpf's verdict on `req` for `target`, with the shims the loader applies.
#[must_use]
pub fn assess(req: &Requirements, policy: &VariantPolicy, target: &Target<'_>) -> Assessment {
    let mut a = Assessment::default();
    let facts = target.facts;
    if req
        .struct_ops
        .iter()
        .any(|m| m.kernel_type == SCHED_EXT_OPS)
        && !facts.sched_ext
    {
        a.refuse(Reason::NoSchedExt);
        return a;
    }
    for map in &req.struct_ops {
        if map.kernel_type == SCHED_EXT_OPS {
            check_sched_ext_ops(map, policy, facts, &mut a);
        } else {
            struct_ops::check(map, target.btf, &mut a);
        }
    }
    let guarded = guarded_programs(req);
    for k in &req.kfuncs {
        check_kfunc(k, facts, &guarded, &mut a);
    }
    fill_enum_slots(req, facts, &mut a);
    kconfig::check(req, target.kconfig, &mut a);
    check_types(req, facts, &mut a);
    kernel_rules::check(req, facts, &mut a);
    kernel_rules::user_half(req, facts, &mut a);
    if let Some(btf) = target.btf {
        core_check::check(req, btf, &mut a);
    } else if !req.core_relocs.is_empty() {
        a.note(format!(
            "{} CO-RE relocations not checked (no kernel BTF given)",
            req.core_relocs.len()
        ));
    }
    a
}

fn check_sched_ext_ops(
    map: &StructOpsMap,
    policy: &VariantPolicy,
    facts: &KernelFacts,
    a: &mut Assessment,
) {
    if facts.ops_member("dump").is_none() {
        a.refuse(Reason::SchedExtTooOld);
    }
    for member in &map.members_set {
        if facts.ops_member(member).is_some() {
            continue;
        }
        let callback = map.callbacks.contains_key(member);
        if callback && policy.optional_members.contains(member) {
            a.shim(Shim::NullCallback {
                map: map.name.clone(),
                member: member.clone(),
            });
        } else {
            a.refuse(Reason::MemberMissing {
                map: map.name.clone(),
                member: member.clone(),
                optional_allowed: callback,
            });
        }
    }
    check_flags(map, policy, facts, a);
}

/// Mask of the `SCX_OPS_*` flag bits the kernel accepts.
fn known_flags(facts: &KernelFacts) -> u64 {
    facts.ops_flags.values().fold(0, |acc, v| acc | v)
}

fn check_flags(
    map: &StructOpsMap,
    policy: &VariantPolicy,
    facts: &KernelFacts,
    a: &mut Assessment,
) {
    let flags = map.flags.unwrap_or(0);
    let unknown = flags & !known_flags(facts);
    if unknown == 0 {
        return;
    }
    let optional = policy.optional_flags.values().fold(0, |acc, v| acc | v);
    if unknown & !optional == 0 {
        let names = policy
            .optional_flags
            .iter()
            .filter(|(_, v)| *v & unknown != 0)
            .map(|(n, _)| n.clone())
            .collect();
        a.shim(Shim::MaskFlags {
            map: map.name.clone(),
            bits: unknown,
            names,
            flags_after: flags & !unknown,
        });
    } else {
        a.refuse(Reason::UnknownFlags {
            map: map.name.clone(),
            bits: unknown & !optional,
            flags,
        });
    }
}

/// Programs that test kfunc existence (`bpf_ksym_exists`): their weak calls
/// are taken as guarded, since the verifier prunes the dead branches.
fn guarded_programs(req: &Requirements) -> BTreeSet<&str> {
    req.kfuncs
        .iter()
        .flat_map(|k| k.tested_in.iter().map(String::as_str))
        .collect()
}

fn check_kfunc(k: &KfuncExtern, facts: &KernelFacts, guarded: &BTreeSet<&str>, a: &mut Assessment) {
    let defect = facts.defects.iter().find(|d| match d {
        BtfDefect::ImplicitAuxArgument { kfunc, .. } => *kfunc == k.kernel_name,
    });
    let resolution = match facts.kfunc(&k.kernel_name) {
        None => Err(None),
        Some(kern) if compatible(&k.signature, &kern.signature) => Ok(()),
        Some(kern) => Err(Some(kern.proto.clone())),
    };
    let Err(kernel_proto) = resolution else {
        return;
    };
    if k.weak {
        let unguarded: Vec<String> = k
            .called_from
            .iter()
            .filter(|p| !guarded.contains(p.as_str()))
            .cloned()
            .collect();
        if unguarded.is_empty() {
            a.note(format!(
                "optional kfunc {} absent: its guarded calls are dead code",
                k.kernel_name
            ));
            return;
        }
        a.refuse(Reason::WeakKfuncCalledUnguarded {
            name: k.kernel_name.clone(),
            programs: unguarded,
        });
        return;
    }
    let reason = match (kernel_proto, defect) {
        (Some(_), Some(BtfDefect::ImplicitAuxArgument { proto, .. })) => Reason::BtfDefect {
            kfunc: k.kernel_name.clone(),
            kernel_proto: proto.clone(),
        },
        (Some(kernel_proto), None) => Reason::KfuncIncompatible {
            name: k.kernel_name.clone(),
            object_proto: k.proto.clone(),
            kernel_proto,
        },
        (None, _) => Reason::KfuncMissing {
            name: k.kernel_name.clone(),
            object_proto: k.proto.clone(),
            programs: k.called_from.clone(),
        },
    };
    a.refuse(reason);
}

fn fill_enum_slots(req: &Requirements, facts: &KernelFacts, a: &mut Assessment) {
    for slot in req.enum_slots() {
        let Some(enumerator) = &slot.enum_slot else {
            continue;
        };
        let value = facts
            .enum_value(enumerator)
            .map(crate::kernel::EnumValue::bits);
        a.shim(Shim::FillEnumSlot {
            slot: slot.name.clone(),
            enumerator: enumerator.clone(),
            value: value.unwrap_or(0),
            present: value.is_some(),
        });
    }
}

fn check_types(req: &Requirements, facts: &KernelFacts, a: &mut Assessment) {
    let map_types: BTreeSet<u64> = facts.map_types.values().copied().collect();
    for m in &req.maps {
        if !map_types.contains(&u64::from(m.map_type)) {
            a.refuse(Reason::MapTypeMissing {
                map: m.name.clone(),
                map_type: m.map_type,
            });
        }
    }
    for p in &req.programs {
        let Some(t) = &p.prog_type else { continue };
        if !facts.prog_types.contains_key(t) {
            a.refuse(Reason::ProgTypeMissing {
                program: p.name.clone(),
                prog_type: t.clone(),
            });
        }
    }
    let helpers: BTreeSet<u64> = facts.helpers.values().copied().collect();
    for &h in &req.helpers {
        if !helpers.contains(&u64::from(h)) {
            a.refuse(Reason::HelperMissing { id: h });
        }
    }
}

#[cfg(test)]
mod tests;
