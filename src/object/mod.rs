//! [`Requirements`]: what a BPF object (`.bpf.o`) needs from a kernel.
//!
//! Read from the object alone, without syscalls: its ELF sections, symbols
//! and relocations, its `.BTF` and its `.BTF.ext`. The result is what
//! `scxpack inspect` prints, what `pack` stores in a manifest, and what the
//! matcher compares with [`crate::kernel::KernelFacts`].

mod arch;
mod arena;
mod core_relo;
mod elf;
mod externs;
mod globals;
mod layout;
mod maps;
mod programs;
mod struct_ops;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::btf::{Btf, BtfError, BtfExt, BtfExtError};
pub use arch::ArchUse;
pub use arena::{ARENA_SECTION, ArenaUse, MAP_TYPE_ARENA, clang_major};
pub use core_relo::CoreRequirement;
pub use externs::{KconfigExtern, KfuncExtern, essential_name};
pub(crate) use globals::near_names;
pub use globals::{Global, GlobalError, GlobalType, Globals, Resize, Scalar, Value, Write};
pub use maps::MapDef;
pub use programs::Program;
pub use struct_ops::{MemberSlot, StructOpsMap};

/// Prefix of `.rodata` constants that the loader fills with kernel enum values.
pub const SCX_ENUM_SLOT_PREFIX: &str = "__SCX_";

/// Why a file could not be read as a BPF object.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: empty file, not a BPF object")]
    Empty { path: PathBuf },
    #[error(
        "{path}: not an ELF file ({reason}); expected a BPF object built with clang -target bpf"
    )]
    NotElf { path: PathBuf, reason: String },
    #[error("{path}: ELF for {machine}, not a BPF object (expected machine BPF, e_machine 247)")]
    NotBpf { path: PathBuf, machine: String },
    #[error(
        "{path}: the object has no .BTF section; rebuild it with clang -g (BTF is needed for CO-RE and struct_ops)"
    )]
    NoBtf { path: PathBuf },
    #[error("{path}: corrupt .BTF: {source}")]
    Btf { path: PathBuf, source: BtfError },
    #[error("{path}: corrupt .BTF.ext: {source}")]
    BtfExt { path: PathBuf, source: BtfExtError },
    #[error("{path}: corrupt ELF {what}: {reason}")]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
}

/// A `.rodata` variable: a scheduler parameter, or an `__SCX_*` enum slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RodataVar {
    pub name: String,
    pub section: String,
    pub offset: u32,
    pub size: u32,
    /// C type, e.g. `const volatile u64`.
    pub type_name: String,
    /// For `__SCX_FOO`, the kernel enumerator `SCX_FOO` it stands for.
    pub enum_slot: Option<String>,
    /// The compiled-in initial value, little-endian, for sizes up to 8 bytes.
    pub default: Option<u64>,
    /// Whether an instruction refers to it by name (a relocation against
    /// its symbol). The kernel's samples define every `__SCX_*` slot in
    /// every object; only a referenced one says the code uses the value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub referenced: bool,
}

/// Everything an object needs from a kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    pub license: Option<String>,
    pub struct_ops: Vec<StructOpsMap>,
    pub kfuncs: Vec<KfuncExtern>,
    pub kconfig: Vec<KconfigExtern>,
    pub core_relocs: Vec<CoreRequirement>,
    pub rodata: Vec<RodataVar>,
    pub maps: Vec<MapDef>,
    pub programs: Vec<Program>,
    /// BPF helper ids called (sorted).
    pub helpers: Vec<u32>,
    /// Where `ops.exit` records why the scheduler stopped, when the object
    /// has a global of type `struct user_exit_info`.
    #[serde(default)]
    pub exit_info: Option<GlobalSlot>,
    /// BPF arena maps and globals, and the address-space casts the code has.
    #[serde(default)]
    pub arena: ArenaUse,
    /// The compiler the object's DWARF names, when it has DWARF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiler: Option<String>,
    /// Set when the object can only load on one architecture (it reads
    /// registers or attaches to arch-prefixed syscalls); `None`: neutral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<ArchUse>,
}

/// A global variable's place in a data section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalSlot {
    pub name: String,
    pub section: String,
    pub offset: u32,
    pub size: u32,
}

/// The type name of the exit-info record (the kernel's samples and ours).
pub const EXIT_INFO_TYPE: &str = "user_exit_info";

