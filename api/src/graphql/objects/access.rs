use super::load_one;
use super::organization::User;
use crate::graphql::connection::connection;
use crate::graphql::ids::{GlobalId, NodeKind, Typed};
use crate::graphql::scalars::DateTime;
use async_graphql::{Context, Enum, ID, Json, Object};
use headway_domain::access::{self, AuditActor, Scope};

/// What an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum ApiTokenScope {
    /// Read every record of the organization.
    Read,
    /// Write objectives, key results, check-ins and comments (and read).
    Write,
    /// Record KPI measurements and check-ins, and nothing else.
    Ingest,
    /// Manage teams, cycles, KPIs, settings, tokens and webhooks (and read and write).
    Admin,
}

impl From<ApiTokenScope> for Scope {
    fn from(scope: ApiTokenScope) -> Self {
        match scope {
            ApiTokenScope::Read => Self::Read,
            ApiTokenScope::Write => Self::Write,
            ApiTokenScope::Ingest => Self::Ingest,
            ApiTokenScope::Admin => Self::Admin,
        }
    }
}

impl From<Scope> for ApiTokenScope {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::Read => Self::Read,
            Scope::Write => Self::Write,
            Scope::Ingest => Self::Ingest,
            Scope::Admin => Self::Admin,
        }
    }
}

/// A credential of an integration. Its secret is shown once, when it is created.
#[derive(Clone)]
pub struct ApiToken(pub access::ApiToken);

#[Object]
impl ApiToken {
    /// The global id.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    /// What the token is for, such as "CRM sync".
    async fn name(&self) -> &str {
        self.0.name.as_str()
    }

    async fn scopes(&self) -> Vec<ApiTokenScope> {
        self.0.scopes.iter().map(ApiTokenScope::from).collect()
    }

    /// The member who created the token.
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.0.created_by {
            Some(user_id) => Ok(load_one(ctx, user_id).await?.map(User)),
            None => Ok(None),
        }
    }

    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When the token stops working; null when it does not expire.
    async fn expires_at(&self) -> Option<DateTime> {
        self.0.expires_at.map(Into::into)
    }

    /// When the token last authenticated a request, to the minute.
    async fn last_used_at(&self) -> Option<DateTime> {
        self.0.last_used_at.map(Into::into)
    }

    /// When the token was revoked.
    async fn revoked_at(&self) -> Option<DateTime> {
        self.0.revoked_at.map(Into::into)
    }
}

connection!(
    ApiTokenConnection,
    ApiTokenEdge,
    ApiToken,
    "A page of API tokens."
);

/// The kind of record a change was made to, as its global id shows.
fn record_global_id(record_type: &str, record_id: uuid::Uuid) -> ID {
    let kind = match record_type {
        "Organization" => NodeKind::Organization,
        "Membership" => NodeKind::Membership,
        "Team" => NodeKind::Team,
        "Cycle" => NodeKind::Cycle,
        "Objective" => NodeKind::Objective,
        "KeyResult" => NodeKind::KeyResult,
        "CheckIn" => NodeKind::CheckIn,
        "Kpi" => NodeKind::Kpi,
        "Comment" => NodeKind::Comment,
        "ApiToken" => NodeKind::ApiToken,
        "WebhookEndpoint" => NodeKind::WebhookEndpoint,
        "WebhookDelivery" => NodeKind::WebhookDelivery,
        _ => return ID(record_id.simple().to_string()),
    };
    GlobalId::encode(kind, record_id)
}

/// One change in the audit log: who did what to which record, when.
pub struct AuditEntry(pub access::AuditEntry);

#[Object]
impl AuditEntry {
    /// The global id.
    async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    /// The mutation that made the change, such as `updateObjective`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// The type of the changed record, such as `Objective`.
    async fn record_type(&self) -> &str {
        &self.0.record_type
    }

    /// The global id of the changed record.
    async fn record_id(&self) -> ID {
        record_global_id(&self.0.record_type, self.0.record_id)
    }

    /// The changed fields, as `{ "field": { "old": …, "new": … } }`, with the API's field
    /// names (such as `ownerId`) and references as global ids. Entries written before
    /// Headway used API names keep their database column names and raw UUIDs.
    async fn changes(&self) -> Json<serde_json::Value> {
        Json(self.0.changes.clone())
    }

    /// The user who made the change, when a person did.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.0.actor {
            AuditActor::User(user_id) => Ok(load_one(ctx, user_id).await?.map(User)),
            _ => Ok(None),
        }
    }

    /// The global id of the API token that made the change, when an integration did.
    async fn api_token_id(&self) -> Option<ID> {
        match self.0.actor {
            AuditActor::ApiToken(token_id) => Some(token_id.to_global()),
            _ => None,
        }
    }

    async fn occurred_at(&self) -> DateTime {
        self.0.occurred_at.into()
    }
}

connection!(
    AuditEntryConnection,
    AuditEntryEdge,
    AuditEntry,
    "A page of audit entries, newest first."
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::ids::encode_event_id;
    use headway_domain::ids::EventId;
    use headway_persistence::audit::IdKind;

    #[test]
    fn audit_ids_match_global_ids() {
        let uuid = uuid::Uuid::now_v7();
        for kind in IdKind::ALL {
            let expected = GlobalId::encode(kind, uuid).to_string();
            assert_eq!(kind.global_id(uuid), expected, "{kind:?}");
        }
        assert!(encode_event_id(EventId::from_uuid(uuid)).starts_with("evt_"));
    }

    #[test]
    fn webhook_records_get_global_ids() {
        let uuid = uuid::Uuid::now_v7();
        assert!(
            record_global_id("WebhookEndpoint", uuid)
                .as_str()
                .starts_with("whk_")
        );
        assert!(
            record_global_id("WebhookDelivery", uuid)
                .as_str()
                .starts_with("whd_")
        );
    }
}
