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
    /// with no hashing of the other ~150k names, which is what the loader
    /// can afford on a slow (emulated) machine.
    #[must_use]
    pub fn for_names(btf: Btf<'a>, wanted: &HashSet<&str>) -> Self {
        let mut by_name: HashMap<&'a str, Vec<u32>> = HashMap::with_capacity(wanted.len());
        for ty in btf.types() {
            if ty.name_off == 0 {
                continue;
            }
            let name = btf.name(&ty);
            if wanted.contains(name) {
                by_name.entry(name).or_default().push(ty.id);
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
