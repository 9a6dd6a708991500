//! Objectives: alignment, limits, and the rollup of their progress.

use crate::convert;
use crate::cycles::active_cycle;
use crate::entities::objective;
use crate::error::{StoreError, check_version};
use crate::page::{self, Page, PageRequest, SortKey};
use crate::rollup::{self, objective_scope};
use crate::scoped::{self, OrganizationScoped};
use crate::teams::{active_team, ensure_member};
use crate::tx::{WriteTx, changes_nothing};
use crate::{Actor, Store};
use headway_domain::alignment::{self, MAX_DEPTH};
use headway_domain::events::{EventPayload, NewEvent, RecordKind};
use headway_domain::ids::{CycleId, ObjectiveId, OrganizationId, TeamId, UserId};
use headway_domain::model::{CycleState, Objective, ObjectiveKind, ObjectiveState, ProgressSource};
use headway_domain::rules::{self, LimitKind};
use headway_domain::values::{Description, Title, Weight};
use headway_domain::{ErrorCode, ValidationError};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct NewObjective {
    pub cycle_id: CycleId,
    pub team_id: Option<TeamId>,
    pub owner_id: Option<UserId>,
    pub parent_id: Option<ObjectiveId>,
    pub title: Title,
    pub description: Option<Description>,
    pub kind: ObjectiveKind,
    /// DRAFT or ACTIVE.
    pub state: ObjectiveState,
    pub progress_source: ProgressSource,
    pub weight: Weight,
}

/// Changes to an objective; an outer `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct ObjectiveChanges {
    pub expected_version: Option<i32>,
    pub title: Option<Title>,
    pub description: Option<Option<Description>>,
    pub team_id: Option<Option<TeamId>>,
    pub owner_id: Option<Option<UserId>>,
    pub parent_id: Option<Option<ObjectiveId>>,
    pub kind: Option<ObjectiveKind>,
    pub state: Option<ObjectiveState>,
    pub progress_source: Option<ProgressSource>,
    pub weight: Option<Weight>,
}

/// Which objectives a list returns. Archived objectives appear only when asked for by state
/// or with `include_archived`.
#[derive(Clone, Debug, Default)]
pub struct ObjectiveFilter {
    pub cycle_id: Option<CycleId>,
    pub team_id: Option<TeamId>,
    pub owner_id: Option<UserId>,
    pub state: Option<ObjectiveState>,
    /// `Some(None)` selects objectives without a parent.
    pub parent_id: Option<Option<ObjectiveId>>,
    pub include_archived: bool,
}

/// A written objective with the warnings of limits it exceeds.
#[derive(Clone, Debug)]
pub struct ObjectiveOutcome {
    pub objective: Objective,
    pub warnings: Vec<ValidationError>,
}

/// The ancestors of the objective `start`, nearest first, not counting `start` itself.
pub(crate) async fn objective_ancestors<C: ConnectionTrait>(
    db: &C,
    organization_id: OrganizationId,
    start: Uuid,
) -> Result<Vec<ObjectiveId>, StoreError> {
    let mut chain = Vec::new();
    let mut next = scoped::find_one::<objective::Entity, _>(db, organization_id, start)
        .await?
        .and_then(|row| row.parent_id);
    while let Some(id) = next {
        if chain.len() > MAX_DEPTH || chain.contains(&ObjectiveId::from(id)) {
            break;
        }
        chain.push(ObjectiveId::from(id));
        next = scoped::find_one::<objective::Entity, _>(db, organization_id, id)
            .await?
            .and_then(|row| row.parent_id);
    }
    Ok(chain)
}

/// Loads an objective for a write. Errors name `field`.
pub(crate) async fn writable_objective<C: ConnectionTrait>(
    db: &C,
    organization_id: OrganizationId,
    objective_id: Uuid,
    field: &str,
) -> Result<objective::Model, StoreError> {
    let row = scoped::find_one::<objective::Entity, _>(db, organization_id, objective_id)
        .await?
        .ok_or_else(|| StoreError::not_found(field, "objective"))?;
    if row.state == ObjectiveState::Archived.as_str() {
        return Err(
            ValidationError::new(field, ErrorCode::Archived, "the objective is archived").into(),
        );
    }
    Ok(row)
}

