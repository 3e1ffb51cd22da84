//! Declarative setup in a manifest (schema 1.2): what a scheduler's C
//! loader does before load, as data, so a third-party object runs from a
//! package without it. Each step assigns a global, resizes a resizable
//! array, or sets a map's `max_entries`, to a literal or to a value of the
//! machine (`nr_cpu_ids`/`possible_cpus`, `online_cpus`) or of the kernel
//! (any `SCX_*` enumerator):
//!
//! ```json
//! "setup": [
//!   {"set": "nr_cpu_ids", "to": "nr_cpu_ids"},
//!   {"set": "slice_ns", "to": "SCX_SLICE_DFL"},
//!   {"set": "central_cpu", "to": 0},
//!   {"resize": "cpu_started_at", "to": "nr_cpu_ids"},
//!   {"max_entries": "pair_ctx", "to": "online_cpus"}
//! ]
//! ```
//!
//! Pure: this module checks the shape and resolves values from what the
//! caller read ([`Machine`], the kernel's enumerators); the loader applies
//! the result through the same typed setters a Rust user half calls.

use serde::{Deserialize, Serialize};

use crate::kernel::EnumValue;
use crate::object::Value;

/// The most setup steps of one scheduler.
pub const MAX_SETUP_STEPS: usize = 256;

/// What a step changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupTarget {
    /// A global variable (`.rodata`, `.data`, `.bss`).
    Set(String),
    /// A resizable array, to a number of elements.
    Resize(String),
    /// A map's `max_entries`.
    MaxEntries(String),
}

impl SetupTarget {
    /// The global's or map's name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            SetupTarget::Set(n) | SetupTarget::Resize(n) | SetupTarget::MaxEntries(n) => n,
        }
    }
}

/// The maps `steps` give a `max_entries` to.
#[must_use]
pub fn sized_maps(steps: &[SetupStep]) -> std::collections::BTreeSet<&str> {
    steps
        .iter()
        .filter_map(|s| match &s.target {
            SetupTarget::MaxEntries(map) => Some(map.as_str()),
            _ => None,
        })
        .collect()
}

impl std::fmt::Display for SetupTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupTarget::Set(n) => write!(f, "set {n}"),
            SetupTarget::Resize(n) => write!(f, "resize {n}"),
            SetupTarget::MaxEntries(n) => write!(f, "max_entries of {n}"),
        }
    }
}

/// Where a step's value comes from: a literal or a named source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SetupValue {
    Bool(bool),
    Int(i64),
    UInt(u64),
    /// `nr_cpu_ids`, `possible_cpus`, `online_cpus`, or an `SCX_*` enumerator.
    Source(String),
}

impl std::fmt::Display for SetupValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupValue::Bool(b) => write!(f, "{b}"),
            SetupValue::Int(i) => write!(f, "{i}"),
            SetupValue::UInt(u) => write!(f, "{u}"),
            SetupValue::Source(s) => write!(f, "{s}"),
        }
    }
}

/// One step of a scheduler's setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupStep {
    #[serde(flatten)]
    pub target: SetupTarget,
    pub to: SetupValue,
}

impl std::fmt::Display for SetupStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}", self.target, self.to)
    }
}

/// A named machine value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuCount {
    /// Highest possible CPU id + 1 (`libbpf_num_possible_cpus`).
    Possible,
    /// CPUs online now.
    Online,
}

/// What the machine offers, read by the caller (`live::System`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Machine {
    pub possible_cpus: Option<u32>,
    pub online_cpus: Option<u32>,
}

/// A step's value resolved for one kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Known now.
    Value(Value),
    /// Known only on the machine at run time (offline `check`).
    AtRunTime(CpuCount),
    /// Cannot be resolved on this kernel: the reason.
    Refused(String),
}

/// Why a manifest's setup is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupProblem {
    #[error(
        "setup step {step}: {name:?} is not a C identifier (name a global or a map of the object)"
    )]
    BadName { step: usize, name: String },
    #[error(
        "setup step {step}: unknown value source {found:?} (use nr_cpu_ids, possible_cpus, online_cpus, an SCX_* enumerator, a number or a bool)"
    )]
    BadSource { step: usize, found: String },
    #[error("setup step {step}: {target} needs a count, not {value}")]
    NotACount {
        step: usize,
        target: String,
        value: String,
    },
}

