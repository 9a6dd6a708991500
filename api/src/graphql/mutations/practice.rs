use super::input::{self, Parsed, Warning, parse_all, user_errors};
use crate::graphql::context::{ContextExt, Permission};
use crate::graphql::error::{UserError, user_result};
use crate::graphql::objects::key_result::KeyResult;
use crate::graphql::objects::objective::Objective;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use headway_domain::ids::{CycleId, KeyResultId, ObjectiveId};
use headway_persistence::practice::{Rollover, SkipReason};

/// A request to roll objectives over from one cycle into another.
#[derive(InputObject)]
pub struct RolloverObjectivesInput {
    pub source_cycle_id: ID,
    /// An open cycle other than the source.
    pub target_cycle_id: ID,
    /// Only these objectives of the source cycle; every unarchived one when left out.
    pub objective_ids: Option<Vec<ID>>,
    /// Whether objectives at full progress, or with a score of 1, roll over too.
    #[graphql(default = false)]
    pub include_finished: bool,
    /// Whether the copied key results take over the external keys, so that integrations
    /// feed the new cycle; the originals then have none.
    #[graphql(default = false)]
    pub transfer_external_keys: bool,
}

/// The reason an objective did not roll over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum RolloverSkipReason {
    /// It reached full progress or a score of 1, and includeFinished was false.
    Finished,
    /// An earlier rollover already copied it into the target cycle.
    AlreadyCopied,
}

/// An objective and its copy in the target cycle.
#[derive(SimpleObject)]
pub struct RolledOverObjective {
    pub source: Objective,
    pub copy: Objective,
}

/// An objective that did not roll over, and why.
#[derive(SimpleObject)]
pub struct SkippedObjective {
    pub objective: Objective,
    pub reason: RolloverSkipReason,
}

/// The result of rolloverObjectives.
#[derive(SimpleObject)]
pub struct RolloverObjectivesPayload {
    /// The copies, each after the copy of its parent.
    pub copies: Vec<RolledOverObjective>,
    pub skipped: Vec<SkippedObjective>,
    /// How many key results were copied.
    pub key_result_count: i32,
    /// Problems with the input; when there are any, nothing was copied.
    pub user_errors: Vec<UserError>,
    /// Organization limits the copies exceed, when the organization only warns.
    pub warnings: Vec<Warning>,
}

impl RolloverObjectivesPayload {
    fn rejected(errors: Vec<UserError>) -> Self {
        Self {
            copies: Vec::new(),
            skipped: Vec::new(),
            key_result_count: 0,
            user_errors: errors,
            warnings: Vec::new(),
        }
    }
}

/// An objective to copy.
#[derive(InputObject)]
pub struct DuplicateObjectiveInput {
    pub id: ID,
    /// An open cycle for the copy; the objective's own cycle when left out.
    pub cycle_id: Option<ID>,
    /// The copy's title; the objective's title when left out. At most 200 characters.
    pub title: Option<String>,
}

/// The result of duplicateObjective.
#[derive(SimpleObject)]
pub struct DuplicateObjectivePayload {
    /// The copy, a DRAFT; null when the input was rejected.
    pub objective: Option<Objective>,
    /// Problems with the input; empty when the mutation succeeded.
    pub user_errors: Vec<UserError>,
    /// Organization limits the copy exceeds, when the organization only warns.
    pub warnings: Vec<Warning>,
}

/// A key result and the objective it moves to.
#[derive(InputObject)]
pub struct MoveKeyResultInput {
    pub id: ID,
    /// An objective of the same cycle.
    pub objective_id: ID,
    /// Fails with a CONFLICT user error when the key result is at another version.
    pub expected_version: Option<i32>,
}

/// The result of moveKeyResult.
#[derive(SimpleObject)]
pub struct MoveKeyResultPayload {
    /// The key result after the move; null when the input was rejected.
    pub key_result: Option<KeyResult>,
    /// Problems with the input; empty when the mutation succeeded.
    pub user_errors: Vec<UserError>,
    /// Organization limits the move exceeds, when the organization only warns.
    pub warnings: Vec<Warning>,
}

impl RolloverObjectivesInput {
    fn parse(&self) -> Parsed<Rollover> {
        parse_all! {
            source_cycle_id = input::id::<CycleId>("sourceCycleId", &self.source_cycle_id);
            target_cycle_id = input::id::<CycleId>("targetCycleId", &self.target_cycle_id);
            objective_ids = input::optional(self.objective_ids.as_ref(), |ids| {
                ids.iter()
                    .enumerate()
                    .map(|(index, id)| input::id::<ObjectiveId>(&format!("objectiveIds.{index}"), id))
                    .collect::<Result<Vec<_>, _>>()
            });
        }
        Ok(Rollover {
            source_cycle_id,
            target_cycle_id,
            objective_ids,
            include_finished: self.include_finished,
            transfer_external_keys: self.transfer_external_keys,
        })
    }
}

#[derive(Default)]
pub struct PracticeMutations;

