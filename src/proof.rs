//! Proof records: what a VM run (`scxpack vmtest --proof FILE`) saw, kept so
//! that `check` can tell a verdict the kernel itself gave from one it only
//! predicts.
//!
//! A record names the kernel by the sha256 of its BTF (the bytes every
//! verdict is computed from, so two images with the same BTF get the same
//! answer), the scheduler and the object that ran, and the outcome. `pack
//! --proof FILE` embeds records in a package manifest (`proofs`); `check`
//! matches each cell against them ([`Evidence`]). A record never changes a
//! verdict: one that disagrees is reported as [`Evidence::Contradicted`].
//! The format is documented in `docs/proof-records.md`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The `format` of a proof file this build writes and reads.
pub const PROOF_FORMAT: &str = "scxpack-proof/1";

/// One scheduler on one kernel, as a VM saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofRecord {
    /// `uname -r` of the kernel that booted (informative).
    pub kernel_release: Option<String>,
    /// sha256 of the kernel's BTF (`/sys/kernel/btf/vmlinux`, as `check`
    /// reads it from the image): what a cell is matched on.
    pub btf_sha256: String,
    pub package: String,
    pub scheduler: String,
    /// The variant that loaded (`None`: none did).
    pub variant: Option<String>,
    /// sha256 of that variant's object, when one loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_sha256: Option<String>,
    /// Whether a variant loaded and attached.
    pub loads: bool,
    /// Whether it also ran for the whole run and detached cleanly.
    pub ran: bool,
    /// The kernel's or loader's reason when it did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the VM ran, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub date: String,
}

/// A proof file: what `vmtest --proof` writes and `pack --proof` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofFile {
    pub format: String,
    pub records: Vec<ProofRecord>,
}

/// Why a proof file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a proof file ({source}); write one with `scxpack vmtest --proof FILE`")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: proof format {found:?}, this scxpack reads {PROOF_FORMAT:?}")]
    Format { path: PathBuf, found: String },
}

impl ProofFile {
    /// The records as a file.
    #[must_use]
    pub fn new(records: Vec<ProofRecord>) -> Self {
        ProofFile {
            format: PROOF_FORMAT.to_string(),
            records,
        }
    }

    /// Reads and checks a proof file.
    pub fn read(path: &Path) -> Result<Self, ProofError> {
        let bytes = std::fs::read(path).map_err(|source| ProofError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file: ProofFile =
            serde_json::from_slice(&bytes).map_err(|source| ProofError::Json {
                path: path.to_path_buf(),
                source,
            })?;
        if file.format != PROOF_FORMAT {
            return Err(ProofError::Format {
                path: path.to_path_buf(),
                found: file.format,
            });
        }
        Ok(file)
    }
}

/// How a `check` cell is backed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// No proof record for this kernel's BTF: matching's prediction only.
    Predicted,
    /// A VM run on a kernel with this BTF agrees with the prediction.
    Proven { date: String },
    /// A VM run on a kernel with this BTF disagrees; the verdict stays the
    /// prediction, and this says what the kernel did.
    Contradicted {
        date: String,
        loads: bool,
        variant: Option<String>,
        reason: Option<String>,
    },
}

impl Evidence {
    /// The evidence for a cell predicted to load `variant` (`None`: refused)
    /// on the kernel whose BTF hashes to `btf_sha256`, from `records`.
    #[must_use]
    pub fn for_cell(
        records: &[ProofRecord],
        scheduler: &str,
        btf_sha256: &str,
        predicted: Option<&str>,
    ) -> Self {
        let Some(r) = records
            .iter()
            .rev()
            .find(|r| r.scheduler == scheduler && r.btf_sha256 == btf_sha256)
        else {
            return Evidence::Predicted;
        };
        let agrees =
            r.loads == predicted.is_some() && (!r.loads || r.variant.as_deref() == predicted);
        if agrees {
            Evidence::Proven {
                date: r.date.clone(),
            }
        } else {
            Evidence::Contradicted {
                date: r.date.clone(),
                loads: r.loads,
                variant: r.variant.clone(),
                reason: r.reason.clone(),
            }
        }
    }
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Evidence::Predicted => f.write_str("predicted"),
            Evidence::Proven { date } => write!(f, "proven in a VM ({date})"),
            Evidence::Contradicted {
                date,
                loads,
                variant,
                reason,
            } => {
                write!(f, "CONTRADICTED by a VM run ({date}): the kernel ")?;
                match (loads, variant) {
                    (true, Some(v)) => write!(f, "loaded variant {v}"),
                    (true, None) => f.write_str("loaded it"),
                    (false, _) => write!(
                        f,
                        "refused it ({})",
                        reason.as_deref().unwrap_or("no reason recorded")
                    ),
                }
            }
        }
    }
}

/// `secs` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic
/// Gregorian, UTC; Howard Hinnant's `civil_from_days`).
#[must_use]
pub fn utc_date(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(btf: &str, loads: bool, variant: Option<&str>) -> ProofRecord {
        ProofRecord {
            kernel_release: Some("7.2.13+deb14-amd64".into()),
            btf_sha256: btf.into(),
            package: "p".into(),
            scheduler: "s".into(),
            variant: variant.map(Into::into),
            object_sha256: None,
            loads,
            ran: loads,
            reason: (!loads).then(|| "verifier said no".to_string()),
            date: "2026-12-04T13:00:00Z".into(),
        }
    }

    #[test]
    fn a_cell_is_proven_predicted_or_contradicted() {
        let records = [
            record("aa", true, Some("default")),
            record("bb", false, None),
        ];
        assert_eq!(
            Evidence::for_cell(&records, "s", "aa", Some("default")),
            Evidence::Proven {
                date: "2026-12-04T13:00:00Z".into()
            }
        );
        assert_eq!(
            Evidence::for_cell(&records, "s", "cc", Some("default")),
            Evidence::Predicted
        );
        assert_eq!(
            Evidence::for_cell(&records, "other", "aa", Some("default")),
            Evidence::Predicted
        );
        let refused_but_predicted = Evidence::for_cell(&records, "s", "bb", Some("default"));
        assert!(
            refused_but_predicted
                .to_string()
                .contains("CONTRADICTED by a VM run (2026-12-04T13:00:00Z): the kernel refused it (verifier said no)"),
            "{refused_but_predicted}"
        );
        assert!(matches!(
            Evidence::for_cell(&records, "s", "aa", Some("portable")),
            Evidence::Contradicted { loads: true, .. }
        ));
        assert!(matches!(
            Evidence::for_cell(&records, "s", "bb", None),
            Evidence::Proven { .. }
        ));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_date(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_date(1_796_396_400), "2026-12-04T15:00:00Z");
    }
}
