//! The running system: the only module that knows the paths under `/sys`
//! and `/proc` (the kernel's BTF, its release, sched_ext's sysfs state, this
//! process's status). Everything here is a plain file read under a [`System`],
//! so tests can point it at a fake root; the loader's BPF syscalls live in
//! the loader.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the running kernel publishes its BTF.
pub const SYS_BTF: &str = "sys/kernel/btf/vmlinux";
/// The sched_ext sysfs directory.
pub const SYS_SCHED_EXT: &str = "sys/kernel/sched_ext";
const OSRELEASE: &str = "proc/sys/kernel/osrelease";
/// A random id the kernel draws at every boot.
/// CPUs the kernel can ever bring up, and those online now (cpulists).
const CPUS_POSSIBLE: &str = "sys/devices/system/cpu/possible";
const CPUS_ONLINE: &str = "sys/devices/system/cpu/online";
const BOOT_ID: &str = "proc/sys/kernel/random/boot_id";
/// Where the loader keeps what it learnt of the running kernel until
/// reboot, when the kernel has no build id.
pub const RUN_CACHE: &str = "run/scxpack";
/// Where the loader keeps what it learnt of a kernel with a build id, for
/// every boot of that kernel.
pub const KERNEL_CACHE: &str = "var/cache/scxpack/kernels";
/// The running kernel's ELF notes (`.notes` of its image).
const KERNEL_NOTES: &str = "sys/kernel/notes";
/// `NT_GNU_BUILD_ID`, the type of the note the linker writes the build id in.
const NT_GNU_BUILD_ID: u32 = 3;
/// This process's status (capabilities, resident memory).
const SELF_STATUS: &str = "/proc/self/status";

/// Why the running kernel could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "{path} does not exist: the running kernel exposes no BTF (it needs CONFIG_DEBUG_INFO_BTF=y); \
         pass --kernel with its vmlinuz or BTF file instead"
    )]
    NoBtf { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The state of sched_ext as `/sys/kernel/sched_ext/` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SchedExtSysfs {
    /// `enabling`, `enabled`, `disabling` or `disabled`.
    pub state: Option<String>,
    pub switch_all: Option<u64>,
    pub nr_rejected: Option<u64>,
    pub hotplug_seq: Option<u64>,
    pub enable_seq: Option<u64>,
    /// Name of the loaded scheduler (`root/ops`), when one is loaded.
    pub root_ops: Option<String>,
    /// `root/events` counters (6.15+), name → value.
    pub events: Vec<(String, u64)>,
}

/// The running kernel's raw facts: release, BTF bytes, sched_ext sysfs.
#[derive(Debug)]
pub struct LiveKernel {
    pub release: Option<String>,
    pub btf: KernelBtfBytes,
    /// None when `/sys/kernel/sched_ext` does not exist.
    pub sched_ext: Option<SchedExtSysfs>,
}

/// The running kernel's BTF: mapped read-only from sysfs where the kernel
/// allows it (6.16 and later: no copy, which matters most under emulation,
/// where reading 5 MB through sysfs's page-sized reads costs ~0.3 s), and
/// read into memory otherwise (older kernels, or a file in a fake root).
#[derive(Debug)]
pub enum KernelBtfBytes {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

/// `statfs` magic of sysfs.
const SYSFS_MAGIC: i64 = 0x6265_6572;

impl KernelBtfBytes {
    /// Maps `path` when it is a sysfs file that can be mapped, else reads it.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let mut file = std::fs::File::open(path)?;
        if on_sysfs(&file) {
            // SAFETY: sysfs's vmlinux BTF is the kernel's own read-only
            // `.BTF` section: it cannot change or shrink under the mapping.
            // The mapping is private and read-only.
            let mapped = unsafe { memmap2::MmapOptions::new().map_copy_read_only(&file) };
            if let Some(map) = mapped.ok().filter(|m| !m.is_empty()) {
                return Ok(KernelBtfBytes::Mapped(map));
            }
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes)?;
        Ok(KernelBtfBytes::Read(bytes))
    }

    /// Whether the bytes are mapped rather than copied.
    #[must_use]
    pub fn is_mapped(&self) -> bool {
        matches!(self, KernelBtfBytes::Mapped(_))
    }
}

impl std::ops::Deref for KernelBtfBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            KernelBtfBytes::Mapped(map) => map,
            KernelBtfBytes::Read(bytes) => bytes,
        }
    }
}

