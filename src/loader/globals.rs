//! Typed globals and maps by name on the loader's stages: values checked
//! by [`crate::object::Globals`] against the object's own BTF are copied
//! into libbpf's data maps before load; sections are resized and map sizes
//! set through libbpf's open-phase setters; once loaded, globals are read
//! back from the kernel's copy and maps are reached by name.
//!
//! Every name, type, size and range is checked before libbpf is asked for
//! anything, so a wrong setup is a [`SetupError`] naming the variable, never
//! a libbpf failure at load.

use std::ffi::CString;
use std::ptr::NonNull;

use libbpf_rs::{AsRawLibbpf, Map, MapCore, MapFlags, Object, OpenMapMut, OpenObject};

use super::error::{LoadError, LoadStep};
use crate::object::{GlobalError, Globals, ObjectError, Resize, Write, near_names};

/// Why a setup step (a global, a resize, a map size, a map by name) failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Global(#[from] GlobalError),
    #[error("cannot read the object's globals: {0}")]
    Object(#[from] ObjectError),
    #[error("the object has no map named {name} (near: {near})")]
    NoMap { name: String, near: String },
    #[error("libbpf has no map for section {section} (of {name}): the object keeps no data there")]
    NoDataMap { section: String, name: String },
    #[error("max_entries of map {map} cannot be 0")]
    ZeroEntries { map: String },
    #[error("libbpf refused to {what}: {detail}")]
    Libbpf { what: String, detail: String },
    #[error("cannot read {section} back from the kernel: {detail}")]
    Read { section: String, detail: String },
    #[error("setup {step}: {why}")]
    Unresolved { step: String, why: String },
}

impl From<SetupError> for LoadError {
    fn from(e: SetupError) -> Self {
        LoadError::ours(LoadStep::Shim, e)
    }
}

/// The raw libbpf map named `name` (a map's name, or a section's such as
/// `.data.cpu_ctxs`, which libbpf matches on the full ELF name).
fn find_raw(object: NonNull<libbpf_rs::libbpf_sys::bpf_object>, name: &str) -> Option<usize> {
    let cname = CString::new(name).ok()?;
    // SAFETY: `object` is a live bpf_object; libbpf only reads the name.
    let raw = unsafe {
        libbpf_rs::libbpf_sys::bpf_object__find_map_by_name(object.as_ptr(), cname.as_ptr())
    };
    (!raw.is_null()).then_some(raw as usize)
}

/// The open map `name` of `object`.
fn open_map<'o>(object: &'o mut OpenObject, name: &str) -> Result<OpenMapMut<'o>, SetupError> {
    let near = || near_names(name, object_map_names(object).iter().map(String::as_str));
    let Some(raw) = find_raw(object.as_libbpf_object(), name) else {
        return Err(SetupError::NoMap {
            name: name.to_string(),
            near: near(),
        });
    };
    let found = object
        .maps_mut()
        .find(|m| m.as_libbpf_object().as_ptr() as usize == raw);
    found.ok_or_else(|| SetupError::NoMap {
        name: name.to_string(),
        near: String::new(),
    })
}

fn object_map_names(object: &OpenObject) -> Vec<String> {
    object
        .maps()
        .map(|m| m.name().to_string_lossy().into_owned())
        .collect()
}

/// The open data map of a global's section.
fn section_map<'o>(
    object: &'o mut OpenObject,
    section: &str,
    global: &str,
) -> Result<OpenMapMut<'o>, SetupError> {
    open_map(object, section).map_err(|_| SetupError::NoDataMap {
        section: section.to_string(),
        name: global.to_string(),
    })
}

/// Copies a checked [`Write`] into the initial value of its section's map.
pub(super) fn write(object: &mut OpenObject, w: &Write, global: &str) -> Result<(), SetupError> {
    let mut map = section_map(object, &w.section, global)?;
    let have = map.initial_value_mut().map_or(0, |d| d.len());
    let data = map.initial_value_mut().unwrap_or_default();
    let slot = data
        .get_mut(w.offset as usize..w.offset as usize + w.bytes.len())
        .ok_or_else(|| GlobalError::ShortSection {
            name: global.to_string(),
            section: w.section.clone(),
            have,
            offset: w.offset,
            size: w.bytes.len() as u32,
        })?;
    slot.copy_from_slice(&w.bytes);
    Ok(())
}

