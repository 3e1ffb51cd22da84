//! Variant selection: every variant of a scheduler assessed in preference
//! order, the first loadable one chosen, and the others kept with their
//! reasons. `check` reports a [`Selection`]; `run` and the library loader
//! load its [`Selection::attempts`] in order.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Assessment, Reason, Target, VariantPolicy, Verdict, assess};
use crate::object::Requirements;

/// A variant as matching sees it (implemented by the package's variants).
pub trait Candidate {
    /// The variant's name.
    fn name(&self) -> &str;
    /// What its object needs of a kernel.
    fn requirements(&self) -> &Requirements;
    /// What its manifest lets the loader drop.
    fn policy(&self) -> &VariantPolicy;
}

/// One variant's verdict on one kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judged {
    pub variant: String,
    pub verdict: Verdict,
    #[serde(flatten)]
    pub assessment: Assessment,
}

/// Every variant of a scheduler judged against one kernel, in preference order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub judged: Vec<Judged>,
    /// Index into `judged` of the first variant that loads.
    pub chosen: Option<usize>,
}

impl Selection {
    /// The chosen variant, when one loads.
    #[must_use]
    pub fn chosen(&self) -> Option<&Judged> {
        self.chosen.map(|i| &self.judged[i])
    }

    /// The variants refused before the chosen one (every variant when none loads).
    #[must_use]
    pub fn skipped(&self) -> &[Judged] {
        &self.judged[..self.chosen.unwrap_or(self.judged.len())]
    }

    /// The indexes of the variants a loader tries, in order: the loadable
    /// ones, or with `force` every one (so the kernel gives its own verdict).
    #[must_use]
    pub fn attempts(&self, force: bool) -> Vec<usize> {
        (0..self.judged.len())
            .filter(|&i| force || self.judged[i].assessment.loadable())
            .collect()
    }

    /// The variants before `attempt` that are not tried, with their reasons.
    #[must_use]
    pub fn skipped_before(&self, attempt: usize, force: bool) -> Vec<&Judged> {
        self.judged[..attempt.min(self.judged.len())]
            .iter()
            .filter(|j| !force && !j.assessment.loadable())
            .collect()
    }
}

impl Selection {
    /// A selection from assessments made before (in preference order), as
    /// a cache of [`select`]'s results hands them back.
    #[must_use]
    pub fn from_assessments(assessments: Vec<(String, Assessment)>) -> Self {
        let judged: Vec<Judged> = assessments
            .into_iter()
            .map(|(variant, assessment)| Judged {
                variant,
                verdict: assessment.verdict(),
                assessment,
            })
            .collect();
        let chosen = judged.iter().position(|j| j.assessment.loadable());
        Selection { judged, chosen }
    }

    /// The selection once `maps` get their `max_entries` before load (a
    /// manifest's `max_entries` steps, or a library caller's own setup):
    /// refusals for those maps being unsized no longer hold, and a note
    /// names the maps that were lifted.
    #[must_use]
    pub fn with_sized_maps(self, maps: &BTreeSet<&str>) -> Self {
        if maps.is_empty() {
            return self;
        }
        let assessments = self
            .judged
            .into_iter()
            .map(|j| {
                let mut a = j.assessment;
                let mut lifted = Vec::new();
                a.reasons.retain(|r| match r {
                    Reason::MapUnsized { map, .. } if maps.contains(map.as_str()) => {
                        lifted.push(map.clone());
                        false
                    }
                    _ => true,
                });
                if !lifted.is_empty() {
                    a.note(format!(
                        "unsized in the object, sized before load by the setup: {}",
                        lifted.join(", ")
                    ));
                }
                (j.variant, a)
            })
            .collect();
        Selection::from_assessments(assessments)
    }
}

/// Assesses `variants` (in preference order) against `target`.
pub fn select<'c, C: Candidate + 'c>(
    variants: impl IntoIterator<Item = &'c C>,
    target: &Target<'_>,
) -> Selection {
    Selection::from_assessments(
        variants
            .into_iter()
            .map(|v| {
                let assessment = assess(v.requirements(), v.policy(), target);
                (v.name().to_string(), assessment)
            })
            .collect(),
    )
}
