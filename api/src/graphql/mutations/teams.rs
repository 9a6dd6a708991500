use super::input::{self, Parsed, parse_all, payload, record_input, user_errors};
use crate::graphql::context::{ContextExt, Permission};
use crate::graphql::error::user_result;
use crate::graphql::objects::team::Team;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use headway_domain::ids::{TeamId, UserId};
use headway_persistence::{NewTeam, TeamChanges};

#[derive(InputObject)]
pub struct CreateTeamInput {
    /// At most 100 characters.
    pub name: String,
    pub description: Option<String>,
    /// The team this team belongs to.
    pub parent_id: Option<ID>,
    /// A key for integrations, unique among the organization's teams.
    pub external_key: Option<String>,
}

/// Changes to a team. Left-out fields stay as they are. Null clears only the fields
/// described with "Null clears it."; for any other field it is rejected.
#[derive(InputObject)]
pub struct UpdateTeamInput {
    pub id: ID,
    /// Fails with a CONFLICT user error when the team is at another version.
    pub expected_version: Option<i32>,
    pub name: MaybeUndefined<String>,
    /// Null clears it.
    pub description: MaybeUndefined<String>,
    /// Null clears it.
    pub parent_id: MaybeUndefined<ID>,
    /// Null clears it.
    pub external_key: MaybeUndefined<String>,
}

record_input!(ArchiveTeamInput, "The team to archive.");

/// A team and a member of the organization.
#[derive(InputObject)]
pub struct TeamMemberInput {
    pub team_id: ID,
    pub user_id: ID,
}

payload!(CreateTeamPayload, team: Team, "The result of createTeam.");
payload!(UpdateTeamPayload, team: Team, "The result of updateTeam.");
payload!(ArchiveTeamPayload, team: Team, "The result of archiveTeam.");
payload!(TeamMemberPayload, team: Team, "The result of addTeamMember and removeTeamMember.");

impl CreateTeamInput {
    fn parse(&self) -> Parsed<NewTeam> {
        parse_all! {
            name = input::name("name", &self.name);
            description = input::description("description", self.description.as_deref());
            parent_id = input::optional_id("parentId", self.parent_id.as_ref());
            external_key = input::optional(self.external_key.as_deref(), |raw| input::external_key("externalKey", raw));
        }
        Ok(NewTeam {
            name,
            description,
            parent_id,
            external_key,
        })
    }
}

impl UpdateTeamInput {
    fn parse(self) -> Parsed<(TeamId, TeamChanges)> {
        parse_all! {
            id = input::id::<TeamId>("id", &self.id);
            name = input::settable("name", self.name, |raw| input::name("name", &raw));
            description = input::maybe_description("description", self.description);
            parent_id = input::maybe_id("parentId", self.parent_id);
            external_key = input::maybe(self.external_key, |raw| input::external_key("externalKey", &raw));
        }
        Ok((
            id,
            TeamChanges {
                expected_version: self.expected_version,
                name,
                description,
                parent_id,
                external_key,
            },
        ))
    }
}

impl TeamMemberInput {
    fn parse(&self) -> Parsed<(TeamId, UserId)> {
        parse_all! {
            team_id = input::id::<TeamId>("teamId", &self.team_id);
            user_id = input::id::<UserId>("userId", &self.user_id);
        }
        Ok((team_id, user_id))
    }
}

#[derive(Default)]
pub struct TeamMutations;

#[Object]
impl TeamMutations {
    /// Creates a team. Needs ADMIN.
    async fn create_team(
        &self,
        ctx: &Context<'_>,
        input: CreateTeamInput,
    ) -> async_graphql::Result<CreateTeamPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let new = match input.parse() {
            Ok(new) => new,
            Err(errors) => return Ok(CreateTeamPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.create_team(actor, new).await)? {
                Ok(team) => CreateTeamPayload::done(Team(team)),
                Err(errors) => CreateTeamPayload::rejected(errors),
            },
        )
    }

    /// Changes a team. Needs ADMIN.
    async fn update_team(
        &self,
        ctx: &Context<'_>,
        input: UpdateTeamInput,
    ) -> async_graphql::Result<UpdateTeamPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let (team_id, changes) = match input.parse() {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(UpdateTeamPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.update_team(actor, team_id, changes).await)? {
                Ok(team) => UpdateTeamPayload::done(Team(team)),
                Err(errors) => UpdateTeamPayload::rejected(errors),
            },
        )
    }

    /// Archives a team without active child teams. Needs ADMIN.
    async fn archive_team(
        &self,
        ctx: &Context<'_>,
        input: ArchiveTeamInput,
    ) -> async_graphql::Result<ArchiveTeamPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let team_id = match input::id::<TeamId>("id", &input.id) {
            Ok(id) => id,
            Err(error) => return Ok(ArchiveTeamPayload::rejected(user_errors(vec![error]))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .archive_team(actor, team_id, input.expected_version)
                    .await,
            )? {
                Ok(team) => ArchiveTeamPayload::done(Team(team)),
                Err(errors) => ArchiveTeamPayload::rejected(errors),
            },
        )
    }

    /// Adds a member of the organization to a team. Needs ADMIN.
    async fn add_team_member(
        &self,
        ctx: &Context<'_>,
        input: TeamMemberInput,
    ) -> async_graphql::Result<TeamMemberPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let (team_id, user_id) = match input.parse() {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(TeamMemberPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.add_team_member(actor, team_id, user_id).await)? {
                Ok(team) => TeamMemberPayload::done(Team(team)),
                Err(errors) => TeamMemberPayload::rejected(errors),
            },
        )
    }

    /// Removes a member from a team. Needs ADMIN.
    async fn remove_team_member(
        &self,
        ctx: &Context<'_>,
        input: TeamMemberInput,
    ) -> async_graphql::Result<TeamMemberPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let (team_id, user_id) = match input.parse() {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(TeamMemberPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .remove_team_member(actor, team_id, user_id)
                    .await,
            )? {
                Ok(team) => TeamMemberPayload::done(Team(team)),
                Err(errors) => TeamMemberPayload::rejected(errors),
            },
        )
    }
}
