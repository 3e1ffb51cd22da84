//! The guest side: jobs to run and the generated `/init` script with its
//! serial-console marker protocol.
//!
//! `/init` is a busybox `sh` script. Everything it reports is a line starting
//! with [`MARKER`] (`@@SCXPACK-`), in this order:
//!
//! ```text
//! @@SCXPACK-BOOT                      first thing /init prints (boot time ends here)
//! @@SCXPACK-RELEASE <uname -r>
//! @@SCXPACK-SCHED_EXT <state>|absent  /sys/kernel/sched_ext/state before any job
//! @@SCXPACK-BEGIN <job-id>            per job, in order:
//! <the job's stdout>                  (one JSON line for `scxpack run --json`)
//! @@SCXPACK-END <job-id> rc=<exit code>
//! @@SCXPACK-STDERR-BEGIN <job-id>
//! <the job's stderr>
//! @@SCXPACK-STDERR-END <job-id>
//! @@SCXPACK-DMESG-BEGIN
//! <dmesg | grep sched_ext>
//! @@SCXPACK-DMESG-END
//! @@SCXPACK-DONE                      then `poweroff -f`
//! ```
//!
//! Kernel console messages are silenced (`dmesg -n 1`) right after the boot
//! marker so they cannot split a framed line; a panic (emergency level) still
//! shows. Job output is buffered in tmpfs and printed after the job exits, so
//! a job's stdout never interleaves with markers. A CPU and wakeup workload
//! (one spinner per CPU, a pipe ping-pong, short sleeps) runs during the jobs so
//! a scheduler has real work; it and any job leftovers are killed
//! (`kill -KILL -1`) before the dmesg dump.

use std::fmt::Write as _;
use std::time::Duration;

use super::error::VmError;
use super::initramfs::{GUEST_BINARY_PATH, PAYLOAD_DIR};

/// The prefix of every protocol line.
pub const MARKER: &str = "@@SCXPACK-";
/// The first line `/init` prints: the guest reached userspace.
pub const BOOT_MARKER: &str = "@@SCXPACK-BOOT";

/// Starts a file's name in a [`GuestJob::copy_out`] job's output.
pub(crate) const FILE_MARK: &str = "file ";

/// One command run inside every guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestJob {
    /// Identifies the job in markers and results: ASCII letters, digits and `._:+-`.
    pub id: String,
    /// The command line; `argv[0]` is looked up in the guest's `PATH` (`/bin`).
    pub argv: Vec<String>,
    /// Kill the job after this long (busybox `timeout -s KILL`); `None`: the
    /// guest's overall timeout is the only limit.
    pub timeout: Option<Duration>,
}

impl GuestJob {
    /// A job running `argv` with no per-job timeout.
    pub fn new<I, S>(id: impl Into<String>, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            id: id.into(),
            argv: argv.into_iter().map(Into::into).collect(),
            timeout: None,
        }
    }

    /// A job that prints every file matching the shell pattern `pattern`
    /// (say `/var/cache/scxpack/kernels/*.cache`): its name, then its bytes
    /// as hex lines; [`crate::vm::JobResult::files`] reads them back. How a
    /// test takes a file out of one boot into the next.
    #[must_use]
    pub fn copy_out(id: impl Into<String>, pattern: &str) -> Self {
        let script = format!(
            "for f in {pattern}; do [ -f \"$f\" ] || continue; \
             echo \"{FILE_MARK}${{f##*/}}\"; xxd -p \"$f\"; done"
        );
        Self::new(id, ["sh".to_owned(), "-c".to_owned(), script])
    }

    /// A job that puts the payload file `name` (one of the files given to
    /// the run, under `/pkg`) into the guest directory `dir`, creating it
    /// with mode 0700 (what a unit's `CacheDirectoryMode=` gives): how a
    /// test puts back a file [`GuestJob::copy_out`] took out of an earlier
    /// boot.
    #[must_use]
    pub fn copy_in(id: impl Into<String>, name: &str, dir: &str) -> Self {
        let script = format!("mkdir -p -m 0700 {dir} && cp {PAYLOAD_DIR}/{name} {dir}/");
        Self::new(id, ["sh".to_owned(), "-c".to_owned(), script])
    }

    /// The loader contract: `/bin/scxpack run /pkg/<payload> [--scheduler S]
    /// --duration SECS --json`, killed 30 s after its duration at the latest.
    #[must_use]
    pub fn scxpack_run(
        id: impl Into<String>,
        payload: &str,
        scheduler: Option<&str>,
        duration_secs: u32,
    ) -> Self {
        let mut argv = vec![
            GUEST_BINARY_PATH.to_owned(),
            "run".to_owned(),
            format!("{PAYLOAD_DIR}/{payload}"),
        ];
        if let Some(s) = scheduler {
            argv.extend(["--scheduler".to_owned(), s.to_owned()]);
        }
        argv.extend([
            "--duration".to_owned(),
            duration_secs.to_string(),
            "--json".to_owned(),
        ]);
        Self {
            id: id.into(),
            argv,
            timeout: Some(Duration::from_secs(u64::from(duration_secs) + 30)),
        }
    }

    /// Sets a per-job timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Checks that the id is marker-safe and the command line is usable in sh.
    pub fn validate(&self) -> Result<(), VmError> {
        let bad = |reason: &str| VmError::Job {
            id: self.id.clone(),
            reason: reason.to_owned(),
        };
        let id_ok = |c: char| c.is_ascii_alphanumeric() || "._:+-".contains(c);
        if self.id.is_empty() || self.id.len() > 128 || !self.id.chars().all(id_ok) {
            return Err(bad(
                "the id must be 1-128 ASCII letters, digits or `._:+-` (it is printed in markers)",
            ));
        }
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return Err(bad("empty command line"));
        }
        if self.argv.iter().any(|a| a.contains('\0')) {
            return Err(bad("an argument contains a NUL byte"));
        }
        if self.timeout.is_some_and(|t| t.as_secs() == 0) {
            return Err(bad("the per-job timeout must be at least 1 s"));
        }
        Ok(())
    }
}

