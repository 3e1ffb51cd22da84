//! An object's global variables (`.rodata`, `.data`, `.bss` and their
//! `.NAME` sub-sections) with their C types, read from the object's own BTF:
//! what the loader's typed setters check a value against before anything
//! reaches libbpf, and what `manifest init` lists for a packager.
//!
//! Pure: values are encoded into the bytes of their section here, and the
//! loader only copies them into libbpf's maps. A variable is resizable when it
//! is the last one of a `.data.NAME`/`.bss.NAME`/`.rodata.NAME` section and an array with a
//! known element size: what scx's `RESIZABLE_ARRAY` and the kernel samples'
//! `RESIZE_ARRAY` produce, and what libbpf's `bpf_map__set_value_size` accepts.

use std::path::Path;

use crate::btf::{Btf, Kind, Type, TypeFormatter};

use super::{ObjectError, elf};

/// A C scalar type a value is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// `bool` / `_Bool`.
    Bool,
    /// An integer, `char` or enum of `bytes` bytes.
    Int { bytes: u32, signed: bool },
}

/// The shape of a global, as far as typed setters care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalType {
    Scalar(Scalar),
    /// An array; `elem` is `None` for elements that are not scalars.
    Array {
        elem: Option<Scalar>,
        elem_size: u32,
        len: u32,
    },
    /// Structs, pointers, floats: reachable as raw bytes only.
    Other,
}

/// One global variable of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub name: String,
    /// Its ELF section (`.rodata`, `.bss`, `.data.cpu_ctxs`, ...).
    pub section: String,
    /// Byte offset in its section.
    pub offset: u32,
    /// Size in bytes (changes when the array is resized).
    pub size: u32,
    /// The C type, e.g. `const volatile u64`.
    pub type_name: String,
    pub ty: GlobalType,
    /// The last variable of a `.data.NAME`/`.bss.NAME`/`.rodata.NAME` section, an array.
    pub resizable: bool,
}

impl Global {
    /// Whether user space may still write it after load (`.data`, `.bss`).
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.section.starts_with(".rodata")
    }
}

/// A value for a global, checked against its C type when it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    /// Any integer (wide enough for `u64` and `i64` alike).
    Int(i128),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::Int(i128::from(v))
            }
        }
    )*};
}
int_value!(u8, u16, u32, u64, i8, i16, i32, i64);

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(v as i128)
    }
}

/// Why a value cannot be written into a global, found before load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobalError {
    #[error("the object has no global variable {name} (near: {near})")]
    Unknown { name: String, near: String },
    #[error("global {name} is {c_type}: it cannot take {given}")]
    WrongType {
        name: String,
        c_type: String,
        given: String,
    },
    #[error("global {name} is {c_type}: {value} does not fit (range {range})")]
    DoesNotFit {
        name: String,
        c_type: String,
        value: String,
        range: String,
    },
    #[error("global {name} is {c_type}: {given} bytes given for its {size}")]
    WrongSize {
        name: String,
        c_type: String,
        size: u32,
        given: usize,
    },
    #[error("global {name} is {c_type}, not an array: set it without an index")]
    NotArray { name: String, c_type: String },
    #[error("index {index} is out of range for {name} ({len} elements; resize it first)")]
    IndexOutOfRange { name: String, index: u64, len: u32 },
    #[error("{given} values given for {name}, which has {len} elements (resize it first)")]
    TooManyValues {
        name: String,
        given: usize,
        len: u32,
    },
    #[error("global {name} ({c_type} in {section}) cannot be resized: {why}")]
    NotResizable {
        name: String,
        c_type: String,
        section: String,
        why: &'static str,
    },
    #[error("cannot resize {name} to {len} elements: {why}")]
    BadLength {
        name: String,
        len: u64,
        why: &'static str,
    },
    #[error("global {name} is in {section}, read-only once loaded: set it before load")]
    ReadOnly { name: String, section: String },
    #[error("{section} holds {have} bytes, too few for {name} at {offset}+{size}")]
    ShortSection {
        name: String,
        section: String,
        have: usize,
        offset: u32,
        size: u32,
    },
}

/// Bytes to copy into a section: what a checked setter produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub section: String,
    pub offset: u32,
    pub bytes: Vec<u8>,
}

/// A resized section: the new value size of its map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resize {
    pub section: String,
    pub value_size: u32,
}

/// Every global variable of an object, in section and offset order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Globals {
    pub vars: Vec<Global>,
}

