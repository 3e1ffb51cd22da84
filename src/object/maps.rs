//! Maps an object defines: BTF-defined maps in `.maps`, the implicit global
//! data maps (`.bss`, `.data`, `.rodata*`, `.kconfig`) and struct_ops maps.

use serde::{Deserialize, Serialize};

use super::elf::BpfElf;
use crate::btf::{Btf, Kind, Type};

/// `BPF_MAP_TYPE_ARRAY`, used for global data sections.
pub const MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_STRUCT_OPS`.
pub const MAP_TYPE_STRUCT_OPS: u32 = 26;

/// One map of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapDef {
    pub name: String,
    /// The uapi `enum bpf_map_type` value.
    pub map_type: u32,
    /// The ELF section that defines it.
    pub section: String,
    pub max_entries: Option<u32>,
}

pub(crate) fn maps(obj: &BpfElf<'_>, btf: &Btf<'_>) -> Vec<MapDef> {
    let mut out = Vec::new();
    for sec in btf.types().filter(|t| t.kind == Kind::Datasec) {
        let name = btf.name(&sec);
        match name {
            ".maps" => out.extend(btf_defined_maps(btf, &sec)),
            ".struct_ops" | ".struct_ops.link" => {
                out.extend(
                    sec.datasec_vars()
                        .filter_map(|v| btf.get(v.type_id))
                        .map(|v| MapDef {
                            name: btf.name(&v).to_string(),
                            map_type: MAP_TYPE_STRUCT_OPS,
                            section: name.to_string(),
                            max_entries: Some(1),
                        }),
                );
            }
            _ if is_global_data(name) && obj.section(name).is_some() || name == ".kconfig" => {
                out.push(MapDef {
                    name: name.to_string(),
                    map_type: MAP_TYPE_ARRAY,
                    section: name.to_string(),
                    max_entries: Some(1),
                });
            }
            _ => {}
        }
    }
    out
}

fn is_global_data(section: &str) -> bool {
    [".bss", ".data", ".rodata"]
        .iter()
        .any(|p| section == *p || section.starts_with(&format!("{p}.")))
}

fn btf_defined_maps<'a>(btf: &'a Btf<'_>, sec: &Type<'a>) -> impl Iterator<Item = MapDef> + 'a {
    sec.datasec_vars().filter_map(move |v| {
        let var = btf.get(v.type_id)?;
        let def = btf.resolve(var.size_or_type).ok()?;
        Some(MapDef {
            name: btf.name(&var).to_string(),
            map_type: uint_member(btf, &def, "type")?,
            section: ".maps".to_string(),
            max_entries: uint_member(btf, &def, "max_entries"),
        })
    })
}

/// The value of a `__uint(name, value)` member: `int (*name)[value]`.
fn uint_member(btf: &Btf<'_>, def: &Type<'_>, name: &str) -> Option<u32> {
    let m = def.members().find(|m| btf.str_is(m.name_off, name))?;
    let ptr = btf
        .resolve(m.type_id)
        .ok()
        .filter(|t| t.kind == Kind::Ptr)?;
    let arr = btf.resolve(ptr.size_or_type).ok()?;
    arr.array().map(|(_, _, n)| n)
}
