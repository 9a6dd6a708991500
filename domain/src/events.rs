//! Events: every change that subscribers and webhooks hear about.
//!
//! Storage writes each event to the outbox with a per-organization sequence number in the
//! same transaction as the change it describes.

use crate::ids::{
    CheckInId, CommentId, CycleId, EventId, KeyResultId, KpiId, KpiMeasurementId, ObjectiveId,
    OrganizationId, TeamId,
};
use crate::kpi::KpiHealth;
use crate::progress::PaceStatus;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The kind of record a [`EventPayload::StateChanged`] or milestone event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordKind {
    Objective,
    KeyResult,
    Cycle,
    Kpi,
    Team,
    CheckIn,
}

/// What happened, with the values before and after where something changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum EventPayload {
    CheckInCreated {
        check_in_id: CheckInId,
        key_result_id: KeyResultId,
        value: Decimal,
        confidence: Option<u8>,
        observed_at: DateTime<Utc>,
        /// Whether the check-in set the current value (false for an older backfill).
        became_current: bool,
    },
    KeyResultProgressChanged {
        key_result_id: KeyResultId,
        old_value: Decimal,
        new_value: Decimal,
        old_progress: Decimal,
        new_progress: Decimal,
        old_status: PaceStatus,
        new_status: PaceStatus,
    },
    ObjectiveProgressChanged {
        objective_id: ObjectiveId,
        old_progress: Decimal,
        new_progress: Decimal,
        old_status: PaceStatus,
        new_status: PaceStatus,
    },
    MilestoneReached {
        record: RecordKind,
        record_id: uuid::Uuid,
        percent: u8,
    },
    CommentCreated {
        comment_id: CommentId,
        record: RecordKind,
        record_id: uuid::Uuid,
    },
    StateChanged {
        record: RecordKind,
        record_id: uuid::Uuid,
        old_state: String,
        new_state: String,
    },
    KpiMeasurementRecorded {
        kpi_id: KpiId,
        measurement_id: KpiMeasurementId,
        value: Decimal,
        observed_at: DateTime<Utc>,
        /// Whether an earlier value for the same observed-at time was replaced.
        replaced: bool,
        health: KpiHealth,
    },
}

/// The broad topic of an event, which subscriptions select on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventTopic {
    /// Progress or pace status of a key result or objective changed.
    Progress,
    /// Check-ins, comments, milestones and state changes.
    Activity,
    /// KPI measurements.
    Kpi,
}

impl EventPayload {
    pub const fn topic(&self) -> EventTopic {
        match self {
            Self::KeyResultProgressChanged { .. } | Self::ObjectiveProgressChanged { .. } => {
                EventTopic::Progress
            }
            Self::CheckInCreated { .. }
            | Self::MilestoneReached { .. }
            | Self::CommentCreated { .. }
            | Self::StateChanged { .. } => EventTopic::Activity,
            Self::KpiMeasurementRecorded { .. } => EventTopic::Kpi,
        }
    }

    /// The SCREAMING_SNAKE_CASE name of the event's type.
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::CheckInCreated { .. } => "CHECK_IN_CREATED",
            Self::KeyResultProgressChanged { .. } => "KEY_RESULT_PROGRESS_CHANGED",
            Self::ObjectiveProgressChanged { .. } => "OBJECTIVE_PROGRESS_CHANGED",
            Self::MilestoneReached { .. } => "MILESTONE_REACHED",
            Self::CommentCreated { .. } => "COMMENT_CREATED",
            Self::StateChanged { .. } => "STATE_CHANGED",
            Self::KpiMeasurementRecorded { .. } => "KPI_MEASUREMENT_RECORDED",
        }
    }
}

/// The records an event belongs to, so that scoped subscriptions can select it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventScope {
    pub team_id: Option<TeamId>,
    pub cycle_id: Option<CycleId>,
    pub objective_id: Option<ObjectiveId>,
    pub key_result_id: Option<KeyResultId>,
    pub kpi_id: Option<KpiId>,
}

/// An event to be written to the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub payload: EventPayload,
    pub scope: EventScope,
}

/// An event as stored: numbered within its organization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: EventId,
    pub organization_id: OrganizationId,
    /// Gap-free, increasing number within the organization, in commit order.
    pub sequence: i64,
    pub payload: EventPayload,
    pub scope: EventScope,
    pub occurred_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_serializes_with_type_tag() {
        let payload = EventPayload::MilestoneReached {
            record: RecordKind::KeyResult,
            record_id: uuid::Uuid::nil(),
            percent: 50,
        };
        let json = serde_json::to_value(&payload).unwrap();
        assert_eq!(json["type"], "MILESTONE_REACHED");
        assert_eq!(json["recordId"], "00000000-0000-0000-0000-000000000000");
        assert_eq!(json["record"], "KEY_RESULT");
        let back: EventPayload = serde_json::from_value(json).unwrap();
        assert_eq!(back, payload);
        assert_eq!(payload.topic(), EventTopic::Activity);
    }
}
