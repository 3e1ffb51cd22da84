//! `scxpack vmtest --latency`: what each scheduler of the packages does to
//! wakeup latency under load, against the kernel's own default scheduler in
//! the same guest boot. Each kernel boots once (without the harness's
//! workload) and runs rounds; every round measures the default scheduler and
//! then each packaged scheduler with [`crate::wakeup`]
//! (`scxpack wakeup-latency` in the guest, while `scxpack run` holds the
//! scheduler in the background), in an order rotated by one per round so
//! drift in the host's load spreads over all rows. A row's figures are the
//! medians of its rounds; a round counts only if the scheduler it is for
//! was the one sysfs showed both before and after the measurement. A
//! scheduler whose manifest names a user half (`relay`: `scxpack-relay`)
//! runs under that program, taken from beside the guest's `scxpack`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Boots, Shard, job_id, kernel_configs};
use crate::package::Package;
use crate::vm::guest::sh_quote;
use crate::vm::initramfs::{GUEST_BINARY_PATH, PAYLOAD_DIR};
use crate::vm::{self, GuestBinary, GuestJob, KernelRun, VmConfig};
use crate::wakeup::Measurement;

/// The name of the row of the kernel's own scheduler.
pub const DEFAULT_ROW: &str = "default";

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyPlan {
    /// Rounds per kernel (each measures every row once).
    pub rounds: u32,
    /// Seconds of each measurement.
    pub duration_secs: u32,
}

/// One row of the table: the kernel's default scheduler or one scheduler
/// of a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// `None` for the kernel's default scheduler.
    pub package: Option<String>,
    /// [`DEFAULT_ROW`] or the package's scheduler name.
    pub scheduler: String,
    /// The measurements of the rounds that count, in round order.
    pub rounds: Vec<Measurement>,
    /// Why other rounds do not count.
    pub problems: Vec<String>,
    /// Medians over the rounds (µs; iterations/s); `None` without a round.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// The largest lateness of any round (µs).
    pub max_us: Option<f64>,
    pub iterations_per_sec: Option<f64>,
    /// This row's medians over the default row's, same boot.
    pub p50_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
    pub throughput_ratio: Option<f64>,
}

/// One kernel's boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelLatency {
    pub kernel: PathBuf,
    pub release: Option<String>,
    /// The accelerator the boot ran under.
    pub accel: vm::Accel,
    /// Why the guest did not complete, if it did not.
    pub failure: Option<String>,
    /// The default row first, then the packages' schedulers.
    pub rows: Vec<LatencyRow>,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyReport {
    pub plan: LatencyPlan,
    /// Guest CPUs (one spinner and one wakeup thread each).
    pub cpus: u32,
    pub kernels: Vec<KernelLatency>,
}

impl LatencyReport {
    /// Every guest completed and every round of every row counted.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.kernels.iter().all(|k| {
            k.failure.is_none()
                && k.rows
                    .iter()
                    .all(|r| r.problems.is_empty() && !r.rounds.is_empty())
        })
    }
}

/// What a row measures in the guest.
#[derive(Debug, Clone)]
struct RowSpec {
    package: Option<String>,
    scheduler: String,
    /// The package file under `/pkg/`, for a packaged scheduler.
    payload: Option<String>,
    /// The ops names (prefixes) the scheduler's variants register.
    ops: Vec<String>,
    /// The program that runs it when `scxpack run` cannot (the manifest's
    /// `user_half`, e.g. `scxpack-relay`), copied into the guest's `/bin`.
    user_half: Option<String>,
}

impl RowSpec {
    fn id(&self, round: u32) -> String {
        match &self.package {
            None => format!("lat{round}:{DEFAULT_ROW}"),
            Some(pkg) => format!("lat{round}:{}", job_id(pkg, &self.scheduler)),
        }
    }

    /// The guest job of this row in `round`.
    fn job(&self, round: u32, duration: u32) -> GuestJob {
        let measure = format!(
            "{GUEST_BINARY_PATH} wakeup-latency --duration {duration} --json --await {}",
            if self.payload.is_some() {
                "enabled"
            } else {
                "disabled"
            }
        );
        let script = match &self.payload {
            None => measure,
            Some(file) => self.under_scheduler(file, &measure),
        };
        // Room for the wait for sched_ext (30 s) and an emulated load.
        GuestJob::new(self.id(round), ["sh", "-c", script.as_str()])
            .with_timeout(Duration::from_secs(u64::from(duration) + 90))
    }

