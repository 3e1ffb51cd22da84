//! `scxpack manifest init OBJ`: a draft source manifest for a bare object,
//! for a packager to complete and give to `pack`. It lists the object's
//! `.rodata` scalars as parameters (with their C types), proposes resizing
//! each resizable array to the CPU count, and says in `todo` what only the
//! packager can decide (which parameters a C loader sets from the machine,
//! whether the resize count is right, what a Rust user half must fill).
//!
//! Pure: it reads the object's bytes only.

use std::path::Path;

use serde::Serialize;

use super::manifest::Parameter;
use super::setup::{SetupStep, SetupTarget, SetupValue};
use crate::object::{GlobalType, Globals, ObjectError, Requirements};

/// The exit-info dump buffer of `UEI_DEFINE` (resizable, sized by `uei_dump_len`, not by CPUs).
const EXIT_DUMP: &str = "uei_dump";

/// A draft source manifest (the `bpf-objects/NAME/NAME.json` format plus `todo`).
#[derive(Debug, Clone, Serialize)]
pub struct Draft {
    pub schema: u32,
    pub name: String,
    pub description: String,
    pub parameters: Vec<Parameter>,
    pub setup: Vec<SetupStep>,
    pub variants: Vec<DraftVariant>,
    /// What the packager has to decide; `pack` ignores it.
    pub todo: Vec<String>,
}

/// The one variant of a draft.
#[derive(Debug, Clone, Serialize)]
pub struct DraftVariant {
    pub name: String,
    pub object: String,
}

/// The draft for the object `bytes`, named after `path`; `object` is how
/// the manifest will refer to it (relative to where it is written).
pub fn draft(path: &Path, bytes: &[u8], object: &str) -> Result<Draft, ObjectError> {
    let req = Requirements::from_bytes(path, bytes)?;
    let globals = Globals::from_bytes(path, bytes)?;
    let name = scheduler_name(path);
    let mut todo = vec![format!(
        "describe {name}: what it does, and each parameter (or delete this list)"
    )];
    let mut parameters = Vec::new();
    for g in globals
        .vars
        .iter()
        .filter(|g| g.section.starts_with(".rodata"))
    {
        if g.name.starts_with(crate::object::SCX_ENUM_SLOT_PREFIX) {
            continue;
        }
        if g.resizable {
            continue; // listed with the resizable arrays below
        }
        if let GlobalType::Scalar(_) = g.ty {
            parameters.push(Parameter {
                name: g.name.clone(),
                type_name: plain_type(&g.type_name),
                default: serde_json::Value::Null,
                description: format!("TODO ({})", g.type_name),
                unit: None,
            });
            todo.push(format!(
                "{} ({}): a parameter the administrator sets, or a value its C loader computes: then move it to setup, e.g. {{\"set\": \"{}\", \"to\": \"nr_cpu_ids\"}} (or an SCX_* enumerator, or a literal)",
                g.name, g.type_name, g.name
            ));
        } else {
            todo.push(format!(
                "{} ({} in {}): not a scalar; setup cannot fill it, a Rust user half can (OpenScheduler::set_array / set_bytes)",
                g.name, g.type_name, g.section
            ));
        }
    }
    let mut setup = Vec::new();
    for g in globals.vars.iter().filter(|g| g.resizable) {
        if g.name == EXIT_DUMP {
            continue;
        }
        setup.push(SetupStep {
            target: SetupTarget::Resize(g.name.clone()),
            to: SetupValue::Source("nr_cpu_ids".to_string()),
        });
        todo.push(format!(
            "{} ({} in {}): resizable; check the count it is resized to (setup), and fill it from a Rust user half if the C loader does",
            g.name, g.type_name, g.section
        ));
    }
    for m in req.maps.iter().filter(|m| m.max_entries == Some(0)) {
        todo.push(format!(
            "map {} has max_entries 0: its C loader sizes it; add {{\"max_entries\": \"{}\", \"to\": ...}} to setup",
            m.name, m.name
        ));
    }
    Ok(Draft {
        schema: 1,
        description: format!("TODO: what {name} does"),
        parameters,
        setup,
        variants: vec![DraftVariant {
            name: "default".to_string(),
            object: object.to_string(),
        }],
        todo,
        name,
    })
}

/// `scx_central.bpf.o` → `scx_central`.
fn scheduler_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let stem = file
        .strip_suffix(".bpf.o")
        .or_else(|| file.strip_suffix(".o"))
        .unwrap_or(&file);
    let name: String = stem
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~'))
        .take(64)
        .collect();
    if name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        name
    } else {
        format!("sched{name}").chars().take(64).collect()
    }
}

/// `const volatile u64` → `u64`.
fn plain_type(c: &str) -> String {
    c.split_whitespace()
        .filter(|w| !matches!(*w, "const" | "volatile"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_the_globals_fixture() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/objects/globals.bpf.o");
        let bytes = std::fs::read(&path).unwrap();
        let d = draft(&path, &bytes, "globals.bpf.o").unwrap();
        assert_eq!(d.name, "globals");
        let params: Vec<(&str, &str)> = d
            .parameters
            .iter()
            .map(|p| (p.name.as_str(), p.type_name.as_str()))
            .collect();
        assert_eq!(
            params,
            [
                ("nr_cpu_ids", "u32"),
                ("central_cpu", "s32"),
                ("slice_ns", "u64"),
                ("verbose", "bool"),
                ("mode", "u8")
            ]
        );
        assert_eq!(
            d.setup,
            [SetupStep {
                target: SetupTarget::Resize("cpu_started_at".into()),
                to: SetupValue::Source("nr_cpu_ids".into()),
            }]
        );
        assert!(
            d.todo.iter().any(|t| t.starts_with("pair_cpu (")),
            "{:?}",
            d.todo
        );
    }

    #[test]
    fn names_are_usable() {
        assert_eq!(
            scheduler_name(Path::new("/x/scx_central.bpf.o")),
            "scx_central"
        );
        assert_eq!(scheduler_name(Path::new("_odd.o")), "sched_odd");
    }
}
