//! The query root.

use super::connection::{TotalCount, id_cursor, page_request};
use super::context::{ContextExt, Permission};
use super::error::{ApiError, store_failure};
use super::ids::{GlobalId, decode_argument};
use super::objects::access::{ApiToken, ApiTokenConnection, AuditEntry, AuditEntryConnection};
use super::objects::cycle::{Cycle, CycleConnection};
use super::objects::enums::{CycleState, ObjectiveState};
use super::objects::kpi::{KpiConnection, kpis_connection};
use super::objects::node::{Node, resolve_node};
use super::objects::objective::{ObjectiveConnection, objectives_connection};
use super::objects::organization::{Organization, Viewer};
use super::objects::team::{Team, TeamConnection};
use super::objects::webhook::{WebhookEndpoint, WebhookEndpointConnection};
use super::scalars::DateTime;
use async_graphql::{Context, ID, InputObject, Object};
use headway_domain::ids::{CycleId, TeamId};
use headway_persistence::AuditFilter;
use headway_persistence::ObjectiveFilter;

/// The most ids one `nodes` call resolves.
pub const MAX_NODE_IDS: usize = 100;

/// Which audit entries to list.
#[derive(InputObject, Default)]
pub struct AuditEntryFilterInput {
    /// Changes by this user.
    pub user_id: Option<ID>,
    /// Changes by this API token.
    pub api_token_id: Option<ID>,
    /// Changes to this record (any global id).
    pub record_id: Option<ID>,
    /// Changes by this mutation, such as `updateObjective`.
    pub action: Option<String>,
    /// Changes at or after this time.
    pub from: Option<DateTime>,
    /// Changes before this time.
    pub to: Option<DateTime>,
}

impl AuditEntryFilterInput {
    fn parse(self) -> Result<AuditFilter, ApiError> {
        let record_id = match &self.record_id {
            Some(id) => Some(parse_node_id("filter.recordId", id)?.uuid),
            None => None,
        };
        let instant = |argument: &str, value: Option<&DateTime>| {
            value
                .map(|value| value.get(argument))
                .transpose()
                .map_err(|error| ApiError::bad_input(format!("{argument}: {}", error.message)))
        };
        Ok(AuditFilter {
            user_id: decode_argument("filter.userId", self.user_id.as_ref())?,
            api_token_id: decode_argument("filter.apiTokenId", self.api_token_id.as_ref())?,
            record_id,
            action: self.action,
            from: instant("filter.from", self.from.as_ref())?,
            to: instant("filter.to", self.to.as_ref())?,
        })
    }
}

/// Which objectives to list.
#[derive(InputObject, Default)]
pub struct ObjectiveFilterInput {
    pub cycle_id: Option<ID>,
    pub team_id: Option<ID>,
    pub owner_id: Option<ID>,
    /// Archived objectives appear only when this asks for ARCHIVED.
    pub state: Option<ObjectiveState>,
    /// Only objectives aligned directly below this one.
    pub parent_id: Option<ID>,
    /// Only objectives without a parent.
    #[graphql(default = false)]
    pub roots_only: bool,
}

fn parse_node_id(argument: &str, id: &ID) -> Result<GlobalId, ApiError> {
    GlobalId::decode(id.as_str()).ok_or_else(|| {
        let shown: String = id.as_str().chars().take(80).collect();
        ApiError::bad_input(format!(
            "{argument}: \"{shown}\" is not a valid id; an id is a type prefix such as \"obj_\" or \"kr_\" followed by 32 hex digits"
        ))
    })
}

/// Every query.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(CoreQueries, super::insights::InsightQueries);

/// Records, lists and access.
#[derive(Default)]
pub struct CoreQueries;

