//! `scxpack daemon`: holds at most one scheduler and takes `start`,
//! `switch`, `stop`, `restart` and `status` requests from local clients
//! over a Unix socket (root-owned, mode 0600; changes also need the peer
//! to be uid 0 by `SO_PEERCRED`). Requests are served one at a time on the
//! main thread; the scheduler is held by a [`supervisor`] thread. Plain
//! threads and std, no async runtime.

pub mod client;
pub mod dbus;
pub mod protocol;
pub mod state;
pub mod supervisor;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use protocol::{DaemonError, DaemonStatus, Request, Response, Spec};
use state::SavedState;
use supervisor::{RestartPolicy, Shared, Supervisor};

use crate::live::System;
use crate::package::Package;

/// Where the socket lives on an installed system.
pub const SOCKET: &str = "/run/scxpack/daemon.sock";

/// The schedulers the daemon can start (resolution and signature checks
/// are the caller's: the CLI's, shared with `run`).
pub trait Catalog: Send {
    /// The package holding the scheduler `name` (or at the path `name`).
    fn open(&self, name: &str) -> Result<Package, String>;
    /// The installed schedulers' names.
    fn names(&self) -> Vec<String>;
    /// The administrator's default: scheduler and mode (`/etc/default/scxpack`).
    fn default_choice(&self) -> Option<Spec>;
}

/// Where the daemon listens and keeps its state, and how it restarts.
#[derive(Debug, Clone)]
pub struct Options {
    pub socket: PathBuf,
    pub state: PathBuf,
    pub policy: RestartPolicy,
    /// Start the saved scheduler at start.
    pub restore: bool,
}

/// The daemon: its one scheduler and what it shares with the supervisor.
pub struct Daemon {
    catalog: Box<dyn Catalog>,
    opts: Options,
    shared: Arc<Mutex<Shared>>,
    current: Option<Supervisor>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// Why the daemon could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("another scxpack daemon answers at {}", socket.display())]
    AlreadyServing { socket: PathBuf },
    #[error("cannot listen at {}: {source}", socket.display())]
    Listen {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serve org.scx.Loader on {bus}: {source}")]
    Bus { bus: String, source: zbus::Error },
}

impl Daemon {
    #[must_use]
    pub fn new(catalog: Box<dyn Catalog>, opts: Options) -> Self {
        Daemon {
            catalog,
            opts,
            shared: Arc::default(),
            current: None,
        }
    }

