//! Subscriptions: progress changes, activity and KPI measurements, live and resumable.
//!
//! Each event carries its organization-wide sequence number. A client that passes the last
//! number it saw as `after` first receives every later event still kept (7 days by
//! default), then live events, with no gap and no duplicate.

use super::context::ContextExt;
use super::error::{ApiError, ErrorKind, store_failure};
use super::ids::{Typed, decode_argument};
use super::objects::comment::Comment;
use super::objects::cycle::Cycle;
use super::objects::enums::{KpiHealth, PaceStatus};
use super::objects::key_result::{CheckIn, KeyResult};
use super::objects::kpi::{Kpi, KpiMeasurement};
use super::objects::objective::Objective;
use super::objects::{load_one, require_existing};
use super::scalars::{DateTime, Decimal};
use crate::live::EventHub;
use async_graphql::{
    Context, Enum, ID, InputObject, InputValueError, InputValueResult, Object, Scalar, ScalarType,
    Subscription, Value,
};
use futures::Stream;
use headway_domain::events::{Event, EventPayload, EventScope, EventTopic, RecordKind};
use headway_domain::ids::{
    CheckInId, CycleId, KeyResultId, KpiId, KpiMeasurementId, ObjectiveId, OrganizationId, TeamId,
};
use headway_domain::model;
use headway_domain::progress;
use headway_persistence::Store;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// A 64-bit event sequence number, written as a JSON number. Numbers stay exact up to 2^53.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sequence(pub i64);

/// The largest integer a JSON number carries exactly in common clients: 2^53 - 1.
const MAX_EXACT_INTEGER: i64 = 9_007_199_254_740_991;

#[Scalar(name = "Sequence")]
impl ScalarType for Sequence {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(number) => match number.as_i64() {
                Some(sequence) if (0..=MAX_EXACT_INTEGER).contains(&sequence) => Ok(Self(sequence)),
                _ => Err(InputValueError::custom(format!(
                    "{number} is not a sequence number; use a whole number from 0 to 2^53 - 1"
                ))),
            },
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

/// Which records' events a subscription receives. Without fields it receives the whole
/// organization's; with several, an event must match all of them.
#[derive(InputObject, Default)]
pub struct EventScopeInput {
    /// Events of the team's objectives, key results and KPIs (the team itself, not the teams
    /// below it).
    pub team_id: Option<ID>,
    /// Events of the cycle and of its objectives and key results. Not for kpiMeasurements.
    pub cycle_id: Option<ID>,
    /// Events of the objective and of its key results. Not for kpiMeasurements.
    pub objective_id: Option<ID>,
    /// Events of the key result. Not for kpiMeasurements.
    pub key_result_id: Option<ID>,
    /// Events of the KPI: its measurements and state changes. Not for progress, whose events
    /// are about key results and objectives.
    pub kpi_id: Option<ID>,
}

/// A scope as ids, checked against each event.
#[derive(Clone, Copy, Debug, Default)]
struct ScopeFilter {
    team_id: Option<TeamId>,
    cycle_id: Option<CycleId>,
    objective_id: Option<ObjectiveId>,
    key_result_id: Option<KeyResultId>,
    kpi_id: Option<KpiId>,
}

impl ScopeFilter {
    fn parse(input: Option<EventScopeInput>) -> Result<Self, ApiError> {
        let input = input.unwrap_or_default();
        Ok(Self {
            team_id: decode_argument("scope.teamId", input.team_id.as_ref())?,
            cycle_id: decode_argument("scope.cycleId", input.cycle_id.as_ref())?,
            objective_id: decode_argument("scope.objectiveId", input.objective_id.as_ref())?,
            key_result_id: decode_argument("scope.keyResultId", input.key_result_id.as_ref())?,
            kpi_id: decode_argument("scope.kpiId", input.kpi_id.as_ref())?,
        })
    }

