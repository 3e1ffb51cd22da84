//! Line records: the small text format of what `run` keeps for the rest
//! of a boot (the boot cache's verdicts and an object's loader layout).
//!
//! One record per line, fields separated by one space. A text field is
//! escaped so that it holds no space, newline or `%` (`%XX` for each such
//! byte, and for every byte that is not printable ASCII), and an absent
//! optional value is `-` (a present `-` is `%2D`). These records are read
//! by hand, not through a generic decoder: under emulation the first run of
//! a generic decoder's code costs a start tens of milliseconds.

use std::fmt::Write as _;

/// `s` with every byte that is not printable ASCII, and every `%`, written
/// `%XX`; a lone `-` is written `%2D` (a bare `-` means absent).
pub(crate) fn esc(s: &str) -> String {
    if s == "-" {
        return "%2D".to_string();
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A text field with its `%XX` escapes decoded; `None` for a bad escape or
/// bytes that are not UTF-8.
pub(crate) fn text(field: &str) -> Option<String> {
    if !field.contains('%') {
        return Some(field.to_string());
    }
    let mut out = Vec::with_capacity(field.len());
    let mut bytes = field.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// `-` for an absent value.
pub(crate) fn opt(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_string())
}

/// An optional text field: `Ok(None)` for `-`; `Err` when malformed.
pub(crate) fn maybe(field: &str) -> Result<Option<String>, ()> {
    if field == "-" {
        Ok(None)
    } else {
        text(field).map(Some).ok_or(())
    }
}

/// A boolean field: `0` or `1`.
pub(crate) fn flag(field: &str) -> Option<bool> {
    match field {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// A line's record kind and its fields (none when the line is the kind
/// alone).
pub(crate) fn split(record: &str) -> (&str, Vec<&str>) {
    match record.split_once(' ') {
        Some((kind, rest)) => (kind, rest.split(' ').collect()),
        None => (record, Vec::new()),
    }
}

/// Each of `fields` decoded with [`text`]; `None` when any is malformed.
pub(crate) fn texts(fields: &[&str]) -> Option<Vec<String>> {
    fields.iter().map(|f| text(f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        for s in ["plain", "a b", "100%", "-", "--", "é\n\t", ""] {
            let e = esc(s);
            assert!(!e.contains([' ', '\n']), "{e:?}");
            assert_eq!(text(&e).as_deref(), Some(s));
        }
        assert_eq!(maybe("-"), Ok(None));
        assert_eq!(maybe(&esc("-")), Ok(Some("-".to_string())));
        assert!(text("%G0").is_none() && text("%4").is_none() && text("%FF").is_none());
        // Only two hex digits make an escape (`from_str_radix` alone would take a sign).
        assert!(text("%+1").is_none() && text("%-1").is_none());
        assert_eq!(split("kind"), ("kind", vec![]));
        assert_eq!(split("kind a b"), ("kind", vec!["a", "b"]));
    }
}
