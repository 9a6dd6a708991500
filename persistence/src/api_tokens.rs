//! API tokens: random secrets shown once, stored only as a SHA-256 hash.
//!
//! A token reads `hwt_<lookup>_<secret>`. The lookup (16 hex digits) finds the row; the
//! secret (32 random bytes, base64url) is compared with the stored hash in constant time.

use crate::entities::{api_token, audit_entry};
use crate::error::StoreError;
use crate::page::{self, Page, PageRequest, SortKey};
use crate::tx::WriteTx;
use crate::{Actor, Store};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use headway_domain::access::{ApiToken, AuditActor, AuditEntry, Scopes};
use headway_domain::ids::{ApiTokenId, OrganizationId, UserId};
use headway_domain::values::Name;
use headway_domain::{ErrorCode, ValidationError};
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// The prefix that marks Headway API tokens, so that secret scanners recognize them.
pub const TOKEN_PREFIX: &str = "hwt_";

/// How often the last-used time is written, at most; one write per request would double
/// the write load of busy integrations.
const LAST_USED_PRECISION: Duration = Duration::seconds(60);

/// A token to create.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub name: Name,
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn convert(row: api_token::Model) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        name: Name::parse(&row.name)
            .map_err(|_| StoreError::Corrupt("api_tokens.name".to_owned()))?,
        scopes: Scopes::from_text(&row.scopes).ok_or_else(|| {
            StoreError::Corrupt(format!("api_tokens.scopes holds \"{}\"", row.scopes))
        })?,
        created_by: row.created_by.map(Into::into),
        created_at: row.created_at,
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    })
}

/// The outcome of checking a presented API token.
#[derive(Clone, Debug)]
pub enum ApiTokenCheck {
    /// The secret matches a token that authenticates requests now.
    Valid(ApiToken),
    /// No token of an existing organization matches the presented secret.
    Unknown,
    /// The secret matches a token that expired at this time.
    Expired(DateTime<Utc>),
    /// The secret matches a token that was revoked at this time.
    Revoked(DateTime<Utc>),
}

/// Splits a presented token into its lookup and secret.
fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (lookup, secret) = rest.split_once('_')?;
    let valid_lookup = lookup.len() == 16 && lookup.bytes().all(|b| b.is_ascii_hexdigit());
    let valid_secret = (40..=64).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (valid_lookup && valid_secret).then_some((lookup, secret))
}

/// Whether a bearer credential looks like an API token rather than a JWT.
pub fn is_api_token(credential: &str) -> bool {
    credential.starts_with(TOKEN_PREFIX)
}

impl Store {
    /// Creates a token and returns it with its secret, which is not stored and cannot be
    /// shown again.
    pub async fn create_api_token(
        &self,
        actor: Actor,
        input: NewApiToken,
    ) -> Result<(ApiToken, String), StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        if let Some(expires_at) = input.expires_at
            && expires_at <= tx.now
        {
            return Err(ValidationError::new(
                "expiresAt",
                ErrorCode::OutOfRange,
                format!("{} is not in the future", expires_at.to_rfc3339()),
            )
            .into());
        }
        let mut lookup_bytes = [0_u8; 8];
        let mut secret_bytes = [0_u8; 32];
        {
            let mut random = rand::rng();
            random.fill_bytes(&mut lookup_bytes);
            random.fill_bytes(&mut secret_bytes);
        }
        let lookup = hex::encode(lookup_bytes);
        let secret = URL_SAFE_NO_PAD.encode(secret_bytes);
        let row = api_token::ActiveModel {
            id: Set(ApiTokenId::generate().as_uuid()),
            organization_id: Set(actor.organization_id.as_uuid()),
            name: Set(input.name.into_inner()),
            lookup: Set(lookup.clone()),
            secret_hash: Set(secret_hash(&secret)),
            scopes: Set(input.scopes.to_text()),
            created_by: Set(actor.user_id.map(Into::into)),
            created_at: Set(tx.now),
            expires_at: Set(input.expires_at.map(crate::convert::storable_instant)),
            last_used_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(&tx.db)
        .await?;
        let mut audited = row.clone();
        audited.secret_hash = String::new();
        tx.audit_row("createApiToken", "ApiToken", row.id, None, Some(&audited));
        tx.commit(self).await?;
        Ok((convert(row)?, format!("{TOKEN_PREFIX}{lookup}_{secret}")))
    }

