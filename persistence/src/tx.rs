//! The write transaction: one organization locked, events collected, committed together.

use crate::audit::Audited;
use crate::convert;
use crate::entities::{activity_entry, audit_entry, event, organization};
use crate::error::StoreError;
use crate::{Actor, Store};
use chrono::{DateTime, Utc};
use headway_domain::events::{Event, EventTopic, NewEvent};
use headway_domain::ids::{AuditEntryId, EventId, OrganizationId};
use headway_domain::model::Organization;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseTransaction, EntityTrait, TransactionTrait,
};

/// A transaction that holds its organization's row lock until it ends.
pub(crate) struct WriteTx {
    pub(crate) db: DatabaseTransaction,
    pub(crate) actor: Actor,
    pub(crate) organization: Organization,
    pub(crate) now: DateTime<Utc>,
    event_sequence: i64,
    events: Vec<NewEvent>,
    audit: Vec<audit_entry::ActiveModel>,
}

pub(crate) use crate::audit::changed_fields;

/// Returns whether `update` leaves every column of `before` as it is. An update that changes
/// nothing skips the write, so the version stays and no audit entry or event is recorded.
pub(crate) fn changes_nothing<M, A>(before: &M, update: &A) -> bool
where
    M: sea_orm::ModelTrait + PartialEq,
    A: sea_orm::TryIntoModel<M> + Clone,
{
    update
        .clone()
        .try_into_model()
        .is_ok_and(|candidate| candidate == *before)
}

impl WriteTx {
    /// Begins a transaction and locks the actor's organization.
    ///
    /// The lock is a no-op update of the organization's row as the first statement. On
    /// PostgreSQL it takes the row lock; on SQLite any write takes the database's write lock.
    /// Either way the organization's writes run one at a time.
    pub(crate) async fn begin(store: &Store, actor: Actor) -> Result<Self, StoreError> {
        let db = {
            let _waiting = WaitingForConnection::start(&store.waiting);
            store.db.begin().await?
        };
        let lock = Query::update()
            .table("organizations")
            .value("event_sequence", Expr::col("event_sequence"))
            .and_where(Expr::col("id").eq(actor.organization_id.as_uuid()))
            .and_where(Expr::col("archived_at").is_null())
            .to_owned();
        let locked = db.execute(&lock).await?;
        if locked.rows_affected() == 0 {
            return Err(StoreError::OrganizationNotFound);
        }
        let row = organization::Entity::find_by_id(actor.organization_id.as_uuid())
            .one(&db)
            .await?
            .ok_or(StoreError::OrganizationNotFound)?;
        let event_sequence = row.event_sequence;
        Ok(Self {
            db,
            actor,
            organization: convert::organization(row)?,
            now: store.now(),
            event_sequence,
            events: Vec::new(),
            audit: Vec::new(),
        })
    }

    /// Records a change in the audit log; it is written with the transaction.
    pub(crate) fn audit(
        &mut self,
        action: &str,
        record_type: &str,
        record_id: uuid::Uuid,
        changes: serde_json::Value,
    ) {
        self.audit.push(audit_entry::ActiveModel {
            id: Set(AuditEntryId::generate().as_uuid()),
            organization_id: Set(self.actor.organization_id.as_uuid()),
            user_id: Set(self.actor.user_id.map(Into::into)),
            api_token_id: Set(self.actor.api_token_id.map(Into::into)),
            action: Set(action.to_owned()),
            record_type: Set(record_type.to_owned()),
            record_id: Set(record_id),
            changes: Set(changes.to_string()),
            occurred_at: Set(self.now),
        });
    }

    /// Records the change from `before` to `after` of one row in the audit log.
    pub(crate) fn audit_row<M: Audited>(
        &mut self,
        action: &str,
        record_type: &str,
        record_id: uuid::Uuid,
        before: Option<&M>,
        after: Option<&M>,
    ) {
        let changes = changed_fields(before, after);
        self.audit(action, record_type, record_id, changes);
    }

    pub(crate) fn organization_id(&self) -> OrganizationId {
        self.actor.organization_id
    }

