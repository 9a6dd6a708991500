//! Recomputing derived progress inside a write transaction.
//!
//! A change to a key result or to an objective's inputs recomputes the objective and then
//! every ancestor along its alignment chain, emitting a progress event and any milestone
//! for each figure that changed.

use crate::convert;
use crate::entities::{cycle, key_result, objective};
use crate::error::StoreError;
use crate::scoped::{self, OrganizationScoped};
use crate::tx::WriteTx;
use headway_domain::alignment::MAX_DEPTH;
use headway_domain::events::{EventPayload, EventScope, NewEvent, RecordKind};
use headway_domain::ids::ObjectiveId;
use headway_domain::model::{CycleState, ObjectiveState, ProgressSource};
use headway_domain::progress::{
    self, CycleWindow, Milestone, Milestones, OBJECTIVE_MILESTONES, PaceStatus, RollupInput,
};
use headway_domain::values::Weight;
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use uuid::Uuid;

/// A cycle's window and state, which the time-dependent rules need.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CycleTiming {
    pub(crate) window: CycleWindow,
    pub(crate) state: CycleState,
}

pub(crate) async fn cycle_timing(tx: &WriteTx, cycle_id: Uuid) -> Result<CycleTiming, StoreError> {
    let row = scoped::find_one::<cycle::Entity, _>(&tx.db, tx.organization_id(), cycle_id)
        .await?
        .ok_or_else(|| {
            StoreError::Corrupt(format!("cycle {cycle_id} of an objective is missing"))
        })?;
    let cycle = convert::cycle(row)?;
    Ok(CycleTiming {
        window: CycleWindow::new(
            cycle.start_date,
            cycle.end_date,
            tx.organization.settings.time_zone,
        ),
        state: cycle.state,
    })
}

/// The pace status of `progress` (clamped) in a cycle at the transaction's time.
pub(crate) fn pace(tx: &WriteTx, timing: CycleTiming, progress: Decimal) -> PaceStatus {
    progress::pace_status(
        progress::clamp_unit(progress),
        timing.window.expected_progress(tx.now),
    )
}

pub(crate) fn objective_scope(row: &objective::Model) -> EventScope {
    EventScope {
        team_id: row.team_id.map(Into::into),
        cycle_id: Some(row.cycle_id.into()),
        objective_id: Some(row.id.into()),
        key_result_id: None,
        kpi_id: None,
    }
}

pub(crate) fn key_result_scope(
    row: &key_result::Model,
    objective: &objective::Model,
) -> EventScope {
    EventScope {
        key_result_id: Some(row.id.into()),
        ..objective_scope(objective)
    }
}

/// Emits one milestone event per newly reached milestone.
pub(crate) fn emit_milestones(
    tx: &mut WriteTx,
    record: RecordKind,
    record_id: Uuid,
    reached: &[Milestone],
    scope: EventScope,
) {
    for milestone in reached {
        tx.emit(NewEvent {
            payload: EventPayload::MilestoneReached {
                record,
                record_id,
                percent: milestone.percent(),
            },
            scope,
        });
    }
}

fn parse_weight(table: &str, text: &str) -> Result<Weight, StoreError> {
    Weight::new(convert::decimal(table, "weight", text)?)
        .map_err(|_| StoreError::Corrupt(format!("{table}.weight holds \"{text}\"")))
}

/// The rollup inputs of an objective: its active key results, its counted child
/// objectives, or both, per its progress source.
///
/// Child objectives count unless they are DRAFT or ARCHIVED: a draft is not a commitment yet.
pub(crate) async fn objective_inputs<C: ConnectionTrait>(
    db: &C,
    row: &objective::Model,
) -> Result<Vec<RollupInput>, StoreError> {
    let source = ProgressSource::from_name(&row.progress_source).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "objectives.progress_source holds \"{}\"",
            row.progress_source
        ))
    })?;
    let organization_id = row.organization_id.into();
    let mut inputs = Vec::new();
    if source.uses_key_results() {
        let key_results: Vec<(String, String)> = key_result::Entity::find_in(organization_id)
            .select_only()
            .column(key_result::Column::Weight)
            .column(key_result::Column::ProgressRatio)
            .filter(key_result::Column::ObjectiveId.eq(row.id))
            .filter(key_result::Column::ArchivedAt.is_null())
            .into_tuple()
            .all(db)
            .await?;
        for (weight, ratio) in key_results {
            inputs.push(RollupInput {
                weight: parse_weight("key_results", &weight)?,
                progress: progress::clamp_unit(convert::decimal(
                    "key_results",
                    "progress_ratio",
                    &ratio,
                )?),
            });
        }
    }
    if source.uses_child_objectives() {
        let children: Vec<(String, String)> = objective::Entity::find_in(organization_id)
            .select_only()
            .column(objective::Column::Weight)
            .column(objective::Column::Progress)
            .filter(objective::Column::ParentId.eq(row.id))
            .filter(objective::Column::State.is_not_in([
                ObjectiveState::Draft.as_str(),
                ObjectiveState::Archived.as_str(),
            ]))
            .into_tuple()
            .all(db)
            .await?;
        for (weight, child_progress) in children {
            inputs.push(RollupInput {
                weight: parse_weight("objectives", &weight)?,
                progress: progress::clamp_unit(convert::decimal(
                    "objectives",
                    "progress",
                    &child_progress,
                )?),
            });
        }
    }
    Ok(inputs)
}

/// Recomputes `objective_id` and every ancestor above it.
pub(crate) async fn roll_up(tx: &mut WriteTx, objective_id: ObjectiveId) -> Result<(), StoreError> {
    let mut next = Some(objective_id.as_uuid());
    let mut visited = Vec::new();
    while let Some(id) = next {
        if visited.len() > MAX_DEPTH || visited.contains(&id) {
            break;
        }
        visited.push(id);
        let Some(row) =
            scoped::find_one::<objective::Entity, _>(&tx.db, tx.organization_id(), id).await?
        else {
            break;
        };
        next = row.parent_id;
        recompute_objective(tx, row).await?;
    }
    Ok(())
}

/// Recomputes one objective's progress from its inputs and stores it when it changed.
async fn recompute_objective(tx: &mut WriteTx, row: objective::Model) -> Result<(), StoreError> {
    let inputs = objective_inputs(&tx.db, &row).await?;
    let new_progress = progress::weighted_progress(&inputs);
    let old_progress = convert::decimal("objectives", "progress", &row.progress)?;
    if new_progress == old_progress {
        return Ok(());
    }
    let timing = cycle_timing(tx, row.cycle_id).await?;
    let scope = objective_scope(&row);
    let milestones = Milestones::from_bits(u8::try_from(row.milestones).unwrap_or_default());
    let (milestones, reached) = milestones.reach(new_progress, &OBJECTIVE_MILESTONES);
    tx.emit(NewEvent {
        payload: EventPayload::ObjectiveProgressChanged {
            objective_id: row.id.into(),
            old_progress,
            new_progress,
            old_status: pace(tx, timing, old_progress),
            new_status: pace(tx, timing, new_progress),
        },
        scope,
    });
    emit_milestones(tx, RecordKind::Objective, row.id, &reached, scope);
    let mut update = row.into_active_model();
    update.progress = Set(new_progress.normalize().to_string());
    update.milestones = Set(i16::from(milestones.bits()));
    update.updated_at = Set(tx.now);
    update.update(&tx.db).await?;
    Ok(())
}
