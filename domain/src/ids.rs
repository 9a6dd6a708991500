//! Typed record identifiers.
//!
//! Every id is a UUIDv7, so ids sort by creation time and pages ordered by id are stable.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Creates a new, time-ordered id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

define_id!(
    /// An organization, the tenant that owns every other record.
    OrganizationId
);
define_id!(
    /// A user, who can belong to several organizations.
    UserId
);
define_id!(
    /// A user's membership in one organization.
    MembershipId
);
define_id!(
    /// A team.
    TeamId
);
define_id!(
    /// A cycle (a time box such as a quarter or a year).
    CycleId
);
define_id!(
    /// An objective.
    ObjectiveId
);
define_id!(
    /// A key result.
    KeyResultId
);
define_id!(
    /// A check-in on a key result.
    CheckInId
);
define_id!(
    /// A KPI.
    KpiId
);
define_id!(
    /// One measured value of a KPI.
    KpiMeasurementId
);
define_id!(
    /// A comment.
    CommentId
);
define_id!(
    /// An event in the outbox.
    EventId
);
define_id!(
    /// An API token of an integration.
    ApiTokenId
);
define_id!(
    /// An entry of the audit log.
    AuditEntryId
);
define_id!(
    /// A registered webhook endpoint.
    WebhookEndpointId
);
define_id!(
    /// One delivery of an event to a webhook endpoint.
    WebhookDeliveryId
);

/// The kinds of record that have global ids, such as `obj_0191f4c2a8e37c2c9f1d6b0e5a4d3c2b`:
/// a prefix that names the kind, `_`, and the record's UUID as 32 lower-case hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    Organization,
    User,
    Membership,
    Team,
    Cycle,
    Objective,
    KeyResult,
    CheckIn,
    Kpi,
    KpiMeasurement,
    Comment,
    ApiToken,
    AuditEntry,
    WebhookEndpoint,
    WebhookDelivery,
}

impl IdKind {
    pub const ALL: [Self; 15] = [
        Self::Organization,
        Self::User,
        Self::Membership,
        Self::Team,
        Self::Cycle,
        Self::Objective,
        Self::KeyResult,
        Self::CheckIn,
        Self::Kpi,
        Self::KpiMeasurement,
        Self::Comment,
        Self::ApiToken,
        Self::AuditEntry,
        Self::WebhookEndpoint,
        Self::WebhookDelivery,
    ];

    /// Returns the prefix of the global ids of this kind.
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Organization => "org",
            Self::User => "usr",
            Self::Membership => "mem",
            Self::Team => "team",
            Self::Cycle => "cyc",
            Self::Objective => "obj",
            Self::KeyResult => "kr",
            Self::CheckIn => "chk",
            Self::Kpi => "kpi",
            Self::KpiMeasurement => "kpim",
            Self::Comment => "cmt",
            Self::ApiToken => "tok",
            Self::AuditEntry => "aud",
            Self::WebhookEndpoint => "whk",
            Self::WebhookDelivery => "whd",
        }
    }

    /// Formats the global id of the record `uuid` of this kind.
    pub fn global_id(self, uuid: Uuid) -> String {
        format!("{}_{}", self.prefix(), uuid.simple())
    }
}

/// Formats the id of an event in webhook bodies and audit entries: `evt_` and the UUID.
/// Events are not nodes, so the id only names them, for deduplication.
pub fn event_global_id(id: EventId) -> String {
    format!("evt_{}", id.as_uuid().simple())
}
