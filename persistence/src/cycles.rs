//! Cycles: time boxes with a life cycle, nesting, and scoring at close.

use crate::convert;
use crate::entities::{cycle, key_result, objective};
use crate::error::{StoreError, check_version};
use crate::page::{self, Page, PageRequest, SortKey};
use crate::scoped::{self, OrganizationScoped};
use crate::tx::{WriteTx, changes_nothing};
use crate::{Actor, Store};
use chrono::NaiveDate;
use headway_domain::events::{EventPayload, EventScope, NewEvent, RecordKind};
use headway_domain::ids::{CycleId, OrganizationId};
use headway_domain::model::{Cycle, CycleState, CycleTransition, ObjectiveState, ProgressSource};
use headway_domain::progress::{self, RollupInput};
use headway_domain::values::{Name, Weight};
use headway_domain::{ErrorCode, ValidationError, alignment};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct NewCycle {
    pub name: Name,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub parent_id: Option<CycleId>,
    /// PLANNED or ACTIVE; a cycle cannot be created closed.
    pub state: CycleState,
}

/// Changes to a cycle; an outer `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct CycleChanges {
    pub expected_version: Option<i32>,
    pub name: Option<Name>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub parent_id: Option<Option<CycleId>>,
}

/// The parents of the cycle `parent_id`, nearest first.
async fn cycle_ancestors<C: ConnectionTrait>(
    db: &C,
    organization_id: OrganizationId,
    parent_id: Uuid,
) -> Result<Vec<CycleId>, StoreError> {
    let mut chain = Vec::new();
    let mut next = scoped::find_one::<cycle::Entity, _>(db, organization_id, parent_id)
        .await?
        .and_then(|row| row.parent_id);
    while let Some(id) = next {
        if chain.len() > alignment::MAX_DEPTH || chain.contains(&CycleId::from(id)) {
            break;
        }
        chain.push(CycleId::from(id));
        next = scoped::find_one::<cycle::Entity, _>(db, organization_id, id)
            .await?
            .and_then(|row| row.parent_id);
    }
    Ok(chain)
}

/// Loads an unarchived cycle for a write. Errors name `field`.
pub(crate) async fn active_cycle<C: ConnectionTrait>(
    db: &C,
    organization_id: OrganizationId,
    cycle_id: Uuid,
    field: &str,
) -> Result<cycle::Model, StoreError> {
    let row = scoped::find_one::<cycle::Entity, _>(db, organization_id, cycle_id)
        .await?
        .ok_or_else(|| StoreError::not_found(field, "cycle"))?;
    if row.archived_at.is_some() {
        return Err(
            ValidationError::new(field, ErrorCode::Archived, "the cycle is archived").into(),
        );
    }
    Ok(row)
}

/// Checks dates and the parent of a cycle that is created (`cycle` is `None`) or changed.
async fn validate_cycle(
    tx: &WriteTx,
    cycle: Option<Uuid>,
    start_date: NaiveDate,
    end_date: NaiveDate,
    parent_id: Option<CycleId>,
) -> Result<(), StoreError> {
    let parent = match parent_id {
        Some(parent_id) => {
            let parent = active_cycle(
                &tx.db,
                tx.organization_id(),
                parent_id.as_uuid(),
                "parentId",
            )
            .await?;
            let ancestors = cycle_ancestors(&tx.db, tx.organization_id(), parent.id).await?;
            alignment::validate_parent(
                "parentId",
                cycle.map(CycleId::from),
                parent_id,
                &ancestors,
            )?;
            Some((parent.start_date, parent.end_date))
        }
        None => None,
    };
    progress::validate_cycle_dates(start_date, end_date, parent)?;
    if let Some(cycle) = cycle {
        let children = cycle::Entity::find_in(tx.organization_id())
            .filter(cycle::Column::ParentId.eq(cycle))
            .filter(cycle::Column::ArchivedAt.is_null())
            .all(&tx.db)
            .await?;
        if let Some(child) = children
            .iter()
            .find(|child| child.start_date < start_date || child.end_date > end_date)
        {
            return Err(ValidationError::new(
                if child.start_date < start_date {
                    "startDate"
                } else {
                    "endDate"
                },
                ErrorCode::Invalid,
                format!(
                    "the child cycle \"{}\" runs from {} to {}, outside {start_date} to {end_date}",
                    child.name, child.start_date, child.end_date
                ),
            )
            .into());
        }
    }
    Ok(())
}

fn cycle_scope(row: &cycle::Model) -> EventScope {
    EventScope {
        cycle_id: Some(row.id.into()),
        ..EventScope::default()
    }
}

