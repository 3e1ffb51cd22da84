//! `vmtest --shard I/N` and `report merge`: the kernels split over three
//! shards run in three separate processes, and the merged report has the
//! verdicts of one unsharded run (timings aside). Needs QEMU and the kernel
//! images (provided in CI; skipped elsewhere with a message).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use scxpack::vmtest::VmMatrix;

/// Three kernels: no sched_ext, the oldest Debian one with it, the newest.
const KERNELS: [&str; 3] = ["6.12.117+deb13", "6.16.3+deb13", "7.2.13+deb14"];

fn base_args(fifo: &Path, kernels: &[PathBuf]) -> Vec<String> {
    let mut args = vec![
        "vmtest".to_string(),
        fifo.display().to_string(),
        "--accel".into(),
        "tcg".into(),
        "--duration".into(),
        "1".into(),
        "--json".into(),
    ];
    for k in kernels {
        args.push("--kernel".into());
        args.push(k.display().to_string());
    }
    args
}

/// One result's verdict, timings left out.
#[derive(Debug, PartialEq)]
struct Verdict {
    kernel: PathBuf,
    scheduler: String,
    sched_ext: bool,
    loaded: bool,
    ok: bool,
    variant: Option<String>,
    exit_code: Option<i32>,
}

fn verdicts(m: &VmMatrix) -> Vec<Verdict> {
    m.results
        .iter()
        .map(|r| Verdict {
            kernel: r.kernel_path.clone(),
            scheduler: r.scheduler.clone(),
            sched_ext: r.sched_ext,
            loaded: r.loaded,
            ok: r.ok,
            variant: r.variant.clone(),
            exit_code: r.exit_code,
        })
        .collect()
}

#[test]
fn three_shards_merge_into_the_unsharded_report() {
    let kernels: Option<Vec<PathBuf>> = KERNELS.iter().map(|k| common::vmlinuz(k)).collect();
    let Some(kernels) = kernels else { return };
    if scxpack::vm::qemu::find_in_path("qemu-system-x86_64").is_none() {
        let _ = common::missing::<()>("qemu-system-x86_64 (apt-get install qemu-system-x86)");
        return;
    }
    let fifo = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
    let dir = common::temp_dir("vmtest-shards");
    let args = base_args(&fifo, &kernels);
    // The three shards in three processes at once, one guest each.
    let shards: Vec<_> = (1..=3)
        .map(|i| {
            let out = dir.join(format!("shard-{i}.json"));
            let child = Command::new(env!("CARGO_BIN_EXE_scxpack"))
                .args(&args)
                .args(["--jobs", "1", "--shard", &format!("{i}/3")])
                .stdout(std::fs::File::create(&out).unwrap())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            (out, child)
        })
        .collect();
    let mut shard_files = Vec::new();
    for (out, mut child) in shards {
        let status = child.wait().unwrap();
        assert!(status.code().is_some(), "shard killed: {status}");
        shard_files.push(out.display().to_string());
    }
    let mut whole_args: Vec<&str> = args.iter().map(String::as_str).collect();
    whole_args.extend(["--jobs", "2"]);
    let (whole_rc, whole_out, err) = common::scxpack(&whole_args);
    let whole: VmMatrix = serde_json::from_str(&whole_out).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(whole.results.len(), 3, "{whole_out}");

    // Merged in another order than run: merge restores the kernel order.
    let junit = dir.join("merged.xml");
    let mut merge_args = vec![
        "report",
        "merge",
        "--json",
        "--junit",
        junit.to_str().unwrap(),
    ];
    merge_args.extend(shard_files.iter().rev().map(String::as_str));
    let (merged_rc, merged_out, err) = common::scxpack(&merge_args);
    let merged: VmMatrix =
        serde_json::from_str(&merged_out).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(verdicts(&merged), verdicts(&whole));
    assert_eq!(merged_rc, whole_rc, "{err}");
    assert_eq!(
        merged.boots.iter().map(|b| &b.kernel).collect::<Vec<_>>(),
        whole.boots.iter().map(|b| &b.kernel).collect::<Vec<_>>()
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"3\""), "{xml}");

    // Two of three shards are not a whole run.
    let (rc, _, err) = common::scxpack(&[
        "report",
        "merge",
        shard_files[0].as_str(),
        shard_files[2].as_str(),
    ]);
    assert_eq!(rc, 1);
    assert!(err.contains("shards 2/3 are missing"), "{err}");
}
