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