impl Store {
    pub async fn create_cycle(&self, actor: Actor, input: NewCycle) -> Result<Cycle, StoreError> {
        if input.state == CycleState::Closed {
            return Err(ValidationError::new(
                "state",
                ErrorCode::Invalid,
                "a cycle starts PLANNED or ACTIVE; close it once it is over",
            )
            .into());
        }
        let mut tx = WriteTx::begin(self, actor).await?;
        validate_cycle(&tx, None, input.start_date, input.end_date, input.parent_id).await?;
        let row = cycle::ActiveModel {
            id: Set(CycleId::generate().as_uuid()),
            organization_id: Set(actor.organization_id.as_uuid()),
            name: Set(input.name.into_inner()),
            start_date: Set(input.start_date),
            end_date: Set(input.end_date),
            parent_id: Set(input.parent_id.map(Into::into)),
            state: Set(input.state.as_str().to_owned()),
            version: Set(1),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            archived_at: Set(None),
        }
        .insert(&tx.db)
        .await?;
        tx.audit_row("createCycle", "Cycle", row.id, None, Some(&row));
        tx.commit(self).await?;
        convert::cycle(row)
    }

    pub async fn update_cycle(
        &self,
        actor: Actor,
        cycle_id: CycleId,
        changes: CycleChanges,
    ) -> Result<Cycle, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = active_cycle(&tx.db, actor.organization_id, cycle_id.as_uuid(), "id").await?;
        check_version(changes.expected_version, row.version)?;
        let start_date = changes.start_date.unwrap_or(row.start_date);
        let end_date = changes.end_date.unwrap_or(row.end_date);
        let parent_id = changes
            .parent_id
            .unwrap_or(row.parent_id.map(CycleId::from));
        validate_cycle(&tx, Some(row.id), start_date, end_date, parent_id).await?;
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        if let Some(name) = changes.name {
            update.name = Set(name.into_inner());
        }
        update.start_date = Set(start_date);
        update.end_date = Set(end_date);
        update.parent_id = Set(parent_id.map(Into::into));
        if changes_nothing(&before, &update) {
            tx.commit(self).await?;
            return convert::cycle(before);
        }
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row("updateCycle", "Cycle", row.id, Some(&before), Some(&row));
        tx.commit(self).await?;
        convert::cycle(row)
    }

    /// Archives a cycle that holds no objectives other than archived ones.
    pub async fn archive_cycle(
        &self,
        actor: Actor,
        cycle_id: CycleId,
        expected_version: Option<i32>,
    ) -> Result<Cycle, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = active_cycle(&tx.db, actor.organization_id, cycle_id.as_uuid(), "id").await?;
        check_version(expected_version, row.version)?;
        let live_objective = objective::Entity::find_in(actor.organization_id)
            .filter(objective::Column::CycleId.eq(row.id))
            .filter(objective::Column::State.ne(ObjectiveState::Archived.as_str()))
            .one(&tx.db)
            .await?;
        if live_objective.is_some() {
            return Err(ValidationError::new(
                "id",
                ErrorCode::Invalid,
                "the cycle still has objectives; archive or move them first",
            )
            .into());
        }
        let live_child = cycle::Entity::find_in(actor.organization_id)
            .filter(cycle::Column::ParentId.eq(row.id))
            .filter(cycle::Column::ArchivedAt.is_null())
            .one(&tx.db)
            .await?;
        if live_child.is_some() {
            return Err(ValidationError::new(
                "id",
                ErrorCode::Invalid,
                "the cycle has child cycles; archive them first",
            )
            .into());
        }
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        update.archived_at = Set(Some(tx.now));
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row("archiveCycle", "Cycle", row.id, Some(&before), Some(&row));
        tx.commit(self).await?;
        convert::cycle(row)
    }

    /// Applies a state transition. Closing freezes every score of the cycle's objectives and
    /// key results; reopening clears them again.
    pub async fn change_cycle_state(
        &self,
        actor: Actor,
        cycle_id: CycleId,
        transition: CycleTransition,
        expected_version: Option<i32>,
    ) -> Result<Cycle, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let row = active_cycle(&tx.db, actor.organization_id, cycle_id.as_uuid(), "id").await?;
        check_version(expected_version, row.version)?;
        let current = CycleState::from_name(&row.state)
            .ok_or_else(|| StoreError::Corrupt(format!("cycles.state holds \"{}\"", row.state)))?;
        let state = transition.apply(current)?;
        match transition {
            CycleTransition::Close => freeze_scores(&tx, row.id).await?,
            CycleTransition::Reopen => clear_scores(&tx, row.id).await?,
            CycleTransition::Activate => {}
        }
        tx.emit(NewEvent {
            payload: EventPayload::StateChanged {
                record: RecordKind::Cycle,
                record_id: row.id,
                old_state: current.as_str().to_owned(),
                new_state: state.as_str().to_owned(),
            },
            scope: cycle_scope(&row),
        });
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        update.state = Set(state.as_str().to_owned());
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            transition.action(),
            "Cycle",
            row.id,
            Some(&before),
            Some(&row),
        );
        tx.commit(self).await?;
        convert::cycle(row)
    }

    pub async fn cycles_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[CycleId],
    ) -> Result<Vec<Cycle>, StoreError> {
        let rows = scoped::find_many::<cycle::Entity, _>(
            &self.db,
            organization_id,
            ids.iter().map(|id| id.as_uuid()),
        )
        .await?;
        convert::all(rows, convert::cycle)
    }

    fn cycles_select(
        organization_id: OrganizationId,
        state: Option<CycleState>,
        parent: Option<Option<CycleId>>,
        include_archived: bool,
    ) -> sea_orm::Select<cycle::Entity> {
        let mut select = cycle::Entity::find_in(organization_id);
        if let Some(state) = state {
            select = select.filter(cycle::Column::State.eq(state.as_str()));
        }
        match parent {
            Some(Some(parent_id)) => {
                select = select.filter(cycle::Column::ParentId.eq(parent_id.as_uuid()))
            }
            Some(None) => select = select.filter(cycle::Column::ParentId.is_null()),
            None => {}
        }
        if !include_archived {
            select = select.filter(cycle::Column::ArchivedAt.is_null());
        }
        select
    }

    pub async fn cycles_page(
        &self,
        organization_id: OrganizationId,
        state: Option<CycleState>,
        parent: Option<Option<CycleId>>,
        include_archived: bool,
        request: PageRequest,
    ) -> Result<Page<Cycle>, StoreError> {
        let select = Self::cycles_select(organization_id, state, parent, include_archived);
        page::paginate(&self.db, select, SortKey::Id(cycle::Column::Id), request)
            .await?
            .try_map(convert::cycle)
    }

    pub async fn count_cycles(
        &self,
        organization_id: OrganizationId,
        state: Option<CycleState>,
        parent: Option<Option<CycleId>>,
        include_archived: bool,
    ) -> Result<u64, StoreError> {
        page::count(
            &self.db,
            Self::cycles_select(organization_id, state, parent, include_archived),
        )
        .await
    }

    /// Every cycle of the organization, archived ones included.
    pub async fn cycles_of_organization(
        &self,
        organization_id: OrganizationId,
    ) -> Result<Vec<Cycle>, StoreError> {
        let rows = cycle::Entity::find_in(organization_id)
            .all(&self.db)
            .await?;
        convert::all(rows, convert::cycle)
    }

    /// The unarchived child cycles of each of `parent_ids`, by start date.
    pub async fn child_cycles(
        &self,
        organization_id: OrganizationId,
        parent_ids: &[CycleId],
    ) -> Result<Vec<Cycle>, StoreError> {
        let rows = cycle::Entity::find_in(organization_id)
            .filter(cycle::Column::ParentId.is_in(parent_ids.iter().map(|id| id.as_uuid())))
            .filter(cycle::Column::ArchivedAt.is_null())
            .order_by_asc(cycle::Column::StartDate)
            .all(&self.db)
            .await?;
        convert::all(rows, convert::cycle)
    }
}

