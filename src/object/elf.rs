//! The ELF side of a BPF object: sections, symbols and relocations, read with
//! the `object` crate and flattened into plain values the other modules use.

use std::path::Path;

use object::{
    Architecture, Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionIndex, SectionKind,
    SymbolKind,
};

use super::ObjectError;

/// An ELF symbol of a BPF object.
#[derive(Debug, Clone)]
pub(crate) struct Sym {
    pub name: String,
    pub section: Option<String>,
    pub value: u64,
    pub size: u64,
    pub weak: bool,
    pub undefined: bool,
    pub is_func: bool,
}

/// A relocation: where in its section, and which symbol it names.
#[derive(Debug, Clone)]
pub(crate) struct Reloc {
    pub offset: u64,
    pub symbol: String,
}

/// A section with its data.
#[derive(Debug)]
pub(crate) struct Section<'d> {
    pub name: String,
    pub exec: bool,
    pub data: &'d [u8],
    pub relocs: Vec<Reloc>,
}

/// A parsed BPF ELF object.
#[derive(Debug)]
pub(crate) struct BpfElf<'d> {
    pub sections: Vec<Section<'d>>,
    pub symbols: Vec<Sym>,
}

impl<'d> BpfElf<'d> {
    pub fn parse(path: &Path, data: &'d [u8]) -> Result<Self, ObjectError> {
        if data.is_empty() {
            return Err(ObjectError::Empty {
                path: path.to_path_buf(),
            });
        }
        if !data.starts_with(b"\x7fELF") {
            return Err(ObjectError::NotElf {
                path: path.to_path_buf(),
                reason: format!("starts with {:02x?}", &data[..data.len().min(4)]),
            });
        }
        let file = object::File::parse(data).map_err(|e| ObjectError::NotElf {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if file.architecture() != Architecture::Bpf {
            return Err(ObjectError::NotBpf {
                path: path.to_path_buf(),
                machine: format!("{:?}", file.architecture()),
            });
        }
        let names = section_names(&file);
        let symbols = symbols(&file, &names);
        let sections = file
            .sections()
            .map(|s| section(&s, &file))
            .collect::<Result<_, String>>()
            .map_err(|reason| ObjectError::Corrupt {
                path: path.to_path_buf(),
                what: "section",
                reason,
            })?;
        Ok(BpfElf { sections, symbols })
    }

    pub fn section(&self, name: &str) -> Option<&Section<'d>> {
        self.sections.iter().find(|s| s.name == name)
    }

    pub fn section_data(&self, name: &str) -> Option<&'d [u8]> {
        self.section(name).map(|s| s.data)
    }

    /// Where variable `name` sits in `section`: its symbol's value. Clang
    /// leaves DATASEC offsets at 0 in object files (libbpf fixes them up from
    /// the symbol table the same way), so the BTF offset is only a fallback.
    pub fn var_offset(&self, section: &str, name: &str, btf_offset: u32) -> u32 {
        self.symbols
            .iter()
            .find(|s| s.name == name && s.section.as_deref() == Some(section) && !s.undefined)
            .and_then(|s| u32::try_from(s.value).ok())
            .unwrap_or(btf_offset)
    }

    /// Executable sections (programs).
    pub fn exec_sections(&self) -> impl Iterator<Item = &Section<'d>> {
        self.sections.iter().filter(|s| s.exec)
    }
}

fn section_names(file: &object::File<'_>) -> Vec<(SectionIndex, String)> {
    file.sections()
        .map(|s| (s.index(), s.name().unwrap_or("").to_string()))
        .collect()
}

fn symbols(file: &object::File<'_>, names: &[(SectionIndex, String)]) -> Vec<Sym> {
    file.symbols()
        .map(|s| Sym {
            name: s.name().unwrap_or("").to_string(),
            section: s.section_index().and_then(|idx| {
                names
                    .iter()
                    .find(|(i, _)| *i == idx)
                    .map(|(_, n)| n.clone())
            }),
            value: s.address(),
            size: s.size(),
            weak: s.is_weak(),
            undefined: s.is_undefined(),
            is_func: s.kind() == SymbolKind::Text,
        })
        .collect()
}

fn section<'d>(
    s: &object::Section<'d, '_>,
    file: &object::File<'d>,
) -> Result<Section<'d>, String> {
    let name = s.name().map_err(|e| e.to_string())?.to_string();
    let data = if s.kind() == SectionKind::UninitializedData {
        &[][..]
    } else {
        s.data().map_err(|e| format!("{name}: {e}"))?
    };
    let relocs = s
        .relocations()
        .filter_map(|(offset, r)| match r.target() {
            RelocationTarget::Symbol(idx) => file.symbol_by_index(idx).ok().map(|sym| Reloc {
                offset,
                symbol: sym.name().unwrap_or("").to_string(),
            }),
            _ => None,
        })
        .collect();
    Ok(Section {
        exec: s.kind() == SectionKind::Text,
        name,
        data,
        relocs,
    })
}
