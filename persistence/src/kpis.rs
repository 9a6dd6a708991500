//! KPIs and their measurements, including batch ingestion and the key results they drive.

use crate::RecordRef;
use crate::bulk;
use crate::convert;
use crate::entities::{idempotency_key, key_result, kpi, kpi_measurement, objective};
use crate::error::{StoreError, check_version};
use crate::idempotency::{self, StoredItem};
use crate::key_results::{Follower, KpiPoint, mirror_kpi_points};
use crate::page::{self, Page, PageRequest, SortKey};
use crate::rollup::{self, CycleTiming};
use crate::scoped::{self, OrganizationScoped};
use crate::teams::{active_team, ensure_member};
use crate::tx::{WriteTx, changes_nothing};
use crate::{Actor, Store};
use chrono::{DateTime, Utc};
use headway_domain::events::{EventPayload, EventScope, NewEvent, RecordKind};
use headway_domain::ids::{KpiId, KpiMeasurementId, OrganizationId, TeamId, UserId};
use headway_domain::kpi::{KpiDirection, KpiThresholds, ThresholdFields};
use headway_domain::model::{
    CycleState, Kpi, KpiFrequency, KpiMeasurement, ObjectiveState, Source, Unit, UnitKind,
};
use headway_domain::rules;
use headway_domain::series::{Accumulator, Bucket};
use headway_domain::values::{
    CurrencyCode, Description, ExternalKey, IdempotencyKey, MetricValue, Name,
};
use headway_domain::{ErrorCode, ValidationError};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, TryIntoModel,
};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
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
    pub kpi: RecordRef<KpiId>,
    pub value: MetricValue,
    pub observed_at: DateTime<Utc>,
    /// Makes a retry of this item safe across batches.
    pub idempotency_key: Option<IdempotencyKey>,
}

/// A stored measurement, and whether it replaced an earlier value for the same time.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasurementOutcome {
    pub measurement: KpiMeasurement,
    pub replaced: bool,
    /// Whether this is the stored result of an earlier request with the same idempotency key.
    pub replayed: bool,
}

const RECORD_MEASUREMENTS: &str = "recordKpiMeasurements";
/// The operation name under which single items of a batch remember their results.
const RECORD_MEASUREMENT_ITEM: &str = "recordKpiMeasurements.item";

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

/// The plan for one item of a measurement batch.
enum ItemPlan {
    /// Rejected before anything is written.
    Rejected(ValidationError),
    /// An earlier batch stored this item under its key.
    Replayed(StoredItem),
    /// The item repeats an earlier item of this batch with the same key.
    SameAs(usize),
    /// To be written at `observed_at`, with the fingerprint its key remembers.
    Write {
        kpi_id: Uuid,
        observed_at: DateTime<Utc>,
        fingerprint: Option<String>,
    },
}

/// The KPIs that a batch names, by id and by external key.
struct ResolvedKpis {
    by_id: HashMap<Uuid, kpi::Model>,
    by_key: HashMap<String, Uuid>,
}

async fn resolve_kpis(tx: &WriteTx, items: &[NewMeasurement]) -> Result<ResolvedKpis, StoreError> {
    let mut ids = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for item in items {
        match &item.kpi {
            RecordRef::Id(id) => ids.insert(id.as_uuid()),
            RecordRef::ExternalKey(key) => keys.insert(key.as_str().to_owned()),
        };
    }
    let organization_id = tx.organization_id();
    let mut by_id: HashMap<Uuid, kpi::Model> =
        scoped::find_many::<kpi::Entity, _>(&tx.db, organization_id, ids)
            .await?
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
    let mut by_key = HashMap::new();
    let keys: Vec<String> = keys.into_iter().collect();
    for chunk in keys.chunks(500) {
        let rows = kpi::Entity::find_in(organization_id)
            .filter(kpi::Column::ExternalKey.is_in(chunk.iter().cloned()))
            .all(&tx.db)
            .await?;
        for row in rows {
            if let Some(key) = &row.external_key {
                by_key.insert(key.clone(), row.id);
            }
            by_id.insert(row.id, row);
        }
    }
    Ok(ResolvedKpis { by_id, by_key })
}

