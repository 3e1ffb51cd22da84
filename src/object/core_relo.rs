//! CO-RE relocations as requirements: each `.BTF.ext` record rendered with
//! the root type's name, the field path or enumerator it names, and the
//! program whose instruction it patches.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::programs::{Program, owner};
use crate::btf::{Btf, BtfExt, CoreReloKind, Kind, MAX_CHAIN, TypeFormatter};

/// One CO-RE relocation the kernel's BTF must satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreRequirement {
    pub kind: CoreReloKind,
    /// The program whose instruction is patched (None when none covers it).
    pub program: Option<String>,
    pub section: String,
    pub insn: u32,
    /// The root type in C, e.g. `struct task_struct`.
    pub root_type: String,
    /// The raw access specifier, e.g. `0:52:3`.
    pub access: String,
    /// The access rendered with names, e.g. `task_struct.scx.dsq_vtime`,
    /// or the enumerator name for enum relocations.
    pub path: String,
    /// The field names along the path (empty for type and enum relocations).
    pub fields: Vec<String>,
}

pub(crate) fn requirements(
    btf: &Btf<'_>,
    ext: &BtfExt,
    programs: &[Program],
) -> Vec<CoreRequirement> {
    let fmt = TypeFormatter::new(btf);
    ext.core_relos
        .iter()
        .map(|r| {
            let (path, fields) = render_access(btf, r.type_id, &r.access, r.kind);
            CoreRequirement {
                kind: r.kind,
                program: owner(programs, &r.section, r.insn).map(|p| p.name.clone()),
                section: r.section.clone(),
                insn: r.insn,
                root_type: fmt.type_name(r.type_id),
                access: r.access.clone(),
                path,
                fields,
            }
        })
        .collect()
}

fn is_field(kind: CoreReloKind) -> bool {
    matches!(
        kind,
        CoreReloKind::FieldByteOffset
            | CoreReloKind::FieldByteSize
            | CoreReloKind::FieldExists
            | CoreReloKind::FieldSigned
            | CoreReloKind::FieldLshiftU64
            | CoreReloKind::FieldRshiftU64
    )
}

/// Renders an access specifier against the object's own BTF.
fn render_access(
    btf: &Btf<'_>,
    root: u32,
    access: &str,
    kind: CoreReloKind,
) -> (String, Vec<String>) {
    let indexes: Vec<u32> = access.split(':').filter_map(|s| s.parse().ok()).collect();
    let root_name = btf
        .resolve(root)
        .map(|t| btf.name(&t).to_string())
        .unwrap_or_default();
    if matches!(
        kind,
        CoreReloKind::EnumvalExists | CoreReloKind::EnumvalValue
    ) {
        let name = btf
            .resolve(root)
            .ok()
            .and_then(|t| t.enumerators().nth(*indexes.first()? as usize))
            .map_or_else(
                || format!("{root_name}#{access}"),
                |e| btf.str_at(e.name_off).to_string(),
            );
        return (name, Vec::new());
    }
    if !is_field(kind) {
        return (root_name, Vec::new());
    }
    field_path(btf, root, &indexes, root_name)
}

fn field_path(
    btf: &Btf<'_>,
    root: u32,
    indexes: &[u32],
    root_name: String,
) -> (String, Vec<String>) {
    let mut path = root_name;
    let mut fields = Vec::new();
    let mut cur = root;
    if let Some(&first) = indexes.first().filter(|&&i| i != 0) {
        let _ = write!(path, "[{first}]");
    }
    for &idx in indexes.iter().skip(1).take(MAX_CHAIN) {
        let Ok(ty) = btf.resolve(cur) else { break };
        match ty.kind {
            Kind::Struct | Kind::Union => {
                let Some(m) = ty.members().nth(idx as usize) else {
                    break;
                };
                let name = btf.str_at(m.name_off);
                if !name.is_empty() {
                    path.push('.');
                    path.push_str(name);
                    fields.push(name.to_string());
                }
                cur = m.type_id;
            }
            Kind::Array => {
                let _ = write!(path, "[{idx}]");
                cur = ty.array().map_or(0, |(elem, _, _)| elem);
            }
            _ => break,
        }
    }
    (path, fields)
}