    /// `measure` while the scheduler of package `file` runs in the background
    /// (under `scxpack run`, or its user half), stopped with SIGTERM after.
    fn under_scheduler(&self, file: &str, measure: &str) -> String {
        let (package, scheduler) = (
            sh_quote(&format!("{PAYLOAD_DIR}/{file}")),
            sh_quote(&self.scheduler),
        );
        let start = match &self.user_half {
            None => {
                format!("{GUEST_BINARY_PATH} run {package} --scheduler {scheduler} --force --json")
            }
            Some(program) => {
                let program = sh_quote(&format!("/bin/{program}"));
                format!(
                    "chmod 755 {program}; {program} {package} --scheduler {scheduler} --stats 0 --json"
                )
            }
        };
        format!(
            "{start} >/tmp/lat.run 2>/tmp/lat.err & pid=$!; \
             {measure}; rc=$?; kill -TERM $pid 2>/dev/null; wait $pid; \
             echo \"the scheduler's loader exited $?\" >&2; cat /tmp/lat.err /tmp/lat.run >&2; exit $rc"
        )
    }

    /// The scheduler this row is for was the one running.
    fn ran(&self, m: &Measurement) -> Result<(), String> {
        let both = [&m.scheduler_before, &m.scheduler_after];
        let ok = if self.package.is_none() {
            both.iter().all(|s| s.is_default())
        } else {
            both.iter().all(|s| s.is_ops(&self.ops))
        };
        if ok {
            return Ok(());
        }
        let show = |s: &crate::wakeup::SchedulerSeen| {
            format!(
                "{} {}",
                s.state.as_deref().unwrap_or("no sched_ext"),
                s.ops.as_deref().unwrap_or("-")
            )
        };
        Err(format!(
            "another scheduler ran (before: {}, after: {})",
            show(&m.scheduler_before),
            show(&m.scheduler_after)
        ))
    }
}

/// The rows: the default, then every scheduler of every package.
fn row_specs(packages: &[PathBuf]) -> anyhow::Result<Vec<RowSpec>> {
    let mut rows = vec![RowSpec {
        package: None,
        scheduler: DEFAULT_ROW.to_owned(),
        payload: None,
        ops: Vec::new(),
        user_half: None,
    }];
    for path in packages {
        let pkg = Package::open(path)?;
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow::anyhow!("{}: no file name", path.display()))?;
        for s in &pkg.manifest.schedulers {
            let ops = s
                .variants
                .iter()
                .filter_map(|v| v.requirements.struct_ops.first()?.ops_name.clone())
                .collect();
            rows.push(RowSpec {
                package: Some(pkg.manifest.name.clone()),
                scheduler: s.name.clone(),
                payload: Some(file.clone()),
                ops,
                user_half: s.user_half.clone(),
            });
        }
    }
    Ok(rows)
}

/// The user-half programs the rows need, found beside the guest's
/// `scxpack` (where `cargo build` and the distribution packages put them),
/// as (guest path, host path).
fn user_halves(rows: &[RowSpec], binary: &GuestBinary) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for (row, program) in rows
        .iter()
        .filter_map(|r| Some((r, r.user_half.as_deref()?)))
    {
        let guest = format!("bin/{program}");
        if files.iter().any(|(g, _)| *g == guest) {
            continue;
        }
        let scxpack = match binary {
            GuestBinary::Path(p) => p.clone(),
            GuestBinary::CurrentExe | GuestBinary::None => std::env::current_exe()?,
        };
        let host = scxpack.with_file_name(program);
        anyhow::ensure!(
            host.is_file(),
            "scheduler {} runs with its user half {program}, which is not at {}: \
             build it (cargo build --bin {program}) or install it beside scxpack",
            row.scheduler,
            host.display()
        );
        files.push((guest, host));
    }
    Ok(files)
}

