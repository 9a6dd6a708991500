use super::enums::Role;
use super::team::Team;
use super::{load_list, load_one};
use crate::graphql::connection::{TotalCount, connection, id_cursor, page_request};
use crate::graphql::context::{ContextExt, Principal};
use crate::graphql::error::store_failure;
use crate::graphql::ids::Typed;
use crate::graphql::loaders::TeamsOf;
use crate::graphql::scalars::DateTime;
use async_graphql::{Context, ID, Object};
use headway_domain::model;

/// A tenant: a company or group whose plans and numbers live apart from every other's.
#[derive(Clone)]
pub struct Organization(pub model::Organization);

#[Object]
impl Organization {
    /// The global id.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    async fn name(&self) -> &str {
        self.0.name.as_str()
    }

    /// The IANA time zone in which cycles start and end, such as `Europe/Berlin`.
    async fn time_zone(&self) -> &str {
        self.0.settings.time_zone.name()
    }

    /// How often owners are expected to check in, in days. A key result whose newest
    /// check-in is older than this in an active cycle is stale.
    async fn check_in_cadence_days(&self) -> i32 {
        i32::try_from(self.0.settings.check_in_cadence.days()).unwrap_or(i32::MAX)
    }

    /// The maximum number of objectives per owner per cycle.
    async fn objective_limit(&self) -> i32 {
        i32::try_from(self.0.settings.objective_limit.get()).unwrap_or(i32::MAX)
    }

    /// The maximum number of key results per objective.
    async fn key_result_limit(&self) -> i32 {
        i32::try_from(self.0.settings.key_result_limit.get()).unwrap_or(i32::MAX)
    }

    /// Whether exceeding a limit rejects the change (true) or only warns in the payload (false).
    async fn enforce_limits(&self) -> bool {
        self.0.settings.enforce_limits
    }

    /// The members of the organization, oldest first.
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<MembershipConnection> {
        let organization_id = ctx.read_scope()?;
        let request = page_request(first, after, last, before)?;
        let store = ctx.store()?.clone();
        let page = store
            .memberships_page(organization_id, request)
            .await
            .map_err(store_failure)?;
        let total = TotalCount::deferred(move || {
            let store = store.clone();
            Box::pin(async move { store.count_memberships(organization_id).await })
        });
        Ok(MembershipConnection::build(
            page,
            |membership| id_cursor(membership.id.as_uuid()),
            Membership,
            total,
        ))
    }

    /// Increases with every change; pass it as `expectedVersion` to detect concurrent edits.
    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

/// A person. Users are provisioned from the claims of their identity tokens.
#[derive(Clone)]
pub struct User(pub model::User);

#[Object]
impl User {
    /// The global id.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    /// The display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn email(&self) -> Option<&str> {
        self.0.email.as_ref().map(|email| email.as_str())
    }

    /// Whether the user has signed in at least once; invited users have not.
    async fn signed_in(&self) -> bool {
        self.0.external_id.is_some()
    }

    /// The teams the user belongs to in this organization.
    async fn teams(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Team>> {
        let team_ids: Vec<_> = load_list(ctx, TeamsOf(self.0.id)).await?;
        let mut teams = Vec::with_capacity(team_ids.len());
        for team_id in team_ids {
            if let Some(team) = load_one(ctx, team_id).await? {
                teams.push(Team(team));
            }
        }
        Ok(teams)
    }

    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// A user's role in an organization.
#[derive(Clone)]
pub struct Membership(pub model::Membership);

#[Object]
impl Membership {
    /// The global id.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(load_one(ctx, self.0.user_id).await?.map(User))
    }

    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// Increases with every change; pass it as `expectedVersion` to detect concurrent edits.
    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

connection!(
    MembershipConnection,
    MembershipEdge,
    Membership,
    "A page of memberships."
);

/// The signed-in principal.
pub struct Viewer;

#[Object]
impl Viewer {
    /// The signed-in user; null for an integration's API token.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match &ctx.state()?.principal {
            Principal::User(principal) => Ok(Some(User(principal.user.clone()))),
            Principal::ApiToken(_) => Ok(None),
            Principal::Anonymous => Err(crate::graphql::error::ApiError::unauthenticated(
                "authentication required: send a bearer token in the Authorization header",
            )
            .into()),
        }
    }

    /// The organization this request acts on; null while the user belongs to none.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organization>> {
        if ctx.state()?.principal.organization_id().is_none() {
            return Ok(None);
        }
        ctx.read_scope()?;
        Ok(Some(Organization(ctx.organization().await?)))
    }

    /// The user's role in that organization.
    async fn role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Role>> {
        Ok(ctx.state()?.principal.role().map(Role::from))
    }
}
