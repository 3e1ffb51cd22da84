//! BPF arena use: `BPF_MAP_TYPE_ARENA` maps, `__arena` globals (section
//! `.addr_space.1`) and the address-space cast instructions that let the
//! verifier track arena pointers.
//!
//! Code that dereferences arena memory needs `BPF_ADDR_SPACE_CAST`
//! instructions (`BPF_ALU64 | BPF_MOV | BPF_X` with offset 1, imm 1 or
//! 1 << 16; Documentation/bpf/standardization/instruction-set.rst). clang
//! emits them from version 19 on; an older compiler leaves arena pointers as
//! plain scalars and the verifier refuses the first dereference ("R8 invalid
//! mem access 'scalar'"). Hand-written casts (the `cast_kern`/`cast_user`
//! fallbacks of the kernel's `bpf_arena_common.bpf.h`) cover only some
//! accesses, so an arena object whose DWARF names clang < 19 is judged the
//! same way.

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

/// The compiler named in the object's DWARF (`DW_AT_producer` in
/// `.debug_str`, e.g. `Debian clang version 16.0.6 (15~deb12u1)`); `None`
/// when the object carries no DWARF (stripped with `-g`, as ours are).
pub(crate) fn compiler(obj: &BpfElf<'_>) -> Option<String> {
    obj.section_data(".debug_str")?
        .split(|&b| b == 0)
        .find(|s| {
            s.windows(CLANG_VERSION.len())
                .any(|w| w == CLANG_VERSION.as_bytes())
        })
        .map(|s| String::from_utf8_lossy(s).into_owned())
}

const CLANG_VERSION: &str = "clang version ";

/// The major version in a compiler string like `Debian clang version 16.0.6`.
#[must_use]
pub fn clang_major(compiler: &str) -> Option<u32> {
    let at = compiler.find(CLANG_VERSION)? + CLANG_VERSION.len();
    let digits: String = compiler[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
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
