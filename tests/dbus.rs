//! `scxpack daemon --dbus-address` on a private `dbus-daemon` that
//! includes the shipped bus policy, driven with `busctl` and scx_loader's
//! signatures: properties read by anyone, changes from root answered by the
//! daemon (here, without sched_ext, a typed error and not a hang), changes
//! from an unprivileged caller refused (no polkit answers on this bus).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEST: [&str; 3] = ["org.scx.Loader", "/org/scx/Loader", "org.scx.Loader"];

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A private bus whose policy is the shipped one plus "anyone may connect".
fn start_bus(dir: &Path) -> (Killed, String) {
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/dbus/org.scx.Loader.conf");
    let socket = dir.join("bus");
    let config = format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="org.freedesktop.DBus"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow send_type="signal"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
  <include>{}</include>
</busconfig>
"#,
        socket.display(),
        policy.display()
    );
    std::fs::write(dir.join("bus.conf"), config).unwrap();
    // Anyone may connect to the socket (the unprivileged caller too).
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let child = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", dir.join("bus.conf").display()))
        .arg("--nofork")
        .stderr(std::fs::File::create(dir.join("bus.log")).unwrap())
        .spawn()
        .unwrap();
    let bus = Killed(child);
    wait_for(|| socket.exists(), "the private bus socket");
    (bus, format!("unix:path={}", socket.display()))
}

fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `busctl --address=ADDR call/get-property ...` (as `uid` when given);
/// (success, stdout, stderr).
fn busctl(address: &str, uid: Option<u32>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = match uid {
        Some(u) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={u}"),
                &format!("--regid={u}"),
                "--clear-groups",
                "busctl",
            ]);
            c
        }
        None => Command::new("busctl"),
    };
    let out = cmd
        .arg(format!("--address={address}"))
        .args(["--timeout=60"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn call(
    address: &str,
    uid: Option<u32>,
    method: &str,
    sig_args: &[&str],
) -> (bool, String, String) {
    let mut args = vec!["call", "--", DEST[0], DEST[1], DEST[2], method];
    args.extend_from_slice(sig_args);
    busctl(address, uid, &args)
}

fn property(address: &str, uid: Option<u32>, name: &str) -> String {
    let (ok, out, err) = busctl(
        address,
        uid,
        &["get-property", DEST[0], DEST[1], DEST[2], name],
    );
    assert!(ok, "get {name}: {err}");
    out.trim().to_string()
}

/// Installs the shipped schedulers under a root of their own.
fn root_with_schedulers(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    let pkg = dir.join("s.scxpkg");
    let objects = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-objects");
    let (code, _, err) = common::scxpack(&["pack", objects, "-o", pkg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = common::scxpack(&[
        "install",
        pkg.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    std::fs::create_dir_all(root.join("etc/default")).unwrap();
    std::fs::write(
        root.join("etc/default/scxpack"),
        "SCXPACK_SCHEDULER=interactive\nSCXPACK_ARGS=\"--mode lowlatency\"\n",
    )
    .unwrap();
    root
}

/// `scxpack daemon` serving org.scx.Loader on the bus at `address`.
fn start_daemon(dir: &Path, root: &Path, address: &str) -> Killed {
    let daemon = Command::new(env!("CARGO_BIN_EXE_scxpack"))
        .args(["daemon", "--no-restore", "--root"])
        .arg(root)
        .arg("--socket")
        .arg(dir.join("daemon.sock"))
        .arg("--state")
        .arg(dir.join("daemon.json"))
        .arg("--dbus-address")
        .arg(address)
        .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    Killed(daemon)
}

#[test]
fn org_scx_loader_on_a_private_bus() {
    if !tool("dbus-daemon") || !tool("busctl") || !tool("setpriv") {
        assert!(
            !common::in_ci(),
            "dbus-daemon, busctl and setpriv are in .ci/setup"
        );
        println!("SKIPPED: dbus-daemon, busctl or setpriv missing");
        return;
    }
    let dir = common::temp_dir("dbus");
    let root = root_with_schedulers(&dir);
    let (_bus, address) = start_bus(&dir);
    let _daemon = start_daemon(&dir, &root, &address);
    wait_for(
        || busctl(&address, None, &["status", DEST[0]]).0,
        "org.scx.Loader on the bus",
    );
    let nobody = Some(65534);
    // Reads: anyone.
    assert_eq!(
        property(&address, nobody, "CurrentScheduler"),
        "s \"unknown\""
    );
    assert_eq!(property(&address, nobody, "SchedulerMode"), "u 0");
    assert_eq!(
        property(&address, nobody, "SupportedSchedulers"),
        "as 3 \"fair\" \"fifo\" \"interactive\""
    );
    assert_eq!(
        property(&address, nobody, "DefaultScheduler"),
        "s \"interactive\""
    );
    assert_eq!(property(&address, None, "DefaultMode"), "u 3");
    assert_eq!(property(&address, None, "CurrentSchedulerArgs"), "as 0");
    // Changes from an unprivileged caller: polkit is asked, and refuses
    // (there is none on this bus). busctl prints only "Access denied" for
    // that error name; gdbus prints the daemon's message.
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "gdbus",
            "call",
        ])
        .args([
            "--address",
            &address,
            "--dest",
            DEST[0],
            "--object-path",
            DEST[1],
        ])
        .args(["--method", "org.scx.Loader.SwitchScheduler", "fifo", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("Error.AccessDenied")
            && err.contains("polkit")
            && err.contains("uid 65534"),
        "{err}"
    );
    // From root: the daemon's own answer, typed, without a hang.
    let (ok, _, err) = call(&address, None, "SwitchScheduler", &["su", "fifo", "9"]);
    assert!(!ok && err.contains("sched_mode 9 is not one of"), "{err}");
    let (ok, _, err) = call(&address, None, "StopScheduler", &[]);
    assert!(!ok && err.contains("no scheduler is running"), "{err}");
    let (ok, _, err) = call(
        &address,
        None,
        "StartSchedulerWithArgs",
        &["sas", "fair", "1", "turbo"],
    );
    assert!(!ok && err.contains("--param KEY=VALUE"), "{err}");
    if Path::new("/sys/kernel/sched_ext").exists() {
        println!("SKIPPED: starts on a sched_ext host (the VM test covers them)");
        return;
    }
    let started = Instant::now();
    for (method, args) in [
        ("StartScheduler", &["su", "scx_fifo", "1"][..]),
        ("SwitchScheduler", &["su", "fair", "3"]),
        (
            "SwitchSchedulerWithArgs",
            &["sas", "interactive", "2", "--mode", "gaming"],
        ),
        ("RestoreDefault", &[]),
    ] {
        let (ok, _, err) = call(&address, None, method, args);
        assert!(!ok && err.contains("no sched_ext"), "{method}: {err}");
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(
        property(&address, None, "CurrentScheduler"),
        "s \"unknown\""
    );
}
