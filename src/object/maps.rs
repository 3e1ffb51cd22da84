//! Maps an object defines: BTF-defined maps in `.maps`, the implicit global
//! data maps (`.bss`, `.data`, `.rodata*`, `.kconfig`) and struct_ops maps,
//! with the sizes the kernel checks at map creation and whether a map's
//! value holds a `struct bpf_timer`.

use serde::{Deserialize, Serialize};

use super::elf::BpfElf;
use super::globals::is_global_data;
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
    /// Key size in bytes (`__type(key, T)` or `__uint(key_size, N)`); `None`
    /// when the definition gives none (libbpf then passes 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u32>,
    /// Value size in bytes, like `key_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_size: Option<u32>,
    /// The value type contains a `struct bpf_timer`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timer: bool,
    /// BPF helper ids the programs call with this map as first argument
    /// (e.g. 87 `map_push_elem`, 88 `map_pop_elem`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub helpers: Vec<u32>,
}

/// The kernel's timer type a map value may embed.
const BPF_TIMER: &str = "bpf_timer";

pub(crate) fn maps(obj: &BpfElf<'_>, btf: &Btf<'_>) -> Vec<MapDef> {
    let mut out = defined_maps(obj, btf);
    let names: Vec<&str> = out.iter().map(|m| m.name.as_str()).collect();
    let mut calls = super::programs::helpers_by_map(obj, &names);
    for m in &mut out {
        m.helpers = calls.remove(&m.name).unwrap_or_default();
    }
    out
}

fn defined_maps(obj: &BpfElf<'_>, btf: &Btf<'_>) -> Vec<MapDef> {
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
                            key_size: Some(4),
                            // The kernel's struct_ops value type decides it.
                            value_size: None,
                            timer: false,
                            helpers: Vec::new(),
                        }),
                );
            }
            _ if is_global_data(name) && obj.section(name).is_some() || name == ".kconfig" => {
                out.push(MapDef {
                    name: name.to_string(),
                    map_type: MAP_TYPE_ARRAY,
                    section: name.to_string(),
                    max_entries: Some(1),
                    key_size: Some(4),
                    // libbpf sizes global data from the ELF section (the
                    // object's DATASEC says 0 until it fixes it up).
                    value_size: None,
                    timer: sec
                        .datasec_vars()
                        .filter_map(|v| btf.get(v.type_id))
                        .any(|v| holds_timer(btf, v.size_or_type, 0)),
                    helpers: Vec::new(),
                });
            }
            _ => {}
        }
    }
    out
}

fn btf_defined_maps<'a>(btf: &'a Btf<'_>, sec: &Type<'a>) -> impl Iterator<Item = MapDef> + 'a {
    sec.datasec_vars().filter_map(move |v| {
        let var = btf.get(v.type_id)?;
        let def = btf.resolve(var.size_or_type).ok()?;
        let value = type_member(btf, &def, "value");
        Some(MapDef {
            name: btf.name(&var).to_string(),
            map_type: uint_member(btf, &def, "type")?,
            section: ".maps".to_string(),
            max_entries: uint_member(btf, &def, "max_entries"),
            // libbpf passes 0 for a size the definition does not give.
            key_size: sized_member(btf, &def, "key").or(Some(0)),
            value_size: sized_member(btf, &def, "value").or(Some(0)),
            timer: value.is_some_and(|id| holds_timer(btf, id, 0)),
            helpers: Vec::new(),
        })
    })
}

/// The type a `__type(name, T)` member points to: `T *name`.
fn type_member(btf: &Btf<'_>, def: &Type<'_>, name: &str) -> Option<u32> {
    let m = def.members().find(|m| btf.str_is(m.name_off, name))?;
    let ptr = btf
        .resolve(m.type_id)
        .ok()
        .filter(|t| t.kind == Kind::Ptr)?;
    Some(ptr.size_or_type)
}

/// The size of `__type(name, T)`, else the value of `__uint(name_size, N)`.
fn sized_member(btf: &Btf<'_>, def: &Type<'_>, name: &str) -> Option<u32> {
    type_member(btf, def, name)
        .and_then(|id| btf.size_of(id))
        .or_else(|| uint_member(btf, def, &format!("{name}_size")))
}

/// Whether type `id` is or contains (through members and array elements) a
/// `struct bpf_timer`; `depth` bounds the walk on malformed BTF.
fn holds_timer(btf: &Btf<'_>, id: u32, depth: usize) -> bool {
    if depth > crate::btf::MAX_CHAIN {
        return false;
    }
    let Ok(t) = btf.resolve(id) else {
        return false;
    };
    match t.kind {
        Kind::Struct if btf.name(&t) == BPF_TIMER => true,
        Kind::Struct | Kind::Union => t.members().any(|m| holds_timer(btf, m.type_id, depth + 1)),
        Kind::Array => t
            .array()
            .is_some_and(|(elem, _, _)| holds_timer(btf, elem, depth + 1)),
        _ => false,
    }
}

/// The value of a `__uint(name, value)` member: `int (*name)[value]`.
fn uint_member(btf: &Btf<'_>, def: &Type<'_>, name: &str) -> Option<u32> {
    let arr = btf.resolve(type_member(btf, def, name)?).ok()?;
    arr.array().map(|(_, _, n)| n)
}