    /// Queues an event; it is written with the next sequence number when the transaction commits.
    pub(crate) fn emit(&mut self, event: NewEvent) {
        self.events.push(event);
    }

    /// Writes the queued events to the outbox, commits, and runs the store's commit hook.
    pub(crate) async fn commit(self, store: &Store) -> Result<Vec<Event>, StoreError> {
        let Self {
            db,
            actor,
            now,
            event_sequence,
            events,
            audit,
            ..
        } = self;
        crate::page::insert_chunked::<audit_entry::Entity, _>(&db, audit).await?;
        let mut stored = Vec::with_capacity(events.len());
        if !events.is_empty() {
            let last_sequence = event_sequence + i64::try_from(events.len()).unwrap_or(i64::MAX);
            let advance = Query::update()
                .table("organizations")
                .value("event_sequence", last_sequence)
                .and_where(Expr::col("id").eq(actor.organization_id.as_uuid()))
                .to_owned();
            db.execute(&advance).await?;
            let mut rows = Vec::with_capacity(events.len());
            let mut activity = Vec::new();
            for (offset, new_event) in (1_i64..).zip(events) {
                let event = Event {
                    id: EventId::generate(),
                    organization_id: actor.organization_id,
                    sequence: event_sequence + offset,
                    payload: new_event.payload,
                    scope: new_event.scope,
                    occurred_at: now,
                };
                let row = event_row(&event)?;
                if event.payload.topic() == EventTopic::Activity {
                    activity.push(activity_row(&row));
                }
                rows.push(row);
                stored.push(event);
            }
            if db.get_database_backend() == sea_orm::DbBackend::Postgres {
                let rows = rows
                    .into_iter()
                    .map(sea_orm::TryIntoModel::try_into_model)
                    .collect::<Result<Vec<event::Model>, _>>()?;
                crate::bulk::insert_events(&db, &rows).await?;
            } else {
                crate::page::insert_chunked::<event::Entity, _>(&db, rows).await?;
            }
            crate::page::insert_chunked::<activity_entry::Entity, _>(&db, activity).await?;
        }
        db.commit().await?;
        if !stored.is_empty()
            && let Some(hook) = &store.commit_hook
        {
            hook(&stored);
        }
        Ok(stored)
    }
}

/// The lasting copy of an activity event, for the activity feed.
fn activity_row(event: &event::ActiveModel) -> activity_entry::ActiveModel {
    activity_entry::ActiveModel {
        id: event.id.clone(),
        organization_id: event.organization_id.clone(),
        sequence: event.sequence.clone(),
        event_type: event.event_type.clone(),
        payload: event.payload.clone(),
        team_id: event.team_id.clone(),
        cycle_id: event.cycle_id.clone(),
        objective_id: event.objective_id.clone(),
        key_result_id: event.key_result_id.clone(),
        occurred_at: event.occurred_at.clone(),
    }
}

fn event_row(event: &Event) -> Result<event::ActiveModel, StoreError> {
    let payload = serde_json::to_string(&event.payload).map_err(|error| {
        StoreError::Corrupt(format!("event payload does not serialize: {error}"))
    })?;
    let topic = serde_json::to_value(event.payload.topic())
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(event::ActiveModel {
        id: Set(event.id.as_uuid()),
        organization_id: Set(event.organization_id.as_uuid()),
        sequence: Set(event.sequence),
        event_type: Set(event.payload.type_name().to_owned()),
        topic: Set(topic),
        payload: Set(payload),
        team_id: Set(event.scope.team_id.map(Into::into)),
        cycle_id: Set(event.scope.cycle_id.map(Into::into)),
        objective_id: Set(event.scope.objective_id.map(Into::into)),
        key_result_id: Set(event.scope.key_result_id.map(Into::into)),
        kpi_id: Set(event.scope.kpi_id.map(Into::into)),
        occurred_at: Set(event.occurred_at),
    })
}

/// Counts a transaction as waiting for a connection until it is dropped.
struct WaitingForConnection<'a>(&'a std::sync::atomic::AtomicI64);

impl<'a> WaitingForConnection<'a> {
    fn start(counter: &'a std::sync::atomic::AtomicI64) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for WaitingForConnection<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}
