//! struct_ops maps (`SEC(".struct_ops")` / `SEC(".struct_ops.link")`): which
//! members the object sets, which program implements each callback, and the
//! data members (`flags`, `name`, ...) it initialises.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::elf::{BpfElf, Section};
use super::externs::essential_name;
use super::{c_string, read_le};
use crate::btf::{Btf, Kind, Member, VarSecInfo};

/// One struct_ops map of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructOpsMap {
    /// The map (variable) name.
    pub name: String,
    /// The struct type as the object names it, e.g. `sched_ext_ops___v1`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The kernel type it maps to (flavor stripped), e.g. `sched_ext_ops`.
    pub kernel_type: String,
    /// `.struct_ops.link` maps attach as a bpf_link.
    pub link: bool,
    /// Every member the object sets (non-zero data or a callback), in order.
    pub members_set: Vec<String>,
    /// Callback member → program name.
    pub callbacks: BTreeMap<String, String>,
    /// The `flags` member, when the type has one.
    pub flags: Option<u64>,
    /// The `name` member (the ops name the kernel reports), when present.
    pub ops_name: Option<String>,
    /// Byte size the object's type declares.
    pub size: u32,
    /// Every member of the object's type with its offset and size, so the
    /// loader can edit the map's data (flags, name, hotplug_seq, callbacks).
    #[serde(default)]
    pub layout: Vec<MemberSlot>,
}

/// Where a member lives in the object's struct_ops data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSlot {
    pub name: String,
    pub offset: u32,
    pub size: u32,
}

impl StructOpsMap {
    /// The slot of member `name`.
    #[must_use]
    pub fn slot(&self, name: &str) -> Option<&MemberSlot> {
        self.layout.iter().find(|m| m.name == name)
    }
}

pub(crate) fn struct_ops_maps(obj: &BpfElf<'_>, btf: &Btf<'_>) -> Vec<StructOpsMap> {
    let mut out = Vec::new();
    for sec in btf.types().filter(|t| t.kind == Kind::Datasec) {
        let sec_name = btf.name(&sec);
        if sec_name != ".struct_ops" && sec_name != ".struct_ops.link" {
            continue;
        }
        let Some(elf_sec) = obj.section(sec_name) else {
            continue;
        };
        out.extend(sec.datasec_vars().filter_map(|mut v| {
            let name = btf.get(v.type_id).map(|t| btf.name(&t)).unwrap_or_default();
            v.offset = obj.var_offset(sec_name, name, v.offset);
            one_map(btf, elf_sec, &v, sec_name == ".struct_ops.link")
        }));
    }
    out
}

fn one_map(btf: &Btf<'_>, sec: &Section<'_>, var: &VarSecInfo, link: bool) -> Option<StructOpsMap> {
    let v = btf.get(var.type_id)?;
    let st = btf.resolve(v.size_or_type).ok()?;
    if st.kind != Kind::Struct {
        return None;
    }
    let data = sec
        .data
        .get(var.offset as usize..(var.offset + var.size) as usize)
        .unwrap_or_default();
    let type_name = btf.name(&st).to_string();
    let mut map = StructOpsMap {
        name: btf.name(&v).to_string(),
        kernel_type: essential_name(&type_name).to_string(),
        type_name,
        link,
        members_set: Vec::new(),
        callbacks: BTreeMap::new(),
        flags: None,
        ops_name: None,
        size: st.size_or_type,
        layout: Vec::new(),
    };
    for m in st.members() {
        record_member(btf, &m, sec, var.offset, data, &mut map);
    }
    Some(map)
}

fn record_member(
    btf: &Btf<'_>,
    m: &Member,
    sec: &Section<'_>,
    base: u32,
    data: &[u8],
    map: &mut StructOpsMap,
) {
    let name = btf.str_at(m.name_off).to_string();
    let off = m.bit_offset / 8;
    let size = btf.size_of(m.type_id).unwrap_or(0);
    let bytes = data
        .get(off as usize..(off + size) as usize)
        .unwrap_or_default();
    map.layout.push(MemberSlot {
        name: name.clone(),
        offset: off,
        size,
    });
    let reloc = sec
        .relocs
        .iter()
        .find(|r| r.offset == u64::from(base + off));
    match name.as_str() {
        "flags" => map.flags = read_le(bytes),
        "name" if is_char_array(btf, m.type_id) && bytes.iter().any(|&b| b != 0) => {
            map.ops_name = Some(c_string(bytes));
        }
        _ => {}
    }
    if let Some(r) = reloc {
        map.callbacks.insert(name.clone(), r.symbol.clone());
    }
    if reloc.is_some() || bytes.iter().any(|&b| b != 0) {
        map.members_set.push(name);
    }
}

fn is_char_array(btf: &Btf<'_>, id: u32) -> bool {
    btf.resolve(id).is_ok_and(|t| t.kind == Kind::Array)
}
