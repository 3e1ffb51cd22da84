//! Splitting a VM matrix over machines and putting it back together.
//!
//! `vmtest --shard I/N` boots a deterministic slice of the kernels: those
//! whose position in the expanded kernel list is `I-1` modulo `N` (each
//! kernel is booted once, by one shard, with every package). Each shard's
//! [`VmMatrix`] records its shard and every booted kernel's position, so
//! [`merge`] can check that the shards are one complete run and restore the
//! order an unsharded run has.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::VmMatrix;

/// Shard `index` of `count` (1-based, as GitLab's `CI_NODE_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole run: shard 1 of 1.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// Whether the kernel at `position` (0-based) of the expanded list is ours.
    #[must_use]
    pub fn owns(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("shard {s:?} is not I/N with 1 <= I <= N (e.g. 2/3)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let shard = Shard {
            index: i.trim().parse().map_err(|_| bad())?,
            count: n.trim().parse().map_err(|_| bad())?,
        };
        if shard.index == 0 || shard.index > shard.count {
            return Err(bad());
        }
        Ok(shard)
    }
}

impl TryFrom<String> for Shard {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Shard> for String {
    fn from(s: Shard) -> String {
        s.to_string()
    }
}

/// Why shard results cannot be merged into one run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("no shard results given")]
    Empty,
    #[error("shard {found} does not belong to a run of {count} shards")]
    CountMismatch { found: Shard, count: usize },
    #[error("shard {0} is given twice")]
    Duplicate(Shard),
    #[error("shards {missing} are missing: the merged report would not be a whole run")]
    Missing { missing: String },
    #[error(
        "shard {shard} saw {found} kernels in all, another shard saw {expected}: they ran different inputs"
    )]
    KernelCountMismatch {
        shard: Shard,
        found: usize,
        expected: usize,
    },
}

/// Combines the shards of one run into the matrix an unsharded run gives:
/// every shard exactly once, boots and results in kernel order.
pub fn merge(shards: Vec<VmMatrix>) -> Result<VmMatrix, MergeError> {
    let first = shards.first().ok_or(MergeError::Empty)?;
    let (count, total) = (first.shard.count, first.kernels_total);
    let mut seen = vec![false; count];
    for m in &shards {
        if m.shard.count != count {
            return Err(MergeError::CountMismatch {
                found: m.shard,
                count,
            });
        }
        if m.kernels_total != total {
            return Err(MergeError::KernelCountMismatch {
                shard: m.shard,
                found: m.kernels_total,
                expected: total,
            });
        }
        if std::mem::replace(&mut seen[m.shard.index - 1], true) {
            return Err(MergeError::Duplicate(m.shard));
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| !seen[i - 1])
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing {
            missing: missing.join(", "),
        });
    }
    let mut out = VmMatrix {
        shard: Shard::WHOLE,
        kernels_total: total,
        boots: Vec::new(),
        results: Vec::new(),
        extra: Vec::new(),
    };
    for m in shards {
        out.boots.extend(m.boots);
        out.results.extend(m.results);
        out.extra.extend(m.extra);
    }
    out.boots.sort_by_key(|b| b.position);
    let position = |path: &std::path::Path| {
        out.boots
            .iter()
            .find(|b| b.kernel == path)
            .map_or(usize::MAX, |b| b.position)
    };
    let mut results = std::mem::take(&mut out.results);
    // A stable sort: within a kernel, results keep the package order.
    results.sort_by_key(|r| position(&r.kernel_path));
    out.results = results;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::vmtest::{BootSummary, VmResult};

    fn boot(position: usize) -> BootSummary {
        BootSummary {
            kernel: PathBuf::from(format!("/k/{position}/vmlinuz")),
            position,
            release: Some(format!("{position}.0")),
            booted: true,
            boot_secs: Some(1.0),
            total_secs: 2.0,
            failure: None,
            sched_ext: true,
            sched_ext_log: Vec::new(),
        }
    }

    fn result(position: usize, scheduler: &str) -> VmResult {
        VmResult {
            kernel: format!("{position}.0"),
            kernel_path: PathBuf::from(format!("/k/{position}/vmlinuz")),
            package: "p".into(),
            scheduler: scheduler.into(),
            variant: Some("v".into()),
            sched_ext: true,
            loaded: true,
            ok: true,
            reason: None,
            ran_secs: Some(1.0),
            detached_cleanly: Some(true),
            exit_code: Some(0),
            report: None,
            btf_sha256: None,
        }
    }

    /// The shard of 5 kernels × 2 schedulers that `shard` owns.
    fn shard_of(shard: Shard) -> VmMatrix {
        let positions: Vec<usize> = (0..5).filter(|&p| shard.owns(p)).collect();
        VmMatrix {
            shard,
            kernels_total: 5,
            boots: positions.iter().map(|&p| boot(p)).collect(),
            results: positions
                .iter()
                .flat_map(|&p| [result(p, "a"), result(p, "b")])
                .collect(),
            extra: Vec::new(),
        }
    }

    #[test]
    fn parses_and_owns_round_robin() {
        let s: Shard = "2/3".parse().unwrap();
        assert_eq!(s, Shard { index: 2, count: 3 });
        assert_eq!((0..7).filter(|&p| s.owns(p)).collect::<Vec<_>>(), [1, 4]);
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn merged_shards_equal_the_whole_run_in_any_order() {
        let whole = shard_of(Shard::WHOLE);
        let shards: Vec<VmMatrix> = [3, 1, 2]
            .into_iter()
            .map(|i| shard_of(Shard { index: i, count: 3 }))
            .collect();
        let merged = merge(shards).unwrap();
        let key = |m: &VmMatrix| {
            m.results
                .iter()
                .map(|r| (r.kernel_path.clone(), r.scheduler.clone(), r.ok))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&merged), key(&whole));
        assert_eq!(
            merged.boots.iter().map(|b| b.position).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn refuses_an_incomplete_or_mixed_set() {
        let two = |i| shard_of(Shard { index: i, count: 3 });
        assert_eq!(
            merge(vec![two(1), two(3)]).unwrap_err(),
            MergeError::Missing {
                missing: "2/3".into()
            }
        );
        assert!(matches!(
            merge(vec![two(1), two(1), two(2)]),
            Err(MergeError::Duplicate(_))
        ));
        let mut other = two(2);
        other.shard.count = 4;
        assert!(matches!(
            merge(vec![two(1), other]),
            Err(MergeError::CountMismatch { .. })
        ));
        assert_eq!(merge(Vec::new()).unwrap_err(), MergeError::Empty);
    }
}
