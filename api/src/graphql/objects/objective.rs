use super::comment::{CommentConnection, comments_connection};
use super::cycle::Cycle;
use super::enums::{ObjectiveKind, ObjectiveState, PaceStatus, ProgressSource, ScoreBand};
use super::key_result::{KeyResult, KeyResultConnection};
use super::organization::User;
use super::team::Team;
use super::{load_list, load_one};
use crate::graphql::connection::{TotalCount, connection, id_cursor, page_in_memory, page_request};
use crate::graphql::context::ContextExt;
use crate::graphql::error::store_failure;
use crate::graphql::ids::Typed;
use crate::graphql::insights::{
    ActivityEventConnection, ProgressPoint, activity_connection, activity_types, objective_history,
};
use crate::graphql::loaders::{ChildObjectivesOf, KeyResultsOf};
use crate::graphql::scalars::Decimal;
use crate::graphql::scalars::{Date, DateTime};
use crate::graphql::subscription::ActivityEventType;
use async_graphql::{Context, ID, Object, SimpleObject};
use headway_domain::model::{self, CommentSubject};
use headway_domain::progress::{self, CycleWindow, RollupInput};
use headway_persistence::ObjectiveFilter;
use headway_persistence::practice::ActivityFilter;
use rust_decimal::Decimal as RustDecimal;

/// Where a team wants to be: a qualitative goal measured by key results or by the
/// objectives aligned below it.
#[derive(Clone)]
pub struct Objective(pub model::Objective);

impl Objective {
    async fn window(&self, ctx: &Context<'_>) -> async_graphql::Result<CycleWindow> {
        Ok(ctx.cycle_window(self.0.cycle_id).await?.1)
    }
}

