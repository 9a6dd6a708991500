use super::comment::{CommentConnection, comments_connection};
use super::enums::{KeyResultType, PaceStatus, ScoreBand, Source, Unit};
use super::kpi::Kpi;
use super::objective::Objective;
use super::organization::User;
use super::{load_one, load_required};
use crate::graphql::connection::{TotalCount, connection, encode_cursor, page_request};
use crate::graphql::context::ContextExt;
use crate::graphql::error::store_failure;
use crate::graphql::ids::Typed;
use crate::graphql::insights::{ProgressPoint, key_result_history};
use crate::graphql::scalars::Decimal;
use crate::graphql::scalars::{Date, DateTime};
use async_graphql::{Context, ID, Object, SimpleObject};
use headway_domain::ids::CycleId;
use headway_domain::model::{self, CommentSubject, KeyResultType as DomainType};
use headway_domain::progress::{self, CycleWindow};
use headway_persistence::SortCursor;

/// A measurable checkpoint that shows an objective was reached.
#[derive(Clone)]
pub struct KeyResult(pub model::KeyResult, Option<CycleId>);

impl From<model::KeyResult> for KeyResult {
    fn from(key_result: model::KeyResult) -> Self {
        Self(key_result, None)
    }
}

impl KeyResult {
    /// A key result whose objective's cycle is known, which saves looking the objective up.
    pub fn in_cycle(key_result: model::KeyResult, cycle_id: CycleId) -> Self {
        Self(key_result, Some(cycle_id))
    }

    /// The state and window of the key result's cycle.
    async fn cycle(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<(model::CycleState, CycleWindow)> {
        let cycle_id = match self.1 {
            Some(cycle_id) => cycle_id,
            None => {
                let objective: model::Objective = load_required(ctx, self.0.objective_id).await?;
                objective.cycle_id
            }
        };
        let (cycle, window) = ctx.cycle_window(cycle_id).await?;
        Ok((cycle.state, window))
    }

    fn is_boolean(&self) -> bool {
        self.0.measure.kind() == DomainType::Boolean
    }
}

#[Object]
impl KeyResult {
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

    /// The objective this key result measures.
    async fn objective(&self, ctx: &Context<'_>) -> async_graphql::Result<Objective> {
        Ok(Objective(load_required(ctx, self.0.objective_id).await?))
    }

    /// The person who checks in on this key result.
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.0.owner_id {
            Some(owner_id) => Ok(load_one(ctx, owner_id).await?.map(User)),
            None => Ok(None),
        }
    }

    /// How progress follows the current value.
    #[graphql(name = "type")]
    async fn kind(&self) -> KeyResultType {
        self.0.measure.kind().into()
    }

    async fn unit(&self) -> Unit {
        self.0.unit.kind().into()
    }

    /// The ISO 4217 currency code when the unit is CURRENCY.
    async fn currency_code(&self) -> Option<String> {
        self.0.unit.currency().map(|code| code.as_str().to_owned())
    }

    /// Where the metric stood when the key result was set; null for BOOLEAN.
    async fn start_value(&self) -> Option<Decimal> {
        self.0
            .measure
            .visible_start()
            .map(|value| Decimal::from(value.get()))
    }

    /// The value to reach; null for BOOLEAN.
    async fn target_value(&self) -> Option<Decimal> {
        self.0
            .measure
            .visible_target()
            .map(|value| Decimal::from(value.get()))
    }

    /// The value of the check-in with the latest observed-at time; the start value until the
    /// first check-in. For BOOLEAN key results 1 means done and 0 not done.
    async fn current_value(&self) -> Decimal {
        Decimal::from(self.0.current_value.get())
    }

    /// Whether a BOOLEAN key result is done; null for other types.
    async fn done(&self) -> Option<bool> {
        self.is_boolean()
            .then(|| !self.0.current_value.get().is_zero())
    }

    /// The weight of this key result in its objective's progress.
    async fn weight(&self) -> Decimal {
        Decimal::from(self.0.weight.get())
    }

    /// Progress from 0 to 1, the figure that rolls up.
    async fn progress(&self) -> f64 {
        progress::to_f64(self.0.progress())
    }

    /// The unclamped progress ratio: 1.25 means 25 % beyond the target, below 0 means
    /// moving away from it.
    async fn progress_ratio(&self) -> f64 {
        progress::to_f64(self.0.progress_ratio)
    }

