//! Insights on a running cycle: which key results need attention, and how progress moved
//! day by day.

use crate::ids::{KeyResultId, ObjectiveId};
use crate::model::{KeyResult, Objective, ObjectiveState};
use crate::progress::{self, PaceStatus, RollupInput};
use crate::values::{Confidence, MetricValue};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The highest confidence that counts as low: an owner who rates the chance of reaching a
/// key result 3 out of 10 or less signals trouble.
pub const LOW_CONFIDENCE: u8 = 3;

/// The reason a key result needs attention, from the most to the least urgent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttentionReason {
    /// Progress is below 0.4 times the expected progress.
    OffTrack,
    /// Nothing was checked in since the key result was created.
    NoCheckIn,
    /// The newest check-in is older than the organization's cadence.
    Stale,
    /// Progress is below 0.7 times the expected progress.
    AtRisk,
    /// The owner's latest confidence is [`LOW_CONFIDENCE`] or less.
    LowConfidence,
}

/// What decides whether a key result needs attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionFacts {
    pub pace: PaceStatus,
    pub stale: bool,
    pub checked_in: bool,
    pub confidence: Option<Confidence>,
}

/// Lists the reasons a key result needs attention, most urgent first; empty when it
/// needs none.
pub fn attention_reasons(facts: AttentionFacts) -> Vec<AttentionReason> {
    let mut reasons = Vec::new();
    match facts.pace {
        PaceStatus::OffTrack => reasons.push(AttentionReason::OffTrack),
        PaceStatus::AtRisk => reasons.push(AttentionReason::AtRisk),
        PaceStatus::OnTrack => {}
    }
    if !facts.checked_in {
        reasons.push(AttentionReason::NoCheckIn);
    }
    if facts.stale {
        reasons.push(AttentionReason::Stale);
    }
    if facts
        .confidence
        .is_some_and(|confidence| confidence.get() <= LOW_CONFIDENCE)
    {
        reasons.push(AttentionReason::LowConfidence);
    }
    reasons.sort_unstable();
    reasons
}

/// A key result with its check-ins, oldest observation first, for replaying its history.
#[derive(Clone, Debug)]
pub struct KeyResultTrack {
    pub key_result: KeyResult,
    pub observations: Vec<(DateTime<Utc>, MetricValue)>,
}

impl KeyResultTrack {
    /// Returns the current value just before `at`: the value of the check-in with the latest
    /// observed-at time before it, or the start value before the first check-in.
    pub fn value_before(&self, at: DateTime<Utc>) -> MetricValue {
        let count = self
            .observations
            .partition_point(|(observed_at, _)| *observed_at < at);
        match count {
            0 => self.key_result.measure.start(),
            count => self.observations[count - 1].1,
        }
    }

    /// Returns the clamped progress just before `at`.
    pub fn progress_before(&self, at: DateTime<Utc>) -> Decimal {
        progress::clamp_unit(progress::key_result_ratio(
            &self.key_result.measure,
            self.value_before(at),
        ))
    }
}

/// An objective tree as it is now, for replaying its progress at earlier instants with its
/// current structure and weights.
#[derive(Clone, Debug, Default)]
pub struct ProgressTree {
    objectives: HashMap<ObjectiveId, Objective>,
    key_results: HashMap<ObjectiveId, Vec<KeyResultId>>,
    children: HashMap<ObjectiveId, Vec<ObjectiveId>>,
    tracks: HashMap<KeyResultId, KeyResultTrack>,
}

impl ProgressTree {
    /// Builds the tree from objectives, their unarchived key results and those key results'
    /// check-ins.
    pub fn new(objectives: Vec<Objective>, tracks: Vec<KeyResultTrack>) -> Self {
        let mut tree = Self::default();
        for objective in objectives {
            if let Some(parent) = objective.parent_id {
                tree.children.entry(parent).or_default().push(objective.id);
            }
            tree.objectives.insert(objective.id, objective);
        }
        for mut track in tracks {
            track
                .observations
                .sort_by_key(|(observed_at, _)| *observed_at);
            tree.key_results
                .entry(track.key_result.objective_id)
                .or_default()
                .push(track.key_result.id);
            tree.tracks.insert(track.key_result.id, track);
        }
        tree
    }