    /// Rejects a scope id that names no record of the organization, so that a mistyped or
    /// foreign id fails at once instead of receiving nothing.
    async fn check_exists(&self, ctx: &Context<'_>) -> Result<(), ApiError> {
        require_existing::<_, model::Team>(ctx, "scope.teamId", "team", self.team_id).await?;
        require_existing::<_, model::Cycle>(ctx, "scope.cycleId", "cycle", self.cycle_id).await?;
        require_existing::<_, model::Objective>(
            ctx,
            "scope.objectiveId",
            "objective",
            self.objective_id,
        )
        .await?;
        require_existing::<_, model::KeyResult>(
            ctx,
            "scope.keyResultId",
            "key result",
            self.key_result_id,
        )
        .await?;
        require_existing::<_, model::Kpi>(ctx, "scope.kpiId", "KPI", self.kpi_id).await
    }

    /// Rejects scope fields that no event of `topic` carries, so that such a subscription
    /// fails at once instead of receiving nothing.
    fn check_applies(&self, topic: EventTopic) -> Result<(), ApiError> {
        if topic == EventTopic::Progress && self.kpi_id.is_some() {
            return Err(ApiError::bad_input(
                "scope.kpiId: progress events are about key results and objectives and carry no KPI; scope by the keyResultId of the key result that follows the KPI, or subscribe to kpiMeasurements",
            ));
        }
        if topic == EventTopic::Kpi {
            let unsupported = [
                ("scope.cycleId", self.cycle_id.is_some()),
                ("scope.objectiveId", self.objective_id.is_some()),
                ("scope.keyResultId", self.key_result_id.is_some()),
            ];
            if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
                return Err(ApiError::bad_input(format!(
                    "{field}: KPI measurement events belong to a KPI and its team only; scope them by kpiId or teamId"
                )));
            }
        }
        Ok(())
    }

    fn matches(&self, scope: &EventScope) -> bool {
        fn same<T: PartialEq>(wanted: Option<T>, actual: Option<T>) -> bool {
            wanted.is_none_or(|wanted| actual == Some(wanted))
        }
        same(self.team_id, scope.team_id)
            && same(self.cycle_id, scope.cycle_id)
            && same(self.objective_id, scope.objective_id)
            && same(self.key_result_id, scope.key_result_id)
            && same(self.kpi_id, scope.kpi_id)
    }
}

/// How many events one read of the outbox returns while a subscriber catches up.
const HISTORY_BATCH: u64 = 500;

/// The organization's events of `topic` within `filter`: those after `after` from the
/// outbox first, then live ones, in sequence order without gaps or duplicates.
async fn events(
    ctx: &Context<'_>,
    topic: EventTopic,
    scope: Option<EventScopeInput>,
    after: Option<Sequence>,
) -> Result<impl Stream<Item = Arc<Event>> + use<>, ApiError> {
    let organization_id = ctx.read_scope()?;
    let filter = ScopeFilter::parse(scope)?;
    filter.check_applies(topic)?;
    filter.check_exists(ctx).await?;
    let store = ctx.store()?.clone();
    let hub = ctx
        .data::<Arc<EventHub>>()
        .map_err(|_| ApiError::internal())?
        .clone();

    // Subscribe before reading history, so that nothing committed in between is missed.
    let (mut receiver, live_from) = hub
        .subscribe(organization_id)
        .await
        .map_err(store_failure)?;
    if let Some(Sequence(after)) = after {
        check_retention(&store, organization_id, after, live_from).await?;
    }
    let start = after.map_or(live_from, |Sequence(after)| after);

    // The reads of the outbox are boxed where they are awaited, so that an idle
    // subscription's stream keeps no room for their state.
    Ok(async_stream::stream! {
        let mut last = start;
        // Events the client missed, from the outbox.
        if last < live_from {
            match Box::pin(read_after(&store, organization_id, &mut last)).await {
                Ok(history) => {
                    for event in history {
                        if event.payload.topic() == topic && filter.matches(&event.scope) {
                            yield event;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "failed to read missed events for a subscriber");
                    return;
                }
            }
        }
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    if event.sequence <= last {
                        continue;
                    }
                    last = event.sequence;
                    if event.payload.topic() == topic && filter.matches(&event.scope) {
                        yield event;
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "a slow subscriber rereads events from the outbox");
                    match Box::pin(read_after(&store, organization_id, &mut last)).await {
                        Ok(history) => {
                            for event in history {
                                if event.payload.topic() == topic && filter.matches(&event.scope) {
                                    yield event;
                                }
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "failed to reread events for a slow subscriber");
                            return;
                        }
                    }
                }
                Err(RecvError::Closed) => return,
            }
        }
    })
}

