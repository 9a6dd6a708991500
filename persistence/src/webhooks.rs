//! Webhook endpoints, the queue of their deliveries, and the log of each attempt.
//!
//! Deliveries come from the outbox: each endpoint keeps a cursor, the organization's event
//! sequence up to which its deliveries are queued. Queueing moves the cursor with a
//! compare-and-set in the same transaction as the inserted deliveries, so that two replicas
//! never queue an event twice. One replica at a time sends an endpoint's deliveries, in
//! sequence order, under a lease on the endpoint's row.

use crate::entities::{organization, webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::error::{StoreError, check_version};
use crate::page::{self, Page, PageRequest, SortKey};
use crate::scoped::{self, OrganizationScoped};
use crate::tx::WriteTx;
use crate::{Actor, Store};
use chrono::{DateTime, Utc};
use headway_domain::ids::{EventId, OrganizationId, WebhookDeliveryId, WebhookEndpointId};
use headway_domain::values::Description;
use headway_domain::webhooks::{
    DeliveryKind, DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint,
    WebhookEventType, WebhookSecret, WebhookUrl,
};
use headway_domain::{ErrorCode, ValidationError};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// The reason recorded when an admin disables an endpoint.
pub const DISABLED_BY_ADMIN: &str = "DISABLED_BY_ADMIN";
/// The endpoint failed too many attempts in a row.
pub const TOO_MANY_FAILURES: &str = "TOO_MANY_FAILURES";

/// How long the secret that an endpoint had before a change keeps signing deliveries
/// beside the new one, in hours, so that receivers can switch without rejecting any.
pub const SECRET_OVERLAP_HOURS: i64 = 24;

/// An endpoint to register.
#[derive(Clone, Debug)]
pub struct NewWebhookEndpoint {
    pub url: WebhookUrl,
    pub description: Option<Description>,
    pub secret: WebhookSecret,
    pub event_types: Vec<WebhookEventType>,
    pub enabled: bool,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct WebhookEndpointChanges {
    pub url: Option<WebhookUrl>,
    pub description: Option<Option<Description>>,
    pub secret: Option<WebhookSecret>,
    pub event_types: Option<Vec<WebhookEventType>>,
    pub enabled: Option<bool>,
    pub expected_version: Option<i32>,
}

/// An endpoint with events to queue: its cursor is behind its organization's sequence.
#[derive(Clone, Debug)]
pub struct QueueWork {
    pub endpoint_id: WebhookEndpointId,
    pub organization_id: OrganizationId,
    pub cursor: i64,
    /// The organization's latest event sequence.
    pub latest: i64,
    pub event_types: Vec<WebhookEventType>,
}

/// A delivery to queue for an event.
#[derive(Clone, Debug)]
pub struct QueuedEvent {
    pub event_id: EventId,
    pub event_type: String,
    pub sequence: i64,
    pub body: String,
}

/// An endpoint that this replica holds the lease of, with what signing needs.
#[derive(Clone)]
pub struct ClaimedEndpoint {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
    /// The secret before the latest change, while it still signs beside `secret`.
    pub previous_secret: Option<String>,
}

impl ClaimedEndpoint {
    /// Takes the secrets that sign at `now`: the current one, and the previous one until it
    /// expires.
    fn signing_at(row: webhook_endpoint::Model, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let previous_secret = match (row.previous_secret.clone(), row.previous_secret_expires_at) {
            (Some(previous), Some(expires_at)) if expires_at > now => Some(previous),
            _ => None,
        };
        let secret = row.secret.clone();
        Ok(Self {
            endpoint: endpoint(row)?,
            secret,
            previous_secret,
        })
    }
}

/// One finished HTTP request of a delivery.
#[derive(Clone, Debug)]
pub struct AttemptRecord {
    pub started_at: DateTime<Utc>,
    pub duration_ms: u32,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// The next state of a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    /// Failed; tried again at the given time.
    RetryAt(DateTime<Utc>),
    /// Failed for good.
    Failed,
}

/// The effect of recording an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptRecorded {
    /// The endpoint was disabled because it failed too many attempts in a row.
    pub endpoint_disabled: bool,
}

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{column} contains the invalid value \"{value}\""))
}