/// Decides what to do with one item of a measurement batch, before anything is written.
fn plan_measurement<'a>(
    tx: &WriteTx,
    kpis: &ResolvedKpis,
    remembered: &HashMap<String, idempotency_key::Model>,
    keys_in_batch: &mut HashMap<&'a str, (usize, String)>,
    batch_key: Option<&IdempotencyKey>,
    (index, item): (usize, &'a NewMeasurement),
) -> Result<ItemPlan, StoreError> {
    let fingerprint = match &item.idempotency_key {
        Some(key) if batch_key == Some(key) => {
            return Ok(ItemPlan::Rejected(idempotency::batch_key_reused(
                key.as_str(),
            )));
        }
        Some(key) => {
            let fingerprint = idempotency::fingerprint(RECORD_MEASUREMENT_ITEM, item)?;
            if let Some((first, first_fingerprint)) = keys_in_batch.get(key.as_str()) {
                return Ok(if *first_fingerprint == fingerprint {
                    ItemPlan::SameAs(*first)
                } else {
                    ItemPlan::Rejected(idempotency::reused(key.as_str()))
                });
            }
            keys_in_batch.insert(key.as_str(), (index, fingerprint.clone()));
            if let Some(row) = remembered.get(key.as_str()) {
                return match idempotency::stored_result(row, RECORD_MEASUREMENT_ITEM, &fingerprint)
                {
                    Ok(result) => Ok(ItemPlan::Replayed(StoredItem::from_json(result)?)),
                    Err(StoreError::Rejected(error)) => Ok(ItemPlan::Rejected(error)),
                    Err(error) => Err(error),
                };
            }
            Some(fingerprint)
        }
        None => None,
    };
    let (field, row) = match &item.kpi {
        RecordRef::Id(id) => ("kpiId", kpis.by_id.get(&id.as_uuid())),
        RecordRef::ExternalKey(key) => (
            "kpiExternalKey",
            kpis.by_key
                .get(key.as_str())
                .and_then(|id| kpis.by_id.get(id)),
        ),
    };
    let Some(row) = row else {
        let message = match &item.kpi {
            RecordRef::Id(_) => "no KPI with this id exists in the organization".to_owned(),
            RecordRef::ExternalKey(key) => {
                format!("no KPI with the external key \"{key}\" exists in the organization")
            }
        };
        return Ok(ItemPlan::Rejected(ValidationError::new(
            field,
            ErrorCode::NotFound,
            message,
        )));
    };
    if row.archived_at.is_some() {
        return Ok(ItemPlan::Rejected(ValidationError::new(
            field,
            ErrorCode::Archived,
            "the KPI is archived and takes no measurements",
        )));
    }
    let observed_at = convert::storable_instant(item.observed_at);
    if let Err(error) = rules::validate_observed_at(observed_at, tx.now) {
        return Ok(ItemPlan::Rejected(error));
    }
    Ok(ItemPlan::Write {
        kpi_id: row.id,
        observed_at,
        fingerprint,
    })
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
        if changes_nothing(&before, &update) {
            tx.commit(self).await?;
            return convert::kpi(before);
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
    /// The batch key replays a whole batch; an item key replays that item in any later batch.
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
                    let stored: Vec<StoredItem> =
                        serde_json::from_value(result).map_err(|error| {
                            StoreError::Corrupt(format!("idempotency_keys.result: {error}"))
                        })?;
                    return self
                        .measurement_outcomes(organization_id, &items, stored, HashMap::new())
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

        let kpis = resolve_kpis(&tx, &items).await?;
        let thresholds: HashMap<Uuid, KpiThresholds> = kpis
            .by_id
            .iter()
            .map(|(id, row)| convert::kpi(row.clone()).map(|kpi| (*id, kpi.thresholds)))
            .collect::<Result<_, _>>()?;
        let remembered = idempotency::recall_items(
            &tx,
            items
                .iter()
                .filter_map(|item| item.idempotency_key.as_ref()),
        )
        .await?;

        // Decide each item on its own.
        let mut plans = Vec::with_capacity(items.len());
        let mut keys_in_batch: HashMap<&str, (usize, String)> = HashMap::new();
        for (index, item) in items.iter().enumerate() {
            plans.push(plan_measurement(
                &tx,
                &kpis,
                &remembered,
                &mut keys_in_batch,
                idempotency_key.as_ref(),
                (index, item),
            )?);
        }

        // Which points exist already.
        let valid: Vec<(Uuid, DateTime<Utc>)> = plans
            .iter()
            .filter_map(|plan| match plan {
                ItemPlan::Write {
                    kpi_id,
                    observed_at,
                    ..
                } => Some((*kpi_id, *observed_at)),
                _ => None,
            })
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

        // Resolve each item to its row: the stored one, one written earlier in this batch,
        // or a new one. The last value for a point wins.
        let mut stored: Vec<StoredItem> = Vec::with_capacity(items.len());
        let mut written: HashMap<Uuid, KpiMeasurement> = HashMap::new();
        let mut rows: HashMap<(Uuid, DateTime<Utc>), kpi_measurement::ActiveModel> = HashMap::new();
        let mut latest: HashMap<Uuid, (DateTime<Utc>, MetricValue)> = HashMap::new();
        let mut points: HashMap<(Uuid, DateTime<Utc>), MetricValue> = HashMap::new();
        let mut remember = Vec::new();
        for (plan, item) in plans.iter().zip(&items) {
            let (kpi_id, observed_at, fingerprint) = match plan {
                ItemPlan::Rejected(error) => {
                    stored.push(StoredItem::rejected(error));
                    continue;
                }
                ItemPlan::Replayed(item) => {
                    stored.push(item.clone());
                    continue;
                }
                ItemPlan::SameAs(first) => {
                    let first = stored[*first].clone();
                    stored.push(first);
                    continue;
                }
                ItemPlan::Write {
                    kpi_id,
                    observed_at,
                    fingerprint,
                } => (*kpi_id, *observed_at, fingerprint),
            };
            let point = (kpi_id, observed_at);
            let replaced = existing.contains_key(&point);
            let id = *existing
                .entry(point)
                .or_insert_with(|| KpiMeasurementId::generate().as_uuid());
            rows.insert(
                point,
                kpi_measurement::ActiveModel {
                    id: Set(id),
                    organization_id: Set(organization_id.as_uuid()),
                    kpi_id: Set(kpi_id),
                    observed_at: Set(observed_at),
                    value: Set(item.value.to_string()),
                    source: Set(source.as_str().to_owned()),
                    created_at: Set(tx.now),
                    updated_at: Set(tx.now),
                },
            );
            points.insert(point, item.value);
            if latest.get(&kpi_id).is_none_or(|(at, _)| observed_at >= *at) {
                latest.insert(kpi_id, (observed_at, item.value));
            }
            let row = &kpis.by_id[&kpi_id];
            tx.emit(NewEvent {
                payload: EventPayload::KpiMeasurementRecorded {
                    kpi_id: kpi_id.into(),
                    measurement_id: id.into(),
                    value: item.value.get(),
                    observed_at,
                    replaced,
                    health: thresholds[&kpi_id].health(Some(item.value)),
                },
                scope: kpi_scope(row),
            });
            written.insert(
                id,
                KpiMeasurement {
                    id: id.into(),
                    organization_id,
                    kpi_id: kpi_id.into(),
                    value: item.value,
                    source,
                    observed_at,
                    created_at: tx.now,
                    updated_at: tx.now,
                },
            );
            let result = StoredItem::Recorded { id, replaced };
            if let (Some(key), Some(fingerprint)) = (&item.idempotency_key, fingerprint) {
                remember.push((key.clone(), fingerprint.clone(), result.to_json()?));
            }
            stored.push(result);
        }

        // Write the points: new ones are inserted, known ones take the new value.
        let rows: Vec<kpi_measurement::ActiveModel> = rows.into_values().collect();
        if tx.db.get_database_backend() == DbBackend::Postgres {
            let rows = rows
                .into_iter()
                .map(TryIntoModel::try_into_model)
                .collect::<Result<Vec<_>, _>>()?;
            bulk::upsert_measurements(&tx.db, &rows).await?;
        } else {
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
        }

        // One audit entry per KPI: how many values, observed when.
        let mut per_kpi: HashMap<Uuid, (usize, DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
        for plan in &plans {
            if let ItemPlan::Write {
                kpi_id,
                observed_at,
                ..
            } = plan
            {
                let entry = per_kpi
                    .entry(*kpi_id)
                    .or_insert((0, *observed_at, *observed_at));
                entry.0 += 1;
                entry.1 = entry.1.min(*observed_at);
                entry.2 = entry.2.max(*observed_at);
            }
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
            let row = &kpis.by_id[kpi_id];
            if row.latest_observed_at.is_none_or(|at| *observed_at >= at) {
                let mut update = row.clone().into_active_model();
                update.latest_value = Set(Some(value.to_string()));
                update.latest_observed_at = Set(Some(*observed_at));
                update.update(&tx.db).await?;
            }
        }
        let mut points_by_kpi: HashMap<Uuid, Vec<KpiPoint>> = HashMap::new();
        for ((kpi_id, observed_at), value) in points {
            points_by_kpi
                .entry(kpi_id)
                .or_default()
                .push(KpiPoint { observed_at, value });
        }
        follow_kpis(&mut tx, points_by_kpi).await?;

        idempotency::remember_items(&tx, RECORD_MEASUREMENT_ITEM, remember).await?;
        if let (Some(key), Some(fingerprint)) = (&idempotency_key, &fingerprint) {
            let result = serde_json::to_value(&stored).map_err(|error| {
                StoreError::Corrupt(format!("batch result does not serialize: {error}"))
            })?;
            idempotency::remember(&tx, key, RECORD_MEASUREMENTS, fingerprint, &result).await?;
        }
        tx.commit(self).await?;

        // Items replayed from earlier batches, and only those, count as replayed.
        let replayed: HashSet<usize> = plans
            .iter()
            .enumerate()
            .filter(|(_, plan)| matches!(plan, ItemPlan::Replayed(_) | ItemPlan::SameAs(_)))
            .map(|(index, _)| index)
            .collect();
        let mut outcomes = self
            .measurement_outcomes(organization_id, &items, stored, written)
            .await?;
        for (index, outcome) in outcomes.iter_mut().enumerate() {
            if let Ok(outcome) = outcome {
                outcome.replayed = replayed.contains(&index);
            }
        }
        Ok(outcomes)
    }

    /// Turns item results into outcomes: `written` contains the rows this call wrote, and the
    /// rows of results stored by earlier calls are read. Each outcome carries the value its
    /// item sent; all count as replayed until the caller marks them otherwise.
    async fn measurement_outcomes(
        &self,
        organization_id: OrganizationId,
        items: &[NewMeasurement],
        stored: Vec<StoredItem>,
        mut rows: HashMap<Uuid, KpiMeasurement>,
    ) -> Result<Vec<Result<MeasurementOutcome, ValidationError>>, StoreError> {
        let missing: Vec<Uuid> = stored
            .iter()
            .filter_map(|item| match item {
                StoredItem::Recorded { id, .. } if !rows.contains_key(id) => Some(*id),
                _ => None,
            })
            .collect();
        if !missing.is_empty() {
            for row in
                scoped::find_many::<kpi_measurement::Entity, _>(&self.db, organization_id, missing)
                    .await?
            {
                let measurement = convert::kpi_measurement(row)?;
                rows.insert(measurement.id.as_uuid(), measurement);
            }
        }
        stored
            .into_iter()
            .zip(items)
            .map(|(item, sent)| match item {
                StoredItem::Recorded { id, replaced } => {
                    let mut measurement = rows.get(&id).cloned().ok_or_else(|| {
                        StoreError::Corrupt("a remembered measurement is missing".to_owned())
                    })?;
                    measurement.value = sent.value;
                    Ok(Ok(MeasurementOutcome {
                        measurement,
                        replaced,
                        replayed: true,
                    }))
                }
                rejected => Ok(Err(rejected.into_error().unwrap_or_else(|| {
                    ValidationError::new("", ErrorCode::Invalid, "rejected")
                }))),
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

    /// Aggregates a KPI's measurements into `buckets` (in time order, adjoining), reading
    /// them in pages so that memory stays flat however many there are.
    pub async fn kpi_series(
        &self,
        organization_id: OrganizationId,
        kpi_id: KpiId,
        buckets: &[Bucket],
    ) -> Result<Vec<Accumulator>, StoreError> {
        const PAGE_ROWS: u64 = 5_000;
        let mut points = vec![Accumulator::default(); buckets.len()];
        let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
            return Ok(points);
        };
        let mut from = first.start;
        let mut inclusive = true;
        let mut bucket = 0;
        loop {
            let mut select = kpi_measurement::Entity::find_in(organization_id)
                .select_only()
                .column(kpi_measurement::Column::ObservedAt)
                .column(kpi_measurement::Column::Value)
                .filter(kpi_measurement::Column::KpiId.eq(kpi_id.as_uuid()))
                .filter(kpi_measurement::Column::ObservedAt.lt(last.end));
            select = if inclusive {
                select.filter(kpi_measurement::Column::ObservedAt.gte(from))
            } else {
                // A KPI has one measurement per observed-at time, so the time is a cursor.
                select.filter(kpi_measurement::Column::ObservedAt.gt(from))
            };
            let rows: Vec<(DateTime<Utc>, String)> = select
                .order_by_asc(kpi_measurement::Column::ObservedAt)
                .limit(PAGE_ROWS)
                .into_tuple()
                .all(&self.db)
                .await?;
            let full = rows.len() as u64 == PAGE_ROWS;
            for (observed_at, value) in rows {
                while bucket < buckets.len() && buckets[bucket].end <= observed_at {
                    bucket += 1;
                }
                let value = convert::metric("kpi_measurements", "value", &value)?;
                if let Some(point) = points.get_mut(bucket) {
                    point.add(observed_at, value);
                }
                from = observed_at;
                inclusive = false;
            }
            if !full {
                return Ok(points);
            }
        }
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

/// Mirrors the points a batch wrote as KPI-source check-ins of every key result that follows
/// their KPI, for the points within the key result's cycle, and rolls the objectives whose
/// key results changed their current value up. Key results in closed cycles or under
/// archived objectives stay as they are.
async fn follow_kpis(
    tx: &mut WriteTx,
    points: HashMap<Uuid, Vec<KpiPoint>>,
) -> Result<(), StoreError> {
    if points.is_empty() {
        return Ok(());
    }
    let organization_id = tx.organization_id();
    let key_results = key_result::Entity::find_in(organization_id)
        .filter(key_result::Column::KpiId.is_in(points.keys().copied()))
        .filter(key_result::Column::ArchivedAt.is_null())
        .all(&tx.db)
        .await?;
    if key_results.is_empty() {
        return Ok(());
    }
    let objectives: HashMap<Uuid, objective::Model> = scoped::find_many::<objective::Entity, _>(
        &tx.db,
        organization_id,
        key_results
            .iter()
            .map(|row| row.objective_id)
            .collect::<BTreeSet<_>>(),
    )
    .await?
    .into_iter()
    .map(|row| (row.id, row))
    .collect();
    let mut timings: HashMap<Uuid, CycleTiming> = HashMap::new();
    let mut followers = Vec::with_capacity(key_results.len());
    for row in key_results {
        let Some(objective) = objectives.get(&row.objective_id) else {
            continue;
        };
        if objective.state == ObjectiveState::Archived.as_str() {
            continue;
        }
        let timing = match timings.get(&objective.cycle_id) {
            Some(timing) => *timing,
            None => {
                let timing = rollup::cycle_timing(tx, objective.cycle_id).await?;
                timings.insert(objective.cycle_id, timing);
                timing
            }
        };
        if timing.state == CycleState::Closed {
            continue;
        }
        followers.push(Follower {
            row,
            objective: objective.clone(),
            timing,
        });
    }

    let mut moved: Vec<Uuid> = Vec::new();
    for (row, current_changed) in mirror_kpi_points(tx, followers, &points).await? {
        if current_changed && !moved.contains(&row.objective_id) {
            moved.push(row.objective_id);
        }
    }
    for objective_id in moved {
        rollup::roll_up(tx, objective_id.into()).await?;
    }
    Ok(())
}
