//! A restart of a bare object in the same boot (CI=true; skipped elsewhere
//! without kernels): on the oldest and the newest sched_ext kernel, each
//! object runs once, then again. The first start reads the object and the
//! kernel; the restart takes both the verdict and the loader's part of
//! the object's requirements from this boot's cache, and must load, run
//! and detach the same way, take its parameters checked against the
//! cached `.rodata` variables, and refuse a parameter the object lacks.

mod common;

use scxpack::loader::{Outcome, RunFailure, RunReport};
use scxpack::vm::{self, GuestJob, JobResult};

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