/// Whether `file` lives on sysfs (only there is mapping it known safe).
fn on_sysfs(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd as _;
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open for the call and `st` is writable.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), &raw mut st) };
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets
    let magic = st.f_type as i64;
    rc == 0 && magic == SYSFS_MAGIC
}

/// The running system, read under a root directory: `/` on a real system,
/// a fake tree in tests. (Not an install root: that is `--root`.)
#[derive(Debug, Clone)]
pub struct System(PathBuf);

impl Default for System {
    fn default() -> Self {
        System(PathBuf::from("/"))
    }
}

impl System {
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        System(path.into())
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    /// `rel` (e.g. `boot/config-6.16.3`) under this root.
    #[must_use]
    pub fn path(&self, rel: &std::path::Path) -> PathBuf {
        self.0.join(rel)
    }

    /// Reads the running kernel's BTF, release and sched_ext state.
    pub fn kernel(&self) -> Result<LiveKernel, LiveError> {
        let btf_path = self.join(SYS_BTF);
        let btf = KernelBtfBytes::read(&btf_path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                LiveError::NoBtf {
                    path: btf_path.clone(),
                }
            } else {
                LiveError::Io {
                    path: btf_path.clone(),
                    source,
                }
            }
        })?;
        Ok(LiveKernel {
            release: self.release(),
            btf,
            sched_ext: self.sched_ext(),
        })
    }

    /// This boot's id (`/proc/sys/kernel/random/boot_id`).
    #[must_use]
    pub fn boot_id(&self) -> Option<String> {
        read_trimmed(&self.join(BOOT_ID))
    }

    /// The running kernel's GNU build id (`/sys/kernel/notes`): it names
    /// the kernel image, and so everything built into it, its BTF and its
    /// built-in config included. None when the kernel was linked without
    /// one (or has no sysfs).
    #[must_use]
    pub fn kernel_build_id(&self) -> Option<Vec<u8>> {
        let notes = read_small(&self.join(KERNEL_NOTES))?;
        gnu_build_id(&notes).map(<[u8]>::to_vec)
    }

    /// Size and modification time (ns since the epoch) of `rel` under this
    /// root, without reading it.
    #[must_use]
    pub fn stamp(&self, rel: &str) -> Option<(u64, u128)> {
        let meta = std::fs::metadata(self.join(rel)).ok()?;
        let mtime = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some((meta.len(), mtime))
    }

    /// The running kernel's release (`uname -r`).
    #[must_use]
    pub fn release(&self) -> Option<String> {
        read_trimmed(&self.join(OSRELEASE))
    }

    /// Highest possible CPU id + 1 (`nr_cpu_ids`, what libbpf's
    /// `libbpf_num_possible_cpus` returns), from `/sys/devices/system/cpu/possible`.
    #[must_use]
    pub fn possible_cpus(&self) -> Option<u32> {
        cpu_list(&read_trimmed(&self.join(CPUS_POSSIBLE))?)?
            .iter()
            .max()
            .map(|last| last + 1)
    }

    /// How many CPUs are online, from `/sys/devices/system/cpu/online`.
    #[must_use]
    pub fn online_cpus(&self) -> Option<u32> {
        u32::try_from(cpu_list(&read_trimmed(&self.join(CPUS_ONLINE))?)?.len()).ok()
    }

    /// The sched_ext sysfs state, or None when the kernel has no sched_ext.
    #[must_use]
    pub fn sched_ext(&self) -> Option<SchedExtSysfs> {
        let dir = self.join(SYS_SCHED_EXT);
        if !dir.is_dir() {
            return None;
        }
        Some(SchedExtSysfs {
            state: self.sched_ext_state(),
            switch_all: self.sched_ext_count("switch_all"),
            nr_rejected: self.sched_ext_count("nr_rejected"),
            hotplug_seq: self.sched_ext_count("hotplug_seq"),
            enable_seq: self.sched_ext_count("enable_seq"),
            root_ops: self.sched_ext_root_ops(),
            events: read_events(&dir.join("root/events")),
        })
    }

    /// sched_ext's state alone (`/sys/kernel/sched_ext/state`), for the
    /// loader's polls: one file rather than all of [`Self::sched_ext`].
    /// None when the kernel has no sched_ext.
    #[must_use]
    pub fn sched_ext_state(&self) -> Option<String> {
        read_trimmed(&self.join(SYS_SCHED_EXT).join("state"))
    }

    /// The name of the scheduler sched_ext runs (`root/ops`), if any.
    #[must_use]
    pub fn sched_ext_root_ops(&self) -> Option<String> {
        read_trimmed(&self.join(SYS_SCHED_EXT).join("root/ops")).filter(|s| !s.is_empty())
    }

    /// One of sched_ext's counters (`enable_seq`, `hotplug_seq`, ...),
    /// where the kernel has it.
    #[must_use]
    pub fn sched_ext_count(&self, name: &str) -> Option<u64> {
        read_trimmed(&self.join(SYS_SCHED_EXT).join(name)).and_then(|s| s.parse().ok())
    }
}

