//! Applies a manifest's declarative setup ([`crate::package::setup`]) to an
//! opened scheduler through the same typed setters a Rust user half calls:
//! CPU counts from [`System`], `SCX_*` enumerators from the running kernel's
//! BTF (read only when a step names one).

use super::globals::SetupError;
use super::stages::OpenScheduler;
use crate::btf::Btf;
use crate::kernel::{EnumValue, KernelFacts};
use crate::live::System;
use crate::object::Value;
use crate::package::setup::{Machine, Resolved, SetupStep, SetupTarget, SetupValue, resolve};

/// The machine values a setup may name, read from `root`.
#[must_use]
pub fn machine(root: &System) -> Machine {
    Machine {
        possible_cpus: root.possible_cpus(),
        online_cpus: root.online_cpus(),
    }
}

/// The running kernel's `SCX_*` enumerators, when some step names one.
fn kernel_enums(steps: &[SetupStep], root: &System) -> Option<KernelFacts> {
    let named = steps
        .iter()
        .any(|s| matches!(&s.to, SetupValue::Source(n) if n.starts_with("SCX_")));
    if !named {
        return None;
    }
    let live = root.kernel().ok()?;
    let btf = Btf::parse(&live.btf).ok()?;
    Some(KernelFacts::from_btf(&btf, live.release))
}

/// Applies `steps` in order; the first that cannot be resolved or applied
/// stops the setup with a typed error naming it.
pub fn apply(
    open: &mut OpenScheduler<'_>,
    steps: &[SetupStep],
    root: &System,
) -> Result<(), SetupError> {
    let machine = machine(root);
    let facts = kernel_enums(steps, root);
    let enums = |name: &str| -> Option<EnumValue> { facts.as_ref()?.enum_value(name) };
    for step in steps {
        let value = match resolve(&step.to, &machine, enums) {
            Resolved::Value(v) => v,
            Resolved::AtRunTime(which) => {
                return Err(SetupError::Unresolved {
                    step: step.to_string(),
                    why: format!("this machine does not tell its {which:?} CPU count in /sys"),
                });
            }
            Resolved::Refused(why) => {
                return Err(SetupError::Unresolved {
                    step: step.to_string(),
                    why,
                });
            }
        };
        apply_one(open, step, value)?;
    }
    Ok(())
}

fn apply_one(
    open: &mut OpenScheduler<'_>,
    step: &SetupStep,
    value: Value,
) -> Result<(), SetupError> {
    let count = || match value {
        Value::Int(n) if n > 0 => Ok(n),
        _ => Err(SetupError::Unresolved {
            step: step.to_string(),
            why: format!("{value} is not a count"),
        }),
    };
    match &step.target {
        SetupTarget::Set(name) => open.set(name, value),
        SetupTarget::Resize(name) => {
            let n = u64::try_from(count()?).unwrap_or(u64::MAX);
            open.resize_array(name, n)
        }
        SetupTarget::MaxEntries(name) => {
            let n = u32::try_from(count()?).map_err(|_| SetupError::Unresolved {
                step: step.to_string(),
                why: "max_entries is at most 2^32-1".to_string(),
            })?;
            open.set_max_entries(name, n)
        }
    }
}
