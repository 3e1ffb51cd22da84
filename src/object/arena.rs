//! BPF arena use: `BPF_MAP_TYPE_ARENA` maps, `__arena` globals (section
//! `.addr_space.1`) and the address-space cast instructions that let the
//! verifier track arena pointers.
//!
//! Code that dereferences arena memory needs `BPF_ADDR_SPACE_CAST`
//! instructions (`BPF_ALU64 | BPF_MOV | BPF_X` with offset 1, imm 1 or
//! 1 << 16; Documentation/bpf/standardization/instruction-set.rst). clang
//! emits them from version 19 on; an older compiler leaves arena pointers as
//! plain scalars and the verifier refuses the first dereference ("R8 invalid
//! mem access 'scalar'").

use serde::{Deserialize, Serialize};

use super::elf::BpfElf;
use super::maps::MapDef;
use super::programs::instructions;
use crate::btf::{Btf, Kind};

/// `BPF_MAP_TYPE_ARENA`.
pub const MAP_TYPE_ARENA: u32 = 33;
/// `BPF_ALU64 | BPF_MOV | BPF_X`: with offset 1 it is `BPF_ADDR_SPACE_CAST`.
const OP_MOV64_REG: u8 = 0xbf;
/// The data section clang gives `__arena` (address space 1) globals.
pub const ARENA_SECTION: &str = ".addr_space.1";

/// How an object uses BPF arenas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArenaUse {
    /// Maps of type `BPF_MAP_TYPE_ARENA`.
    #[serde(default)]
    pub maps: Vec<String>,
    /// Globals in `.addr_space.1` (declared `__arena`).
    #[serde(default)]
    pub globals: Vec<String>,
    /// Number of `BPF_ADDR_SPACE_CAST` instructions in the programs.
    #[serde(default)]
    pub casts: u32,
}

impl ArenaUse {
    /// Whether the object uses an arena at all.
    #[must_use]
    pub fn used(&self) -> bool {
        !self.maps.is_empty() || !self.globals.is_empty()
    }
}

pub(crate) fn arena_use(obj: &BpfElf<'_>, btf: &Btf<'_>, maps: &[MapDef]) -> ArenaUse {
    let globals = btf
        .types()
        .filter(|t| t.kind == Kind::Datasec && btf.name(t) == ARENA_SECTION)
        .flat_map(|sec| sec.datasec_vars().collect::<Vec<_>>())
        .filter_map(|v| btf.get(v.type_id))
        .map(|v| btf.name(&v).to_string())
        .collect();
    let casts = obj
        .exec_sections()
        .flat_map(|s| instructions(s.data))
        .filter(|i| i.code == OP_MOV64_REG && i.off == 1)
        .count();
    ArenaUse {
        maps: maps
            .iter()
            .filter(|m| m.map_type == MAP_TYPE_ARENA)
            .map(|m| m.name.clone())
            .collect(),
        globals,
        casts: u32::try_from(casts).unwrap_or(u32::MAX),
    }
}
