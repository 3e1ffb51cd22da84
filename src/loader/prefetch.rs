//! The running kernel read ahead: its BTF read (or mapped) and parsed and
//! its facts derived on a thread of their own while the caller opens and
//! verifies the package, so a first start after boot does the two at once.
//! Started only when this boot's verdict cache has nothing yet (a restart
//! or a switch reads no BTF at all and would only pay for the thread);
//! the cache itself is read here, once, before the package is opened, so
//! a bare object's requirements can come from it too.

use std::time::Instant;

use super::boot_cache::BootCache;
use super::error::RunError;
use super::stages::lap;
use crate::btf::Btf;
use crate::kernel::{Kconfig, KernelError, KernelFacts};
use crate::live::{LiveKernel, SYS_BTF, System};
use crate::object::Requirements;

/// The running kernel as read once: its BTF bytes, config and facts.
#[derive(Debug)]
pub struct KernelRead {
    pub(super) live: LiveKernel,
    pub(super) kconfig: Option<Kconfig>,
    pub(super) facts: KernelFacts,
    /// Reading the BTF and config.
    pub(super) read_ms: u64,
    /// Parsing the BTF and deriving the facts.
    pub(super) parse_ms: u64,
}

impl KernelRead {
    /// Reads the running kernel through `root` now.
    pub fn now(root: &System) -> Result<Self, RunError> {
        let mut clock = Instant::now();
        let (live, kconfig) = read_live(root)?;
        let read_ms = lap(&mut clock);
        let btf = Btf::parse(&live.btf).map_err(|source| KernelError::Btf {
            path: root.path(std::path::Path::new(SYS_BTF)),
            source,
        })?;
        let facts = KernelFacts::from_btf(&btf, live.release.clone());
        let parse_ms = lap(&mut clock);
        Ok(KernelRead {
            live,
            kconfig,
            facts,
            read_ms,
            parse_ms,
        })
    }
}

/// The running kernel's BTF (mapped or read) and config.
pub(super) fn read_live(root: &System) -> Result<(LiveKernel, Option<Kconfig>), RunError> {
    let live = root.kernel().map_err(KernelError::from)?;
    let kconfig = Kconfig::running(root, live.release.as_deref());
    Ok((live, kconfig))
}

/// [`KernelRead::now`] on a thread of its own.
pub(super) type ReadThread = std::thread::JoinHandle<Result<KernelRead, RunError>>;

/// What a start knows of the running kernel before it opens the package:
/// this boot's cache, read once, and, when that cache holds no verdict
/// yet, `KernelRead::now` running on a thread of its own.
#[derive(Debug)]
pub struct KernelPrefetch {
    cache: Option<BootCache>,
    read: Option<ReadThread>,
}

impl KernelPrefetch {
    /// Reads this boot's cache and, unless it already holds verdicts (a
    /// restart or a switch, which will most likely not need the kernel and
    /// reads it itself if it does), starts reading the running kernel.
    #[must_use]
    pub fn start(root: &System) -> Self {
        let cache = BootCache::open(root);
        let read = cache
            .as_ref()
            .is_none_or(BootCache::is_empty)
            .then(|| {
                let root = root.clone();
                std::thread::Builder::new()
                    .name("scxpack-kernel".into())
                    .spawn(move || KernelRead::now(&root))
                    .ok()
            })
            .flatten();
        KernelPrefetch { cache, read }
    }

    /// The requirements of the bare object whose sha256 is `sha256`, when
    /// an earlier start in this boot read them (for
    /// [`crate::package::Package::open_reusing`]).
    #[must_use]
    pub fn bare_requirements(&self, sha256: &str) -> Option<Requirements> {
        self.cache.as_ref()?.object_requirements(sha256)
    }

    /// The cache and the thread, taken apart.
    pub(super) fn into_parts(self) -> (Option<BootCache>, Option<ReadThread>) {
        (self.cache, self.read)
    }
}

/// What the thread read, when one was started (its panic, if it panicked,
/// goes on here).
pub(super) fn join(read: Option<ReadThread>) -> Option<Result<KernelRead, RunError>> {
    read.map(|t| {
        t.join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
