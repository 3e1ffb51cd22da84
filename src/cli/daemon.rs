//! `scxpack daemon` (the service), and `switch`, `stop` and the daemon's
//! part of `status` (its clients).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::output::print_json_line;
use crate::daemon::client;
use crate::daemon::dbus::Bus;
use crate::daemon::protocol::{DaemonError, DaemonStatus, Request, Response, Spec};
use crate::daemon::supervisor::RestartPolicy;
use crate::daemon::{self, Daemon, Options};
use crate::exit_status::ExitStatus;

#[derive(Debug, clap::Args)]
pub(crate) struct DaemonArgs {
    /// Where to listen (root-owned, mode 0600).
    #[arg(long, value_name = "PATH", default_value = daemon::SOCKET)]
    socket: PathBuf,
    /// The scheduler to restore at start, saved atomically at every change.
    #[arg(long, value_name = "PATH", default_value = daemon::state::STATE_FILE)]
    state: PathBuf,
    /// System of the installation to look schedulers up in.
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Restarts of an ejected scheduler allowed within --restart-window before giving up.
    #[arg(long, default_value_t = 3)]
    max_restarts: u32,
    /// The window of --max-restarts, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    restart_window: u64,
    /// Do not start the saved scheduler.
    #[arg(long)]
    no_restore: bool,
    /// Also serve org.scx.Loader (scx_loader's D-Bus interface) on the system bus.
    #[arg(long)]
    dbus: bool,
    /// Serve org.scx.Loader on this D-Bus address instead of the system bus (tests).
    #[arg(long, value_name = "ADDRESS")]
    dbus_address: Option<String>,
}

/// Installed schedulers under `--root`, opened as `run` opens them.
struct Installed {
    root: PathBuf,
}

impl daemon::Catalog for Installed {
    fn open(&self, name: &str) -> Result<crate::package::Package, String> {
        super::run::open_package(name, &self.root).map_err(|e| super::error_text(&e))
    }

    fn names(&self) -> Vec<String> {
        crate::package::Installed::scan(&self.root)
            .map(|i| i.in_use().flat_map(startable).collect())
            .unwrap_or_default()
    }

    fn default_choice(&self) -> Option<Spec> {
        let text = std::fs::read_to_string(self.root.join("etc/default/scxpack")).ok()?;
        daemon::state::parse_default(&text)
    }
}

/// The schedulers of `p` the daemon can start itself: not those whose
/// decisions are made by a user-half program (`relay` runs under
/// `scxpack-relay`, which `run` names instead).
fn startable(p: &crate::package::installed::InstalledPackage) -> Vec<String> {
    p.provides
        .iter()
        .filter(|name| {
            p.package
                .manifest
                .schedulers
                .iter()
                .any(|s| &s.name == *name && s.user_half.is_none())
        })
        .cloned()
        .collect()
}

pub(crate) fn serve(args: &DaemonArgs) -> anyhow::Result<ExitCode> {
    let opts = Options {
        socket: args.socket.clone(),
        state: args.state.clone(),
        policy: RestartPolicy {
            max_restarts: args.max_restarts,
            window: Duration::from_secs(args.restart_window),
        },
        restore: !args.no_restore,
    };
    let bus = match (&args.dbus_address, args.dbus) {
        (Some(a), _) => Some(Bus::Address(a.clone())),
        (None, true) => Some(Bus::System),
        (None, false) => None,
    };
    let catalog = Box::new(Installed {
        root: args.root.clone(),
    });
    Daemon::new(catalog, opts).serve(bus.as_ref())?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub(crate) struct SwitchArgs {
    /// An installed scheduler's name (or a package/object path the daemon can read).
    scheduler: String,
    /// One of the scheduler's modes (`scxpack info NAME` lists them).
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// Set a scheduler parameter (repeatable; overrides the mode's value).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ClientArgs {
    /// The daemon's socket.
    #[arg(long, value_name = "PATH", default_value = daemon::SOCKET)]
    socket: PathBuf,
    /// Print the daemon's JSON answer.
    #[arg(long)]
    json: bool,
}

pub(crate) fn switch(args: &SwitchArgs) -> anyhow::Result<ExitCode> {
    let spec = Spec {
        scheduler: args.scheduler.clone(),
        mode: args.mode.clone(),
        params: args.params.clone(),
    };
    request(&args.client, &Request::Switch(spec))
}

pub(crate) fn stop(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    request(args, &Request::Stop)
}

/// Sends one request; prints the answer (one line of text, or its JSON).
fn request(args: &ClientArgs, req: &Request) -> anyhow::Result<ExitCode> {
    let answer = client::ask(&args.socket, req)?;
    if args.json {
        print_json_line(&answer)?;
    }
    match answer {
        Response::Done {
            status,
            gap_ms,
            enable_ms,
            ..
        } => {
            if !args.json {
                print_done(&status, gap_ms, enable_ms);
            }
            Ok(ExitCode::SUCCESS)
        }
        Response::Failed { error, .. } => {
            crate::say!("scxpack: error: {error}");
            Ok(error_status(&error).into())
        }
    }
}

fn print_done(status: &DaemonStatus, gap_ms: Option<f64>, enable_ms: Option<f64>) {
    match &status.running {
        Some(r) => {
            let took = enable_ms
                .map(|t| format!(" in {t:.1} ms"))
                .unwrap_or_default();
            let gap = gap_ms
                .map(|g| format!("; {g:.1} ms without a scheduler of ours"))
                .unwrap_or_default();
            println!("{} enabled as {}{took}{gap}", describe(&r.spec), r.ops_name);
        }
        None => println!("stopped: no scheduler of the daemon runs"),
    }
}

/// `fair (mode gaming, slice_us=1000)`.
fn describe(spec: &Spec) -> String {
    let mut extra: Vec<String> = spec.mode.iter().map(|m| format!("mode {m}")).collect();
    extra.extend(spec.params.iter().cloned());
    if extra.is_empty() {
        spec.scheduler.clone()
    } else {
        format!("{} ({})", spec.scheduler, extra.join(", "))
    }
}

fn error_status(e: &DaemonError) -> ExitStatus {
    match e {
        DaemonError::Start { exit_status, .. } => {
            ExitStatus::try_from(*exit_status).unwrap_or(ExitStatus::Error)
        }
        DaemonError::BadRequest { .. } => ExitStatus::Usage,
        _ => ExitStatus::Error,
    }
}

/// The daemon's status for `scxpack status`, or the sentence saying why
/// there is none.
pub(crate) fn ask_status(socket: &std::path::Path) -> Result<DaemonStatus, String> {
    match client::ask(socket, &Request::Status) {
        Ok(Response::Done { status, .. }) => Ok(*status),
        Ok(Response::Failed { error, .. }) => Err(error.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

pub(crate) fn print_status(daemon: &Result<DaemonStatus, String>) {
    match daemon {
        Err(why) => println!("daemon:      {why}"),
        Ok(s) => {
            match &s.running {
                Some(r) => println!(
                    "daemon:      holds {} ({} variant, {} restart(s) in the window)",
                    describe(&r.spec),
                    r.variant,
                    r.restarts
                ),
                None => println!("daemon:      running, holds no scheduler"),
            }
            if let Some(e) = &s.last_ejection {
                let exit = e.exit.as_ref().map_or_else(
                    || "no exit record".to_string(),
                    |x| format!("{} ({}): {}", x.kind_name, x.reason, x.msg),
                );
                let gave_up = if e.gave_up {
                    ", gave up"
                } else {
                    ", restarted"
                };
                println!("ejected:     {}: {exit}{gave_up}", e.scheduler);
            }
        }
    }
}