fn is_identifier(s: &str) -> bool {
    s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn cpu_source(name: &str) -> Option<CpuCount> {
    match name {
        "nr_cpu_ids" | "possible_cpus" => Some(CpuCount::Possible),
        "online_cpus" => Some(CpuCount::Online),
        _ => None,
    }
}

/// Checks names, sources, and that resizes and map sizes take counts.
pub fn validate(steps: &[SetupStep]) -> Result<(), SetupProblem> {
    for (step, s) in steps.iter().enumerate() {
        let name = s.target.name();
        if !is_identifier(name) {
            return Err(SetupProblem::BadName {
                step,
                name: name.to_string(),
            });
        }
        if let SetupValue::Source(src) = &s.to {
            if cpu_source(src).is_none() && !(src.starts_with("SCX_") && is_identifier(src)) {
                return Err(SetupProblem::BadSource {
                    step,
                    found: src.clone(),
                });
            }
        }
        let count = !matches!(s.target, SetupTarget::Set(_));
        if count && matches!(s.to, SetupValue::Bool(_) | SetupValue::Int(..=0)) {
            return Err(SetupProblem::NotACount {
                step,
                target: s.target.to_string(),
                value: s.to.to_string(),
            });
        }
    }
    Ok(())
}

/// Resolves a step's value: literals as they are, `SCX_*` from `enums`
/// (the kernel's; refused when absent), CPU counts from `machine` when it
/// knows them (else [`Resolved::AtRunTime`]).
pub fn resolve(
    value: &SetupValue,
    machine: &Machine,
    enums: impl Fn(&str) -> Option<EnumValue>,
) -> Resolved {
    match value {
        SetupValue::Bool(b) => Resolved::Value(Value::Bool(*b)),
        SetupValue::Int(i) => Resolved::Value(Value::from(*i)),
        SetupValue::UInt(u) => Resolved::Value(Value::from(*u)),
        SetupValue::Source(name) => match cpu_source(name) {
            Some(which) => {
                let known = match which {
                    CpuCount::Possible => machine.possible_cpus,
                    CpuCount::Online => machine.online_cpus,
                };
                known.map_or(Resolved::AtRunTime(which), |n| {
                    Resolved::Value(Value::from(n))
                })
            }
            None => match enums(name) {
                Some(EnumValue::Unsigned(v)) => Resolved::Value(Value::from(v)),
                Some(EnumValue::Signed(v)) => Resolved::Value(Value::from(v)),
                None => Resolved::Refused(format!("the kernel has no enumerator {name}")),
            },
        },
    }
}

/// One line per step of what the setup will do on a kernel with `enums`
/// (offline: CPU counts come from the machine at run time), and the
/// reasons it cannot be done there.
#[must_use]
pub fn describe(
    steps: &[SetupStep],
    enums: impl Fn(&str) -> Option<EnumValue>,
) -> (Vec<String>, Vec<String>) {
    let mut lines = Vec::new();
    let mut refusals = Vec::new();
    for s in steps {
        match resolve(&s.to, &Machine::default(), &enums) {
            Resolved::Value(v) if matches!(s.to, SetupValue::Source(_)) => {
                lines.push(format!("{s} ({v})"));
            }
            Resolved::Value(_) => lines.push(s.to_string()),
            Resolved::AtRunTime(_) => lines.push(format!("{s} (from the machine at run time)")),
            Resolved::Refused(why) => refusals.push(format!("setup {s}: {why}")),
        }
    }
    (lines, refusals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(json: &str) -> Vec<SetupStep> {
        serde_json::from_str(json).expect("setup parses")
    }

    const CENTRAL: &str = r#"[
        {"set": "nr_cpu_ids", "to": "nr_cpu_ids"},
        {"set": "slice_ns", "to": "SCX_SLICE_DFL"},
        {"set": "central_cpu", "to": 0},
        {"resize": "cpu_gimme_task", "to": "nr_cpu_ids"},
        {"max_entries": "pair_ctx", "to": "online_cpus"}
    ]"#;

    fn slice_dfl(name: &str) -> Option<EnumValue> {
        (name == "SCX_SLICE_DFL").then_some(EnumValue::Unsigned(20_000_000))
    }

    #[test]
    fn parses_round_trips_and_validates() {
        let s = steps(CENTRAL);
        assert_eq!(s[3].target, SetupTarget::Resize("cpu_gimme_task".into()));
        assert_eq!(s[2].to, SetupValue::Int(0));
        validate(&s).unwrap();
        let again: Vec<SetupStep> =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn refuses_bad_names_sources_and_counts() {
        let bad = steps(r#"[{"set": "a-b", "to": 1}]"#);
        assert!(matches!(validate(&bad), Err(SetupProblem::BadName { .. })));
        let bad = steps(r#"[{"set": "a", "to": "cpus"}]"#);
        assert!(matches!(
            validate(&bad),
            Err(SetupProblem::BadSource { .. })
        ));
        let bad = steps(r#"[{"resize": "a", "to": 0}]"#);
        assert!(matches!(
            validate(&bad),
            Err(SetupProblem::NotACount { .. })
        ));
        assert!(serde_json::from_str::<Vec<SetupStep>>(r#"[{"grow": "a", "to": 1}]"#).is_err());
    }

    #[test]
    fn resolves_from_the_machine_and_the_kernel() {
        let machine = Machine {
            possible_cpus: Some(8),
            online_cpus: Some(4),
        };
        let s = steps(CENTRAL);
        let got: Vec<Resolved> = s
            .iter()
            .map(|s| resolve(&s.to, &machine, slice_dfl))
            .collect();
        assert_eq!(got[0], Resolved::Value(Value::Int(8)));
        assert_eq!(got[1], Resolved::Value(Value::Int(20_000_000)));
        assert_eq!(got[4], Resolved::Value(Value::Int(4)));
        let offline = resolve(&s[0].to, &Machine::default(), slice_dfl);
        assert_eq!(offline, Resolved::AtRunTime(CpuCount::Possible));
        assert!(matches!(
            resolve(&s[1].to, &machine, |_| None),
            Resolved::Refused(r) if r.contains("SCX_SLICE_DFL")
        ));
    }

    #[test]
    fn describes_per_kernel() {
        let (lines, refusals) = describe(&steps(CENTRAL), slice_dfl);
        assert_eq!(lines[1], "set slice_ns = SCX_SLICE_DFL (20000000)");
        assert_eq!(
            lines[0],
            "set nr_cpu_ids = nr_cpu_ids (from the machine at run time)"
        );
        assert!(refusals.is_empty());
        let (_, refusals) = describe(&steps(CENTRAL), |_| None);
        assert_eq!(
            refusals,
            ["setup set slice_ns = SCX_SLICE_DFL: the kernel has no enumerator SCX_SLICE_DFL"]
        );
    }
}