/// Switches of the generated `/init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitOptions {
    /// Run the CPU and wakeup workload during the jobs.
    pub workload: bool,
    /// End with `poweroff -f`; `false` sleeps forever after the last marker
    /// (for testing the host timeout).
    pub poweroff: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            workload: true,
            poweroff: true,
        }
    }
}

const PROLOGUE: &str = r#"#!/bin/sh
# /init generated by scxpack (src/vm/guest.rs): run the jobs, report on the
# serial console with @@SCXPACK- markers, power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
echo "@@SCXPACK-BOOT"
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
/bin/busybox --install -s /bin 2>/dev/null
dmesg -n 1
echo "@@SCXPACK-RELEASE $(uname -r)"
if [ -r /sys/kernel/sched_ext/state ]; then
  echo "@@SCXPACK-SCHED_EXT $(cat /sys/kernel/sched_ext/state)"
else
  echo "@@SCXPACK-SCHED_EXT absent"
fi

# cat, not a `read` loop: a job's JSON line went missing once (PREEMPT_RT
# guest; the job exited 5, so it had written it), and a `read` builtin that a
# signal interrupts ends such a loop early, while busybox's cat retries. The
# echo ends a last line that has no newline, so the next marker stays a line.
scx_print() {
  cat "$1"
  if [ -s "$1" ] && [ -n "$(tail -c 1 "$1")" ]; then echo; fi
}

scx_job() {
  scx_id=$1; shift
  echo "@@SCXPACK-BEGIN $scx_id"
  "$@" </dev/null >/tmp/scx.out 2>/tmp/scx.err
  scx_rc=$?
  scx_print /tmp/scx.out
  echo "@@SCXPACK-END $scx_id rc=$scx_rc"
  echo "@@SCXPACK-STDERR-BEGIN $scx_id"
  scx_print /tmp/scx.err
  echo "@@SCXPACK-STDERR-END $scx_id"
}

scx_workload() {
  for scx_n in $(seq "$(nproc)"); do
    ( while :; do :; done ) &
  done
  ( while :; do echo ping; usleep 500; done | while read -r scx_l; do :; done ) &
  ( while :; do sleep 0.005; done ) &
}
"#;

const EPILOGUE: &str = r#"
kill -KILL -1 2>/dev/null
sleep 0.1
echo "@@SCXPACK-DMESG-BEGIN"
dmesg | grep sched_ext
echo "@@SCXPACK-DMESG-END"
echo "@@SCXPACK-DONE"
"#;

/// Generates the `/init` script running `jobs` in order.
pub fn init_script(jobs: &[GuestJob], options: InitOptions) -> Result<String, VmError> {
    let mut script = String::from(PROLOGUE);
    if options.workload {
        script.push_str("\nscx_workload\n");
    }
    script.push('\n');
    for job in jobs {
        job.validate()?;
        script.push_str(&job_line(job));
    }
    script.push_str(EPILOGUE);
    if options.poweroff {
        script.push_str("sync\npoweroff -f\n");
    } else {
        script.push_str("while :; do sleep 3600; done\n");
    }
    Ok(script)
}

fn job_line(job: &GuestJob) -> String {
    let mut line = format!("scx_job {}", sh_quote(&job.id));
    if let Some(t) = job.timeout {
        let _ = write!(line, " timeout -s KILL {}", t.as_secs().max(1));
    }
    for arg in &job.argv {
        line.push(' ');
        line.push_str(&sh_quote(arg));
    }
    line.push('\n');
    line
}

/// Quotes `s` for POSIX sh: single quotes, with `'` written as `'\''`.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes_and_spaces() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn script_runs_jobs_in_order_and_powers_off() {
        let jobs = [
            GuestJob::new("one", ["cat", "/sys/kernel/sched_ext/state"]),
            GuestJob::scxpack_run("two", "pkg.scxpkg", Some("scx_simple"), 5),
        ];
        let script = init_script(&jobs, InitOptions::default()).unwrap();
        let one = script.find("scx_job 'one' 'cat'").unwrap();
        let two = script
            .find(
                "scx_job 'two' timeout -s KILL 35 '/bin/scxpack' 'run' '/pkg/pkg.scxpkg' \
                 '--scheduler' 'scx_simple' '--duration' '5' '--json'",
            )
            .unwrap();
        assert!(one < two);
        assert!(script.starts_with("#!/bin/sh\n"));
        assert!(script.contains(&format!("echo \"{BOOT_MARKER}\"\n")));
        assert!(script.contains("\nscx_workload\n"));
        assert!(script.trim_end().ends_with("poweroff -f"));
    }

    #[test]
    fn no_poweroff_switch_sleeps_forever() {
        let options = InitOptions {
            workload: false,
            poweroff: false,
        };
        let script = init_script(&[], options).unwrap();
        assert!(!script.contains("poweroff"));
        assert!(!script.contains("\nscx_workload\n"));
        assert!(script.trim_end().ends_with("while :; do sleep 3600; done"));
    }

    #[test]
    fn unsafe_job_ids_are_rejected() {
        for id in ["", "has space", "new\nline", "@@SCXPACK-END"] {
            let job = GuestJob::new(id, ["true"]);
            assert!(job.validate().is_err(), "{id:?} accepted");
        }
        assert!(
            GuestJob::new("ok", Vec::<String>::new())
                .validate()
                .is_err()
        );
    }
}