/// The jobs of all rounds: round `r` starts at row `r mod rows`.
fn jobs(rows: &[RowSpec], plan: LatencyPlan) -> Vec<GuestJob> {
    let mut jobs = Vec::new();
    for round in 0..plan.rounds {
        let start = usize::try_from(round).unwrap_or(0) % rows.len();
        for row in rows[start..].iter().chain(&rows[..start]) {
            jobs.push(row.job(round, plan.duration_secs));
        }
    }
    jobs
}

/// Boots every kernel once and measures every row `plan.rounds` times.
pub fn latency(
    packages: &[PathBuf],
    kernels: &[PathBuf],
    cfg: &VmConfig,
    plan: LatencyPlan,
) -> anyhow::Result<LatencyReport> {
    anyhow::ensure!(
        plan.rounds > 0 && plan.duration_secs > 0,
        "--rounds and --duration must be at least 1"
    );
    let specs = row_specs(packages)?;
    let jobs = jobs(&specs, plan);
    let boots = Boots::prepare(kernels, Shard::WHOLE)?;
    let mut cfg = cfg.clone();
    cfg.files.extend(kernel_configs(&boots.kernels));
    cfg.files.extend(user_halves(&specs, &cfg.guest_binary)?);
    // The measurement brings its own load; the harness's would add to it.
    cfg.init.workload = false;
    let rows = u64::try_from(specs.len()).unwrap_or(u64::MAX);
    let budget = Duration::from_secs(
        180 + u64::from(plan.rounds) * rows * (u64::from(plan.duration_secs) + 30),
    );
    cfg.timeout = cfg.timeout.max(budget);
    let runs = vm::run_matrix(&boots.kernels, packages, &jobs, &cfg)?;
    Ok(LatencyReport {
        plan,
        cpus: cfg.cpus,
        kernels: runs.iter().map(|run| kernel(run, &specs, plan)).collect(),
    })
}

/// One boot's rows.
fn kernel(run: &KernelRun, specs: &[RowSpec], plan: LatencyPlan) -> KernelLatency {
    let mut rows: Vec<LatencyRow> = specs.iter().map(|s| row(run, s, plan)).collect();
    let base = rows[0].clone();
    for r in &mut rows {
        let ratio = |mine: Option<f64>, theirs: Option<f64>| Some(mine? / theirs?);
        r.p50_ratio = ratio(r.p50_us, base.p50_us);
        r.p99_ratio = ratio(r.p99_us, base.p99_us);
        r.throughput_ratio = ratio(r.iterations_per_sec, base.iterations_per_sec);
    }
    KernelLatency {
        kernel: run.kernel.clone(),
        release: run.release.clone(),
        accel: run.accel,
        failure: run.failure.clone(),
        rows,
    }
}

/// A row's rounds and their medians.
fn row(run: &KernelRun, spec: &RowSpec, plan: LatencyPlan) -> LatencyRow {
    let mut rounds = Vec::new();
    let mut problems = Vec::new();
    for round in 0..plan.rounds {
        match measurement(run, spec, round) {
            Ok(m) => rounds.push(m),
            Err(e) => problems.push(format!("round {}: {e}", round + 1)),
        }
    }
    let of = |f: fn(&Measurement) -> f64| median(rounds.iter().map(f));
    LatencyRow {
        package: spec.package.clone(),
        scheduler: spec.scheduler.clone(),
        p50_us: of(|m| m.wakeup.latency.p50_us),
        p99_us: of(|m| m.wakeup.latency.p99_us),
        max_us: rounds
            .iter()
            .map(|m| m.wakeup.latency.max_us)
            .reduce(f64::max),
        iterations_per_sec: of(|m| m.background.iterations_per_sec),
        p50_ratio: None,
        p99_ratio: None,
        throughput_ratio: None,
        rounds,
        problems,
    }
}

/// The measurement of `spec` in `round`, if it counts.
fn measurement(run: &KernelRun, spec: &RowSpec, round: u32) -> Result<Measurement, String> {
    let id = spec.id(round);
    let job = run
        .job(&id)
        .filter(|j| j.started)
        .ok_or("the job never started")?;
    let stderr = || job.stderr.join(" | ");
    if !job.succeeded() {
        return Err(format!("exit code {:?}: {}", job.rc, stderr()));
    }
    let m: Measurement = job
        .json
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| format!("no measurement printed: {}", stderr()))?;
    if m.wakeup.latency.count == 0 {
        return Err("no wakeup was measured".to_owned());
    }
    spec.ran(&m)?;
    Ok(m)
}

