//! Orchestrates a matrix run: inputs and tools, one initramfs per guest
//! architecture, a pool of worker threads booting kernels, and the
//! per-kernel verdict.
//!
//! Each kernel's architecture is read from its image; the tools of every
//! architecture present are located before anything is built, so a missing
//! arm64 binary, busybox or QEMU stops the run at once with what to install.
//! The initramfs images and the console logs are the only files written; the
//! images live in a private work directory under the system temp dir that is
//! removed when the run ends. Results keep the order of the kernels given.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::guest::{self, BOOT_MARKER, GuestJob, MARKER};
use super::initramfs::{self, InitramfsSpec, Libraries};
use super::qemu::{self, Ending, Outcome, QemuSpec};
use super::report::{self, GuestReport};
use super::{Accel, GuestBinary, KernelRun, VmConfig, VmError};
use crate::kernel::Arch;
use crate::kernel::source::{self, Format};
use crate::progress::Event;

/// How many console lines a failure message quotes.
const TAIL_LINES: usize = 8;
/// The longest a KVM attempt may take to reach `/init` before TCG is tried.
const KVM_BOOT_LIMIT: Duration = Duration::from_secs(20);

/// Boots every kernel with the same initramfs (busybox, the guest binary,
/// `payloads` under `/pkg/`) and runs `jobs` in each, `cfg.jobs` at a time.
pub fn run_matrix(
    kernels: &[PathBuf],
    payloads: &[PathBuf],
    jobs: &[GuestJob],
    cfg: &VmConfig,
) -> Result<Vec<KernelRun>, VmError> {
    let kernels = expand_kernels(kernels)?;
    validate(jobs, cfg)?;
    let arches = kernel_arches(&kernels)?;
    validate_accel(&kernels, &arches, cfg.accel)?;
    let mut located = Vec::new();
    for (arch, first) in distinct_arches(&kernels, &arches) {
        located.push(Tools::locate(cfg, arch, first)?);
    }
    let work = WorkDir::create()?;
    let mut guests = Vec::new();
    for tools in located {
        let dir = work.path.join(tools.arch.name());
        fs::create_dir(&dir).map_err(|e| VmError::io("creating work directory", &dir, e))?;
        let mut notes = Vec::new();
        let tools = tools.strip_binary(&dir, cfg, &mut notes);
        let initrd = write_initramfs(&dir, &tools, payloads, jobs, cfg)?;
        guests.push(Guest {
            tools,
            initrd,
            notes,
        });
    }
    let run = Run {
        guests: &guests,
        jobs,
        cfg,
    };
    Ok(run.boot_all(&kernels, &arches))
}

/// Each kernel's architecture, read from its image format; an image of no
/// known format is booted as `x86_64` (QEMU then says what is wrong).
fn kernel_arches(kernels: &[PathBuf]) -> Result<Vec<Arch>, VmError> {
    kernels
        .iter()
        .map(|k| {
            let format = source::sniff_file(k)?;
            Ok(format.and_then(Format::arch).unwrap_or(Arch::X86_64))
        })
        .collect()
}

/// The architectures present, in order of first appearance, each with its
/// first kernel (named in errors).
fn distinct_arches<'k>(kernels: &'k [PathBuf], arches: &[Arch]) -> Vec<(Arch, &'k Path)> {
    let mut out: Vec<(Arch, &Path)> = Vec::new();
    for (kernel, arch) in kernels.iter().zip(arches) {
        if !out.iter().any(|(a, _)| a == arch) {
            out.push((*arch, kernel));
        }
    }
    out
}

/// KVM cannot run an arm64 guest on this `x86_64` host.
fn validate_accel(kernels: &[PathBuf], arches: &[Arch], accel: Accel) -> Result<(), VmError> {
    let foreign = kernels
        .iter()
        .zip(arches)
        .find(|(_, arch)| **arch != Arch::X86_64);
    match (accel, foreign) {
        (Accel::Kvm, Some((kernel, arch))) => Err(VmError::Config(format!(
            "{} is an {arch} kernel: KVM cannot run it on this x86_64 host; use --accel tcg or auto",
            kernel.display()
        ))),
        _ => Ok(()),
    }
}