impl Requirements {
    /// Reads the object at `path`.
    pub fn from_path(path: &Path) -> Result<Self, ObjectError> {
        let data = std::fs::read(path).map_err(|source| ObjectError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(path, &data)
    }

    /// Reads an object from memory; `path` only names it in errors.
    pub fn from_bytes(path: &Path, data: &[u8]) -> Result<Self, ObjectError> {
        let obj = elf::BpfElf::parse(path, data)?;
        let btf_bytes = btf_section(path, &obj)?;
        let btf = Btf::parse(btf_bytes).map_err(|source| ObjectError::Btf {
            path: path.to_path_buf(),
            source,
        })?;
        let ext = match obj.section_data(".BTF.ext") {
            Some(bytes) => BtfExt::parse(bytes, &btf).map_err(|source| ObjectError::BtfExt {
                path: path.to_path_buf(),
                source,
            })?,
            None => BtfExt::default(),
        };
        let programs = programs::programs(&obj);
        let maps = maps::maps(&obj, &btf);
        let core_relocs = core_relo::requirements(&btf, &ext, &programs);
        Ok(Requirements {
            arch: arch::arch_use(&btf, &core_relocs, &programs),
            license: obj.section_data("license").map(c_string),
            struct_ops: struct_ops::struct_ops_maps(&obj, &btf),
            kfuncs: externs::kfuncs(&obj, &btf, &programs),
            kconfig: externs::kconfig(&obj, &btf),
            core_relocs,
            rodata: rodata(&obj, &btf),
            arena: arena::arena_use(&obj, &btf, &maps),
            compiler: arena::compiler(&obj),
            maps,
            helpers: programs::helper_ids(&obj),
            exit_info: exit_info(&obj, &btf),
            programs,
        })
    }

    /// The `__SCX_*` enum slots.
    pub fn enum_slots(&self) -> impl Iterator<Item = &RodataVar> {
        self.rodata.iter().filter(|v| v.enum_slot.is_some())
    }

    /// The `.rodata` variables that are parameters (not enum slots).
    pub fn parameters(&self) -> impl Iterator<Item = &RodataVar> {
        self.rodata.iter().filter(|v| v.enum_slot.is_none())
    }
}

/// The object's `.BTF` section, which every sched_ext object needs.
fn btf_section<'d>(path: &Path, obj: &elf::BpfElf<'d>) -> Result<&'d [u8], ObjectError> {
    obj.section_data(".BTF").ok_or_else(|| ObjectError::NoBtf {
        path: path.to_path_buf(),
    })
}

/// The NUL-terminated string at the start of `bytes`, lossily decoded.
#[must_use]
pub fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Little-endian value of up to 8 bytes.
pub(crate) fn read_le(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    let mut raw = [0u8; 8];
    raw[..bytes.len()].copy_from_slice(bytes);
    Some(u64::from_le_bytes(raw))
}

/// The global of type `struct user_exit_info` in `.bss`/`.data`, preferring one named `uei`.
fn exit_info(obj: &elf::BpfElf<'_>, btf: &Btf<'_>) -> Option<GlobalSlot> {
    let mut found: Vec<GlobalSlot> = Vec::new();
    for sec in btf.types().filter(|t| t.kind == crate::btf::Kind::Datasec) {
        let section = btf.name(&sec);
        if !(section.starts_with(".bss") || section.starts_with(".data")) {
            continue;
        }
        for var in sec.datasec_vars() {
            let Some(v) = btf.get(var.type_id) else {
                continue;
            };
            let is_uei = btf.resolve(v.size_or_type).is_ok_and(|t| {
                t.kind == crate::btf::Kind::Struct && btf.name(&t) == EXIT_INFO_TYPE
            });
            if is_uei {
                let name = btf.name(&v);
                found.push(GlobalSlot {
                    name: name.to_string(),
                    section: section.to_string(),
                    offset: obj.var_offset(section, name, var.offset),
                    size: var.size,
                });
            }
        }
    }
    let preferred = found.iter().position(|g| g.name == "uei").unwrap_or(0);
    (!found.is_empty()).then(|| found.swap_remove(preferred))
}

/// `.rodata` (and `.rodata.*`) variables from their BTF DATASECs.
fn rodata(obj: &elf::BpfElf<'_>, btf: &Btf<'_>) -> Vec<RodataVar> {
    let fmt = crate::btf::TypeFormatter::new(btf);
    let mut out = Vec::new();
    for sec in btf.types().filter(|t| t.kind == crate::btf::Kind::Datasec) {
        let section = btf.name(&sec);
        if section != ".rodata" && !section.starts_with(".rodata.") {
            continue;
        }
        let data = obj.section_data(section).unwrap_or_default();
        for var in sec.datasec_vars() {
            let Some(v) = btf.get(var.type_id) else {
                continue;
            };
            let name = btf.name(&v).to_string();
            let offset = obj.var_offset(section, &name, var.offset);
            let bytes = data.get(offset as usize..offset.saturating_add(var.size) as usize);
            let referenced = obj
                .exec_sections()
                .any(|s| s.relocs.iter().any(|r| r.symbol == name));
            out.push(RodataVar {
                referenced,
                enum_slot: name
                    .strip_prefix(SCX_ENUM_SLOT_PREFIX)
                    .map(|e| format!("SCX_{e}")),
                type_name: fmt.type_name(v.size_or_type),
                default: bytes.and_then(read_le),
                section: section.to_string(),
                offset,
                size: var.size,
                name,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