    /// Restores the saved scheduler (if asked), serves `org.scx.Loader` on
    /// `bus` (if given), then serves the socket until SIGINT or SIGTERM;
    /// the scheduler is detached on the way out.
    pub fn serve(mut self, bus: Option<&dbus::Bus>) -> Result<(), ServeError> {
        crate::loader::install_signal_handlers();
        let listener = listen(&self.opts.socket)?;
        if self.opts.restore {
            self.restore();
        }
        let socket = self.opts.socket.clone();
        let daemon = Arc::new(Mutex::new(self));
        let _connection = bus
            .map(|b| dbus::serve(Arc::clone(&daemon), b))
            .transpose()?;
        crate::say!("scxpack daemon: listening at {}", socket.display());
        while !crate::loader::stop_requested() {
            match listener.accept() {
                Ok((stream, _)) => serve_client(&daemon, &stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => crate::say!("scxpack daemon: accept: {e}"),
            }
        }
        let mut d = daemon.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = d.current.take() {
            let _ = s.stop();
        }
        let _ = std::fs::remove_file(&socket);
        Ok(())
    }

    fn restore(&mut self) {
        match state::load(&self.opts.state) {
            Ok(SavedState {
                scheduler: Some(spec),
            }) => match self.start(spec) {
                Ok(_) => crate::say!("scxpack daemon: restored the saved scheduler"),
                Err(e) => crate::say!("scxpack daemon: cannot restore: {e}"),
            },
            Ok(_) => {}
            Err(e) => crate::say!("scxpack daemon: {e}"),
        }
    }

    /// One request from a peer of `uid` (None: unknown, treated as unprivileged).
    pub fn handle(&mut self, req: &Request, uid: Option<u32>) -> Response {
        if req.changes() && uid != Some(0) {
            return Response::failed(DaemonError::NotPermitted {
                uid: uid.unwrap_or(u32::MAX),
            });
        }
        let arrived = Instant::now();
        let result = match req {
            Request::Status => Ok(Answer::default()),
            Request::Start(spec) => self.start_new(spec),
            Request::Switch(spec) => self.switch(spec.clone()),
            Request::Stop => self.stop(),
            Request::Restart => self.restart(),
        };
        match result {
            Ok(a) => Response::done(self.status(), a.gap.map(millis)).with_enable_ms(
                a.enabled_at
                    .map(|t| millis(t.saturating_duration_since(arrived))),
            ),
            Err(e) => Response::failed(e),
        }
    }

    /// The daemon's and the kernel's state.
    #[must_use]
    pub fn status(&self) -> DaemonStatus {
        let shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        DaemonStatus {
            running: shared.running.clone(),
            last_ejection: shared.last_ejection.clone(),
            kernel: System::default().sched_ext(),
            rss_kib: crate::live::rss_kib(),
        }
    }

    /// Whether a scheduler is held (a supervisor that gave up holds none).
    fn holding(&mut self) -> bool {
        if self.current.as_ref().is_some_and(|s| !s.alive()) {
            self.current = None;
        }
        self.current.is_some()
    }

    fn start_new(&mut self, spec: &Spec) -> Result<Answer, DaemonError> {
        if self.holding() {
            let scheduler = self.running_spec().map(|s| s.scheduler).unwrap_or_default();
            return Err(DaemonError::AlreadyRunning { scheduler });
        }
        let enabled_at = self.start(spec.clone())?;
        self.save(Some(spec.clone()))?;
        Ok(Answer {
            gap: None,
            enabled_at: Some(enabled_at),
        })
    }

    /// Stops what runs (if anything) and starts `spec`; the gap is from the
    /// old scheduler's detach to the new one enabled.
    fn switch(&mut self, spec: Spec) -> Result<Answer, DaemonError> {
        let (pkg, values) = self.prepare(&spec)?;
        let detached_at = self.current.take().and_then(Supervisor::stop);
        let enabled_at = self.start_prepared(pkg, spec.clone(), values)?;
        self.save(Some(spec))?;
        Ok(Answer {
            gap: detached_at.map(|d| enabled_at.saturating_duration_since(d)),
            enabled_at: Some(enabled_at),
        })
    }

    fn stop(&mut self) -> Result<Answer, DaemonError> {
        if !self.holding() {
            return Err(DaemonError::NotRunning);
        }
        if let Some(s) = self.current.take() {
            let _ = s.stop();
        }
        self.save(None)?;
        Ok(Answer::default())
    }

    fn restart(&mut self) -> Result<Answer, DaemonError> {
        let spec = self.running_spec().ok_or(DaemonError::NotRunning)?;
        self.switch(spec)
    }

    /// The catalog of startable schedulers.
    #[must_use]
    pub fn catalog(&self) -> &dyn Catalog {
        self.catalog.as_ref()
    }

    fn running_spec(&self) -> Option<Spec> {
        let shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.running.as_ref().map(|r| r.spec.clone())
    }

    fn start(&mut self, spec: Spec) -> Result<Instant, DaemonError> {
        let (pkg, values) = self.prepare(&spec)?;
        self.start_prepared(pkg, spec, values)
    }

    /// The package and the encoded parameters: every mistake in the
    /// request is found before anything is detached.
    fn prepare(&self, spec: &Spec) -> Result<(Package, Vec<(String, u64)>), DaemonError> {
        let failed = |message: String| DaemonError::Start {
            scheduler: spec.scheduler.clone(),
            message,
            exit_status: crate::exit_status::ExitStatus::Error.code(),
        };
        let pkg = self.catalog.open(&spec.scheduler).map_err(failed)?;
        let explicit = spec
            .params
            .iter()
            .map(|p| crate::loader::parse_param(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DaemonError::BadRequest {
                message: e.to_string(),
            })?;
        let name = supervisor::scheduler_in(&pkg, &spec.scheduler);
        let values =
            crate::loader::resolve_params(&pkg, Some(&name), spec.mode.as_deref(), &explicit)
                .map_err(|e| DaemonError::BadRequest {
                    message: e.to_string(),
                })?;
        Ok((pkg, values))
    }

    fn start_prepared(
        &mut self,
        pkg: Package,
        spec: Spec,
        values: Vec<(String, u64)>,
    ) -> Result<Instant, DaemonError> {
        let (sup, enabled_at) = Supervisor::start(
            pkg,
            spec,
            values,
            Arc::clone(&self.shared),
            self.opts.policy,
        )?;
        self.current = Some(sup);
        Ok(enabled_at)
    }

    fn save(&self, scheduler: Option<Spec>) -> Result<(), DaemonError> {
        state::save(&self.opts.state, &SavedState { scheduler })
    }
}

/// What a request changed, for its answer.
#[derive(Debug, Default)]
struct Answer {
    /// From the old scheduler's detach to the new one enabled (a switch).
    gap: Option<Duration>,
    /// When the new scheduler was enabled (a start, switch or restart).
    enabled_at: Option<Instant>,
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Answers each request line of one client; the daemon is locked for
/// each request only, not while the client is read.
fn serve_client(daemon: &Mutex<Daemon>, stream: &UnixStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let uid = peer_uid(stream);
    let mut writer = stream;
    let mut reader = BufReader::new(stream.take(protocol::MAX_REQUEST as u64));
    let mut line = String::new();
    while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
        let response = match protocol::parse_request(line.trim()) {
            Ok(req) => daemon
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .handle(&req, uid),
            Err(e) => Response::failed(e),
        };
        let mut out = serde_json::to_string(&response).expect("responses serialize");
        out.push('\n');
        if writer.write_all(out.as_bytes()).is_err() {
            return;
        }
        line.clear();
    }
}

/// Binds the socket (its directory created 0755, the socket 0600),
/// refusing when another daemon answers there; non-blocking, so the accept
/// loop can notice signals.
fn listen(socket: &Path) -> Result<UnixListener, ServeError> {
    let err = |source| ServeError::Listen {
        socket: socket.to_path_buf(),
        source,
    };
    if UnixStream::connect(socket).is_ok() {
        return Err(ServeError::AlreadyServing {
            socket: socket.to_path_buf(),
        });
    }
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    // A stale socket of a daemon that died: nothing answered above.
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).map_err(err)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    Ok(listener)
}

/// The connecting process's uid (`SO_PEERCRED`).
fn peer_uid(stream: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &raw mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Empty;

    impl Catalog for Empty {
        fn open(&self, name: &str) -> Result<Package, String> {
            Err(format!("no scheduler {name} here"))
        }
        fn names(&self) -> Vec<String> {
            Vec::new()
        }
        fn default_choice(&self) -> Option<Spec> {
            None
        }
    }

    fn daemon(dir: &Path) -> Daemon {
        Daemon::new(
            Box::new(Empty),
            Options {
                socket: dir.join("s.sock"),
                state: dir.join("daemon.json"),
                policy: RestartPolicy::default(),
                restore: false,
            },
        )
    }

    #[test]
    fn changes_need_root_and_status_does_not() {
        let dir = std::env::temp_dir().join(format!("scxpack-daemon-{}", std::process::id()));
        let mut d = daemon(&dir);
        let stop = d.handle(&Request::Stop, Some(1000));
        assert_eq!(
            stop,
            Response::failed(DaemonError::NotPermitted { uid: 1000 })
        );
        assert!(matches!(
            d.handle(&Request::Status, Some(1000)),
            Response::Done { .. }
        ));
        assert_eq!(
            d.handle(&Request::Stop, Some(0)),
            Response::failed(DaemonError::NotRunning)
        );
        let start = d.handle(
            &Request::Switch(Spec {
                scheduler: "nope".into(),
                ..Spec::default()
            }),
            Some(0),
        );
        let Response::Failed {
            error: DaemonError::Start { message, .. },
            ..
        } = start
        else {
            panic!("expected a start error, got {start:?}");
        };
        assert!(message.contains("no scheduler nope"), "{message}");
        // Nothing was saved for a start that failed.
        assert!(!dir.join("daemon.json").exists());
    }

    #[test]
    fn the_peer_uid_is_read_from_the_socket() {
        let (a, _b) = UnixStream::pair().unwrap();
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        assert_eq!(peer_uid(&a), Some(me));
    }
}
