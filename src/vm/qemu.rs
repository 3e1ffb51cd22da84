//! Runs one QEMU guest: builds the command line, captures the serial console,
//! enforces the boot and overall deadlines.
//!
//! QEMU runs in its own process group with stdin closed; the serial console
//! (`-nographic`: stdout) is read line by line by a thread that timestamps each
//! line, watches for the boot marker and copies the raw bytes to an optional
//! log file; stderr (QEMU's own errors) is collected by another thread. On a
//! deadline the whole process group is sent SIGKILL (through the `kill`
//! utility, std having no `killpg`; the child itself is also killed through
//! std as a fallback) and reaped, so no guest outlives its run. QEMU is
//! started under coreutils `timeout --signal=KILL` (the deadline plus
//! [`ORPHAN_GRACE`]) when that is in `PATH`, so a guest is bounded even if
//! this process dies first (its own process group does not get the
//! terminal's Ctrl-C).

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::Accel;
use crate::kernel::Arch;

/// The kernel command line every `x86_64` guest gets (before the caller's
/// additions). `no_timer_check`: on a loaded host the emulated timer can
/// tick too late for the boot-time IO-APIC check, which then panics
/// ("IO-APIC + timer doesn't work!"); seen here under TCG with other guests
/// running.
pub const BASE_APPEND: &str = "console=ttyS0 quiet panic=-1 no_timer_check";

/// The kernel command line every arm64 guest gets: the `virt` machine's
/// console is the PL011 UART.
pub const BASE_APPEND_ARM64: &str = "console=ttyAMA0 quiet panic=-1";

/// The QEMU binary looked up in `PATH` when none is configured.
pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// The QEMU binary of arm64 guests.
pub const QEMU_BINARY_ARM64: &str = "qemu-system-aarch64";

/// The QEMU binary (looked up in `PATH`) and the Debian package that ships it,
/// for guests of `arch`.
#[must_use]
pub fn qemu_for(arch: Arch) -> (&'static str, &'static str) {
    match arch {
        Arch::X86_64 => (QEMU_BINARY, "qemu-system-x86"),
        Arch::Arm64 => (QEMU_BINARY_ARM64, "qemu-system-arm"),
    }
}

const POLL: Duration = Duration::from_millis(20);

/// How long after its deadline `timeout(1)` kills an orphaned QEMU.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(10);

/// Everything needed to start one guest.
#[derive(Debug, Clone)]
pub struct QemuSpec {
    pub qemu: PathBuf,
    /// The guest's architecture: the machine and console differ.
    pub arch: Arch,
    pub accel: Accel,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub memory_mb: u32,
    pub cpus: u32,
    pub append: Vec<String>,
    /// Kill the guest if the boot marker has not shown by then.
    pub boot_timeout: Duration,
    /// Kill the guest after this long in any case.
    pub timeout: Duration,
    /// Copy the raw console here.
    pub log: Option<PathBuf>,
    /// The console text that proves the guest reached `/init`.
    pub boot_marker: String,
}

impl QemuSpec {
    /// The QEMU arguments (without the program).
    #[must_use]
    pub fn args(&self) -> Vec<OsString> {
        let mut append = String::from(match self.arch {
            Arch::X86_64 => BASE_APPEND,
            Arch::Arm64 => BASE_APPEND_ARM64,
        });
        for extra in &self.append {
            append.push(' ');
            append.push_str(extra);
        }
        // Multi-threaded TCG lets guest CPUs run while another rewrites kernel
        // text (static keys, alternatives); the 6.19+ Debian guests then die
        // with "Oops: int3" when sched_ext flips its static branches. One
        // TCG thread serialises the vCPUs, and those crashes stop.
        let accel = match self.accel {
            Accel::Kvm => "kvm",
            Accel::Tcg | Accel::Auto => "tcg,thread=single",
        };
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |a: &str| args.push(a.into());
        if self.arch == Arch::Arm64 {
            // The generic virtual board: PL011 console, GIC, PSCI poweroff.
            push("-M");
            push("virt");
        }
        push("-accel");
        push(accel);
        push("-cpu");
        push("max");
        push("-m");
        push(&format!("{}M", self.memory_mb));
        push("-smp");
        push(&self.cpus.to_string());
        push("-nic");
        push("none");
        push("-nographic");
        push("-no-reboot");
        push("-append");
        push(&append);
        args.extend(["-kernel".into(), self.kernel.clone().into_os_string()]);
        args.extend(["-initrd".into(), self.initrd.clone().into_os_string()]);
        args
    }
}

/// How the QEMU process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// QEMU exited by itself.
    Exited(String),
    /// Killed: the boot marker did not show within the boot timeout.
    BootTimeout(Duration),
    /// Killed: the overall timeout expired.
    Timeout(Duration),
    /// QEMU could not be started, or waiting for it failed.
    HostError(String),
}