    /// The progress the cycle's elapsed time asks for now, from 0 to 1.
    async fn expected_progress(&self, ctx: &Context<'_>) -> async_graphql::Result<f64> {
        let now = ctx.now()?;
        let (_, window) = self.cycle(ctx).await?;
        Ok(progress::to_f64(window.expected_progress(now)))
    }

    /// Progress against the expected progress now.
    async fn pace_status(&self, ctx: &Context<'_>) -> async_graphql::Result<PaceStatus> {
        let now = ctx.now()?;
        let (_, window) = self.cycle(ctx).await?;
        Ok(progress::pace_status(self.0.progress(), window.expected_progress(now)).into())
    }

    /// Whether the cycle is active and the newest check-in is older than the organization's
    /// check-in cadence. Without check-ins the key result counts from its creation or the
    /// cycle's start, whichever is later.
    async fn stale(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let now = ctx.now()?;
        let (cycle, window) = self.cycle(ctx).await?;
        let cadence = ctx.organization().await?.settings.check_in_cadence;
        let tracked_since = self.0.created_at.max(window.start);
        Ok(progress::is_stale(
            cycle,
            self.0.current_observed_at,
            tracked_since,
            cadence,
            now,
        ))
    }

    /// The owner's most recent confidence, from 0 to 10, as given with the newest check-in
    /// that carried one. It is shown beside the pace status and never mixed into it.
    async fn latest_confidence(&self) -> Option<i32> {
        self.0.latest_confidence.map(|level| i32::from(level.get()))
    }

    /// The check-in with the latest observed-at time, which sets the current value.
    async fn last_check_in(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CheckIn>> {
        match self.0.current_check_in_id {
            Some(check_in_id) => Ok(load_one(ctx, check_in_id).await?.map(CheckIn)),
            None => Ok(None),
        }
    }

    /// The check-ins, newest observation first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn check_ins(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<CheckInConnection> {
        let organization_id = ctx.read_scope()?;
        let request = page_request(first, after, last, before)?;
        let store = ctx.store()?.clone();
        let key_result_id = self.0.id;
        let page = store
            .check_ins_page(organization_id, key_result_id, request)
            .await
            .map_err(store_failure)?;
        let total = TotalCount::deferred(move || {
            let store = store.clone();
            Box::pin(async move { store.count_check_ins(organization_id, key_result_id).await })
        });
        Ok(CheckInConnection::build(
            page,
            |check_in| SortCursor {
                time: Some(check_in.observed_at),
                id: check_in.id.as_uuid(),
            },
            CheckIn,
            total,
        ))
    }

    /// The KPI whose latest measurement within the cycle drives the current value.
    async fn kpi(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Kpi>> {
        match self.0.kpi_id {
            Some(kpi_id) => Ok(load_one(ctx, kpi_id).await?.map(Kpi)),
            None => Ok(None),
        }
    }

    /// A grade from 0 to 1 that an owner set; it replaces the progress in the score at close.
    async fn manual_grade(&self) -> Option<f64> {
        self.0
            .manual_grade
            .map(|grade| progress::to_f64(grade.get()))
    }

    /// Why the owner set the manual grade.
    async fn grade_note(&self) -> Option<&str> {
        self.0.grade_note.as_ref().map(|note| note.as_str())
    }

    /// The score frozen when the cycle closed.
    async fn score(&self) -> Option<f64> {
        self.0.score.map(progress::to_f64)
    }

    /// The color band of the frozen score.
    async fn score_band(&self) -> Option<ScoreBand> {
        self.0.score.map(|score| progress::score_band(score).into())
    }

    /// How the progress figure comes about.
    async fn progress_explanation(&self) -> KeyResultProgressExplanation {
        let measure = &self.0.measure;
        let (start, target, current) = (
            measure.start().get().normalize(),
            measure.target().get().normalize(),
            self.0.current_value.get().normalize(),
        );
        let ratio = self.0.progress_ratio;
        let shown = super::objective::shown(ratio);
        let formula = match measure.kind() {
            DomainType::IncreaseTo => {
                format!("({current} - {start}) / ({target} - {start}) = {shown}")
            }
            DomainType::DecreaseTo => {
                format!("({start} - {current}) / ({start} - {target}) = {shown}")
            }
            DomainType::StayAtOrAbove => format!("{current} >= {target} is {}", !ratio.is_zero()),
            DomainType::StayAtOrBelow => format!("{current} <= {target} is {}", !ratio.is_zero()),
            DomainType::Boolean => format!("done is {}", !ratio.is_zero()),
        };
        KeyResultProgressExplanation {
            kind: measure.kind().into(),
            start_value: measure
                .visible_start()
                .map(|value| Decimal::from(value.get())),
            target_value: measure
                .visible_target()
                .map(|value| Decimal::from(value.get())),
            current_value: Decimal::from(self.0.current_value.get()),
            progress_ratio: progress::to_f64(ratio),
            progress: progress::to_f64(self.0.progress()),
            formula,
        }
    }

    /// The value and progress at the end of each day from `from` to `to` (by default from
    /// the cycle's start to today or its end), from the check-ins. At most 1,000 days.
    async fn progress_history(
        &self,
        ctx: &Context<'_>,
        from: Option<Date>,
        to: Option<Date>,
    ) -> async_graphql::Result<Vec<ProgressPoint>> {
        let cycle_id = match self.1 {
            Some(cycle_id) => cycle_id,
            None => {
                let objective: model::Objective = load_required(ctx, self.0.objective_id).await?;
                objective.cycle_id
            }
        };
        key_result_history(ctx, &self.0, cycle_id, from, to).await
    }

    /// Comments on the key result, oldest first.
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
            CommentSubject::KeyResult(self.0.id),
            first,
            after,
            last,
            before,
        )
        .await
    }

    /// The key that integrations use to address this key result, unique in the organization.
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

    /// When the key result was archived; archived key results take no check-ins and leave
    /// their objective's progress.
    async fn archived_at(&self) -> Option<DateTime> {
        self.0.archived_at.map(Into::into)
    }
}