/// Rejects changes to the plans of a closed cycle. Errors name `field`.
pub(crate) async fn ensure_cycle_open<C: ConnectionTrait>(
    db: &C,
    organization_id: OrganizationId,
    cycle_id: Uuid,
    field: &str,
) -> Result<(), StoreError> {
    let cycle = active_cycle(db, organization_id, cycle_id, field).await?;
    if cycle.state == CycleState::Closed.as_str() {
        return Err(ValidationError::new(
            field,
            ErrorCode::CycleClosed,
            "the cycle is closed, so its objectives and key results are frozen; an admin can reopen it",
        )
        .into());
    }
    Ok(())
}

async fn validate_objective_parent(
    tx: &WriteTx,
    objective: Option<ObjectiveId>,
    parent_id: ObjectiveId,
) -> Result<(), StoreError> {
    let parent = writable_objective(
        &tx.db,
        tx.organization_id(),
        parent_id.as_uuid(),
        "parentId",
    )
    .await?;
    let ancestors = objective_ancestors(&tx.db, tx.organization_id(), parent.id).await?;
    alignment::validate_parent("parentId", objective, parent_id, &ancestors)?;
    Ok(())
}

/// Counts the owner's objectives in a cycle and checks the organization's limit.
pub(crate) async fn check_objective_limit(
    tx: &WriteTx,
    owner_id: UserId,
    cycle_id: Uuid,
    except: Option<Uuid>,
) -> Result<Option<ValidationError>, StoreError> {
    let mut select = objective::Entity::find_in(tx.organization_id())
        .filter(objective::Column::OwnerId.eq(owner_id.as_uuid()))
        .filter(objective::Column::CycleId.eq(cycle_id))
        .filter(objective::Column::State.ne(ObjectiveState::Archived.as_str()));
    if let Some(except) = except {
        select = select.filter(objective::Column::Id.ne(except));
    }
    let count = select.count(&tx.db).await?;
    let settings = tx.organization.settings;
    Ok(rules::check_count_limit(
        LimitKind::ObjectivesPerOwnerPerCycle,
        count + 1,
        settings.objective_limit,
        settings.enforce_limits,
    )?)
}

impl Store {
    pub async fn create_objective(
        &self,
        actor: Actor,
        input: NewObjective,
    ) -> Result<ObjectiveOutcome, StoreError> {
        if !matches!(input.state, ObjectiveState::Draft | ObjectiveState::Active) {
            return Err(ValidationError::new(
                "state",
                ErrorCode::Invalid,
                "a new objective starts DRAFT or ACTIVE",
            )
            .into());
        }
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        ensure_cycle_open(&tx.db, organization_id, input.cycle_id.as_uuid(), "cycleId").await?;
        if let Some(team_id) = input.team_id {
            active_team(&tx.db, organization_id, team_id, "teamId").await?;
        }
        let mut warnings = Vec::new();
        if let Some(owner_id) = input.owner_id {
            ensure_member(&tx.db, organization_id, owner_id, "ownerId").await?;
            warnings.extend(
                check_objective_limit(&tx, owner_id, input.cycle_id.as_uuid(), None).await?,
            );
        }
        if let Some(parent_id) = input.parent_id {
            validate_objective_parent(&tx, None, parent_id).await?;
        }
        let row = objective::ActiveModel {
            id: Set(ObjectiveId::generate().as_uuid()),
            organization_id: Set(organization_id.as_uuid()),
            cycle_id: Set(input.cycle_id.as_uuid()),
            team_id: Set(input.team_id.map(Into::into)),
            owner_id: Set(input.owner_id.map(Into::into)),
            parent_id: Set(input.parent_id.map(Into::into)),
            title: Set(input.title.into_inner()),
            description: Set(input.description.map(Description::into_inner)),
            kind: Set(input.kind.as_str().to_owned()),
            state: Set(input.state.as_str().to_owned()),
            progress_source: Set(input.progress_source.as_str().to_owned()),
            weight: Set(input.weight.get().to_string()),
            progress: Set("0".to_owned()),
            milestones: Set(0),
            score: Set(None),
            version: Set(1),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            copied_from_id: Set(None),
        }
        .insert(&tx.db)
        .await?;
        tx.audit_row("createObjective", "Objective", row.id, None, Some(&row));
        if let Some(parent_id) = input.parent_id {
            rollup::roll_up(&mut tx, parent_id).await?;
        }
        tx.commit(self).await?;
        Ok(ObjectiveOutcome {
            objective: convert::objective(row)?,
            warnings,
        })
    }

