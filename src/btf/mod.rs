//! A zero-copy, validating reader for BTF (the BPF Type Format).
//!
//! One pass over the type section records where each type starts and checks
//! that every record fits; a second pass checks that every string offset and
//! every type reference is in range. After that, accessors never fail on bounds,
//! and type chains are followed with a hop limit so a malicious loop ends in
//! [`BtfError::TypeLoop`] instead of a hang. Both byte orders are read. No
//! syscalls: this module only looks at the bytes it is given.
//!
//! The layout follows the kernel's `include/uapi/linux/btf.h`.

mod ext;
mod format;
mod kind;
mod validate;

pub use ext::{BtfExt, BtfExtError, CoreRelo, CoreReloKind, FuncInfo};
pub use format::{Shape, TypeFormatter};
pub use kind::{Enumerator, Kind, Member, Param, Type, VarSecInfo};

use std::collections::HashMap;

/// Magic number at the start of every BTF blob (little-endian reading).
pub const BTF_MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
/// Longest chain of modifiers/typedefs/pointers followed before giving up.
pub const MAX_CHAIN: usize = 64;

/// What is wrong with a BTF blob. Every variant carries the evidence.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BtfError {
    #[error("BTF is {len} bytes, shorter than its {HEADER_LEN}-byte header")]
    TooShort { len: usize },
    #[error("bad BTF magic {found:#06x} (expected 0xeb9f): not BTF data")]
    BadMagic { found: u16 },
    #[error("unsupported BTF version {0} (only version 1 exists)")]
    BadVersion(u8),
    #[error("BTF header length {hdr_len} is invalid")]
    BadHeader { hdr_len: u32 },
    #[error("BTF {section} section [{start}, {start}+{len}) lies outside the {total}-byte blob")]
    SectionOutOfBounds {
        section: &'static str,
        start: u64,
        len: u64,
        total: usize,
    },
    #[error("BTF string section does not start with an empty string")]
    BadStringSection,
    #[error(
        "BTF type #{id} at offset {offset} is truncated: needs {needed} bytes, {available} left"
    )]
    TruncatedType {
        id: u32,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("BTF type #{id} has unknown kind {kind}")]
    UnknownKind { id: u32, kind: u32 },
    #[error("BTF type #{id} names string offset {offset}, past the {len}-byte string section")]
    StringOutOfRange { id: u32, offset: u32, len: usize },
    #[error("BTF type #{id} refers to type #{target}, but the last type is #{last}")]
    TypeOutOfRange { id: u32, target: u32, last: u32 },
    #[error("BTF type chain starting at #{id} loops or is deeper than {MAX_CHAIN} hops")]
    TypeLoop { id: u32 },
    #[error("BTF has {0} types, more than BTF type ids can address")]
    TooManyTypes(usize),
}

/// A parsed, validated view of one BTF blob.
#[derive(Debug)]
pub struct Btf<'a> {
    swapped: bool,
    types: &'a [u8],
    strings: &'a [u8],
    /// Byte offset of each type in `types`; index 0 is `void` and unused.
    offsets: Vec<u32>,
}

/// Read helpers that honour the blob's byte order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endian {
    pub swapped: bool,
}

impl Endian {
    #[inline]
    pub fn u32_at(self, bytes: &[u8], at: usize) -> u32 {
        // One bounds check for the word rather than one per byte.
        let raw: [u8; 4] = match bytes[at..at + 4].try_into() {
            Ok(raw) => raw,
            Err(_) => unreachable!("a 4-byte slice converts to [u8; 4]"),
        };
        if self.swapped {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        }
    }
}

struct Header {
    endian: Endian,
    hdr_len: usize,
    type_off: u32,
    type_len: u32,
    str_off: u32,
    str_len: u32,
}

fn read_header(data: &[u8]) -> Result<Header, BtfError> {
    if data.len() < HEADER_LEN {
        return Err(BtfError::TooShort { len: data.len() });
    }
    let swapped = match u16::from_le_bytes([data[0], data[1]]) {
        BTF_MAGIC => false,
        m if m.swap_bytes() == BTF_MAGIC => true,
        found => return Err(BtfError::BadMagic { found }),
    };
    if data[2] != 1 {
        return Err(BtfError::BadVersion(data[2]));
    }
    let endian = Endian { swapped };
    let hdr_len = endian.u32_at(data, 4);
    if (hdr_len as usize) < HEADER_LEN || hdr_len as usize > data.len() {
        return Err(BtfError::BadHeader { hdr_len });
    }
    Ok(Header {
        endian,
        hdr_len: hdr_len as usize,
        type_off: endian.u32_at(data, 8),
        type_len: endian.u32_at(data, 12),
        str_off: endian.u32_at(data, 16),
        str_len: endian.u32_at(data, 20),
    })
}

fn section<'a>(
    data: &'a [u8],
    base: usize,
    off: u32,
    len: u32,
    name: &'static str,
) -> Result<&'a [u8], BtfError> {
    let start = base as u64 + u64::from(off);
    let end = start + u64::from(len);
    if end > data.len() as u64 {
        return Err(BtfError::SectionOutOfBounds {
            section: name,
            start,
            len: u64::from(len),
            total: data.len(),
        });
    }
    Ok(&data[start as usize..end as usize])
}