/// Reads every event after `*last` from the outbox and moves `*last` to the newest.
async fn read_after(
    store: &Store,
    organization_id: OrganizationId,
    last: &mut i64,
) -> Result<Vec<Arc<Event>>, headway_persistence::StoreError> {
    let mut all = Vec::new();
    loop {
        let batch = store
            .events_after(organization_id, *last, HISTORY_BATCH)
            .await?;
        let Some(newest) = batch.last().map(|event| event.sequence) else {
            break;
        };
        *last = newest;
        let full = batch.len() as u64 == HISTORY_BATCH;
        all.extend(batch.into_iter().map(Arc::new));
        if !full {
            break;
        }
    }
    Ok(all)
}

/// Rejects a resume point whose following events were already pruned.
async fn check_retention(
    store: &Store,
    organization_id: OrganizationId,
    after: i64,
    live_from: i64,
) -> Result<(), ApiError> {
    if after > live_from {
        return Err(ApiError::bad_input(format!(
            "after: {after} lies beyond the latest event {live_from}; pass the last sequence number you received"
        )));
    }
    if after == live_from {
        return Ok(());
    }
    let oldest = store
        .oldest_event_sequence(organization_id)
        .await
        .map_err(store_failure)?;
    match oldest {
        Some(oldest) if oldest <= after + 1 => Ok(()),
        _ => Err(ApiError::new(
            ErrorKind::EventsExpired,
            format!(
                "after: the events following {after} are no longer kept; reload the data you show and subscribe without after"
            ),
        )),
    }
}

/// The kind of a progress event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum ProgressEventType {
    KeyResultProgressChanged,
    ObjectiveProgressChanged,
}

/// A key result's or objective's progress or pace status changed.
pub struct ProgressEvent(Arc<Event>);

#[Object]
impl ProgressEvent {
    /// The organization-wide sequence number; pass the last one received as `after` to resume.
    async fn sequence(&self) -> Sequence {
        Sequence(self.0.sequence)
    }

    async fn occurred_at(&self) -> DateTime {
        self.0.occurred_at.into()
    }

    #[graphql(name = "type")]
    async fn kind(&self) -> ProgressEventType {
        match self.0.payload {
            EventPayload::KeyResultProgressChanged { .. } => {
                ProgressEventType::KeyResultProgressChanged
            }
            _ => ProgressEventType::ObjectiveProgressChanged,
        }
    }