    pub async fn update_objective(
        &self,
        actor: Actor,
        objective_id: ObjectiveId,
        changes: ObjectiveChanges,
    ) -> Result<ObjectiveOutcome, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        let row = writable_objective(&tx.db, organization_id, objective_id.as_uuid(), "id").await?;
        check_version(changes.expected_version, row.version)?;
        ensure_cycle_open(&tx.db, organization_id, row.cycle_id, "id").await?;
        let old_state = ObjectiveState::from_name(&row.state).ok_or_else(|| {
            StoreError::Corrupt(format!("objectives.state holds \"{}\"", row.state))
        })?;
        if let Some(state) = changes.state
            && state != old_state
        {
            if state == ObjectiveState::Archived {
                return Err(ValidationError::new(
                    "state",
                    ErrorCode::Invalid,
                    "use archiveObjective to archive an objective",
                )
                .into());
            }
            if !old_state.can_become(state) {
                return Err(ValidationError::new(
                    "state",
                    ErrorCode::InvalidTransition,
                    format!(
                        "a {} objective cannot become {}; set state ACTIVE first, then {}",
                        old_state.as_str(),
                        state.as_str(),
                        state.as_str()
                    ),
                )
                .into());
            }
        }
        if let Some(Some(team_id)) = changes.team_id {
            active_team(&tx.db, organization_id, team_id, "teamId").await?;
        }
        let mut warnings = Vec::new();
        if let Some(Some(owner_id)) = changes.owner_id
            && row.owner_id != Some(owner_id.as_uuid())
        {
            ensure_member(&tx.db, organization_id, owner_id, "ownerId").await?;
            warnings
                .extend(check_objective_limit(&tx, owner_id, row.cycle_id, Some(row.id)).await?);
        }
        if let Some(Some(parent_id)) = changes.parent_id {
            validate_objective_parent(&tx, Some(objective_id), parent_id).await?;
        }