#[Object]
impl Objective {
    /// The global id.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    async fn title(&self) -> &str {
        self.0.title.as_str()
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_ref().map(|text| text.as_str())
    }

    async fn cycle(&self, ctx: &Context<'_>) -> async_graphql::Result<Cycle> {
        Ok(Cycle(ctx.cycle_window(self.0.cycle_id).await?.0))
    }

    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        match self.0.team_id {
            Some(team_id) => Ok(load_one(ctx, team_id).await?.map(Team)),
            None => Ok(None),
        }
    }

    /// The person accountable for the objective.
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.0.owner_id {
            Some(owner_id) => Ok(load_one(ctx, owner_id).await?.map(User)),
            None => Ok(None),
        }
    }

    async fn kind(&self) -> ObjectiveKind {
        self.0.kind.into()
    }

    async fn state(&self) -> ObjectiveState {
        self.0.state.into()
    }

    /// Which inputs the progress is computed from.
    async fn progress_source(&self) -> ProgressSource {
        self.0.progress_source.into()
    }

    /// The weight of this objective in its parent's progress.
    async fn weight(&self) -> Decimal {
        Decimal::from(self.0.weight.get())
    }

    /// Weighted progress of the inputs, from 0 to 1.
    async fn progress(&self) -> f64 {
        progress::to_f64(self.0.progress)
    }

    /// The progress the cycle's elapsed time asks for now, from 0 to 1.
    async fn expected_progress(&self, ctx: &Context<'_>) -> async_graphql::Result<f64> {
        let now = ctx.now()?;
        Ok(progress::to_f64(
            self.window(ctx).await?.expected_progress(now),
        ))
    }

    /// Progress against the expected progress now.
    async fn pace_status(&self, ctx: &Context<'_>) -> async_graphql::Result<PaceStatus> {
        let now = ctx.now()?;
        let expected = self.window(ctx).await?.expected_progress(now);
        Ok(progress::pace_status(self.0.progress, expected).into())
    }

    /// The score frozen when the cycle closed: the weighted average of its inputs' scores.
    async fn score(&self) -> Option<f64> {
        self.0.score.map(progress::to_f64)
    }

    /// The color band of the frozen score.
    async fn score_band(&self) -> Option<ScoreBand> {
        self.0.score.map(|score| progress::score_band(score).into())
    }

    /// Whether the objective succeeded by its frozen score: COMMITTED needs 1.0,
    /// ASPIRATIONAL needs 0.7.
    async fn successful(&self) -> Option<bool> {
        self.0
            .score
            .map(|score| progress::is_successful(self.0.kind, score))
    }

    /// The objective this one is aligned to.
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Objective>> {
        match self.0.parent_id {
            Some(parent_id) => Ok(load_one(ctx, parent_id).await?.map(Objective)),
            None => Ok(None),
        }
    }

    /// Every objective above this one, nearest first.
    async fn ancestors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Objective>> {
        let mut ancestors: Vec<Objective> = Vec::new();
        let mut next = self.0.parent_id;
        while let Some(parent_id) = next {
            if ancestors.len() >= headway_domain::alignment::MAX_DEPTH
                || ancestors.iter().any(|ancestor| ancestor.0.id == parent_id)
            {
                break;
            }
            let Some(parent) = load_one::<_, model::Objective>(ctx, parent_id).await? else {
                break;
            };
            next = parent.parent_id;
            ancestors.push(Objective(parent));
        }
        Ok(ancestors)
    }

    /// The unarchived objectives aligned directly below this one, oldest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn children(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<ObjectiveConnection> {
        let request = page_request(first, after, last, before)?;
        let children = load_list(ctx, ChildObjectivesOf(self.0.id)).await?;
        let total = TotalCount::Known(children.len() as u64);
        let page = page_in_memory(
            children,
            |child: &model::Objective| child.id.as_uuid(),
            request,
        );
        Ok(ObjectiveConnection::build(
            page,
            |child| id_cursor(child.id.as_uuid()),
            Objective,
            total,
        ))
    }

    /// The objective's key results, oldest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn key_results(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Include archived key results.", default = false)] include_archived: bool,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<KeyResultConnection> {
        let request = page_request(first, after, last, before)?;
        let key_results = if include_archived {
            let organization_id = ctx.read_scope()?;
            ctx.store()?
                .key_results_of_objectives(organization_id, &[self.0.id], true)
                .await
                .map_err(store_failure)?
        } else {
            load_list(ctx, KeyResultsOf(self.0.id)).await?
        };
        let total = TotalCount::Known(key_results.len() as u64);
        let page = page_in_memory(
            key_results,
            |key_result: &model::KeyResult| key_result.id.as_uuid(),
            request,
        );
        Ok(KeyResultConnection::build(
            page,
            |key_result| id_cursor(key_result.id.as_uuid()),
            |key_result| KeyResult::in_cycle(key_result, self.0.cycle_id),
            total,
        ))
    }

    /// How the progress figure comes about: each input with its weight and progress.
    async fn progress_explanation(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<ProgressExplanation> {
        let source = self.0.progress_source;
        let mut inputs = Vec::new();
        if source.uses_key_results() {
            for key_result in load_list(ctx, KeyResultsOf(self.0.id)).await? {
                let counted = !key_result.weight.get().is_zero();
                inputs.push(ProgressInput {
                    key_result: Some(KeyResult::in_cycle(key_result.clone(), self.0.cycle_id)),
                    objective: None,
                    title: key_result.title.as_str().to_owned(),
                    weight: Decimal::from(key_result.weight.get()),
                    exact_weight: key_result.weight,
                    progress: progress::to_f64(key_result.progress()),
                    exact_progress: key_result.progress(),
                    counted,
                    note: (!counted).then(|| "weight 0 keeps it out of the average".to_owned()),
                });
            }
        }
        if source.uses_child_objectives() {
            for child in load_list(ctx, ChildObjectivesOf(self.0.id)).await? {
                let draft = child.state == model::ObjectiveState::Draft;
                let zero = child.weight.get().is_zero();
                let note = if draft {
                    Some("DRAFT objectives do not count until they are active".to_owned())
                } else if zero {
                    Some("weight 0 keeps it out of the average".to_owned())
                } else {
                    None
                };
                inputs.push(ProgressInput {
                    key_result: None,
                    objective: Some(Objective(child.clone())),
                    title: child.title.as_str().to_owned(),
                    weight: Decimal::from(child.weight.get()),
                    exact_weight: child.weight,
                    progress: progress::to_f64(progress::clamp_unit(child.progress)),
                    exact_progress: progress::clamp_unit(child.progress),
                    counted: note.is_none(),
                    note,
                });
            }
        }
        let counted: Vec<RollupInput> = inputs
            .iter()
            .filter(|input| input.counted)
            .map(|input| RollupInput {
                weight: input.exact_weight,
                progress: input.exact_progress,
            })
            .collect();
        let result = progress::weighted_progress(&counted);
        Ok(ProgressExplanation {
            progress: progress::to_f64(result),
            progress_source: source.into(),
            formula: weighted_formula(&counted, result),
            inputs,
        })
    }

    /// Comments on the objective, oldest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn comments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<CommentConnection> {
        comments_connection(
            ctx,
            CommentSubject::Objective(self.0.id),
            first,
            after,
            last,
            before,
        )
        .await
    }

    /// The objective this one was rolled over or duplicated from.
    async fn copied_from(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Objective>> {
        match self.0.copied_from {
            Some(id) => Ok(load_one(ctx, id).await?.map(Objective)),
            None => Ok(None),
        }
    }

    /// Progress at the end of each day from `from` to `to` (by default from the cycle's
    /// start to today or its end), replayed from the check-ins below it with today's
    /// alignment and weights. At most 1,000 days.
    async fn progress_history(
        &self,
        ctx: &Context<'_>,
        from: Option<Date>,
        to: Option<Date>,
    ) -> async_graphql::Result<Vec<ProgressPoint>> {
        objective_history(ctx, &self.0, from, to).await
    }

    /// Check-ins, comments, milestones and state changes of the objective and its key
    /// results, newest first.
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
        let filter = ActivityFilter {
            objective_id: Some(self.0.id),
            event_types: activity_types(types),
            ..ActivityFilter::default()
        };
        activity_connection(ctx, filter, first, after, last, before).await
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

/// Rounds a figure to four decimal places for display, halves away from zero.
pub(crate) fn shown(value: RustDecimal) -> RustDecimal {
    value
        .round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// Writes the weighted average as arithmetic, such as `(2 × 0.5 + 1 × 1) / 3 = 0.6667`.
fn weighted_formula(inputs: &[RollupInput], result: RustDecimal) -> String {
    if inputs.iter().all(|input| input.weight.get().is_zero()) {
        return "no counted inputs, so the progress is 0".to_owned();
    }
    let terms: Vec<String> = inputs
        .iter()
        .map(|input| {
            format!(
                "{} × {}",
                input.weight.get().normalize(),
                input.progress.round_dp(4).normalize()
            )
        })
        .collect();
    let weights: RustDecimal = inputs.iter().map(|input| input.weight.get()).sum();
    format!(
        "({}) / {} = {}",
        terms.join(" + "),
        weights.normalize(),
        shown(result)
    )
}

/// The inputs and arithmetic behind an objective's progress.
#[derive(SimpleObject)]
pub struct ProgressExplanation {
    /// The explained figure, from 0 to 1.
    pub progress: f64,
    pub progress_source: ProgressSource,
    /// The weighted average written out, such as `(2 × 0.5 + 1 × 1) / 3 = 0.6667`.
    pub formula: String,
    /// Every input, including those that do not count.
    pub inputs: Vec<ProgressInput>,
}

/// One input of an objective's progress.
#[derive(SimpleObject)]
pub struct ProgressInput {
    /// The key result, when the input is one.
    pub key_result: Option<KeyResult>,
    /// The child objective, when the input is one.
    pub objective: Option<Objective>,
    pub title: String,
    pub weight: Decimal,
    #[graphql(skip)]
    pub exact_weight: headway_domain::values::Weight,
    /// The input's progress, clamped to [0, 1].
    pub progress: f64,
    #[graphql(skip)]
    pub exact_progress: RustDecimal,
    /// Whether the input counts in the average.
    pub counted: bool,
    /// Why the input does not count.
    pub note: Option<String>,
}

connection!(
    ObjectiveConnection,
    ObjectiveEdge,
    Objective,
    "A page of objectives."
);

/// Lists objectives by `filter`, oldest first.
pub async fn objectives_connection(
    ctx: &Context<'_>,
    filter: ObjectiveFilter,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> async_graphql::Result<ObjectiveConnection> {
    let organization_id = ctx.read_scope()?;
    let request = page_request(first, after, last, before)?;
    let store = ctx.store()?.clone();
    let page = store
        .objectives_page(organization_id, &filter, request)
        .await
        .map_err(store_failure)?;
    ctx.loader()?.remember(
        page.items
            .iter()
            .map(|objective| (objective.id, objective.clone())),
    );
    crate::graphql::prefetch::objective_page(ctx, &page.items).await?;
    let total = TotalCount::deferred(move || {
        let store = store.clone();
        let filter = filter.clone();
        Box::pin(async move { store.count_objectives(organization_id, &filter).await })
    });
    Ok(ObjectiveConnection::build(
        page,
        |objective| id_cursor(objective.id.as_uuid()),
        Objective,
        total,
    ))
}