/// Expands directories to the bootable images (bzImage, by content) under
/// them, sorted; files are kept as given.
pub fn expand_kernels(paths: &[PathBuf]) -> Result<Vec<PathBuf>, VmError> {
    if paths.is_empty() {
        return Err(VmError::NoKernels("no kernel image given".to_owned()));
    }
    let mut kernels = Vec::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|source| VmError::Kernel {
            path: path.clone(),
            source,
        })?;
        if !meta.is_dir() {
            kernels.push(path.clone());
            continue;
        }
        let found = source::find_kernels_of(path, &[Format::BzImage, Format::Arm64])?;
        if found.is_empty() {
            return Err(VmError::NoKernels(format!(
                "no bootable kernel image (bzImage or arm64 Image) under {}",
                path.display()
            )));
        }
        kernels.extend(found);
    }
    Ok(kernels)
}

fn validate(jobs: &[GuestJob], cfg: &VmConfig) -> Result<(), VmError> {
    for (i, job) in jobs.iter().enumerate() {
        job.validate()?;
        if jobs[..i].iter().any(|other| other.id == job.id) {
            return Err(VmError::Job {
                id: job.id.clone(),
                reason: "two jobs have this id".to_owned(),
            });
        }
    }
    if cfg.cpus == 0 {
        return Err(VmError::Config("the guest needs at least 1 CPU".to_owned()));
    }
    if cfg.memory_mb < 128 {
        return Err(VmError::Config(format!(
            "{} MiB of guest memory is too little: give at least 128",
            cfg.memory_mb
        )));
    }
    if cfg.timeout.is_zero() || cfg.boot_timeout.is_zero() {
        return Err(VmError::Config("timeouts must be positive".to_owned()));
    }
    Ok(())
}

/// The host programs and guest binaries the kernels of one architecture need.
#[derive(Debug)]
struct Tools {
    arch: Arch,
    qemu: PathBuf,
    busybox: PathBuf,
    binary: Option<PathBuf>,
    /// The root the binaries' libraries come from (arm64 only).
    sysroot: Option<PathBuf>,
}

/// How to get an arm64 scxpack, named when none was given.
const ARM64_BINARY_HINT: &str = "set VmConfig::arm64.binary (`vmtest --arm64-scxpack FILE`); \
    packaging/cross-arm64.sh cross-builds one to /var/cache/scxpack-ci/cross-arm64/scxpack";
/// How to get an arm64 busybox, named when none was given.
const ARM64_BUSYBOX_HINT: &str = "set VmConfig::arm64.busybox (`vmtest --arm64-busybox FILE`); \
    packaging/cross-arm64.sh unpacks Debian's busybox-static:arm64 to \
    /var/cache/scxpack-ci/cross-arm64/busybox";

impl Tools {
    /// The tools for kernels of `arch` (`kernel`: the first one, for errors).
    fn locate(cfg: &VmConfig, arch: Arch, kernel: &Path) -> Result<Self, VmError> {
        match arch {
            Arch::X86_64 => Self::locate_host(cfg),
            Arch::Arm64 => Self::locate_arm64(cfg, kernel),
        }
    }

