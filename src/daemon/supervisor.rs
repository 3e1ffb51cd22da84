//! One scheduler held by the daemon: a thread that owns its package, loads
//! it through the loader's one load path ([`crate::loader::attach_first`]),
//! watches it, detaches it on request, and restarts it after an ejection
//! as the [`RestartPolicy`] allows.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::protocol::{DaemonError, Ejection, Running, Spec};
use crate::live::System;
use crate::loader::{self, Ended, ExitInfo, RunError, SelectOptions, Selected};
use crate::package::Package;

/// How often an ejected scheduler is loaded again before the daemon gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Most restarts within `window`.
    pub max_restarts: u32,
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 3,
            window: Duration::from_secs(60),
        }
    }
}

/// What the daemon and its supervisor thread share.
#[derive(Debug, Default)]
pub struct Shared {
    pub running: Option<Running>,
    pub last_ejection: Option<Ejection>,
}

/// A running scheduler's thread.
#[derive(Debug)]
pub struct Supervisor {
    stop: Arc<AtomicBool>,
    /// Returns when the scheduler was detached on request (None: it had
    /// ended on its own).
    thread: JoinHandle<Option<Instant>>,
}

/// What the thread says once the first attach succeeded or failed.
type Ready = Result<(), DaemonError>;

impl Supervisor {
    /// Starts `spec` from `pkg` with encoded parameters `values`; returns
    /// once it is enabled (or failed), with the instant it was enabled.
    pub fn start(
        pkg: Package,
        spec: Spec,
        values: Vec<(String, u64)>,
        shared: Arc<Mutex<Shared>>,
        policy: RestartPolicy,
    ) -> Result<(Self, Instant), DaemonError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Ready>();
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let job = Job {
                pkg: &pkg,
                spec,
                values,
                shared,
                policy,
                stop: flag,
            };
            job.run(&ready_tx)
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok((Supervisor { stop, thread }, Instant::now())),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(DaemonError::Start {
                scheduler: String::new(),
                message: "the loader thread ended without an answer".to_string(),
                exit_status: 1,
            }),
        }
    }

    /// Whether the thread still holds a scheduler.
    #[must_use]
    pub fn alive(&self) -> bool {
        !self.thread.is_finished()
    }

    /// Detaches the scheduler; the instant its link was dropped, or None
    /// when it had already ended.
    #[must_use = "the instant the scheduler was detached measures a switch's gap"]
    pub fn stop(self) -> Option<Instant> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().ok().flatten()
    }
}

/// The thread's work.
struct Job<'p> {
    pkg: &'p Package,
    spec: Spec,
    values: Vec<(String, u64)>,
    shared: Arc<Mutex<Shared>>,
    policy: RestartPolicy,
    stop: Arc<AtomicBool>,
}

