//! `scxpack daemon` on the host, driven over its socket with the line JSON
//! protocol and through `switch`/`stop`/`status`: socket mode, typed
//! errors, a start that cannot work here (no sched_ext on the host) answered
//! with the loader's reason instead of a hang, one daemon per socket, the
//! saved state restored at start, and a clean exit on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A daemon on a socket in its own directory, killed (SIGTERM) when dropped.
struct Running {
    child: Child,
    dir: PathBuf,
}

impl Running {
    fn start(tag: &str, state: Option<&Value>) -> Self {
        let dir = common::temp_dir(tag);
        if let Some(state) = state {
            std::fs::write(dir.join("daemon.json"), state.to_string()).unwrap();
        }
        let child = Command::new(env!("CARGO_BIN_EXE_scxpack"))
            .args(["daemon", "--socket"])
            .arg(dir.join("run/daemon.sock"))
            .arg("--state")
            .arg(dir.join("daemon.json"))
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let d = Running { child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while UnixStream::connect(d.socket()).is_err() {
            assert!(Instant::now() < deadline, "no socket: {}", d.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("run/daemon.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Sends request lines on one connection; the answers.
    fn ask(&self, lines: &[&str]) -> Vec<Value> {
        let stream = UnixStream::connect(self.socket()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut reader = BufReader::new(&stream);
        lines
            .iter()
            .map(|l| {
                (&stream).write_all(format!("{l}\n").as_bytes()).unwrap();
                let mut answer = String::new();
                reader.read_line(&mut answer).unwrap();
                serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer:?}"))
            })
            .collect()
    }

    fn scxpack(&self, args: &[&str]) -> (i32, String, String) {
        let socket = self.socket();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--socket", socket.to_str().unwrap()]);
        common::scxpack(&all)
    }

    /// SIGTERM; waits for the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fifo_object() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-objects/fifo/fifo.bpf.o").to_string()
}

/// The host has no sched_ext kernel (true here and in CI): a start must
/// fail. Where it has one, loading a scheduler on it is not this test's job.
fn host_without_sched_ext() -> bool {
    if Path::new("/sys/kernel/sched_ext").exists() {
        println!("SKIPPED: the host runs sched_ext; starts are tested in the VM");
        return false;
    }
    true
}

#[test]
fn protocol_answers_with_typed_errors() {
    let d = Running::start("daemon-protocol", None);
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");
    let answers = d.ask(&[
        r#"{"cmd":"status"}"#,
        r#"{"cmd":"stop"}"#,
        r#"{"cmd":"restart"}"#,
        "not json",
        r#"{"cmd":"switch","scheduler":"/nonexistent/x.scxpkg"}"#,
        &json!({"cmd": "switch", "scheduler": fifo_object(), "mode": "gaming"}).to_string(),
        &json!({"cmd": "switch", "scheduler": fifo_object(), "params": ["nope=1"]}).to_string(),
    ]);
    assert_eq!(answers[0]["ok"], true, "{}", answers[0]);
    assert!(answers[0]["status"]["running"].is_null(), "{}", answers[0]);
    assert_eq!(answers[1]["error"]["kind"], "not_running", "{}", answers[1]);
    assert_eq!(answers[2]["error"]["kind"], "not_running", "{}", answers[2]);
    assert_eq!(answers[3]["error"]["kind"], "bad_request", "{}", answers[3]);
    assert_eq!(answers[4]["error"]["kind"], "start", "{}", answers[4]);
    let msg = answers[4]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("cannot read"), "{msg}");
    // A bare object has no modes; an unknown parameter is named.
    let msg = answers[5]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("unknown mode gaming"), "{msg}");
    let msg = answers[6]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("unknown parameter nope"), "{msg}");
    if host_without_sched_ext() {
        let started = Instant::now();
        let a = d.ask(&[&json!({"cmd": "start", "scheduler": fifo_object()}).to_string()]);
        assert_eq!(a[0]["error"]["kind"], "start", "{}", a[0]);
        assert_eq!(a[0]["error"]["exit_status"], 4, "{}", a[0]);
        let msg = a[0]["error"]["message"].as_str().unwrap();
        assert!(msg.contains("no sched_ext"), "{msg}");
        assert!(started.elapsed() < Duration::from_secs(30));
        // Nothing was saved for a start that failed.
        assert!(!d.dir.join("daemon.json").exists());
    }
    // One daemon per socket.
    let (code, _, err) = common::scxpack(&[
        "daemon",
        "--socket",
        d.socket().to_str().unwrap(),
        "--no-restore",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("another scxpack daemon answers"), "{err}");
    let socket = d.socket();
    assert!(d.terminate().success());
    assert!(!socket.exists(), "socket left behind");
}

#[test]
fn cli_clients_talk_to_the_daemon_or_say_it_is_not_running() {
    let dir = common::temp_dir("daemon-absent");
    let socket = dir.join("none.sock");
    for args in [&["stop"][..], &["switch", "fair"]] {
        let mut all = args.to_vec();
        all.extend(["--socket", socket.to_str().unwrap()]);
        let (code, _, err) = common::scxpack(&all);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("daemon is not running"), "{args:?}: {err}");
    }
    let (code, out, _) = common::scxpack(&["status", "--socket", socket.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("daemon is not running"), "{out}");
    assert!(out.contains("sched_ext"), "{out}");

    let state = json!({"scheduler": {"scheduler": fifo_object(), "mode": "auto"}});
    let d = Running::start("daemon-cli", Some(&state));
    let (code, out, _) = d.scxpack(&["status", "--json"]);
    assert_eq!(code, 0);
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["daemon"]["running"], Value::Null, "{out}");
    assert!(status.get("daemon_unreachable").is_none(), "{out}");
    // The saved scheduler was tried at start (and could not start here).
    let log = d.log();
    assert!(log.contains("cannot restore"), "{log}");
    let (code, _, err) = d.scxpack(&["stop"]);
    assert_eq!(code, 1);
    assert!(err.contains("no scheduler is running"), "{err}");
    if host_without_sched_ext() {
        let (code, _, err) = d.scxpack(&["switch", &fifo_object()]);
        assert_eq!(code, 4, "{err}");
        assert!(err.contains("no sched_ext"), "{err}");
    }
    // A failed start keeps the saved choice for the next boot.
    let saved: Value =
        serde_json::from_slice(&std::fs::read(d.dir.join("daemon.json")).unwrap()).unwrap();
    assert_eq!(saved, state);
    assert!(d.terminate().success());
}
