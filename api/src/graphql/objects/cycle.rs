use super::enums::CycleState;
use super::objective::{ObjectiveConnection, objectives_connection};
use super::{load_list, load_one};
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{Typed, decode_argument};
use crate::graphql::loaders::ChildCyclesOf;
use crate::graphql::scalars::Date;
use crate::graphql::scalars::DateTime;
use async_graphql::{Context, ID, Object};
use headway_domain::model;
use headway_domain::progress::{self, CycleWindow};
use headway_persistence::ObjectiveFilter;

/// A time box such as a year or a quarter. Its dates are inclusive and count in the
/// organization's time zone.
#[derive(Clone)]
pub struct Cycle(pub model::Cycle);

impl Cycle {
    async fn window(&self, ctx: &Context<'_>) -> async_graphql::Result<CycleWindow> {
        let organization = ctx.organization().await?;
        Ok(CycleWindow::new(
            self.0.start_date,
            self.0.end_date,
            organization.settings.time_zone,
        ))
    }
}

#[Object]
impl Cycle {
    /// The global id.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    async fn name(&self) -> &str {
        self.0.name.as_str()
    }

    /// The first day of the cycle.
    async fn start_date(&self) -> Date {
        Date::from(self.0.start_date)
    }

    /// The last day of the cycle, inclusive.
    async fn end_date(&self) -> Date {
        Date::from(self.0.end_date)
    }

    /// The instant the cycle starts: 00:00 of its start date in the organization's time zone.
    async fn starts_at(&self, ctx: &Context<'_>) -> async_graphql::Result<DateTime> {
        Ok(self.window(ctx).await?.start.into())
    }

    /// The instant the cycle ends: 24:00 of its end date in the organization's time zone.
    async fn ends_at(&self, ctx: &Context<'_>) -> async_graphql::Result<DateTime> {
        Ok(self.window(ctx).await?.end.into())
    }

    /// The share of the cycle's time elapsed now, from 0 to 1: the progress the pace asks for.
    async fn expected_progress(&self, ctx: &Context<'_>) -> async_graphql::Result<f64> {
        let now = ctx.now()?;
        Ok(progress::to_f64(
            self.window(ctx).await?.expected_progress(now),
        ))
    }

    async fn state(&self) -> CycleState {
        self.0.state.into()
    }

    /// The cycle this one lies in, such as the year of a quarter.
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Cycle>> {
        match self.0.parent_id {
            Some(parent_id) => Ok(load_one(ctx, parent_id).await?.map(Cycle)),
            None => Ok(None),
        }
    }

    /// The cycles directly inside this one, by start date.
    async fn children(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Cycle>> {
        Ok(load_list(ctx, ChildCyclesOf(self.0.id))
            .await?
            .into_iter()
            .map(Cycle)
            .collect())
    }

    /// The cycle's objectives, oldest first; archived ones only when asked for by state.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn objectives(
        &self,
        ctx: &Context<'_>,
        team_id: Option<ID>,
        owner_id: Option<ID>,
        state: Option<super::enums::ObjectiveState>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<ObjectiveConnection> {
        let filter = ObjectiveFilter {
            cycle_id: Some(self.0.id),
            team_id: decode_argument("teamId", team_id.as_ref())?,
            owner_id: decode_argument("ownerId", owner_id.as_ref())?,
            state: state.map(Into::into),
            ..ObjectiveFilter::default()
        };
        objectives_connection(ctx, filter, first, after, last, before).await
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

    async fn archived_at(&self) -> Option<DateTime> {
        self.0.archived_at.map(Into::into)
    }
}

crate::graphql::connection::connection!(CycleConnection, CycleEdge, Cycle, "A page of cycles.");