/// The CPU ids of a kernel cpulist (`0-3,5,7-8`); None when malformed.
/// Ranges are bounded so a hostile file cannot make a huge list.
#[must_use]
pub fn cpu_list(text: &str) -> Option<Vec<u32>> {
    const MAX_CPUS: u32 = 1 << 16;
    let mut out = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
        if lo > hi || hi >= MAX_CPUS {
            return None;
        }
        out.extend(lo..=hi);
    }
    (!out.is_empty()).then_some(out)
}

/// This process's effective capabilities: from `capget(2)` (one system
/// call), else `CapEff` in `/proc/self/status`; 0 when neither answers.
#[must_use]
pub fn effective_caps() -> u64 {
    capget_effective().unwrap_or_else(|| {
        self_status("CapEff:")
            .and_then(|v| u64::from_str_radix(&v, 16).ok())
            .unwrap_or(0)
    })
}

/// The effective set from `capget(2)` with the 64-bit (version 3) layout.
fn capget_effective() -> Option<u64> {
    /// `struct __user_cap_header_struct`.
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    /// `struct __user_cap_data_struct`.
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget reads `header` and writes two `Data` records (the
    // count version 3 defines) into `data`, which outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            std::ptr::from_mut(&mut header),
            data.as_mut_ptr(),
        )
    };
    (rc == 0).then(|| u64::from(data[1].effective) << 32 | u64::from(data[0].effective))
}

/// This process's resident set size in KiB (`VmRSS`).
#[must_use]
pub fn rss_kib() -> Option<u64> {
    self_status_kib("VmRSS:")
}

/// This process's peak resident set size in KiB (`VmHWM`).
#[must_use]
pub fn peak_rss_kib() -> Option<u64> {
    self_status_kib("VmHWM:")
}

/// A `/proc/self/status` field given in kB.
fn self_status_kib(field: &str) -> Option<u64> {
    self_status(field)?.strip_suffix("kB")?.trim().parse().ok()
}

/// The value of one `/proc/self/status` field, trimmed.
fn self_status(field: &str) -> Option<String> {
    std::fs::read_to_string(SELF_STATUS)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
}

