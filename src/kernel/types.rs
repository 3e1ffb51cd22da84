//! [`KernelTypes`]: a kernel's BTF with a by-name index of the types CO-RE
//! relocations start from, built once per kernel and shared by every check.

use std::collections::{HashMap, HashSet};

use crate::btf::{Btf, Type};

/// A kernel's BTF with a name index.
#[derive(Debug)]
pub struct KernelTypes<'a> {
    btf: Btf<'a>,
    by_name: HashMap<&'a str, Vec<u32>>,
}

impl<'a> KernelTypes<'a> {
    /// Indexes every named type (what a general caller wants).
    #[must_use]
    pub fn new(btf: Btf<'a>) -> Self {
        let by_name = btf.name_index();
        KernelTypes { btf, by_name }
    }

    /// Indexes only the types named in `wanted`: one pass over the types
    /// that turns almost every name away on its first byte and compares
    /// the rest in place, with no measuring, validating or hashing of the
    /// other ~150k names: what the loader can afford on a slow (emulated)
    /// machine.
    #[must_use]
    pub fn for_names(btf: Btf<'a>, wanted: &HashSet<&str>) -> Self {
        let filter = FirstBytes::of(wanted);
        let mut by_name: HashMap<&'a str, Vec<u32>> = HashMap::with_capacity(wanted.len());
        for ty in btf.types() {
            if ty.name_off == 0 || !filter.may_start(btf.str_byte(ty.name_off)) {
                continue;
            }
            if wanted.iter().any(|w| btf.str_is(ty.name_off, w)) {
                by_name
                    .entry(btf.str_at(ty.name_off))
                    .or_default()
                    .push(ty.id);
            }
        }
        KernelTypes { btf, by_name }
    }

    /// The indexed types named `name`.
    pub fn named(&self, name: &str) -> impl Iterator<Item = Type<'a>> + '_ {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|&id| self.btf.get(id))
    }

    /// The BTF itself.
    #[must_use]
    pub fn btf(&self) -> &Btf<'a> {
        &self.btf
    }
}

/// The first bytes of a set of names: a 256-bit table.
struct FirstBytes([u64; 4]);

impl FirstBytes {
    fn of(names: &HashSet<&str>) -> Self {
        let mut bits = [0u64; 4];
        for b in names.iter().filter_map(|n| n.bytes().next()) {
            bits[usize::from(b >> 6)] |= 1 << (b & 63);
        }
        FirstBytes(bits)
    }

    fn may_start(&self, b: Option<u8>) -> bool {
        b.is_some_and(|b| self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::tests::BtfBuilder;

    /// Types named alike, by prefix, by first byte, and anonymous.
    fn sample() -> Vec<u8> {
        let mut b = BtfBuilder::new();
        b.int("int", 4, true); // 1
        b.raw("task_struct", 4, 0, false, 8, &[]); // 2
        b.raw("task", 4, 0, false, 8, &[]); // 3
        b.raw("task_struct_ext", 4, 0, false, 8, &[]); // 4
        b.raw("", 4, 0, false, 8, &[]); // 5: anonymous
        b.raw("task_struct", 7, 0, false, 0, &[]); // 6: a forward declaration
        b.raw("rq", 4, 0, false, 8, &[]); // 7
        b.build()
    }

    #[test]
    fn indexes_exactly_the_wanted_names() {
        let raw = sample();
        let wanted: HashSet<&str> = ["task_struct", "rq", "missing", ""].into_iter().collect();
        let some = KernelTypes::for_names(Btf::parse(&raw).unwrap(), &wanted);
        let all = KernelTypes::new(Btf::parse(&raw).unwrap());
        let ids = |k: &KernelTypes<'_>, n: &str| k.named(n).map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(ids(&some, "task_struct"), vec![2, 6]);
        assert_eq!(ids(&some, "task_struct"), ids(&all, "task_struct"));
        assert_eq!(ids(&some, "rq"), vec![7]);
        for not_wanted in ["task", "task_struct_ext", "int", "missing", ""] {
            assert!(ids(&some, not_wanted).is_empty(), "{not_wanted}");
        }
        assert_eq!(ids(&all, "task"), vec![3]);
    }
}