    /// The key result whose progress changed, as it is now.
    async fn key_result(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<KeyResult>> {
        match self.0.payload {
            EventPayload::KeyResultProgressChanged { key_result_id, .. } => {
                Ok(load_one::<_, model::KeyResult>(ctx, key_result_id)
                    .await?
                    .map(KeyResult::from))
            }
            _ => Ok(None),
        }
    }

    /// The objective whose progress changed, or the key result's objective, as it is now.
    async fn objective(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Objective>> {
        let id = match self.0.payload {
            EventPayload::ObjectiveProgressChanged { objective_id, .. } => Some(objective_id),
            _ => self.0.scope.objective_id,
        };
        match id {
            Some(id) => Ok(load_one(ctx, id).await?.map(Objective)),
            None => Ok(None),
        }
    }

    /// The progress before the change, from 0 (an unclamped ratio for key results).
    async fn old_progress(&self) -> f64 {
        progress::to_f64(self.progress().0)
    }

    /// The progress after the change.
    async fn new_progress(&self) -> f64 {
        progress::to_f64(self.progress().1)
    }

    async fn old_status(&self) -> PaceStatus {
        self.status().0.into()
    }

    async fn new_status(&self) -> PaceStatus {
        self.status().1.into()
    }

    /// A key result's value before the change.
    async fn old_value(&self) -> Option<Decimal> {
        match self.0.payload {
            EventPayload::KeyResultProgressChanged { old_value, .. } => Some(old_value.into()),
            _ => None,
        }
    }

    /// A key result's value after the change.
    async fn new_value(&self) -> Option<Decimal> {
        match self.0.payload {
            EventPayload::KeyResultProgressChanged { new_value, .. } => Some(new_value.into()),
            _ => None,
        }
    }
}

impl ProgressEvent {
    fn progress(&self) -> (rust_decimal::Decimal, rust_decimal::Decimal) {
        match self.0.payload {
            EventPayload::KeyResultProgressChanged {
                old_progress,
                new_progress,
                ..
            }
            | EventPayload::ObjectiveProgressChanged {
                old_progress,
                new_progress,
                ..
            } => (old_progress, new_progress),
            _ => Default::default(),
        }
    }

    fn status(&self) -> (progress::PaceStatus, progress::PaceStatus) {
        match self.0.payload {
            EventPayload::KeyResultProgressChanged {
                old_status,
                new_status,
                ..
            }
            | EventPayload::ObjectiveProgressChanged {
                old_status,
                new_status,
                ..
            } => (old_status, new_status),
            _ => (progress::PaceStatus::OnTrack, progress::PaceStatus::OnTrack),
        }
    }
}

/// The kind of an activity event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum ActivityEventType {
    CheckInCreated,
    MilestoneReached,
    CommentCreated,
    StateChanged,
}

impl ActivityEventType {
    /// The event type name that the outbox and the activity feed store.
    pub const fn type_name(self) -> &'static str {
        match self {
            Self::CheckInCreated => "CHECK_IN_CREATED",
            Self::MilestoneReached => "MILESTONE_REACHED",
            Self::CommentCreated => "COMMENT_CREATED",
            Self::StateChanged => "STATE_CHANGED",
        }
    }
}

/// The kind of record an activity event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum EventRecord {
    Objective,
    KeyResult,
    Cycle,
    Kpi,
    Team,
    CheckIn,
}

impl From<RecordKind> for EventRecord {
    fn from(kind: RecordKind) -> Self {
        match kind {
            RecordKind::Objective => Self::Objective,
            RecordKind::KeyResult => Self::KeyResult,
            RecordKind::Cycle => Self::Cycle,
            RecordKind::Kpi => Self::Kpi,
            RecordKind::Team => Self::Team,
            RecordKind::CheckIn => Self::CheckIn,
        }
    }
}

/// A check-in, milestone, comment or state change.
pub struct ActivityEvent(Arc<Event>);

impl ActivityEvent {
    pub fn new(event: Event) -> Self {
        Self(Arc::new(event))
    }
}

#[Object]
impl ActivityEvent {
    /// The organization-wide sequence number; pass the last one received as `after` to resume.
    async fn sequence(&self) -> Sequence {
        Sequence(self.0.sequence)
    }

    async fn occurred_at(&self) -> DateTime {
        self.0.occurred_at.into()
    }

    #[graphql(name = "type")]
    async fn kind(&self) -> ActivityEventType {
        match self.0.payload {
            EventPayload::CheckInCreated { .. } => ActivityEventType::CheckInCreated,
            EventPayload::MilestoneReached { .. } => ActivityEventType::MilestoneReached,
            EventPayload::CommentCreated { .. } => ActivityEventType::CommentCreated,
            _ => ActivityEventType::StateChanged,
        }
    }