/// A small proc or sysfs file's text, trimmed.
fn read_trimmed(path: &Path) -> Option<String> {
    String::from_utf8(read_small(path)?)
        .ok()
        .map(|s| s.trim().to_string())
}

/// A small proc or sysfs file's bytes (at most 1 MiB). Read through `take`
/// so std asks for no size hint (proc and sysfs report size 0 or a page
/// anyway): one system call less per file, which the loader's polls and a
/// start under emulation notice.
fn read_small(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    const LIMIT: u64 = 1 << 20;
    let mut bytes = Vec::with_capacity(128);
    std::fs::File::open(path)
        .ok()?
        .take(LIMIT)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// The descriptor of the first `GNU` note of type `NT_GNU_BUILD_ID` in
/// `notes`: ELF notes in this machine's byte order, each a header of three
/// `u32` (name size, descriptor size, type), then the name and the
/// descriptor, each padded to 4 bytes. None when there is none, or the
/// notes are cut short or claim sizes they do not hold.
#[must_use]
pub fn gnu_build_id(notes: &[u8]) -> Option<&[u8]> {
    let mut rest = notes;
    while rest.len() >= 12 {
        let word = |i: usize| u32::from_ne_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let name_len = usize::try_from(word(0)).ok()?;
        let desc_len = usize::try_from(word(4)).ok()?;
        let desc_at = name_len.checked_next_multiple_of(4)?.checked_add(12)?;
        let next = desc_len.checked_next_multiple_of(4)?.checked_add(desc_at)?;
        let name = rest.get(12..name_len.checked_add(12)?)?;
        let desc = rest.get(desc_at..desc_at.checked_add(desc_len)?)?;
        if word(8) == NT_GNU_BUILD_ID && name == b"GNU\0" && !desc.is_empty() {
            return Some(desc);
        }
        rest = rest.get(next..).unwrap_or_default();
    }
    None
}

/// `root/events` holds `NAME VALUE` lines.
fn read_events(path: &Path) -> Vec<(String, u64)> {
    read_trimmed(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `capget(2)` and `/proc/self/status` agree on the effective set.
    #[test]
    fn capabilities_from_capget_match_proc() {
        let proc = self_status("CapEff:").and_then(|v| u64::from_str_radix(&v, 16).ok());
        assert!(proc.is_some());
        assert_eq!(capget_effective(), proc);
        assert_eq!(effective_caps(), proc.unwrap());
    }

    #[test]
    fn small_files_are_read_whole_and_trimmed() {
        assert_eq!(
            read_trimmed(Path::new("/proc/sys/kernel/osrelease"))
                .as_deref()
                .map(str::is_empty),
            Some(false)
        );
        let text = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(
            read_trimmed(Path::new("/proc/self/status"))
                .unwrap()
                .starts_with(text.trim().lines().next().unwrap())
        );
        assert!(read_trimmed(Path::new("/nonexistent/scxpack")).is_none());
    }

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [name.len(), desc.len()] {
            out.extend(u32::try_from(word).unwrap().to_ne_bytes());
        }
        out.extend(kind.to_ne_bytes());
        for part in [name, desc] {
            out.extend(part);
            out.resize(out.len().next_multiple_of(4), 0);
        }
        out
    }

    /// The build id is the `GNU` note of type 3, wherever it stands among
    /// the others; notes cut short or with sizes past the end give none.
    #[test]
    fn the_build_id_is_read_from_the_kernel_notes() {
        let id = [0xab; 20];
        let notes = [
            note(b"Linux\0", 6, b"6.18.1"),
            note(b"Xen\0", NT_GNU_BUILD_ID, &[1, 2, 3, 4]),
            note(b"GNU\0", NT_GNU_BUILD_ID, &id),
        ]
        .concat();
        assert_eq!(gnu_build_id(&notes), Some(&id[..]));
        assert_eq!(gnu_build_id(&notes[..notes.len() - 1]), None);
        assert_eq!(gnu_build_id(&note(b"GNU\0", 1, &id)), None);
        assert_eq!(gnu_build_id(&note(b"GNU\0", NT_GNU_BUILD_ID, &[])), None);
        let mut huge = note(b"GNU\0", NT_GNU_BUILD_ID, &id);
        huge[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(gnu_build_id(&huge), None);
        assert_eq!(gnu_build_id(&[]), None);
        // The machine running the tests: a non-empty id when it has notes.
        if let Some(real) = read_small(Path::new("/sys/kernel/notes")) {
            assert!(gnu_build_id(&real).is_none_or(|id| !id.is_empty()));
        }
    }

    /// The BTF of the machine running the tests, mapped (6.16+) or read,
    /// is the same bytes as a plain read.
    #[test]
    fn maps_or_reads_this_machines_btf_whole() {
        let path = Path::new("/").join(SYS_BTF);
        let Ok(plain) = std::fs::read(&path) else {
            crate::say!("SKIPPED: {} is not readable here", path.display());
            return;
        };
        let bytes = KernelBtfBytes::read(&path).unwrap();
        assert_eq!(&*bytes, plain.as_slice());
        crate::say!("{}: mapped {}", path.display(), bytes.is_mapped());
    }

    #[test]
    fn reads_a_fake_root() {
        let dir = std::env::temp_dir().join(format!("scxpack-live-{}", std::process::id()));
        let scx = dir.join(SYS_SCHED_EXT);
        std::fs::create_dir_all(scx.join("root")).unwrap();
        std::fs::create_dir_all(dir.join("sys/kernel/btf")).unwrap();
        std::fs::create_dir_all(dir.join("proc/sys/kernel")).unwrap();
        std::fs::write(dir.join(SYS_BTF), b"\x9f\xeb").unwrap();
        std::fs::write(dir.join(OSRELEASE), "6.16.3\n").unwrap();
        std::fs::write(scx.join("state"), "enabled\n").unwrap();
        std::fs::write(scx.join("enable_seq"), "3\n").unwrap();
        std::fs::write(scx.join("root/ops"), "fifo_1.0\n").unwrap();
        std::fs::write(scx.join("root/events"), "SCX_EV_X 5\nSCX_EV_Y 0\n").unwrap();
        let k = System::new(&dir).kernel().unwrap();
        // A file outside sysfs is read, never mapped.
        assert!(!k.btf.is_mapped());
        assert_eq!(&*k.btf, b"\x9f\xeb");
        let s = k.sched_ext.unwrap();
        assert_eq!(k.release.as_deref(), Some("6.16.3"));
        assert_eq!(s.state.as_deref(), Some("enabled"));
        assert_eq!(s.enable_seq, Some(3));
        assert_eq!(s.root_ops.as_deref(), Some("fifo_1.0"));
        assert_eq!(
            s.events,
            vec![("SCX_EV_X".into(), 5), ("SCX_EV_Y".into(), 0)]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_cpu_counts_from_cpulists() {
        let dir = std::env::temp_dir().join(format!("scxpack-cpus-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sys/devices/system/cpu")).unwrap();
        std::fs::write(dir.join(CPUS_POSSIBLE), "0-7\n").unwrap();
        std::fs::write(dir.join(CPUS_ONLINE), "0-2,5\n").unwrap();
        let sys = System::new(&dir);
        assert_eq!(sys.possible_cpus(), Some(8));
        assert_eq!(sys.online_cpus(), Some(4));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(System::new("/nonexistent-root").possible_cpus(), None);
        assert_eq!(cpu_list("0,2-3"), Some(vec![0, 2, 3]));
        for bad in ["", "3-1", "x", "0-99999999"] {
            assert_eq!(cpu_list(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn missing_btf_says_what_to_do() {
        let e = System::new("/nonexistent-root").kernel().unwrap_err();
        assert!(e.to_string().contains("CONFIG_DEBUG_INFO_BTF"), "{e}");
    }
}
