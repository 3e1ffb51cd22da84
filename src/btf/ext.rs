//! `.BTF.ext`: per-program function info and CO-RE relocation records.
//!
//! Strings (section names, access specifiers) live in the matching `.BTF`
//! blob, so parsing takes that [`Btf`] and resolves names eagerly. Line info
//! is skipped: nothing in scxpack needs it.

use super::{Btf, Endian};

const EXT_MAGIC: u16 = 0xeb9f;

/// What is wrong with a `.BTF.ext` blob.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BtfExtError {
    #[error(".BTF.ext is {len} bytes, too short for its header")]
    TooShort { len: usize },
    #[error("bad .BTF.ext magic {found:#06x} (expected 0xeb9f)")]
    BadMagic { found: u16 },
    #[error(".BTF.ext {section} data [{start}, +{len}) lies outside the {total}-byte blob")]
    OutOfBounds {
        section: &'static str,
        start: u64,
        len: u64,
        total: usize,
    },
    #[error(".BTF.ext {section} record size {size} is smaller than the {min} bytes a record needs")]
    BadRecordSize {
        section: &'static str,
        size: u32,
        min: u32,
    },
    #[error(".BTF.ext {section} record names string offset {offset}, outside .BTF's strings")]
    BadString { section: &'static str, offset: u32 },
    #[error(".BTF.ext CO-RE record has unknown kind {0}")]
    UnknownReloKind(u32),
}

/// `bpf_func_info`: which BTF FUNC starts at which instruction of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncInfo {
    pub section: String,
    /// Instruction index (not byte offset) within the section.
    pub insn: u32,
    pub type_id: u32,
}

/// `enum bpf_core_relo_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreReloKind {
    FieldByteOffset,
    FieldByteSize,
    FieldExists,
    FieldSigned,
    FieldLshiftU64,
    FieldRshiftU64,
    TypeIdLocal,
    TypeIdTarget,
    TypeExists,
    TypeSize,
    EnumvalExists,
    EnumvalValue,
    TypeMatches,
}

impl CoreReloKind {
    fn from_raw(raw: u32) -> Option<Self> {
        use CoreReloKind as K;
        const ALL: [CoreReloKind; 13] = [
            K::FieldByteOffset,
            K::FieldByteSize,
            K::FieldExists,
            K::FieldSigned,
            K::FieldLshiftU64,
            K::FieldRshiftU64,
            K::TypeIdLocal,
            K::TypeIdTarget,
            K::TypeExists,
            K::TypeSize,
            K::EnumvalExists,
            K::EnumvalValue,
            K::TypeMatches,
        ];
        ALL.get(raw as usize).copied()
    }

    /// Existence probes never fail to resolve: a missing target yields 0.
    #[must_use]
    pub fn is_existence_probe(self) -> bool {
        matches!(
            self,
            CoreReloKind::FieldExists
                | CoreReloKind::TypeExists
                | CoreReloKind::EnumvalExists
                | CoreReloKind::TypeMatches
        )
    }
}

/// `bpf_core_relo`: one CO-RE relocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreRelo {
    pub section: String,
    /// Instruction index within the section.
    pub insn: u32,
    /// Local (object) BTF type id of the root type.
    pub type_id: u32,
    /// Access specifier, e.g. `0:1:3`.
    pub access: String,
    pub kind: CoreReloKind,
}

/// Parsed `.BTF.ext`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BtfExt {
    pub func_info: Vec<FuncInfo>,
    pub core_relos: Vec<CoreRelo>,
}

/// One `[rec_size][sec_name_off num_info records...]...` info block.
struct InfoBlock<'d> {
    name: &'static str,
    data: &'d [u8],
    min_rec: u32,
}

