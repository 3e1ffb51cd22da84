//! BTF type records: kinds, their sizes and typed views of their trailing data.
//!
//! [`record_size`] is the only place that knows how long each kind's record is;
//! everything else reads through [`Type`], whose slices were bounds-checked by
//! the index pass in the parent module.

use super::Endian;

/// The kinds of BTF type (`BTF_KIND_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Void,
    Int,
    Ptr,
    Array,
    Struct,
    Union,
    Enum,
    Fwd,
    Typedef,
    Volatile,
    Const,
    Restrict,
    Func,
    FuncProto,
    Var,
    Datasec,
    Float,
    DeclTag,
    TypeTag,
    Enum64,
}

impl Kind {
    pub(super) fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            0 => Kind::Void,
            1 => Kind::Int,
            2 => Kind::Ptr,
            3 => Kind::Array,
            4 => Kind::Struct,
            5 => Kind::Union,
            6 => Kind::Enum,
            7 => Kind::Fwd,
            8 => Kind::Typedef,
            9 => Kind::Volatile,
            10 => Kind::Const,
            11 => Kind::Restrict,
            12 => Kind::Func,
            13 => Kind::FuncProto,
            14 => Kind::Var,
            15 => Kind::Datasec,
            16 => Kind::Float,
            17 => Kind::DeclTag,
            18 => Kind::TypeTag,
            19 => Kind::Enum64,
            _ => return None,
        })
    }

    /// Typedefs, cv-qualifiers and type tags: kinds that only wrap another type.
    #[must_use]
    pub fn is_modifier(self) -> bool {
        matches!(
            self,
            Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag
        )
    }

    /// Kinds whose third header word is a type id (rather than a size).
    pub(super) fn refers_by_header(self) -> bool {
        matches!(
            self,
            Kind::Ptr
                | Kind::Typedef
                | Kind::Volatile
                | Kind::Const
                | Kind::Restrict
                | Kind::Func
                | Kind::FuncProto
                | Kind::Var
                | Kind::DeclTag
                | Kind::TypeTag
        )
    }
}

/// Size in bytes of each trailing element and of the fixed extra data of `kind`.
pub(super) fn trailer(kind: Kind) -> (usize, usize) {
    match kind {
        Kind::Int | Kind::Var | Kind::DeclTag => (0, 4),
        Kind::Array => (0, 12),
        Kind::Struct | Kind::Union | Kind::Datasec | Kind::Enum64 => (12, 0),
        Kind::Enum | Kind::FuncProto => (8, 0),
        _ => (0, 0),
    }
}

/// One BTF type record: its header and a view of its trailing data.
#[derive(Debug, Clone, Copy)]
pub struct Type<'a> {
    pub id: u32,
    pub kind: Kind,
    pub name_off: u32,
    pub info: u32,
    /// `size` for sized kinds, the referenced type id for the others.
    pub size_or_type: u32,
    extra: &'a [u8],
    endian: Endian,
}

/// A struct or union member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub name_off: u32,
    pub type_id: u32,
    /// Bit offset of the member (bitfield size stripped when `kind_flag` is set).
    pub bit_offset: u32,
    /// Bitfield size, 0 for ordinary members.
    pub bitfield_size: u32,
}

/// A function prototype parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name_off: u32,
    pub type_id: u32,
}

/// An enumerator of an ENUM or ENUM64 with its value widened to 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enumerator {
    pub name_off: u32,
    /// The raw bits; interpret with [`Type::is_signed_enum`].
    pub bits: u64,
}

/// One variable of a DATASEC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSecInfo {
    pub type_id: u32,
    pub offset: u32,
    pub size: u32,
}

impl<'a> Type<'a> {
    pub(super) fn void() -> Self {
        Type {
            id: 0,
            kind: Kind::Void,
            name_off: 0,
            info: 0,
            size_or_type: 0,
            extra: &[],
            endian: Endian { swapped: false },
        }
    }

