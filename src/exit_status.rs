//! The exit statuses of `scxpack`, one enum for every command: this is the
//! README's "Exit status" table (a test keeps the two equal).

use std::process::ExitCode;

/// What a `scxpack` command's exit status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "u8", try_from = "u8")]
#[repr(u8)]
pub enum ExitStatus {
    Success = 0,
    Error = 1,
    Usage = 2,
    NotLoadable = 3,
    NoSchedExt = 4,
    Ejected = 5,
    Busy = 6,
    Permission = 7,
}

impl ExitStatus {
    /// Every status, in code order.
    pub const ALL: [ExitStatus; 8] = [
        ExitStatus::Success,
        ExitStatus::Error,
        ExitStatus::Usage,
        ExitStatus::NotLoadable,
        ExitStatus::NoSchedExt,
        ExitStatus::Ejected,
        ExitStatus::Busy,
        ExitStatus::Permission,
    ];

    /// The numeric code.
    #[must_use]
    pub fn code(self) -> u8 {
        self as u8
    }

    /// What it means, as the README's table says it.
    #[must_use]
    pub fn meaning(self) -> &'static str {
        match self {
            ExitStatus::Success => {
                "success (`check`: every sched_ext kernel has a loadable variant of every scheduler; `run`: detached cleanly)"
            }
            ExitStatus::Error => {
                "bad input or an I/O error: one line on stderr naming the file and what is wrong"
            }
            ExitStatus::Usage => "usage error",
            ExitStatus::NotLoadable => {
                "`check`/`vmtest`: some scheduler has no loadable variant on some kernel (or failed in the VM); `run`: no variant loads on this kernel"
            }
            ExitStatus::NoSchedExt => {
                "`run`: the kernel has no sched_ext (`CONFIG_SCHED_CLASS_EXT`)"
            }
            ExitStatus::Ejected => {
                "`run`: the kernel ejected the scheduler (the reason and message it recorded are printed)"
            }
            ExitStatus::Busy => "`run`: another sched_ext scheduler is active (it is named)",
            ExitStatus::Permission => "`run`: not root / missing `CAP_BPF` and `CAP_PERFMON`",
        }
    }
}

impl From<ExitStatus> for u8 {
    fn from(s: ExitStatus) -> u8 {
        s.code()
    }
}

impl TryFrom<u8> for ExitStatus {
    type Error = String;

    fn try_from(code: u8) -> Result<Self, String> {
        ExitStatus::ALL
            .into_iter()
            .find(|s| s.code() == code)
            .ok_or_else(|| format!("{code} is not an scxpack exit status"))
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's "Exit status" table, as (code, meaning) rows.
    fn readme_table() -> Vec<(u8, String)> {
        let readme = include_str!("../README.md");
        let section = readme
            .split("### Exit status")
            .nth(1)
            .expect("README has an Exit status section");
        section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
                let code = cells.first()?.trim().parse().ok()?;
                Some((code, cells.get(1)?.trim().to_string()))
            })
            .collect()
    }

    #[test]
    fn the_enum_is_the_readme_table() {
        let ours: Vec<(u8, String)> = ExitStatus::ALL
            .iter()
            .map(|s| (s.code(), s.meaning().to_string()))
            .collect();
        assert_eq!(readme_table(), ours);
    }

    #[test]
    fn codes_round_trip() {
        for s in ExitStatus::ALL {
            assert_eq!(ExitStatus::try_from(s.code()), Ok(s));
        }
        assert!(ExitStatus::try_from(8).is_err());
    }
}