/// The initial value of a section's map, before load.
pub(super) fn initial(
    object: &mut OpenObject,
    section: &str,
    global: &str,
) -> Result<Vec<u8>, SetupError> {
    let map = section_map(object, section, global)?;
    Ok(map.initial_value().unwrap_or_default().to_vec())
}

/// Gives a section's map its new value size (libbpf resizes the array in its BTF).
pub(super) fn resize(object: &mut OpenObject, r: &Resize, global: &str) -> Result<(), SetupError> {
    let mut map = section_map(object, &r.section, global)?;
    map.set_value_size(r.value_size)
        .map_err(|e| SetupError::Libbpf {
            what: format!("resize {} to {} bytes", r.section, r.value_size),
            detail: e.to_string(),
        })
}

/// Sets `max_entries` of the map `name`.
pub(super) fn set_max_entries(
    object: &mut OpenObject,
    name: &str,
    entries: u32,
) -> Result<(), SetupError> {
    if entries == 0 {
        return Err(SetupError::ZeroEntries {
            map: name.to_string(),
        });
    }
    open_map(object, name)?
        .set_max_entries(entries)
        .map_err(|e| SetupError::Libbpf {
            what: format!("set max_entries of {name} to {entries}"),
            detail: e.to_string(),
        })
}

/// The loaded map `name` of `object`.
pub(super) fn map<'o>(object: &'o Object, name: &str) -> Result<Map<'o>, SetupError> {
    let raw = find_raw(object.as_libbpf_object(), name);
    object
        .maps()
        .find(|m| Some(m.as_libbpf_object().as_ptr() as usize) == raw)
        .ok_or_else(|| SetupError::NoMap {
            name: name.to_string(),
            near: near_names(
                name,
                object
                    .maps()
                    .map(|m| m.name().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
            ),
        })
}

/// The kernel's copy of a loaded section (one lookup of key 0).
pub(super) fn section(object: &Object, section: &str, global: &str) -> Result<Vec<u8>, SetupError> {
    let m = map(object, section).map_err(|_| SetupError::NoDataMap {
        section: section.to_string(),
        name: global.to_string(),
    })?;
    let read = |detail: String| SetupError::Read {
        section: section.to_string(),
        detail,
    };
    m.lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| read(e.to_string()))?
        .ok_or_else(|| read("no value at key 0".to_string()))
}

/// The object's typed globals, read from its BTF the first time something
/// asks for them: a scheduler started without parameters or setup steps
/// never pays for that second pass over the object (under emulation, a
/// cold start's ~50 ms).
#[derive(Debug)]
pub(super) struct ObjectGlobals<'p> {
    object: &'p str,
    bytes: &'p [u8],
    read: std::cell::OnceCell<Globals>,
}

impl<'p> ObjectGlobals<'p> {
    /// The globals of `bytes` (the object named `object`), not read yet.
    pub(super) fn new(object: &'p str, bytes: &'p [u8]) -> Self {
        ObjectGlobals {
            object,
            bytes,
            read: std::cell::OnceCell::new(),
        }
    }

    /// The globals, read now when this is the first call.
    pub(super) fn get(&self) -> Result<&Globals, ObjectError> {
        if let Some(g) = self.read.get() {
            return Ok(g);
        }
        let g = Globals::from_bytes(std::path::Path::new(self.object), self.bytes)?;
        Ok(self.read.get_or_init(|| g))
    }

    /// Replaces the globals (after a resize changed their sizes).
    pub(super) fn replace(&mut self, globals: Globals) {
        self.read = std::cell::OnceCell::from(globals);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::ShimError;

    /// Globals that cannot be read keep their typed cause (which object,
    /// what damage) up to the shim error a caller sees.
    #[test]
    fn unreadable_globals_keep_their_cause() {
        let globals = ObjectGlobals::new("broken.bpf.o", b"not an object");
        let err = ShimError::Globals(globals.get().unwrap_err());
        assert!(
            matches!(err, ShimError::Globals(ObjectError::NotElf { .. })),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with("cannot read the object's globals: broken.bpf.o: not an ELF file"),
            "{text}"
        );
    }
}
