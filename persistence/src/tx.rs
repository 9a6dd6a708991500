//! The write transaction: one organization locked, events collected, committed together.

use crate::convert;
use crate::entities::{event, organization};
use crate::error::StoreError;
use crate::{Actor, Store};
use chrono::{DateTime, Utc};
use headway_domain::events::{Event, NewEvent};
use headway_domain::ids::{EventId, OrganizationId};
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
}

impl WriteTx {
    /// Begins a transaction and locks the actor's organization.
    ///
    /// The lock is a no-op update of the organization's row as the first statement. On
    /// PostgreSQL it takes the row lock; on SQLite any write takes the database's write lock.
    /// Either way the organization's writes run one at a time.
    pub(crate) async fn begin(store: &Store, actor: Actor) -> Result<Self, StoreError> {
        let db = store.db.begin().await?;
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
        })
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
            ..
        } = self;
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
            for (offset, new_event) in (1_i64..).zip(events) {
                let event = Event {
                    id: EventId::generate(),
                    organization_id: actor.organization_id,
                    sequence: event_sequence + offset,
                    payload: new_event.payload,
                    scope: new_event.scope,
                    occurred_at: now,
                };
                rows.push(event_row(&event)?);
                stored.push(event);
            }
            crate::page::insert_chunked::<event::Entity, _>(&db, rows).await?;
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