fn event_types_text(types: &[WebhookEventType]) -> String {
    let names: Vec<&str> = types.iter().map(|kind| kind.as_str()).collect();
    serde_json::Value::from(names).to_string()
}

fn parse_event_types(text: &str) -> Result<Vec<WebhookEventType>, StoreError> {
    let names: Vec<String> =
        serde_json::from_str(text).map_err(|_| corrupt("webhook_endpoints.event_types", text))?;
    names
        .iter()
        .map(|name| {
            WebhookEventType::from_name(name)
                .ok_or_else(|| corrupt("webhook_endpoints.event_types", name))
        })
        .collect()
}

fn endpoint(row: webhook_endpoint::Model) -> Result<WebhookEndpoint, StoreError> {
    Ok(WebhookEndpoint {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        url: WebhookUrl::parse(&row.url).map_err(|_| corrupt("webhook_endpoints.url", &row.url))?,
        description: row.description,
        event_types: parse_event_types(&row.event_types)?,
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        disabled_at: row.disabled_at,
        consecutive_failures: u32::try_from(row.consecutive_failures).unwrap_or_default(),
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        archived_at: row.archived_at,
    })
}

fn delivery(row: webhook_delivery::Model) -> Result<WebhookDelivery, StoreError> {
    Ok(WebhookDelivery {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        endpoint_id: row.endpoint_id.into(),
        kind: DeliveryKind::from_name(&row.kind)
            .ok_or_else(|| corrupt("webhook_deliveries.kind", &row.kind))?,
        event_id: row.event_id.into(),
        event_type: row.event_type,
        sequence: row.sequence,
        body: row.body,
        status: DeliveryStatus::from_name(&row.status)
            .ok_or_else(|| corrupt("webhook_deliveries.status", &row.status))?,
        attempts: u32::try_from(row.attempts).unwrap_or_default(),
        next_attempt_at: row.next_attempt_at,
        last_attempt_at: row.last_attempt_at,
        response_status: row
            .response_status
            .and_then(|status| u16::try_from(status).ok()),
        last_error: row.last_error,
        redelivery_of: row.redelivery_of.map(Into::into),
        created_at: row.created_at,
        completed_at: row.completed_at,
    })
}

fn attempt(row: webhook_attempt::Model) -> WebhookAttempt {
    WebhookAttempt {
        number: u32::try_from(row.number).unwrap_or_default(),
        started_at: row.started_at,
        duration_ms: u32::try_from(row.duration_ms).unwrap_or_default(),
        response_status: row
            .response_status
            .and_then(|status| u16::try_from(status).ok()),
        response_body: row.response_body,
        error: row.error,
    }
}

async fn live_endpoint(
    tx: &WriteTx,
    endpoint_id: WebhookEndpointId,
) -> Result<webhook_endpoint::Model, StoreError> {
    let row = scoped::find_one::<webhook_endpoint::Entity, _>(
        &tx.db,
        tx.organization_id(),
        endpoint_id.as_uuid(),
    )
    .await?
    .filter(|row| row.archived_at.is_none())
    .ok_or_else(|| StoreError::not_found("id", "webhook endpoint"))?;
    Ok(row)
}