/// What one QEMU run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ending: Ending,
    /// Console lines, control sequences removed.
    pub lines: Vec<String>,
    /// QEMU's stderr.
    pub stderr: String,
    /// From QEMU start to the first boot marker.
    pub boot: Option<Duration>,
    /// From QEMU start to its exit.
    pub elapsed: Duration,
    /// The log file could not be written.
    pub log_error: Option<String>,
}

#[derive(Debug, Default)]
struct Console {
    lines: Vec<String>,
    boot: Option<Duration>,
    log_error: Option<String>,
}

type Shared = Arc<Mutex<Console>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Console> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts QEMU and waits for it, killing it at a deadline. Never panics and
/// never leaves the process running.
#[must_use]
pub fn run(spec: &QemuSpec) -> Outcome {
    let start = Instant::now();
    let mut child = match spawn(spec) {
        Ok(child) => child,
        Err(e) => {
            return Outcome {
                ending: Ending::HostError(format!("cannot start {}: {e}", spec.qemu.display())),
                lines: Vec::new(),
                stderr: String::new(),
                boot: None,
                elapsed: start.elapsed(),
                log_error: None,
            };
        }
    };
    let shared: Shared = Arc::default();
    let log = open_log(spec.log.as_deref(), &shared);
    let stdout_reader = child.stdout.take().map(|out| {
        read_console(
            out,
            log,
            Arc::clone(&shared),
            start,
            spec.boot_marker.clone(),
        )
    });
    let stderr_reader = child.stderr.take().map(read_all);
    let ending = supervise(&mut child, spec, &shared, start);
    let elapsed = start.elapsed();
    if let Some(handle) = stdout_reader {
        let _ = handle.join();
    }
    let stderr = stderr_reader
        .and_then(|h| h.join().ok())
        .unwrap_or_default();
    let console = std::mem::take(&mut *lock(&shared));
    Outcome {
        ending,
        lines: console.lines,
        stderr,
        boot: console.boot,
        elapsed,
        log_error: console.log_error,
    }
}

fn spawn(spec: &QemuSpec) -> std::io::Result<Child> {
    let qemu = resolve_program(&spec.qemu)?;
    let mut command = match find_in_path("timeout") {
        Some(timeout) => {
            let limit = (spec.timeout + ORPHAN_GRACE).as_secs().max(1);
            let mut c = Command::new(timeout);
            c.arg("--signal=KILL").arg(limit.to_string()).arg(qemu);
            c
        }
        None => Command::new(qemu),
    };
    command
        .args(spec.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

/// An existing file as given, or a bare name found in `PATH`: a missing QEMU
/// is reported as ours, not as `timeout`'s exit status 127.
fn resolve_program(program: &Path) -> std::io::Result<PathBuf> {
    if program.is_file() {
        return Ok(program.to_owned());
    }
    let bare = program.components().count() == 1;
    program
        .to_str()
        .filter(|_| bare)
        .and_then(find_in_path)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
}

fn open_log(path: Option<&Path>, shared: &Shared) -> Option<File> {
    let path = path?;
    let opened = path
        .parent()
        .map_or(Ok(()), fs::create_dir_all)
        .and_then(|()| File::create(path));
    match opened {
        Ok(file) => Some(file),
        Err(e) => {
            lock(shared).log_error = Some(format!("{}: {e}", path.display()));
            None
        }
    }
}

/// Polls the child until it exits or a deadline passes.
fn supervise(child: &mut Child, spec: &QemuSpec, shared: &Shared, start: Instant) -> Ending {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ending::Exited(describe_status(status)),
            Ok(None) => {}
            Err(e) => {
                kill_and_reap(child);
                return Ending::HostError(format!("waiting for QEMU failed: {e}"));
            }
        }
        let now = start.elapsed();
        if now >= spec.timeout {
            kill_and_reap(child);
            return Ending::Timeout(spec.timeout);
        }
        if now >= spec.boot_timeout && lock(shared).boot.is_none() {
            kill_and_reap(child);
            return Ending::BootTimeout(spec.boot_timeout);
        }
        thread::sleep(POLL);
    }
}

fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => format!("{status}"),
    }
}

/// SIGKILLs QEMU's process group (it leads its own), then the child itself,
/// then reaps it.
fn kill_and_reap(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

fn read_console<R: Read + Send + 'static>(
    out: R,
    mut log: Option<File>,
    shared: Shared,
    start: Instant,
    marker: String,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(out);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Some(file) = log.as_mut() {
                if let Err(e) = file.write_all(&raw) {
                    lock(&shared).log_error = Some(e.to_string());
                    log = None;
                }
            }
            let line = clean_line(&raw);
            let mut console = lock(&shared);
            if console.boot.is_none() && line.contains(&marker) {
                console.boot = Some(start.elapsed());
            }
            console.lines.push(line);
        }
    })
}

