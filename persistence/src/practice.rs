//! The rhythm of OKRs: rolling objectives over into the next cycle, duplicating them,
//! moving key results, the activity feed, and the reads behind the insight queries.

use crate::convert;
use crate::entities::{activity_entry, check_in, cycle, key_result, kpi, objective, team};
use crate::error::{StoreError, check_version};
use crate::key_results::{check_key_result_limit, follow_kpi, writable_key_result};
use crate::objectives::{check_objective_limit, ensure_cycle_open, writable_objective};
use crate::page::{self, Page, PageRequest, SortKey};
use crate::rollup;
use crate::scoped::{self, OrganizationScoped};
use crate::teams::ensure_member;
use crate::tx::WriteTx;
use crate::{Actor, Store};
use chrono::{DateTime, Utc};
use headway_domain::alignment::MAX_DEPTH;
use headway_domain::events::{Event, EventPayload, EventScope};
use headway_domain::ids::{CycleId, KeyResultId, ObjectiveId, OrganizationId, TeamId, UserId};
use headway_domain::model::{
    CheckIn, Cycle, CycleState, KeyResult, Kpi, Objective, ObjectiveState,
};
use headway_domain::progress;
use headway_domain::values::Title;
use headway_domain::{ErrorCode, ValidationError};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, IntoActiveModel, QueryFilter, QueryOrder};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// A request to roll objectives of one cycle over into another.
#[derive(Clone, Debug)]
pub struct Rollover {
    pub source_cycle_id: CycleId,
    pub target_cycle_id: CycleId,
    /// Only these objectives of the source cycle; all of them when `None`.
    pub objective_ids: Option<Vec<ObjectiveId>>,
    /// Whether objectives at full progress (or a score of 1) roll over too.
    pub include_finished: bool,
    /// Whether the copies take over the external keys of the key results they copy.
    pub transfer_external_keys: bool,
}

/// The reason an objective did not roll over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// It reached full progress or a score of 1.
    Finished,
    /// An earlier rollover already copied it into the target cycle.
    AlreadyCopied,
}

/// The copies and skips of a rollover.
#[derive(Clone, Debug)]
pub struct RolloverOutcome {
    /// Each copied objective with its copy, parents before their children.
    pub copies: Vec<(ObjectiveId, Objective)>,
    pub skipped: Vec<(ObjectiveId, SkipReason)>,
    pub key_result_count: usize,
    pub warnings: Vec<ValidationError>,
}

/// The selection of an activity feed; every set field narrows it.
#[derive(Clone, Debug, Default)]
pub struct ActivityFilter {
    pub team_ids: Option<Vec<TeamId>>,
    pub cycle_id: Option<CycleId>,
    pub objective_id: Option<ObjectiveId>,
    pub key_result_id: Option<KeyResultId>,
    /// Event type names such as `CHECK_IN_CREATED`.
    pub event_types: Option<Vec<String>>,
}

/// The differences between a copy and its source.
struct CopyPlan {
    cycle_id: Uuid,
    parent_id: Option<Uuid>,
    title: Option<Title>,
    transfer_external_keys: bool,
    action: &'static str,
}