impl Store {
    /// Registers an endpoint. It receives the events committed from now on.
    pub async fn create_webhook_endpoint(
        &self,
        actor: Actor,
        input: NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let cursor = organization::Entity::find_by_id(actor.organization_id.as_uuid())
            .one(&tx.db)
            .await?
            .map_or(0, |row| row.event_sequence);
        let row = webhook_endpoint::ActiveModel {
            id: Set(WebhookEndpointId::generate().as_uuid()),
            organization_id: Set(actor.organization_id.as_uuid()),
            url: Set(input.url.as_str().to_owned()),
            description: Set(input.description.map(Description::into_inner)),
            secret: Set(input.secret.as_str().to_owned()),
            previous_secret: Set(None),
            previous_secret_expires_at: Set(None),
            event_types: Set(event_types_text(&input.event_types)),
            enabled: Set(input.enabled),
            disabled_reason: Set((!input.enabled).then(|| DISABLED_BY_ADMIN.to_owned())),
            disabled_at: Set((!input.enabled).then_some(tx.now)),
            consecutive_failures: Set(0),
            cursor: Set(cursor),
            lease_owner: Set(None),
            lease_until: Set(None),
            version: Set(1),
            created_by: Set(actor.user_id.map(Into::into)),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            archived_at: Set(None),
        }
        .insert(&tx.db)
        .await?;
        tx.audit_row(
            "createWebhookEndpoint",
            "WebhookEndpoint",
            row.id,
            None,
            Some(&row),
        );
        tx.commit(self).await?;
        endpoint(row)
    }

    /// Changes an endpoint. Enabling it again clears its failure count, and it receives
    /// the events it missed that are still in the outbox. A new secret signs at once, and
    /// the replaced one also signs for [`SECRET_OVERLAP_HOURS`].
    pub async fn update_webhook_endpoint(
        &self,
        actor: Actor,
        endpoint_id: WebhookEndpointId,
        changes: WebhookEndpointChanges,
    ) -> Result<WebhookEndpoint, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let before = live_endpoint(&tx, endpoint_id).await?;
        check_version(changes.expected_version, before.version)?;
        let mut update = before.clone().into_active_model();
        if let Some(url) = changes.url {
            update.url = Set(url.as_str().to_owned());
        }
        if let Some(description) = changes.description {
            update.description = Set(description.map(Description::into_inner));
        }
        let secret_changed = changes
            .secret
            .as_ref()
            .is_some_and(|secret| secret.as_str() != before.secret);
        if let Some(secret) = changes.secret.filter(|_| secret_changed) {
            update.secret = Set(secret.as_str().to_owned());
            update.previous_secret = Set(Some(before.secret.clone()));
            update.previous_secret_expires_at =
                Set(Some(tx.now + chrono::Duration::hours(SECRET_OVERLAP_HOURS)));
        }
        if let Some(types) = changes.event_types {
            update.event_types = Set(event_types_text(&types));
        }
        match changes.enabled {
            Some(true) if !before.enabled => {
                update.enabled = Set(true);
                update.disabled_reason = Set(None);
                update.disabled_at = Set(None);
                update.consecutive_failures = Set(0);
            }
            Some(false) if before.enabled => {
                update.enabled = Set(false);
                update.disabled_reason = Set(Some(DISABLED_BY_ADMIN.to_owned()));
                update.disabled_at = Set(Some(tx.now));
            }
            _ => {}
        }
        update.version = Set(before.version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        let mut changes = crate::tx::changed_fields(Some(&before), Some(&row));
        if secret_changed && let Some(fields) = changes.as_object_mut() {
            fields.insert("secret".to_owned(), serde_json::json!("changed"));
        }
        tx.audit("updateWebhookEndpoint", "WebhookEndpoint", row.id, changes);
        tx.commit(self).await?;
        endpoint(row)
    }