    /// Decodes the record at `off`; `record_size` has already validated it.
    #[allow(
        clippy::inline_always,
        reason = "inlined into `Btf::types` loops it cuts KernelFacts' scan by a tenth"
    )]
    #[inline(always)]
    pub(super) fn decode(types: &'a [u8], off: usize, id: u32, endian: Endian) -> Self {
        let (header, rest) = types[off..].split_at(12);
        let info = endian.u32_at(header, 4);
        let kind = Kind::from_raw((info >> 24) & 0x1f).unwrap_or(Kind::Void);
        let (each, fixed) = trailer(kind);
        let len = fixed + each * (info & 0xffff) as usize;
        Type {
            id,
            kind,
            name_off: endian.u32_at(header, 0),
            info,
            size_or_type: endian.u32_at(header, 8),
            extra: &rest[..len],
            endian,
        }
    }

    /// `vlen`: member, parameter or enumerator count (linkage for FUNC).
    #[must_use]
    pub fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }

    /// The `kind_flag` bit.
    #[must_use]
    pub fn kind_flag(&self) -> bool {
        self.info >> 31 == 1
    }

    fn word(&self, at: usize) -> u32 {
        self.endian.u32_at(self.extra, at)
    }

    /// INT encoding: (`is_signed`, `bits`).
    #[must_use]
    pub fn int_encoding(&self) -> (bool, u32) {
        if self.kind != Kind::Int {
            return (false, 0);
        }
        let enc = self.word(0);
        ((enc >> 24) & 1 == 1, enc & 0xff)
    }

    /// ARRAY: (element type, index type, element count).
    #[must_use]
    pub fn array(&self) -> Option<(u32, u32, u32)> {
        (self.kind == Kind::Array).then(|| (self.word(0), self.word(4), self.word(8)))
    }

    /// VAR linkage (0 static, 1 global, 2 extern) or `DECL_TAG` component index.
    #[must_use]
    pub fn extra_word(&self) -> Option<u32> {
        matches!(self.kind, Kind::Var | Kind::DeclTag | Kind::Int).then(|| self.word(0))
    }

    /// Members of a STRUCT or UNION (empty otherwise).
    pub fn members(&self) -> impl Iterator<Item = Member> + 'a {
        let this = *self;
        let n = if matches!(self.kind, Kind::Struct | Kind::Union) {
            self.vlen()
        } else {
            0
        };
        (0..n).map(move |i| {
            let raw_off = this.word(i * 12 + 8);
            let (bit_offset, bitfield_size) = if this.kind_flag() {
                (raw_off & 0x00ff_ffff, raw_off >> 24)
            } else {
                (raw_off, 0)
            };
            Member {
                name_off: this.word(i * 12),
                type_id: this.word(i * 12 + 4),
                bit_offset,
                bitfield_size,
            }
        })
    }

    /// Parameters of a `FUNC_PROTO` (empty otherwise).
    pub fn params(&self) -> impl Iterator<Item = Param> + 'a {
        let this = *self;
        let n = if self.kind == Kind::FuncProto {
            self.vlen()
        } else {
            0
        };
        (0..n).map(move |i| Param {
            name_off: this.word(i * 8),
            type_id: this.word(i * 8 + 4),
        })
    }

    /// True when the ENUM/ENUM64 values are signed (`kind_flag`).
    #[must_use]
    pub fn is_signed_enum(&self) -> bool {
        self.kind_flag()
    }

    /// Enumerators of an ENUM or ENUM64 (empty otherwise).
    pub fn enumerators(&self) -> impl Iterator<Item = Enumerator> + 'a {
        let this = *self;
        let (n, stride) = match self.kind {
            Kind::Enum => (self.vlen(), 8),
            Kind::Enum64 => (self.vlen(), 12),
            _ => (0, 8),
        };
        (0..n).map(move |i| {
            let base = i * stride;
            let lo = this.word(base + 4);
            let bits = if stride == 12 {
                u64::from(lo) | (u64::from(this.word(base + 8)) << 32)
            } else if this.kind_flag() {
                // Signed 32-bit enumerator: sign-extend.
                i64::from(lo as i32) as u64
            } else {
                u64::from(lo)
            };
            Enumerator {
                name_off: this.word(base),
                bits,
            }
        })
    }

    /// Variables of a DATASEC (empty otherwise).
    pub fn datasec_vars(&self) -> impl Iterator<Item = VarSecInfo> + 'a {
        let this = *self;
        let n = if self.kind == Kind::Datasec {
            self.vlen()
        } else {
            0
        };
        (0..n).map(move |i| VarSecInfo {
            type_id: this.word(i * 12),
            offset: this.word(i * 12 + 4),
            size: this.word(i * 12 + 8),
        })
    }
}
