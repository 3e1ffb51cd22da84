//! The install lock: one `scxpack install` or `uninstall` at a time.
//!
//! The lock file is created exclusively and holds the owner's pid and start
//! time; a lock whose owner is gone (killed, or a reused pid) is taken over.
//! It lives in the administrator's state directory
//! ([`super::layout::INSTALL_LOCK`]), never under `/usr`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::InstallError;
use super::fsops::io_err;

/// The lock, held for the guard's lifetime.
#[derive(Debug)]
pub(super) struct LockGuard {
    path: PathBuf,
}

impl LockGuard {
    pub(super) fn acquire(path: &Path) -> Result<Self, InstallError> {
        let me = format!(
            "{} {}\n",
            std::process::id(),
            start_time(std::process::id()).unwrap_or_default()
        );
        for _ in 0..3 {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(path)
            {
                Ok(mut f) => {
                    f.write_all(me.as_bytes())
                        .and_then(|()| f.sync_all())
                        .map_err(io_err(path))?;
                    return Ok(LockGuard {
                        path: path.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let held = fs::read_to_string(path).unwrap_or_default();
                    if let Some(owner) = live_owner(path, &held) {
                        return Err(InstallError::Locked {
                            lock: path.to_path_buf(),
                            owner,
                        });
                    }
                    // The owner is gone (killed): take the lock over.
                    let _ = fs::remove_file(path);
                }
                Err(e) => return Err(io_err(path)(e)),
            }
        }
        Err(InstallError::Locked {
            lock: path.to_path_buf(),
            owner: String::new(),
        })
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// `Some(" (pid N)")` when the lock's owner still runs; `None` when stale.
fn live_owner(path: &Path, held: &str) -> Option<String> {
    let mut words = held.split_whitespace();
    let pid = words.next().and_then(|p| p.parse::<u32>().ok());
    let started = words.next().and_then(|s| s.parse::<u64>().ok());
    let Some(pid) = pid else {
        // Being written right now, or left empty by a crash: trust it while young.
        let young = fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < Duration::from_secs(5));
        return young.then(String::new);
    };
    if start_time(std::process::id()).is_none() {
        // No /proc: cannot tell, so the lock holds.
        return Some(format!(" (pid {pid})"));
    }
    match (start_time(pid), started) {
        (Some(now), Some(then)) if now == then => Some(format!(" (pid {pid})")),
        (Some(_), None) => Some(format!(" (pid {pid})")),
        _ => None,
    }
}

/// A running process's start time (field 22 of `/proc/PID/stat`), to tell
/// a live lock owner from a reused pid; `None` for no such process or a
/// zombie (killed, not yet reaped: it holds nothing any more).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_comm) = stat.rsplit_once(')')?;
    let mut fields = after_comm.split_whitespace();
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_a_start_time() {
        assert!(start_time(std::process::id()).is_some());
    }

    #[test]
    fn a_dead_owner_does_not_hold_the_lock() {
        let dir = std::env::temp_dir().join(format!("scxpack-lock-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("install.lock");
        fs::write(&path, "x").unwrap();
        // pid_max is at most 2^22: this pid cannot exist.
        assert_eq!(live_owner(&path, "4294967295 1\n"), None);
        let me = std::process::id();
        let mine = format!("{me} {}\n", start_time(me).unwrap());
        assert_eq!(live_owner(&path, &mine), Some(format!(" (pid {me})")));
        // Same pid, another start time: a reused pid, the lock is stale.
        assert_eq!(live_owner(&path, &format!("{me} 1\n")), None);
        // Unparsable and fresh: being written, so held.
        assert_eq!(live_owner(&path, ""), Some(String::new()));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_killed_unreaped_owner_does_not_hold_the_lock() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("run sleep");
        let pid = child.id();
        let started = start_time(pid).expect("a running child has a start time");
        child.kill().unwrap();
        // Not reaped yet: a zombie, still in /proc.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while start_time(pid).is_some() {
            assert!(std::time::Instant::now() < deadline, "sleep never died");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            fs::metadata(format!("/proc/{pid}")).is_ok(),
            "reaped too early"
        );
        let path = std::env::temp_dir().join(format!("scxpack-zombie-lock-{pid}"));
        assert_eq!(live_owner(&path, &format!("{pid} {started}\n")), None);
        child.wait().unwrap();
    }
}
