//! Parses a guest's serial console into structured results.
//!
//! Pure functions over console lines: the marker protocol is documented in
//! [`super::guest`]. A marker may follow other text on the same line (the
//! firmware does not end its last line), so markers are found anywhere in a
//! line. Unknown markers and text outside the framed sections are ignored;
//! a `Kernel panic - not syncing` line is picked up wherever it appears.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::guest::{GuestJob, MARKER};

/// What one job did in one guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// The job id.
    pub id: String,
    /// The guest reached the job (its begin marker was seen).
    pub started: bool,
    /// The exit code; `None` if the job never finished.
    pub rc: Option<i32>,
    /// The job's stdout lines.
    pub stdout: Vec<String>,
    /// The last stdout line that is a JSON object or array.
    pub json: Option<Value>,
    /// The job's stderr lines.
    pub stderr: Vec<String>,
}

impl JobResult {
    fn pending(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            started: false,
            rc: None,
            stdout: Vec::new(),
            json: None,
            stderr: Vec::new(),
        }
    }

    /// The files a [`super::GuestJob::copy_out`] job printed: name and
    /// bytes, in order. `None` when its output is not that (a line that is
    /// neither a name nor hex, hex before any name).
    #[must_use]
    pub fn files(&self) -> Option<Vec<(String, Vec<u8>)>> {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for line in &self.stdout {
            if let Some(name) = line.strip_prefix(super::guest::FILE_MARK) {
                files.push((name.to_owned(), Vec::new()));
                continue;
            }
            let bytes = &mut files.last_mut()?.1;
            let hex = line.trim().as_bytes();
            if hex.len() % 2 != 0 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            for pair in hex.chunks(2) {
                bytes.push(u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?);
            }
        }
        Some(files)
    }

    /// The job finished with exit code 0.
    #[must_use]
    pub fn succeeded(&self) -> bool {
        self.rc == Some(0)
    }
}

/// Everything the guest reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuestReport {
    /// The boot marker was seen: the kernel ran our `/init`.
    pub boot_seen: bool,
    /// `uname -r` in the guest.
    pub release: Option<String>,
    /// `/sys/kernel/sched_ext/state` before the jobs; `None` when absent.
    pub sched_ext: Option<String>,
    /// One result per requested job, in request order.
    pub jobs: Vec<JobResult>,
    /// `dmesg` lines mentioning `sched_ext`.
    pub dmesg: Vec<String>,
    /// The final marker was seen: every job ran.
    pub done: bool,
    /// The first `Kernel panic - not syncing` line.
    pub panic: Option<String>,
}

#[derive(Clone, Copy)]
enum Section {
    Outside,
    Stdout(usize),
    Stderr(usize),
    Dmesg,
}

const PANIC: &str = "Kernel panic - not syncing";

/// Parses console `lines` for the given `jobs`.
#[must_use]
pub fn parse_console(lines: &[String], jobs: &[GuestJob]) -> GuestReport {
    let mut report = GuestReport {
        jobs: jobs.iter().map(|j| JobResult::pending(&j.id)).collect(),
        ..GuestReport::default()
    };
    let mut section = Section::Outside;
    for line in lines {
        if report.panic.is_none() {
            report.panic = line.find(PANIC).map(|i| line[i..].trim().to_owned());
        }
        match line.find(MARKER) {
            Some(at) => section = on_marker(&mut report, &line[at + MARKER.len()..], section),
            None => on_text(&mut report, line, section),
        }
    }
    for job in &mut report.jobs {
        job.json = last_json(&job.stdout);
    }
    report
}

fn on_text(report: &mut GuestReport, line: &str, section: Section) {
    match section {
        Section::Outside => {}
        Section::Stdout(i) => report.jobs[i].stdout.push(line.to_owned()),
        Section::Stderr(i) => report.jobs[i].stderr.push(line.to_owned()),
        Section::Dmesg => report.dmesg.push(line.to_owned()),
    }
}

/// Applies one marker (the text after the prefix) and returns the new section.
fn on_marker(report: &mut GuestReport, marker: &str, section: Section) -> Section {
    let (keyword, rest) = marker.split_once(' ').unwrap_or((marker, ""));
    let rest = rest.trim();
    match keyword.trim() {
        "BOOT" => report.boot_seen = true,
        "RELEASE" => report.release = Some(rest.to_owned()).filter(|r| !r.is_empty()),
        "SCHED_EXT" => report.sched_ext = Some(rest.to_owned()).filter(|s| s != "absent"),
        "BEGIN" => return job_index(report, rest, false).map_or(Section::Outside, Section::Stdout),
        "END" => {
            let (id, rc) = rest.split_once(" rc=").unwrap_or((rest, ""));
            if let Some(i) = job_index(report, id, true) {
                report.jobs[i].rc = rc.trim().parse().ok();
            }
            return Section::Outside;
        }
        "STDERR-BEGIN" => {
            return job_index(report, rest, true).map_or(Section::Outside, Section::Stderr);
        }
        "DMESG-BEGIN" => return Section::Dmesg,
        "STDERR-END" | "DMESG-END" => return Section::Outside,
        "DONE" => report.done = true,
        _ => {}
    }
    section
}