/// Whether `section` holds globals (`.bss`, `.data`, `.rodata`, `.X.NAME`).
pub(crate) fn is_global_data(section: &str) -> bool {
    [".bss", ".data", ".rodata"]
        .iter()
        .any(|p| section == *p || section.strip_prefix(p).is_some_and(|r| r.starts_with('.')))
}

/// Whether `section` is a `.data.NAME`/`.bss.NAME`/`.rodata.NAME` section,
/// whose last array libbpf can resize (`RESIZABLE_ARRAY(rodata, x)` too).
fn is_resizable_section(section: &str) -> bool {
    [".data.", ".bss.", ".rodata."]
        .iter()
        .any(|p| section.strip_prefix(p).is_some_and(|r| !r.is_empty()))
}

impl Globals {
    /// Reads the globals of the object in `data`; `path` only names it in errors.
    pub fn from_bytes(path: &Path, data: &[u8]) -> Result<Self, ObjectError> {
        let obj = elf::BpfElf::parse(path, data)?;
        let btf_bytes = super::btf_section(path, &obj)?;
        let btf = Btf::parse(btf_bytes).map_err(|source| ObjectError::Btf {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::from_btf(&btf, |section, name, btf_offset| {
            obj.var_offset(section, name, btf_offset)
        }))
    }

    /// Reads the globals from `btf`; `offset` gives a variable's place in
    /// its section (the ELF symbol's, as libbpf uses) from the BTF offset.
    pub fn from_btf(btf: &Btf<'_>, offset: impl Fn(&str, &str, u32) -> u32) -> Self {
        let fmt = TypeFormatter::new(btf);
        let mut vars = Vec::new();
        for sec in btf.types().filter(|t| t.kind == Kind::Datasec) {
            let section = btf.name(&sec);
            if !is_global_data(section) {
                continue;
            }
            let first = vars.len();
            for info in sec.datasec_vars() {
                let Some(var) = btf.get(info.type_id).filter(|v| v.kind == Kind::Var) else {
                    continue;
                };
                let name = btf.name(&var).to_string();
                vars.push(Global {
                    offset: offset(section, &name, info.offset),
                    size: info.size,
                    type_name: fmt.type_name(var.size_or_type),
                    ty: global_type(btf, var.size_or_type),
                    section: section.to_string(),
                    resizable: false,
                    name,
                });
            }
            let mine = &mut vars[first..];
            mine.sort_by_key(|g| g.offset);
            if let Some(last) = mine.last_mut() {
                last.resizable = is_resizable_section(section)
                    && matches!(last.ty, GlobalType::Array { elem_size, .. } if elem_size > 0);
            }
        }
        Globals { vars }
    }

    /// The global `name`, or an error listing the names nearest to it.
    pub fn get(&self, name: &str) -> Result<&Global, GlobalError> {
        self.vars
            .iter()
            .find(|g| g.name == name)
            .ok_or_else(|| GlobalError::Unknown {
                name: name.to_string(),
                near: near_names(name, self.vars.iter().map(|g| g.name.as_str())),
            })
    }

    /// `value` encoded for the scalar global `name`.
    pub fn encode(&self, name: &str, value: Value) -> Result<Write, GlobalError> {
        let g = self.get(name)?;
        let GlobalType::Scalar(s) = g.ty else {
            return Err(wrong_type(g, &format!("the scalar {value}")));
        };
        Ok(Write {
            section: g.section.clone(),
            offset: g.offset,
            bytes: encode_scalar(g, s, value)?,
        })
    }

    /// `value` encoded for element `index` of the array `name`.
    pub fn encode_element(
        &self,
        name: &str,
        index: u64,
        value: Value,
    ) -> Result<Write, GlobalError> {
        let g = self.get(name)?;
        let (elem, elem_size) = array_elem(g, &value)?;
        let at = element_offset(g, index, elem_size)?;
        Ok(Write {
            section: g.section.clone(),
            offset: at,
            bytes: encode_scalar(g, elem, value)?,
        })
    }

    /// `values` encoded for the first elements of the array `name`.
    pub fn encode_array(&self, name: &str, values: &[Value]) -> Result<Write, GlobalError> {
        let g = self.get(name)?;
        let Some(first) = values.first() else {
            return Ok(Write {
                section: g.section.clone(),
                offset: g.offset,
                bytes: Vec::new(),
            });
        };
        let (elem, _) = array_elem(g, first)?;
        let len = array_len(g);
        if values.len() > len as usize {
            return Err(GlobalError::TooManyValues {
                name: g.name.clone(),
                given: values.len(),
                len,
            });
        }
        let mut bytes = Vec::new();
        for v in values {
            bytes.extend(encode_scalar(g, elem, *v)?);
        }
        Ok(Write {
            section: g.section.clone(),
            offset: g.offset,
            bytes,
        })
    }

    /// Raw bytes for `name`, which must be exactly its size.
    pub fn encode_bytes(&self, name: &str, bytes: &[u8]) -> Result<Write, GlobalError> {
        let g = self.get(name)?;
        if bytes.len() != g.size as usize {
            return Err(GlobalError::WrongSize {
                name: g.name.clone(),
                c_type: g.type_name.clone(),
                size: g.size,
                given: bytes.len(),
            });
        }
        Ok(Write {
            section: g.section.clone(),
            offset: g.offset,
            bytes: bytes.to_vec(),
        })
    }

    /// Resizes the resizable array `name` to `len` elements: the new
    /// value size of its section's map. Later index checks see the new length.
    pub fn resize(&mut self, name: &str, len: u64) -> Result<Resize, GlobalError> {
        let g = self.get(name)?;
        let GlobalType::Array {
            elem, elem_size, ..
        } = g.ty
        else {
            return Err(not_resizable(g, "it is not an array"));
        };
        if !is_resizable_section(&g.section) {
            return Err(not_resizable(
                g,
                "only the last array of a .data.NAME, .bss.NAME or .rodata.NAME section can be (RESIZABLE_ARRAY)",
            ));
        }
        if !g.resizable {
            return Err(not_resizable(
                g,
                "it is not the last variable of its section",
            ));
        }
        let bad = |why| GlobalError::BadLength {
            name: g.name.clone(),
            len,
            why,
        };
        if len == 0 {
            return Err(bad("an array needs at least one element"));
        }
        let new_len = u32::try_from(len).map_err(|_| bad("more than 2^32 elements"))?;
        let size = new_len
            .checked_mul(elem_size)
            .filter(|s| s.checked_add(g.offset).is_some())
            .ok_or_else(|| bad("the section would exceed 4 GiB"))?;
        let resize = Resize {
            section: g.section.clone(),
            value_size: g.offset + size,
        };
        let idx = self.vars.iter().position(|v| v.name == name).unwrap_or(0);
        let g = &mut self.vars[idx];
        g.size = size;
        g.ty = GlobalType::Array {
            elem,
            elem_size,
            len: new_len,
        };
        Ok(resize)
    }

    /// The scalar global `name` read from its section's bytes.
    pub fn decode(&self, name: &str, section: &[u8]) -> Result<Value, GlobalError> {
        let g = self.get(name)?;
        let GlobalType::Scalar(s) = g.ty else {
            return Err(wrong_type(g, "a scalar read"));
        };
        Ok(decode_scalar(s, slice(g, section, g.offset, g.size)?))
    }

    /// Element `index` of the array `name` read from its section's bytes.
    pub fn decode_element(
        &self,
        name: &str,
        index: u64,
        section: &[u8],
    ) -> Result<Value, GlobalError> {
        let g = self.get(name)?;
        let (elem, elem_size) = array_elem(g, &Value::Int(0))?;
        let at = element_offset(g, index, elem_size)?;
        Ok(decode_scalar(elem, slice(g, section, at, elem_size)?))
    }
}

fn global_type(btf: &Btf<'_>, id: u32) -> GlobalType {
    let Ok(ty) = btf.resolve(id) else {
        return GlobalType::Other;
    };
    if let Some((elem, _, len)) = ty.array() {
        return GlobalType::Array {
            elem: btf.resolve(elem).ok().and_then(|t| scalar(&t)),
            elem_size: btf.size_of(elem).unwrap_or(0),
            len,
        };
    }
    scalar(&ty).map_or(GlobalType::Other, GlobalType::Scalar)
}

/// BTF INT encoding bits (`include/uapi/linux/btf.h`).
const BTF_INT_SIGNED: u32 = 1;
const BTF_INT_BOOL: u32 = 4;

fn scalar(ty: &Type<'_>) -> Option<Scalar> {
    match ty.kind {
        Kind::Int => {
            let enc = ty.extra_word()? >> 24;
            let bytes = ty.size_or_type;
            if enc & BTF_INT_BOOL != 0 {
                Some(Scalar::Bool)
            } else {
                matches!(bytes, 1 | 2 | 4 | 8).then_some(Scalar::Int {
                    bytes,
                    signed: enc & BTF_INT_SIGNED != 0,
                })
            }
        }
        Kind::Enum | Kind::Enum64 => {
            matches!(ty.size_or_type, 1 | 2 | 4 | 8).then_some(Scalar::Int {
                bytes: ty.size_or_type,
                signed: ty.is_signed_enum(),
            })
        }
        _ => None,
    }
}

fn wrong_type(g: &Global, given: &str) -> GlobalError {
    GlobalError::WrongType {
        name: g.name.clone(),
        c_type: g.type_name.clone(),
        given: given.to_string(),
    }
}

fn not_resizable(g: &Global, why: &'static str) -> GlobalError {
    GlobalError::NotResizable {
        name: g.name.clone(),
        c_type: g.type_name.clone(),
        section: g.section.clone(),
        why,
    }
}

fn array_len(g: &Global) -> u32 {
    match g.ty {
        GlobalType::Array { len, .. } => len,
        _ => 0,
    }
}

/// The element type and size of the array `g`, which must hold scalars.
fn array_elem(g: &Global, value: &Value) -> Result<(Scalar, u32), GlobalError> {
    match g.ty {
        GlobalType::Array {
            elem: Some(elem),
            elem_size,
            ..
        } => Ok((elem, elem_size)),
        GlobalType::Array { elem: None, .. } => Err(wrong_type(g, &format!("the scalar {value}"))),
        _ => Err(GlobalError::NotArray {
            name: g.name.clone(),
            c_type: g.type_name.clone(),
        }),
    }
}

fn element_offset(g: &Global, index: u64, elem_size: u32) -> Result<u32, GlobalError> {
    let len = array_len(g);
    if index >= u64::from(len) {
        return Err(GlobalError::IndexOutOfRange {
            name: g.name.clone(),
            index,
            len,
        });
    }
    // index < len and len * elem_size fits (the section's size), so no overflow.
    Ok(g.offset + index as u32 * elem_size)
}

/// The inclusive range a C integer of `bytes` bytes holds.
fn int_range(bytes: u32, signed: bool) -> (i128, i128) {
    let bits = bytes * 8;
    if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    }
}

