//! Open, shim, load and attach one variant with libbpf, falling back to the
//! next loadable variant when the kernel refuses one.

use std::ffi::CString;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use libbpf_rs::{Link, MapCore, MapFlags, Object, OpenObject};

use super::error::{LoadError, LoadStep, RunError, ShimError};
use super::exit_info::ExitInfo;
use super::watch::{self, Ended};
use super::{Choice, Outcome, RunOptions, RunReport, Skipped, libbpf_log};
use crate::live::Root;
use crate::object::{Requirements, StructOpsMap};
use crate::package::{Package, Scheduler};

/// How long the kernel gets to switch state after attach or detach.
const STATE_TIMEOUT: Duration = Duration::from_secs(10);
/// The kernel limits ops names to 127 characters of `[A-Za-z0-9_.]`.
const OPS_NAME_MAX: usize = 127;

/// Tries each loadable variant in order; runs the first that attaches.
pub(super) fn load_first(
    pkg: &Package,
    sched: &Scheduler,
    choices: &[Choice<'_>],
    params: &[(String, u64)],
    root: &Root,
    opts: &RunOptions,
    start: Instant,
) -> Result<RunReport, RunError> {
    let mut failures: Vec<(String, LoadError)> = Vec::new();
    for choice in choices {
        let bytes = pkg
            .object(choice.variant)
            .ok_or_else(|| RunError::MissingObject {
                variant: choice.variant.name.clone(),
                object: choice.variant.object.clone(),
            })?;
        let ops_name = ops_name(choice.variant, &pkg.manifest.version);
        match attach(bytes, choice, params, root, &ops_name, &sched.name) {
            Ok((object, link)) => {
                let mut skipped = choice.skipped.clone();
                skipped.extend(failures.into_iter().map(|(variant, e)| Skipped {
                    variant,
                    reasons: vec![e.to_string()],
                }));
                return Ok(supervise(
                    &object, link, choice, skipped, &ops_name, root, opts, start, sched,
                ));
            }
            Err(reason) => {
                eprintln!(
                    "scxpack: variant {} failed to load: {reason}",
                    choice.variant.name
                );
                failures.push((choice.variant.name.clone(), reason));
            }
        }
    }
    Err(RunError::NoVariantLoaded {
        scheduler: sched.name.clone(),
        failures,
    })
}

/// `NAME_VERSION` within the kernel's limits (only `[A-Za-z0-9_.]`).
fn ops_name(variant: &crate::package::Variant, version: &str) -> String {
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
fn open(bytes: &[u8], name: &str, kconfig_text: Option<&str>) -> Result<OpenObject, LoadError> {
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

fn attach(
    bytes: &[u8],
    choice: &Choice<'_>,
    params: &[(String, u64)],
    root: &Root,
    ops_name: &str,
    sched_name: &str,
) -> Result<(Object, Link), LoadError> {
    libbpf_log::take();
    let req = &choice.variant.requirements;
    let plan = choice.assessment.plan();
    let text = needs_kconfig(req).then(|| plan.kconfig_text());
    let mut open_obj = open(bytes, &object_name(sched_name), text.as_deref())?;
    apply_rodata(&mut open_obj, req, &plan.enum_slots, params)?;
    let hotplug_seq = root.sched_ext().and_then(|s| s.hotplug_seq).unwrap_or(0);
    for map in &req.struct_ops {
        let flags = plan
            .flags
            .iter()
            .find(|(m, _)| *m == map.name)
            .map(|(_, f)| *f);
        let nulls: Vec<&str> = plan
            .null_callbacks
            .iter()
            .filter(|(m, _)| *m == map.name)
            .map(|(_, member)| member.as_str())
            .collect();
        edit_struct_ops(&mut open_obj, map, flags, &nulls, hotplug_seq, ops_name)?;
    }
    let mut object = open_obj
        .load()
        .map_err(|e| LoadError::libbpf(LoadStep::Load, Some(&e), libbpf_log::take()))?;
    let link = attach_struct_ops(&mut object, req)?;
    if !watch::wait_for(STATE_TIMEOUT, || watch::is_ours(root, ops_name)) {
        let state = root.sched_ext().and_then(|s| s.state).unwrap_or_default();
        return Err(LoadError::ours(
            LoadStep::Enable,
            format!("attached, but sched_ext state is {state:?}, not enabled with {ops_name}"),
        ));
    }
    Ok((object, link))
}

/// Whether the object has `CONFIG_*` externs, so libbpf needs a config text.
fn needs_kconfig(req: &Requirements) -> bool {
    req.kconfig.iter().any(|k| k.name.starts_with("CONFIG_"))
}

/// libbpf's object name: short, and a valid prefix for its map names.
fn object_name(sched: &str) -> String {
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

/// Fills `__SCX_*` enum slots and parameters in `.rodata`.
fn apply_rodata(
    obj: &mut OpenObject,
    req: &Requirements,
    slots: &[(String, u64)],
    params: &[(String, u64)],
) -> Result<(), ShimError> {
    for (name, value) in slots.iter().chain(params) {
        let var = req
            .rodata
            .iter()
            .find(|v| v.name == *name)
            .ok_or_else(|| ShimError::NoVariable(name.clone()))?;
        let mut map = obj
            .maps_mut()
            .find(|m| m.name().to_string_lossy().ends_with(&var.section))
            .ok_or_else(|| ShimError::NoDataMap(var.section.clone()))?;
        let data = map
            .initial_value_mut()
            .ok_or_else(|| ShimError::NoInitialValue(var.section.clone()))?;
        write_le(data, var.offset, var.size, *value)?;
    }
    Ok(())
}

/// Masks flags, NULLs callbacks, sets `hotplug_seq` and the ops name.
fn edit_struct_ops(
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

fn attach_struct_ops(object: &mut Object, req: &Requirements) -> Result<Link, LoadError> {
    let names: Vec<&str> = req.struct_ops.iter().map(|m| m.name.as_str()).collect();
    let mut map = object
        .maps_mut()
        .find(|m| names.contains(&m.name().to_string_lossy().as_ref()))
        .ok_or_else(|| ShimError::NoStructOpsMap(names.join(", ")))?;
    map.attach_struct_ops()
        .map_err(|e| LoadError::libbpf(LoadStep::Attach, Some(&e), libbpf_log::take()))
}

/// Reads the exit record from the object's data map.
fn read_exit_info(object: &Object, req: &Requirements) -> Option<ExitInfo> {
    let slot = req.exit_info.as_ref()?;
    let map = object
        .maps()
        .find(|m| m.name().to_string_lossy().ends_with(&slot.section))?;
    let value = map.lookup(&0u32.to_ne_bytes(), MapFlags::ANY).ok()??;
    ExitInfo::decode(value.get(slot.offset as usize..(slot.offset + slot.size) as usize)?)
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the pieces of one run"
)]
fn supervise(
    object: &Object,
    link: Link,
    choice: &Choice<'_>,
    skipped: Vec<Skipped>,
    ops_name: &str,
    root: &Root,
    opts: &RunOptions,
    start: Instant,
    sched: &Scheduler,
) -> RunReport {
    let enable_ms = start.elapsed().as_millis() as u64;
    eprintln!(
        "scxpack: {} ({}) enabled as {ops_name}",
        sched.name, choice.variant.name
    );
    let ran = Instant::now();
    let ended = watch::watch(root, ops_name, opts.duration);
    let rss_kib = crate::live::rss_kib();
    let ran_secs = ran.elapsed().as_secs_f64();
    drop(link);
    let detached_cleanly = watch::wait_for(STATE_TIMEOUT, || {
        root.sched_ext().and_then(|s| s.state).as_deref() == Some("disabled")
    });
    let exit = read_exit_info(object, &choice.variant.requirements);
    RunReport {
        scheduler: sched.name.clone(),
        variant: choice.variant.name.clone(),
        kernel: root.release(),
        ops_name: ops_name.to_string(),
        skipped,
        shims: choice
            .assessment
            .shims
            .iter()
            .map(ToString::to_string)
            .collect(),
        loaded: true,
        enable_ms,
        enabled_seen: true,
        ran_secs,
        // The kernel may eject the scheduler in the same moment the duration
        // ends: an error recorded in the exit info is an ejection either way.
        outcome: match (ended, exit.as_ref().is_some_and(ExitInfo::is_error)) {
            (Ended::Requested, false) => Outcome::Detached,
            (Ended::Ejected, _) | (Ended::Requested, true) => Outcome::Ejected,
        },
        detached_cleanly,
        exit,
        restarts: 0,
        rss_kib,
    }
}