    /// The kind of record the event is about.
    async fn record(&self) -> Option<EventRecord> {
        match self.0.payload {
            EventPayload::CheckInCreated { .. } => Some(EventRecord::CheckIn),
            EventPayload::MilestoneReached { record, .. }
            | EventPayload::CommentCreated { record, .. }
            | EventPayload::StateChanged { record, .. } => Some(record.into()),
            _ => None,
        }
    }

    /// The global id of the record the event is about.
    async fn record_id(&self) -> Option<ID> {
        match &self.0.payload {
            EventPayload::CheckInCreated { check_in_id, .. } => Some(check_in_id.to_global()),
            EventPayload::MilestoneReached {
                record, record_id, ..
            }
            | EventPayload::CommentCreated {
                record, record_id, ..
            }
            | EventPayload::StateChanged {
                record, record_id, ..
            } => Some(global_id(*record, *record_id)),
            _ => None,
        }
    }

    /// The check-in, for CHECK_IN_CREATED.
    async fn check_in(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CheckIn>> {
        match self.0.payload {
            EventPayload::CheckInCreated { check_in_id, .. } => {
                Ok(load_one(ctx, check_in_id).await?.map(CheckIn))
            }
            _ => Ok(None),
        }
    }

    /// Whether a new check-in set its key result's current value; false for an older backfill.
    async fn became_current(&self) -> Option<bool> {
        match self.0.payload {
            EventPayload::CheckInCreated { became_current, .. } => Some(became_current),
            _ => None,
        }
    }

    /// The comment, for COMMENT_CREATED.
    async fn comment(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Comment>> {
        match self.0.payload {
            EventPayload::CommentCreated { comment_id, .. } => {
                Ok(load_one(ctx, comment_id).await?.map(Comment))
            }
            _ => Ok(None),
        }
    }

    /// The percentage reached, for MILESTONE_REACHED: 25, 50, 75 or 100.
    async fn milestone_percent(&self) -> Option<i32> {
        match self.0.payload {
            EventPayload::MilestoneReached { percent, .. } => Some(i32::from(percent)),
            _ => None,
        }
    }

    /// The state before, for STATE_CHANGED.
    async fn old_state(&self) -> Option<&str> {
        match &self.0.payload {
            EventPayload::StateChanged { old_state, .. } => Some(old_state),
            _ => None,
        }
    }

    /// The state after, for STATE_CHANGED.
    async fn new_state(&self) -> Option<&str> {
        match &self.0.payload {
            EventPayload::StateChanged { new_state, .. } => Some(new_state),
            _ => None,
        }
    }

    /// The objective the event belongs to, as it is now.
    async fn objective(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Objective>> {
        match self.0.scope.objective_id {
            Some(id) => Ok(load_one(ctx, id).await?.map(Objective)),
            None => Ok(None),
        }
    }

    /// The key result the event belongs to, as it is now.
    async fn key_result(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<KeyResult>> {
        match self.0.scope.key_result_id {
            Some(id) => Ok(load_one::<_, model::KeyResult>(ctx, id)
                .await?
                .map(KeyResult::from)),
            None => Ok(None),
        }
    }

    /// The cycle the event belongs to, as it is now.
    async fn cycle(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Cycle>> {
        match self.0.scope.cycle_id {
            Some(id) => Ok(load_one(ctx, id).await?.map(Cycle)),
            None => Ok(None),
        }
    }
}

fn global_id(record: RecordKind, uuid: uuid::Uuid) -> ID {
    match record {
        RecordKind::Objective => ObjectiveId::from(uuid).to_global(),
        RecordKind::KeyResult => KeyResultId::from(uuid).to_global(),
        RecordKind::Cycle => CycleId::from(uuid).to_global(),
        RecordKind::Kpi => KpiId::from(uuid).to_global(),
        RecordKind::Team => TeamId::from(uuid).to_global(),
        RecordKind::CheckIn => CheckInId::from(uuid).to_global(),
    }
}

/// A KPI measurement was recorded.
pub struct KpiMeasurementEvent(Arc<Event>);

#[Object]
impl KpiMeasurementEvent {
    /// The organization-wide sequence number; pass the last one received as `after` to resume.
    async fn sequence(&self) -> Sequence {
        Sequence(self.0.sequence)
    }

    async fn occurred_at(&self) -> DateTime {
        self.0.occurred_at.into()
    }

    async fn kpi(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Kpi>> {
        match self.0.payload {
            EventPayload::KpiMeasurementRecorded { kpi_id, .. } => {
                Ok(load_one(ctx, kpi_id).await?.map(Kpi))
            }
            _ => Ok(None),
        }
    }

    /// The measurement as it is now.
    async fn measurement(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<KpiMeasurement>> {
        match self.0.payload {
            EventPayload::KpiMeasurementRecorded { measurement_id, .. } => {
                Ok(load_one::<KpiMeasurementId, _>(ctx, measurement_id)
                    .await?
                    .map(KpiMeasurement))
            }
            _ => Ok(None),
        }
    }

    /// The value recorded.
    async fn value(&self) -> Option<Decimal> {
        match self.0.payload {
            EventPayload::KpiMeasurementRecorded { value, .. } => Some(value.into()),
            _ => None,
        }
    }

    async fn observed_at(&self) -> Option<DateTime> {
        match self.0.payload {
            EventPayload::KpiMeasurementRecorded { observed_at, .. } => Some(observed_at.into()),
            _ => None,
        }
    }

    /// Whether the value replaced an earlier one for the same time.
    async fn replaced(&self) -> Option<bool> {
        match self.0.payload {
            EventPayload::KpiMeasurementRecorded { replaced, .. } => Some(replaced),
            _ => None,
        }
    }

    /// The health of the value against the KPI's thresholds when it was recorded.
    async fn health(&self) -> Option<KpiHealth> {
        match self.0.payload {
            EventPayload::KpiMeasurementRecorded { health, .. } => Some(health.into()),
            _ => None,
        }
    }
}

/// Every subscription.
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Progress and pace status changes of key results and objectives.
    async fn progress(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Which records' events to receive; the whole organization when left out."
        )]
        scope: Option<EventScopeInput>,
        #[graphql(desc = "The last sequence number received; later events still kept come first.")]
        after: Option<Sequence>,
    ) -> async_graphql::Result<impl Stream<Item = ProgressEvent> + use<>> {
        let events = events(ctx, EventTopic::Progress, scope, after).await?;
        Ok(futures::StreamExt::map(events, ProgressEvent))
    }

    /// Check-ins, milestones, comments and state changes.
    async fn activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Which records' events to receive; the whole organization when left out."
        )]
        scope: Option<EventScopeInput>,
        #[graphql(desc = "The last sequence number received; later events still kept come first.")]
        after: Option<Sequence>,
    ) -> async_graphql::Result<impl Stream<Item = ActivityEvent> + use<>> {
        let events = events(ctx, EventTopic::Activity, scope, after).await?;
        Ok(futures::StreamExt::map(events, ActivityEvent))
    }

    /// Recorded KPI measurements.
    async fn kpi_measurements(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Which records' events to receive; the whole organization when left out."
        )]
        scope: Option<EventScopeInput>,
        #[graphql(desc = "The last sequence number received; later events still kept come first.")]
        after: Option<Sequence>,
    ) -> async_graphql::Result<impl Stream<Item = KpiMeasurementEvent> + use<>> {
        let events = events(ctx, EventTopic::Kpi, scope, after).await?;
        Ok(futures::StreamExt::map(events, KpiMeasurementEvent))
    }
}
