//! The libbpf mechanics behind the stages of [`super::stages`]: opening an
//! object from memory with our kconfig text, writing `.rodata` values and
//! struct_ops fields into the opened maps, attaching the struct_ops map, and
//! reading the exit record back.

use std::ffi::CString;
use std::ptr::NonNull;

use libbpf_rs::{Link, MapCore, MapFlags, Object, OpenObject};

use super::error::{LoadError, LoadStep, ShimError};
use super::exit_info::ExitInfo;
use super::libbpf_log;
use crate::object::{Requirements, StructOpsMap};

/// The kernel limits ops names to 127 characters of `[A-Za-z0-9_.]`.
const OPS_NAME_MAX: usize = 127;

/// `NAME_VERSION` within the kernel's limits (only `[A-Za-z0-9_.]`).
pub(super) fn ops_name(variant: &crate::package::Variant, version: &str) -> String {
    let base = variant
        .requirements
        .struct_ops
        .first()
        .and_then(|m| m.ops_name.clone())
        .unwrap_or_else(|| "scxpack".to_string());
    let full = format!("{base}_{version}");
    full.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(OPS_NAME_MAX)
        .collect()
}

/// Opens with our kconfig text and object name, without libbpf's builder
/// (it has no setter for the `kconfig` open option).
pub(super) fn open(
    bytes: &[u8],
    name: &str,
    kconfig_text: Option<&str>,
) -> Result<OpenObject, LoadError> {
    let name = CString::new(name).map_err(|_| ShimError::Nul(name.to_string()))?;
    let kconfig = kconfig_text
        .map(CString::new)
        .transpose()
        .map_err(|_| ShimError::Nul("the kernel config text".to_string()))?;
    let opts = libbpf_rs::libbpf_sys::bpf_object_open_opts {
        sz: std::mem::size_of::<libbpf_rs::libbpf_sys::bpf_object_open_opts>() as _,
        object_name: name.as_ptr(),
        kconfig: kconfig.as_ref().map_or(std::ptr::null(), |k| k.as_ptr()),
        ..Default::default()
    };
    // SAFETY: `bytes`, `opts` and the strings it points to outlive the call;
    // libbpf copies what it keeps.
    let raw = unsafe {
        libbpf_rs::libbpf_sys::bpf_object__open_mem(
            bytes.as_ptr().cast(),
            bytes.len() as _,
            &raw const opts,
        )
    };
    let ptr = NonNull::new(raw).filter(|_| {
        // SAFETY: libbpf_get_error only inspects the pointer value.
        unsafe { libbpf_rs::libbpf_sys::libbpf_get_error(raw.cast()) == 0 }
    });
    match ptr {
        // SAFETY: a freshly opened, not yet loaded object, owned from here on.
        Some(p) => Ok(unsafe { OpenObject::from_ptr(p) }),
        None => Err(LoadError::libbpf(LoadStep::Open, None, libbpf_log::take())),
    }
}

/// Whether the object has `CONFIG_*` externs, so libbpf needs a config text.
pub(super) fn needs_kconfig(req: &Requirements) -> bool {
    req.kconfig.iter().any(|k| k.name.starts_with("CONFIG_"))
}

/// libbpf's object name: short, and a valid prefix for its map names.
pub(super) fn object_name(sched: &str) -> String {
    sched
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
}

fn write_le(data: &mut [u8], offset: u32, size: u32, value: u64) -> Result<(), ShimError> {
    let (off, len) = (offset as usize, (size as usize).min(8));
    let slot = data
        .get_mut(off..off + len)
        .ok_or(ShimError::OutOfBounds { offset, size })?;
    slot.copy_from_slice(&value.to_le_bytes()[..len]);
    Ok(())
}

/// Writes `value` (little-endian, the variable's size) into the `.rodata`
/// variable `name` of the opened object.
pub(super) fn set_rodata(
    obj: &mut OpenObject,
    req: &Requirements,
    name: &str,
    value: u64,
) -> Result<(), ShimError> {
    let var = req
        .rodata
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| ShimError::NoVariable(name.to_string()))?;
    let mut map = obj
        .maps_mut()
        .find(|m| m.name().to_string_lossy().ends_with(&var.section))
        .ok_or_else(|| ShimError::NoDataMap(var.section.clone()))?;
    let data = map
        .initial_value_mut()
        .ok_or_else(|| ShimError::NoInitialValue(var.section.clone()))?;
    write_le(data, var.offset, var.size, value)
}

/// Masks flags, NULLs callbacks, sets `hotplug_seq` and the ops name.
pub(super) fn edit_struct_ops(
    obj: &mut OpenObject,
    map: &StructOpsMap,
    flags: Option<u64>,
    nulls: &[&str],
    hotplug_seq: u64,
    ops_name: &str,
) -> Result<(), ShimError> {
    {
        let mut m = obj
            .maps_mut()
            .find(|m| m.name().to_string_lossy() == map.name)
            .ok_or_else(|| ShimError::NoStructOpsMap(map.name.clone()))?;
        let data = m
            .initial_value_mut()
            .ok_or_else(|| ShimError::NoInitialValue(map.name.clone()))?;
        for (member, value) in [("flags", flags), ("hotplug_seq", Some(hotplug_seq))] {
            if let (Some(slot), Some(v)) = (map.slot(member), value) {
                write_le(data, slot.offset, slot.size, v)?;
            }
        }
        for member in nulls {
            let slot = map.slot(member).ok_or_else(|| ShimError::NoMember {
                map: map.name.clone(),
                member: (*member).to_string(),
            })?;
            write_le(data, slot.offset, slot.size, 0)?;
        }
        if let Some(slot) = map.slot("name") {
            let field = data
                .get_mut(slot.offset as usize..(slot.offset + slot.size) as usize)
                .ok_or(ShimError::OutOfBounds {
                    offset: slot.offset,
                    size: slot.size,
                })?;
            field.fill(0);
            let n = ops_name.len().min(field.len().saturating_sub(1));
            field[..n].copy_from_slice(&ops_name.as_bytes()[..n]);
        }
    }
    for member in nulls {
        if let Some(prog) = map.callbacks.get(*member) {
            if let Some(mut p) = obj
                .progs_mut()
                .find(|p| p.name().to_string_lossy() == *prog)
            {
                p.set_autoload(false);
            }
        }
    }
    Ok(())
}

pub(super) fn attach_struct_ops(
    object: &mut Object,
    req: &Requirements,
) -> Result<Link, LoadError> {
    let names: Vec<&str> = req.struct_ops.iter().map(|m| m.name.as_str()).collect();
    let mut map = object
        .maps_mut()
        .find(|m| names.contains(&m.name().to_string_lossy().as_ref()))
        .ok_or_else(|| ShimError::NoStructOpsMap(names.join(", ")))?;
    map.attach_struct_ops()
        .map_err(|e| LoadError::libbpf(LoadStep::Attach, Some(&e), libbpf_log::take()))
}

/// Reads the exit record from the object's data map.
pub(super) fn read_exit_info(object: &Object, req: &Requirements) -> Option<ExitInfo> {
    let slot = req.exit_info.as_ref()?;
    let map = object
        .maps()
        .find(|m| m.name().to_string_lossy().ends_with(&slot.section))?;
    let value = map.lookup(&0u32.to_ne_bytes(), MapFlags::ANY).ok()??;
    ExitInfo::decode(value.get(slot.offset as usize..(slot.offset + slot.size) as usize)?)
}