/// Finds the job `id`: for a begin marker the first one not yet started
/// (marking it started), otherwise the last started one.
fn job_index(report: &mut GuestReport, id: &str, started: bool) -> Option<usize> {
    if started {
        return report.jobs.iter().rposition(|j| j.id == id && j.started);
    }
    let i = report.jobs.iter().position(|j| j.id == id && !j.started)?;
    report.jobs[i].started = true;
    Some(i)
}

fn last_json(stdout: &[String]) -> Option<Value> {
    stdout.iter().rev().find_map(|line| {
        let line = line.trim();
        if !(line.starts_with('{') || line.starts_with('[')) {
            return None;
        }
        serde_json::from_str(line).ok()
    })
}

/// The last `n` non-empty console lines, for failure messages.
#[must_use]
pub fn tail(lines: &[String], n: usize) -> Vec<String> {
    let mut last: Vec<String> = lines
        .iter()
        .rev()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty())
        .take(n)
        .map(str::to_owned)
        .collect();
    last.reverse();
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    /// A copy-out job's output decodes to the files' names and bytes; a
    /// line that is not hex, or bytes before a name, is no output of one.
    #[test]
    fn copied_out_files_decode() {
        let mut job = JobResult::pending("dump");
        job.stdout = lines("file a.cache\n7363\n78700a\nfile empty\nfile b\n00ff\n");
        assert_eq!(
            job.files(),
            Some(vec![
                ("a.cache".to_owned(), b"scxp\n".to_vec()),
                ("empty".to_owned(), Vec::new()),
                ("b".to_owned(), vec![0, 255]),
            ])
        );
        // Only hex digits: `from_str_radix` alone would take a sign (`+f`).
        for bad in ["7363\n", "file a\n7g\n", "file a\n736\n", "file a\n+f\n"] {
            job.stdout = lines(bad);
            assert_eq!(job.files(), None, "{bad:?}");
        }
        job.stdout.clear();
        assert_eq!(job.files(), Some(Vec::new()));
    }

    fn jobs() -> Vec<GuestJob> {
        vec![
            GuestJob::new("state", ["cat", "/sys/kernel/sched_ext/state"]),
            GuestJob::new("load", ["/bin/scxpack", "run"]),
        ]
    }

    const FULL: &str = "SeaBIOS\nBooting from ROM..@@SCXPACK-BOOT\n\
        @@SCXPACK-RELEASE 6.16.3+deb13-amd64\n@@SCXPACK-SCHED_EXT disabled\n\
        @@SCXPACK-BEGIN state\ndisabled\n@@SCXPACK-END state rc=0\n\
        @@SCXPACK-STDERR-BEGIN state\n@@SCXPACK-STDERR-END state\n\
        @@SCXPACK-BEGIN load\nnoise\n{\"loaded\":true,\"scheduler\":\"simple\"}\n\
        @@SCXPACK-END load rc=0\n@@SCXPACK-STDERR-BEGIN load\nlibbpf: hello\n\
        @@SCXPACK-STDERR-END load\n@@SCXPACK-DMESG-BEGIN\n\
        [    3.1] sched_ext: BPF scheduler \"simple\" enabled\n@@SCXPACK-DMESG-END\n\
        @@SCXPACK-DONE\n[    4.0] reboot: Power down\n";

    #[test]
    fn a_complete_run_is_parsed() {
        let report = parse_console(&lines(FULL), &jobs());
        assert!(report.boot_seen && report.done);
        assert_eq!(report.release.as_deref(), Some("6.16.3+deb13-amd64"));
        assert_eq!(report.sched_ext.as_deref(), Some("disabled"));
        assert_eq!(report.jobs[0].stdout, ["disabled"]);
        assert_eq!(report.jobs[0].json, None);
        assert!(report.jobs[0].succeeded());
        let load = &report.jobs[1];
        assert_eq!(load.json.as_ref().unwrap()["scheduler"], "simple");
        assert_eq!(load.stderr, ["libbpf: hello"]);
        assert_eq!(report.dmesg.len(), 1);
        assert_eq!(report.panic, None);
    }

    #[test]
    fn an_interrupted_run_keeps_what_it_saw() {
        let text = "@@SCXPACK-BOOT\n@@SCXPACK-SCHED_EXT absent\n@@SCXPACK-BEGIN state\n\
            [ 1.0] Kernel panic - not syncing: Attempted to kill init!\n";
        let report = parse_console(&lines(text), &jobs());
        assert_eq!(report.sched_ext, None);
        assert!(report.jobs[0].started && report.jobs[0].rc.is_none());
        assert!(!report.jobs[1].started);
        assert!(!report.done);
        assert_eq!(
            report.panic.as_deref(),
            Some("Kernel panic - not syncing: Attempted to kill init!")
        );
    }

    #[test]
    fn nothing_on_the_console_means_no_boot() {
        let report = parse_console(&[], &jobs());
        assert!(!report.boot_seen);
        assert_eq!(report.jobs.len(), 2);
        assert_eq!(tail(&lines("a\n\nb\n  \nc"), 2), ["b", "c"]);
    }
}