    fn locate_arm64(cfg: &VmConfig, kernel: &Path) -> Result<Self, VmError> {
        let wanted = |value: &Option<PathBuf>, what, hint| {
            value.clone().ok_or_else(|| VmError::MissingGuest {
                arch: Arch::Arm64,
                what,
                kernel: kernel.to_owned(),
                hint,
            })
        };
        let binary = match cfg.guest_binary {
            GuestBinary::None => None,
            _ => Some(wanted(
                &cfg.arm64.binary,
                "scxpack binary",
                ARM64_BINARY_HINT,
            )?),
        };
        Ok(Self {
            arch: Arch::Arm64,
            qemu: find_qemu(cfg.arm64.qemu.as_deref(), Arch::Arm64)?,
            busybox: wanted(&cfg.arm64.busybox, "busybox", ARM64_BUSYBOX_HINT)?,
            binary,
            sysroot: cfg.arm64.sysroot.clone(),
        })
    }

    fn locate_host(cfg: &VmConfig) -> Result<Self, VmError> {
        let qemu = find_qemu(cfg.qemu.as_deref(), Arch::X86_64)?;
        let busybox = match &cfg.busybox {
            Some(path) => existing(path, "busybox", "busybox-static")?,
            None => find_busybox()?,
        };
        let binary = match &cfg.guest_binary {
            GuestBinary::None => None,
            GuestBinary::Path(path) => Some(path.clone()),
            GuestBinary::CurrentExe => {
                Some(std::env::current_exe().map_err(|e| VmError::GuestBinary {
                    path: PathBuf::from("<current executable>"),
                    reason: e.to_string(),
                })?)
            }
        };
        Ok(Self {
            arch: Arch::X86_64,
            qemu,
            busybox,
            binary,
            sysroot: None,
        })
    }

    /// Where the binaries' libraries come from.
    fn libraries(&self) -> Libraries<'_> {
        match self.arch {
            Arch::X86_64 => Libraries::Host,
            arch @ Arch::Arm64 => Libraries::Foreign {
                arch,
                sysroot: self.sysroot.as_deref(),
            },
        }
    }
}

/// The configured QEMU for `arch`, else its binary in `PATH`.
fn find_qemu(configured: Option<&Path>, arch: Arch) -> Result<PathBuf, VmError> {
    let (tool, package) = qemu::qemu_for(arch);
    match configured {
        Some(path) => existing(path, tool, package),
        None => qemu::find_in_path(tool).ok_or(VmError::MissingTool {
            tool,
            looked: "in PATH".to_owned(),
            package,
        }),
    }
}

impl Tools {
    /// Replaces the guest binary by a copy without debug info when
    /// [`VmConfig::strip_debug`] asks for it and `objcopy` works.
    fn strip_binary(mut self, work: &Path, cfg: &VmConfig, notes: &mut Vec<String>) -> Self {
        if let (true, Some(binary)) = (cfg.strip_debug, &self.binary) {
            match initramfs::strip_debug(binary, work) {
                Ok(stripped) => self.binary = Some(stripped),
                Err(why) => notes.push(format!("guest binary kept with its debug info: {why}")),
            }
        }
        self
    }
}

fn existing(path: &Path, tool: &'static str, package: &'static str) -> Result<PathBuf, VmError> {
    if path.is_file() {
        Ok(path.to_owned())
    } else {
        Err(VmError::MissingTool {
            tool,
            looked: format!("at {}", path.display()),
            package,
        })
    }
}

fn find_busybox() -> Result<PathBuf, VmError> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| qemu::find_in_path("busybox"))
        .ok_or(VmError::MissingTool {
            tool: "busybox",
            looked: "at /bin/busybox, /usr/bin/busybox and in PATH".to_owned(),
            package: "busybox-static",
        })
}

