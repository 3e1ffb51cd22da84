//! Renders a [`VmMatrix`]: the per-boot table, JUnit XML, and the pass/fail
//! rule `vmtest`'s exit status follows.

use std::fmt::Write as _;

use super::{VmMatrix, VmResult};
use crate::junit::{self, Case, Verdict};

impl VmMatrix {
    /// True when every kernel booted and every scheduler ran cleanly on
    /// every sched_ext kernel (kernels without sched_ext are not failures).
    #[must_use]
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| !r.sched_ext || r.ok)
            && self.boots.iter().all(|b| b.failure.is_none())
    }
}

/// The readable table: one block per boot, one line per scheduler.
#[must_use]
pub fn text(m: &VmMatrix) -> String {
    let mut out = String::new();
    for b in &m.boots {
        let name = b
            .release
            .clone()
            .unwrap_or_else(|| b.kernel.display().to_string());
        let boot = b
            .boot_secs
            .map_or_else(|| "-".to_string(), |s| format!("{s:.1}s"));
        let failed = b
            .failure
            .as_ref()
            .map_or(String::new(), |f| format!(", FAILED: {f}"));
        let _ = writeln!(
            out,
            "{name}: boot {boot}, total {:.1}s{failed}",
            b.total_secs
        );
        for r in m.results.iter().filter(|r| r.kernel_path == b.kernel) {
            let label = format!("{}/{}", r.package, r.scheduler);
            let _ = writeln!(out, "  {label:30} {}", status(r));
        }
        for l in &b.sched_ext_log {
            let _ = writeln!(out, "  | {l}");
        }
    }
    out
}

fn status(r: &VmResult) -> String {
    match (r.sched_ext, r.ok) {
        (false, _) => "no sched_ext".to_string(),
        (true, true) => format!(
            "ok ({}, {:.1}s)",
            r.variant.as_deref().unwrap_or("?"),
            r.ran_secs.unwrap_or(0.0)
        ),
        (true, false) => format!("FAIL: {}", r.reason.as_deref().unwrap_or("?")),
    }
}

/// JUnit XML: one test case per kernel × scheduler.
#[must_use]
pub fn junit(m: &VmMatrix) -> String {
    let cases: Vec<Case> = m
        .results
        .iter()
        .map(|r| Case {
            class: r.package.clone(),
            name: format!("{} on {}", r.scheduler, r.kernel),
            verdict: if !r.sched_ext {
                Verdict::Skipped {
                    message: "kernel without sched_ext".to_string(),
                }
            } else if r.ok {
                Verdict::Passed { output: None }
            } else {
                Verdict::Failed {
                    message: r.reason.clone().unwrap_or_else(|| "?".to_string()),
                    detail: None,
                }
            },
        })
        .collect();
    junit::suite("scxpack vmtest", &cases)
}