/// Computes and stores the score of every key result and objective of a closing cycle.
///
/// A key result scores its manual grade or its clamped progress. An objective scores the
/// weighted average of its inputs' scores; a child objective in another cycle contributes
/// its frozen score, or its progress while its own cycle is open.
async fn freeze_scores(tx: &WriteTx, cycle_id: Uuid) -> Result<(), StoreError> {
    let organization_id = tx.organization_id();
    let objectives = objective::Entity::find_in(organization_id)
        .filter(objective::Column::CycleId.eq(cycle_id))
        .filter(objective::Column::State.ne(ObjectiveState::Archived.as_str()))
        .all(&tx.db)
        .await?;
    let objective_ids: Vec<Uuid> = objectives.iter().map(|row| row.id).collect();
    let children = objective::Entity::find_in(organization_id)
        .filter(objective::Column::ParentId.is_in(objective_ids.clone()))
        .filter(objective::Column::State.is_not_in([
            ObjectiveState::Draft.as_str(),
            ObjectiveState::Archived.as_str(),
        ]))
        .all(&tx.db)
        .await?;
    let key_results = key_result::Entity::find_in(organization_id)
        .filter(key_result::Column::ObjectiveId.is_in(objective_ids))
        .filter(key_result::Column::ArchivedAt.is_null())
        .all(&tx.db)
        .await?;

    let mut key_result_scores: HashMap<Uuid, Vec<(Weight, Decimal)>> = HashMap::new();
    for row in &key_results {
        let key_result = convert::key_result(row.clone())?;
        let score = progress::key_result_score(key_result.progress_ratio, key_result.manual_grade);
        key_result_scores
            .entry(row.objective_id)
            .or_default()
            .push((key_result.weight, score));
        let mut update = row.clone().into_active_model();
        update.score = Set(Some(score.normalize().to_string()));
        update.update(&tx.db).await?;
    }

    let in_cycle: HashMap<Uuid, &objective::Model> =
        objectives.iter().map(|row| (row.id, row)).collect();
    let mut children_of: HashMap<Uuid, Vec<&objective::Model>> = HashMap::new();
    for child in &children {
        if let Some(parent) = child.parent_id {
            children_of.entry(parent).or_default().push(child);
        }
    }
    let mut scores: HashMap<Uuid, Decimal> = HashMap::new();
    for row in &objectives {
        objective_score(
            row.id,
            &in_cycle,
            &children_of,
            &key_result_scores,
            &mut scores,
            0,
        )?;
    }
    for row in objectives {
        let score = scores.get(&row.id).copied().unwrap_or_default();
        let mut update = row.into_active_model();
        update.score = Set(Some(score.normalize().to_string()));
        update.update(&tx.db).await?;
    }
    Ok(())
}

