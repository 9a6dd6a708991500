//! KPIs and their measurements, including batch ingestion and the key results they drive.

use crate::convert;
use crate::entities::{key_result, kpi, kpi_measurement, objective};
use crate::error::{StoreError, check_version};
use crate::idempotency;
use crate::key_results::follow_kpi;
use crate::page::{self, Page, PageRequest, SortKey};
use crate::rollup;
use crate::scoped::{self, OrganizationScoped};
use crate::teams::{active_team, ensure_member};
use crate::tx::WriteTx;
use crate::{Actor, Store};
use chrono::{DateTime, Utc};
use headway_domain::events::{EventPayload, EventScope, NewEvent, RecordKind};
use headway_domain::ids::{KpiId, KpiMeasurementId, OrganizationId, TeamId, UserId};
use headway_domain::kpi::{KpiDirection, KpiThresholds, ThresholdFields};
use headway_domain::model::{
    CycleState, Kpi, KpiFrequency, KpiMeasurement, ObjectiveState, Source, Unit, UnitKind,
};
use headway_domain::rules;
use headway_domain::values::{
    CurrencyCode, Description, ExternalKey, IdempotencyKey, MetricValue, Name,
};
use headway_domain::{ErrorCode, ValidationError};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct NewKpi {
    pub name: Name,
    pub description: Option<Description>,
    pub unit: Unit,
    pub thresholds: KpiThresholds,
    pub frequency: KpiFrequency,
    pub owner_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub external_key: Option<ExternalKey>,
}

/// Changes to a KPI; an outer `None` leaves a field as it is, `Some(None)` clears it.
///
/// Threshold fields are merged with the stored ones and validated together. Changing the
/// direction starts from no thresholds, because the old ones do not apply to the new one.
#[derive(Clone, Debug, Default)]
pub struct KpiChanges {
    pub expected_version: Option<i32>,
    pub name: Option<Name>,
    pub description: Option<Option<Description>>,
    pub unit: Option<UnitKind>,
    pub currency_code: Option<Option<CurrencyCode>>,
    pub direction: Option<KpiDirection>,
    pub target_value: Option<Option<MetricValue>>,
    pub warning_value: Option<Option<MetricValue>>,
    pub range_low: Option<Option<MetricValue>>,
    pub range_high: Option<Option<MetricValue>>,
    pub warning_margin: Option<Option<MetricValue>>,
    pub frequency: Option<KpiFrequency>,
    pub owner_id: Option<Option<UserId>>,
    pub team_id: Option<Option<TeamId>>,
    pub external_key: Option<Option<ExternalKey>>,
}

/// One measurement as a client sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewMeasurement {
    pub kpi_id: KpiId,
    pub value: MetricValue,
    pub observed_at: DateTime<Utc>,
}

/// A stored measurement, and whether it replaced an earlier value for the same time.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasurementOutcome {
    pub measurement: KpiMeasurement,
    pub replaced: bool,
}

const RECORD_MEASUREMENTS: &str = "recordKpiMeasurements";

fn kpi_scope(row: &kpi::Model) -> EventScope {
    EventScope {
        team_id: row.team_id.map(Into::into),
        kpi_id: Some(row.id.into()),
        ..EventScope::default()
    }
}

fn optional_text(value: Option<MetricValue>) -> Option<String> {
    value.map(|value| value.to_string())
}

async fn ensure_kpi_key_free(
    tx: &WriteTx,
    key: &ExternalKey,
    except: Option<Uuid>,
) -> Result<(), StoreError> {
    let mut select = kpi::Entity::find_in(tx.organization_id())
        .filter(kpi::Column::ExternalKey.eq(key.as_str()));
    if let Some(except) = except {
        select = select.filter(kpi::Column::Id.ne(except));
    }
    if select.one(&tx.db).await?.is_some() {
        return Err(ValidationError::new(
            "externalKey",
            ErrorCode::Taken,
            format!("another KPI already uses the external key \"{key}\""),
        )
        .into());
    }
    Ok(())
}

async fn writable_kpi(tx: &WriteTx, kpi_id: KpiId) -> Result<kpi::Model, StoreError> {
    let row = scoped::find_one::<kpi::Entity, _>(&tx.db, tx.organization_id(), kpi_id.as_uuid())
        .await?
        .ok_or_else(|| StoreError::not_found("id", "KPI"))?;
    if row.archived_at.is_some() {
        return Err(ValidationError::new("id", ErrorCode::Archived, "the KPI is archived").into());
    }
    Ok(row)
}

