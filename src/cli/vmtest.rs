//! `scxpack vmtest PKG|OBJ... --kernel PATH...`: boot each kernel in QEMU and
//! run every scheduler of every package in it with `scxpack run`; see
//! [`crate::vmtest`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::output::print_json;
use crate::exit_status::ExitStatus;
use crate::package::Package;
use crate::proof::{ProofFile, utc_date};
use crate::vm::{Accel, ForeignGuest, VmConfig};
use crate::vmtest;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    inputs: super::MatrixInputs,
    /// Seconds each scheduler runs under load (with --latency: seconds of each measurement).
    #[arg(long, default_value_t = 4)]
    duration: u32,
    /// Instead of the load test, measure wakeup latency under a CPU-bound load on
    /// every CPU (`scxpack wakeup-latency`) for the kernel's default scheduler and
    /// each scheduler of the packages, in rounds in one boot per kernel; prints
    /// p50/p99/max latency and background throughput, each also over the default's.
    #[arg(long, conflicts_with_all = ["junit", "proof", "shard"])]
    latency: bool,
    /// Rounds of --latency (the table shows each row's median).
    #[arg(long, default_value_t = 3, requires = "latency")]
    rounds: u32,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// QEMU accelerator: auto, kvm or tcg.
    #[arg(long, default_value = "auto")]
    accel: String,
    /// Guests booted in parallel.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Kill a guest after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Keep each guest's console log in DIR.
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
    /// Boot only shard I of N (the kernels at positions I-1, I-1+N, ...);
    /// `scxpack report merge` combines the shards' --json outputs.
    #[arg(long, value_name = "I/N", default_value = "1/1")]
    shard: vmtest::Shard,
    /// Also write the results as proof records to FILE (for `pack --proof`;
    /// docs/proof-records.md).
    #[arg(long, value_name = "FILE")]
    proof: Option<PathBuf>,
    /// The arm64 scxpack put in arm64 guests (packaging/cross-arm64.sh builds it).
    #[arg(long, value_name = "FILE")]
    arm64_scxpack: Option<PathBuf>,
    /// The arm64 busybox of arm64 guests (packaging/cross-arm64.sh unpacks Debian's).
    #[arg(long, value_name = "FILE")]
    arm64_busybox: Option<PathBuf>,
    /// The arm64 root file system the arm64 scxpack's shared libraries are taken from.
    #[arg(long, value_name = "DIR")]
    arm64_sysroot: Option<PathBuf>,
    /// The QEMU of arm64 guests (default: qemu-system-aarch64 in PATH).
    #[arg(long, value_name = "FILE")]
    qemu_aarch64: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (progress, bar) = super::progress::bar("booted", args.json);
    let cfg = VmConfig {
        accel: args.accel.parse::<Accel>()?,
        timeout: Duration::from_secs(args.timeout),
        jobs: args.jobs.max(1),
        log_dir: args.log_dir.clone(),
        progress: progress.clone(),
        arm64: ForeignGuest {
            qemu: args.qemu_aarch64.clone(),
            busybox: args.arm64_busybox.clone(),
            binary: args.arm64_scxpack.clone(),
            sysroot: args.arm64_sysroot.clone(),
        },
        ..VmConfig::default()
    };
    if args.latency {
        return latency(args, &cfg, bar);
    }
    let m = vmtest::matrix_shard(
        &args.inputs.packages,
        &args.inputs.kernels,
        &cfg,
        args.duration,
        &[],
        args.shard,
    );
    super::progress::finish(bar);
    let m = m?;
    if let Some(path) = &args.proof {
        write_proof(&m, &args.inputs.packages, path)?;
    }
    output(&m, args.json, args.junit.as_deref())
}

/// `--latency`: the wakeup-latency table.
fn latency(
    args: &Args,
    cfg: &VmConfig,
    bar: Option<indicatif::ProgressBar>,
) -> anyhow::Result<ExitCode> {
    let plan = vmtest::latency::LatencyPlan {
        rounds: args.rounds,
        duration_secs: args.duration,
    };
    let report = vmtest::latency::latency(&args.inputs.packages, &args.inputs.kernels, cfg, plan);
    super::progress::finish(bar);
    let report = report?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", vmtest::latency::text(&report));
    }
    Ok(if report.passed() {
        ExitStatus::Success
    } else {
        ExitStatus::NotLoadable
    }
    .into())
}

/// Prints a VM matrix (table or JSON), writes its JUnit, and maps it to the
/// exit status: what `vmtest` and `report merge` share.
pub(crate) fn output(
    m: &vmtest::VmMatrix,
    json: bool,
    junit: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    if json {
        print_json(m)?;
    } else {
        print!("{}", vmtest::report::text(m));
    }
    if let Some(path) = junit {
        std::fs::write(path, vmtest::report::junit(m))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if m.passed() {
        ExitStatus::Success
    } else {
        ExitStatus::NotLoadable
    }
    .into())
}

/// Writes the matrix as a proof file dated now.
fn write_proof(m: &vmtest::VmMatrix, packages: &[PathBuf], path: &Path) -> anyhow::Result<()> {
    let packages = packages
        .iter()
        .map(|p| Package::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let file = ProofFile::new(m.proof_records(&packages, &utc_date(now)));
    let json = serde_json::to_string_pretty(&file)? + "\n";
    std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))
}