    /// Revokes a token; requests with it fail from now on.
    pub async fn revoke_api_token(
        &self,
        actor: Actor,
        token_id: ApiTokenId,
    ) -> Result<ApiToken, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = api_token::Entity::find_by_id(token_id.as_uuid())
            .filter(api_token::Column::OrganizationId.eq(actor.organization_id.as_uuid()))
            .one(&tx.db)
            .await?
            .ok_or_else(|| StoreError::not_found("id", "API token"))?;
        if row.revoked_at.is_some() {
            return Err(ValidationError::new(
                "id",
                ErrorCode::Archived,
                "the token is already revoked",
            )
            .into());
        }
        let before = row.clone();
        let mut update = row.into_active_model();
        update.revoked_at = Set(Some(tx.now));
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "revokeApiToken",
            "ApiToken",
            row.id,
            Some(&before),
            Some(&row),
        );
        tx.commit(self).await?;
        convert(row)
    }

    /// Checks the token that `token` presents at the store's time, and records when a valid
    /// one was last used. Only a presented secret that matches distinguishes expired and
    /// revoked tokens from unknown ones.
    pub async fn authenticate_api_token(&self, token: &str) -> Result<ApiTokenCheck, StoreError> {
        let Some((lookup, secret)) = parse_token(token) else {
            return Ok(ApiTokenCheck::Unknown);
        };
        let Some(row) = api_token::Entity::find()
            .filter(api_token::Column::Lookup.eq(lookup))
            .one(&self.db)
            .await?
        else {
            return Ok(ApiTokenCheck::Unknown);
        };
        let presented = secret_hash(secret);
        if !bool::from(presented.as_bytes().ct_eq(row.secret_hash.as_bytes())) {
            return Ok(ApiTokenCheck::Unknown);
        }
        let now = self.now();
        let token = convert(row.clone())?;
        if self.organization(token.organization_id).await?.is_none() {
            return Ok(ApiTokenCheck::Unknown);
        }
        if let Some(revoked_at) = token.revoked_at {
            return Ok(ApiTokenCheck::Revoked(revoked_at));
        }
        if let Some(expires_at) = token.expires_at
            && !token.is_usable(now)
        {
            return Ok(ApiTokenCheck::Expired(expires_at));
        }
        if row
            .last_used_at
            .is_none_or(|used| now - used >= LAST_USED_PRECISION)
        {
            let mut update = row.into_active_model();
            update.last_used_at = Set(Some(now));
            update.update(&self.db).await?;
        }
        Ok(ApiTokenCheck::Valid(token))
    }

    pub async fn api_tokens_page(
        &self,
        organization_id: OrganizationId,
        include_revoked: bool,
        request: PageRequest,
    ) -> Result<Page<ApiToken>, StoreError> {
        let mut select = api_token::Entity::find()
            .filter(api_token::Column::OrganizationId.eq(organization_id.as_uuid()));
        if !include_revoked {
            select = select.filter(api_token::Column::RevokedAt.is_null());
        }
        page::paginate(
            &self.db,
            select,
            SortKey::Id(api_token::Column::Id),
            request,
        )
        .await?
        .try_map(convert)
    }

    pub async fn count_api_tokens(
        &self,
        organization_id: OrganizationId,
        include_revoked: bool,
    ) -> Result<u64, StoreError> {
        let mut select = api_token::Entity::find()
            .filter(api_token::Column::OrganizationId.eq(organization_id.as_uuid()));
        if !include_revoked {
            select = select.filter(api_token::Column::RevokedAt.is_null());
        }
        page::count(&self.db, select).await
    }

    pub async fn api_tokens_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[ApiTokenId],
    ) -> Result<Vec<ApiToken>, StoreError> {
        let rows = api_token::Entity::find()
            .filter(api_token::Column::OrganizationId.eq(organization_id.as_uuid()))
            .filter(api_token::Column::Id.is_in(ids.iter().map(|id| id.as_uuid())))
            .all(&self.db)
            .await?;
        rows.into_iter().map(convert).collect()
    }

    /// The organization's audit entries, newest first, filtered.
    pub async fn audit_entries_page(
        &self,
        organization_id: OrganizationId,
        filter: &AuditFilter,
        request: PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let select = audit_select(organization_id, filter);
        let key = SortKey::TimeThenId {
            time: audit_entry::Column::OccurredAt,
            id: audit_entry::Column::Id,
            descending: true,
        };
        page::paginate(&self.db, select, key, request)
            .await?
            .try_map(convert_audit)
    }

    pub async fn count_audit_entries(
        &self,
        organization_id: OrganizationId,
        filter: &AuditFilter,
    ) -> Result<u64, StoreError> {
        page::count(&self.db, audit_select(organization_id, filter)).await
    }
}