/// The median (the mean of the middle two of an even count); `None` when empty.
#[must_use]
pub fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some(f64::midpoint(v[n / 2 - 1], v[n / 2])),
    }
}

/// The readable table: one block per kernel.
#[must_use]
pub fn text(r: &LatencyReport) -> String {
    let mut out = format!(
        "wakeup latency under load ({} CPUs: one spinner and one 1 ms sleeper per CPU), \
         medians of {} rounds of {} s; ×: over the kernel's default scheduler in the same boot\n",
        r.cpus, r.plan.rounds, r.plan.duration_secs
    );
    for k in &r.kernels {
        let name = k
            .release
            .clone()
            .unwrap_or_else(|| k.kernel.display().to_string());
        let failed = k
            .failure
            .as_ref()
            .map_or(String::new(), |f| format!(" FAILED: {f}"));
        let _ = writeln!(out, "{name} ({}){failed}", k.accel);
        let _ = writeln!(
            out,
            "  {:32} {:>9} {:>9} {:>9} {:>12} {:>6} {:>6} {:>6}",
            "scheduler", "p50 µs", "p99 µs", "max µs", "iter/s", "p50×", "p99×", "thru×"
        );
        for row in &k.rows {
            let _ = writeln!(out, "{}", row_line(row));
            for p in &row.problems {
                let _ = writeln!(out, "    ! {p}");
            }
        }
    }
    out
}

