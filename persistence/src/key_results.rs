//! Key results: their measure, weight and optional KPI link.

use crate::check_ins::{self, CheckInRecord};
use crate::convert;
use crate::entities::{check_in, key_result, kpi, kpi_measurement, objective};
use crate::error::{StoreError, check_version};
use crate::objectives::{ensure_cycle_open, writable_objective};
use crate::page::{self, Page, PageRequest, SortKey};
use crate::rollup::{self, CycleTiming};
use crate::scoped::{self, OrganizationScoped};
use crate::teams::ensure_member;
use crate::tx::WriteTx;
use crate::{Actor, Store};
use headway_domain::events::{EventPayload, NewEvent, RecordKind};
use headway_domain::ids::{KeyResultId, KpiId, ObjectiveId, OrganizationId, UserId};
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
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder,
};
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

/// Brings a KPI-linked key result to the KPI's latest measurement within the key result's
/// cycle, recording it as a check-in with source KPI when it is newer than the current value.
pub(crate) async fn follow_kpi(
    tx: &mut WriteTx,
    row: key_result::Model,
    objective: &objective::Model,
    timing: CycleTiming,
) -> Result<key_result::Model, StoreError> {
    let Some(kpi_id) = row.kpi_id else {
        return Ok(row);
    };
    let latest = kpi_measurement::Entity::find_in(tx.organization_id())
        .filter(kpi_measurement::Column::KpiId.eq(kpi_id))
        .filter(kpi_measurement::Column::ObservedAt.gte(timing.window.start))
        .filter(kpi_measurement::Column::ObservedAt.lt(timing.window.end))
        .order_by_desc(kpi_measurement::Column::ObservedAt)
        .one(&tx.db)
        .await?;
    let Some(latest) = latest else {
        return Ok(row);
    };
    if !progress::becomes_current(latest.observed_at, row.current_observed_at) {
        return Ok(row);
    }
    let current_source = match row.current_check_in_id {
        Some(id) => scoped::find_one::<check_in::Entity, _>(&tx.db, tx.organization_id(), id)
            .await?
            .map(|check_in| (check_in.observed_at, check_in.value, check_in.source)),
        None => None,
    };
    let already_applied = current_source.is_some_and(|(observed_at, value, source)| {
        observed_at == latest.observed_at && value == latest.value && source == Source::Kpi.as_str()
    });
    if already_applied {
        return Ok(row);
    }
    let value = MetricValue::new(convert::decimal(
        "kpi_measurements",
        "value",
        &latest.value,
    )?)
    .map_err(|_| {
        StoreError::Corrupt(format!("kpi_measurements.value holds \"{}\"", latest.value))
    })?;
    let record = CheckInRecord {
        value,
        confidence: None,
        comment: None,
        observed_at: latest.observed_at,
        source: Source::Kpi,
        author_id: None,
        api_token_id: None,
    };
    let (_, row) = check_ins::record(tx, row, objective, timing, record).await?;
    Ok(row)
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
