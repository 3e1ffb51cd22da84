//! `scxpack-relay`: the user half of the shipped hybrid scheduler `relay`.
//! Opens the installed package (or a given `.scxpkg` / object) with the
//! scxpack library, selects the variant for the running kernel with the
//! same matching as `scxpack check`/`run`, loads and attaches it with
//! itself as the user half, makes the scheduling decisions (weighted
//! virtual time, slices computed per round), prints statistics, and on
//! SIGINT/SIGTERM detaches and reports the kernel's exit record.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use scxpack::exit_status::ExitStatus;
use scxpack::relay::{self, PolicyConfig, RelayOptions, RelayReport};

/// Run the relay hybrid scheduler: its BPF half relays runnable tasks to this
/// process, which decides their order and slices.
#[derive(Debug, Parser)]
#[command(name = "scxpack-relay", version)]
struct Args {
    /// The installed scheduler's name, a package (.scxpkg) or its BPF object (.bpf.o).
    #[arg(default_value = "relay")]
    target: String,
    /// Which scheduler of a package with several.
    #[arg(long)]
    scheduler: Option<String>,
    /// Detach after SECS seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Print statistics every SECS seconds (0: never).
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    stats: f64,
    /// Time all runnable tasks of a round share, in µs (each slice is this
    /// divided by their number, scaled by weight).
    #[arg(long, value_name = "US", default_value_t = 20_000)]
    target_latency_us: u64,
    /// The BPF half dispatches kernel-side when this process has not been
    /// heard from for this long (default: the object's, 250 ms).
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// Print a JSON report on stdout when done.
    #[arg(long)]
    json: bool,
    /// Show libbpf's messages and verifier logs.
    #[arg(short, long)]
    verbose: bool,
    /// System of the installation to look the scheduler up in.
    #[arg(long, default_value = "/")]
    root: PathBuf,
}

fn seconds(secs: f64, what: &str) -> anyhow::Result<Option<Duration>> {
    if secs == 0.0 {
        return Ok(None);
    }
    Duration::try_from_secs_f64(secs)
        .map(Some)
        .with_context(|| format!("{what} {secs}: give a number of seconds >= 0"))
}

fn options(args: &Args) -> anyhow::Result<RelayOptions> {
    let defaults = PolicyConfig::default();
    if args.target_latency_us == 0 {
        anyhow::bail!("--target-latency-us 0: give a time in µs > 0 (default 20000)");
    }
    Ok(RelayOptions {
        scheduler: args.scheduler.clone(),
        duration: args
            .duration
            .map(|d| seconds(d, "--duration"))
            .transpose()?
            .flatten(),
        stats_every: seconds(args.stats, "--stats")?,
        timeout_ms: args.timeout_ms,
        policy: PolicyConfig {
            target_latency_ns: args.target_latency_us.saturating_mul(1000),
            ..defaults
        },
        verbose: args.verbose,
    })
}

fn report(r: &RelayReport) {
    let s = &r.stats;
    scxpack::say!(
        "scxpack-relay: {} ran {:.1} s: {} decisions in user space, {} tasks dispatched from \
         user space ({:.1}%), {} kernel-side, rtt mean {:.0} us max {} us; runnable to \
         decision: median {:.0} us, p99 {:.0} us, max {:.0} us",
        r.scheduler,
        r.ran_secs,
        r.decisions,
        s.nr_user_dispatched,
        s.user_share() * 100.0,
        s.nr_kernel_dispatched,
        s.rtt_mean_us(),
        s.rtt_max_ns / 1000,
        r.round_trip.p50_us,
        r.round_trip.p99_us,
        r.round_trip.max_us
    );
    match &r.exit {
        Some(exit) => scxpack::say!(
            "scxpack-relay: {} stopped: {} ({}) exit_code {:#x}: {}",
            r.scheduler,
            exit.kind_name,
            exit.reason,
            exit.exit_code,
            exit.msg
        ),
        None => scxpack::say!("scxpack-relay: {} left no exit record", r.scheduler),
    }
    if !r.detached_cleanly {
        scxpack::say!("scxpack-relay: sched_ext did not return to disabled in time");
    }
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let opts = options(args)?;
    let pkg = scxpack::cli::open_package(&args.target, &args.root)?;
    let result = match relay::run(&pkg, &opts) {
        Ok(r) => r,
        Err(e) => {
            scxpack::say!("scxpack-relay: error: {e}");
            return Ok(e.exit_status().into());
        }
    };
    report(&result);
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    }
    Ok(result.exit_status().into())
}

fn main() -> ExitCode {
    let args = Args::parse();
    run(&args).unwrap_or_else(|e| {
        scxpack::say!("scxpack-relay: error: {e:#}");
        ExitStatus::Error.into()
    })
}
