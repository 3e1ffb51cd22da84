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
        eprint!("libbpf: {msg}");
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

/// One sentence saying why a load failed, from libbpf's log.
#[must_use]
pub fn classify(log: &[String]) -> String {
    let find = |needle: &str| log.iter().find(|l| l.contains(needle));
    if let Some(l) = find("is referenced but wasn't resolved") {
        return format!(
            "the object calls a kfunc this kernel lacks without a bpf_ksym_exists() guard ({})",
            l.trim()
        );
    }
    if let Some(l) = find("func_proto") {
        return format!(
            "a kfunc prototype does not match this kernel's BTF ({})",
            l.trim()
        );
    }
    if let Some(l) = find("failed to open system Kconfig") {
        return format!(
            "the object needs the kernel config and none was found ({})",
            l.trim()
        );
    }
    if let Some(l) = log
        .iter()
        .find(|l| l.contains("Cannot find member") || l.contains("not found in kernel"))
    {
        return format!(
            "the object sets a struct_ops member this kernel lacks ({})",
            l.trim()
        );
    }
    if let Some(l) = find("Device or resource busy") {
        return format!(
            "another sched_ext scheduler is already loaded ({})",
            l.trim()
        );
    }
    if let Some(l) = find("Operation not permitted") {
        return format!(
            "the kernel refused: missing privileges or locked down ({})",
            l.trim()
        );
    }
    if let Some(l) = find("Argument list too long") {
        return format!(
            "a struct_ops field has a size this kernel does not accept ({})",
            l.trim()
        );
    }
    if let Some(prog) = log
        .iter()
        .find_map(|l| l.split("prog '").nth(1).and_then(|r| r.split('\'').next()))
    {
        let last = log
            .iter()
            .rev()
            .find(|l| {
                !l.trim().is_empty()
                    && !l.starts_with("libbpf: prog")
                    && !l.contains("-- END PROG LOAD LOG --")
            })
            .map_or("", |l| l.trim());
        return format!("the verifier rejected program {prog}: {last}");
    }
    log.iter().rev().find(|l| !l.trim().is_empty()).map_or_else(
        || "libbpf gave no reason".to_string(),
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