/// The stored result of one batch item, for replays.
#[derive(serde::Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
enum StoredItem {
    Recorded {
        measurement_id: Uuid,
        replaced: bool,
    },
    Rejected {
        field: String,
        code: String,
        message: String,
    },
}

fn error_code(name: &str) -> ErrorCode {
    [
        ErrorCode::NotFound,
        ErrorCode::Archived,
        ErrorCode::OutOfRange,
        ErrorCode::Invalid,
        ErrorCode::InvalidFormat,
    ]
    .into_iter()
    .find(|code| code.as_str() == name)
    .unwrap_or(ErrorCode::Invalid)
}

impl Store {
    pub async fn create_kpi(&self, actor: Actor, input: NewKpi) -> Result<Kpi, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        if let Some(owner_id) = input.owner_id {
            ensure_member(&tx.db, organization_id, owner_id, "ownerId").await?;
        }
        if let Some(team_id) = input.team_id {
            active_team(&tx.db, organization_id, team_id, "teamId").await?;
        }
        if let Some(key) = &input.external_key {
            ensure_kpi_key_free(&tx, key, None).await?;
        }
        let fields = input.thresholds.fields();
        let row = kpi::ActiveModel {
            id: Set(KpiId::generate().as_uuid()),
            organization_id: Set(organization_id.as_uuid()),
            name: Set(input.name.into_inner()),
            description: Set(input.description.map(Description::into_inner)),
            unit: Set(input.unit.kind().as_str().to_owned()),
            currency_code: Set(input.unit.currency().map(|code| code.as_str().to_owned())),
            direction: Set(input.thresholds.direction().as_str().to_owned()),
            target_value: Set(optional_text(fields.target)),
            warning_value: Set(optional_text(fields.warning)),
            range_low: Set(optional_text(fields.range_low)),
            range_high: Set(optional_text(fields.range_high)),
            warning_margin: Set(optional_text(fields.warning_margin)),
            frequency: Set(input.frequency.as_str().to_owned()),
            owner_id: Set(input.owner_id.map(Into::into)),
            team_id: Set(input.team_id.map(Into::into)),
            external_key: Set(input.external_key.map(ExternalKey::into_inner)),
            latest_value: Set(None),
            latest_observed_at: Set(None),
            version: Set(1),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            archived_at: Set(None),
        }
        .insert(&tx.db)
        .await?;
        tx.audit_row("createKpi", "Kpi", row.id, None, Some(&row));
        tx.commit(self).await?;
        convert::kpi(row)
    }

    pub async fn update_kpi(
        &self,
        actor: Actor,
        kpi_id: KpiId,
        changes: KpiChanges,
    ) -> Result<Kpi, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        let row = writable_kpi(&tx, kpi_id).await?;
        check_version(changes.expected_version, row.version)?;
        let current = convert::kpi(row.clone())?;

        let direction = changes.direction.unwrap_or(current.thresholds.direction());
        let mut fields = if direction == current.thresholds.direction() {
            current.thresholds.fields()
        } else {
            ThresholdFields::default()
        };
        if let Some(value) = changes.target_value {
            fields.target = value;
        }
        if let Some(value) = changes.warning_value {
            fields.warning = value;
        }
        if let Some(value) = changes.range_low {
            fields.range_low = value;
        }
        if let Some(value) = changes.range_high {
            fields.range_high = value;
        }
        if let Some(value) = changes.warning_margin {
            fields.warning_margin = value;
        }
        let thresholds = KpiThresholds::new(direction, fields)?;
        let unit_kind = changes.unit.unwrap_or(current.unit.kind());
        let currency = match changes.currency_code {
            Some(code) => code,
            None if unit_kind == UnitKind::Currency => current.unit.currency(),
            None => None,
        };
        let unit = Unit::new(unit_kind, currency)?;
        if let Some(Some(owner_id)) = changes.owner_id {
            ensure_member(&tx.db, organization_id, owner_id, "ownerId").await?;
        }
        if let Some(Some(team_id)) = changes.team_id {
            active_team(&tx.db, organization_id, team_id, "teamId").await?;
        }
        if let Some(Some(key)) = &changes.external_key {
            ensure_kpi_key_free(&tx, key, Some(row.id)).await?;
        }

        let fields = thresholds.fields();
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        if let Some(name) = changes.name {
            update.name = Set(name.into_inner());
        }
        if let Some(description) = changes.description {
            update.description = Set(description.map(Description::into_inner));
        }
        update.unit = Set(unit.kind().as_str().to_owned());
        update.currency_code = Set(unit.currency().map(|code| code.as_str().to_owned()));
        update.direction = Set(direction.as_str().to_owned());
        update.target_value = Set(optional_text(fields.target));
        update.warning_value = Set(optional_text(fields.warning));
        update.range_low = Set(optional_text(fields.range_low));
        update.range_high = Set(optional_text(fields.range_high));
        update.warning_margin = Set(optional_text(fields.warning_margin));
        if let Some(frequency) = changes.frequency {
            update.frequency = Set(frequency.as_str().to_owned());
        }
        if let Some(owner_id) = changes.owner_id {
            update.owner_id = Set(owner_id.map(Into::into));
        }
        if let Some(team_id) = changes.team_id {
            update.team_id = Set(team_id.map(Into::into));
        }
        if let Some(key) = changes.external_key {
            update.external_key = Set(key.map(ExternalKey::into_inner));
        }
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row("updateKpi", "Kpi", row.id, Some(&before), Some(&row));
        tx.commit(self).await?;
        convert::kpi(row)
    }

    /// Archives a KPI. Key results linked to it keep their values and stop following it.
    pub async fn archive_kpi(
        &self,
        actor: Actor,
        kpi_id: KpiId,
        expected_version: Option<i32>,
    ) -> Result<Kpi, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = writable_kpi(&tx, kpi_id).await?;
        check_version(expected_version, row.version)?;
        tx.emit(NewEvent {
            payload: EventPayload::StateChanged {
                record: RecordKind::Kpi,
                record_id: row.id,
                old_state: "ACTIVE".to_owned(),
                new_state: "ARCHIVED".to_owned(),
            },
            scope: kpi_scope(&row),
        });
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        update.archived_at = Set(Some(tx.now));
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row("archiveKpi", "Kpi", row.id, Some(&before), Some(&row));
        tx.commit(self).await?;
        convert::kpi(row)
    }

    /// Records a batch of measurements. Valid items are stored and invalid ones rejected one
    /// by one; the result has one entry per item, in order.
    ///
    /// A measurement for a KPI and observed-at time that already has one replaces its value.
    /// Key results that follow an affected KPI move to its latest value within their cycle.
    pub async fn record_measurements(
        &self,
        actor: Actor,
        items: Vec<NewMeasurement>,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<Vec<Result<MeasurementOutcome, ValidationError>>, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        let fingerprint = match &idempotency_key {
            Some(key) => {
                let fingerprint = idempotency::fingerprint(RECORD_MEASUREMENTS, &items)?;
                if let Some(result) =
                    idempotency::recall(&tx, key, RECORD_MEASUREMENTS, &fingerprint).await?
                {
                    drop(tx);
                    return self
                        .replay_measurements(organization_id, &items, result)
                        .await;
                }
                Some(fingerprint)
            }
            None => None,
        };
        let source = if actor.api_token_id.is_some() {
            Source::ApiToken
        } else {
            Source::User
        };

        let kpi_ids: BTreeSet<Uuid> = items.iter().map(|item| item.kpi_id.as_uuid()).collect();
        let kpis: HashMap<Uuid, kpi::Model> =
            scoped::find_many::<kpi::Entity, _>(&tx.db, organization_id, kpi_ids.iter().copied())
                .await?
                .into_iter()
                .map(|row| (row.id, row))
                .collect();

        let thresholds: HashMap<Uuid, KpiThresholds> = kpis
            .iter()
            .map(|(id, row)| convert::kpi(row.clone()).map(|kpi| (*id, kpi.thresholds)))
            .collect::<Result<_, _>>()?;

        // Validate each item on its own.
        let mut checked: Vec<Result<(NewMeasurement, DateTime<Utc>), ValidationError>> =
            Vec::with_capacity(items.len());
        for item in &items {
            let observed_at = convert::storable_instant(item.observed_at);
            let verdict = match kpis.get(&item.kpi_id.as_uuid()) {
                None => Err(ValidationError::new(
                    "kpiId",
                    ErrorCode::NotFound,
                    "no KPI with this id exists in the organization",
                )),
                Some(row) if row.archived_at.is_some() => Err(ValidationError::new(
                    "kpiId",
                    ErrorCode::Archived,
                    "the KPI is archived and takes no measurements",
                )),
                Some(_) => rules::validate_observed_at(observed_at, tx.now)
                    .map(|()| (item.clone(), observed_at)),
            };
            checked.push(verdict);
        }

        // Which points exist already.
        let valid: Vec<(Uuid, DateTime<Utc>)> = checked
            .iter()
            .filter_map(|verdict| verdict.as_ref().ok())
            .map(|(item, observed_at)| (item.kpi_id.as_uuid(), *observed_at))
            .collect();
        let mut existing: HashMap<(Uuid, DateTime<Utc>), Uuid> = HashMap::new();
        for chunk in valid.chunks(500) {
            let chunk_kpis: BTreeSet<Uuid> = chunk.iter().map(|(kpi, _)| *kpi).collect();
            let times: BTreeSet<DateTime<Utc>> = chunk.iter().map(|(_, at)| *at).collect();
            let rows = kpi_measurement::Entity::find_in(organization_id)
                .filter(kpi_measurement::Column::KpiId.is_in(chunk_kpis))
                .filter(kpi_measurement::Column::ObservedAt.is_in(times))
                .all(&tx.db)
                .await?;
            for row in rows {
                existing.insert((row.kpi_id, row.observed_at), row.id);
            }
        }

        // Resolve each valid item to its row: the stored one, one written earlier in this
        // batch, or a new one. The last value for a point wins.
        let mut outcomes = Vec::with_capacity(items.len());
        let mut rows: HashMap<(Uuid, DateTime<Utc>), kpi_measurement::ActiveModel> = HashMap::new();
        let mut latest: HashMap<Uuid, (DateTime<Utc>, MetricValue)> = HashMap::new();
        for verdict in checked {
            let (item, observed_at) = match verdict {
                Ok(valid) => valid,
                Err(error) => {
                    outcomes.push(Err(error));
                    continue;
                }
            };
            let kpi_id = item.kpi_id.as_uuid();
            let point = (kpi_id, observed_at);
            let replaced = existing.contains_key(&point);
            let id = *existing
                .entry(point)
                .or_insert_with(|| KpiMeasurementId::generate().as_uuid());
            let created_at = tx.now;
            rows.insert(
                point,
                kpi_measurement::ActiveModel {
                    id: Set(id),
                    organization_id: Set(organization_id.as_uuid()),
                    kpi_id: Set(kpi_id),
                    observed_at: Set(observed_at),
                    value: Set(item.value.to_string()),
                    source: Set(source.as_str().to_owned()),
                    created_at: Set(created_at),
                    updated_at: Set(tx.now),
                },
            );
            let newest = latest.get(&kpi_id).is_none_or(|(at, _)| observed_at >= *at);
            if newest {
                latest.insert(kpi_id, (observed_at, item.value));
            }
            let row = &kpis[&kpi_id];
            let thresholds = &thresholds[&kpi_id];
            tx.emit(NewEvent {
                payload: EventPayload::KpiMeasurementRecorded {
                    kpi_id: item.kpi_id,
                    measurement_id: id.into(),
                    value: item.value.get(),
                    observed_at,
                    replaced,
                    health: thresholds.health(Some(item.value)),
                },
                scope: kpi_scope(row),
            });
            outcomes.push(Ok(MeasurementOutcome {
                measurement: KpiMeasurement {
                    id: id.into(),
                    organization_id,
                    kpi_id: item.kpi_id,
                    value: item.value,
                    source,
                    observed_at,
                    created_at,
                    updated_at: tx.now,
                },
                replaced,
            }));
        }

        // Write the points: new ones are inserted, known ones take the new value.
        let rows: Vec<kpi_measurement::ActiveModel> = rows.into_values().collect();
        for chunk in rows.chunks(500) {
            kpi_measurement::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([
                        kpi_measurement::Column::KpiId,
                        kpi_measurement::Column::ObservedAt,
                    ])
                    .update_columns([
                        kpi_measurement::Column::Value,
                        kpi_measurement::Column::Source,
                        kpi_measurement::Column::UpdatedAt,
                    ])
                    .to_owned(),
                )
                .exec_without_returning(&tx.db)
                .await?;
        }

        // One audit entry per KPI: how many values, observed when.
        let mut per_kpi: HashMap<Uuid, (usize, DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
        for measurement in outcomes.iter().filter_map(|outcome| outcome.as_ref().ok()) {
            let at = measurement.measurement.observed_at;
            let entry = per_kpi
                .entry(measurement.measurement.kpi_id.as_uuid())
                .or_insert((0, at, at));
            entry.0 += 1;
            entry.1 = entry.1.min(at);
            entry.2 = entry.2.max(at);
        }
        for (kpi_id, (count, from, to)) in per_kpi {
            tx.audit(
                "recordKpiMeasurements",
                "Kpi",
                kpi_id,
                serde_json::json!({ "measurements": { "count": count, "observedFrom": from, "observedTo": to } }),
            );
        }

        // Move each KPI's latest value, then the key results that follow it.
        for (kpi_id, (observed_at, value)) in &latest {
            let row = &kpis[kpi_id];
            if row.latest_observed_at.is_none_or(|at| *observed_at >= at) {
                let mut update = row.clone().into_active_model();
                update.latest_value = Set(Some(value.to_string()));
                update.latest_observed_at = Set(Some(*observed_at));
                update.update(&tx.db).await?;
            }
        }
        follow_kpis(&mut tx, latest.keys().copied().collect()).await?;

        if let (Some(key), Some(fingerprint)) = (&idempotency_key, &fingerprint) {
            let stored: Vec<StoredItem> = outcomes
                .iter()
                .map(|outcome| match outcome {
                    Ok(outcome) => StoredItem::Recorded {
                        measurement_id: outcome.measurement.id.as_uuid(),
                        replaced: outcome.replaced,
                    },
                    Err(error) => StoredItem::Rejected {
                        field: error.field.clone(),
                        code: error.code.as_str().to_owned(),
                        message: error.message.clone(),
                    },
                })
                .collect();
            let result = serde_json::to_value(stored).map_err(|error| {
                StoreError::Corrupt(format!("batch result does not serialize: {error}"))
            })?;
            idempotency::remember(&tx, key, RECORD_MEASUREMENTS, fingerprint, &result).await?;
        }
        tx.commit(self).await?;
        Ok(outcomes)
    }

    async fn replay_measurements(
        &self,
        organization_id: OrganizationId,
        items: &[NewMeasurement],
        result: serde_json::Value,
    ) -> Result<Vec<Result<MeasurementOutcome, ValidationError>>, StoreError> {
        let stored: Vec<StoredItem> = serde_json::from_value(result)
            .map_err(|error| StoreError::Corrupt(format!("idempotency_keys.result: {error}")))?;
        let ids: Vec<Uuid> = stored
            .iter()
            .filter_map(|item| match item {
                StoredItem::Recorded { measurement_id, .. } => Some(*measurement_id),
                StoredItem::Rejected { .. } => None,
            })
            .collect();
        let rows: HashMap<Uuid, KpiMeasurement> =
            scoped::find_many::<kpi_measurement::Entity, _>(&self.db, organization_id, ids)
                .await?
                .into_iter()
                .map(|row| {
                    convert::kpi_measurement(row)
                        .map(|measurement| (measurement.id.as_uuid(), measurement))
                })
                .collect::<Result<_, _>>()?;
        stored
            .into_iter()
            .zip(items)
            .map(|(item, sent)| match item {
                StoredItem::Recorded {
                    measurement_id,
                    replaced,
                } => {
                    let mut measurement = rows.get(&measurement_id).cloned().ok_or_else(|| {
                        StoreError::Corrupt("a remembered measurement is missing".to_owned())
                    })?;
                    measurement.value = sent.value;
                    Ok(Ok(MeasurementOutcome {
                        measurement,
                        replaced,
                    }))
                }
                StoredItem::Rejected {
                    field,
                    code,
                    message,
                } => Ok(Err(ValidationError::new(field, error_code(&code), message))),
            })
            .collect()
    }

    pub async fn kpis_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[KpiId],
    ) -> Result<Vec<Kpi>, StoreError> {
        let rows = scoped::find_many::<kpi::Entity, _>(
            &self.db,
            organization_id,
            ids.iter().map(|id| id.as_uuid()),
        )
        .await?;
        convert::all(rows, convert::kpi)
    }

    fn kpis_select(
        organization_id: OrganizationId,
        team_id: Option<TeamId>,
        include_archived: bool,
    ) -> sea_orm::Select<kpi::Entity> {
        let mut select = kpi::Entity::find_in(organization_id);
        if let Some(team_id) = team_id {
            select = select.filter(kpi::Column::TeamId.eq(team_id.as_uuid()));
        }
        if !include_archived {
            select = select.filter(kpi::Column::ArchivedAt.is_null());
        }
        select
    }

    pub async fn kpis_page(
        &self,
        organization_id: OrganizationId,
        team_id: Option<TeamId>,
        include_archived: bool,
        request: PageRequest,
    ) -> Result<Page<Kpi>, StoreError> {
        let select = Self::kpis_select(organization_id, team_id, include_archived);
        page::paginate(&self.db, select, SortKey::Id(kpi::Column::Id), request)
            .await?
            .try_map(convert::kpi)
    }

    pub async fn count_kpis(
        &self,
        organization_id: OrganizationId,
        team_id: Option<TeamId>,
        include_archived: bool,
    ) -> Result<u64, StoreError> {
        page::count(
            &self.db,
            Self::kpis_select(organization_id, team_id, include_archived),
        )
        .await
    }

    fn measurements_select(
        organization_id: OrganizationId,
        kpi_id: KpiId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> sea_orm::Select<kpi_measurement::Entity> {
        let mut select = kpi_measurement::Entity::find_in(organization_id)
            .filter(kpi_measurement::Column::KpiId.eq(kpi_id.as_uuid()));
        if let Some(from) = from {
            select = select
                .filter(kpi_measurement::Column::ObservedAt.gte(convert::storable_instant(from)));
        }
        if let Some(to) = to {
            select = select
                .filter(kpi_measurement::Column::ObservedAt.lt(convert::storable_instant(to)));
        }
        select
    }

    /// A KPI's measurements observed in [`from`, `to`), oldest first.
    pub async fn measurements_page(
        &self,
        organization_id: OrganizationId,
        kpi_id: KpiId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        request: PageRequest,
    ) -> Result<Page<KpiMeasurement>, StoreError> {
        let select = Self::measurements_select(organization_id, kpi_id, from, to);
        let key = SortKey::TimeThenId {
            time: kpi_measurement::Column::ObservedAt,
            id: kpi_measurement::Column::Id,
            descending: false,
        };
        page::paginate(&self.db, select, key, request)
            .await?
            .try_map(convert::kpi_measurement)
    }

    pub async fn count_measurements(
        &self,
        organization_id: OrganizationId,
        kpi_id: KpiId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<u64, StoreError> {
        page::count(
            &self.db,
            Self::measurements_select(organization_id, kpi_id, from, to),
        )
        .await
    }

    /// Every measurement of a KPI observed in [`from`, `to`), oldest first, for aggregation.
    pub async fn measurements_between(
        &self,
        organization_id: OrganizationId,
        kpi_id: KpiId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<KpiMeasurement>, StoreError> {
        let rows = Self::measurements_select(organization_id, kpi_id, Some(from), Some(to))
            .order_by_asc(kpi_measurement::Column::ObservedAt)
            .all(&self.db)
            .await?;
        convert::all(rows, convert::kpi_measurement)
    }

    pub async fn measurements_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[KpiMeasurementId],
    ) -> Result<Vec<KpiMeasurement>, StoreError> {
        let rows = scoped::find_many::<kpi_measurement::Entity, _>(
            &self.db,
            organization_id,
            ids.iter().map(|id| id.as_uuid()),
        )
        .await?;
        convert::all(rows, convert::kpi_measurement)
    }
}

/// Moves every key result that follows one of `kpi_ids` to its KPI's latest value in the
/// key result's cycle, and rolls the affected objectives up. Key results in closed cycles
/// or under archived objectives stay as they are.
async fn follow_kpis(tx: &mut WriteTx, kpi_ids: Vec<Uuid>) -> Result<(), StoreError> {
    if kpi_ids.is_empty() {
        return Ok(());
    }
    let organization_id = tx.organization_id();
    let key_results = key_result::Entity::find_in(organization_id)
        .filter(key_result::Column::KpiId.is_in(kpi_ids))
        .filter(key_result::Column::ArchivedAt.is_null())
        .all(&tx.db)
        .await?;
    for row in key_results {
        let Some(objective) =
            scoped::find_one::<objective::Entity, _>(&tx.db, organization_id, row.objective_id)
                .await?
        else {
            continue;
        };
        if objective.state == ObjectiveState::Archived.as_str() {
            continue;
        }
        let timing = rollup::cycle_timing(tx, objective.cycle_id).await?;
        if timing.state == CycleState::Closed {
            continue;
        }
        let before = row.current_check_in_id;
        let row = follow_kpi(tx, row, &objective, timing).await?;
        if row.current_check_in_id != before {
            rollup::roll_up(tx, objective.id.into()).await?;
        }
    }
    Ok(())
}
