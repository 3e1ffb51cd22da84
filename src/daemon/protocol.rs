//! The daemon's protocol: one JSON object per line each way over its Unix
//! socket. A request names a command (`start`, `switch`, `stop`,
//! `restart`, `status`); the answer is `{"ok": true, ...}` with the status,
//! or `{"ok": false, "error": {"kind": ..., "message": ...}}`.

use serde::{Deserialize, Serialize};

use crate::live::SchedExtSysfs;
use crate::loader::ExitInfo;

/// Most bytes the daemon reads from one connection (its request lines).
pub const MAX_REQUEST: usize = 64 * 1024;

/// What a scheduler is started with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    /// An installed scheduler's name (or a package/object path).
    pub scheduler: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `KEY=VALUE` assignments on top of the mode's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
}

/// One request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// Start a scheduler; refused while one runs.
    Start(Spec),
    /// Replace the running scheduler (or start one when none runs).
    Switch(Spec),
    /// Detach the running scheduler.
    Stop,
    /// Detach and start the same scheduler again.
    Restart,
    /// What runs, what last ended, and the kernel's state.
    Status,
}

impl Request {
    /// Whether the request changes what runs (needs uid 0).
    #[must_use]
    pub fn changes(&self) -> bool {
        !matches!(self, Request::Status)
    }
}

/// The scheduler the daemon holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    #[serde(flatten)]
    pub spec: Spec,
    pub variant: String,
    pub ops_name: String,
    /// Restarts after ejections within the current window.
    pub restarts: u32,
}

/// A scheduler the kernel ejected, with the record it left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ejection {
    pub scheduler: String,
    pub exit: Option<ExitInfo>,
    /// The restart policy gave up on it.
    pub gave_up: bool,
}

/// What `status` (and every successful answer) reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub running: Option<Running>,
    /// The last ejection since the daemon started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ejection: Option<Ejection>,
    /// The kernel's sched_ext state (None without sched_ext).
    pub kernel: Option<SchedExtSysfs>,
    /// Daemon's resident memory in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_kib: Option<u64>,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DaemonError {
    #[error("not permitted: uid {uid} may only ask for status; changes need root")]
    NotPermitted { uid: u32 },
    #[error("bad request: {message}")]
    BadRequest { message: String },
    #[error("{scheduler} is already running: use switch to replace it")]
    AlreadyRunning { scheduler: String },
    #[error("no scheduler is running")]
    NotRunning,
    #[error("cannot start {scheduler}: {message}")]
    Start {
        scheduler: String,
        message: String,
        /// The exit status `scxpack run` would have given (README's table).
        exit_status: u8,
    },
    #[error("cannot save the daemon's state: {message}")]
    State { message: String },
}

/// One answer line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Response {
    Done {
        ok: Yes,
        status: Box<DaemonStatus>,
        /// Milliseconds with no scheduler of ours enabled, for a switch or
        /// restart: from the old one's detach to the new one enabled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gap_ms: Option<f64>,
        /// Milliseconds from the request's arrival to the new scheduler
        /// enabled, for a start, switch or restart (the daemon's code is
        /// warm: no new process, no command line, this boot's cache).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enable_ms: Option<f64>,
    },
    Failed {
        ok: No,
        error: DaemonError,
    },
}

/// `true` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "bool", into = "bool")]
pub struct Yes;

/// `false` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "bool", into = "bool")]
pub struct No;

impl TryFrom<bool> for Yes {
    type Error = &'static str;
    fn try_from(b: bool) -> Result<Self, Self::Error> {
        if b { Ok(Yes) } else { Err("expected true") }
    }
}

impl From<Yes> for bool {
    fn from(_: Yes) -> bool {
        true
    }
}

impl TryFrom<bool> for No {
    type Error = &'static str;
    fn try_from(b: bool) -> Result<Self, Self::Error> {
        if b { Err("expected false") } else { Ok(No) }
    }
}

impl From<No> for bool {
    fn from(_: No) -> bool {
        false
    }
}

impl Response {
    /// A successful answer.
    #[must_use]
    pub fn done(status: DaemonStatus, gap_ms: Option<f64>) -> Self {
        Response::Done {
            ok: Yes,
            status: Box::new(status),
            gap_ms,
            enable_ms: None,
        }
    }

    /// This answer with `enable_ms` set (a done answer only).
    #[must_use]
    pub fn with_enable_ms(mut self, ms: Option<f64>) -> Self {
        if let Response::Done { enable_ms, .. } = &mut self {
            *enable_ms = ms;
        }
        self
    }

    /// A failed answer.
    #[must_use]
    pub fn failed(error: DaemonError) -> Self {
        Response::Failed { ok: No, error }
    }
}

/// Parses one request line.
pub fn parse_request(line: &str) -> Result<Request, DaemonError> {
    serde_json::from_str(line).map_err(|e| DaemonError::BadRequest {
        message: format!(
            "{e} (one JSON object per line, e.g. {{\"cmd\":\"switch\",\"scheduler\":\"fair\",\"mode\":\"gaming\"}})"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_round_trip() {
        let r = parse_request(
            r#"{"cmd":"switch","scheduler":"fair","mode":"gaming","params":["slice_us=1"]}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::Switch(Spec {
                scheduler: "fair".into(),
                mode: Some("gaming".into()),
                params: vec!["slice_us=1".into()],
            })
        );
        assert!(!parse_request(r#"{"cmd":"status"}"#).unwrap().changes());
        let err = parse_request(r#"{"cmd":"reboot"}"#).unwrap_err();
        assert!(matches!(err, DaemonError::BadRequest { .. }), "{err:?}");
        let line = serde_json::to_string(&Response::failed(DaemonError::NotRunning)).unwrap();
        assert_eq!(line, r#"{"ok":false,"error":{"kind":"not_running"}}"#);
        let back: Response = serde_json::from_str(&line).unwrap();
        assert_eq!(back, Response::failed(DaemonError::NotRunning));
        let done = Response::done(DaemonStatus::default(), Some(1.5));
        let back: Response = serde_json::from_str(&serde_json::to_string(&done).unwrap()).unwrap();
        assert_eq!(back, done);
    }
}