/// The inputs and arithmetic behind a key result's progress.
#[derive(SimpleObject)]
pub struct KeyResultProgressExplanation {
    #[graphql(name = "type")]
    pub kind: KeyResultType,
    pub start_value: Option<Decimal>,
    pub target_value: Option<Decimal>,
    pub current_value: Decimal,
    /// The unclamped ratio.
    pub progress_ratio: f64,
    /// The ratio clamped to [0, 1].
    pub progress: f64,
    /// The rule applied to the values, such as `(150 - 100) / (200 - 100) = 0.5`.
    pub formula: String,
}

connection!(
    KeyResultConnection,
    KeyResultEdge,
    KeyResult,
    "A page of key results."
);

/// A value reported for a key result at a point in time.
#[derive(Clone)]
pub struct CheckIn(pub model::CheckIn);

#[Object]
impl CheckIn {
    /// The global id.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    async fn key_result(&self, ctx: &Context<'_>) -> async_graphql::Result<KeyResult> {
        Ok(KeyResult::from(
            load_required::<_, model::KeyResult>(ctx, self.0.key_result_id).await?,
        ))
    }

    /// The reported value; for BOOLEAN key results 1 means done and 0 not done.
    async fn value(&self) -> Decimal {
        Decimal::from(self.0.value.get())
    }

    /// The owner's confidence from 0 to 10 that the key result will be reached.
    async fn confidence(&self) -> Option<i32> {
        self.0.confidence.map(|level| i32::from(level.get()))
    }

    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_ref().map(|text| text.as_str())
    }

    /// The person who checked in; null for integrations and KPI-driven check-ins.
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.0.author_id {
            Some(author_id) => Ok(load_one(ctx, author_id).await?.map(User)),
            None => Ok(None),
        }
    }

    async fn source(&self) -> Source {
        self.0.source.into()
    }

    /// When the value was true. It may lie in the past (a backfill); only the check-in with
    /// the latest observed-at time sets the current value.
    async fn observed_at(&self) -> DateTime {
        self.0.observed_at.into()
    }

    /// When the check-in was recorded.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// Comments on the check-in, oldest first.
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
            CommentSubject::CheckIn(self.0.id),
            first,
            after,
            last,
            before,
        )
        .await
    }
}

connection!(
    CheckInConnection,
    CheckInEdge,
    CheckIn,
    "A page of check-ins."
);

/// The cursor of a check-in in a list sorted by observed-at time.
pub fn check_in_cursor(check_in: &model::CheckIn) -> String {
    encode_cursor(SortCursor {
        time: Some(check_in.observed_at),
        id: check_in.id.as_uuid(),
    })
}
