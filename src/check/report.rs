//! Renders a [`Matrix`]: a readable table, Markdown, and JUnit XML.

use std::fmt::Write as _;

use super::{CellResult, Matrix};
use crate::junit::{self, Case, Verdict};
use crate::proof::Evidence;

/// Column label of a cell: `scheduler`, or `package/scheduler` when several
/// packages are checked together.
fn column(c: &CellResult, qualified: bool) -> String {
    if qualified {
        format!("{}/{}", c.package, c.scheduler)
    } else {
        c.scheduler.clone()
    }
}

fn columns(m: &Matrix) -> (Vec<String>, bool) {
    let packages: std::collections::BTreeSet<&str> =
        m.results.iter().map(|c| c.package.as_str()).collect();
    let qualified = packages.len() > 1;
    let mut cols: Vec<String> = Vec::new();
    for c in &m.results {
        let col = column(c, qualified);
        if !cols.contains(&col) {
            cols.push(col);
        }
    }
    (cols, qualified)
}

/// What a cell shows: the chosen variant, `no sched_ext`, or `NONE`; with
/// `evidence`, whether a VM proved it.
fn cell_text(c: &CellResult, evidence: bool) -> String {
    let verdict = match (&c.variant, c.sched_ext) {
        (_, false) => "no sched_ext".to_string(),
        (Some(v), true) if c.shims.is_empty() => v.clone(),
        (Some(v), true) => format!("{v} (shims)"),
        (None, true) => "NONE".to_string(),
    };
    if !evidence {
        return verdict;
    }
    let mark = match c.evidence {
        Evidence::Predicted => "predicted",
        Evidence::Proven { .. } => "proven",
        Evidence::Contradicted { .. } => "CONTRADICTED",
    };
    format!("{verdict} [{mark}]")
}

/// Whether any cell is backed by a proof record (then every cell says
/// whether it is proven or predicted).
fn has_evidence(m: &Matrix) -> bool {
    m.results.iter().any(|c| c.evidence != Evidence::Predicted)
}

/// One line per proven or contradicted cell, or one saying all are predicted.
fn evidence_lines(m: &Matrix, out: &mut String) {
    if !has_evidence(m) {
        out.push_str(
            "\nEvery verdict is predicted: no proof record (vmtest --proof, pack --proof) covers these kernels.\n",
        );
        return;
    }
    out.push('\n');
    for c in m
        .results
        .iter()
        .filter(|c| c.evidence != Evidence::Predicted)
    {
        let _ = writeln!(out, "{} / {}: {}", c.kernel, c.scheduler, c.evidence);
    }
}

fn cell_for<'m>(m: &'m Matrix, kernel: &str, col: &str, qualified: bool) -> Option<&'m CellResult> {
    m.results
        .iter()
        .find(|c| c.kernel == kernel && column(c, qualified) == col)
}

/// The human table plus, below it, why each failing cell failed.
#[must_use]
pub fn text(m: &Matrix, verbose: bool) -> String {
    let (cols, q) = columns(m);
    let ev = has_evidence(m);
    let kw = m
        .kernels
        .iter()
        .map(|k| k.label.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let widths: Vec<usize> = cols
        .iter()
        .map(|col| {
            m.kernels
                .iter()
                .filter_map(|k| cell_for(m, &k.label, col, q))
                .map(|c| cell_text(c, ev).len())
                .chain([col.len()])
                .max()
                .unwrap_or(4)
        })
        .collect();
    let mut out = format!("{:kw$}", "kernel");
    for (col, w) in cols.iter().zip(&widths) {
        let _ = write!(out, "  {col:w$}");
    }
    out.push('\n');
    for k in &m.kernels {
        let _ = write!(out, "{:kw$}", k.label);
        for (col, w) in cols.iter().zip(&widths) {
            let text =
                cell_for(m, &k.label, col, q).map_or_else(|| "?".to_string(), |c| cell_text(c, ev));
            let _ = write!(out, "  {text:w$}");
        }
        out.push('\n');
    }
    details(m, verbose, &mut out);
    evidence_lines(m, &mut out);
    out
}

fn details(m: &Matrix, verbose: bool, out: &mut String) {
    for c in &m.results {
        let show_reasons = c.sched_ext && !c.reasons.is_empty() && (!c.loadable || verbose);
        if show_reasons {
            let what = if c.loadable {
                "skipped variants"
            } else {
                "no variant loads"
            };
            let _ = writeln!(out, "\n{} / {}: {what}", c.kernel, c.scheduler);
            for r in &c.reasons {
                let _ = writeln!(out, "  - {r}");
            }
        }
        if c.loadable && !c.depends.is_empty() {
            chosen_section(out, c, "loads; to run it needs", "~", &c.depends);
        }
        if verbose && c.loadable && !c.shims.is_empty() {
            chosen_section(out, c, "with shims", "+", &c.shims);
        }
        if c.loadable && !c.setup.is_empty() {
            chosen_section(out, c, "setup before load", "=", &c.setup);
        }
    }
}

/// "KERNEL / SCHEDULER: VARIANT WHAT" and one `mark`ed line per item.
fn chosen_section(out: &mut String, c: &CellResult, what: &str, mark: &str, items: &[String]) {
    let _ = writeln!(
        out,
        "\n{} / {}: {} {what}",
        c.kernel,
        c.scheduler,
        c.variant.as_deref().unwrap_or("?")
    );
    for item in items {
        let _ = writeln!(out, "  {mark} {item}");
    }
}

/// A Markdown table for CI summaries.
#[must_use]
pub fn markdown(m: &Matrix) -> String {
    let (cols, q) = columns(m);
    let ev = has_evidence(m);
    let mut out = String::from("| kernel |");
    for col in &cols {
        let _ = write!(out, " {col} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(cols.len()));
    out.push('\n');
    for k in &m.kernels {
        let _ = write!(out, "| {} |", k.label);
        for col in &cols {
            let text =
                cell_for(m, &k.label, col, q).map_or_else(|| "?".to_string(), |c| cell_text(c, ev));
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    let failing: Vec<&CellResult> = m
        .results
        .iter()
        .filter(|c| c.sched_ext && !c.loadable)
        .collect();
    if !failing.is_empty() {
        out.push_str("\n**No loadable variant:**\n\n");
        for c in failing {
            let _ = writeln!(
                out,
                "- {} / {}: {}",
                c.kernel,
                c.scheduler,
                c.reasons.join("; ")
            );
        }
    }
    out
}

/// JUnit XML: one test case per kernel × scheduler.
#[must_use]
pub fn junit(m: &Matrix, require_sched_ext: bool) -> String {
    let cases: Vec<Case> = m
        .results
        .iter()
        .map(|c| Case {
            class: c.package.clone(),
            name: format!("{} on {}", c.scheduler, c.kernel),
            verdict: junit_verdict(c, require_sched_ext),
        })
        .collect();
    junit::suite("scxpack check", &cases)
}

fn junit_verdict(c: &CellResult, require_sched_ext: bool) -> Verdict {
    if c.loadable {
        Verdict::Passed {
            output: Some(format!("variant {}", c.variant.as_deref().unwrap_or("?"))),
        }
    } else if !c.sched_ext && !require_sched_ext {
        Verdict::Skipped {
            message: "kernel without sched_ext".to_string(),
        }
    } else {
        Verdict::Failed {
            message: if c.sched_ext {
                "no loadable variant"
            } else {
                "kernel without sched_ext"
            }
            .to_string(),
            detail: Some(c.reasons.join("\n")),
        }
    }
}
