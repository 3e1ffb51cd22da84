//! Unit tests for the BTF reader, on blobs built by hand.

use super::*;

/// Builds little-endian BTF blobs type by type.
#[derive(Default)]
pub(crate) struct BtfBuilder {
    types: Vec<u8>,
    strings: Vec<u8>,
}

impl BtfBuilder {
    pub fn new() -> Self {
        BtfBuilder {
            types: Vec::new(),
            strings: vec![0],
        }
    }

    pub fn str(&mut self, s: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    pub fn raw(
        &mut self,
        name: &str,
        kind: u32,
        vlen: u32,
        kflag: bool,
        size_or_type: u32,
        extra: &[u32],
    ) {
        let name_off = if name.is_empty() { 0 } else { self.str(name) };
        let info = (u32::from(kflag) << 31) | (kind << 24) | vlen;
        for w in [name_off, info, size_or_type].iter().chain(extra) {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
    }

    pub fn int(&mut self, name: &str, bytes: u32, signed: bool) {
        let enc = (u32::from(signed) << 24) | (bytes * 8);
        self.raw(name, 1, 0, false, bytes, &[enc]);
    }

    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        let tl = self.types.len() as u32;
        for w in [24, 0, tl, tl, self.strings.len() as u32] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

fn sample() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    b.int("int", 4, true); // 1
    b.raw("", 2, 0, false, 3, &[]); // 2: ptr -> 3
    let a = b.str("a");
    let bb = b.str("b");
    b.raw("pair", 4, 2, false, 8, &[a, 1, 0, bb, 1, 32]); // 3: struct pair
    let x = b.str("X");
    b.raw("e", 6, 1, true, 4, &[x, (-2i32) as u32]); // 4: signed enum
    let p = b.str("p");
    b.raw("", 13, 1, false, 1, &[p, 2]); // 5: int (struct pair *p)
    b.raw("f", 12, 1, false, 5, &[]); // 6: func f
    b.build()
}

#[test]
fn parses_and_reads_types() {
    let data = sample();
    let btf = Btf::parse(&data).expect("sample parses");
    assert_eq!(btf.len(), 7);
    let pair = btf.find("pair", Kind::Struct).expect("struct pair");
    let names: Vec<_> = pair.members().map(|m| btf.str_at(m.name_off)).collect();
    assert_eq!(names, ["a", "b"]);
    let e = btf.find("e", Kind::Enum).expect("enum e");
    assert_eq!(e.enumerators().next().unwrap().bits as i64, -2);
    let fmt = TypeFormatter::new(&btf);
    assert_eq!(fmt.prototype("f", 6), "int f(struct pair *p)");
    assert_eq!(fmt.type_name(2), "struct pair *");
}

#[test]
fn rejects_bad_magic_and_short_input() {
    assert_eq!(Btf::parse(&[]).unwrap_err(), BtfError::TooShort { len: 0 });
    let mut data = sample();
    data[0] = 0;
    assert!(matches!(Btf::parse(&data), Err(BtfError::BadMagic { .. })));
}

#[test]
fn rejects_truncation_anywhere() {
    let data = sample();
    for cut in 0..data.len() {
        assert!(
            Btf::parse(&data[..cut]).is_err(),
            "truncated at {cut} parsed"
        );
    }
}

#[test]
fn rejects_string_offset_past_end() {
    let mut b = BtfBuilder::new();
    b.raw("", 1, 0, false, 4, &[32]);
    let mut data = b.build();
    data[24..28].copy_from_slice(&999u32.to_le_bytes());
    assert!(matches!(
        Btf::parse(&data),
        Err(BtfError::StringOutOfRange { offset: 999, .. })
    ));
}

#[test]
fn rejects_type_id_out_of_range() {
    let mut b = BtfBuilder::new();
    b.raw("", 2, 0, false, 42, &[]);
    assert!(matches!(
        Btf::parse(&b.build()),
        Err(BtfError::TypeOutOfRange { target: 42, .. })
    ));
}

#[test]
fn rejects_unknown_kind() {
    let mut b = BtfBuilder::new();
    b.raw("", 31, 0, false, 0, &[]);
    assert!(matches!(
        Btf::parse(&b.build()),
        Err(BtfError::UnknownKind { kind: 31, .. })
    ));
}

#[test]
fn loops_end_in_an_error_not_a_hang() {
    let mut b = BtfBuilder::new();
    b.raw("t1", 8, 0, false, 2, &[]); // typedef -> 2
    b.raw("t2", 8, 0, false, 1, &[]); // typedef -> 1
    b.raw("", 2, 0, false, 3, &[]); // ptr -> itself
    let data = b.build();
    let btf = Btf::parse(&data).expect("structurally valid");
    assert_eq!(btf.resolve(1).unwrap_err(), BtfError::TypeLoop { id: 1 });
    let fmt = TypeFormatter::new(&btf);
    assert!(fmt.type_name(3).contains("<loop>"));
    assert!(matches!(fmt.shape(1), Shape::Opaque { .. }));
}

#[test]
fn self_referencing_prototype_is_a_loop_not_an_explosion() {
    let mut b = BtfBuilder::new();
    b.int("int", 4, true); // 1
    b.raw("", 13, 2, false, 2, &[0, 2, 0, 2]); // 2: proto ret=2, params 2, 2
    b.raw("f", 12, 0, false, 2, &[]); // 3: func f -> 2
    let data = b.build();
    let btf = Btf::parse(&data).expect("structurally valid");
    let fmt = TypeFormatter::new(&btf);
    assert_eq!(fmt.prototype("f", 3), "<loop> f(<loop>, <loop>)");
    let loop_shape = Shape::Opaque {
        name: "<loop>".to_string(),
    };
    assert_eq!(
        fmt.shape(3),
        Shape::Func {
            ret: Box::new(loop_shape.clone()),
            params: vec![loop_shape.clone(), loop_shape],
        }
    );
}

#[test]
fn branching_prototype_chain_stays_within_the_budget() {
    // 60 distinct prototypes, each returning and taking the next one three
    // times: no cycle, but 4^60 paths. The walk stops at MAX_TYPE_NODES.
    let mut b = BtfBuilder::new();
    b.int("int", 4, true); // 1
    for id in 2..62u32 {
        let next = if id == 61 { 1 } else { id + 1 };
        b.raw("", 13, 3, false, next, &[0, next, 0, next, 0, next]);
    }
    let data = b.build();
    let btf = Btf::parse(&data).expect("structurally valid");
    let fmt = TypeFormatter::new(&btf);
    let text = fmt.prototype("f", 2);
    assert!(text.contains("<too complex>"), "{}", &text[..200]);
    assert!(text.len() < 1 << 20, "{} bytes", text.len());
    let mut nodes = 0;
    count_nodes(&fmt.shape(2), &mut nodes);
    assert!(
        nodes <= format::MAX_TYPE_NODES + 2 * MAX_CHAIN,
        "{nodes} nodes"
    );
}

fn count_nodes(shape: &Shape, n: &mut usize) {
    *n += 1;
    match shape {
        Shape::Ptr { to } => count_nodes(to, n),
        Shape::Array { of, .. } => count_nodes(of, n),
        Shape::Func { ret, params } => {
            count_nodes(ret, n);
            for p in params {
                count_nodes(p, n);
            }
        }
        _ => {}
    }
}

#[test]
fn huge_vlen_is_truncation_not_overflow() {
    let mut b = BtfBuilder::new();
    b.raw("s", 4, 0xffff, false, 8, &[]);
    assert!(matches!(
        Btf::parse(&b.build()),
        Err(BtfError::TruncatedType { .. })
    ));
}

#[test]
fn random_bytes_never_panic() {
    // A xorshift stream: deterministic, no dependency.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let mut data = sample();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % data.len() as u64) as usize;
            data[at] = (state >> 32) as u8;
        }
        if let Ok(btf) = Btf::parse(&data) {
            let fmt = TypeFormatter::new(&btf);
            for id in 0..btf.len() + 2 {
                let _ = fmt.type_name(id);
                let _ = fmt.shape(id);
                let _ = btf.resolve(id);
            }
        }
    }
}