/// Checks whether the user still belongs to the organization.
async fn is_member(tx: &WriteTx, user_id: Option<Uuid>) -> Result<bool, StoreError> {
    let Some(user_id) = user_id else {
        return Ok(false);
    };
    match ensure_member(
        &tx.db,
        tx.organization_id(),
        UserId::from(user_id),
        "ownerId",
    )
    .await
    {
        Ok(()) => Ok(true),
        Err(StoreError::Rejected(_)) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Checks whether the team exists and is not archived.
async fn is_active_team(tx: &WriteTx, team_id: Option<Uuid>) -> Result<bool, StoreError> {
    let Some(team_id) = team_id else {
        return Ok(false);
    };
    Ok(
        scoped::find_one::<team::Entity, _>(&tx.db, tx.organization_id(), team_id)
            .await?
            .is_some_and(|row| row.archived_at.is_none()),
    )
}

/// Copies an objective and its unarchived key results, without check-ins, as a DRAFT.
/// Owners who left the organization and archived teams are not carried over.
async fn copy_objective(
    tx: &mut WriteTx,
    source: &objective::Model,
    plan: &CopyPlan,
    warnings: &mut Vec<ValidationError>,
) -> Result<(objective::Model, usize), StoreError> {
    let organization_id = tx.organization_id();
    let owner_id = if is_member(tx, source.owner_id).await? {
        source.owner_id
    } else {
        None
    };
    if let Some(owner_id) = owner_id {
        warnings.extend(check_objective_limit(tx, owner_id.into(), plan.cycle_id, None).await?);
    }
    let team_id = if is_active_team(tx, source.team_id).await? {
        source.team_id
    } else {
        None
    };
    let copy = objective::ActiveModel {
        id: Set(ObjectiveId::generate().as_uuid()),
        organization_id: Set(organization_id.as_uuid()),
        cycle_id: Set(plan.cycle_id),
        team_id: Set(team_id),
        owner_id: Set(owner_id),
        parent_id: Set(plan.parent_id),
        title: Set(plan
            .title
            .clone()
            .map_or_else(|| source.title.clone(), Title::into_inner)),
        description: Set(source.description.clone()),
        kind: Set(source.kind.clone()),
        state: Set(ObjectiveState::Draft.as_str().to_owned()),
        progress_source: Set(source.progress_source.clone()),
        weight: Set(source.weight.clone()),
        progress: Set("0".to_owned()),
        milestones: Set(0),
        score: Set(None),
        version: Set(1),
        created_at: Set(tx.now),
        updated_at: Set(tx.now),
        copied_from_id: Set(Some(source.id)),
    }
    .insert(&tx.db)
    .await?;
    tx.audit_row(plan.action, "Objective", copy.id, None, Some(&copy));

    let key_results = key_result::Entity::find_in(organization_id)
        .filter(key_result::Column::ObjectiveId.eq(source.id))
        .filter(key_result::Column::ArchivedAt.is_null())
        .order_by_asc(key_result::Column::Id)
        .all(&tx.db)
        .await?;
    let timing = rollup::cycle_timing(tx, plan.cycle_id).await?;
    let count = key_results.len();
    for row in key_results {
        let measure = convert::key_result(row.clone())?.measure;
        let start = measure.start();
        let ratio = progress::key_result_ratio(&measure, start);
        let external_key = if plan.transfer_external_keys && row.external_key.is_some() {
            // The key is unique, so the source gives it up first.
            let before = row.clone();
            let mut update = row.clone().into_active_model();
            update.external_key = Set(None);
            update.version = Set(row.version + 1);
            update.updated_at = Set(tx.now);
            let after = update.update(&tx.db).await?;
            tx.audit_row(
                plan.action,
                "KeyResult",
                after.id,
                Some(&before),
                Some(&after),
            );
            row.external_key.clone()
        } else {
            None
        };
        let owner_id = if is_member(tx, row.owner_id).await? {
            row.owner_id
        } else {
            None
        };
        let inserted = key_result::ActiveModel {
            id: Set(KeyResultId::generate().as_uuid()),
            organization_id: Set(organization_id.as_uuid()),
            objective_id: Set(copy.id),
            owner_id: Set(owner_id),
            title: Set(row.title.clone()),
            description: Set(row.description.clone()),
            kind: Set(row.kind.clone()),
            unit: Set(row.unit.clone()),
            currency_code: Set(row.currency_code.clone()),
            start_value: Set(row.start_value.clone()),
            target_value: Set(row.target_value.clone()),
            current_value: Set(start.to_string()),
            progress_ratio: Set(ratio.normalize().to_string()),
            weight: Set(row.weight.clone()),
            kpi_id: Set(row.kpi_id),
            manual_grade: Set(None),
            grade_note: Set(None),
            score: Set(None),
            current_check_in_id: Set(None),
            current_observed_at: Set(None),
            latest_confidence: Set(None),
            milestones: Set(i16::from(progress::key_result_milestones_met(ratio).bits())),
            external_key: Set(external_key),
            version: Set(1),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            archived_at: Set(None),
        }
        .insert(&tx.db)
        .await?;
        tx.audit_row(plan.action, "KeyResult", inserted.id, None, Some(&inserted));
        follow_kpi(tx, inserted, &copy, timing).await?;
    }
    rollup::roll_up(tx, copy.id.into()).await?;
    let copy = scoped::find_one::<objective::Entity, _>(&tx.db, organization_id, copy.id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a copied objective is missing".to_owned()))?;
    Ok((copy, count))
}

/// Checks whether an objective reached its goal: full progress, or a frozen score of 1.
fn finished(row: &objective::Model) -> Result<bool, StoreError> {
    let progress = convert::decimal("objectives", "progress", &row.progress)?;
    let score = row
        .score
        .as_deref()
        .map(|score| convert::decimal("objectives", "score", score))
        .transpose()?;
    Ok(progress >= rust_decimal::Decimal::ONE
        || score.is_some_and(|score| score >= rust_decimal::Decimal::ONE))
}

/// Sorts objectives so that each comes after its parent when both are in the list.
fn parents_first(rows: Vec<objective::Model>) -> Vec<objective::Model> {
    let ids: HashSet<Uuid> = rows.iter().map(|row| row.id).collect();
    let parents: HashMap<Uuid, Option<Uuid>> =
        rows.iter().map(|row| (row.id, row.parent_id)).collect();
    let depth = |mut id: Uuid| {
        let mut depth = 0;
        while let Some(Some(parent)) = parents.get(&id) {
            if !ids.contains(parent) || depth > MAX_DEPTH {
                break;
            }
            depth += 1;
            id = *parent;
        }
        depth
    };
    let mut rows: Vec<(usize, objective::Model)> =
        rows.into_iter().map(|row| (depth(row.id), row)).collect();
    rows.sort_by_key(|(depth, row)| (*depth, row.id));
    rows.into_iter().map(|(_, row)| row).collect()
}

fn activity_event(row: activity_entry::Model) -> Result<Event, StoreError> {
    let payload: EventPayload = serde_json::from_str(&row.payload).map_err(|error| {
        StoreError::Corrupt(format!("activity_entries.payload of {}: {error}", row.id))
    })?;
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
            kpi_id: None,
        },
        occurred_at: row.occurred_at,
    })
}