    /// Deletes an endpoint: it receives nothing more and leaves every list, while its
    /// delivery log stays readable through its id.
    pub async fn delete_webhook_endpoint(
        &self,
        actor: Actor,
        endpoint_id: WebhookEndpointId,
        expected_version: Option<i32>,
    ) -> Result<WebhookEndpoint, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let before = live_endpoint(&tx, endpoint_id).await?;
        check_version(expected_version, before.version)?;
        let mut update = before.clone().into_active_model();
        update.enabled = Set(false);
        update.archived_at = Set(Some(tx.now));
        update.version = Set(before.version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "deleteWebhookEndpoint",
            "WebhookEndpoint",
            row.id,
            Some(&before),
            Some(&row),
        );
        tx.commit(self).await?;
        endpoint(row)
    }

    /// An endpoint that is not deleted, with its secret, for sending a test.
    pub async fn webhook_endpoint_for_test(
        &self,
        organization_id: OrganizationId,
        endpoint_id: WebhookEndpointId,
    ) -> Result<ClaimedEndpoint, StoreError> {
        let row = scoped::find_one::<webhook_endpoint::Entity, _>(
            &self.db,
            organization_id,
            endpoint_id.as_uuid(),
        )
        .await?
        .filter(|row| row.archived_at.is_none())
        .ok_or_else(|| StoreError::not_found("id", "webhook endpoint"))?;
        ClaimedEndpoint::signing_at(row, self.now())
    }

    /// Logs a test delivery that was already sent, with its one attempt.
    pub async fn record_test_delivery(
        &self,
        actor: Actor,
        endpoint_id: WebhookEndpointId,
        delivery_id: WebhookDeliveryId,
        event: QueuedEvent,
        record: AttemptRecord,
        delivered: bool,
    ) -> Result<WebhookDelivery, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = live_endpoint(&tx, endpoint_id).await?;
        let delivery_id = delivery_id.as_uuid();
        let status = if delivered {
            DeliveryStatus::Succeeded
        } else {
            DeliveryStatus::Failed
        };
        let inserted = webhook_delivery::ActiveModel {
            id: Set(delivery_id),
            organization_id: Set(actor.organization_id.as_uuid()),
            endpoint_id: Set(row.id),
            kind: Set(DeliveryKind::Test.as_str().to_owned()),
            event_id: Set(event.event_id.as_uuid()),
            event_type: Set(event.event_type),
            sequence: Set(event.sequence),
            body: Set(event.body),
            status: Set(status.as_str().to_owned()),
            attempts: Set(1),
            next_attempt_at: Set(None),
            last_attempt_at: Set(Some(record.started_at)),
            response_status: Set(record.response_status.map(i32::from)),
            last_error: Set(record.error.clone()),
            redelivery_of: Set(None),
            created_at: Set(record.started_at),
            completed_at: Set(Some(record.started_at)),
        }
        .insert(&tx.db)
        .await?;
        insert_attempt(&tx.db, actor.organization_id, delivery_id, 1, &record).await?;
        tx.audit(
            "testWebhookEndpoint",
            "WebhookEndpoint",
            row.id,
            serde_json::json!({
                "deliveryId": crate::audit::IdKind::WebhookDelivery.global_id(delivery_id),
                "status": status.as_str(),
            }),
        );
        tx.commit(self).await?;
        delivery(inserted)
    }

    /// Queues a delivery again, to go out before the endpoint's other pending deliveries.
    pub async fn redeliver_webhook(
        &self,
        actor: Actor,
        delivery_id: WebhookDeliveryId,
    ) -> Result<WebhookDelivery, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let original = scoped::find_one::<webhook_delivery::Entity, _>(
            &tx.db,
            actor.organization_id,
            delivery_id.as_uuid(),
        )
        .await?
        .ok_or_else(|| StoreError::not_found("id", "webhook delivery"))?;
        let endpoint_row = live_endpoint(&tx, original.endpoint_id.into())
            .await
            .map_err(|_| {
                ValidationError::new(
                    "id",
                    ErrorCode::Archived,
                    "the delivery's endpoint was deleted",
                )
            })?;
        if original.status == DeliveryStatus::Pending.as_str() {
            return Err(ValidationError::new(
                "id",
                ErrorCode::Invalid,
                "the delivery is still pending; it goes out on its own",
            )
            .into());
        }
        let inserted = webhook_delivery::ActiveModel {
            id: Set(WebhookDeliveryId::generate().as_uuid()),
            organization_id: Set(actor.organization_id.as_uuid()),
            endpoint_id: Set(endpoint_row.id),
            kind: Set(DeliveryKind::Redelivery.as_str().to_owned()),
            event_id: Set(original.event_id),
            event_type: Set(original.event_type.clone()),
            sequence: Set(original.sequence),
            body: Set(original.body.clone()),
            status: Set(DeliveryStatus::Pending.as_str().to_owned()),
            attempts: Set(0),
            // No time means as soon as the endpoint's sender gets to it.
            next_attempt_at: Set(None),
            last_attempt_at: Set(None),
            response_status: Set(None),
            last_error: Set(None),
            redelivery_of: Set(Some(original.id)),
            created_at: Set(tx.now),
            completed_at: Set(None),
        }
        .insert(&tx.db)
        .await?;
        tx.audit_row(
            "redeliverWebhookDelivery",
            "WebhookDelivery",
            inserted.id,
            None,
            Some(&inserted),
        );
        tx.commit(self).await?;
        delivery(inserted)
    }

    pub async fn webhook_endpoints_page(
        &self,
        organization_id: OrganizationId,
        include_deleted: bool,
        request: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, StoreError> {
        let mut select = webhook_endpoint::Entity::find_in(organization_id);
        if !include_deleted {
            select = select.filter(webhook_endpoint::Column::ArchivedAt.is_null());
        }
        page::paginate(
            &self.db,
            select,
            SortKey::Id(webhook_endpoint::Column::Id),
            request,
        )
        .await?
        .try_map(endpoint)
    }

    pub async fn count_webhook_endpoints(
        &self,
        organization_id: OrganizationId,
        include_deleted: bool,
    ) -> Result<u64, StoreError> {
        let mut select = webhook_endpoint::Entity::find_in(organization_id);
        if !include_deleted {
            select = select.filter(webhook_endpoint::Column::ArchivedAt.is_null());
        }
        page::count(&self.db, select).await
    }

    pub async fn webhook_endpoints_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[WebhookEndpointId],
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let rows = scoped::find_many::<webhook_endpoint::Entity, _>(
            &self.db,
            organization_id,
            ids.iter().map(|id| id.as_uuid()),
        )
        .await?;
        crate::convert::all(rows, endpoint)
    }

    fn deliveries_select(
        organization_id: OrganizationId,
        endpoint_id: WebhookEndpointId,
        status: Option<DeliveryStatus>,
    ) -> sea_orm::Select<webhook_delivery::Entity> {
        let mut select = webhook_delivery::Entity::find_in(organization_id)
            .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id.as_uuid()));
        if let Some(status) = status {
            select = select.filter(webhook_delivery::Column::Status.eq(status.as_str()));
        }
        select
    }

    /// An endpoint's deliveries, newest first.
    pub async fn webhook_deliveries_page(
        &self,
        organization_id: OrganizationId,
        endpoint_id: WebhookEndpointId,
        status: Option<DeliveryStatus>,
        request: PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        page::paginate(
            &self.db,
            Self::deliveries_select(organization_id, endpoint_id, status),
            SortKey::TimeThenId {
                time: webhook_delivery::Column::CreatedAt,
                id: webhook_delivery::Column::Id,
                descending: true,
            },
            request,
        )
        .await?
        .try_map(delivery)
    }

    pub async fn count_webhook_deliveries(
        &self,
        organization_id: OrganizationId,
        endpoint_id: WebhookEndpointId,
        status: Option<DeliveryStatus>,
    ) -> Result<u64, StoreError> {
        page::count(
            &self.db,
            Self::deliveries_select(organization_id, endpoint_id, status),
        )
        .await
    }

    pub async fn webhook_deliveries_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[WebhookDeliveryId],
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let rows = scoped::find_many::<webhook_delivery::Entity, _>(
            &self.db,
            organization_id,
            ids.iter().map(|id| id.as_uuid()),
        )
        .await?;
        crate::convert::all(rows, delivery)
    }

    /// The attempts of a delivery, first first.
    pub async fn webhook_attempts(
        &self,
        organization_id: OrganizationId,
        delivery_id: WebhookDeliveryId,
    ) -> Result<Vec<WebhookAttempt>, StoreError> {
        let rows = webhook_attempt::Entity::find_in(organization_id)
            .filter(webhook_attempt::Column::DeliveryId.eq(delivery_id.as_uuid()))
            .order_by_asc(webhook_attempt::Column::Number)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(attempt).collect())
    }

    /// Enabled endpoints whose cursor is behind their organization's latest event.
    pub async fn webhook_queue_work(&self) -> Result<Vec<QueueWork>, StoreError> {
        let endpoints = webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::Enabled.eq(true))
            .filter(webhook_endpoint::Column::ArchivedAt.is_null())
            .all(&self.db)
            .await?;
        if endpoints.is_empty() {
            return Ok(Vec::new());
        }
        let organizations: BTreeSet<Uuid> =
            endpoints.iter().map(|row| row.organization_id).collect();
        let sequences: HashMap<Uuid, i64> = organization::Entity::find()
            .select_only()
            .column(organization::Column::Id)
            .column(organization::Column::EventSequence)
            .filter(organization::Column::Id.is_in(organizations))
            .into_tuple::<(Uuid, i64)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        endpoints
            .into_iter()
            .filter_map(|row| {
                let latest = *sequences.get(&row.organization_id)?;
                (latest > row.cursor).then_some((row, latest))
            })
            .map(|(row, latest)| {
                Ok(QueueWork {
                    endpoint_id: row.id.into(),
                    organization_id: row.organization_id.into(),
                    cursor: row.cursor,
                    latest,
                    event_types: parse_event_types(&row.event_types)?,
                })
            })
            .collect()
    }

    /// Queues deliveries and moves the endpoint's cursor from `from` to `to`, both or
    /// neither: when another replica moved the cursor first, nothing is written and the
    /// result is false.
    pub async fn queue_webhook_deliveries(
        &self,
        work: &QueueWork,
        to: i64,
        events: Vec<QueuedEvent>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let tx = self.db.begin().await?;
        let moved = webhook_endpoint::Entity::update_many()
            .col_expr(webhook_endpoint::Column::Cursor, Expr::value(to))
            .filter(webhook_endpoint::Column::Id.eq(work.endpoint_id.as_uuid()))
            .filter(webhook_endpoint::Column::Cursor.eq(work.cursor))
            .filter(webhook_endpoint::Column::Enabled.eq(true))
            .exec(&tx)
            .await?;
        if moved.rows_affected != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let now = crate::convert::storable_instant(now);
        let rows: Vec<webhook_delivery::ActiveModel> = events
            .into_iter()
            .map(|event| webhook_delivery::ActiveModel {
                id: Set(WebhookDeliveryId::generate().as_uuid()),
                organization_id: Set(work.organization_id.as_uuid()),
                endpoint_id: Set(work.endpoint_id.as_uuid()),
                kind: Set(DeliveryKind::Event.as_str().to_owned()),
                event_id: Set(event.event_id.as_uuid()),
                event_type: Set(event.event_type),
                sequence: Set(event.sequence),
                body: Set(event.body),
                status: Set(DeliveryStatus::Pending.as_str().to_owned()),
                attempts: Set(0),
                next_attempt_at: Set(None),
                last_attempt_at: Set(None),
                response_status: Set(None),
                last_error: Set(None),
                redelivery_of: Set(None),
                created_at: Set(now),
                completed_at: Set(None),
            })
            .collect();
        page::insert_chunked::<webhook_delivery::Entity, _>(&tx, rows).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Endpoints with a pending delivery that is due at `now`, at most `limit`.
    pub async fn webhook_endpoints_due(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<WebhookEndpointId>, StoreError> {
        let ids: Vec<Uuid> = webhook_delivery::Entity::find()
            .select_only()
            .column(webhook_delivery::Column::EndpointId)
            .distinct()
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(
                Condition::any()
                    .add(webhook_delivery::Column::NextAttemptAt.is_null())
                    .add(webhook_delivery::Column::NextAttemptAt.lte(now)),
            )
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids.into_iter().map(Into::into).collect())
    }

    /// Takes the lease of an enabled endpoint for `owner` until `until`, when no other replica
    /// holds it; returns the endpoint with its secret, or `None` when it is not available.
    pub async fn claim_webhook_endpoint(
        &self,
        endpoint_id: WebhookEndpointId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ClaimedEndpoint>, StoreError> {
        let claimed = webhook_endpoint::Entity::update_many()
            .col_expr(webhook_endpoint::Column::LeaseOwner, Expr::value(owner))
            .col_expr(
                webhook_endpoint::Column::LeaseUntil,
                Expr::value(crate::convert::storable_instant(until)),
            )
            .filter(webhook_endpoint::Column::Id.eq(endpoint_id.as_uuid()))
            .filter(webhook_endpoint::Column::Enabled.eq(true))
            .filter(webhook_endpoint::Column::ArchivedAt.is_null())
            .filter(
                Condition::any()
                    .add(webhook_endpoint::Column::LeaseOwner.is_null())
                    .add(webhook_endpoint::Column::LeaseOwner.eq(owner))
                    .add(webhook_endpoint::Column::LeaseUntil.lt(now)),
            )
            .exec(&self.db)
            .await?;
        if claimed.rows_affected != 1 {
            return Ok(None);
        }
        let Some(row) = webhook_endpoint::Entity::find_by_id(endpoint_id.as_uuid())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        // The previous secret expires by the store's clock, which also stamped the rotation.
        ClaimedEndpoint::signing_at(row, self.now()).map(Some)
    }

    /// Gives up the lease of an endpoint, when `owner` still holds it.
    pub async fn release_webhook_endpoint(
        &self,
        endpoint_id: WebhookEndpointId,
        owner: &str,
    ) -> Result<(), StoreError> {
        webhook_endpoint::Entity::update_many()
            .col_expr(
                webhook_endpoint::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                webhook_endpoint::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(webhook_endpoint::Column::Id.eq(endpoint_id.as_uuid()))
            .filter(webhook_endpoint::Column::LeaseOwner.eq(owner))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The endpoint's pending delivery that goes out next: the lowest sequence, and for
    /// equal sequences (a redelivery) the earliest queued.
    pub async fn next_webhook_delivery(
        &self,
        endpoint_id: WebhookEndpointId,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id.as_uuid()))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .order_by_asc(webhook_delivery::Column::Sequence)
            .order_by_asc(webhook_delivery::Column::Id)
            .one(&self.db)
            .await?
            .map(delivery)
            .transpose()
    }

    /// Logs an attempt and moves its delivery on. A failure counts against the endpoint,
    /// which is disabled when it failed `disable_after` attempts in a row; a success clears
    /// the count.
    pub async fn record_webhook_attempt(
        &self,
        delivery: &WebhookDelivery,
        record: AttemptRecord,
        result: AttemptResult,
        disable_after: u32,
        now: DateTime<Utc>,
    ) -> Result<AttemptRecorded, StoreError> {
        let now = crate::convert::storable_instant(now);
        let tx = self.db.begin().await?;
        let number = delivery.attempts + 1;
        insert_attempt(
            &tx,
            delivery.organization_id,
            delivery.id.as_uuid(),
            number,
            &record,
        )
        .await?;
        let (status, next_attempt_at, completed_at) = match result {
            AttemptResult::Delivered => (DeliveryStatus::Succeeded, None, Some(now)),
            AttemptResult::RetryAt(at) => (
                DeliveryStatus::Pending,
                Some(crate::convert::storable_instant(at)),
                None,
            ),
            AttemptResult::Failed => (DeliveryStatus::Failed, None, Some(now)),
        };
        webhook_delivery::ActiveModel {
            id: Set(delivery.id.as_uuid()),
            status: Set(status.as_str().to_owned()),
            attempts: Set(i32::try_from(number).unwrap_or(i32::MAX)),
            next_attempt_at: Set(next_attempt_at),
            last_attempt_at: Set(Some(crate::convert::storable_instant(record.started_at))),
            response_status: Set(record.response_status.map(i32::from)),
            last_error: Set(record.error.clone()),
            completed_at: Set(completed_at),
            ..Default::default()
        }
        .update(&tx)
        .await?;

        let endpoint_id = delivery.endpoint_id.as_uuid();
        let mut endpoint_disabled = false;
        if result == AttemptResult::Delivered {
            webhook_endpoint::Entity::update_many()
                .col_expr(
                    webhook_endpoint::Column::ConsecutiveFailures,
                    Expr::value(0),
                )
                .filter(webhook_endpoint::Column::Id.eq(endpoint_id))
                .exec(&tx)
                .await?;
        } else {
            webhook_endpoint::Entity::update_many()
                .col_expr(
                    webhook_endpoint::Column::ConsecutiveFailures,
                    Expr::col(webhook_endpoint::Column::ConsecutiveFailures).add(1),
                )
                .filter(webhook_endpoint::Column::Id.eq(endpoint_id))
                .exec(&tx)
                .await?;
            let disabled = webhook_endpoint::Entity::update_many()
                .col_expr(webhook_endpoint::Column::Enabled, Expr::value(false))
                .col_expr(
                    webhook_endpoint::Column::DisabledReason,
                    Expr::value(TOO_MANY_FAILURES),
                )
                .col_expr(webhook_endpoint::Column::DisabledAt, Expr::value(now))
                .filter(webhook_endpoint::Column::Id.eq(endpoint_id))
                .filter(webhook_endpoint::Column::Enabled.eq(true))
                .filter(
                    webhook_endpoint::Column::ConsecutiveFailures
                        .gte(i32::try_from(std::cmp::max(disable_after, 1)).unwrap_or(i32::MAX)),
                )
                .exec(&tx)
                .await?;
            endpoint_disabled = disabled.rows_affected == 1;
        }
        tx.commit().await?;
        Ok(AttemptRecorded { endpoint_disabled })
    }
}

async fn insert_attempt<C: sea_orm::ConnectionTrait>(
    db: &C,
    organization_id: OrganizationId,
    delivery_id: Uuid,
    number: u32,
    record: &AttemptRecord,
) -> Result<(), StoreError> {
    webhook_attempt::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(organization_id.as_uuid()),
        delivery_id: Set(delivery_id),
        number: Set(i32::try_from(number).unwrap_or(i32::MAX)),
        started_at: Set(crate::convert::storable_instant(record.started_at)),
        duration_ms: Set(i32::try_from(record.duration_ms).unwrap_or(i32::MAX)),
        response_status: Set(record.response_status.map(i32::from)),
        response_body: Set(record.response_body.clone()),
        error: Set(record.error.clone()),
    }
    .insert(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(previous_secret_expires_at: Option<DateTime<Utc>>) -> webhook_endpoint::Model {
        let now = Utc::now();
        webhook_endpoint::Model {
            id: Uuid::now_v7(),
            organization_id: Uuid::now_v7(),
            url: "https://hooks.example.com/in".to_owned(),
            description: None,
            secret: "whsec_the-new-secret-of-some-length".to_owned(),
            previous_secret: Some("whsec_the-old-secret-of-some-length".to_owned()),
            previous_secret_expires_at,
            event_types: "[\"CHECK_IN_CREATED\"]".to_owned(),
            enabled: true,
            disabled_reason: None,
            disabled_at: None,
            consecutive_failures: 0,
            cursor: 0,
            lease_owner: None,
            lease_until: None,
            version: 2,
            created_by: None,
            created_at: now,
            updated_at: now,
            archived_at: None,
        }
    }

    #[test]
    fn previous_secret_signs_until_it_expires() {
        let rotated_at = Utc::now();
        let expires_at = rotated_at + chrono::Duration::hours(SECRET_OVERLAP_HOURS);

        let during = ClaimedEndpoint::signing_at(row(Some(expires_at)), rotated_at).unwrap();
        assert_eq!(during.secret, "whsec_the-new-secret-of-some-length");
        assert_eq!(
            during.previous_secret.as_deref(),
            Some("whsec_the-old-secret-of-some-length")
        );

        let after = ClaimedEndpoint::signing_at(row(Some(expires_at)), expires_at).unwrap();
        assert_eq!(after.secret, "whsec_the-new-secret-of-some-length");
        assert_eq!(after.previous_secret, None);

        let without_expiry = ClaimedEndpoint::signing_at(row(None), rotated_at).unwrap();
        assert_eq!(without_expiry.previous_secret, None);
    }
}
