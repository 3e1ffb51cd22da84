//! Typed globals on a hand-built BTF shaped like the kernel's `scx_central`
//! sample: every setup error is found here, before any BPF syscall.

use super::*;
use crate::btf::tests::BtfBuilder;

const INT: u32 = 1;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const ENUM: u32 = 6;
const VOLATILE: u32 = 9;
const CONST: u32 = 10;
const VAR: u32 = 14;
const DATASEC: u32 = 15;

/// Type ids, in the order [`sample`] adds them.
const S32: u32 = 1;
const U32: u32 = 2;
const U64: u32 = 3;
const BOOL: u32 = 4;
const CV_S32: u32 = 6;
const U64_ARR1: u32 = 7;
const ENUM_E: u32 = 8;
const BLOB: u32 = 9;
const S32_ARR4: u32 = 10;

fn var(b: &mut BtfBuilder, name: &str, ty: u32) {
    b.raw(name, VAR, 0, false, ty, &[1]);
}

fn datasec(b: &mut BtfBuilder, name: &str, size: u32, vars: &[(u32, u32, u32)]) {
    let words: Vec<u32> = vars.iter().flat_map(|(t, o, s)| [*t, *o, *s]).collect();
    b.raw(name, DATASEC, vars.len() as u32, false, size, &words);
}

fn sample() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    b.int("int", 4, true); // 1
    b.int("unsigned int", 4, false); // 2
    b.int("long long unsigned int", 8, false); // 3
    b.raw("_Bool", INT, 0, false, 1, &[(4 << 24) | 8]); // 4
    b.raw("", VOLATILE, 0, false, S32, &[]); // 5
    b.raw("", CONST, 0, false, 5, &[]); // 6: const volatile int
    b.raw("", ARRAY, 0, false, 0, &[U64, S32, 1]); // 7: u64[1]
    let x = b.str("X");
    b.raw("mode_e", ENUM, 1, true, 4, &[x, 0]); // 8
    b.raw("blob", STRUCT, 0, false, 8, &[]); // 9
    b.raw("", ARRAY, 0, false, 0, &[S32, S32, 4]); // 10: int[4]
    var(&mut b, "central_cpu", CV_S32); // 11
    var(&mut b, "nr_cpu_ids", U32); // 12
    var(&mut b, "slice_ns", U64); // 13
    var(&mut b, "flag", BOOL); // 14
    var(&mut b, "mode", ENUM_E); // 15
    var(&mut b, "nr_total", U64); // 16
    var(&mut b, "cpu_started_at", U64_ARR1); // 17
    var(&mut b, "stats", BLOB); // 18
    var(&mut b, "pair_cpu", S32_ARR4); // 19
    var(&mut b, "first", S32_ARR4); // 20
    var(&mut b, "after", U32); // 21
    datasec(
        &mut b,
        ".rodata",
        24,
        &[(11, 0, 4), (12, 4, 4), (13, 8, 8), (14, 16, 1), (15, 20, 4)],
    );
    datasec(&mut b, ".bss", 32, &[(16, 0, 8), (18, 8, 8), (19, 16, 16)]);
    datasec(&mut b, ".data.cpu_started_at", 8, &[(17, 0, 8)]);
    // Listed out of order: the last variable is the one at the highest offset.
    datasec(&mut b, ".data.two", 20, &[(21, 16, 4), (20, 0, 16)]);
    b.build()
}

fn globals() -> Globals {
    let data = sample();
    let btf = Btf::parse(&data).expect("sample BTF parses");
    Globals::from_btf(&btf, |_, _, off| off)
}

#[test]
fn reads_types_sections_and_resizable_arrays() {
    let g = globals();
    let cpu = g.get("central_cpu").unwrap();
    assert_eq!(cpu.type_name, "const volatile int");
    assert_eq!(
        cpu.ty,
        GlobalType::Scalar(Scalar::Int {
            bytes: 4,
            signed: true
        })
    );
    assert_eq!(g.get("flag").unwrap().ty, GlobalType::Scalar(Scalar::Bool));
    assert_eq!(
        g.get("mode").unwrap().ty,
        GlobalType::Scalar(Scalar::Int {
            bytes: 4,
            signed: true
        })
    );
    assert_eq!(g.get("stats").unwrap().ty, GlobalType::Other);
    let resizable: Vec<&str> = g
        .vars
        .iter()
        .filter(|v| v.resizable)
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(resizable, ["cpu_started_at"]);
    assert!(g.get("slice_ns").unwrap().is_read_only());
    assert!(!g.get("nr_total").unwrap().is_read_only());
}

