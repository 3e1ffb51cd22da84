//! libbpf's messages (warnings, verifier logs) routed through us: kept in a
//! buffer so a failed load can be explained in one sentence, and echoed to
//! stderr only with `-v`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use libbpf_rs::PrintLevel;

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
static VERBOSE: AtomicBool = AtomicBool::new(false);

#[allow(
    clippy::needless_pass_by_value,
    reason = "libbpf-rs fixes the callback signature"
)]
fn on_message(level: PrintLevel, msg: String) {
    if VERBOSE.load(Ordering::Relaxed) {
        crate::say!("libbpf: {}", msg.strip_suffix('\n').unwrap_or(&msg));
    }
    if level != PrintLevel::Debug || VERBOSE.load(Ordering::Relaxed) {
        if let Ok(mut log) = LOG.lock() {
            log.extend(msg.lines().map(str::to_string));
        }
    }
}

/// Routes libbpf's output here (debug messages only with `verbose`).
pub(super) fn install(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
    let level = if verbose {
        PrintLevel::Debug
    } else {
        PrintLevel::Info
    };
    libbpf_rs::set_print(Some((level, on_message)));
}

/// Takes every line logged since the last call.
pub(super) fn take() -> Vec<String> {
    LOG.lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default()
}

/// libbpf lines that are not reasons for a failure.
fn benign(line: &str) -> bool {
    line.contains("skipping it as it's set to zero") || line.trim().is_empty()
}

/// The quoted name after `marker` in `line` (`extern (func ksym) 'NAME'`).
fn quoted_after<'l>(line: &'l str, marker: &str) -> Option<&'l str> {
    line.split(marker).nth(1)?.split('\'').nth(1)
}

/// Known libbpf failures, most specific first: (needle, sentence prefix).
const KNOWN: [(&str, &str); 9] = [
    (
        "wasn't resolved",
        "the object calls a kfunc this kernel lacks without a bpf_ksym_exists() guard",
    ),
    (
        "not found in kernel or module BTFs",
        "a kfunc or kernel symbol the object needs does not exist in this kernel",
    ),
    (
        "incompatible with",
        "a kfunc prototype does not match this kernel's BTF",
    ),
    (
        "failed to resolve CO-RE relocation",
        "a CO-RE relocation cannot resolve on this kernel and is not guarded",
    ),
    (
        "failed to open system Kconfig",
        "the object needs the kernel config and none was found",
    ),
    (
        "Cannot find member",
        "the object sets a struct_ops member this kernel lacks",
    ),
    (
        "Device or resource busy",
        "another sched_ext scheduler is already loaded",
    ),
    (
        "Argument list too long",
        "a struct_ops field has a size this kernel does not accept",
    ),
    (
        "Operation not permitted",
        "the kernel refused: missing privileges, or lockdown",
    ),
];

/// One sentence saying why a load failed, from libbpf's log.
#[must_use]
pub fn classify(log: &[String]) -> String {
    let lines: Vec<&str> = log
        .iter()
        .map(String::as_str)
        .filter(|l| !benign(l))
        .collect();
    for (needle, sentence) in KNOWN {
        if let Some(l) = lines.iter().find(|l| l.contains(needle)) {
            return format!("{sentence} ({})", l.trim());
        }
    }
    if let Some(prog) = lines.iter().find_map(|l| quoted_after(l, "prog ")) {
        return format!(
            "the verifier rejected program {prog}: {}",
            verifier_reason(&lines)
        );
    }
    lines.last().map_or_else(
        || "libbpf gave no reason".to_string(),
        |l| l.trim().to_string(),
    )
}

/// The verifier's own last word: the last line of the program load log.
fn verifier_reason(lines: &[&str]) -> String {
    let end = lines
        .iter()
        .position(|l| l.contains("-- END PROG LOAD LOG --"))
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .rev()
        .find(|l| {
            !l.contains("BEGIN PROG LOAD LOG")
                && !l.starts_with("libbpf:")
                && !l.contains("processed ")
        })
        .map_or_else(
            || "see the log with -v".to_string(),
            |l| l.trim().to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::classify;

    fn log(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn zeroed_members_are_not_the_reason() {
        let s = classify(&log(&[
            "libbpf: struct_ops x: member cgroup_set_bandwidth not found in kernel, skipping it as it's set to zero",
            "libbpf: prog 'x_exit': BPF program load failed: Invalid argument",
            "libbpf: prog 'x_exit': -- BEGIN PROG LOAD LOG --",
            "0: R1=ctx() R10=fp0",
            "invalid func unknown#195896080",
            "processed 5 insns",
            "-- END PROG LOAD LOG --",
        ]));
        assert!(s.contains("x_exit") && s.contains("invalid func"), "{s}");
    }

    #[test]
    fn missing_ksym_is_not_a_missing_member() {
        let s = classify(&log(&[
            "libbpf: extern (func ksym) 'scx_bpf_task_set_slice': not found in kernel or module BTFs",
        ]));
        assert!(s.contains("does not exist in this kernel"), "{s}");
    }

    #[test]
    fn names_unresolved_kfuncs() {
        let s = classify(&log(&[
            "libbpf: prog 'x': BPF program load failed",
            "kfunc 'scx_bpf_foo' is referenced but wasn't resolved",
        ]));
        assert!(s.contains("kfunc this kernel lacks"), "{s}");
    }

    #[test]
    fn falls_back_to_the_verifier_line() {
        let s = classify(&log(&[
            "libbpf: prog 'fifo_enqueue': BPF program load failed: Permission denied",
            "R1 invalid mem access 'scalar'",
        ]));
        assert!(
            s.contains("fifo_enqueue") && s.contains("invalid mem access"),
            "{s}"
        );
    }
}