fn row_line(row: &LatencyRow) -> String {
    let label = match &row.package {
        None => DEFAULT_ROW.to_owned(),
        Some(p) => format!("{p}/{}", row.scheduler),
    };
    let us = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    let x = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
    let rate = row
        .iterations_per_sec
        .map_or_else(|| "-".to_owned(), |v| format!("{v:.3e}"));
    format!(
        "  {label:32} {:>9} {:>9} {:>9} {rate:>12} {:>6} {:>6} {:>6}",
        us(row.p50_us),
        us(row.p99_us),
        us(row.max_us),
        x(row.p50_ratio),
        x(row.p99_ratio),
        x(row.throughput_ratio)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::LatencySummary;
    use crate::vm::JobResult;
    use crate::wakeup::{Background, SchedulerSeen, Wakeups};

    fn fair() -> RowSpec {
        RowSpec {
            package: Some("fair".into()),
            scheduler: "fair".into(),
            payload: Some("fair.scxpkg".into()),
            ops: vec!["scxpack_fair".into()],
            user_half: None,
        }
    }

    fn default_row() -> RowSpec {
        RowSpec {
            package: None,
            scheduler: DEFAULT_ROW.into(),
            payload: None,
            ops: Vec::new(),
            user_half: None,
        }
    }

    fn measured(p50: f64, p99: f64, rate: f64, ops: Option<&str>) -> Measurement {
        let seen = SchedulerSeen {
            state: Some(if ops.is_some() { "enabled" } else { "disabled" }.into()),
            ops: ops.map(str::to_owned),
        };
        Measurement {
            duration_secs: 5.0,
            period_us: 1000,
            wakeup: Wakeups {
                threads: 2,
                latency: LatencySummary {
                    count: 100,
                    p50_us: p50,
                    p99_us: p99,
                    max_us: p99 * 2.0,
                },
            },
            background: Background {
                threads: 2,
                iterations: 10,
                iterations_per_sec: rate,
            },
            scheduler_before: seen.clone(),
            scheduler_after: seen,
        }
    }

    fn job(id: String, m: Option<&Measurement>, rc: i32) -> JobResult {
        JobResult {
            id,
            started: true,
            rc: Some(rc),
            stdout: Vec::new(),
            json: m.map(|m| serde_json::to_value(m).unwrap()),
            stderr: vec!["why".into()],
        }
    }

    fn run(jobs: Vec<JobResult>) -> KernelRun {
        KernelRun {
            kernel: "/k/vmlinuz".into(),
            accel: vm::Accel::Tcg,
            release: Some("6.18".into()),
            sched_ext: Some("disabled".into()),
            booted: true,
            boot_secs: Some(1.0),
            total_secs: 2.0,
            jobs,
            sched_ext_log: Vec::new(),
            failure: None,
            notes: Vec::new(),
            console_log: None,
            console: Vec::new(),
        }
    }

    #[test]
    fn medians_of_odd_even_and_no_rounds() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0].into_iter()), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
    }

    #[test]
    fn rounds_rotate_and_every_row_runs_each_round() {
        let rows = [default_row(), fair()];
        let plan = LatencyPlan {
            rounds: 3,
            duration_secs: 2,
        };
        let ids: Vec<String> = jobs(&rows, plan).into_iter().map(|j| j.id).collect();
        assert_eq!(
            ids,
            [
                "lat0:default",
                "lat0:fair:fair",
                "lat1:fair:fair",
                "lat1:default",
                "lat2:default",
                "lat2:fair:fair"
            ]
        );
        let job = fair().job(0, 2);
        let script = &job.argv[2];
        assert!(
            script.contains("run '/pkg/fair.scxpkg' --scheduler 'fair'"),
            "{script}"
        );
        assert!(script.contains("wakeup-latency --duration 2 --json --await enabled"));
        assert!(default_row().job(0, 2).argv[2].ends_with("--await disabled"));
        let relay = RowSpec {
            user_half: Some("scxpack-relay".into()),
            ..fair()
        };
        let script = &relay.job(0, 2).argv[2];
        assert!(
            script.contains("'/bin/scxpack-relay' '/pkg/fair.scxpkg' --scheduler 'fair'"),
            "{script}"
        );
        assert!(!script.contains(" run "), "{script}");
    }

    #[test]
    fn rows_are_medians_with_ratios_to_the_default() {
        let rows = [default_row(), fair()];
        let plan = LatencyPlan {
            rounds: 3,
            duration_secs: 2,
        };
        let fair_ops = Some("scxpack_fair_1_0");
        let jobs = vec![
            job(rows[0].id(0), Some(&measured(10.0, 100.0, 1e6, None)), 0),
            job(rows[0].id(1), Some(&measured(30.0, 300.0, 3e6, None)), 0),
            job(rows[0].id(2), Some(&measured(20.0, 200.0, 2e6, None)), 0),
            job(rows[1].id(0), Some(&measured(5.0, 50.0, 1e6, fair_ops)), 0),
            // Measured under the default scheduler: does not count.
            job(rows[1].id(1), Some(&measured(1.0, 1.0, 1e9, None)), 0),
            job(rows[1].id(2), None, 1),
        ];
        let k = kernel(&run(jobs), &rows, plan);
        let (d, f) = (&k.rows[0], &k.rows[1]);
        assert_eq!((d.p50_us, d.p99_us), (Some(20.0), Some(200.0)));
        assert_eq!(d.max_us, Some(600.0));
        assert_eq!(d.p99_ratio, Some(1.0));
        assert_eq!(f.rounds.len(), 1);
        assert_eq!(f.p99_ratio, Some(0.25));
        assert_eq!(f.throughput_ratio, Some(0.5));
        assert_eq!(f.problems.len(), 2, "{:?}", f.problems);
        assert!(
            f.problems[0].contains("another scheduler ran"),
            "{:?}",
            f.problems
        );
        assert!(
            f.problems[1].contains("exit code Some(1): why"),
            "{:?}",
            f.problems
        );
        let report = LatencyReport {
            plan,
            cpus: 2,
            kernels: vec![k],
        };
        assert!(!report.passed());
        let table = text(&report);
        assert!(table.contains("fair/fair"), "{table}");
        assert!(
            table.contains("! round 2: another scheduler ran"),
            "{table}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["kernels"][0]["rows"][1]["p99_ratio"], 0.25);
    }

    #[test]
    fn a_missing_job_does_not_count() {
        let rows = [default_row()];
        let plan = LatencyPlan {
            rounds: 1,
            duration_secs: 2,
        };
        let k = kernel(&run(Vec::new()), &rows, plan);
        assert_eq!(k.rows[0].p50_us, None);
        assert!(k.rows[0].problems[0].contains("never started"));
    }
}