#[Object]
impl CoreQueries {
    /// Fetches any record by its global id. An id that does not exist, or belongs to another
    /// organization, gives null.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let id = parse_node_id("id", &id)?;
        resolve_node(ctx, id).await
    }

    /// Fetches up to 100 records by global id, in the order of `ids`; unknown ids give null.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODE_IDS {
            return Err(ApiError::bad_input(format!(
                "ids: {} ids requested; the maximum is {MAX_NODE_IDS}",
                ids.len()
            ))
            .into());
        }
        let parsed = ids
            .iter()
            .enumerate()
            .map(|(index, id)| parse_node_id(&format!("ids[{index}]"), id))
            .collect::<Result<Vec<_>, _>>()?;
        let resolved = parsed.into_iter().map(|id| resolve_node(ctx, id));
        futures::future::try_join_all(resolved).await
    }

    /// The signed-in user and the organization this request acts on.
    async fn viewer(&self) -> Viewer {
        Viewer
    }

    /// The organization this request acts on.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        ctx.read_scope()?;
        Ok(Organization(ctx.organization().await?))
    }

    /// Teams, oldest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn teams(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the teams directly below this one.")] parent_id: Option<ID>,
        #[graphql(desc = "Only teams without a parent.", default = false)] roots_only: bool,
        #[graphql(desc = "Include archived teams.", default = false)] include_archived: bool,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<TeamConnection> {
        let organization_id = ctx.read_scope()?;
        let parent_id: Option<TeamId> = decode_argument("parentId", parent_id.as_ref())?;
        let parent = match (parent_id, roots_only) {
            (Some(parent_id), _) => Some(Some(parent_id)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let request = page_request(first, after, last, before)?;
        let store = ctx.store()?.clone();
        let page = store
            .teams_page(organization_id, parent, include_archived, request)
            .await
            .map_err(store_failure)?;
        let total = TotalCount::deferred(move || {
            let store = store.clone();
            Box::pin(async move {
                store
                    .count_teams(organization_id, parent, include_archived)
                    .await
            })
        });
        Ok(TeamConnection::build(
            page,
            |team| id_cursor(team.id.as_uuid()),
            Team,
            total,
        ))
    }

    /// Cycles, oldest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn cycles(
        &self,
        ctx: &Context<'_>,
        state: Option<CycleState>,
        #[graphql(desc = "Only the cycles directly inside this one.")] parent_id: Option<ID>,
        #[graphql(desc = "Only cycles without a parent.", default = false)] roots_only: bool,
        #[graphql(desc = "Include archived cycles.", default = false)] include_archived: bool,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<CycleConnection> {
        let organization_id = ctx.read_scope()?;
        let parent_id: Option<CycleId> = decode_argument("parentId", parent_id.as_ref())?;
        let parent = match (parent_id, roots_only) {
            (Some(parent_id), _) => Some(Some(parent_id)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let state = state.map(Into::into);
        let request = page_request(first, after, last, before)?;
        let store = ctx.store()?.clone();
        let page = store
            .cycles_page(organization_id, state, parent, include_archived, request)
            .await
            .map_err(store_failure)?;
        let total = TotalCount::deferred(move || {
            let store = store.clone();
            Box::pin(async move {
                store
                    .count_cycles(organization_id, state, parent, include_archived)
                    .await
            })
        });
        Ok(CycleConnection::build(
            page,
            |cycle| id_cursor(cycle.id.as_uuid()),
            Cycle,
            total,
        ))
    }

    /// Objectives, oldest first. With a cycle filter and nested key results this is the
    /// dashboard query; its number of SQL statements does not grow with the data.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn objectives(
        &self,
        ctx: &Context<'_>,
        filter: Option<ObjectiveFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<ObjectiveConnection> {
        let filter = filter.unwrap_or_default();
        let parent_id = decode_argument("filter.parentId", filter.parent_id.as_ref())?;
        let filter = ObjectiveFilter {
            cycle_id: decode_argument("filter.cycleId", filter.cycle_id.as_ref())?,
            team_id: decode_argument("filter.teamId", filter.team_id.as_ref())?,
            owner_id: decode_argument("filter.ownerId", filter.owner_id.as_ref())?,
            state: filter.state.map(Into::into),
            parent_id: match (parent_id, filter.roots_only) {
                (Some(parent_id), _) => Some(Some(parent_id)),
                (None, true) => Some(None),
                (None, false) => None,
            },
            include_archived: false,
        };
        objectives_connection(ctx, filter, first, after, last, before).await
    }

    /// The organization's API tokens, oldest first; never their secrets. Needs ADMIN.
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Include revoked tokens.", default = false)] include_revoked: bool,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<ApiTokenConnection> {
        let organization_id = ctx.authorize(Permission::Administer)?.organization_id;
        let request = page_request(first, after, last, before)?;
        let page = ctx
            .store()?
            .api_tokens_page(organization_id, include_revoked, request)
            .await
            .map_err(store_failure)?;
        let store = ctx.store()?.clone();
        let total = TotalCount::deferred(move || {
            let store = store.clone();
            Box::pin(async move {
                store
                    .count_api_tokens(organization_id, include_revoked)
                    .await
            })
        });
        Ok(ApiTokenConnection::build(
            page,
            |token| id_cursor(token.id.as_uuid()),
            ApiToken,
            total,
        ))
    }

    /// The organization's webhook endpoints, oldest first; never their secrets. Needs ADMIN.
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Include deleted endpoints.", default = false)] include_deleted: bool,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<WebhookEndpointConnection> {
        let organization_id = ctx.authorize(Permission::Administer)?.organization_id;
        let request = page_request(first, after, last, before)?;
        let page = ctx
            .store()?
            .webhook_endpoints_page(organization_id, include_deleted, request)
            .await
            .map_err(store_failure)?;
        let store = ctx.store()?.clone();
        let total = TotalCount::deferred(move || {
            let store = store.clone();
            Box::pin(async move {
                store
                    .count_webhook_endpoints(organization_id, include_deleted)
                    .await
            })
        });
        Ok(WebhookEndpointConnection::build(
            page,
            |endpoint| id_cursor(endpoint.id.as_uuid()),
            WebhookEndpoint,
            total,
        ))
    }

    /// The audit log: who changed what, newest first. Needs ADMIN.
    async fn audit_entries(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEntryFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<AuditEntryConnection> {
        let organization_id = ctx.authorize(Permission::Administer)?.organization_id;
        let filter = filter.unwrap_or_default().parse()?;
        let request = page_request(first, after, last, before)?;
        let store = ctx.store()?.clone();
        let page = store
            .audit_entries_page(organization_id, &filter, request)
            .await
            .map_err(store_failure)?;
        let total = TotalCount::deferred(move || {
            let store = store.clone();
            let filter = filter.clone();
            Box::pin(async move { store.count_audit_entries(organization_id, &filter).await })
        });
        Ok(AuditEntryConnection::build(
            page,
            |entry| headway_persistence::SortCursor {
                time: Some(entry.occurred_at),
                id: entry.id.as_uuid(),
            },
            AuditEntry,
            total,
        ))
    }

    /// KPIs, oldest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        team_id: Option<ID>,
        #[graphql(desc = "Include archived KPIs.", default = false)] include_archived: bool,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<KpiConnection> {
        let team_id = decode_argument("teamId", team_id.as_ref())?;
        kpis_connection(ctx, team_id, include_archived, first, after, last, before).await
    }
}
