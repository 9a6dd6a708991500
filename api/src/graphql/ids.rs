//! Opaque, typed global ids such as `obj_0191f4c2a8e37c2c9f1d6b0e5a4d3c2b`.
//!
//! The prefix names the type and the rest is the record's UUID in hex. An id of another
//! organization decodes fine and then resolves exactly like an id that does not exist.

use async_graphql::ID;
use headway_domain::ids::{
    ApiTokenId, AuditEntryId, CheckInId, CommentId, CycleId, EventId, KeyResultId, KpiId,
    KpiMeasurementId, MembershipId, ObjectiveId, OrganizationId, TeamId, UserId, WebhookDeliveryId,
    WebhookEndpointId,
};
use std::fmt;
use uuid::Uuid;

pub use headway_domain::ids::IdKind as NodeKind;

/// The GraphQL type name of a kind of record.
pub trait TypeName {
    fn type_name(self) -> &'static str;
}

impl TypeName for NodeKind {
    fn type_name(self) -> &'static str {
        match self {
            Self::Organization => "Organization",
            Self::User => "User",
            Self::Membership => "Membership",
            Self::Team => "Team",
            Self::Cycle => "Cycle",
            Self::Objective => "Objective",
            Self::KeyResult => "KeyResult",
            Self::CheckIn => "CheckIn",
            Self::Kpi => "Kpi",
            Self::KpiMeasurement => "KpiMeasurement",
            Self::Comment => "Comment",
            Self::ApiToken => "ApiToken",
            Self::AuditEntry => "AuditEntry",
            Self::WebhookEndpoint => "WebhookEndpoint",
            Self::WebhookDelivery => "WebhookDelivery",
        }
    }
}

/// A decoded global id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalId {
    pub kind: NodeKind,
    pub uuid: Uuid,
}

impl GlobalId {
    pub fn encode(kind: NodeKind, uuid: Uuid) -> ID {
        ID(kind.global_id(uuid))
    }

    /// Decodes an id; `None` when it is not an id of any kind.
    pub fn decode(text: &str) -> Option<Self> {
        let (prefix, hex) = text.split_once('_')?;
        let kind = NodeKind::ALL
            .into_iter()
            .find(|kind| kind.prefix() == prefix)?;
        if hex.len() != 32
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return None;
        }
        let uuid = Uuid::try_parse(hex).ok()?;
        Some(Self { kind, uuid })
    }
}

impl fmt::Display for GlobalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.kind.prefix(), self.uuid.simple())
    }
}

/// A domain id type with a global id kind.
pub trait Typed: Copy + From<Uuid> + Into<Uuid> {
    const KIND: NodeKind;

    fn to_global(self) -> ID {
        GlobalId::encode(Self::KIND, self.into())
    }
}

macro_rules! typed {
    ($($id:ty => $kind:ident),+ $(,)?) => {
        $(impl Typed for $id {
            const KIND: NodeKind = NodeKind::$kind;
        })+
    };
}

typed!(
    OrganizationId => Organization,
    UserId => User,
    MembershipId => Membership,
    TeamId => Team,
    CycleId => Cycle,
    ObjectiveId => Objective,
    KeyResultId => KeyResult,
    CheckInId => CheckIn,
    KpiId => Kpi,
    KpiMeasurementId => KpiMeasurement,
    CommentId => Comment,
    ApiTokenId => ApiToken,
    AuditEntryId => AuditEntry,
    WebhookEndpointId => WebhookEndpoint,
    WebhookDeliveryId => WebhookDelivery,
);

/// The id of an event in webhook bodies and headers: `evt_` and the event's UUID in hex.
/// Events are not nodes; the id names them for deduplication.
pub fn encode_event_id(id: EventId) -> String {
    headway_domain::ids::event_global_id(id)
}

/// Why an id argument was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidId {
    pub message: String,
}

/// Puts "a" or "an" before a type name: "an Objective", "a KeyResult", "a User". Names
/// that start with U are read "you", so they take "a".
fn with_article(type_name: &str) -> String {
    let vowel = type_name
        .chars()
        .next()
        .is_some_and(|first| "AEIO".contains(first));
    format!("{} {type_name}", if vowel { "an" } else { "a" })
}

/// Decodes an id that must be of type `T`.
pub fn decode<T: Typed>(id: &ID) -> Result<T, InvalidId> {
    let shown: String = id.as_str().chars().take(80).collect();
    match GlobalId::decode(id.as_str()) {
        Some(global) if global.kind == T::KIND => Ok(T::from(global.uuid)),
        Some(global) => Err(InvalidId {
            message: format!(
                "\"{shown}\" is the id of {}, not of {}",
                with_article(global.kind.type_name()),
                with_article(T::KIND.type_name())
            ),
        }),
        None => Err(InvalidId {
            message: format!(
                "\"{shown}\" is not a valid {} id; ids look like \"{}_\" followed by 32 hex digits",
                T::KIND.type_name(),
                T::KIND.prefix()
            ),
        }),
    }
}

/// Decodes an optional id argument named `argument`.
pub fn decode_argument<T: Typed>(
    argument: &str,
    id: Option<&ID>,
) -> Result<Option<T>, super::error::ApiError> {
    id.map(|id| decode::<T>(id)).transpose().map_err(|error| {
        super::error::ApiError::bad_input(format!("{argument}: {}", error.message))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = ObjectiveId::generate();
        let global = id.to_global();
        assert!(global.as_str().starts_with("obj_"));
        assert_eq!(decode::<ObjectiveId>(&global).unwrap(), id);
    }

    #[test]
    fn wrong_kind_rejected() {
        let global = KeyResultId::generate().to_global();
        let error = decode::<ObjectiveId>(&global).unwrap_err();
        assert!(error.message.contains("KeyResult"), "{}", error.message);
    }

    #[test]
    fn malformed_rejected() {
        for text in [
            "",
            "obj",
            "obj_",
            "obj_xyz",
            "nope_0123456789abcdef0123456789abcdef",
            "obj_0123456789ABCDEF0123456789ABCDEF",
        ] {
            assert!(
                decode::<ObjectiveId>(&ID(text.to_owned())).is_err(),
                "{text}"
            );
        }
    }
}
