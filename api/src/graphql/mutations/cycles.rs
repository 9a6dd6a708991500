use super::input::{self, Parsed, parse_all, payload, record_input, user_errors};
use crate::graphql::context::{ContextExt, Permission};
use crate::graphql::error::user_result;
use crate::graphql::objects::cycle::Cycle;
use crate::graphql::objects::enums::CycleState;
use crate::graphql::scalars::Date;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use headway_domain::ids::CycleId;
use headway_domain::model::CycleTransition;
use headway_persistence::{CycleChanges, NewCycle};

#[derive(InputObject)]
pub struct CreateCycleInput {
    /// At most 100 characters, such as "Q3 2026".
    pub name: String,
    /// The first day, in the organization's time zone.
    pub start_date: Date,
    /// The last day, inclusive; not before the start date.
    pub end_date: Date,
    /// The cycle this one lies in; its dates must contain this cycle's.
    pub parent_id: Option<ID>,
    /// PLANNED or ACTIVE.
    #[graphql(default_with = "CycleState::Planned")]
    pub state: CycleState,
}

/// Changes to a cycle. Left-out fields stay as they are. Null clears only the fields
/// described with "Null clears it."; for any other field it is rejected.
#[derive(InputObject)]
pub struct UpdateCycleInput {
    pub id: ID,
    /// Fails with a CONFLICT user error when the cycle is at another version.
    pub expected_version: Option<i32>,
    pub name: MaybeUndefined<String>,
    pub start_date: MaybeUndefined<Date>,
    pub end_date: MaybeUndefined<Date>,
    /// Null clears it.
    pub parent_id: MaybeUndefined<ID>,
}

record_input!(ArchiveCycleInput, "The cycle to archive.");
record_input!(ChangeCycleStateInput, "The cycle whose state changes.");

payload!(CreateCyclePayload, cycle: Cycle, "The result of createCycle.");
payload!(UpdateCyclePayload, cycle: Cycle, "The result of updateCycle, archiveCycle and the cycle state changes.");

impl CreateCycleInput {
    fn parse(&self) -> Parsed<NewCycle> {
        parse_all! {
            name = input::name("name", &self.name);
            start_date = self.start_date.get("startDate");
            end_date = self.end_date.get("endDate");
            parent_id = input::optional_id("parentId", self.parent_id.as_ref());
        }
        Ok(NewCycle {
            name,
            start_date,
            end_date,
            parent_id,
            state: self.state.into(),
        })
    }
}

impl UpdateCycleInput {
    fn parse(self) -> Parsed<(CycleId, CycleChanges)> {
        parse_all! {
            id = input::id::<CycleId>("id", &self.id);
            name = input::settable("name", self.name, |raw| input::name("name", &raw));
            start_date = input::settable("startDate", self.start_date, |date| date.get("startDate"));
            end_date = input::settable("endDate", self.end_date, |date| date.get("endDate"));
            parent_id = input::maybe_id("parentId", self.parent_id);
        }
        Ok((
            id,
            CycleChanges {
                expected_version: self.expected_version,
                name,
                start_date,
                end_date,
                parent_id,
            },
        ))
    }
}

async fn change_state(
    ctx: &Context<'_>,
    input: ChangeCycleStateInput,
    transition: CycleTransition,
) -> async_graphql::Result<UpdateCyclePayload> {
    let actor = ctx.authorize(Permission::Administer)?;
    let cycle_id = match input::id::<CycleId>("id", &input.id) {
        Ok(id) => id,
        Err(error) => return Ok(UpdateCyclePayload::rejected(user_errors(vec![error]))),
    };
    Ok(
        match user_result(
            ctx.store()?
                .change_cycle_state(actor, cycle_id, transition, input.expected_version)
                .await,
        )? {
            Ok(cycle) => UpdateCyclePayload::done(Cycle(cycle)),
            Err(errors) => UpdateCyclePayload::rejected(errors),
        },
    )
}

#[derive(Default)]
pub struct CycleMutations;

#[Object]
impl CycleMutations {
    /// Creates a cycle. Needs ADMIN.
    async fn create_cycle(
        &self,
        ctx: &Context<'_>,
        input: CreateCycleInput,
    ) -> async_graphql::Result<CreateCyclePayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let new = match input.parse() {
            Ok(new) => new,
            Err(errors) => return Ok(CreateCyclePayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.create_cycle(actor, new).await)? {
                Ok(cycle) => CreateCyclePayload::done(Cycle(cycle)),
                Err(errors) => CreateCyclePayload::rejected(errors),
            },
        )
    }

    /// Changes a cycle's name, dates or parent. Needs ADMIN.
    async fn update_cycle(
        &self,
        ctx: &Context<'_>,
        input: UpdateCycleInput,
    ) -> async_graphql::Result<UpdateCyclePayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let (cycle_id, changes) = match input.parse() {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(UpdateCyclePayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.update_cycle(actor, cycle_id, changes).await)? {
                Ok(cycle) => UpdateCyclePayload::done(Cycle(cycle)),
                Err(errors) => UpdateCyclePayload::rejected(errors),
            },
        )
    }

    /// Archives a cycle that holds no unarchived objectives or child cycles. Needs ADMIN.
    async fn archive_cycle(
        &self,
        ctx: &Context<'_>,
        input: ArchiveCycleInput,
    ) -> async_graphql::Result<UpdateCyclePayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let cycle_id = match input::id::<CycleId>("id", &input.id) {
            Ok(id) => id,
            Err(error) => return Ok(UpdateCyclePayload::rejected(user_errors(vec![error]))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .archive_cycle(actor, cycle_id, input.expected_version)
                    .await,
            )? {
                Ok(cycle) => UpdateCyclePayload::done(Cycle(cycle)),
                Err(errors) => UpdateCyclePayload::rejected(errors),
            },
        )
    }

    /// Starts a PLANNED cycle. Needs ADMIN.
    async fn activate_cycle(
        &self,
        ctx: &Context<'_>,
        input: ChangeCycleStateInput,
    ) -> async_graphql::Result<UpdateCyclePayload> {
        change_state(ctx, input, CycleTransition::Activate).await
    }

    /// Closes a cycle: every key result and objective score freezes, and check-ins are
    /// rejected until it is reopened. Needs ADMIN.
    async fn close_cycle(
        &self,
        ctx: &Context<'_>,
        input: ChangeCycleStateInput,
    ) -> async_graphql::Result<UpdateCyclePayload> {
        change_state(ctx, input, CycleTransition::Close).await
    }

    /// Reopens a closed cycle and clears its frozen scores. Needs ADMIN.
    async fn reopen_cycle(
        &self,
        ctx: &Context<'_>,
        input: ChangeCycleStateInput,
    ) -> async_graphql::Result<UpdateCyclePayload> {
        change_state(ctx, input, CycleTransition::Reopen).await
    }
}