impl Job<'_> {
    fn run(&self, ready: &mpsc::Sender<Ready>) -> Option<Instant> {
        let selected = match self.select() {
            Ok(s) => s,
            Err(e) => {
                let _ = ready.send(Err(self.start_error(&e)));
                return None;
            }
        };
        let mut restarts = Restarts::default();
        let mut first = true;
        loop {
            let started = match loader::attach_first(&selected, &self.values, &System::default()) {
                Ok(s) => s,
                Err(e) => {
                    let err = self.start_error(&e);
                    if first {
                        let _ = ready.send(Err(err));
                    } else {
                        crate::say!("scxpack daemon: restart failed: {err}");
                        self.clear(None, true);
                    }
                    return None;
                }
            };
            self.publish(
                &started.running,
                started.choice.variant.name.clone(),
                restarts.count(),
            );
            if std::mem::take(&mut first) {
                let _ = ready.send(Ok(()));
            }
            let ended = started
                .running
                .watch_until(|| self.stop.load(Ordering::SeqCst));
            let detached_at = Instant::now();
            let detached = started.running.detach();
            let error = detached.exit.as_ref().is_some_and(ExitInfo::is_error);
            if ended == Ended::Requested && !error {
                self.clear(None, false);
                return Some(detached_at);
            }
            let gave_up = !restarts.allow(self.policy, Instant::now());
            crate::say!(
                "scxpack daemon: {} was ejected: {}{}",
                self.spec.scheduler,
                detached.exit.as_ref().map_or_else(
                    || "no exit record".to_string(),
                    |x| format!("{} ({}): {}", x.kind_name, x.reason, x.msg)
                ),
                if gave_up {
                    "; giving up (restart limit)"
                } else {
                    "; restarting"
                }
            );
            if gave_up || self.stop.load(Ordering::SeqCst) {
                self.clear(detached.exit, gave_up);
                return None;
            }
            self.record_ejection(detached.exit);
        }
    }

    fn select(&self) -> Result<Selected<'_>, RunError> {
        loader::check_privileges()?;
        let opts = SelectOptions {
            scheduler: Some(scheduler_in(self.pkg, &self.spec.scheduler)),
            ..SelectOptions::default()
        };
        Selected::for_running_kernel(self.pkg, &opts, &System::default())
    }

    fn start_error(&self, e: &RunError) -> DaemonError {
        DaemonError::Start {
            scheduler: self.spec.scheduler.clone(),
            message: e.to_string(),
            exit_status: e.exit_status().code(),
        }
    }

    fn publish(&self, running: &loader::AttachedScheduler<'_>, variant: String, restarts: u32) {
        let mut shared = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        shared.running = Some(Running {
            spec: self.spec.clone(),
            variant,
            ops_name: running.ops_name().to_string(),
            restarts,
        });
    }

    fn record_ejection(&self, exit: Option<ExitInfo>) {
        let mut shared = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        shared.last_ejection = Some(Ejection {
            scheduler: self.spec.scheduler.clone(),
            exit,
            gave_up: false,
        });
    }

    /// Nothing runs any more; an ejection that ended it is recorded.
    fn clear(&self, exit: Option<ExitInfo>, ejected: bool) {
        let mut shared = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        shared.running = None;
        if ejected {
            shared.last_ejection = Some(Ejection {
                scheduler: self.spec.scheduler.clone(),
                exit,
                gave_up: true,
            });
        }
    }
}

/// The scheduler of `pkg` that `name` means: itself when the package has
/// it, else the package's only scheduler (a path was given).
#[must_use]
pub fn scheduler_in(pkg: &Package, name: &str) -> String {
    if pkg.manifest.scheduler(name).is_some() || pkg.manifest.schedulers.len() != 1 {
        name.to_string()
    } else {
        pkg.manifest.schedulers[0].name.clone()
    }
}

/// Restart times within the policy's window.
#[derive(Debug, Default)]
struct Restarts(VecDeque<Instant>);

impl Restarts {
    /// Records a restart at `now` if the policy allows one more.
    fn allow(&mut self, policy: RestartPolicy, now: Instant) -> bool {
        while self
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.window)
        {
            self.0.pop_front();
        }
        if self.0.len() >= policy.max_restarts as usize {
            return false;
        }
        self.0.push_back(now);
        true
    }

    fn count(&self) -> u32 {
        self.0.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_are_limited_within_the_window() {
        let policy = RestartPolicy {
            max_restarts: 2,
            window: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        let mut r = Restarts::default();
        assert!(r.allow(policy, t0));
        assert!(r.allow(policy, t0 + Duration::from_secs(1)));
        assert!(!r.allow(policy, t0 + Duration::from_secs(2)));
        // The first restart left the window: one more is allowed.
        assert!(r.allow(policy, t0 + Duration::from_secs(11)));
        assert_eq!(r.count(), 2);
        let none = RestartPolicy {
            max_restarts: 0,
            ..policy
        };
        assert!(!Restarts::default().allow(none, t0));
    }
}
