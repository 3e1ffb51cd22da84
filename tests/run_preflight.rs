//! `scxpack run` refuses clearly before touching the kernel: without
//! privileges, and with bad parameters. (Loading itself is proven in QEMU by
//! `tests/vm_matrix.rs`.)

mod common;

use std::path::Path;
use std::process::Command;

fn object(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bpf-objects")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .map(|u| u.split_whitespace().next() == Some("0"))
            })
        })
        .unwrap_or(false)
}

#[test]
fn unprivileged_run_says_what_it_needs() {
    if !is_root() {
        // Already unprivileged: run directly.
        let (rc, _, err) = common::scxpack(&["run", &object("fifo/fifo.bpf.o"), "--duration", "1"]);
        assert_eq!(rc, 7, "{err}");
        assert!(err.contains("CAP_BPF"), "{err}");
        return;
    }
    let Ok(out) = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_scxpack"))
        .args(["run", &object("fifo/fifo.bpf.o"), "--duration", "1"])
        .output()
    else {
        let _ = common::missing::<()>("setpriv (util-linux) to drop privileges");
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(err.contains("CAP_BPF") && err.contains("sudo"), "{err}");
}

#[test]
fn unknown_and_mistyped_parameters_are_refused() {
    if !is_root() {
        eprintln!("SKIPPED: parameter checks run after the privilege check, which needs root");
        return;
    }
    let (rc, _, err) = common::scxpack(&[
        "run",
        &object("fair/fair-portable.bpf.o"),
        "--param",
        "nope=1",
    ]);
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("unknown parameter nope") && err.contains("slice_us"),
        "{err}"
    );
    let (rc, _, err) = common::scxpack(&[
        "run",
        &object("fair/fair-portable.bpf.o"),
        "--param",
        "slice_us=fast",
    ]);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("slice_us") && err.contains("fast"), "{err}");
    let (rc, _, err) = common::scxpack(&[
        "run",
        &object("fair/fair-portable.bpf.o"),
        "--param",
        "slice_us",
    ]);
    assert_eq!(rc, 2, "a missing '=' is a usage error: {err}");
}
