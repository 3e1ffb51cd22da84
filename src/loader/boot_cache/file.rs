//! The boot cache's file: line records ([`crate::records`]) read by hand.
//!
//! ```text
//! scxpack-boot-cache 3
//! kernel RELEASE SCHED_EXT
//! verdict KEY
//! shim null_callback MAP MEMBER                 (of the verdict above)
//! shim mask_flags MAP BITS FLAGS_AFTER NAME...
//! shim fill_enum_slot SLOT ENUMERATOR VALUE PRESENT
//! shim supply_kconfig NAME VALUE ABSENT
//! user_half MAP...
//! note TEXT
//! refused REASONS                               (JSON, escaped)
//! object SHA256 LAYOUT                          (escaped loader layout)
//! end
//! ```
//!
//! A file without its one `kernel` line, or without its `end` line (cut
//! short), is no file.
//!
//! What a start that loads needs (shims, notes, dependencies) decodes
//! without a generic decoder. A refusal's reasons, which have many kinds
//! and are read only to explain a refusal, stay JSON text until a lookup
//! asks for that verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::matching::{Assessment, Dependency, Shim};
use crate::records::{esc, flag, maybe, opt, split, text, texts};

const HEADER: &str = "scxpack-boot-cache 3";

/// Everything the file holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Entry {
    pub release: Option<String>,
    pub sched_ext: bool,
    pub verdicts: BTreeMap<String, Stored>,
    /// The loader's part of a bare object's requirements
    /// ([`crate::object::Requirements::loader_layout`]) by the object's
    /// sha256.
    pub objects: BTreeMap<String, String>,
}

/// One assessment as the file holds it: its reasons as JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Stored {
    shims: Vec<Shim>,
    notes: Vec<String>,
    depends: Vec<Dependency>,
    reasons: Option<String>,
}

impl Stored {
    /// `None` only when the reasons cannot be written as JSON.
    pub(super) fn new(a: Assessment) -> Option<Self> {
        let reasons = if a.reasons.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&a.reasons).ok()?)
        };
        Some(Stored {
            shims: a.shims,
            notes: a.notes,
            depends: a.depends,
            reasons,
        })
    }

    /// The assessment; `None` when its reasons are not valid JSON.
    pub(super) fn assessment(&self) -> Option<Assessment> {
        let reasons = match &self.reasons {
            Some(json) => serde_json::from_str(json).ok()?,
            None => Vec::new(),
        };
        Some(Assessment {
            shims: self.shims.clone(),
            reasons,
            notes: self.notes.clone(),
            depends: self.depends.clone(),
        })
    }
}

impl Entry {
    /// The file's text.
    pub(super) fn write(&self) -> String {
        let mut out = format!("{HEADER}\n");
        let release = opt(self.release.as_deref().map(esc));
        let _ = writeln!(out, "kernel {release} {}", u8::from(self.sched_ext));
        for (key, v) in &self.verdicts {
            let _ = writeln!(out, "verdict {}", esc(key));
            write_stored(&mut out, v);
        }
        for (sha, layout) in &self.objects {
            let _ = writeln!(out, "object {} {}", esc(sha), esc(layout));
        }
        out.push_str("end\n");
        out
    }

    /// The entry in `body`; `None` when it is not a whole, well-formed
    /// file of this format.
    pub(super) fn read(body: &str) -> Option<Entry> {
        let mut lines = body.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let mut entry = Entry::default();
        let mut current: Option<(String, Stored)> = None;
        let (mut ended, mut kernel) = (false, false);
        for line in lines {
            if ended {
                return None;
            }
            let (kind, f) = split(line);
            match (kind, f.as_slice()) {
                ("end", []) => ended = true,
                ("verdict", [key]) => {
                    if let Some((k, v)) = current.replace((text(key)?, Stored::default())) {
                        entry.verdicts.insert(k, v);
                    }
                }
                ("kernel", [release, sched_ext]) if !kernel => {
                    kernel = true;
                    entry.release = maybe(release).ok()?;
                    entry.sched_ext = flag(sched_ext)?;
                }
                ("object", [sha, layout]) => {
                    entry.objects.insert(text(sha)?, text(layout)?);
                }
                _ => read_part(&mut current.as_mut()?.1, kind, &f)?,
            }
        }
        if let Some((k, v)) = current {
            entry.verdicts.insert(k, v);
        }
        (ended && kernel).then_some(entry)
    }
}

fn write_stored(out: &mut String, v: &Stored) {
    for s in &v.shims {
        out.push_str("shim ");
        write_shim(out, s);
        out.push('\n');
    }
    for d in &v.depends {
        match d {
            Dependency::UserHalf { maps } => {
                out.push_str("user_half");
                push_list(out, maps);
                out.push('\n');
            }
        }
    }
    for n in &v.notes {
        let _ = writeln!(out, "note {}", esc(n));
    }
    if let Some(json) = &v.reasons {
        let _ = writeln!(out, "refused {}", esc(json));
    }
}

fn write_shim(out: &mut String, s: &Shim) {
    let _ = match s {
        Shim::NullCallback { map, member } => {
            write!(out, "null_callback {} {}", esc(map), esc(member))
        }
        Shim::MaskFlags {
            map,
            bits,
            names,
            flags_after,
        } => {
            let _ = write!(out, "mask_flags {} {bits} {flags_after}", esc(map));
            push_list(out, names);
            Ok(())
        }
        Shim::FillEnumSlot {
            slot,
            enumerator,
            value,
            present,
        } => write!(
            out,
            "fill_enum_slot {} {} {value} {}",
            esc(slot),
            esc(enumerator),
            u8::from(*present)
        ),
        Shim::SupplyKconfig {
            name,
            value,
            absent,
        } => write!(
            out,
            "supply_kconfig {} {} {}",
            esc(name),
            esc(value),
            u8::from(*absent)
        ),
    };
}

/// ` A B C`: each item escaped, after a space.
fn push_list(out: &mut String, items: &[String]) {
    for i in items {
        out.push(' ');
        out.push_str(&esc(i));
    }
}

/// Adds one record of a verdict to `v`; `None` when it is malformed.
fn read_part(v: &mut Stored, kind: &str, f: &[&str]) -> Option<()> {
    match (kind, f) {
        ("shim", [shim, rest @ ..]) => v.shims.push(read_shim(shim, rest)?),
        ("user_half", maps) => v.depends.push(Dependency::UserHalf { maps: texts(maps)? }),
        ("note", [note]) => v.notes.push(text(note)?),
        ("refused", [json]) if v.reasons.is_none() => v.reasons = Some(text(json)?),
        _ => return None,
    }
    Some(())
}

fn read_shim(kind: &str, f: &[&str]) -> Option<Shim> {
    Some(match (kind, f) {
        ("null_callback", [map, member]) => Shim::NullCallback {
            map: text(map)?,
            member: text(member)?,
        },
        ("mask_flags", [map, bits, flags_after, names @ ..]) => Shim::MaskFlags {
            map: text(map)?,
            bits: bits.parse().ok()?,
            names: texts(names)?,
            flags_after: flags_after.parse().ok()?,
        },
        ("fill_enum_slot", [slot, enumerator, value, present]) => Shim::FillEnumSlot {
            slot: text(slot)?,
            enumerator: text(enumerator)?,
            value: value.parse().ok()?,
            present: flag(present)?,
        },
        ("supply_kconfig", [name, value, absent]) => Shim::SupplyKconfig {
            name: text(name)?,
            value: text(value)?,
            absent: flag(absent)?,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
