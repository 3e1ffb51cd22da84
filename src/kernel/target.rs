//! The kernel a scheduler is matched against, built once from BTF bytes:
//! "BTF bytes → [`KernelFacts`] + the types CO-RE needs + the config", for
//! `probe`, `check` and `run` alike. [`KernelTarget::view`] lends it to
//! [`crate::matching`] as a [`Target`].

use std::collections::HashSet;
use std::path::Path;

use super::{Kconfig, KernelError, KernelFacts, KernelTypes};
use crate::btf::Btf;

/// A kernel parsed once: its facts, its BTF indexed for CO-RE (when asked
/// for), and its configuration (when known).
#[derive(Debug)]
pub struct KernelTarget<'a> {
    pub facts: KernelFacts,
    pub types: Option<KernelTypes<'a>>,
    pub kconfig: Option<Kconfig>,
}

/// What matching reads of one kernel: a borrowed [`KernelTarget`].
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub facts: &'a KernelFacts,
    /// The kernel's BTF, for CO-RE relocations (not checked when absent).
    pub btf: Option<&'a KernelTypes<'a>>,
    /// The kernel's configuration (`None`: unknown, the loader synthesizes a minimum).
    pub kconfig: Option<&'a Kconfig>,
}

/// Which of the kernel's types to index for CO-RE.
#[derive(Debug, Clone, Copy)]
pub enum CoreIndex<'n> {
    /// None: the caller checks no CO-RE relocations.
    Skip,
    /// Only these root type names (what the objects' relocations start
    /// from); an empty set indexes nothing.
    Names(&'n HashSet<&'n str>),
}

fn parse<'a>(btf: &'a [u8], origin: &Path) -> Result<Btf<'a>, KernelError> {
    Btf::parse(btf).map_err(|source| KernelError::Btf {
        path: origin.to_path_buf(),
        source,
    })
}

impl<'a> KernelTarget<'a> {
    /// Parses `btf` (read from `origin`, named in errors) once and derives
    /// everything matching needs from it.
    pub fn build(
        btf: &'a [u8],
        origin: &Path,
        release: Option<String>,
        kconfig: Option<Kconfig>,
        core: CoreIndex<'_>,
    ) -> Result<Self, KernelError> {
        let parsed = parse(btf, origin)?;
        let facts = KernelFacts::from_btf(&parsed, release);
        Ok(Self::assemble(parsed, facts, kconfig, core))
    }

    /// [`KernelTarget::build`] with the facts already derived from `btf`
    /// (on another thread, say): the BTF is parsed again only to index the
    /// CO-RE types, and not at all when none are asked for.
    pub fn with_facts(
        btf: &'a [u8],
        origin: &Path,
        facts: KernelFacts,
        kconfig: Option<Kconfig>,
        core: CoreIndex<'_>,
    ) -> Result<Self, KernelError> {
        match core {
            CoreIndex::Names(names) if !names.is_empty() => {
                Ok(Self::assemble(parse(btf, origin)?, facts, kconfig, core))
            }
            CoreIndex::Names(_) | CoreIndex::Skip => Ok(KernelTarget {
                facts,
                types: None,
                kconfig,
            }),
        }
    }

    fn assemble(
        parsed: Btf<'a>,
        facts: KernelFacts,
        kconfig: Option<Kconfig>,
        core: CoreIndex<'_>,
    ) -> Self {
        let types = match core {
            CoreIndex::Names(names) if !names.is_empty() => {
                Some(KernelTypes::for_names(parsed, names))
            }
            CoreIndex::Names(_) | CoreIndex::Skip => None,
        };
        KernelTarget {
            facts,
            types,
            kconfig,
        }
    }

    /// The kernel as matching reads it.
    #[must_use]
    pub fn view(&self) -> Target<'_> {
        Target {
            facts: &self.facts,
            btf: self.types.as_ref(),
            kconfig: self.kconfig.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::tests::BtfBuilder;

    fn sample() -> Vec<u8> {
        let mut b = BtfBuilder::new();
        b.int("int", 4, true); // 1
        b.raw("task_struct", 4, 0, false, 8, &[]); // 2
        b.build()
    }

    fn ids(k: &KernelTarget<'_>, name: &str) -> Vec<u32> {
        k.types
            .as_ref()
            .map(|t| t.named(name).map(|t| t.id).collect())
            .unwrap_or_default()
    }

    /// Facts derived elsewhere (the read-ahead thread) give the same
    /// target as building it in one go.
    #[test]
    fn with_facts_matches_build() {
        let raw = sample();
        let origin = Path::new("btf");
        let names: HashSet<&str> = ["task_struct"].into_iter().collect();
        let built =
            KernelTarget::build(&raw, origin, None, None, CoreIndex::Names(&names)).unwrap();
        let facts = built.facts.clone();
        let given =
            KernelTarget::with_facts(&raw, origin, facts, None, CoreIndex::Names(&names)).unwrap();
        assert_eq!(given.facts, built.facts);
        assert_eq!(ids(&given, "task_struct"), vec![2]);
        assert_eq!(ids(&given, "task_struct"), ids(&built, "task_struct"));
    }

    /// With no CO-RE types asked for, the BTF is not parsed again at all
    /// (bytes that do not parse are not even looked at); asked for, bad
    /// bytes are a typed error naming where they came from.
    #[test]
    fn with_facts_parses_only_to_index() {
        let raw = sample();
        let facts = KernelTarget::build(&raw, Path::new("btf"), None, None, CoreIndex::Skip)
            .unwrap()
            .facts;
        let junk = b"not btf";
        let none = HashSet::new();
        let k = KernelTarget::with_facts(
            junk,
            Path::new("x"),
            facts.clone(),
            None,
            CoreIndex::Names(&none),
        )
        .unwrap();
        assert!(k.types.is_none());
        let names: HashSet<&str> = ["task_struct"].into_iter().collect();
        let err =
            KernelTarget::with_facts(junk, Path::new("x"), facts, None, CoreIndex::Names(&names))
                .unwrap_err();
        assert!(err.to_string().contains('x'), "{err}");
    }
}
