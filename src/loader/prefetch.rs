//! The running kernel read ahead: its BTF read (or mapped) and parsed and
//! its facts derived on a thread of their own while the caller opens and
//! verifies the package, so a first start after boot does the two at once.
//! Started only when this boot's verdict cache has nothing yet (a restart
//! or a switch reads no BTF at all and would only pay for the thread).

use std::time::Instant;

use super::boot_cache::BootCache;
use super::error::RunError;
use super::stages::lap;
use crate::btf::Btf;
use crate::kernel::{Kconfig, KernelError, KernelFacts};
use crate::live::{LiveKernel, SYS_BTF, System};

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

/// [`KernelRead::now`] running on a thread of its own.
#[derive(Debug)]
pub struct KernelPrefetch(std::thread::JoinHandle<Result<KernelRead, RunError>>);

impl KernelPrefetch {
    /// Starts reading the running kernel, unless this boot's cache already
    /// holds verdicts (then `None`: the selection will most likely not need
    /// the kernel, and reads it itself if it does).
    #[must_use]
    pub fn start(root: &System) -> Option<Self> {
        if BootCache::exists(root) {
            return None;
        }
        let root = root.clone();
        std::thread::Builder::new()
            .name("scxpack-kernel".into())
            .spawn(move || KernelRead::now(&root))
            .ok()
            .map(KernelPrefetch)
    }

    /// What the thread read (its panic, if it panicked, goes on here).
    pub fn join(self) -> Result<KernelRead, RunError> {
        self.0
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}
