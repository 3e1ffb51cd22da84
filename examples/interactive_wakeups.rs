//! How the shipped `interactive` scheduler sees a new task that wakes every
//! 2 ms. Run as root beside a loaded `interactive`, it starts a child
//! process that sleeps 2 ms twice and then waits, reads the child's entry
//! of the scheduler's task storage map `task_ctxs` (its key is a pidfd) and
//! prints it as one JSON line: every field of `struct task_ctx`, in ns.
//!
//! A new task starts as batch, and the scheduler takes its first measured
//! burst and wakeup gap as its averages (instead of averaging them into the
//! batch start values), so after its second wakeup the child's
//! `avg_wake_gap` is about its sleep, under `1 s / min_wake_hz`: it is
//! latency-critical from then on. `tests/vm_interactive.rs` runs this in
//! guests.
//!
//! ```text
//! interactive_wakeups        # while `scxpack run interactive.bpf.o` runs
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};

/// The scheduler's per-task map.
const MAP: &str = "task_ctxs";
/// `struct task_ctx` of `bpf-objects/interactive/interactive.bpf.c`, in
/// order: six `u64`.
const FIELDS: [&str; 6] = [
    "run_start",
    "burst",
    "avg_burst",
    "last_wake",
    "avg_wake_gap",
    "measured",
];
/// The child's sleeps.
const SLEEPS: usize = 2;
const SLEEP: Duration = Duration::from_millis(2);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some("child") {
        return child();
    }
    let map = task_map()?;
    let mut child = Command::new("/proc/self/exe")
        .arg("child")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no child stdout")?).read_line(&mut line)?;
    if line.trim() != "slept" {
        return Err(format!("the child said {line:?}").into());
    }
    let pidfd = pidfd_open(child.id())?;
    let value = map.lookup(&pidfd.as_raw_fd().to_ne_bytes(), MapFlags::ANY);
    drop(child.stdin.take());
    child.wait()?;
    let value = value?.ok_or("the child has no task_ctx")?;
    println!("{}", fields_json(&value)?);
    Ok(())
}

/// Sleeps [`SLEEPS`] times, says so, and waits for stdin to close.
fn child() -> Result<()> {
    for _ in 0..SLEEPS {
        std::thread::sleep(SLEEP);
    }
    let mut out = std::io::stdout();
    writeln!(out, "slept")?;
    out.flush()?;
    let _ = std::io::stdin().read(&mut [0u8; 1])?;
    Ok(())
}

/// The loaded scheduler's task storage map (the newest, if several).
fn task_map() -> Result<MapHandle> {
    let id = libbpf_rs::query::MapInfoIter::default()
        .filter(|m| m.name == MAP && m.ty == MapType::TaskStorage)
        .map(|m| m.id)
        .max()
        .ok_or("no task storage map task_ctxs: is interactive loaded?")?;
    Ok(MapHandle::from_map_id(id)?)
}

fn pidfd_open(pid: u32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd)?;
    if fd < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `{"run_start": N, ...}` from the map value; an error when its size is
/// not that of `struct task_ctx`.
fn fields_json(value: &[u8]) -> Result<serde_json::Value> {
    if value.len() != FIELDS.len() * 8 {
        return Err(format!(
            "task_ctx is {} bytes, not {}",
            value.len(),
            FIELDS.len() * 8
        )
        .into());
    }
    let fields = FIELDS
        .iter()
        .zip(value.chunks_exact(8))
        .map(|(name, bytes)| {
            let n = u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
            ((*name).to_string(), serde_json::Value::from(n))
        });
    Ok(serde_json::Value::Object(fields.collect()))
}
