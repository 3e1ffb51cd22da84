//! The single validating pass over a BTF type section.
//!
//! For each record it checks that the record fits and its kind is known,
//! that every string offset lies in the string section, and it remembers the
//! largest type id referenced (and by whom), so out-of-range references are
//! caught once the type count is known. The loop is generic over the byte
//! order so the common little-endian case reads words without branching.

use super::BtfError;
use super::kind::{Kind, trailer};

/// Where each type starts, indexed by type id (index 0 is `void`).
pub(super) fn index_types(
    types: &[u8],
    strings_len: usize,
    swapped: bool,
) -> Result<Vec<u32>, BtfError> {
    if swapped {
        Pass::<true>::new(types, strings_len).run()
    } else {
        Pass::<false>::new(types, strings_len).run()
    }
}

struct Pass<'a, const SWAP: bool> {
    types: &'a [u8],
    strings_len: usize,
    offsets: Vec<u32>,
    /// The largest referenced type id and the type that refers to it.
    max_ref: (u32, u32),
}

impl<'a, const SWAP: bool> Pass<'a, SWAP> {
    fn new(types: &'a [u8], strings_len: usize) -> Self {
        // Kernel BTF averages ~36 bytes per type; reserve close to the final count.
        let mut offsets = Vec::with_capacity(types.len() / 32 + 1);
        offsets.push(0);
        Pass {
            types,
            strings_len,
            offsets,
            max_ref: (0, 0),
        }
    }

    #[inline]
    fn word(&self, at: usize) -> u32 {
        let raw: [u8; 4] = self.types[at..at + 4].try_into().unwrap_or_default();
        if SWAP {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        }
    }

    fn run(mut self) -> Result<Vec<u32>, BtfError> {
        let mut off = 0usize;
        while off < self.types.len() {
            let id = u32::try_from(self.offsets.len())
                .ok()
                .filter(|&id| id < (1 << 31))
                .ok_or(BtfError::TooManyTypes(self.offsets.len()))?;
            let size = self.record(off, id)?;
            self.offsets.push(off as u32);
            off += size;
        }
        let last = (self.offsets.len() - 1) as u32;
        let (target, id) = self.max_ref;
        if target > last {
            return Err(BtfError::TypeOutOfRange { id, target, last });
        }
        Ok(self.offsets)
    }

    /// Validates the record at `off` and returns its size.
    fn record(&mut self, off: usize, id: u32) -> Result<usize, BtfError> {
        let available = self.types.len() - off;
        let truncated = |needed| BtfError::TruncatedType {
            id,
            offset: off,
            needed,
            available,
        };
        if available < 12 {
            return Err(truncated(12));
        }
        let info = self.word(off + 4);
        let raw_kind = (info >> 24) & 0x1f;
        let kind = Kind::from_raw(raw_kind)
            .filter(|&k| k != Kind::Void)
            .ok_or(BtfError::UnknownKind { id, kind: raw_kind })?;
        let (each, fixed) = trailer(kind);
        let vlen = (info & 0xffff) as usize;
        let size = 12 + fixed + each * vlen;
        if available < size {
            return Err(truncated(size));
        }
        self.name(id, self.word(off))?;
        if kind.refers_by_header() {
            self.reference(id, self.word(off + 8));
        }
        self.trailer(off + 12, id, kind, vlen)?;
        Ok(size)
    }

    fn trailer(&mut self, at: usize, id: u32, kind: Kind, vlen: usize) -> Result<(), BtfError> {
        match kind {
            Kind::Array => {
                self.reference(id, self.word(at));
                self.reference(id, self.word(at + 4));
            }
            Kind::Struct | Kind::Union => {
                for i in 0..vlen {
                    self.name(id, self.word(at + i * 12))?;
                    self.reference(id, self.word(at + i * 12 + 4));
                }
            }
            Kind::FuncProto => {
                for i in 0..vlen {
                    self.name(id, self.word(at + i * 8))?;
                    self.reference(id, self.word(at + i * 8 + 4));
                }
            }
            Kind::Enum | Kind::Enum64 => {
                let stride = if kind == Kind::Enum { 8 } else { 12 };
                for i in 0..vlen {
                    self.name(id, self.word(at + i * stride))?;
                }
            }
            Kind::Datasec => {
                for i in 0..vlen {
                    self.reference(id, self.word(at + i * 12));
                }
            }
            _ => {}
        }
        Ok(())
    }

    #[inline]
    fn name(&self, id: u32, offset: u32) -> Result<(), BtfError> {
        if (offset as usize) < self.strings_len || offset == 0 {
            Ok(())
        } else {
            Err(BtfError::StringOutOfRange {
                id,
                offset,
                len: self.strings_len,
            })
        }
    }

    #[inline]
    fn reference(&mut self, id: u32, target: u32) {
        if target > self.max_ref.0 {
            self.max_ref = (target, id);
        }
    }
}
