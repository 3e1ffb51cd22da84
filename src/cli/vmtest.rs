//! `scxpack vmtest PKG|OBJ... --kernel PATH...`: boot each kernel in QEMU and
//! run every scheduler of every package in it with `scxpack run`; see
//! [`crate::vmtest`].

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::output::print_json;
use crate::vm::{Accel, VmConfig};
use crate::vmtest::{self, VmMatrix};

/// Exit status when some scheduler failed on some sched_ext kernel.
pub const EXIT_VM_FAILURES: u8 = 3;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    inputs: super::MatrixInputs,
    /// Seconds each scheduler runs under load.
    #[arg(long, default_value_t = 4)]
    duration: u32,
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
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let cfg = VmConfig {
        accel: args.accel.parse::<Accel>()?,
        timeout: Duration::from_secs(args.timeout),
        jobs: args.jobs.max(1),
        log_dir: args.log_dir.clone(),
        ..VmConfig::default()
    };
    let m = vmtest::run(
        &args.inputs.packages,
        &args.inputs.kernels,
        &cfg,
        args.duration,
        &[],
    )?;
    if args.json {
        print_json(&m)?;
    } else {
        print_table(&m);
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&m))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let failed = m.results.iter().any(|r| r.sched_ext && !r.ok)
        || m.boots.iter().any(|b| b.failure.is_some());
    Ok(if failed {
        ExitCode::from(EXIT_VM_FAILURES)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_table(m: &VmMatrix) {
    for b in &m.boots {
        let name = b
            .release
            .clone()
            .unwrap_or_else(|| b.kernel.display().to_string());
        let boot = b
            .boot_secs
            .map_or_else(|| "-".to_string(), |s| format!("{s:.1}s"));
        println!(
            "{name}: boot {boot}, total {:.1}s{}",
            b.total_secs,
            b.failure
                .as_ref()
                .map_or(String::new(), |f| format!(", FAILED: {f}"))
        );
        for r in m.results.iter().filter(|r| r.kernel_path == b.kernel) {
            let status = match (r.sched_ext, r.ok) {
                (false, _) => "no sched_ext".to_string(),
                (true, true) => format!(
                    "ok ({}, {:.1}s)",
                    r.variant.as_deref().unwrap_or("?"),
                    r.ran_secs.unwrap_or(0.0)
                ),
                (true, false) => format!("FAIL: {}", r.reason.as_deref().unwrap_or("?")),
            };
            println!("  {:30} {status}", format!("{}/{}", r.package, r.scheduler));
        }
        for l in &b.sched_ext_log {
            println!("  | {l}");
        }
    }
}

fn junit(m: &VmMatrix) -> String {
    let esc = crate::check::report::xml_escape;
    let failures = m.results.iter().filter(|r| r.sched_ext && !r.ok).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"scxpack vmtest\" tests=\"{}\" failures=\"{failures}\">\n",
        m.results.len()
    );
    for r in &m.results {
        let name = esc(&format!("{} on {}", r.scheduler, r.kernel));
        if !r.sched_ext {
            let _ = writeln!(
                out,
                "  <testcase classname=\"{}\" name=\"{name}\"><skipped message=\"kernel without sched_ext\"/></testcase>",
                esc(&r.package)
            );
        } else if r.ok {
            let _ = writeln!(
                out,
                "  <testcase classname=\"{}\" name=\"{name}\"/>",
                esc(&r.package)
            );
        } else {
            let _ = writeln!(
                out,
                "  <testcase classname=\"{}\" name=\"{name}\"><failure message=\"{}\"/></testcase>",
                esc(&r.package),
                esc(r.reason.as_deref().unwrap_or("?"))
            );
        }
    }
    out.push_str("</testsuite>\n");
    out
}