#[test]
fn encodes_scalars_little_endian_at_their_offset() {
    let g = globals();
    let w = g.encode("nr_cpu_ids", Value::from(4u32)).unwrap();
    assert_eq!((w.section.as_str(), w.offset), (".rodata", 4));
    assert_eq!(w.bytes, [4, 0, 0, 0]);
    assert_eq!(
        g.encode("central_cpu", Value::from(-1i32)).unwrap().bytes,
        [0xff; 4]
    );
    assert_eq!(g.encode("flag", Value::from(true)).unwrap().bytes, [1]);
    let ns = g.encode("slice_ns", Value::from(20_000_000u64)).unwrap();
    assert_eq!(ns.bytes, 20_000_000u64.to_le_bytes());
}

#[test]
fn unknown_names_list_the_nearest() {
    let err = globals()
        .encode("nr_cpu_id", Value::from(1u32))
        .unwrap_err();
    let GlobalError::Unknown { near, .. } = &err else {
        panic!("expected Unknown, got {err:?}");
    };
    assert!(near.starts_with("nr_cpu_ids"), "{near}");
}

#[test]
fn wrong_types_are_refused() {
    let g = globals();
    for (name, value) in [
        ("flag", Value::Int(1)),
        ("slice_ns", Value::Bool(true)),
        ("stats", Value::Int(0)),
        ("pair_cpu", Value::Int(0)),
    ] {
        let err = g.encode(name, value).unwrap_err();
        assert!(
            matches!(err, GlobalError::WrongType { .. }),
            "{name} = {value}: {err:?}"
        );
    }
    assert!(matches!(
        g.encode_element("slice_ns", 0, Value::Int(0)),
        Err(GlobalError::NotArray { .. })
    ));
    assert!(matches!(
        g.encode_bytes("slice_ns", &[0; 4]),
        Err(GlobalError::WrongSize {
            size: 8,
            given: 4,
            ..
        })
    ));
}

#[test]
fn values_that_do_not_fit_are_refused_with_the_range() {
    let g = globals();
    let err = g.encode("nr_cpu_ids", Value::Int(-1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "global nr_cpu_ids is unsigned int: -1 does not fit (range 0..=4294967295)"
    );
    assert!(matches!(
        g.encode("central_cpu", Value::Int(1 << 31)),
        Err(GlobalError::DoesNotFit { .. })
    ));
    assert!(matches!(
        g.encode("slice_ns", Value::Int(i128::from(u64::MAX) + 1)),
        Err(GlobalError::DoesNotFit { .. })
    ));
}

#[test]
fn elements_are_checked_against_the_length_until_resized() {
    let mut g = globals();
    assert!(matches!(
        g.encode_element("cpu_started_at", 3, Value::Int(7)),
        Err(GlobalError::IndexOutOfRange {
            index: 3,
            len: 1,
            ..
        })
    ));
    let r = g.resize("cpu_started_at", 4).unwrap();
    assert_eq!(
        (r.section.as_str(), r.value_size),
        (".data.cpu_started_at", 32)
    );
    let w = g
        .encode_element("cpu_started_at", 3, Value::Int(7))
        .unwrap();
    assert_eq!((w.offset, w.bytes.len()), (24, 8));
    assert_eq!(g.get("cpu_started_at").unwrap().size, 32);
    let values = vec![Value::Int(1); 5];
    assert!(matches!(
        g.encode_array("cpu_started_at", &values),
        Err(GlobalError::TooManyValues {
            given: 5,
            len: 4,
            ..
        })
    ));
    assert_eq!(
        g.encode_array("pair_cpu", &[Value::Int(1), Value::Int(-1)])
            .unwrap()
            .bytes,
        [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
    );
}

#[test]
fn only_the_last_array_of_a_named_section_resizes() {
    let mut g = globals();
    for name in ["pair_cpu", "slice_ns", "first"] {
        let err = g.resize(name, 8).unwrap_err();
        assert!(
            matches!(err, GlobalError::NotResizable { .. }),
            "{name}: {err:?}"
        );
    }
    assert!(matches!(
        g.resize("cpu_started_at", 0),
        Err(GlobalError::BadLength { .. })
    ));
    assert!(matches!(
        g.resize("cpu_started_at", 1 << 40),
        Err(GlobalError::BadLength { .. })
    ));
}

#[test]
fn decodes_what_it_encodes() {
    let g = globals();
    let mut section = vec![0u8; 24];
    for (name, value) in [
        ("central_cpu", Value::Int(-3)),
        ("nr_cpu_ids", Value::Int(4_000_000_000)),
        ("slice_ns", Value::Int(i128::from(u64::MAX))),
        ("flag", Value::Bool(true)),
    ] {
        let w = g.encode(name, value).unwrap();
        section[w.offset as usize..][..w.bytes.len()].copy_from_slice(&w.bytes);
        assert_eq!(g.decode(name, &section).unwrap(), value, "{name}");
    }
    assert!(matches!(
        g.decode("slice_ns", &section[..8]),
        Err(GlobalError::ShortSection { .. })
    ));
}