/// A private temporary directory, removed on drop.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create() -> Result<Self, VmError> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "scxpack-vm-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir(&path).map_err(|e| VmError::io("creating work directory", &path, e))?;
        Ok(Self { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn write_initramfs(
    work: &Path,
    tools: &Tools,
    payloads: &[PathBuf],
    jobs: &[GuestJob],
    cfg: &VmConfig,
) -> Result<PathBuf, VmError> {
    let init = guest::init_script(jobs, cfg.init)?;
    let spec = InitramfsSpec {
        busybox: &tools.busybox,
        binary: tools.binary.as_deref(),
        payloads,
        files: &cfg.files,
        init: &init,
        libraries: tools.libraries(),
    };
    let image = initramfs::build_initramfs(&spec, cfg.compression)?;
    let path = work.join("initramfs.img");
    fs::write(&path, image).map_err(|e| VmError::io("writing initramfs", &path, e))?;
    Ok(path)
}

/// What the kernels of one architecture boot with.
struct Guest {
    tools: Tools,
    initrd: PathBuf,
    /// Notes of the whole run for this architecture, copied into every kernel's.
    notes: Vec<String>,
}

/// Shared, read-only state of the worker threads.
struct Run<'a> {
    guests: &'a [Guest],
    jobs: &'a [GuestJob],
    cfg: &'a VmConfig,
}

impl Run<'_> {
    /// Boots every kernel on `cfg.jobs` worker threads; keeps the input order.
    fn boot_all(&self, kernels: &[PathBuf], arches: &[Arch]) -> Vec<KernelRun> {
        let progress = &self.cfg.progress;
        progress.emit(Event::Planned {
            total: kernels.len(),
        });
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<KernelRun>>> = Mutex::new(vec![None; kernels.len()]);
        let workers = self.cfg.jobs.clamp(1, kernels.len().max(1));
        thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(kernel) = kernels.get(i) else { break };
                            let label = kernel_label(kernel);
                            progress.emit(Event::Started { item: &label });
                            let run = match self.guests.iter().find(|g| g.tools.arch == arches[i]) {
                                Some(guest) => self.boot_kernel(i, kernel, guest),
                                None => lost_run(kernel, "internal error: no guest was prepared for this kernel's architecture"),
                            };
                            progress.emit(Event::Finished {
                                item: &label,
                                ok: run.failure.is_none(),
                            });
                            results.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(run);
                        }
                    })
                })
                .collect();
            for handle in handles {
                let _ = handle.join();
            }
        });
        let results = results.into_inner().unwrap_or_else(PoisonError::into_inner);
        results
            .into_iter()
            .zip(kernels)
            .map(|(run, kernel)| {
                run.unwrap_or_else(|| {
                    lost_run(
                        kernel,
                        "internal error: the worker booting this kernel panicked",
                    )
                })
            })
            .collect()
    }

    /// Boots one kernel, trying KVM first under [`Accel::Auto`].
    fn boot_kernel(&self, index: usize, kernel: &Path, guest: &Guest) -> KernelRun {
        let start = Instant::now();
        let mut notes = guest.notes.clone();
        let accel = match self.cfg.accel {
            Accel::Auto if guest.tools.arch != Arch::X86_64 => {
                notes.push(format!(
                    "{} guest on an x86_64 host: TCG (KVM cannot run it)",
                    guest.tools.arch
                ));
                Accel::Tcg
            }
            Accel::Auto if qemu::kvm_usable() => {
                let mut spec = self.spec(index, kernel, Accel::Kvm, guest);
                spec.boot_timeout = spec.boot_timeout.min(KVM_BOOT_LIMIT);
                let outcome = qemu::run(&spec);
                if outcome.boot.is_some() {
                    return self.finish(kernel, &spec, outcome, notes, start);
                }
                notes.push(format!(
                    "KVM: the guest did not reach /init ({}); retried with TCG",
                    short_reason(&outcome)
                ));
                Accel::Tcg
            }
            Accel::Auto => {
                notes.push("/dev/kvm is not usable: using TCG".to_owned());
                Accel::Tcg
            }
            fixed => fixed,
        };
        let spec = self.spec(index, kernel, accel, guest);
        let outcome = qemu::run(&spec);
        self.finish(kernel, &spec, outcome, notes, start)
    }

    fn spec(&self, index: usize, kernel: &Path, accel: Accel, guest: &Guest) -> QemuSpec {
        let log = self
            .cfg
            .log_dir
            .as_ref()
            .map(|dir| dir.join(format!("{index:02}-{}-{accel}.log", kernel_label(kernel))));
        QemuSpec {
            qemu: guest.tools.qemu.clone(),
            arch: guest.tools.arch,
            accel,
            kernel: kernel.to_owned(),
            initrd: guest.initrd.clone(),
            memory_mb: self.cfg.memory_mb,
            cpus: self.cfg.cpus,
            append: self.cfg.append.clone(),
            boot_timeout: self.cfg.boot_timeout.min(self.cfg.timeout),
            timeout: self.cfg.timeout,
            log,
            boot_marker: BOOT_MARKER.to_owned(),
        }
    }

    fn finish(
        &self,
        kernel: &Path,
        spec: &QemuSpec,
        outcome: Outcome,
        mut notes: Vec<String>,
        start: Instant,
    ) -> KernelRun {
        let report = report::parse_console(&outcome.lines, self.jobs);
        let failure = failure_reason(&outcome, &report);
        let stderr = outcome.stderr.trim();
        if !stderr.is_empty() && !failure.as_deref().is_some_and(|f| f.contains(stderr)) {
            notes.push(format!("QEMU stderr: {stderr}"));
        }
        if let Some(e) = &outcome.log_error {
            notes.push(format!("console log not written: {e}"));
        }
        KernelRun {
            kernel: kernel.to_owned(),
            accel: spec.accel,
            release: report.release,
            sched_ext: report.sched_ext,
            booted: report.boot_seen || outcome.boot.is_some(),
            boot_secs: outcome.boot.map(|d| d.as_secs_f64()),
            total_secs: start.elapsed().as_secs_f64(),
            jobs: report.jobs,
            sched_ext_log: report.dmesg,
            failure,
            notes,
            console_log: spec.log.clone().filter(|_| outcome.log_error.is_none()),
            console: outcome.lines,
        }
    }
}

