//! CO-RE relocations against a kernel's BTF: can each one resolve, and if
//! not, is it guarded by an existence probe so the verifier sees dead code?
//!
//! Resolution follows libbpf's rules closely enough for a verdict: the root
//! type is found by name (flavor suffix stripped) and kind, each field by
//! name, looking through anonymous structs and unions and array elements.

use std::collections::HashSet;

use super::{Assessment, Reason};
use crate::btf::{Btf, CoreReloKind, Kind, MAX_CHAIN, Type};
use crate::kernel::KernelTypes;
use crate::kernel::facts::SCHED_EXT_OPS;
use crate::object::{CoreRequirement, Requirements, essential_name};

/// The root type names `reqs`' CO-RE relocations start from, and the
/// struct_ops types other than `sched_ext_ops` they define maps of: what a
/// [`KernelTypes`] must index to check them.
#[must_use]
pub fn core_roots<'r>(reqs: impl IntoIterator<Item = &'r Requirements>) -> HashSet<&'r str> {
    reqs.into_iter()
        .flat_map(|r| {
            let relocs = r.core_relocs.iter().map(|c| root_name(&c.root_type));
            let ops = r
                .struct_ops
                .iter()
                .filter(|m| m.kernel_type != SCHED_EXT_OPS)
                .map(|m| m.kernel_type.as_str());
            relocs.chain(ops)
        })
        .collect()
}

pub(super) fn check(req: &Requirements, kernel: &KernelTypes<'_>, a: &mut Assessment) {
    for r in &req.core_relocs {
        if r.kind.is_existence_probe() || r.kind == CoreReloKind::TypeIdLocal || resolves(r, kernel)
        {
            continue;
        }
        if is_guarded(r, &req.core_relocs) {
            a.note(format!(
                "CO-RE {:?} of {} cannot resolve; guarded by an existence check in {}",
                r.kind,
                r.path,
                r.program.as_deref().unwrap_or("?")
            ));
            continue;
        }
        a.refuse(Reason::CoreUnresolved {
            program: r.program.clone(),
            relocation: format!("{:?}", r.kind),
            root_type: r.root_type.clone(),
            path: r.path.clone(),
        });
    }
}

/// An existence probe on the same root and path in the same program.
fn is_guarded(r: &CoreRequirement, all: &[CoreRequirement]) -> bool {
    all.iter().any(|g| {
        g.kind.is_existence_probe()
            && g.program == r.program
            && g.root_type == r.root_type
            && (g.path == r.path || r.path.starts_with(&format!("{}.", g.path)))
    })
}

fn root_kind_matches(local_root: &str, t: &Type<'_>) -> bool {
    match local_root.split_whitespace().next() {
        Some("struct") => matches!(t.kind, Kind::Struct),
        Some("union") => matches!(t.kind, Kind::Union),
        Some("enum") => matches!(t.kind, Kind::Enum | Kind::Enum64),
        _ => !matches!(
            t.kind,
            Kind::Func | Kind::Var | Kind::DeclTag | Kind::Datasec
        ),
    }
}

/// The root type's bare name: `struct task_struct___old` → `task_struct`.
fn root_name(root_type: &str) -> &str {
    let bare = root_type.rsplit(' ').next().unwrap_or(root_type);
    essential_name(bare)
}

fn resolves(r: &CoreRequirement, kernel: &KernelTypes<'_>) -> bool {
    let name = root_name(&r.root_type);
    let mut roots = kernel
        .named(name)
        .filter(|t| root_kind_matches(&r.root_type, t));
    match r.kind {
        CoreReloKind::EnumvalValue => {
            let enumerator = r.path.as_str();
            roots.any(|t| {
                t.enumerators()
                    .any(|e| kernel.btf().str_at(e.name_off) == enumerator)
            })
        }
        CoreReloKind::TypeIdTarget | CoreReloKind::TypeSize => roots.next().is_some(),
        _ => roots.any(|t| field_path_exists(kernel.btf(), t.id, &r.fields)),
    }
}

fn field_path_exists(btf: &Btf<'_>, root: u32, fields: &[String]) -> bool {
    let mut cur = root;
    for field in fields {
        match find_member(btf, cur, field, 0) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    true
}

/// The type id of member `name` of `id`, looking through arrays and
/// anonymous members.
fn find_member(btf: &Btf<'_>, id: u32, name: &str, depth: usize) -> Option<u32> {
    if depth > MAX_CHAIN {
        return None;
    }
    let mut ty = btf.resolve(id).ok()?;
    let mut hops = 0;
    while ty.kind == Kind::Array && hops < MAX_CHAIN {
        ty = btf.resolve(ty.array()?.0).ok()?;
        hops += 1;
    }
    if !matches!(ty.kind, Kind::Struct | Kind::Union) {
        return None;
    }
    for m in ty.members() {
        let mname = btf.str_at(m.name_off);
        if mname == name {
            return Some(m.type_id);
        }
        if mname.is_empty() {
            if let Some(found) = find_member(btf, m.type_id, name, depth + 1) {
                return Some(found);
            }
        }
    }
    None
}
