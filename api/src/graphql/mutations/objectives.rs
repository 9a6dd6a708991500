use super::input::{self, Parsed, Warning, parse_all, record_input, user_errors};
use crate::graphql::context::{ContextExt, Permission};
use crate::graphql::error::{UserError, user_result};
use crate::graphql::objects::enums::{ObjectiveKind, ObjectiveState, ProgressSource};
use crate::graphql::objects::objective::Objective;
use crate::graphql::scalars::Decimal;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use headway_domain::ids::ObjectiveId;
use headway_domain::values::Weight;
use headway_persistence::{NewObjective, ObjectiveChanges, ObjectiveOutcome};

#[derive(InputObject)]
pub struct CreateObjectiveInput {
    pub cycle_id: ID,
    /// At most 200 characters.
    pub title: String,
    /// At most 10,000 characters.
    pub description: Option<String>,
    pub team_id: Option<ID>,
    /// A member of the organization.
    pub owner_id: Option<ID>,
    /// The objective this one is aligned to; the alignment graph stays acyclic.
    pub parent_id: Option<ID>,
    #[graphql(default_with = "ObjectiveKind::Committed")]
    pub kind: ObjectiveKind,
    /// DRAFT or ACTIVE.
    #[graphql(default_with = "ObjectiveState::Active")]
    pub state: ObjectiveState,
    #[graphql(default_with = "ProgressSource::KeyResults")]
    pub progress_source: ProgressSource,
    /// The weight in the parent's progress, from 0 to 1,000; 0 keeps it out of the average.
    pub weight: Option<Decimal>,
}

/// Changes to an objective. Left-out fields stay as they are. Null clears only the fields
/// described with "Null clears it."; for any other field it is rejected.
#[derive(InputObject)]
pub struct UpdateObjectiveInput {
    pub id: ID,
    /// Fails with a CONFLICT user error when the objective is at another version.
    pub expected_version: Option<i32>,
    pub title: MaybeUndefined<String>,
    /// Null clears it.
    pub description: MaybeUndefined<String>,
    /// Null clears it.
    pub team_id: MaybeUndefined<ID>,
    /// Null clears it.
    pub owner_id: MaybeUndefined<ID>,
    /// Null clears it, so the objective is aligned to no other.
    pub parent_id: MaybeUndefined<ID>,
    pub kind: MaybeUndefined<ObjectiveKind>,
    /// DRAFT, ACTIVE or CLOSED; use archiveObjective to archive.
    pub state: MaybeUndefined<ObjectiveState>,
    pub progress_source: MaybeUndefined<ProgressSource>,
    pub weight: MaybeUndefined<Decimal>,
}

record_input!(ArchiveObjectiveInput, "The objective to archive.");

/// The result of createObjective and updateObjective.
#[derive(SimpleObject)]
pub struct ObjectivePayload {
    /// The objective after the change; null when the input was rejected.
    pub objective: Option<Objective>,
    /// Problems with the input; empty when the mutation succeeded.
    pub user_errors: Vec<UserError>,
    /// Organization limits the change exceeds, when the organization only warns.
    pub warnings: Vec<Warning>,
}

impl ObjectivePayload {
    fn done(outcome: ObjectiveOutcome) -> Self {
        Self {
            objective: Some(Objective(outcome.objective)),
            user_errors: Vec::new(),
            warnings: outcome.warnings.into_iter().map(Warning::from).collect(),
        }
    }

    fn rejected(errors: Vec<UserError>) -> Self {
        Self {
            objective: None,
            user_errors: errors,
            warnings: Vec::new(),
        }
    }
}

super::input::payload!(ArchiveObjectivePayload, objective: Objective, "The result of archiveObjective.");

impl CreateObjectiveInput {
    fn parse(&self) -> Parsed<NewObjective> {
        parse_all! {
            cycle_id = input::id("cycleId", &self.cycle_id);
            title = input::title("title", &self.title);
            description = input::description("description", self.description.as_deref());
            team_id = input::optional_id("teamId", self.team_id.as_ref());
            owner_id = input::optional_id("ownerId", self.owner_id.as_ref());
            parent_id = input::optional_id("parentId", self.parent_id.as_ref());
            weight = input::optional(self.weight.as_ref(), |weight| input::weight("weight", weight));
        }
        Ok(NewObjective {
            cycle_id,
            team_id,
            owner_id,
            parent_id,
            title,
            description,
            kind: self.kind.into(),
            state: self.state.into(),
            progress_source: self.progress_source.into(),
            weight: weight.unwrap_or_else(Weight::one),
        })
    }
}

impl UpdateObjectiveInput {
    fn parse(self) -> Parsed<(ObjectiveId, ObjectiveChanges)> {
        parse_all! {
            id = input::id::<ObjectiveId>("id", &self.id);
            title = input::settable("title", self.title, |raw| input::title("title", &raw));
            description = input::maybe_description("description", self.description);
            team_id = input::maybe_id("teamId", self.team_id);
            owner_id = input::maybe_id("ownerId", self.owner_id);
            parent_id = input::maybe_id("parentId", self.parent_id);
            kind = input::settable("kind", self.kind, |kind| Ok(kind.into()));
            state = input::settable("state", self.state, |state| Ok(state.into()));
            progress_source = input::settable("progressSource", self.progress_source, |source| Ok(source.into()));
            weight = input::settable("weight", self.weight, |weight| input::weight("weight", &weight));
        }
        Ok((
            id,
            ObjectiveChanges {
                expected_version: self.expected_version,
                title,
                description,
                team_id,
                owner_id,
                parent_id,
                kind,
                state,
                progress_source,
                weight,
            },
        ))
    }
}

#[derive(Default)]
pub struct ObjectiveMutations;

#[Object]
impl ObjectiveMutations {
    /// Creates an objective and rolls its parent's progress up. Needs MEMBER.
    async fn create_objective(
        &self,
        ctx: &Context<'_>,
        input: CreateObjectiveInput,
    ) -> async_graphql::Result<ObjectivePayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let new = match input.parse() {
            Ok(new) => new,
            Err(errors) => return Ok(ObjectivePayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.create_objective(actor, new).await)? {
                Ok(outcome) => ObjectivePayload::done(outcome),
                Err(errors) => ObjectivePayload::rejected(errors),
            },
        )
    }

    /// Changes an objective; a new parent, weight, state or progress source rolls progress
    /// up both the old and the new alignment chain. Needs MEMBER.
    async fn update_objective(
        &self,
        ctx: &Context<'_>,
        input: UpdateObjectiveInput,
    ) -> async_graphql::Result<ObjectivePayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let (objective_id, changes) = match input.parse() {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(ObjectivePayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .update_objective(actor, objective_id, changes)
                    .await,
            )? {
                Ok(outcome) => ObjectivePayload::done(outcome),
                Err(errors) => ObjectivePayload::rejected(errors),
            },
        )
    }

    /// Archives an objective, which leaves its parent's progress. Archiving is final. Needs MEMBER.
    async fn archive_objective(
        &self,
        ctx: &Context<'_>,
        input: ArchiveObjectiveInput,
    ) -> async_graphql::Result<ArchiveObjectivePayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let objective_id = match input::id::<ObjectiveId>("id", &input.id) {
            Ok(id) => id,
            Err(error) => return Ok(ArchiveObjectivePayload::rejected(user_errors(vec![error]))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .archive_objective(actor, objective_id, input.expected_version)
                    .await,
            )? {
                Ok(objective) => ArchiveObjectivePayload::done(Objective(objective)),
                Err(errors) => ArchiveObjectivePayload::rejected(errors),
            },
        )
    }
}