impl BtfExt {
    /// Parses `.BTF.ext` bytes, resolving strings in `btf`.
    pub fn parse(data: &[u8], btf: &Btf<'_>) -> Result<Self, BtfExtError> {
        if data.len() < 24 {
            return Err(BtfExtError::TooShort { len: data.len() });
        }
        let swapped = match u16::from_le_bytes([data[0], data[1]]) {
            EXT_MAGIC => false,
            m if m.swap_bytes() == EXT_MAGIC => true,
            found => return Err(BtfExtError::BadMagic { found }),
        };
        let e = Endian { swapped };
        let hdr_len = e.u32_at(data, 4) as usize;
        if hdr_len < 24 || hdr_len > data.len() {
            return Err(BtfExtError::TooShort { len: data.len() });
        }
        let block = |name, off_at: usize, min_rec| -> Result<InfoBlock<'_>, BtfExtError> {
            let off = u64::from(e.u32_at(data, off_at));
            let len = u64::from(e.u32_at(data, off_at + 4));
            let start = hdr_len as u64 + off;
            if start + len > data.len() as u64 {
                return Err(BtfExtError::OutOfBounds {
                    section: name,
                    start,
                    len,
                    total: data.len(),
                });
            }
            Ok(InfoBlock {
                name,
                data: &data[start as usize..(start + len) as usize],
                min_rec,
            })
        };
        let mut ext = BtfExt::default();
        let funcs = block("func_info", 8, 8)?;
        for_each_record(&funcs, e, btf, |section, rec| {
            ext.func_info.push(FuncInfo {
                section: section.to_string(),
                insn: e.u32_at(rec, 0) / 8,
                type_id: e.u32_at(rec, 4),
            });
            Ok(())
        })?;
        if hdr_len >= 32 {
            let relos = block("core_relo", 24, 16)?;
            for_each_record(&relos, e, btf, |section, rec| {
                ext.core_relos.push(core_relo(section, rec, e, btf)?);
                Ok(())
            })?;
        }
        Ok(ext)
    }
}

fn core_relo(section: &str, rec: &[u8], e: Endian, btf: &Btf<'_>) -> Result<CoreRelo, BtfExtError> {
    let access_off = e.u32_at(rec, 8);
    let raw_kind = e.u32_at(rec, 12);
    Ok(CoreRelo {
        section: section.to_string(),
        insn: e.u32_at(rec, 0) / 8,
        type_id: e.u32_at(rec, 4),
        access: lookup(btf, access_off, "core_relo")?.to_string(),
        kind: CoreReloKind::from_raw(raw_kind).ok_or(BtfExtError::UnknownReloKind(raw_kind))?,
    })
}

fn lookup<'a>(btf: &Btf<'a>, offset: u32, section: &'static str) -> Result<&'a str, BtfExtError> {
    if offset != 0 && btf.str_at(offset).is_empty() {
        return Err(BtfExtError::BadString { section, offset });
    }
    Ok(btf.str_at(offset))
}

fn for_each_record(
    block: &InfoBlock<'_>,
    e: Endian,
    btf: &Btf<'_>,
    mut f: impl FnMut(&str, &[u8]) -> Result<(), BtfExtError>,
) -> Result<(), BtfExtError> {
    let data = block.data;
    if data.is_empty() {
        return Ok(());
    }
    let oob = |start: usize, len: usize| BtfExtError::OutOfBounds {
        section: block.name,
        start: start as u64,
        len: len as u64,
        total: data.len(),
    };
    if data.len() < 4 {
        return Err(oob(0, 4));
    }
    let rec_size = e.u32_at(data, 0);
    if rec_size < block.min_rec {
        return Err(BtfExtError::BadRecordSize {
            section: block.name,
            size: rec_size,
            min: block.min_rec,
        });
    }
    let mut off = 4usize;
    while off < data.len() {
        if data.len() - off < 8 {
            return Err(oob(off, 8));
        }
        let section = lookup(btf, e.u32_at(data, off), block.name)?;
        let count = e.u32_at(data, off + 4) as usize;
        off += 8;
        let bytes = count
            .checked_mul(rec_size as usize)
            .filter(|&n| n <= data.len() - off)
            .ok_or_else(|| oob(off, count.saturating_mul(rec_size as usize)))?;
        for rec in data[off..off + bytes].chunks_exact(rec_size as usize) {
            f(section, rec)?;
        }
        off += bytes;
    }
    Ok(())
}
