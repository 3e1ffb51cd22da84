//! A restart of a bare object in the same boot (CI=true; skipped elsewhere
//! without kernels): on the oldest and the newest sched_ext kernel, each
//! object runs once, then again. The first start reads the object and the
//! kernel; the restart takes both the verdict and the loader's part of
//! the object's requirements from this boot's cache, and must load, run
//! and detach the same way, take its parameters checked against the
//! cached `.rodata` variables, and refuse a parameter the object lacks.
//! Then the kernel's cache outlives the boot: the newest kernel boots
//! twice, the second time with the first boot's cache file in place, and
//! the first start of the second boot reads neither object nor kernel.

mod common;

use scxpack::loader::{Outcome, RunFailure, RunReport};
use scxpack::vm::{self, GuestJob, JobResult};

/// Where the guest's kernel cache files are (`live::KERNEL_CACHE` from `/`).
fn kernel_cache_dir() -> String {
    format!("/{}", scxpack::live::KERNEL_CACHE)
}

const OBJECTS: [&str; 2] = ["fifo/fifo.bpf.o", "interactive/interactive.bpf.o"];

fn run_job(id: &str, object: &str, extra: &[&str]) -> GuestJob {
    let mut argv = vec!["/bin/scxpack", "run", object, "--duration", "1", "--json"];
    argv.extend_from_slice(extra);
    GuestJob::new(id, argv)
}

fn jobs() -> Vec<GuestJob> {
    vec![
        run_job("fifo-first", "/pkg/fifo.bpf.o", &[]),
        run_job("fifo-again", "/pkg/fifo.bpf.o", &[]),
        run_job("interactive-first", "/pkg/interactive.bpf.o", &[]),
        run_job(
            "interactive-param",
            "/pkg/interactive.bpf.o",
            &["--param", "slice_us=5000"],
        ),
        run_job(
            "interactive-typo",
            "/pkg/interactive.bpf.o",
            &["--param", "slice_uss=5000"],
        ),
    ]
}

fn report(kernel: &str, job: Option<&JobResult>) -> RunReport {
    let job = job.unwrap_or_else(|| panic!("{kernel}: job missing"));
    let json = job
        .json
        .clone()
        .unwrap_or_else(|| panic!("{kernel} {}: no report: {:?}", job.id, job.stderr));
    serde_json::from_value(json).unwrap_or_else(|e| panic!("{kernel} {}: {e}", job.id))
}

/// Loaded, ran for its second, left cleanly.
fn assert_ran(kernel: &str, id: &str, r: &RunReport) {
    assert!(
        r.loaded && r.enabled_seen && r.detached_cleanly && r.outcome == Outcome::Detached,
        "{kernel} {id}: {r:?}"
    );
}

#[test]
fn a_restart_takes_the_object_from_the_boot_cache() {
    let (Some(old), Some(new)) = (
        common::vmlinuz("6.12.117-scx"),
        common::vmlinuz("7.2.13+deb14"),
    ) else {
        return;
    };
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-objects/");
    let files: Vec<_> = OBJECTS
        .iter()
        .map(|o| format!("{root}{o}").into())
        .collect();
    let runs = vm::run_matrix(&[old, new], &files, &jobs(), &common::sample_vm_config(600))
        .expect("vm run");
    for run in &runs {
        let kernel = run.release.as_deref().unwrap_or("?");
        assert!(run.failure.is_none(), "{kernel}: {:?}", run.failure);
        for object in ["fifo", "interactive"] {
            let first = report(kernel, run.job(&format!("{object}-first")));
            assert_ran(kernel, object, &first);
            assert!(
                !first.phases.object_cached && !first.phases.select.cache_hit,
                "{kernel} {object}: the first start read the object and kernel: {:?}",
                first.phases
            );
        }
        let again = report(kernel, run.job("fifo-again"));
        let param = report(kernel, run.job("interactive-param"));
        for (id, r) in [("fifo-again", &again), ("interactive-param", &param)] {
            assert_ran(kernel, id, r);
            assert!(
                r.phases.object_cached && r.phases.select.cache_hit,
                "{kernel} {id}: a restart reads neither object nor kernel: {:?}",
                r.phases
            );
        }
        assert_eq!(
            again.ops_name,
            report(kernel, run.job("fifo-first")).ops_name
        );
        let typo = run.job("interactive-typo").expect("typo job");
        let failure: Option<RunFailure> = typo
            .json
            .clone()
            .and_then(|j| serde_json::from_value(j).ok());
        assert!(
            failure.is_some_and(|f| !f.loaded && f.error.contains("slice_uss")),
            "{kernel}: an unknown parameter is refused by name: {:?} {:?}",
            typo.json,
            typo.stderr
        );
    }
}

fn boot(
    kernel: &std::path::Path,
    files: &[std::path::PathBuf],
    jobs: &[GuestJob],
) -> vm::KernelRun {
    let runs = vm::run_matrix(
        std::slice::from_ref(&kernel.to_path_buf()),
        files,
        jobs,
        &common::sample_vm_config(600),
    )
    .expect("vm run");
    let run = runs.into_iter().next().expect("one run");
    assert!(run.failure.is_none(), "{:?}", run.failure);
    run
}

#[test]
fn the_kernel_cache_serves_a_later_boot_of_the_same_kernel() {
    let Some(kernel) = common::vmlinuz("7.2.13+deb14") else {
        return;
    };
    let object = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bpf-objects/fifo/fifo.bpf.o"
    ));
    let boot_id = GuestJob::new("boot-id", ["cat", "/proc/sys/kernel/random/boot_id"]);
    let first = boot(
        &kernel,
        std::slice::from_ref(&object),
        &[
            boot_id.clone(),
            run_job("fifo", "/pkg/fifo.bpf.o", &[]),
            GuestJob::copy_out("dump", &format!("{}/*.cache", kernel_cache_dir())),
        ],
    );
    let cold = report("first boot", first.job("fifo"));
    assert_ran("first boot", "fifo", &cold);
    assert!(!cold.phases.select.cache_hit, "{:?}", cold.phases);
    let files = first.job("dump").and_then(JobResult::files);
    let Some([(name, bytes)]) = files.as_deref() else {
        panic!("one kernel cache file in the first boot: {files:?}");
    };
    let dir = common::temp_dir("kernel-cache");
    std::fs::write(dir.join(name), bytes).unwrap();
    let second = boot(
        &kernel,
        &[object, dir.join(name)],
        &[
            boot_id,
            GuestJob::copy_in("place", name, &kernel_cache_dir()),
            run_job("fifo", "/pkg/fifo.bpf.o", &[]),
        ],
    );
    let ids = [&first, &second].map(|r| r.job("boot-id").map(|j| j.stdout.clone()));
    assert!(ids[0].is_some() && ids[0] != ids[1], "two boots: {ids:?}");
    let warm = report("second boot", second.job("fifo"));
    assert_ran("second boot", "fifo", &warm);
    assert!(
        warm.phases.select.cache_hit && warm.phases.object_cached,
        "the first start of a later boot reads neither object nor kernel: {:?}",
        warm.phases
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
