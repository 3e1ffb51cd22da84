//! The loader's part of an object's [`Requirements`] as a few lines of
//! text: its struct_ops maps with their member slots and callbacks, its
//! `.rodata` variables, its kconfig externs and its exit-record slot.
//!
//! `run` keeps this for a bare object in the boot's cache, so a restart
//! in the same boot reads these lines instead of the object's ELF and BTF,
//! and decodes them without a generic decoder: under emulation, the first
//! run of either costs a start a quarter of a second.
//!
//! One record per line in the escaped fields of [`crate::records`].
//!
//! ```text
//! scxpack-layout 1
//! struct_ops NAME TYPE KERNEL_TYPE LINK SIZE FLAGS OPS_NAME
//! member NAME OFFSET SIZE        (of the struct_ops line above)
//! set MEMBER
//! callback MEMBER PROGRAM
//! rodata NAME SECTION OFFSET SIZE TYPE ENUM_SLOT DEFAULT REFERENCED
//! kconfig NAME WEAK TYPE
//! exit NAME SECTION OFFSET SIZE
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::records::{esc, flag, maybe, opt, split, text};

use super::{
    ArenaUse, GlobalSlot, KconfigExtern, MemberSlot, Requirements, RodataVar, StructOpsMap,
};

const HEADER: &str = "scxpack-layout 1";

impl Requirements {
    /// The loader's part of these requirements as text
    /// ([`Requirements::from_loader_layout`] reads it back).
    #[must_use]
    pub fn loader_layout(&self) -> String {
        let mut out = format!("{HEADER}\n");
        for m in &self.struct_ops {
            write_struct_ops(&mut out, m);
        }
        for v in &self.rodata {
            let _ = writeln!(
                out,
                "rodata {} {} {} {} {} {} {} {}",
                esc(&v.name),
                esc(&v.section),
                v.offset,
                v.size,
                esc(&v.type_name),
                opt(v.enum_slot.as_deref().map(esc)),
                opt(v.default.map(|d| d.to_string())),
                u8::from(v.referenced),
            );
        }
        for k in &self.kconfig {
            let (name, ty) = (esc(&k.name), esc(&k.type_name));
            let _ = writeln!(out, "kconfig {name} {} {ty}", u8::from(k.weak));
        }
        if let Some(e) = &self.exit_info {
            let (name, section) = (esc(&e.name), esc(&e.section));
            let _ = writeln!(out, "exit {name} {section} {} {}", e.offset, e.size);
        }
        out
    }

    /// Requirements holding only the loader's part, read from
    /// [`Requirements::loader_layout`]'s text: the struct_ops maps,
    /// `.rodata` variables, kconfig externs and exit-record slot. What
    /// matching needs (kfuncs, CO-RE relocations, maps, programs, helpers,
    /// arena use) is empty, so these can start an object whose verdict is
    /// already known, and can never judge one. `None` when the text is not
    /// such a layout.
    #[must_use]
    pub fn from_loader_layout(text: &str) -> Option<Requirements> {
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let mut req = Requirements {
            license: None,
            struct_ops: Vec::new(),
            kfuncs: Vec::new(),
            kconfig: Vec::new(),
            core_relocs: Vec::new(),
            rodata: Vec::new(),
            maps: Vec::new(),
            programs: Vec::new(),
            helpers: Vec::new(),
            exit_info: None,
            arena: ArenaUse::default(),
            compiler: None,
            arch: None,
        };
        for line in lines {
            read_line(&mut req, line)?;
        }
        Some(req)
    }
}

fn write_struct_ops(out: &mut String, m: &StructOpsMap) {
    let _ = writeln!(
        out,
        "struct_ops {} {} {} {} {} {} {}",
        esc(&m.name),
        esc(&m.type_name),
        esc(&m.kernel_type),
        u8::from(m.link),
        m.size,
        opt(m.flags.map(|f| f.to_string())),
        opt(m.ops_name.as_deref().map(esc)),
    );
    for s in &m.layout {
        let _ = writeln!(out, "member {} {} {}", esc(&s.name), s.offset, s.size);
    }
    for member in &m.members_set {
        let _ = writeln!(out, "set {}", esc(member));
    }
    for (member, prog) in &m.callbacks {
        let _ = writeln!(out, "callback {} {}", esc(member), esc(prog));
    }
}

/// Adds one line's record to `req`; `None` when it is malformed.
fn read_line(req: &mut Requirements, record: &str) -> Option<()> {
    let (kind, f) = split(record);
    match (kind, f.as_slice()) {
        ("struct_ops", [name, ty, kernel_type, link, size, flags, ops_name]) => {
            req.struct_ops.push(StructOpsMap {
                name: text(name)?,
                type_name: text(ty)?,
                kernel_type: text(kernel_type)?,
                link: flag(link)?,
                members_set: Vec::new(),
                callbacks: BTreeMap::new(),
                flags: maybe(flags).ok()?.map(|f| f.parse()).transpose().ok()?,
                ops_name: maybe(ops_name).ok()?,
                size: size.parse().ok()?,
                layout: Vec::new(),
            });
        }
        ("member", [name, offset, size]) => {
            req.struct_ops.last_mut()?.layout.push(MemberSlot {
                name: text(name)?,
                offset: offset.parse().ok()?,
                size: size.parse().ok()?,
            });
        }
        ("set", [member]) => req.struct_ops.last_mut()?.members_set.push(text(member)?),
        ("callback", [member, prog]) => {
            let (member, prog) = (text(member)?, text(prog)?);
            req.struct_ops.last_mut()?.callbacks.insert(member, prog);
        }
        (
            "rodata",
            [
                name,
                section,
                offset,
                size,
                ty,
                enum_slot,
                default,
                referenced,
            ],
        ) => {
            req.rodata.push(RodataVar {
                name: text(name)?,
                section: text(section)?,
                offset: offset.parse().ok()?,
                size: size.parse().ok()?,
                type_name: text(ty)?,
                enum_slot: maybe(enum_slot).ok()?,
                default: maybe(default).ok()?.map(|d| d.parse()).transpose().ok()?,
                referenced: flag(referenced)?,
            });
        }
        ("kconfig", [name, weak, ty]) => req.kconfig.push(KconfigExtern {
            name: text(name)?,
            weak: flag(weak)?,
            type_name: text(ty)?,
        }),
        ("exit", [name, section, offset, size]) => {
            req.exit_info = Some(GlobalSlot {
                name: text(name)?,
                section: text(section)?,
                offset: offset.parse().ok()?,
                size: size.parse().ok()?,
            });
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests;
