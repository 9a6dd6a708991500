//! Key results: their measure, weight and optional KPI link.

use crate::bulk;
use crate::check_ins::{self, CurrentCheckIn};
use crate::convert;
use crate::entities::{check_in, key_result, kpi, kpi_measurement, objective};
use crate::error::{StoreError, check_version};
use crate::objectives::{ensure_cycle_open, writable_objective};
use crate::page::{self, Page, PageRequest, SortKey};
use crate::rollup::{self, CycleTiming};
use crate::scoped::{self, OrganizationScoped};
use crate::teams::ensure_member;
use crate::tx::{WriteTx, changes_nothing};
use crate::{Actor, Store};
use chrono::{DateTime, Utc};
use headway_domain::events::{EventPayload, NewEvent, RecordKind};
use headway_domain::ids::{CheckInId, KeyResultId, KpiId, ObjectiveId, OrganizationId, UserId};
use headway_domain::model::{
    KeyResult, KeyResultType, Measure, ObjectiveState, Source, Unit, UnitKind,
};
use headway_domain::progress;
use headway_domain::rules::{self, LimitKind};
use headway_domain::values::{
    CurrencyCode, Description, ExternalKey, Grade, MetricValue, Title, Weight,
};
use headway_domain::{ErrorCode, ValidationError};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{CaseStatement, Expr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct NewKeyResult {
    pub objective_id: ObjectiveId,
    pub owner_id: Option<UserId>,
    pub title: Title,
    pub description: Option<Description>,
    pub measure: Measure,
    pub unit: Unit,
    pub weight: Weight,
    pub kpi_id: Option<KpiId>,
    pub external_key: Option<ExternalKey>,
}

/// Changes to a key result; an outer `None` leaves a field as it is, `Some(None)` clears it.
///
/// Type, start and target are merged with the stored measure and validated together.
#[derive(Clone, Debug, Default)]
pub struct KeyResultChanges {
    pub expected_version: Option<i32>,
    pub title: Option<Title>,
    pub description: Option<Option<Description>>,
    pub owner_id: Option<Option<UserId>>,
    pub kind: Option<KeyResultType>,
    pub start_value: Option<MetricValue>,
    pub target_value: Option<MetricValue>,
    pub unit: Option<UnitKind>,
    pub currency_code: Option<Option<CurrencyCode>>,
    pub weight: Option<Weight>,
    pub kpi_id: Option<Option<KpiId>>,
    pub manual_grade: Option<Option<Grade>>,
    pub grade_note: Option<Option<Description>>,
    pub external_key: Option<Option<ExternalKey>>,
}

/// A written key result with the warnings of limits it exceeds.
#[derive(Clone, Debug)]
pub struct KeyResultOutcome {
    pub key_result: KeyResult,
    pub warnings: Vec<ValidationError>,
}

/// Loads an unarchived key result for a write. Errors name `field`.
pub(crate) async fn writable_key_result<C: ConnectionTrait>(
    db: &C,
    organization_id: OrganizationId,
    key_result_id: Uuid,
    field: &str,
) -> Result<key_result::Model, StoreError> {
    let row = scoped::find_one::<key_result::Entity, _>(db, organization_id, key_result_id)
        .await?
        .ok_or_else(|| StoreError::not_found(field, "key result"))?;
    if row.archived_at.is_some() {
        return Err(
            ValidationError::new(field, ErrorCode::Archived, "the key result is archived").into(),
        );
    }
    Ok(row)
}

async fn ensure_kpi<C: ConnectionTrait>(
    db: &C,
    organization_id: OrganizationId,
    kpi_id: KpiId,
) -> Result<(), StoreError> {
    let row = scoped::find_one::<kpi::Entity, _>(db, organization_id, kpi_id.as_uuid())
        .await?
        .ok_or_else(|| StoreError::not_found("kpiId", "KPI"))?;
    if row.archived_at.is_some() {
        return Err(
            ValidationError::new("kpiId", ErrorCode::Archived, "the KPI is archived").into(),
        );
    }
    Ok(())
}

async fn ensure_key_result_key_free(
    tx: &WriteTx,
    key: &ExternalKey,
    except: Option<Uuid>,
) -> Result<(), StoreError> {
    let mut select = key_result::Entity::find_in(tx.organization_id())
        .filter(key_result::Column::ExternalKey.eq(key.as_str()));
    if let Some(except) = except {
        select = select.filter(key_result::Column::Id.ne(except));
    }
    if select.one(&tx.db).await?.is_some() {
        return Err(ValidationError::new(
            "externalKey",
            ErrorCode::Taken,
            format!("another key result already uses the external key \"{key}\""),
        )
        .into());
    }
    Ok(())
}

pub(crate) async fn check_key_result_limit(
    tx: &WriteTx,
    objective_id: Uuid,
) -> Result<Option<ValidationError>, StoreError> {
    let count = key_result::Entity::find_in(tx.organization_id())
        .filter(key_result::Column::ObjectiveId.eq(objective_id))
        .filter(key_result::Column::ArchivedAt.is_null())
        .count(&tx.db)
        .await?;
    let settings = tx.organization.settings;
    Ok(rules::check_count_limit(
        LimitKind::KeyResultsPerObjective,
        count + 1,
        settings.key_result_limit,
        settings.enforce_limits,
    )?)
}

/// A KPI measurement as the key results that follow the KPI mirror it.
pub(crate) struct KpiPoint {
    pub(crate) observed_at: DateTime<Utc>,
    pub(crate) value: MetricValue,
}

/// A key result that follows a KPI, with its objective and cycle.
pub(crate) struct Follower {
    pub(crate) row: key_result::Model,
    pub(crate) objective: objective::Model,
    pub(crate) timing: CycleTiming,
}

/// A key result's id and an observed-at time.
type KeyResultAt = (Uuid, DateTime<Utc>);

/// The KPI-source check-ins of one key result at one observed-at time, before a mirror.
enum Mirrored {
    /// No such check-in existed, so one with this id is inserted.
    Inserted(Uuid),
    /// These check-ins existed and now hold the point's value.
    Existing(Vec<Uuid>),
}

/// Brings a KPI-linked key result in line with every measurement of its KPI observed within
/// the key result's cycle, and moves its current value to the newest one when that is the
/// latest observation (see [`mirror_kpi_points`]). The caller rolls the objective up.
pub(crate) async fn follow_kpi(
    tx: &mut WriteTx,
    row: key_result::Model,
    objective: &objective::Model,
    timing: CycleTiming,
) -> Result<key_result::Model, StoreError> {
    let Some(kpi_id) = row.kpi_id else {
        return Ok(row);
    };
    let measurements: Vec<(DateTime<Utc>, String)> =
        kpi_measurement::Entity::find_in(tx.organization_id())
            .select_only()
            .column(kpi_measurement::Column::ObservedAt)
            .column(kpi_measurement::Column::Value)
            .filter(kpi_measurement::Column::KpiId.eq(kpi_id))
            .filter(kpi_measurement::Column::ObservedAt.gte(timing.window.start))
            .filter(kpi_measurement::Column::ObservedAt.lt(timing.window.end))
            .into_tuple()
            .all(&tx.db)
            .await?;
    if measurements.is_empty() {
        return Ok(row);
    }
    let points = measurements
        .into_iter()
        .map(|(observed_at, value)| {
            let value = convert::metric("kpi_measurements", "value", &value)?;
            Ok(KpiPoint { observed_at, value })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let follower = Follower {
        row: row.clone(),
        objective: objective.clone(),
        timing,
    };
    let points = HashMap::from([(kpi_id, points)]);
    let mirrored = mirror_kpi_points(tx, vec![follower], &points).await?;
    Ok(mirrored.into_iter().next().map_or(row, |(row, _)| row))
}

/// Mirrors KPI measurements as check-ins with source KPI. `points` contains each KPI's points by
/// KPI id, one per observed-at time. Every point within a follower's cycle gets a KPI-source
/// check-in of the follower at the same observed-at time with the same value. A missing
/// check-in is inserted, and one with another value takes the new value in place, with an
/// audit entry.
///
/// A follower's current value moves to its newest mirrored point when that is the latest
/// observation, or follows the new value when that point's check-in is already current.
/// Only that check-in, when inserted, gets a CHECK_IN_CREATED event, and only a change of the
/// current value or progress gets a progress event. All check-ins are written with bulk
/// statements. Returns each follower that had points in its cycle, and whether its current
/// value changed, so that the caller rolls its objective up.
pub(crate) async fn mirror_kpi_points(
    tx: &mut WriteTx,
    followers: Vec<Follower>,
    points: &HashMap<Uuid, Vec<KpiPoint>>,
) -> Result<Vec<(key_result::Model, bool)>, StoreError> {
    let organization_id = tx.organization_id();
    let mut inside: Vec<(Follower, Vec<&KpiPoint>)> = Vec::with_capacity(followers.len());
    for follower in followers {
        let Some(kpi_points) = follower.row.kpi_id.and_then(|kpi_id| points.get(&kpi_id)) else {
            continue;
        };
        let in_cycle: Vec<&KpiPoint> = kpi_points
            .iter()
            .filter(|point| follower.timing.window.contains(point.observed_at))
            .collect();
        if !in_cycle.is_empty() {
            inside.push((follower, in_cycle));
        }
    }
    if inside.is_empty() {
        return Ok(Vec::new());
    }

    // The KPI-source check-ins that exist at those times, as (id, value) by key result and
    // time. Data written before replacements were mirrored in place can hold several at one
    // time, so each time maps to a list.
    let pairs: Vec<KeyResultAt> = inside
        .iter()
        .flat_map(|(follower, in_cycle)| {
            in_cycle
                .iter()
                .map(|point| (follower.row.id, point.observed_at))
        })
        .collect();
    let mut existing: HashMap<KeyResultAt, Vec<(Uuid, String)>> = HashMap::new();
    for chunk in pairs.chunks(500) {
        let key_result_ids: BTreeSet<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
        let times: BTreeSet<DateTime<Utc>> = chunk.iter().map(|(_, at)| *at).collect();
        let rows: Vec<(Uuid, Uuid, DateTime<Utc>, String)> =
            check_in::Entity::find_in(organization_id)
                .select_only()
                .column(check_in::Column::Id)
                .column(check_in::Column::KeyResultId)
                .column(check_in::Column::ObservedAt)
                .column(check_in::Column::Value)
                .filter(check_in::Column::KeyResultId.is_in(key_result_ids))
                .filter(check_in::Column::Source.eq(Source::Kpi.as_str()))
                .filter(check_in::Column::ObservedAt.is_in(times))
                .order_by_asc(check_in::Column::CreatedAt)
                .order_by_asc(check_in::Column::Id)
                .into_tuple()
                .all(&tx.db)
                .await?;
        for (id, key_result_id, observed_at, value) in rows {
            existing
                .entry((key_result_id, observed_at))
                .or_default()
                .push((id, value));
        }
    }

    // Plan the writes, and each follower's newest point.
    let mut inserts: Vec<check_in::Model> = Vec::new();
    let mut updates: Vec<(Uuid, String)> = Vec::new();
    let mut newest: Vec<(Follower, DateTime<Utc>, MetricValue, Mirrored)> =
        Vec::with_capacity(inside.len());
    for (follower, in_cycle) in inside {
        let mut last: Option<(DateTime<Utc>, MetricValue, Mirrored)> = None;
        for point in in_cycle {
            let value = point.value.to_string();
            let mirrored = match existing.remove(&(follower.row.id, point.observed_at)) {
                None => {
                    let id = CheckInId::generate().as_uuid();
                    inserts.push(check_in::Model {
                        id,
                        organization_id: organization_id.as_uuid(),
                        key_result_id: follower.row.id,
                        value,
                        confidence: None,
                        comment: None,
                        author_id: None,
                        api_token_id: None,
                        source: Source::Kpi.as_str().to_owned(),
                        observed_at: point.observed_at,
                        created_at: tx.now,
                    });
                    Mirrored::Inserted(id)
                }
                Some(found) => {
                    let mut ids = Vec::with_capacity(found.len());
                    for (id, stored) in found {
                        if stored != value {
                            tx.audit(
                                "followKpi",
                                "CheckIn",
                                id,
                                serde_json::json!({ "value": { "old": stored, "new": value } }),
                            );
                            updates.push((id, value.clone()));
                        }
                        ids.push(id);
                    }
                    Mirrored::Existing(ids)
                }
            };
            if last
                .as_ref()
                .is_none_or(|(at, _, _)| point.observed_at > *at)
            {
                last = Some((point.observed_at, point.value, mirrored));
            }
        }
        if let Some((observed_at, value, mirrored)) = last {
            newest.push((follower, observed_at, value, mirrored));
        }
    }
    insert_check_ins(tx, inserts).await?;
    update_check_in_values(tx, updates).await?;

    // Move the current values.
    let mut results = Vec::with_capacity(newest.len());
    for (follower, observed_at, value, mirrored) in newest {
        let Follower {
            row,
            objective,
            timing,
        } = follower;
        let inserted = matches!(mirrored, Mirrored::Inserted(_));
        let current_id = match mirrored {
            Mirrored::Inserted(id) => {
                progress::becomes_current(observed_at, row.current_observed_at).then_some(id)
            }
            // An existing check-in that is current follows its new value. Another one takes
            // over only from an older observation, because on a tie the newer check-in wins.
            Mirrored::Existing(ids) => match row.current_check_in_id {
                Some(current) if ids.contains(&current) => Some(current),
                _ if row.current_observed_at.is_none_or(|at| observed_at > at) => {
                    ids.last().copied()
                }
                _ => None,
            },
        };
        let Some(current_id) = current_id else {
            results.push((row, false));
            continue;
        };
        if row.current_check_in_id == Some(current_id) && row.current_value == value.to_string() {
            results.push((row, false));
            continue;
        }
        if inserted {
            tx.emit(NewEvent {
                payload: EventPayload::CheckInCreated {
                    check_in_id: current_id.into(),
                    key_result_id: row.id.into(),
                    value: value.get(),
                    confidence: None,
                    observed_at,
                    became_current: true,
                },
                scope: rollup::key_result_scope(&row, &objective),
            });
        }
        let current = CurrentCheckIn {
            id: current_id,
            observed_at,
            value,
            confidence: None,
        };
        let row = check_ins::make_current(tx, row, &objective, timing, current).await?;
        results.push((row, true));
    }
    Ok(results)
}

/// Inserts check-ins with one statement on PostgreSQL and in chunks on SQLite.
async fn insert_check_ins(tx: &WriteTx, rows: Vec<check_in::Model>) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    if tx.db.get_database_backend() == DbBackend::Postgres {
        return bulk::insert_check_ins(&tx.db, &rows).await;
    }
    let rows: Vec<check_in::ActiveModel> = rows
        .into_iter()
        .map(IntoActiveModel::into_active_model)
        .collect();
    page::insert_chunked::<check_in::Entity, _>(&tx.db, rows).await
}

/// Sets the values of check-ins by id: with one statement on PostgreSQL, and with one
/// `CASE` statement per chunk on SQLite.
async fn update_check_in_values(
    tx: &WriteTx,
    updates: Vec<(Uuid, String)>,
) -> Result<(), StoreError> {
    if updates.is_empty() {
        return Ok(());
    }
    let organization_id = tx.organization_id().as_uuid();
    if tx.db.get_database_backend() == DbBackend::Postgres {
        return bulk::update_check_in_values(&tx.db, organization_id, &updates).await;
    }
    for chunk in updates.chunks(300) {
        let mut value = CaseStatement::new();
        for (id, text) in chunk {
            value = value.case(check_in::Column::Id.eq(*id), Expr::val(text.as_str()));
        }
        let value = value.finally(Expr::col(check_in::Column::Value));
        check_in::Entity::update_many()
            .col_expr(check_in::Column::Value, value.into())
            .filter(check_in::Column::OrganizationId.eq(organization_id))
            .filter(check_in::Column::Id.is_in(chunk.iter().map(|(id, _)| *id)))
            .exec(&tx.db)
            .await?;
    }
    Ok(())
}

impl Store {
    pub async fn create_key_result(
        &self,
        actor: Actor,
        input: NewKeyResult,
    ) -> Result<KeyResultOutcome, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        let objective = writable_objective(
            &tx.db,
            organization_id,
            input.objective_id.as_uuid(),
            "objectiveId",
        )
        .await?;
        ensure_cycle_open(&tx.db, organization_id, objective.cycle_id, "objectiveId").await?;
        if let Some(owner_id) = input.owner_id {
            ensure_member(&tx.db, organization_id, owner_id, "ownerId").await?;
        }
        if let Some(kpi_id) = input.kpi_id {
            ensure_kpi(&tx.db, organization_id, kpi_id).await?;
        }
        if let Some(key) = &input.external_key {
            ensure_key_result_key_free(&tx, key, None).await?;
        }
        let warnings: Vec<ValidationError> = check_key_result_limit(&tx, objective.id)
            .await?
            .into_iter()
            .collect();
        let start = input.measure.start();
        let ratio = progress::key_result_ratio(&input.measure, start);
        let row = key_result::ActiveModel {
            id: Set(KeyResultId::generate().as_uuid()),
            organization_id: Set(organization_id.as_uuid()),
            objective_id: Set(objective.id),
            owner_id: Set(input.owner_id.map(Into::into)),
            title: Set(input.title.into_inner()),
            description: Set(input.description.map(Description::into_inner)),
            kind: Set(input.measure.kind().as_str().to_owned()),
            unit: Set(input.unit.kind().as_str().to_owned()),
            currency_code: Set(input.unit.currency().map(|code| code.as_str().to_owned())),
            start_value: Set(start.to_string()),
            target_value: Set(input.measure.target().to_string()),
            current_value: Set(start.to_string()),
            progress_ratio: Set(ratio.normalize().to_string()),
            weight: Set(input.weight.get().to_string()),
            kpi_id: Set(input.kpi_id.map(Into::into)),
            manual_grade: Set(None),
            grade_note: Set(None),
            score: Set(None),
            current_check_in_id: Set(None),
            current_observed_at: Set(None),
            latest_confidence: Set(None),
            milestones: Set(i16::from(progress::key_result_milestones_met(ratio).bits())),
            external_key: Set(input.external_key.map(ExternalKey::into_inner)),
            version: Set(1),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            archived_at: Set(None),
        }
        .insert(&tx.db)
        .await?;
        tx.audit_row("createKeyResult", "KeyResult", row.id, None, Some(&row));
        let timing = rollup::cycle_timing(&tx, objective.cycle_id).await?;
        let row = follow_kpi(&mut tx, row, &objective, timing).await?;
        rollup::roll_up(&mut tx, objective.id.into()).await?;
        tx.commit(self).await?;
        Ok(KeyResultOutcome {
            key_result: convert::key_result(row)?,
            warnings,
        })
    }

    pub async fn update_key_result(
        &self,
        actor: Actor,
        key_result_id: KeyResultId,
        changes: KeyResultChanges,
    ) -> Result<KeyResult, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        let row =
            writable_key_result(&tx.db, organization_id, key_result_id.as_uuid(), "id").await?;
        check_version(changes.expected_version, row.version)?;
        let objective = writable_objective(&tx.db, organization_id, row.objective_id, "id").await?;
        ensure_cycle_open(&tx.db, organization_id, objective.cycle_id, "id").await?;
        let current = convert::key_result(row.clone())?;

        let kind = changes.kind.unwrap_or(current.measure.kind());
        if kind != current.measure.kind() && current.current_check_in_id.is_some() {
            return Err(ValidationError::new(
                "type",
                ErrorCode::Invalid,
                "the type cannot change once the key result has check-ins; archive it and create a new one",
            )
            .into());
        }
        let measure = if kind == KeyResultType::Boolean {
            Measure::new(kind, changes.start_value, changes.target_value)?
        } else {
            Measure::new(
                kind,
                changes.start_value.or(current.measure.visible_start()),
                changes.target_value.or(current.measure.visible_target()),
            )?
        };
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
        if let Some(Some(kpi_id)) = changes.kpi_id {
            ensure_kpi(&tx.db, organization_id, kpi_id).await?;
        }
        if let Some(Some(key)) = &changes.external_key {
            ensure_key_result_key_free(&tx, key, Some(row.id)).await?;
        }

        // Until the first check-in the current value is the start value.
        let current_value = if current.current_check_in_id.is_none() {
            measure.start()
        } else {
            current.current_value
        };
        let old_ratio = current.progress_ratio;
        let new_ratio = progress::key_result_ratio(&measure, current_value);
        let timing = rollup::cycle_timing(&tx, objective.cycle_id).await?;
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        if let Some(title) = changes.title {
            update.title = Set(title.into_inner());
        }
        if let Some(description) = changes.description {
            update.description = Set(description.map(Description::into_inner));
        }
        if let Some(owner_id) = changes.owner_id {
            update.owner_id = Set(owner_id.map(Into::into));
        }
        update.kind = Set(measure.kind().as_str().to_owned());
        update.start_value = Set(measure.start().to_string());
        update.target_value = Set(measure.target().to_string());
        update.current_value = Set(current_value.to_string());
        update.progress_ratio = Set(new_ratio.normalize().to_string());
        // A new definition can meet milestones without a check-in; they count as reached.
        let milestones =
            progress::Milestones::from_bits(u8::try_from(before.milestones).unwrap_or_default());
        let (milestones, _) = milestones.reach(new_ratio, &progress::KEY_RESULT_MILESTONES);
        update.milestones = Set(i16::from(milestones.bits()));
        update.unit = Set(unit.kind().as_str().to_owned());
        update.currency_code = Set(unit.currency().map(|code| code.as_str().to_owned()));
        if let Some(weight) = changes.weight {
            update.weight = Set(weight.get().to_string());
        }
        if let Some(kpi_id) = changes.kpi_id {
            update.kpi_id = Set(kpi_id.map(Into::into));
        }
        if let Some(grade) = changes.manual_grade {
            update.manual_grade = Set(grade.map(|grade| grade.get().normalize().to_string()));
        }
        if let Some(note) = changes.grade_note {
            update.grade_note = Set(note.map(Description::into_inner));
        }
        if let Some(key) = changes.external_key {
            update.external_key = Set(key.map(ExternalKey::into_inner));
        }
        if changes_nothing(&before, &update) {
            tx.commit(self).await?;
            return convert::key_result(before);
        }
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "updateKeyResult",
            "KeyResult",
            row.id,
            Some(&before),
            Some(&row),
        );

        if new_ratio != old_ratio {
            let scope = rollup::key_result_scope(&row, &objective);
            tx.emit(NewEvent {
                payload: EventPayload::KeyResultProgressChanged {
                    key_result_id: row.id.into(),
                    old_value: current.current_value.get(),
                    new_value: current_value.get(),
                    old_progress: old_ratio,
                    new_progress: new_ratio,
                    old_status: rollup::pace(&tx, timing, old_ratio),
                    new_status: rollup::pace(&tx, timing, new_ratio),
                },
                scope,
            });
        }
        let row = follow_kpi(&mut tx, row, &objective, timing).await?;
        rollup::roll_up(&mut tx, objective.id.into()).await?;
        tx.commit(self).await?;
        convert::key_result(row)
    }

    /// Archives a key result; it leaves its objective's rollup and takes no more check-ins.
    pub async fn archive_key_result(
        &self,
        actor: Actor,
        key_result_id: KeyResultId,
        expected_version: Option<i32>,
    ) -> Result<KeyResult, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        let row =
            writable_key_result(&tx.db, organization_id, key_result_id.as_uuid(), "id").await?;
        check_version(expected_version, row.version)?;
        let objective =
            scoped::find_one::<objective::Entity, _>(&tx.db, organization_id, row.objective_id)
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt("a key result's objective is missing".to_owned())
                })?;
        if objective.state != ObjectiveState::Archived.as_str() {
            ensure_cycle_open(&tx.db, organization_id, objective.cycle_id, "id").await?;
        }
        tx.emit(NewEvent {
            payload: EventPayload::StateChanged {
                record: RecordKind::KeyResult,
                record_id: row.id,
                old_state: "ACTIVE".to_owned(),
                new_state: "ARCHIVED".to_owned(),
            },
            scope: rollup::key_result_scope(&row, &objective),
        });
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        update.archived_at = Set(Some(tx.now));
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "archiveKeyResult",
            "KeyResult",
            row.id,
            Some(&before),
            Some(&row),
        );
        rollup::roll_up(&mut tx, objective.id.into()).await?;
        tx.commit(self).await?;
        convert::key_result(row)
    }

    pub async fn key_results_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[KeyResultId],
    ) -> Result<Vec<KeyResult>, StoreError> {
        let rows = scoped::find_many::<key_result::Entity, _>(
            &self.db,
            organization_id,
            ids.iter().map(|id| id.as_uuid()),
        )
        .await?;
        convert::all(rows, convert::key_result)
    }

    /// The key results of each of `objective_ids`, in creation order; archived ones only
    /// when `include_archived`.
    pub async fn key_results_of_objectives(
        &self,
        organization_id: OrganizationId,
        objective_ids: &[ObjectiveId],
        include_archived: bool,
    ) -> Result<Vec<KeyResult>, StoreError> {
        let mut select = key_result::Entity::find_in(organization_id).filter(
            key_result::Column::ObjectiveId.is_in(objective_ids.iter().map(|id| id.as_uuid())),
        );
        if !include_archived {
            select = select.filter(key_result::Column::ArchivedAt.is_null());
        }
        let rows = select
            .order_by_asc(key_result::Column::Id)
            .all(&self.db)
            .await?;
        convert::all(rows, convert::key_result)
    }

    /// The unarchived key results that follow each of `kpi_ids`.
    pub async fn key_results_of_kpis(
        &self,
        organization_id: OrganizationId,
        kpi_ids: &[KpiId],
    ) -> Result<Vec<KeyResult>, StoreError> {
        let rows = key_result::Entity::find_in(organization_id)
            .filter(key_result::Column::KpiId.is_in(kpi_ids.iter().map(|id| id.as_uuid())))
            .filter(key_result::Column::ArchivedAt.is_null())
            .order_by_asc(key_result::Column::Id)
            .all(&self.db)
            .await?;
        convert::all(rows, convert::key_result)
    }

    /// Key results of the organization in creation order, optionally of one owner.
    pub async fn key_results_page(
        &self,
        organization_id: OrganizationId,
        owner_id: Option<UserId>,
        request: PageRequest,
    ) -> Result<Page<KeyResult>, StoreError> {
        let mut select = key_result::Entity::find_in(organization_id)
            .filter(key_result::Column::ArchivedAt.is_null());
        if let Some(owner_id) = owner_id {
            select = select.filter(key_result::Column::OwnerId.eq(owner_id.as_uuid()));
        }
        page::paginate(
            &self.db,
            select,
            SortKey::Id(key_result::Column::Id),
            request,
        )
        .await?
        .try_map(convert::key_result)
    }
}
