//! `scxpack wakeup-latency`: wakeup latency under a CPU-bound load on every
//! CPU, on the running system; see [`crate::wakeup`].

use std::process::ExitCode;
use std::time::Duration;

use super::output::print_json_line;
use crate::live::System;
use crate::wakeup::{self, Measurement, Settings};

/// What `--await` accepts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AwaitState {
    /// A sched_ext scheduler runs.
    Enabled,
    /// The kernel's own scheduler runs (also: the kernel has no sched_ext).
    Disabled,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seconds to measure.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Wakeup period in µs.
    #[arg(long, default_value_t = 1000)]
    period_us: u64,
    /// Wakeup threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// CPU-bound background threads (default: one per CPU).
    #[arg(long)]
    spinners: Option<usize>,
    /// First wait (up to 30 s) until sched_ext is enabled or disabled.
    #[arg(long = "await", value_name = "STATE")]
    await_state: Option<AwaitState>,
    /// Print one JSON line.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if !(args.duration.is_finite() && args.duration > 0.0 && args.duration < 1e6) {
        anyhow::bail!(
            "--duration {}: give a number of seconds above 0, e.g. 5",
            args.duration
        );
    }
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let settings = Settings {
        duration: Duration::from_secs_f64(args.duration),
        period: Duration::from_micros(args.period_us),
        wakers: args.threads.unwrap_or(cpus),
        spinners: args.spinners.unwrap_or(cpus),
    };
    settings.validate()?;
    let system = System::default();
    if let Some(state) = args.await_state {
        let wanted = match state {
            AwaitState::Enabled => "enabled",
            AwaitState::Disabled => "disabled",
        };
        wakeup::await_state(&system, wanted)?;
    }
    let m = wakeup::measure(&system, &settings)?;
    if args.json {
        print_json_line(&m)?;
    } else {
        print!("{}", text(&m));
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable report.
fn text(m: &Measurement) -> String {
    let l = &m.wakeup.latency;
    let scheduler = match (&m.scheduler_before.state, &m.scheduler_before.ops) {
        (Some(state), Some(ops)) if state == "enabled" => format!("sched_ext {ops}"),
        _ => "the kernel's default".to_owned(),
    };
    format!(
        "scheduler:  {scheduler}\n\
         wakeups:    {} over {:.1} s ({} threads, {} µs period)\n\
         latency:    p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs\n\
         background: {:.3e} iterations/s ({} spinners)\n",
        l.count,
        m.duration_secs,
        m.wakeup.threads,
        m.period_us,
        l.p50_us,
        l.p99_us,
        l.max_us,
        m.background.iterations_per_sec,
        m.background.threads
    )
}