impl<'a> Btf<'a> {
    /// Parses and validates `data`. Fails on any structural defect.
    pub fn parse(data: &'a [u8]) -> Result<Self, BtfError> {
        let h = read_header(data)?;
        let types = section(data, h.hdr_len, h.type_off, h.type_len, "type")?;
        let strings = section(data, h.hdr_len, h.str_off, h.str_len, "string")?;
        if strings.first().is_some_and(|&b| b != 0) {
            return Err(BtfError::BadStringSection);
        }
        let offsets = validate::index_types(types, strings.len(), h.endian.swapped)?;
        let btf = Btf {
            swapped: h.endian.swapped,
            types,
            strings,
            offsets,
        };
        Ok(btf)
    }

    pub(crate) fn endian(&self) -> Endian {
        Endian {
            swapped: self.swapped,
        }
    }

    /// Number of type ids, including `void` (id 0).
    #[must_use]
    pub fn len(&self) -> u32 {
        self.offsets.len() as u32
    }

    /// True when the blob holds no types besides `void`.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.offsets.len() <= 1
    }

    /// The type with `id`, or `None` when the id is out of range.
    #[must_use]
    #[inline]
    pub fn get(&self, id: u32) -> Option<Type<'a>> {
        if id == 0 {
            return Some(Type::void());
        }
        let off = *self.offsets.get(id as usize)? as usize;
        Some(Type::decode(self.types, off, id, self.endian()))
    }

    /// Iterates over every type except `void`.
    pub fn types(&self) -> impl Iterator<Item = Type<'a>> + '_ {
        let (types, endian) = (self.types, self.endian());
        self.offsets
            .iter()
            .enumerate()
            .skip(1)
            .map(move |(id, &off)| Type::decode(types, off as usize, id as u32, endian))
    }

    /// The NUL-terminated string at `offset` (validated at parse time for names).
    #[must_use]
    pub fn str_at(&self, offset: u32) -> &'a str {
        let Some(rest) = self.strings.get(offset as usize..) else {
            return "";
        };
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).unwrap_or("")
    }

    /// The first byte of the string at `offset` (`None` past the end).
    #[must_use]
    pub fn str_byte(&self, offset: u32) -> Option<u8> {
        self.strings.get(offset as usize).copied()
    }

    /// Whether the string at `offset` starts with `prefix`, without measuring it.
    #[must_use]
    pub fn str_starts_with(&self, offset: u32, prefix: &str) -> bool {
        self.strings
            .get(offset as usize..)
            .is_some_and(|rest| rest.starts_with(prefix.as_bytes()))
    }

    /// Whether the string at `offset` is exactly `s`.
    #[must_use]
    pub fn str_is(&self, offset: u32, s: &str) -> bool {
        self.str_starts_with(offset, s) && self.strings.get(offset as usize + s.len()) == Some(&0)
    }

    /// The name of `ty` ("" when anonymous).
    #[must_use]
    pub fn name(&self, ty: &Type<'_>) -> &'a str {
        self.str_at(ty.name_off)
    }

    /// Builds a name → ids index over every named type.
    #[must_use]
    pub fn name_index(&self) -> HashMap<&'a str, Vec<u32>> {
        let mut index: HashMap<&'a str, Vec<u32>> = HashMap::with_capacity(self.offsets.len());
        for ty in self.types() {
            let name = self.name(&ty);
            if !name.is_empty() {
                index.entry(name).or_default().push(ty.id);
            }
        }
        index
    }

    /// First type named `name` of `kind`, by a linear scan.
    #[must_use]
    pub fn find(&self, name: &str, kind: Kind) -> Option<Type<'a>> {
        self.types()
            .find(|t| t.kind == kind && self.name(t) == name)
    }

    /// Skips typedefs and cv-qualifiers/type tags; errors on loops.
    pub fn resolve(&self, id: u32) -> Result<Type<'a>, BtfError> {
        let mut cur = id;
        for _ in 0..MAX_CHAIN {
            let ty = self.get(cur).ok_or(BtfError::TypeOutOfRange {
                id,
                target: cur,
                last: self.len().saturating_sub(1),
            })?;
            if !ty.kind.is_modifier() {
                return Ok(ty);
            }
            cur = ty.size_or_type;
        }
        Err(BtfError::TypeLoop { id })
    }

    /// Size in bytes of type `id` (None for functions, void and loops).
    #[must_use]
    pub fn size_of(&self, id: u32) -> Option<u32> {
        self.size_at(id, 0)
    }

    fn size_at(&self, id: u32, depth: usize) -> Option<u32> {
        if depth > MAX_CHAIN {
            return None;
        }
        let ty = self.resolve(id).ok()?;
        match ty.kind {
            Kind::Int
            | Kind::Struct
            | Kind::Union
            | Kind::Enum
            | Kind::Enum64
            | Kind::Float
            | Kind::Datasec => Some(ty.size_or_type),
            Kind::Ptr => Some(8),
            Kind::Array => {
                let (elem, _, n) = ty.array()?;
                self.size_at(elem, depth + 1)?.checked_mul(n)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