fn read_all<R: Read + Send + 'static>(mut err: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = err.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Decodes one console line, dropping terminal escape sequences (the
/// firmware clears the screen) and control characters other than tab.
pub(crate) fn clean_line(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            skip_escape(&mut chars);
        } else if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    // Two-character sequences (ESC c, ESC 7, ...) end here; a CSI (ESC [)
    // goes on with parameters and intermediates up to one final byte in @..~.
    if chars.next() == Some('[') {
        for c in chars.by_ref() {
            if ('@'..='~').contains(&c) {
                break;
            }
        }
    }
}

/// Whether `/dev/kvm` can be opened for reading and writing.
#[must_use]
pub fn kvm_usable() -> bool {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// Finds `name` in `PATH`.
#[must_use]
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_carriage_returns_are_dropped() {
        let raw = b"Booting from ROM..\x1bc\x1b[?7l\x1b[2J@@SCXPACK-BOOT\r\n";
        assert_eq!(clean_line(raw), "Booting from ROM..@@SCXPACK-BOOT");
    }

    fn arg_strings(spec: &QemuSpec) -> Vec<String> {
        spec.args()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn command_line_has_the_documented_shape() {
        let spec = QemuSpec {
            qemu: "qemu-system-x86_64".into(),
            arch: Arch::X86_64,
            accel: Accel::Tcg,
            kernel: "/k/vmlinuz".into(),
            initrd: "/tmp/i".into(),
            memory_mb: 1024,
            cpus: 2,
            append: vec!["rdinit=/init".into()],
            boot_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            log: None,
            boot_marker: "@@SCXPACK-BOOT".into(),
        };
        let args = arg_strings(&spec);
        let joined = args.join(" ");
        assert!(
            joined.starts_with("-accel tcg,thread=single -cpu max -m 1024M -smp 2"),
            "{joined}"
        );
        assert!(
            args.contains(&"console=ttyS0 quiet panic=-1 no_timer_check rdinit=/init".to_owned())
        );
        assert!(joined.ends_with("-kernel /k/vmlinuz -initrd /tmp/i"));
    }

    #[test]
    fn arm64_guests_get_the_virt_board_and_its_console() {
        let spec = QemuSpec {
            qemu: QEMU_BINARY_ARM64.into(),
            arch: Arch::Arm64,
            ..small_spec("q".into(), Duration::from_secs(1), Duration::from_secs(1))
        };
        let args = arg_strings(&spec);
        let joined = args.join(" ");
        assert!(
            joined.starts_with("-M virt -accel tcg,thread=single -cpu max -m 64M -smp 1"),
            "{joined}"
        );
        assert!(args.contains(&"console=ttyAMA0 quiet panic=-1".to_owned()));
        assert!(!joined.contains("ttyS0"), "{joined}");
        assert_eq!(
            qemu_for(Arch::Arm64),
            ("qemu-system-aarch64", "qemu-system-arm")
        );
        assert_eq!(
            qemu_for(Arch::X86_64),
            ("qemu-system-x86_64", "qemu-system-x86")
        );
    }

    /// A small spec that runs `qemu` (a stand-in) with the given deadlines.
    fn small_spec(qemu: PathBuf, boot_timeout: Duration, timeout: Duration) -> QemuSpec {
        QemuSpec {
            qemu,
            arch: Arch::X86_64,
            accel: Accel::Tcg,
            kernel: "/k".into(),
            initrd: "/i".into(),
            memory_mb: 64,
            cpus: 1,
            append: Vec::new(),
            boot_timeout,
            timeout,
            log: None,
            boot_marker: "x".into(),
        }
    }

    #[test]
    fn a_missing_qemu_is_a_host_error_not_a_panic() {
        let second = Duration::from_secs(1);
        let spec = small_spec("/nonexistent/qemu".into(), second, second);
        let outcome = run(&spec);
        assert!(
            matches!(outcome.ending, Ending::HostError(_)),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_hanging_process_is_killed_at_the_deadline() {
        // A shell script stands in for QEMU; it ignores the arguments.
        let dir = std::env::temp_dir().join(format!("scxpack-qemu-unit-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("fake-qemu");
        fs::write(&fake, "#!/bin/sh\necho starting\nsleep 30 &\nsleep 30\n").unwrap();
        let mode = <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
        fs::set_permissions(&fake, mode).unwrap();
        let spec = QemuSpec {
            log: Some(dir.join("console.log")),
            boot_marker: "starting".into(),
            ..small_spec(fake, Duration::from_secs(10), Duration::from_millis(500))
        };
        let begun = Instant::now();
        let outcome = run(&spec);
        assert_eq!(outcome.ending, Ending::Timeout(Duration::from_millis(500)));
        // The background `sleep` holds stdout too: returning at all proves the
        // whole group was killed.
        assert!(begun.elapsed() < Duration::from_secs(5));
        assert_eq!(outcome.lines, ["starting"]);
        assert!(outcome.boot.is_some());
        let log = fs::read_to_string(dir.join("console.log")).unwrap();
        assert_eq!(log, "starting\n");
        fs::remove_dir_all(&dir).unwrap();
    }
}
