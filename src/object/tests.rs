//! Unit tests for object parsing on malformed input.

use std::path::Path;

use super::{ObjectError, Requirements};

fn err(bytes: &[u8]) -> ObjectError {
    Requirements::from_bytes(Path::new("t.bpf.o"), bytes).expect_err("must be rejected")
}

#[test]
fn empty_file_is_rejected() {
    assert!(matches!(err(&[]), ObjectError::Empty { .. }));
}

#[test]
fn random_bytes_are_not_elf() {
    let e = err(b"this is not an object file at all");
    assert!(matches!(e, ObjectError::NotElf { .. }), "{e}");
    assert!(e.to_string().contains("t.bpf.o"));
}

#[test]
fn truncated_elf_header_is_rejected() {
    let e = err(b"\x7fELF\x02\x01\x01");
    assert!(matches!(e, ObjectError::NotElf { .. }), "{e}");
}