/// Which audit entries to list.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub user_id: Option<UserId>,
    pub api_token_id: Option<ApiTokenId>,
    pub record_id: Option<Uuid>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

fn audit_select(
    organization_id: OrganizationId,
    filter: &AuditFilter,
) -> sea_orm::Select<audit_entry::Entity> {
    let mut select = audit_entry::Entity::find()
        .filter(audit_entry::Column::OrganizationId.eq(organization_id.as_uuid()));
    if let Some(user_id) = filter.user_id {
        select = select.filter(audit_entry::Column::UserId.eq(user_id.as_uuid()));
    }
    if let Some(token_id) = filter.api_token_id {
        select = select.filter(audit_entry::Column::ApiTokenId.eq(token_id.as_uuid()));
    }
    if let Some(record_id) = filter.record_id {
        select = select.filter(audit_entry::Column::RecordId.eq(record_id));
    }
    if let Some(action) = &filter.action {
        select = select.filter(audit_entry::Column::Action.eq(action.as_str()));
    }
    if let Some(from) = filter.from {
        select = select
            .filter(audit_entry::Column::OccurredAt.gte(crate::convert::storable_instant(from)));
    }
    if let Some(to) = filter.to {
        select =
            select.filter(audit_entry::Column::OccurredAt.lt(crate::convert::storable_instant(to)));
    }
    select
}

fn convert_audit(row: audit_entry::Model) -> Result<AuditEntry, StoreError> {
    let actor = match (row.user_id, row.api_token_id) {
        (Some(user_id), _) => AuditActor::User(user_id.into()),
        (None, Some(token_id)) => AuditActor::ApiToken(token_id.into()),
        (None, None) => AuditActor::System,
    };
    Ok(AuditEntry {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        actor,
        action: row.action,
        record_type: row.record_type,
        record_id: row.record_id,
        changes: serde_json::from_str(&row.changes)
            .map_err(|error| StoreError::Corrupt(format!("audit_entries.changes: {error}")))?,
        occurred_at: row.occurred_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        let secret = URL_SAFE_NO_PAD.encode([7_u8; 32]);
        let token = format!("hwt_0123456789abcdef_{secret}");
        assert_eq!(
            parse_token(&token),
            Some(("0123456789abcdef", secret.as_str()))
        );
        assert_eq!(parse_token("hwt_short_secret"), None);
        assert_eq!(parse_token("eyJhbGciOi.payload.sig"), None);
        assert!(is_api_token(&token));
    }
}