/// A placeholder for a kernel that could not be booted for an internal
/// reason (a worker thread died; it should not).
fn lost_run(kernel: &Path, failure: &str) -> KernelRun {
    KernelRun {
        kernel: kernel.to_owned(),
        accel: Accel::Auto,
        release: None,
        sched_ext: None,
        booted: false,
        boot_secs: None,
        total_secs: 0.0,
        jobs: Vec::new(),
        sched_ext_log: Vec::new(),
        failure: Some(failure.to_owned()),
        notes: Vec::new(),
        console_log: None,
        console: Vec::new(),
    }
}

/// A file-name-safe label: the parent directory for `.../<label>/vmlinuz`,
/// the file name otherwise.
fn kernel_label(kernel: &Path) -> String {
    let file = kernel.file_name().map(|n| n.to_string_lossy().into_owned());
    let parent = kernel
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned());
    let raw = match (file.as_deref(), parent) {
        (Some("vmlinuz"), Some(parent)) => parent,
        (Some(file), _) => file.to_owned(),
        (None, _) => "kernel".to_owned(),
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Why the guest did not complete, or `None` if it did.
fn failure_reason(outcome: &Outcome, report: &GuestReport) -> Option<String> {
    let reason = match &outcome.ending {
        Ending::HostError(e) => Some(e.clone()),
        Ending::Timeout(t) => Some(format!(
            "guest timed out after {} s{}",
            secs(*t),
            console_tail(outcome)
        )),
        Ending::BootTimeout(t) => Some(format!(
            "guest did not reach /init within {} s (no {BOOT_MARKER} marker){}",
            secs(*t),
            console_tail(outcome)
        )),
        Ending::Exited(status) => exited_reason(status, outcome, report),
    };
    match (&report.panic, reason) {
        (Some(panic), Some(reason)) if !reason.contains(panic.as_str()) => {
            Some(format!("{panic}; {reason}"))
        }
        (Some(panic), None) => Some(panic.clone()),
        (_, reason) => reason,
    }
}

fn exited_reason(status: &str, outcome: &Outcome, report: &GuestReport) -> Option<String> {
    let stderr = outcome.stderr.trim();
    if let Some(panic) = &report.panic {
        return Some(format!("{panic} (QEMU {status}){}", console_tail(outcome)));
    }
    if !report.boot_seen {
        if !stderr.is_empty() {
            return Some(format!("QEMU failed ({status}): {stderr}"));
        }
        return Some(format!(
            "the kernel did not boot: QEMU ended ({status}) with no {BOOT_MARKER} marker on the \
             console (the guest reset or stopped before /init: a truncated or corrupt image, or a \
             kernel this CPU model cannot run){}",
            console_tail(outcome)
        ));
    }
    if !report.done {
        return Some(format!(
            "the guest stopped ({status}) before finishing its jobs (no {MARKER}DONE marker){}",
            console_tail(outcome)
        ));
    }
    None
}

/// A one-line reason for notes (the KVM attempt).
fn short_reason(outcome: &Outcome) -> String {
    let stderr = outcome.stderr.trim();
    match &outcome.ending {
        _ if !stderr.is_empty() => stderr.lines().next().unwrap_or(stderr).to_owned(),
        Ending::Exited(status) => format!("QEMU {status}"),
        Ending::BootTimeout(t) | Ending::Timeout(t) => {
            format!("no boot marker after {} s", secs(*t))
        }
        Ending::HostError(e) => e.clone(),
    }
}

fn console_tail(outcome: &Outcome) -> String {
    let tail = report::tail(&outcome.lines, TAIL_LINES);
    if tail.is_empty() {
        return "; the console stayed empty".to_owned();
    }
    format!("; last console lines:\n    {}", tail.join("\n    "))
}

fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{:.1}", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_kernel_folder() {
        assert_eq!(
            kernel_label(Path::new("/k/6.12.117+deb13/vmlinuz")),
            "6.12.117+deb13"
        );
        assert_eq!(
            kernel_label(Path::new("/boot/vmlinuz-6.1.0-9-amd64")),
            "vmlinuz-6.1.0-9-amd64"
        );
        assert_eq!(kernel_label(Path::new("/x/a b/vmlinuz")), "a_b");
    }

    #[test]
    fn empty_and_missing_kernel_inputs_are_errors() {
        assert!(matches!(expand_kernels(&[]), Err(VmError::NoKernels(_))));
        let missing = expand_kernels(&[PathBuf::from("/nonexistent/vmlinuz")]);
        assert!(matches!(missing, Err(VmError::Kernel { .. })));
    }

    /// A fake kernel image of `format` in `dir` (just the bytes the
    /// sniffer reads).
    fn fake_image(dir: &Path, name: &str, arm64: bool) -> PathBuf {
        let mut bytes = vec![0u8; 0x240];
        if arm64 {
            bytes[0x38..0x3c].copy_from_slice(b"ARM\x64");
        } else {
            bytes[0x202..0x206].copy_from_slice(b"HdrS");
        }
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        path
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("scxpack-matrix-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn each_kernel_goes_to_the_qemu_of_its_architecture() {
        let dir = scratch("arches");
        let x86 = fake_image(&dir, "bz", false);
        let arm = fake_image(&dir, "image", true);
        let other = dir.join("junk");
        fs::write(&other, b"not a kernel").unwrap();
        let kernels = [arm.clone(), x86.clone(), other, arm.clone()];
        let arches = kernel_arches(&kernels).unwrap();
        let (a, x) = (Arch::Arm64, Arch::X86_64);
        assert_eq!(arches, [a, x, x, a]);
        let distinct = distinct_arches(&kernels, &arches);
        assert_eq!(distinct, [(a, arm.as_path()), (x, x86.as_path())]);
        assert!(validate_accel(&kernels, &arches, Accel::Tcg).is_ok());
        assert!(validate_accel(&kernels, &arches, Accel::Auto).is_ok());
        let kvm = validate_accel(&kernels, &arches, Accel::Kvm).unwrap_err();
        assert!(kvm.to_string().contains("KVM cannot run it"), "{kvm}");
        assert!(validate_accel(&kernels[1..3], &arches[1..3], Accel::Kvm).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_arm64_kernel_without_its_guest_says_what_to_give() {
        let kernel = Path::new("/k/6.16.3+deb13/vmlinuz");
        let mut cfg = VmConfig::default();
        let err = Tools::locate(&cfg, Arch::Arm64, kernel).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                VmError::MissingGuest {
                    what: "scxpack binary",
                    ..
                }
            ),
            "{text}"
        );
        assert!(
            text.contains("--arm64-scxpack") && text.contains("cross-arm64.sh"),
            "{text}"
        );
        cfg.arm64.binary = Some("/arm64/scxpack".into());
        cfg.arm64.qemu = Some("/nonexistent/qemu-system-aarch64".into());
        let err = Tools::locate(&cfg, Arch::Arm64, kernel).unwrap_err();
        assert!(
            err.to_string().contains("apt-get install qemu-system-arm"),
            "{err}"
        );
        // A busybox-only run needs no arm64 scxpack, but still a busybox.
        cfg.guest_binary = GuestBinary::None;
        cfg.arm64.binary = None;
        cfg.arm64.qemu = Some(std::env::current_exe().unwrap());
        let err = Tools::locate(&cfg, Arch::Arm64, kernel).unwrap_err();
        assert!(
            matches!(
                err,
                VmError::MissingGuest {
                    what: "busybox",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("busybox-static:arm64"), "{err}");
        cfg.arm64.busybox = Some("/arm64/busybox".into());
        let tools = Tools::locate(&cfg, Arch::Arm64, kernel).unwrap();
        assert_eq!(tools.binary, None);
        assert_eq!(
            tools.libraries(),
            Libraries::Foreign {
                arch: Arch::Arm64,
                sysroot: None
            }
        );
    }

    #[test]
    fn a_host_binary_is_refused_as_the_arm64_guest() {
        let dir = scratch("foreign");
        let spec = InitramfsSpec {
            busybox: &std::env::current_exe().unwrap(),
            binary: None,
            payloads: &[],
            files: &[],
            init: "#!/bin/sh\n",
            libraries: Libraries::Foreign {
                arch: Arch::Arm64,
                sysroot: Some(&dir),
            },
        };
        let err = initramfs::build_archive(&spec).unwrap_err();
        assert!(matches!(err, VmError::GuestBinary { .. }), "{err}");
        assert!(err.to_string().contains("not for arm64"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_timeout_quotes_the_console() {
        let outcome = Outcome {
            ending: Ending::Timeout(Duration::from_secs(7)),
            lines: vec!["@@SCXPACK-BOOT".into(), "still here".into()],
            stderr: String::new(),
            boot: Some(Duration::from_secs(2)),
            elapsed: Duration::from_secs(7),
            log_error: None,
        };
        let report = report::parse_console(&outcome.lines, &[]);
        let reason = failure_reason(&outcome, &report).unwrap();
        assert!(reason.starts_with("guest timed out after 7 s"), "{reason}");
        assert!(reason.ends_with("still here"), "{reason}");
    }

    #[test]
    fn a_clean_run_has_no_failure() {
        let outcome = Outcome {
            ending: Ending::Exited("exit status 0".into()),
            lines: vec!["@@SCXPACK-BOOT".into(), "@@SCXPACK-DONE".into()],
            stderr: String::new(),
            boot: Some(Duration::from_secs(2)),
            elapsed: Duration::from_secs(3),
            log_error: None,
        };
        let report = report::parse_console(&outcome.lines, &[]);
        assert_eq!(failure_reason(&outcome, &report), None);
    }
}
