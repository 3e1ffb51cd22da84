//! Watching a loaded scheduler: signals ask us to detach, the kernel may
//! eject it; either way we report how it ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::live::System;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM set a flag the watch loop polls.
pub(super) fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, handler);
        }
    }
}

/// Whether SIGINT or SIGTERM arrived (after [`install_signal_handlers`]).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// How watching a running scheduler ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Duration over or a signal: the caller detaches.
    Requested,
    /// The scheduler is no longer ours: state or ops name changed.
    Ejected,
}

/// Whether our scheduler is the active one.
pub(super) fn is_ours(root: &System, ops_name: &str) -> bool {
    root.sched_ext_state().as_deref() == Some("enabled")
        && root.sched_ext_root_ops().as_deref() == Some(ops_name)
}

/// Waits until `cond` holds or `timeout` passes; true when it held.
pub(super) fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls until the duration ends, a signal arrives, or the kernel ejects us.
pub(super) fn watch(root: &System, ops_name: &str, duration: Option<Duration>) -> Ended {
    let start = Instant::now();
    watch_until(root, ops_name, || {
        duration.is_some_and(|d| start.elapsed() >= d)
    })
}

/// Polls until `stop` holds, a signal arrives, or the kernel ejects us.
pub(super) fn watch_until(root: &System, ops_name: &str, stop: impl Fn() -> bool) -> Ended {
    loop {
        if stop_requested() || stop() {
            return Ended::Requested;
        }
        if !is_ours(root, ops_name) {
            return Ended::Ejected;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
