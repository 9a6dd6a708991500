//! API tokens of integrations, their scopes, and entries of the audit log.

use crate::error::{ErrorCode, ValidationError};
use crate::ids::{ApiTokenId, AuditEntryId, OrganizationId, UserId};
use crate::values::Name;
use chrono::{DateTime, Utc};

/// What an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read every record of the organization.
    Read,
    /// Write objectives, key results, check-ins and comments.
    Write,
    /// Record KPI measurements and check-ins, and nothing else.
    Ingest,
    /// Manage teams, cycles, KPIs, settings, tokens and webhooks.
    Admin,
}

impl Scope {
    pub const ALL: [Self; 4] = [Self::Read, Self::Write, Self::Ingest, Self::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Ingest => "ingest",
            Self::Admin => "admin",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == name)
    }
}

/// A non-empty set of scopes, without duplicates, in a stable order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Result<Self, ValidationError> {
        let mut scopes: Vec<Scope> = scopes.into_iter().collect();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(ValidationError::new(
                "scopes",
                ErrorCode::Blank,
                "must name at least one of read, write, ingest and admin",
            ));
        }
        Ok(Self(scopes))
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// The scopes as stored: names separated by commas.
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn from_text(text: &str) -> Option<Self> {
        let scopes: Option<Vec<Scope>> = text.split(',').map(Scope::from_name).collect();
        Self::new(scopes?).ok()
    }
}

/// An API token as stored: never its secret, which only its holder knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub organization_id: OrganizationId,
    pub name: Name,
    pub scopes: Scopes,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Whether the token authenticates requests at `now`.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}

/// Who made a change: a user, an integration's token, or the server itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditActor {
    User(UserId),
    ApiToken(ApiTokenId),
    System,
}

/// One change, as the audit log keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub organization_id: OrganizationId,
    pub actor: AuditActor,
    /// The mutation that made the change, such as `updateObjective`.
    pub action: String,
    /// The kind of record changed, such as `Objective`.
    pub record_type: String,
    pub record_id: uuid::Uuid,
    /// The changed fields: `{ "field": { "old": …, "new": … } }`.
    pub changes: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip() {
        let scopes = Scopes::new([Scope::Write, Scope::Read, Scope::Read]).unwrap();
        assert_eq!(scopes.to_text(), "read,write");
        assert_eq!(Scopes::from_text("read,write"), Some(scopes));
        assert_eq!(Scopes::from_text("read,fly"), None);
    }

    #[test]
    fn empty_scopes_rejected() {
        assert_eq!(Scopes::new([]).unwrap_err().field, "scopes");
    }
}