fn encode_scalar(g: &Global, s: Scalar, value: Value) -> Result<Vec<u8>, GlobalError> {
    match (s, value) {
        (Scalar::Bool, Value::Bool(b)) => Ok(vec![u8::from(b)]),
        (Scalar::Int { bytes, signed }, Value::Int(v)) => {
            let (lo, hi) = int_range(bytes, signed);
            if v < lo || v > hi {
                return Err(GlobalError::DoesNotFit {
                    name: g.name.clone(),
                    c_type: g.type_name.clone(),
                    value: v.to_string(),
                    range: format!("{lo}..={hi}"),
                });
            }
            Ok(v.to_le_bytes()[..bytes as usize].to_vec())
        }
        (Scalar::Bool, Value::Int(_)) => Err(wrong_type(g, &format!("the integer {value}"))),
        (Scalar::Int { .. }, Value::Bool(_)) => Err(wrong_type(g, &format!("the bool {value}"))),
    }
}

fn decode_scalar(s: Scalar, bytes: &[u8]) -> Value {
    match s {
        Scalar::Bool => Value::Bool(bytes.iter().any(|b| *b != 0)),
        Scalar::Int { signed, .. } => {
            let negative = signed && bytes.last().is_some_and(|b| b & 0x80 != 0);
            let mut raw = [if negative { 0xff } else { 0 }; 16];
            raw[..bytes.len()].copy_from_slice(bytes);
            Value::Int(i128::from_le_bytes(raw))
        }
    }
}

fn slice<'s>(g: &Global, section: &'s [u8], at: u32, size: u32) -> Result<&'s [u8], GlobalError> {
    section
        .get(at as usize..at as usize + size as usize)
        .ok_or_else(|| GlobalError::ShortSection {
            name: g.name.clone(),
            section: g.section.clone(),
            have: section.len(),
            offset: at,
            size,
        })
}

/// Up to five names close to `name` (edit distance), else the first ten.
pub(crate) fn near_names<'n>(name: &str, names: impl Iterator<Item = &'n str>) -> String {
    let all: Vec<&str> = names.collect();
    let limit = (name.len() / 3).max(2);
    let mut close: Vec<(usize, &str)> = all
        .iter()
        .map(|n| (edit_distance(name, n), *n))
        .filter(|(d, n)| *d <= limit || n.contains(name) || name.contains(*n))
        .collect();
    close.sort_unstable();
    let picked: Vec<&str> = if close.is_empty() {
        all.into_iter().take(10).collect()
    } else {
        close.into_iter().take(5).map(|(_, n)| n).collect()
    };
    if picked.is_empty() {
        "none".to_string()
    } else {
        picked.join(", ")
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;
