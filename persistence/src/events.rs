//! Reading the outbox.

use crate::Store;
use crate::entities::event;
use crate::error::StoreError;
use chrono::{DateTime, Utc};
use headway_domain::events::{Event, EventPayload, EventScope};
use headway_domain::ids::OrganizationId;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

fn event_from_row(row: event::Model) -> Result<Event, StoreError> {
    let payload: EventPayload = serde_json::from_str(&row.payload)
        .map_err(|error| StoreError::Corrupt(format!("events.payload of {}: {error}", row.id)))?;
    Ok(Event {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        sequence: row.sequence,
        payload,
        scope: EventScope {
            team_id: row.team_id.map(Into::into),
            cycle_id: row.cycle_id.map(Into::into),
            objective_id: row.objective_id.map(Into::into),
            key_result_id: row.key_result_id.map(Into::into),
            kpi_id: row.kpi_id.map(Into::into),
        },
        occurred_at: row.occurred_at,
    })
}

impl Store {
    /// Up to `limit` events of the organization with a sequence number above `after`, in order.
    pub async fn events_after(
        &self,
        organization_id: OrganizationId,
        after: i64,
        limit: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = event::Entity::find()
            .filter(event::Column::OrganizationId.eq(organization_id.as_uuid()))
            .filter(event::Column::Sequence.gt(after))
            .order_by_asc(event::Column::Sequence)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter().map(event_from_row).collect()
    }

    /// The organization's latest event sequence number; 0 before its first event.
    pub async fn latest_event_sequence(
        &self,
        organization_id: OrganizationId,
    ) -> Result<i64, StoreError> {
        let row = crate::entities::organization::Entity::find_by_id(organization_id.as_uuid())
            .one(&self.db)
            .await?;
        Ok(row.map_or(0, |row| row.event_sequence))
    }

    /// The oldest sequence number still in the outbox for the organization, if any.
    pub async fn oldest_event_sequence(
        &self,
        organization_id: OrganizationId,
    ) -> Result<Option<i64>, StoreError> {
        let row = event::Entity::find()
            .filter(event::Column::OrganizationId.eq(organization_id.as_uuid()))
            .order_by_asc(event::Column::Sequence)
            .one(&self.db)
            .await?;
        Ok(row.map(|row| row.sequence))
    }

    /// Deletes events that occurred before `cutoff` and returns how many went.
    pub async fn prune_events(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = event::Entity::delete_many()
            .filter(event::Column::OccurredAt.lt(cutoff))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}
