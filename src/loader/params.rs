//! Scheduler parameters: `--param KEY=VALUE` checked against the manifest
//! (or, for a bare object, its `.rodata` variables) and encoded for `.rodata`.

use crate::package::Scheduler;

/// A parameter assignment that cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamError {
    #[error("unknown parameter {key} for {scheduler} (known: {known})")]
    Unknown {
        key: String,
        scheduler: String,
        known: String,
    },
    #[error("parameter {key} is {ty}: cannot take {value:?}")]
    BadValue {
        key: String,
        ty: String,
        value: String,
    },
    #[error(
        "unknown mode {mode} for {scheduler} (its modes: {known}; `scxpack info {scheduler}` lists them)"
    )]
    UnknownMode {
        mode: String,
        scheduler: String,
        known: String,
    },
    #[error("parameter {0:?} is not KEY=VALUE")]
    Syntax(String),
}

/// The scalar kinds a `.rodata` parameter can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Bool,
    Unsigned(u32),
    Signed(u32),
}

/// Reads a C type name (`const volatile u64`, `int`, `bool`) as a scalar.
fn scalar(ty: &str) -> Option<Scalar> {
    let words: Vec<&str> = ty
        .split_whitespace()
        .filter(|w| !matches!(*w, "const" | "volatile"))
        .collect();
    Some(match words.join(" ").trim_start_matches("__") {
        "bool" | "_Bool" => Scalar::Bool,
        "u8" | "unsigned char" | "char" => Scalar::Unsigned(8),
        "u16" | "unsigned short" => Scalar::Unsigned(16),
        "u32" | "unsigned int" | "unsigned" => Scalar::Unsigned(32),
        "u64" | "unsigned long" | "unsigned long long" => Scalar::Unsigned(64),
        "s8" | "signed char" => Scalar::Signed(8),
        "s16" | "short" => Scalar::Signed(16),
        "s32" | "int" => Scalar::Signed(32),
        "s64" | "long" | "long long" => Scalar::Signed(64),
        _ => return None,
    })
}

fn encode(s: Scalar, value: &str) -> Option<u64> {
    match s {
        Scalar::Bool => match value {
            "true" | "1" | "yes" | "on" => Some(1),
            "false" | "0" | "no" | "off" => Some(0),
            _ => None,
        },
        Scalar::Unsigned(bits) => {
            let v: u64 = value.parse().ok()?;
            (bits == 64 || v < (1u64 << bits)).then_some(v)
        }
        Scalar::Signed(bits) => {
            let v: i64 = value.parse().ok()?;
            let half = 1i64 << (bits - 1).min(62);
            (bits == 64 || (-half..half).contains(&v)).then_some(v as u64)
        }
    }
}

/// Whether `value` is one a parameter of C type `ty` can hold.
#[must_use]
pub fn value_fits(ty: &str, value: &str) -> bool {
    scalar(ty).and_then(|s| encode(s, value)).is_some()
}

/// `explicit` assignments on top of the values of `mode` (explicit wins for
/// the same key), or the typed error naming the modes `sched` has.
pub fn with_mode(
    sched: &Scheduler,
    mode: Option<&str>,
    explicit: &[(String, String)],
) -> Result<Vec<(String, String)>, ParamError> {
    let Some(name) = mode else {
        return Ok(explicit.to_vec());
    };
    let unknown = || ParamError::UnknownMode {
        mode: name.to_string(),
        scheduler: sched.name.clone(),
        known: known_modes(sched),
    };
    let mode = sched.mode(name).ok_or_else(unknown)?;
    let mut values: Vec<(String, String)> = mode
        .assignments()
        .ok_or_else(unknown)?
        .into_iter()
        .filter(|(k, _)| !explicit.iter().any(|(e, _)| e == k))
        .collect();
    values.extend_from_slice(explicit);
    Ok(values)
}

fn known_modes(sched: &Scheduler) -> String {
    if sched.modes.is_empty() {
        return "none".to_string();
    }
    let names: Vec<&str> = sched.modes.iter().map(|m| m.name.as_str()).collect();
    names.join(", ")
}

/// Splits `KEY=VALUE`.
pub fn parse_assignment(s: &str) -> Result<(String, String), ParamError> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| ParamError::Syntax(s.to_string()))
}

/// Validates assignments; returns `.rodata` variable → little-endian bits.
pub(super) fn resolve(
    sched: &Scheduler,
    assignments: &[(String, String)],
) -> Result<Vec<(String, u64)>, ParamError> {
    let declared: Vec<(String, String)> = if sched.parameters.is_empty() {
        // A bare object: its .rodata variables (not enum slots) are the parameters.
        sched
            .variants
            .first()
            .map(|v| {
                v.requirements
                    .parameters()
                    .map(|r| (r.name.clone(), r.type_name.clone()))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        sched
            .parameters
            .iter()
            .map(|p| (p.name.clone(), p.type_name.clone()))
            .collect()
    };
    assignments
        .iter()
        .map(|(key, value)| {
            let Some((_, ty)) = declared.iter().find(|(n, _)| n == key) else {
                return Err(ParamError::Unknown {
                    key: key.clone(),
                    scheduler: sched.name.clone(),
                    known: declared
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let bad = || ParamError::BadValue {
                key: key.clone(),
                ty: ty.clone(),
                value: value.clone(),
            };
            let bits = scalar(ty).and_then(|s| encode(s, value)).ok_or_else(bad)?;
            Ok((key.clone(), bits))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_by_type_and_range() {
        assert_eq!(
            encode(scalar("const volatile u64").unwrap(), "5000"),
            Some(5000)
        );
        assert_eq!(encode(scalar("bool").unwrap(), "false"), Some(0));
        assert_eq!(encode(scalar("u8").unwrap(), "256"), None);
        assert_eq!(encode(scalar("s32").unwrap(), "-1"), Some(u64::MAX));
        assert_eq!(encode(scalar("u32").unwrap(), "x"), None);
        assert!(scalar("struct foo").is_none());
    }

    #[test]
    fn assignments_need_an_equals_sign() {
        assert!(parse_assignment("slice_us").is_err());
        assert_eq!(
            parse_assignment("a=b=c").unwrap(),
            ("a".into(), "b=c".into())
        );
    }

    #[test]
    fn explicit_params_override_the_mode() {
        let mut sched: Scheduler = serde_json::from_value(serde_json::json!({
            "name": "s", "description": "", "variants": [],
            "parameters": [{"name": "a", "type": "u64"}, {"name": "b", "type": "bool"}],
            "modes": [{"name": "gaming", "params": {"a": 1, "b": true}}]
        }))
        .unwrap();
        let explicit = [("a".to_string(), "7".to_string())];
        let got = with_mode(&sched, Some("gaming"), &explicit).unwrap();
        assert_eq!(got, [("b".into(), "true".into()), ("a".into(), "7".into())]);
        assert_eq!(with_mode(&sched, None, &explicit).unwrap(), explicit);
        let err = with_mode(&sched, Some("server"), &[]).unwrap_err();
        assert!(err.to_string().contains("its modes: gaming"), "{err}");
        sched.modes.clear();
        let err = with_mode(&sched, Some("gaming"), &[]).unwrap_err();
        assert!(err.to_string().contains("its modes: none"), "{err}");
    }
}
