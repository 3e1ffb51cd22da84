//! Progress shows on a terminal and nowhere else: `check` over the kernel
//! images run under a pseudo-terminal (util-linux `script`) draws its bar on
//! stderr; the same command on a pipe, or with `--json`, prints none.

mod common;

use std::path::Path;
use std::process::Command;

/// The bar's text: "checked N/N kernels".
fn has_bar(text: &str, total: usize) -> bool {
    text.contains(&format!("checked {total}/{total} kernels"))
}

#[test]
fn progress_on_a_terminal_and_not_on_a_pipe() {
    let Some(dir) = common::kernels() else { return };
    let total = scxpack::check::expand_kernels(std::slice::from_ref(&dir))
        .expect("list kernels")
        .len();
    let fifo = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
    let cache = common::temp_dir("progress-cache");
    let cmdline = format!(
        "{} check {} --kernel {}",
        env!("CARGO_BIN_EXE_scxpack"),
        fifo.display(),
        dir.display()
    );
    let tty = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .env("XDG_CACHE_HOME", &cache)
        .output();
    let Ok(tty) = tty else {
        let _ = common::missing::<()>("script (util-linux / bsdutils)");
        return;
    };
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(
        has_bar(&shown, total),
        "no progress on a terminal:\n{shown}"
    );

    for json in [false, true] {
        let mut args = vec![
            "check",
            fifo.to_str().unwrap(),
            "--kernel",
            dir.to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        let (_, out, err) =
            common::scxpack_env(&args, &[("XDG_CACHE_HOME", cache.to_str().unwrap())]);
        assert!(
            !has_bar(&err, total) && !has_bar(&out, total),
            "progress on a pipe: {err}"
        );
        assert!(
            !err.contains('\u{1b}'),
            "terminal escapes on a pipe: {err:?}"
        );
    }
}

#[test]
fn jsonl_streams_one_line_per_kernel_and_scheduler() {
    let Some(dir) = common::kernels() else { return };
    let total = scxpack::check::expand_kernels(std::slice::from_ref(&dir))
        .expect("list kernels")
        .len();
    let fifo = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
    let cache = common::temp_dir("jsonl-cache");
    let (rc, out, err) = common::scxpack_env(
        &[
            "check",
            fifo.to_str().unwrap(),
            "--kernel",
            dir.to_str().unwrap(),
            "--jsonl",
            "--jobs",
            "2",
        ],
        &[("XDG_CACHE_HOME", cache.to_str().unwrap())],
    );
    let cells: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(cells.len(), total, "{out}\n{err}");
    let mut kernels: Vec<&str> = cells.iter().filter_map(|c| c["kernel"].as_str()).collect();
    kernels.sort_unstable();
    kernels.dedup();
    assert_eq!(kernels.len(), total, "every kernel once");
    // One kernel has no sched_ext, which is not a failure without --require-sched-ext.
    assert_eq!(rc, 0, "{err}");
}