        let old_parent = row.parent_id;
        let version = row.version;
        let scope = objective_scope(&row);
        let before = row.clone();
        let mut update = row.into_active_model();
        if let Some(title) = changes.title {
            update.title = Set(title.into_inner());
        }
        if let Some(description) = changes.description {
            update.description = Set(description.map(Description::into_inner));
        }
        if let Some(team_id) = changes.team_id {
            update.team_id = Set(team_id.map(Into::into));
        }
        if let Some(owner_id) = changes.owner_id {
            update.owner_id = Set(owner_id.map(Into::into));
        }
        if let Some(parent_id) = changes.parent_id {
            update.parent_id = Set(parent_id.map(Into::into));
        }
        if let Some(kind) = changes.kind {
            update.kind = Set(kind.as_str().to_owned());
        }
        if let Some(state) = changes.state {
            update.state = Set(state.as_str().to_owned());
        }
        if let Some(source) = changes.progress_source {
            update.progress_source = Set(source.as_str().to_owned());
        }
        if let Some(weight) = changes.weight {
            update.weight = Set(weight.get().to_string());
        }
        if changes_nothing(&before, &update) {
            tx.commit(self).await?;
            return Ok(ObjectiveOutcome {
                objective: convert::objective(before)?,
                warnings,
            });
        }
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "updateObjective",
            "Objective",
            row.id,
            Some(&before),
            Some(&row),
        );

        if let Some(state) = changes.state
            && state != old_state
        {
            tx.emit(NewEvent {
                payload: EventPayload::StateChanged {
                    record: RecordKind::Objective,
                    record_id: row.id,
                    old_state: old_state.as_str().to_owned(),
                    new_state: state.as_str().to_owned(),
                },
                scope,
            });
        }
        // The objective's own inputs may have changed (progress source), and so may its place
        // in the parent's rollup (parent, weight, state); recompute both chains.
        rollup::roll_up(&mut tx, objective_id).await?;
        if let Some(old_parent) = old_parent
            && row.parent_id != Some(old_parent)
        {
            rollup::roll_up(&mut tx, old_parent.into()).await?;
        }
        let row = scoped::find_one::<objective::Entity, _>(&tx.db, organization_id, row.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("an updated objective vanished".to_owned()))?;
        tx.commit(self).await?;
        Ok(ObjectiveOutcome {
            objective: convert::objective(row)?,
            warnings,
        })
    }

    /// Archives an objective; it leaves its parent's rollup. Archiving is final.
    pub async fn archive_objective(
        &self,
        actor: Actor,
        objective_id: ObjectiveId,
        expected_version: Option<i32>,
    ) -> Result<Objective, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        let row = writable_objective(&tx.db, organization_id, objective_id.as_uuid(), "id").await?;
        check_version(expected_version, row.version)?;
        ensure_cycle_open(&tx.db, organization_id, row.cycle_id, "id").await?;
        tx.emit(NewEvent {
            payload: EventPayload::StateChanged {
                record: RecordKind::Objective,
                record_id: row.id,
                old_state: row.state.clone(),
                new_state: ObjectiveState::Archived.as_str().to_owned(),
            },
            scope: objective_scope(&row),
        });
        let parent = row.parent_id;
        let version = row.version;
        let before = row.clone();
        let mut update = row.into_active_model();
        update.state = Set(ObjectiveState::Archived.as_str().to_owned());
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "archiveObjective",
            "Objective",
            row.id,
            Some(&before),
            Some(&row),
        );
        if let Some(parent) = parent {
            rollup::roll_up(&mut tx, parent.into()).await?;
        }
        tx.commit(self).await?;
        convert::objective(row)
    }

    pub async fn objectives_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[ObjectiveId],
    ) -> Result<Vec<Objective>, StoreError> {
        let rows = scoped::find_many::<objective::Entity, _>(
            &self.db,
            organization_id,
            ids.iter().map(|id| id.as_uuid()),
        )
        .await?;
        convert::all(rows, convert::objective)
    }

    fn objectives_select(
        organization_id: OrganizationId,
        filter: &ObjectiveFilter,
    ) -> sea_orm::Select<objective::Entity> {
        let mut select = objective::Entity::find_in(organization_id);
        if let Some(cycle_id) = filter.cycle_id {
            select = select.filter(objective::Column::CycleId.eq(cycle_id.as_uuid()));
        }
        if let Some(team_id) = filter.team_id {
            select = select.filter(objective::Column::TeamId.eq(team_id.as_uuid()));
        }
        if let Some(owner_id) = filter.owner_id {
            select = select.filter(objective::Column::OwnerId.eq(owner_id.as_uuid()));
        }
        match filter.parent_id {
            Some(Some(parent_id)) => {
                select = select.filter(objective::Column::ParentId.eq(parent_id.as_uuid()));
            }
            Some(None) => select = select.filter(objective::Column::ParentId.is_null()),
            None => {}
        }
        match filter.state {
            Some(state) => select = select.filter(objective::Column::State.eq(state.as_str())),
            None if !filter.include_archived => {
                select =
                    select.filter(objective::Column::State.ne(ObjectiveState::Archived.as_str()));
            }
            None => {}
        }
        select
    }

    pub async fn objectives_page(
        &self,
        organization_id: OrganizationId,
        filter: &ObjectiveFilter,
        request: PageRequest,
    ) -> Result<Page<Objective>, StoreError> {
        let select = Self::objectives_select(organization_id, filter);
        page::paginate(
            &self.db,
            select,
            SortKey::Id(objective::Column::Id),
            request,
        )
        .await?
        .try_map(convert::objective)
    }

    pub async fn count_objectives(
        &self,
        organization_id: OrganizationId,
        filter: &ObjectiveFilter,
    ) -> Result<u64, StoreError> {
        page::count(&self.db, Self::objectives_select(organization_id, filter)).await
    }

    /// The unarchived child objectives of each of `parent_ids`.
    pub async fn child_objectives(
        &self,
        organization_id: OrganizationId,
        parent_ids: &[ObjectiveId],
    ) -> Result<Vec<Objective>, StoreError> {
        let rows = objective::Entity::find_in(organization_id)
            .filter(objective::Column::ParentId.is_in(parent_ids.iter().map(|id| id.as_uuid())))
            .filter(objective::Column::State.ne(ObjectiveState::Archived.as_str()))
            .order_by_asc(objective::Column::Id)
            .all(&self.db)
            .await?;
        convert::all(rows, convert::objective)
    }

    /// The objectives above `objective_id`, nearest first.
    pub async fn objective_ancestors(
        &self,
        organization_id: OrganizationId,
        objective_id: ObjectiveId,
    ) -> Result<Vec<Objective>, StoreError> {
        let ids = objective_ancestors(&self.db, organization_id, objective_id.as_uuid()).await?;
        let mut rows = self.objectives_by_ids(organization_id, &ids).await?;
        rows.sort_by_key(|row| ids.iter().position(|id| *id == row.id));
        Ok(rows)
    }
}
