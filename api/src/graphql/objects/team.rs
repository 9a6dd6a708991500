use super::kpi::{KpiConnection, kpis_connection};
use super::objective::{ObjectiveConnection, objectives_connection};
use super::organization::User;
use super::{load_list, load_one};
use crate::graphql::context::ContextExt;
use crate::graphql::error::store_failure;
use crate::graphql::ids::{Typed, decode_argument};
use crate::graphql::insights::{ActivityEventConnection, activity_connection, activity_types};
use crate::graphql::loaders::{ChildTeamsOf, MembersOf};
use crate::graphql::scalars::DateTime;
use crate::graphql::subscription::ActivityEventType;
use async_graphql::{Context, ID, Object};
use headway_domain::model;
use headway_persistence::ObjectiveFilter;
use headway_persistence::practice::ActivityFilter;

/// A group of people with shared objectives; teams nest (company, department, team).
#[derive(Clone)]
pub struct Team(pub model::Team);

#[Object]
impl Team {
    /// The global id.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    async fn name(&self) -> &str {
        self.0.name.as_str()
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_ref().map(|text| text.as_str())
    }

    /// The team this team belongs to.
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        match self.0.parent_id {
            Some(parent_id) => Ok(load_one(ctx, parent_id).await?.map(Team)),
            None => Ok(None),
        }
    }

    /// The active teams directly below this one.
    async fn children(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Team>> {
        Ok(load_list(ctx, ChildTeamsOf(self.0.id))
            .await?
            .into_iter()
            .map(Team)
            .collect())
    }

    /// The members of the team.
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<User>> {
        let user_ids = load_list(ctx, MembersOf(self.0.id)).await?;
        let mut users = Vec::with_capacity(user_ids.len());
        for user_id in user_ids {
            if let Some(user) = load_one(ctx, user_id).await? {
                users.push(User(user));
            }
        }
        Ok(users)
    }

    /// The team's objectives, oldest first; archived ones only when asked for by state.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn objectives(
        &self,
        ctx: &Context<'_>,
        cycle_id: Option<ID>,
        state: Option<super::enums::ObjectiveState>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<ObjectiveConnection> {
        let filter = ObjectiveFilter {
            cycle_id: decode_argument("cycleId", cycle_id.as_ref())?,
            team_id: Some(self.0.id),
            state: state.map(Into::into),
            ..ObjectiveFilter::default()
        };
        objectives_connection(ctx, filter, first, after, last, before).await
    }

    /// The team's KPIs, oldest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<KpiConnection> {
        kpis_connection(ctx, Some(self.0.id), false, first, after, last, before).await
    }

    /// Check-ins, comments, milestones and state changes of the objectives of this team and
    /// the teams below it, newest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn activity(
        &self,
        ctx: &Context<'_>,
        types: Option<Vec<ActivityEventType>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<ActivityEventConnection> {
        let organization_id = ctx.read_scope()?;
        let team_ids = ctx
            .store()?
            .team_subtree(organization_id, self.0.id)
            .await
            .map_err(store_failure)?;
        let filter = ActivityFilter {
            team_ids: Some(team_ids),
            event_types: activity_types(types),
            ..ActivityFilter::default()
        };
        activity_connection(ctx, filter, first, after, last, before).await
    }

    /// The key that integrations use to address this team, unique in the organization.
    async fn external_key(&self) -> Option<&str> {
        self.0.external_key.as_ref().map(|key| key.as_str())
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

    /// When the team was archived; archived teams take no new objectives or KPIs.
    async fn archived_at(&self) -> Option<DateTime> {
        self.0.archived_at.map(Into::into)
    }
}

crate::graphql::connection::connection!(TeamConnection, TeamEdge, Team, "A page of teams.");