fn objective_score(
    id: Uuid,
    in_cycle: &HashMap<Uuid, &objective::Model>,
    children_of: &HashMap<Uuid, Vec<&objective::Model>>,
    key_result_scores: &HashMap<Uuid, Vec<(Weight, Decimal)>>,
    scores: &mut HashMap<Uuid, Decimal>,
    depth: usize,
) -> Result<Decimal, StoreError> {
    if let Some(score) = scores.get(&id) {
        return Ok(*score);
    }
    let Some(row) = in_cycle.get(&id) else {
        return Ok(Decimal::ZERO);
    };
    let source = ProgressSource::from_name(&row.progress_source).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "objectives.progress_source holds \"{}\"",
            row.progress_source
        ))
    })?;
    let mut inputs = Vec::new();
    if source.uses_key_results() {
        for (weight, score) in key_result_scores.get(&id).into_iter().flatten() {
            inputs.push(RollupInput {
                weight: *weight,
                progress: *score,
            });
        }
    }
    if source.uses_child_objectives() {
        for child in children_of.get(&id).into_iter().flatten() {
            let weight = Weight::new(convert::decimal("objectives", "weight", &child.weight)?)
                .map_err(|_| {
                    StoreError::Corrupt(format!("objectives.weight holds \"{}\"", child.weight))
                })?;
            let child_score = if in_cycle.contains_key(&child.id) && depth < alignment::MAX_DEPTH {
                objective_score(
                    child.id,
                    in_cycle,
                    children_of,
                    key_result_scores,
                    scores,
                    depth + 1,
                )?
            } else {
                match &child.score {
                    Some(score) => convert::decimal("objectives", "score", score)?,
                    None => progress::clamp_unit(convert::decimal(
                        "objectives",
                        "progress",
                        &child.progress,
                    )?),
                }
            };
            inputs.push(RollupInput {
                weight,
                progress: child_score,
            });
        }
    }
    let score = progress::weighted_progress(&inputs);
    scores.insert(id, score);
    Ok(score)
}

/// Clears the frozen scores of a reopened cycle's objectives and key results.
async fn clear_scores(tx: &WriteTx, cycle_id: Uuid) -> Result<(), StoreError> {
    let organization_id = tx.organization_id();
    let objective_ids: Vec<Uuid> = objective::Entity::find_in(organization_id)
        .filter(objective::Column::CycleId.eq(cycle_id))
        .all(&tx.db)
        .await?
        .into_iter()
        .map(|row| row.id)
        .collect();
    objective::Entity::update_many()
        .col_expr(
            objective::Column::Score,
            Expr::value(Option::<String>::None),
        )
        .filter(objective::Column::Id.is_in(objective_ids.clone()))
        .exec(&tx.db)
        .await?;
    key_result::Entity::update_many()
        .col_expr(
            key_result::Column::Score,
            Expr::value(Option::<String>::None),
        )
        .filter(key_result::Column::ObjectiveId.is_in(objective_ids))
        .exec(&tx.db)
        .await?;
    Ok(())
}