impl Store {
    /// Copies objectives of one cycle into another as drafts, with their key results but no
    /// check-ins. A copy keeps its alignment: to the copy of its parent in the target cycle
    /// when there is one (from this rollover or an earlier one), otherwise to the parent
    /// itself while that is not archived. Objectives already copied into the target cycle
    /// are skipped, so a rollover can run again.
    pub async fn rollover_objectives(
        &self,
        actor: Actor,
        input: Rollover,
    ) -> Result<RolloverOutcome, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        if input.source_cycle_id == input.target_cycle_id {
            return Err(ValidationError::new(
                "targetCycleId",
                ErrorCode::Invalid,
                "is the source cycle; objectives roll over into another cycle",
            )
            .into());
        }
        crate::cycles::active_cycle(
            &tx.db,
            organization_id,
            input.source_cycle_id.as_uuid(),
            "sourceCycleId",
        )
        .await?;
        ensure_cycle_open(
            &tx.db,
            organization_id,
            input.target_cycle_id.as_uuid(),
            "targetCycleId",
        )
        .await?;

        let mut select = objective::Entity::find_in(organization_id)
            .filter(objective::Column::CycleId.eq(input.source_cycle_id.as_uuid()))
            .filter(objective::Column::State.ne(ObjectiveState::Archived.as_str()));
        if let Some(ids) = &input.objective_ids {
            select = select.filter(objective::Column::Id.is_in(ids.iter().map(|id| id.as_uuid())));
        }
        let sources = select
            .order_by_asc(objective::Column::Id)
            .all(&tx.db)
            .await?;
        if let Some(ids) = &input.objective_ids {
            let found: HashSet<Uuid> = sources.iter().map(|row| row.id).collect();
            if let Some(index) = ids.iter().position(|id| !found.contains(&id.as_uuid())) {
                return Err(ValidationError::new(
                    format!("objectiveIds.{index}"),
                    ErrorCode::NotFound,
                    "no unarchived objective with this id exists in the source cycle",
                )
                .into());
            }
        }
        // Copies already in the target cycle, by their source, from this rollover or an
        // earlier one. The copy of a child aligns to the copy of its parent.
        let mut copies_by_source: HashMap<Uuid, Uuid> = objective::Entity::find_in(organization_id)
            .filter(objective::Column::CycleId.eq(input.target_cycle_id.as_uuid()))
            .filter(objective::Column::State.ne(ObjectiveState::Archived.as_str()))
            .filter(objective::Column::CopiedFromId.is_not_null())
            .all(&tx.db)
            .await?
            .into_iter()
            .filter_map(|row| row.copied_from_id.map(|source| (source, row.id)))
            .collect();

