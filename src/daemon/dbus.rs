//! `org.scx.Loader` on the system bus, the interface of scx's `scx_loader`
//! (same bus name, object path, method and property names and signatures),
//! so its clients (`scxctl`, desktop tools) drive scxpack's daemon
//! unchanged. Modes are scx_loader's `u32` enum mapped to our mode names.
//! Callers other than root are authorized by polkit (`CheckAuthorization`
//! of [`ACTION`]); reads need nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use zbus::message::Header;
use zbus::zvariant::Value;
use zbus::{Connection, fdo, interface};

use super::protocol::{DaemonError, Request, Response, Spec};
use super::{Daemon, ServeError};

/// The bus name and object path scx_loader uses.
pub const BUS_NAME: &str = "org.scx.Loader";
pub const OBJECT_PATH: &str = "/org/scx/Loader";
/// The polkit action of every change.
pub const ACTION: &str = "org.scx.Loader.manage";

/// scx_loader's `SchedMode` values, in order: 0 auto, 1 gaming,
/// 2 powersave, 3 lowlatency, 4 server.
pub const MODES: [&str; 5] = ["auto", "gaming", "powersave", "lowlatency", "server"];

/// Which bus to serve on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bus {
    System,
    /// A D-Bus address (tests run a private `dbus-daemon`).
    Address(String),
}

impl std::fmt::Display for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bus::System => f.write_str("the system bus"),
            Bus::Address(a) => write!(f, "the bus at {a}"),
        }
    }
}

/// Takes the bus name and serves the interface; it runs as long as the
/// returned connection lives.
pub fn serve(
    daemon: Arc<Mutex<Daemon>>,
    bus: &Bus,
) -> Result<zbus::blocking::Connection, ServeError> {
    use zbus::blocking::connection::Builder;
    let builder = match bus {
        Bus::System => Builder::system(),
        Bus::Address(a) => Builder::address(a.as_str()),
    };
    builder
        .and_then(|b| b.name(BUS_NAME))
        .and_then(|b| b.serve_at(OBJECT_PATH, Loader { daemon }))
        .and_then(Builder::build)
        .map_err(|source| ServeError::Bus {
            bus: bus.to_string(),
            source,
        })
}

/// scx_loader's mode number as our mode name.
pub fn mode_name(mode: u32) -> fdo::Result<&'static str> {
    MODES.get(mode as usize).copied().ok_or_else(|| {
        fdo::Error::InvalidArgs(format!(
            "sched_mode {mode} is not one of 0 auto, 1 gaming, 2 powersave, 3 lowlatency, 4 server"
        ))
    })
}

/// Our mode name as scx_loader's number (0, auto, for none or another name).
#[must_use]
pub fn mode_number(mode: Option<&str>) -> u32 {
    mode.and_then(|m| MODES.iter().position(|n| *n == m))
        .map_or(0, |i| i as u32)
}

/// `--mode M`, `--param K=V` (or `--param=K=V`) and bare `K=V` words as a
/// spec: what `*WithArgs` take.
pub fn spec_from_args(scheduler: String, args: &[String]) -> fdo::Result<Spec> {
    let mut spec = Spec {
        scheduler,
        ..Spec::default()
    };
    let mut words = args.iter();
    while let Some(w) = words.next() {
        let mut value = |flag: &str| {
            words
                .next()
                .cloned()
                .ok_or_else(|| fdo::Error::InvalidArgs(format!("{flag} needs a value")))
        };
        match w.as_str() {
            "--mode" => spec.mode = Some(value("--mode")?),
            "--param" => spec.params.push(value("--param")?),
            _ if w.starts_with("--param=") => spec.params.push(w["--param=".len()..].to_string()),
            _ if w.contains('=') && !w.starts_with('-') => spec.params.push(w.clone()),
            _ => {
                return Err(fdo::Error::InvalidArgs(format!(
                    "argument {w:?}: scxpack schedulers take --mode M and --param KEY=VALUE (or KEY=VALUE)"
                )));
            }
        }
    }
    Ok(spec)
}

struct Loader {
    daemon: Arc<Mutex<Daemon>>,
}

impl Loader {
    fn lock(&self) -> std::sync::MutexGuard<'_, Daemon> {
        self.daemon.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs an authorized change.
    fn change(&self, req: &Request) -> fdo::Result<()> {
        match self.lock().handle(req, Some(0)) {
            Response::Done { .. } => Ok(()),
            Response::Failed { error, .. } => Err(fdo_error(&error)),
        }
    }

    /// Our name for a scheduler a client may call `scx_NAME`.
    fn our_name(&self, name: String) -> String {
        let names = self.lock().catalog().names();
        match name.strip_prefix("scx_") {
            Some(short) if !names.contains(&name) && names.iter().any(|n| n == short) => {
                short.to_string()
            }
            _ => name,
        }
    }

    fn spec(&self, scx_name: String, sched_mode: u32) -> fdo::Result<Spec> {
        Ok(Spec {
            scheduler: self.our_name(scx_name),
            mode: Some(mode_name(sched_mode)?.to_string()),
            params: Vec::new(),
        })
    }

    fn running(&self) -> Option<Spec> {
        self.lock().status().running.map(|r| r.spec)
    }
}

fn fdo_error(e: &DaemonError) -> fdo::Error {
    match e {
        DaemonError::NotPermitted { .. } => fdo::Error::AccessDenied(e.to_string()),
        DaemonError::BadRequest { .. } => fdo::Error::InvalidArgs(e.to_string()),
        _ => fdo::Error::Failed(e.to_string()),
    }
}