    /// Returns the key result's track, when the tree has it.
    pub fn track(&self, key_result_id: KeyResultId) -> Option<&KeyResultTrack> {
        self.tracks.get(&key_result_id)
    }

    /// Computes the objective's progress just before `at`, rolled up from its inputs by the same
    /// rule as live progress: drafts and archived children do not count.
    pub fn objective_progress_before(
        &self,
        objective_id: ObjectiveId,
        at: DateTime<Utc>,
    ) -> Decimal {
        self.progress_at_depth(objective_id, at, 0)
    }

    fn progress_at_depth(
        &self,
        objective_id: ObjectiveId,
        at: DateTime<Utc>,
        depth: usize,
    ) -> Decimal {
        let Some(objective) = self.objectives.get(&objective_id) else {
            return Decimal::ZERO;
        };
        if depth > crate::alignment::MAX_DEPTH {
            return objective.progress;
        }
        let mut inputs = Vec::new();
        if objective.progress_source.uses_key_results() {
            for key_result_id in self.key_results.get(&objective_id).into_iter().flatten() {
                if let Some(track) = self.tracks.get(key_result_id) {
                    inputs.push(RollupInput {
                        weight: track.key_result.weight,
                        progress: track.progress_before(at),
                    });
                }
            }
        }
        if objective.progress_source.uses_child_objectives() {
            for child_id in self.children.get(&objective_id).into_iter().flatten() {
                let Some(child) = self.objectives.get(child_id) else {
                    continue;
                };
                if matches!(
                    child.state,
                    ObjectiveState::Draft | ObjectiveState::Archived
                ) {
                    continue;
                }
                inputs.push(RollupInput {
                    weight: child.weight,
                    progress: self.progress_at_depth(*child_id, at, depth + 1),
                });
            }
        }
        progress::weighted_progress(&inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CycleId, OrganizationId};
    use crate::model::{KeyResultType, Measure, ObjectiveKind, ProgressSource, Unit};
    use crate::progress::Milestones;
    use crate::test_support::dec;
    use crate::values::{Title, Weight};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn value(text: &str) -> MetricValue {
        MetricValue::new(dec(text)).unwrap()
    }

    fn objective(
        id: ObjectiveId,
        parent: Option<ObjectiveId>,
        source: ProgressSource,
    ) -> Objective {
        Objective {
            id,
            organization_id: OrganizationId::generate(),
            cycle_id: CycleId::generate(),
            team_id: None,
            owner_id: None,
            parent_id: parent,
            title: Title::parse("Objective").unwrap(),
            description: None,
            kind: ObjectiveKind::Committed,
            state: ObjectiveState::Active,
            progress_source: source,
            weight: Weight::one(),
            progress: Decimal::ZERO,
            milestones: Milestones::default(),
            score: None,
            copied_from: None,
            version: 1,
            created_at: at("2026-01-01T00:00:00Z"),
            updated_at: at("2026-01-01T00:00:00Z"),
        }
    }

    fn track(
        objective_id: ObjectiveId,
        weight: &str,
        start: &str,
        target: &str,
        observations: &[(&str, &str)],
    ) -> KeyResultTrack {
        let measure = Measure::new(
            KeyResultType::IncreaseTo,
            Some(value(start)),
            Some(value(target)),
        )
        .unwrap();
        let key_result = KeyResult {
            id: KeyResultId::generate(),
            organization_id: OrganizationId::generate(),
            objective_id,
            owner_id: None,
            title: Title::parse("Key result").unwrap(),
            description: None,
            measure,
            unit: Unit::Number,
            weight: Weight::new(dec(weight)).unwrap(),
            kpi_id: None,
            current_value: value(start),
            progress_ratio: Decimal::ZERO,
            manual_grade: None,
            grade_note: None,
            score: None,
            current_check_in_id: None,
            current_observed_at: None,
            latest_confidence: None,
            milestones: Milestones::default(),
            external_key: None,
            version: 1,
            created_at: at("2026-01-01T00:00:00Z"),
            updated_at: at("2026-01-01T00:00:00Z"),
            archived_at: None,
        };
        KeyResultTrack {
            key_result,
            observations: observations
                .iter()
                .map(|(when, figure)| (at(when), value(figure)))
                .collect(),
        }
    }

    #[test]
    fn attention_reasons_are_ordered_by_urgency() {
        let facts = AttentionFacts {
            pace: PaceStatus::AtRisk,
            stale: true,
            checked_in: true,
            confidence: Some(Confidence::new(3).unwrap()),
        };
        assert_eq!(
            attention_reasons(facts),
            vec![
                AttentionReason::Stale,
                AttentionReason::AtRisk,
                AttentionReason::LowConfidence
            ]
        );
        let calm = AttentionFacts {
            pace: PaceStatus::OnTrack,
            stale: false,
            checked_in: true,
            confidence: Some(Confidence::new(4).unwrap()),
        };
        assert!(attention_reasons(calm).is_empty());
        let untouched = AttentionFacts {
            pace: PaceStatus::OffTrack,
            stale: false,
            checked_in: false,
            confidence: None,
        };
        assert_eq!(
            attention_reasons(untouched),
            vec![AttentionReason::OffTrack, AttentionReason::NoCheckIn]
        );
    }

    #[test]
    fn history_replays_values_by_observed_time() {
        let parent = ObjectiveId::generate();
        let child = ObjectiveId::generate();
        // Parent: key result A (weight 1) and the child objective (weight 1).
        // Child: key result B (weight 3) and key result C (weight 1).
        // A's check-ins arrive out of order: the backfill of 3 January came last.
        let a = track(
            parent,
            "1",
            "0",
            "10",
            &[("2026-01-05T12:00:00Z", "5"), ("2026-01-03T12:00:00Z", "2")],
        );
        let a_id = a.key_result.id;
        let b = track(child, "3", "100", "200", &[("2026-01-04T00:00:00Z", "150")]);
        let c = track(child, "1", "0", "4", &[("2026-01-02T00:00:00Z", "4")]);
        let tree = ProgressTree::new(
            vec![
                objective(parent, None, ProgressSource::Both),
                objective(child, Some(parent), ProgressSource::KeyResults),
            ],
            vec![a, b, c],
        );
        // Before anything: start values everywhere.
        assert_eq!(
            tree.objective_progress_before(parent, at("2026-01-02T00:00:00Z")),
            dec("0")
        );
        // End of 2 January: C done, so the child is (3 * 0 + 1 * 1) / 4 = 0.25 and the
        // parent (0 + 0.25) / 2 = 0.125.
        assert_eq!(
            tree.objective_progress_before(child, at("2026-01-03T00:00:00Z")),
            dec("0.25")
        );
        assert_eq!(
            tree.objective_progress_before(parent, at("2026-01-03T00:00:00Z")),
            dec("0.125")
        );
        // End of 4 January: A at 2 (0.2), B at 150 (0.5): child (1.5 + 1) / 4 = 0.625,
        // parent (0.2 + 0.625) / 2 = 0.4125.
        assert_eq!(
            tree.objective_progress_before(parent, at("2026-01-05T00:00:00Z")),
            dec("0.4125")
        );
        // End of 5 January: A at 5 (0.5): parent (0.5 + 0.625) / 2 = 0.5625.
        assert_eq!(
            tree.objective_progress_before(parent, at("2026-01-06T00:00:00Z")),
            dec("0.5625")
        );
        let a_track = tree.track(a_id).unwrap();
        assert_eq!(a_track.value_before(at("2026-01-04T00:00:00Z")), value("2"));
        assert_eq!(a_track.value_before(at("2026-01-03T00:00:00Z")), value("0"));
    }
}