        let mut skipped = Vec::new();
        let mut chosen = Vec::new();
        for row in sources {
            if copies_by_source.contains_key(&row.id) {
                skipped.push((ObjectiveId::from(row.id), SkipReason::AlreadyCopied));
            } else if !input.include_finished && finished(&row)? {
                skipped.push((ObjectiveId::from(row.id), SkipReason::Finished));
            } else {
                chosen.push(row);
            }
        }

        let mut copies = Vec::new();
        let mut warnings = Vec::new();
        let mut key_result_count = 0;
        for source in parents_first(chosen) {
            let parent_id = match source.parent_id {
                Some(parent) => match copies_by_source.get(&parent) {
                    Some(copy) => Some(*copy),
                    None => {
                        scoped::find_one::<objective::Entity, _>(&tx.db, organization_id, parent)
                            .await?
                            .filter(|row| row.state != ObjectiveState::Archived.as_str())
                            .map(|row| row.id)
                    }
                },
                None => None,
            };
            let plan = CopyPlan {
                cycle_id: input.target_cycle_id.as_uuid(),
                parent_id,
                title: None,
                transfer_external_keys: input.transfer_external_keys,
                action: "rolloverObjectives",
            };
            let (copy, count) = copy_objective(&mut tx, &source, &plan, &mut warnings).await?;
            key_result_count += count;
            copies_by_source.insert(source.id, copy.id);
            copies.push((ObjectiveId::from(source.id), convert::objective(copy)?));
        }
        tx.commit(self).await?;
        Ok(RolloverOutcome {
            copies,
            skipped,
            key_result_count,
            warnings,
        })
    }

    /// Copies an objective with its key results (no check-ins) as a DRAFT, into its own
    /// cycle or another open one, aligned to the same parent.
    pub async fn duplicate_objective(
        &self,
        actor: Actor,
        objective_id: ObjectiveId,
        cycle_id: Option<CycleId>,
        title: Option<Title>,
    ) -> Result<(Objective, Vec<ValidationError>), StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        let source =
            writable_objective(&tx.db, organization_id, objective_id.as_uuid(), "id").await?;
        let cycle_id = cycle_id.map_or(source.cycle_id, CycleId::as_uuid);
        ensure_cycle_open(&tx.db, organization_id, cycle_id, "cycleId").await?;
        let plan = CopyPlan {
            cycle_id,
            parent_id: source.parent_id,
            title,
            transfer_external_keys: false,
            action: "duplicateObjective",
        };
        let mut warnings = Vec::new();
        let (copy, _) = copy_objective(&mut tx, &source, &plan, &mut warnings).await?;
        tx.commit(self).await?;
        Ok((convert::objective(copy)?, warnings))
    }

    /// Moves a key result to another objective of the same cycle; both objectives roll up.
    pub async fn move_key_result(
        &self,
        actor: Actor,
        key_result_id: KeyResultId,
        objective_id: ObjectiveId,
        expected_version: Option<i32>,
    ) -> Result<(KeyResult, Vec<ValidationError>), StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        let row =
            writable_key_result(&tx.db, organization_id, key_result_id.as_uuid(), "id").await?;
        check_version(expected_version, row.version)?;
        let from = writable_objective(&tx.db, organization_id, row.objective_id, "id").await?;
        let to = writable_objective(
            &tx.db,
            organization_id,
            objective_id.as_uuid(),
            "objectiveId",
        )
        .await?;
        if from.id == to.id {
            return Err(ValidationError::new(
                "objectiveId",
                ErrorCode::Invalid,
                "is the key result's objective already",
            )
            .into());
        }
        if from.cycle_id != to.cycle_id {
            return Err(ValidationError::new(
                "objectiveId",
                ErrorCode::Invalid,
                "belongs to another cycle; a key result moves only between objectives of its cycle, because its check-ins belong to that cycle",
            )
            .into());
        }
        ensure_cycle_open(&tx.db, organization_id, to.cycle_id, "objectiveId").await?;
        let warnings: Vec<ValidationError> = check_key_result_limit(&tx, to.id)
            .await?
            .into_iter()
            .map(|warning| warning.in_field("objectiveId"))
            .collect();
        let before = row.clone();
        let version = row.version;
        let mut update = row.into_active_model();
        update.objective_id = Set(to.id);
        update.version = Set(version + 1);
        update.updated_at = Set(tx.now);
        let row = update.update(&tx.db).await?;
        tx.audit_row(
            "moveKeyResult",
            "KeyResult",
            row.id,
            Some(&before),
            Some(&row),
        );
        rollup::roll_up(&mut tx, from.id.into()).await?;
        rollup::roll_up(&mut tx, to.id.into()).await?;
        tx.commit(self).await?;
        Ok((convert::key_result(row)?, warnings))
    }

    fn activity_select(
        organization_id: OrganizationId,
        filter: &ActivityFilter,
    ) -> sea_orm::Select<activity_entry::Entity> {
        let mut select = activity_entry::Entity::find_in(organization_id);
        if let Some(team_ids) = &filter.team_ids {
            select = select.filter(
                activity_entry::Column::TeamId.is_in(team_ids.iter().map(|id| id.as_uuid())),
            );
        }
        if let Some(cycle_id) = filter.cycle_id {
            select = select.filter(activity_entry::Column::CycleId.eq(cycle_id.as_uuid()));
        }
        if let Some(objective_id) = filter.objective_id {
            select = select.filter(activity_entry::Column::ObjectiveId.eq(objective_id.as_uuid()));
        }
        if let Some(key_result_id) = filter.key_result_id {
            select = select.filter(activity_entry::Column::KeyResultId.eq(key_result_id.as_uuid()));
        }
        if let Some(types) = &filter.event_types {
            select = select.filter(activity_entry::Column::EventType.is_in(types.iter().cloned()));
        }
        select
    }

    /// Reads a page of the activity feed: check-ins, comments, milestones and state
    /// changes, newest first.
    pub async fn activity_page(
        &self,
        organization_id: OrganizationId,
        filter: &ActivityFilter,
        request: PageRequest,
    ) -> Result<Page<Event>, StoreError> {
        page::paginate(
            &self.db,
            Self::activity_select(organization_id, filter),
            SortKey::TimeThenId {
                time: activity_entry::Column::OccurredAt,
                id: activity_entry::Column::Id,
                descending: true,
            },
            request,
        )
        .await?
        .try_map(activity_event)
    }

    pub async fn count_activity(
        &self,
        organization_id: OrganizationId,
        filter: &ActivityFilter,
    ) -> Result<u64, StoreError> {
        page::count(&self.db, Self::activity_select(organization_id, filter)).await
    }

    /// Lists the team and every unarchived team below it.
    pub async fn team_subtree(
        &self,
        organization_id: OrganizationId,
        team_id: TeamId,
    ) -> Result<Vec<TeamId>, StoreError> {
        let mut all = vec![team_id];
        let mut level = vec![team_id.as_uuid()];
        for _ in 0..MAX_DEPTH {
            let children: Vec<Uuid> = team::Entity::find_in(organization_id)
                .filter(team::Column::ParentId.is_in(level.iter().copied()))
                .filter(team::Column::ArchivedAt.is_null())
                .all(&self.db)
                .await?
                .into_iter()
                .map(|row| row.id)
                .filter(|id| !all.contains(&TeamId::from(*id)))
                .collect();
            if children.is_empty() {
                break;
            }
            all.extend(children.iter().copied().map(TeamId::from));
            level = children;
        }
        Ok(all)
    }

    /// Lists the unarchived objectives of the cycles, optionally only those of the teams.
    pub async fn objectives_of_cycles(
        &self,
        organization_id: OrganizationId,
        cycle_ids: &[CycleId],
        team_ids: Option<&[TeamId]>,
    ) -> Result<Vec<Objective>, StoreError> {
        let mut select = objective::Entity::find_in(organization_id)
            .filter(objective::Column::CycleId.is_in(cycle_ids.iter().map(|id| id.as_uuid())))
            .filter(objective::Column::State.ne(ObjectiveState::Archived.as_str()));
        if let Some(team_ids) = team_ids {
            select = select
                .filter(objective::Column::TeamId.is_in(team_ids.iter().map(|id| id.as_uuid())));
        }
        let rows = select
            .order_by_asc(objective::Column::Id)
            .all(&self.db)
            .await?;
        convert::all(rows, convert::objective)
    }

    /// Lists the unarchived objectives below the roots, level by level, at most
    /// [`MAX_DEPTH`] levels deep. The roots themselves are not included.
    pub async fn objective_descendants(
        &self,
        organization_id: OrganizationId,
        roots: &[ObjectiveId],
    ) -> Result<Vec<Objective>, StoreError> {
        let mut seen: HashSet<ObjectiveId> = roots.iter().copied().collect();
        let mut level: Vec<ObjectiveId> = roots.to_vec();
        let mut all = Vec::new();
        for _ in 0..MAX_DEPTH {
            if level.is_empty() {
                break;
            }
            let children: Vec<Objective> = self
                .child_objectives(organization_id, &level)
                .await?
                .into_iter()
                .filter(|child| seen.insert(child.id))
                .collect();
            level = children.iter().map(|child| child.id).collect();
            all.extend(children);
        }
        Ok(all)
    }

    /// Lists the check-ins of the key results observed before `before`, oldest first.
    pub async fn check_ins_before(
        &self,
        organization_id: OrganizationId,
        key_result_ids: &[KeyResultId],
        before: DateTime<Utc>,
    ) -> Result<Vec<CheckIn>, StoreError> {
        if key_result_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = check_in::Entity::find_in(organization_id)
            .filter(
                check_in::Column::KeyResultId.is_in(key_result_ids.iter().map(|id| id.as_uuid())),
            )
            .filter(check_in::Column::ObservedAt.lt(before))
            .order_by_asc(check_in::Column::ObservedAt)
            .order_by_asc(check_in::Column::Id)
            .all(&self.db)
            .await?;
        convert::all(rows, convert::check_in)
    }

    /// Lists the unarchived KPIs, optionally only those of the teams.
    pub async fn kpis_of_teams(
        &self,
        organization_id: OrganizationId,
        team_ids: Option<&[TeamId]>,
    ) -> Result<Vec<Kpi>, StoreError> {
        let mut select =
            kpi::Entity::find_in(organization_id).filter(kpi::Column::ArchivedAt.is_null());
        if let Some(team_ids) = team_ids {
            select =
                select.filter(kpi::Column::TeamId.is_in(team_ids.iter().map(|id| id.as_uuid())));
        }
        let rows = select.order_by_asc(kpi::Column::Id).all(&self.db).await?;
        convert::all(rows, convert::kpi)
    }

    /// Lists the organization's unarchived cycles in a state.
    pub async fn cycles_in_state(
        &self,
        organization_id: OrganizationId,
        state: CycleState,
    ) -> Result<Vec<Cycle>, StoreError> {
        let rows = cycle::Entity::find_in(organization_id)
            .filter(cycle::Column::State.eq(state.as_str()))
            .filter(cycle::Column::ArchivedAt.is_null())
            .order_by_asc(cycle::Column::StartDate)
            .all(&self.db)
            .await?;
        convert::all(rows, convert::cycle)
    }

    /// Unarchived key results in the cycles whose owner is the user, or that have no owner
    /// and belong to an objective the user owns.
    pub async fn key_results_of_owner(
        &self,
        organization_id: OrganizationId,
        cycle_ids: &[CycleId],
        owner_id: UserId,
    ) -> Result<Vec<KeyResult>, StoreError> {
        let objectives = objective::Entity::find_in(organization_id)
            .filter(objective::Column::CycleId.is_in(cycle_ids.iter().map(|id| id.as_uuid())))
            .filter(objective::Column::State.ne(ObjectiveState::Archived.as_str()))
            .all(&self.db)
            .await?;
        let in_cycles: Vec<Uuid> = objectives.iter().map(|row| row.id).collect();
        let owned: Vec<Uuid> = objectives
            .iter()
            .filter(|row| row.owner_id == Some(owner_id.as_uuid()))
            .map(|row| row.id)
            .collect();
        let rows = key_result::Entity::find_in(organization_id)
            .filter(key_result::Column::ArchivedAt.is_null())
            .filter(key_result::Column::ObjectiveId.is_in(in_cycles))
            .filter(
                Condition::any()
                    .add(key_result::Column::OwnerId.eq(owner_id.as_uuid()))
                    .add(
                        Condition::all()
                            .add(key_result::Column::OwnerId.is_null())
                            .add(key_result::Column::ObjectiveId.is_in(owned)),
                    ),
            )
            .order_by_asc(key_result::Column::Id)
            .all(&self.db)
            .await?;
        convert::all(rows, convert::key_result)
    }
}