/// Root callers pass; others need polkit's yes for [`ACTION`].
async fn authorize(conn: &Connection, hdr: &Header<'_>) -> fdo::Result<()> {
    let sender = hdr
        .sender()
        .ok_or_else(|| fdo::Error::AccessDenied("a call without a sender".to_string()))?;
    let uid = fdo::DBusProxy::new(conn)
        .await?
        .get_connection_unix_user(sender.clone().into())
        .await?;
    if uid == 0 {
        return Ok(());
    }
    let subject = (
        "system-bus-name",
        HashMap::from([("name", Value::from(sender.as_str()))]),
    );
    let details: HashMap<&str, &str> = HashMap::new();
    // Flag 1: AllowUserInteraction (an agent may ask for the password).
    let denied = |why: String| {
        fdo::Error::AccessDenied(format!(
            "uid {uid} may not change the scheduler: {why} (polkit action {ACTION}: needs an administrator)"
        ))
    };
    let reply = conn
        .call_method(
            Some("org.freedesktop.PolicyKit1"),
            "/org/freedesktop/PolicyKit1/Authority",
            Some("org.freedesktop.PolicyKit1.Authority"),
            "CheckAuthorization",
            &(subject, ACTION, details, 1u32, ""),
        )
        .await
        .map_err(|e| denied(format!("polkit could not be asked: {e}")))?;
    let (authorized, _challenge, _details): (bool, bool, HashMap<String, String>) = reply
        .body()
        .deserialize()
        .map_err(|e| denied(format!("polkit's answer is unreadable: {e}")))?;
    if authorized {
        Ok(())
    } else {
        Err(denied("polkit said no".to_string()))
    }
}

#[interface(name = "org.scx.Loader")]
impl Loader {
    async fn start_scheduler(
        &self,
        scx_name: String,
        sched_mode: u32,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> fdo::Result<()> {
        authorize(conn, &hdr).await?;
        self.change(&Request::Start(self.spec(scx_name, sched_mode)?))
    }

    async fn start_scheduler_with_args(
        &self,
        scx_name: String,
        scx_args: Vec<String>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> fdo::Result<()> {
        authorize(conn, &hdr).await?;
        let spec = spec_from_args(self.our_name(scx_name), &scx_args)?;
        self.change(&Request::Start(spec))
    }

    async fn switch_scheduler(
        &self,
        scx_name: String,
        sched_mode: u32,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> fdo::Result<()> {
        authorize(conn, &hdr).await?;
        self.change(&Request::Switch(self.spec(scx_name, sched_mode)?))
    }

    async fn switch_scheduler_with_args(
        &self,
        scx_name: String,
        scx_args: Vec<String>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> fdo::Result<()> {
        authorize(conn, &hdr).await?;
        let spec = spec_from_args(self.our_name(scx_name), &scx_args)?;
        self.change(&Request::Switch(spec))
    }

    async fn stop_scheduler(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> fdo::Result<()> {
        authorize(conn, &hdr).await?;
        self.change(&Request::Stop)
    }

    async fn restart_scheduler(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> fdo::Result<()> {
        authorize(conn, &hdr).await?;
        self.change(&Request::Restart)
    }

    async fn restore_default(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> fdo::Result<()> {
        authorize(conn, &hdr).await?;
        let spec = self.lock().catalog().default_choice().ok_or_else(|| {
            fdo::Error::Failed(
                "no default scheduler: set SCXPACK_SCHEDULER in /etc/default/scxpack".to_string(),
            )
        })?;
        self.change(&Request::Switch(spec))
    }

    /// The running scheduler's name, "unknown" when none runs.
    #[zbus(property)]
    fn current_scheduler(&self) -> String {
        self.running()
            .map_or_else(|| "unknown".to_string(), |s| s.scheduler)
    }

    #[zbus(property)]
    fn scheduler_mode(&self) -> u32 {
        mode_number(self.running().and_then(|s| s.mode).as_deref())
    }

    /// The explicit parameters of the running scheduler (as `KEY=VALUE`).
    #[zbus(property)]
    fn current_scheduler_args(&self) -> Vec<String> {
        self.running().map(|s| s.params).unwrap_or_default()
    }

    #[zbus(property)]
    fn supported_schedulers(&self) -> Vec<String> {
        self.lock().catalog().names()
    }

    #[zbus(property)]
    fn default_scheduler(&self) -> String {
        self.lock()
            .catalog()
            .default_choice()
            .map_or_else(|| "unknown".to_string(), |s| s.scheduler)
    }

    #[zbus(property)]
    fn default_mode(&self) -> u32 {
        mode_number(
            self.lock()
                .catalog()
                .default_choice()
                .and_then(|s| s.mode)
                .as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_scx_loader_numbers() {
        for (i, name) in MODES.iter().enumerate() {
            assert_eq!(mode_name(i as u32).unwrap(), *name);
            assert_eq!(mode_number(Some(name)), i as u32);
        }
        assert!(mode_name(5).is_err());
        assert_eq!(mode_number(None), 0);
    }

    #[test]
    fn args_are_modes_and_params() {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        let spec = spec_from_args(
            "fair".into(),
            &words(&["--mode", "gaming", "--param", "a=1", "--param=b=2", "c=3"]),
        )
        .unwrap();
        assert_eq!(spec.mode.as_deref(), Some("gaming"));
        assert_eq!(spec.params, ["a=1", "b=2", "c=3"]);
        assert!(spec_from_args("fair".into(), &words(&["-s", "5000"])).is_err());
        assert!(spec_from_args("fair".into(), &words(&["--mode"])).is_err());
    }
}