#[Object]
impl PracticeMutations {
    /// Copies the objectives of a cycle, with their key results but no check-ins, into
    /// another cycle as drafts: by default only the unfinished ones. Copies keep their
    /// alignment, to the copy of their parent or to the parent itself. Objectives already
    /// copied into the target cycle are skipped, so it is safe to run again. Needs MEMBER.
    async fn rollover_objectives(
        &self,
        ctx: &Context<'_>,
        input: RolloverObjectivesInput,
    ) -> async_graphql::Result<RolloverObjectivesPayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let rollover = match input.parse() {
            Ok(rollover) => rollover,
            Err(errors) => return Ok(RolloverObjectivesPayload::rejected(user_errors(errors))),
        };
        let store = ctx.store()?;
        let outcome = match user_result(store.rollover_objectives(actor, rollover).await)? {
            Ok(outcome) => outcome,
            Err(errors) => return Ok(RolloverObjectivesPayload::rejected(errors)),
        };
        let skipped_ids: Vec<ObjectiveId> = outcome.skipped.iter().map(|(id, _)| *id).collect();
        let source_ids: Vec<ObjectiveId> = outcome.copies.iter().map(|(id, _)| *id).collect();
        let mut sources: std::collections::HashMap<ObjectiveId, _> = store
            .objectives_by_ids(
                actor.organization_id,
                &[source_ids.as_slice(), skipped_ids.as_slice()].concat(),
            )
            .await
            .map_err(crate::graphql::error::store_failure)?
            .into_iter()
            .map(|objective| (objective.id, objective))
            .collect();
        let mut copies = Vec::with_capacity(outcome.copies.len());
        for (source_id, copy) in outcome.copies {
            if let Some(source) = sources.get(&source_id).cloned() {
                copies.push(RolledOverObjective {
                    source: Objective(source),
                    copy: Objective(copy),
                });
            }
        }
        let skipped = outcome
            .skipped
            .into_iter()
            .filter_map(|(id, reason)| {
                sources.remove(&id).map(|objective| SkippedObjective {
                    objective: Objective(objective),
                    reason: match reason {
                        SkipReason::Finished => RolloverSkipReason::Finished,
                        SkipReason::AlreadyCopied => RolloverSkipReason::AlreadyCopied,
                    },
                })
            })
            .collect();
        Ok(RolloverObjectivesPayload {
            copies,
            skipped,
            key_result_count: i32::try_from(outcome.key_result_count).unwrap_or(i32::MAX),
            user_errors: Vec::new(),
            warnings: outcome.warnings.into_iter().map(Warning::from).collect(),
        })
    }

    /// Copies an objective with its key results (no check-ins) as a DRAFT, aligned to the
    /// same parent. Needs MEMBER.
    async fn duplicate_objective(
        &self,
        ctx: &Context<'_>,
        input: DuplicateObjectiveInput,
    ) -> async_graphql::Result<DuplicateObjectivePayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let rejected = |errors| DuplicateObjectivePayload {
            objective: None,
            user_errors: errors,
            warnings: Vec::new(),
        };
        let parsed: Parsed<_> = (|| {
            parse_all! {
                id = input::id::<ObjectiveId>("id", &input.id);
                cycle_id = input::optional(input.cycle_id.as_ref(), |id| input::id::<CycleId>("cycleId", id));
                title = input::optional(input.title.as_deref(), |title| input::title("title", title));
            }
            Ok((id, cycle_id, title))
        })();
        let (id, cycle_id, title) = match parsed {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(rejected(user_errors(errors))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .duplicate_objective(actor, id, cycle_id, title)
                    .await,
            )? {
                Ok((objective, warnings)) => DuplicateObjectivePayload {
                    objective: Some(Objective(objective)),
                    user_errors: Vec::new(),
                    warnings: warnings.into_iter().map(Warning::from).collect(),
                },
                Err(errors) => rejected(errors),
            },
        )
    }

    /// Moves a key result to another objective of its cycle; both objectives roll up.
    /// Needs MEMBER.
    async fn move_key_result(
        &self,
        ctx: &Context<'_>,
        input: MoveKeyResultInput,
    ) -> async_graphql::Result<MoveKeyResultPayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let rejected = |errors| MoveKeyResultPayload {
            key_result: None,
            user_errors: errors,
            warnings: Vec::new(),
        };
        let parsed: Parsed<_> = (|| {
            parse_all! {
                id = input::id::<KeyResultId>("id", &input.id);
                objective_id = input::id::<ObjectiveId>("objectiveId", &input.objective_id);
            }
            Ok((id, objective_id))
        })();
        let (id, objective_id) = match parsed {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(rejected(user_errors(errors))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .move_key_result(actor, id, objective_id, input.expected_version)
                    .await,
            )? {
                Ok((key_result, warnings)) => MoveKeyResultPayload {
                    key_result: Some(KeyResult::from(key_result)),
                    user_errors: Vec::new(),
                    warnings: warnings.into_iter().map(Warning::from).collect(),
                },
                Err(errors) => rejected(errors),
            },
        )
    }
}
