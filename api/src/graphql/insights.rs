//! Insight queries: what needs attention, the state of a cycle, how progress moved, KPI
//! health at a glance, the alignment tree, and the activity feed.

use super::connection::{TotalCount, page_request};
use super::context::ContextExt;
use super::error::{ApiError, store_failure};
use super::objects::cycle::Cycle;
use super::objects::key_result::KeyResult;
use super::objects::kpi::Kpi;
use super::objects::objective::Objective;
use super::objects::require_existing;
use super::objects::team::Team;
use super::scalars::{Date, Decimal};
use super::subscription::{ActivityEvent, ActivityEventType};
use crate::graphql::connection::connection;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use headway_domain::ids::{CycleId, KeyResultId, ObjectiveId, OrganizationId, TeamId, UserId};
use headway_domain::insights::{self, AttentionFacts, KeyResultTrack, ProgressTree};
use headway_domain::kpi::KpiHealth as DomainHealth;
use headway_domain::model::{self, CycleState, ObjectiveState};
use headway_domain::progress::{self, CycleWindow, PaceStatus as DomainPace, ScoreBand};
use headway_domain::series;
use headway_persistence::SortCursor;
use headway_persistence::practice::ActivityFilter;
use std::collections::HashMap;

/// The maximum number of key results that needsAttention returns.
const MAX_ATTENTION_ITEMS: usize = 100;

/// The maximum number of objectives in an alignment tree.
const MAX_TREE_NODES: usize = 2_000;

/// The reason a key result needs attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum AttentionReason {
    /// Progress is below 0.4 times the expected progress.
    OffTrack,
    /// Nothing was checked in yet.
    NoCheckIn,
    /// The newest check-in is older than the organization's check-in cadence.
    Stale,
    /// Progress is below 0.7 times the expected progress.
    AtRisk,
    /// The owner's latest confidence is 3 or less out of 10.
    LowConfidence,
}

impl From<insights::AttentionReason> for AttentionReason {
    fn from(reason: insights::AttentionReason) -> Self {
        match reason {
            insights::AttentionReason::OffTrack => Self::OffTrack,
            insights::AttentionReason::NoCheckIn => Self::NoCheckIn,
            insights::AttentionReason::Stale => Self::Stale,
            insights::AttentionReason::AtRisk => Self::AtRisk,
            insights::AttentionReason::LowConfidence => Self::LowConfidence,
        }
    }
}

/// A key result that needs attention, with every reason.
#[derive(SimpleObject)]
pub struct AttentionItem {
    pub key_result: KeyResult,
    /// The reasons, most urgent first.
    pub reasons: Vec<AttentionReason>,
}

/// How many records have each pace status.
#[derive(SimpleObject, Default)]
pub struct PaceStatusCounts {
    pub on_track: i32,
    pub at_risk: i32,
    pub off_track: i32,
}

impl PaceStatusCounts {
    fn add(&mut self, status: DomainPace) {
        match status {
            DomainPace::OnTrack => self.on_track += 1,
            DomainPace::AtRisk => self.at_risk += 1,
            DomainPace::OffTrack => self.off_track += 1,
        }
    }
}

/// How many records fall in each score band.
#[derive(SimpleObject, Default)]
pub struct ScoreBandCounts {
    pub green: i32,
    pub yellow: i32,
    pub red: i32,
}

impl ScoreBandCounts {
    fn add(&mut self, band: ScoreBand) {
        match band {
            ScoreBand::Green => self.green += 1,
            ScoreBand::Yellow => self.yellow += 1,
            ScoreBand::Red => self.red += 1,
        }
    }
}

/// The state of a cycle, for the whole organization or a team and the teams below it.
/// Objectives count when ACTIVE or CLOSED; drafts and archived records do not.
#[derive(SimpleObject)]
pub struct CycleSummary {
    pub cycle: Cycle,
    /// The team whose subtree the figures cover; null for the whole organization.
    pub team: Option<Team>,
    pub objective_count: i32,
    pub key_result_count: i32,
    /// The mean progress of the objectives, each counting once; 0 without objectives.
    pub average_progress: f64,
    /// The elapsed share of the cycle now.
    pub expected_progress: f64,
    pub objectives_by_pace_status: PaceStatusCounts,
    pub key_results_by_pace_status: PaceStatusCounts,
    /// By frozen score in a closed cycle, by progress otherwise.
    pub objectives_by_score_band: ScoreBandCounts,
    pub stale_key_results: i32,
    pub key_results_without_check_in: i32,
    /// Objectives that succeeded by their frozen score; null until the cycle closes.
    pub successful_objectives: Option<i32>,
}

/// One day of a progress history.
#[derive(SimpleObject)]
pub struct ProgressPoint {
    pub date: Date,
    /// Progress from 0 to 1 at the end of the day.
    pub progress: f64,
    /// A key result's current value at the end of the day; null for objectives.
    pub value: Option<Decimal>,
}

/// The health of the KPIs, by the health of each one's latest value.
#[derive(SimpleObject)]
pub struct KpiHealthSummary {
    pub total: i32,
    pub healthy: i32,
    pub warning: i32,
    pub critical: i32,
    pub no_target: i32,
    pub no_data: i32,
    /// The KPIs in CRITICAL and then WARNING health.
    pub needing_attention: Vec<Kpi>,
}

/// An objective in an alignment tree, listed depth first.
#[derive(SimpleObject)]
pub struct AlignmentNode {
    pub objective: Objective,
    /// 0 for a root.
    pub depth: i32,
    /// The parent's global id; null for a root.
    pub parent_id: Option<ID>,
}

connection!(
    ActivityEventConnection,
    ActivityEventEdge,
    ActivityEvent,
    "A page of activity, newest first."
);

fn bad_input(argument: &str, message: &str) -> ApiError {
    ApiError::bad_input(format!("{argument}: {message}"))
}

fn decode<T: crate::graphql::ids::Typed>(argument: &str, id: &ID) -> Result<T, ApiError> {
    crate::graphql::ids::decode::<T>(id).map_err(|error| bad_input(argument, &error.message))
}

fn count(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Lists the days from `from` to `to` with the instant each one ends, in the organization's
/// time zone; at most [`series::MAX_POINTS`].
fn days(
    from: NaiveDate,
    to: NaiveDate,
    time_zone: headway_domain::values::TimeZone,
) -> Result<Vec<(NaiveDate, DateTime<Utc>)>, ApiError> {
    if to < from {
        return Err(bad_input(
            "to",
            &format!("{to} is before from ({from}); the range must not be reversed"),
        ));
    }
    let span = (to - from).num_days() + 1;
    if span > series::MAX_POINTS as i64 {
        return Err(bad_input(
            "from",
            &format!(
                "the range from {from} to {to} holds {span} days; a history has at most {} points",
                series::MAX_POINTS
            ),
        ));
    }
    Ok(from
        .iter_days()
        .take_while(|day| *day <= to)
        .map(|day| {
            let next = day.succ_opt().unwrap_or(day);
            (day, progress::start_of_day(next, time_zone))
        })
        .collect())
}

/// Resolves the range of a history: the given dates, or the cycle from its start to today or its
/// end, whichever is earlier.
async fn history_days(
    ctx: &Context<'_>,
    cycle_id: CycleId,
    from: Option<Date>,
    to: Option<Date>,
) -> Result<Vec<(NaiveDate, DateTime<Utc>)>, ApiError> {
    let (cycle, _) = ctx.cycle_window(cycle_id).await?;
    let time_zone = ctx.organization().await?.settings.time_zone;
    let today = ctx.now()?.with_timezone(&time_zone.tz()).date_naive();
    let from = match from {
        Some(date) => date
            .get("from")
            .map_err(|error| bad_input("from", &error.message))?,
        None => cycle.start_date,
    };
    let to = match to {
        Some(date) => date
            .get("to")
            .map_err(|error| bad_input("to", &error.message))?,
        None => cycle.end_date.min(today).max(from),
    };
    days(from, to, time_zone)
}

/// Computes a key result's value and progress at the end of each day.
pub async fn key_result_history(
    ctx: &Context<'_>,
    key_result: &model::KeyResult,
    cycle_id: CycleId,
    from: Option<Date>,
    to: Option<Date>,
) -> async_graphql::Result<Vec<ProgressPoint>> {
    let organization_id = ctx.read_scope()?;
    let days = history_days(ctx, cycle_id, from, to).await?;
    let Some((_, last)) = days.last() else {
        return Ok(Vec::new());
    };
    let check_ins = ctx
        .store()?
        .check_ins_before(organization_id, &[key_result.id], *last)
        .await
        .map_err(store_failure)?;
    let track = KeyResultTrack {
        key_result: key_result.clone(),
        observations: check_ins
            .into_iter()
            .map(|check_in| (check_in.observed_at, check_in.value))
            .collect(),
    };
    Ok(days
        .into_iter()
        .map(|(date, end)| ProgressPoint {
            date: date.into(),
            progress: progress::to_f64(track.progress_before(end)),
            value: Some(Decimal::from(track.value_before(end).get())),
        })
        .collect())
}

/// Computes an objective's rolled-up progress at the end of each day, replayed from the check-ins
/// of its key results and of the objectives below it, with today's structure and weights.
pub async fn objective_history(
    ctx: &Context<'_>,
    objective: &model::Objective,
    from: Option<Date>,
    to: Option<Date>,
) -> async_graphql::Result<Vec<ProgressPoint>> {
    let organization_id = ctx.read_scope()?;
    let days = history_days(ctx, objective.cycle_id, from, to).await?;
    let Some((_, last)) = days.last() else {
        return Ok(Vec::new());
    };
    let store = ctx.store()?;
    let mut objectives = store
        .objective_descendants(organization_id, &[objective.id])
        .await
        .map_err(store_failure)?;
    objectives.push(objective.clone());
    let objective_ids: Vec<ObjectiveId> = objectives.iter().map(|row| row.id).collect();
    let key_results = store
        .key_results_of_objectives(organization_id, &objective_ids, false)
        .await
        .map_err(store_failure)?;
    let key_result_ids: Vec<KeyResultId> = key_results.iter().map(|row| row.id).collect();
    let mut observations: HashMap<KeyResultId, Vec<_>> = HashMap::new();
    for check_in in store
        .check_ins_before(organization_id, &key_result_ids, *last)
        .await
        .map_err(store_failure)?
    {
        observations
            .entry(check_in.key_result_id)
            .or_default()
            .push((check_in.observed_at, check_in.value));
    }
    let tracks = key_results
        .into_iter()
        .map(|key_result| KeyResultTrack {
            observations: observations.remove(&key_result.id).unwrap_or_default(),
            key_result,
        })
        .collect();
    let tree = ProgressTree::new(objectives, tracks);
    Ok(days
        .into_iter()
        .map(|(date, end)| ProgressPoint {
            date: date.into(),
            progress: progress::to_f64(tree.objective_progress_before(objective.id, end)),
            value: None,
        })
        .collect())
}

/// Reads a page of the activity feed.
#[allow(clippy::too_many_arguments)]
pub async fn activity_connection(
    ctx: &Context<'_>,
    filter: ActivityFilter,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> async_graphql::Result<ActivityEventConnection> {
    let organization_id = ctx.read_scope()?;
    let request = page_request(first, after, last, before)?;
    let store = ctx.store()?.clone();
    let page = store
        .activity_page(organization_id, &filter, request)
        .await
        .map_err(store_failure)?;
    let total = TotalCount::deferred(move || {
        let store = store.clone();
        let filter = filter.clone();
        Box::pin(async move { store.count_activity(organization_id, &filter).await })
    });
    Ok(ActivityEventConnection::build(
        page,
        |event| SortCursor {
            time: Some(event.occurred_at),
            id: event.id.as_uuid(),
        },
        ActivityEvent::new,
        total,
    ))
}

/// Converts activity event types to the type names that filter the feed.
pub fn activity_types(types: Option<Vec<ActivityEventType>>) -> Option<Vec<String>> {
    types.map(|types| {
        types
            .into_iter()
            .map(|kind| kind.type_name().to_owned())
            .collect()
    })
}

async fn team_ids(
    ctx: &Context<'_>,
    organization_id: OrganizationId,
    team: Option<TeamId>,
) -> Result<Option<Vec<TeamId>>, ApiError> {
    let Some(team_id) = team else {
        return Ok(None);
    };
    require_existing::<_, model::Team>(ctx, "teamId", "team", Some(team_id)).await?;
    Ok(Some(
        ctx.store()?
            .team_subtree(organization_id, team_id)
            .await
            .map_err(store_failure)?,
    ))
}

/// Loads the cycles an insight covers: the given one, or every active cycle.
async fn cycles(
    ctx: &Context<'_>,
    cycle: Option<CycleId>,
) -> Result<Vec<(model::Cycle, CycleWindow)>, ApiError> {
    let organization_id = ctx.read_scope()?;
    let ids: Vec<CycleId> = match cycle {
        Some(id) => {
            require_existing::<_, model::Cycle>(ctx, "cycleId", "cycle", Some(id)).await?;
            vec![id]
        }
        None => ctx
            .store()?
            .cycles_in_state(organization_id, CycleState::Active)
            .await
            .map_err(store_failure)?
            .into_iter()
            .map(|cycle| cycle.id)
            .collect(),
    };
    let mut windows = Vec::with_capacity(ids.len());
    for id in ids {
        windows.push(ctx.cycle_window(id).await?);
    }
    Ok(windows)
}

#[derive(Default)]
pub struct InsightQueries;

#[Object]
impl InsightQueries {
    /// Key results that need attention: off track, at risk, stale, without a check-in, or
    /// with low confidence, most urgent first. They are those of `ownerId` (key results the
    /// person owns, and unowned ones of objectives the person owns), or of the objectives of
    /// `teamId` and the teams below it, or by default the signed-in person's. Only ACTIVE
    /// objectives of active cycles count, or of `cycleId` when given.
    async fn needs_attention(
        &self,
        ctx: &Context<'_>,
        owner_id: Option<ID>,
        team_id: Option<ID>,
        cycle_id: Option<ID>,
        #[graphql(desc = "At most this many items, from 1 to 100.", default = 50)] first: i32,
    ) -> async_graphql::Result<Vec<AttentionItem>> {
        let organization_id = ctx.read_scope()?;
        let limit = usize::try_from(first)
            .ok()
            .filter(|limit| (1..=MAX_ATTENTION_ITEMS).contains(limit))
            .ok_or_else(|| {
                bad_input(
                    "first",
                    &format!("{first} is out of range; ask for 1 to {MAX_ATTENTION_ITEMS} items"),
                )
            })?;
        if owner_id.is_some() && team_id.is_some() {
            return Err(bad_input("teamId", "send either ownerId or teamId, not both").into());
        }
        let cycle_id = cycle_id
            .map(|id| decode::<CycleId>("cycleId", &id))
            .transpose()?;
        let cycles = cycles(ctx, cycle_id).await?;
        let cycle_ids: Vec<CycleId> = cycles.iter().map(|(cycle, _)| cycle.id).collect();
        let store = ctx.store()?;
        let objectives: HashMap<ObjectiveId, model::Objective>;
        let key_results = if let Some(team_id) = team_id {
            let team_id = decode::<TeamId>("teamId", &team_id)?;
            let teams = team_ids(ctx, organization_id, Some(team_id)).await?;
            let rows = store
                .objectives_of_cycles(organization_id, &cycle_ids, teams.as_deref())
                .await
                .map_err(store_failure)?;
            let ids: Vec<ObjectiveId> = rows.iter().map(|row| row.id).collect();
            objectives = rows.into_iter().map(|row| (row.id, row)).collect();
            store
                .key_results_of_objectives(organization_id, &ids, false)
                .await
                .map_err(store_failure)?
        } else {
            let owner = match owner_id {
                Some(id) => decode::<UserId>("ownerId", &id)?,
                None => ctx.state()?.principal.user_id().ok_or_else(|| {
                    bad_input(
                        "ownerId",
                        "is required when the request does not come from a person",
                    )
                })?,
            };
            let rows = store
                .key_results_of_owner(organization_id, &cycle_ids, owner)
                .await
                .map_err(store_failure)?;
            let ids: Vec<ObjectiveId> = rows.iter().map(|row| row.objective_id).collect();
            objectives = store
                .objectives_by_ids(organization_id, &ids)
                .await
                .map_err(store_failure)?
                .into_iter()
                .map(|row| (row.id, row))
                .collect();
            rows
        };
        let now = ctx.now()?;
        let cadence = ctx.organization().await?.settings.check_in_cadence;
        let windows: HashMap<CycleId, (model::Cycle, CycleWindow)> = cycles
            .into_iter()
            .map(|(cycle, window)| (cycle.id, (cycle, window)))
            .collect();
        let mut items = Vec::new();
        for key_result in key_results {
            let Some(objective) = objectives.get(&key_result.objective_id) else {
                continue;
            };
            if objective.state != ObjectiveState::Active {
                continue;
            }
            let Some((cycle, window)) = windows.get(&objective.cycle_id) else {
                continue;
            };
            if cycle.state != CycleState::Active {
                continue;
            }
            let reasons = insights::attention_reasons(AttentionFacts {
                pace: progress::pace_status(key_result.progress(), window.expected_progress(now)),
                stale: progress::is_stale(
                    cycle.state,
                    key_result.current_observed_at,
                    key_result.created_at.max(window.start),
                    cadence,
                    now,
                ),
                checked_in: key_result.current_check_in_id.is_some(),
                confidence: key_result.latest_confidence,
            });
            if let Some(most_urgent) = reasons.first().copied() {
                items.push((
                    most_urgent,
                    key_result.progress(),
                    key_result,
                    cycle.id,
                    reasons,
                ));
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.id.cmp(&b.2.id)));
        Ok(items
            .into_iter()
            .take(limit)
            .map(|(_, _, key_result, cycle_id, reasons)| AttentionItem {
                key_result: KeyResult::in_cycle(key_result, cycle_id),
                reasons: reasons.into_iter().map(Into::into).collect(),
            })
            .collect())
    }

    /// The state of a cycle: counts by pace status and score band, average and expected
    /// progress, and key results that are stale or without a check-in, for the whole
    /// organization or for `teamId` and the teams below it.
    async fn cycle_summary(
        &self,
        ctx: &Context<'_>,
        cycle_id: ID,
        team_id: Option<ID>,
    ) -> async_graphql::Result<CycleSummary> {
        let organization_id = ctx.read_scope()?;
        let cycle_id = decode::<CycleId>("cycleId", &cycle_id)?;
        let team_id = team_id
            .map(|id| decode::<TeamId>("teamId", &id))
            .transpose()?;
        let store = ctx.store()?;
        let Some(cycle_row) = store
            .cycles_by_ids(organization_id, &[cycle_id])
            .await
            .map_err(store_failure)?
            .into_iter()
            .next()
        else {
            return Err(ApiError::not_found("cycleId", "cycle").into());
        };
        // Through the request's loader, so that `team_ids` below finds the team cached.
        let team = match team_id {
            Some(team_id) => Some(
                ctx.loader()?
                    .load_one::<_, model::Team>(team_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("teamId", "team"))?,
            ),
            None => None,
        };
        let (_, window) = ctx.cycle_window(cycle_id).await?;
        let now = ctx.now()?;
        let expected = window.expected_progress(now);
        let cadence = ctx.organization().await?.settings.check_in_cadence;
        let teams = team_ids(ctx, organization_id, team_id).await?;
        let objectives: Vec<model::Objective> = store
            .objectives_of_cycles(organization_id, &[cycle_id], teams.as_deref())
            .await
            .map_err(store_failure)?
            .into_iter()
            .filter(|row| matches!(row.state, ObjectiveState::Active | ObjectiveState::Closed))
            .collect();
        let ids: Vec<ObjectiveId> = objectives.iter().map(|row| row.id).collect();
        let key_results = store
            .key_results_of_objectives(organization_id, &ids, false)
            .await
            .map_err(store_failure)?;
        let closed = cycle_row.state == CycleState::Closed;

        let mut objectives_by_pace = PaceStatusCounts::default();
        let mut bands = ScoreBandCounts::default();
        let mut progress_sum = rust_decimal::Decimal::ZERO;
        let mut successful = 0;
        for objective in &objectives {
            objectives_by_pace.add(progress::pace_status(objective.progress, expected));
            bands.add(progress::score_band(
                objective
                    .score
                    .filter(|_| closed)
                    .unwrap_or(objective.progress),
            ));
            progress_sum += objective.progress;
            if let Some(score) = objective.score
                && progress::is_successful(objective.kind, score)
            {
                successful += 1;
            }
        }
        let mut key_results_by_pace = PaceStatusCounts::default();
        let mut stale = 0;
        let mut without_check_in = 0;
        for key_result in &key_results {
            key_results_by_pace.add(progress::pace_status(key_result.progress(), expected));
            if progress::is_stale(
                cycle_row.state,
                key_result.current_observed_at,
                key_result.created_at.max(window.start),
                cadence,
                now,
            ) {
                stale += 1;
            }
            if key_result.current_check_in_id.is_none() {
                without_check_in += 1;
            }
        }
        let average = if objectives.is_empty() {
            rust_decimal::Decimal::ZERO
        } else {
            progress_sum / rust_decimal::Decimal::from(objectives.len())
        };
        Ok(CycleSummary {
            cycle: Cycle(cycle_row),
            team: team.map(Team),
            objective_count: count(objectives.len()),
            key_result_count: count(key_results.len()),
            average_progress: progress::to_f64(average),
            expected_progress: progress::to_f64(expected),
            objectives_by_pace_status: objectives_by_pace,
            key_results_by_pace_status: key_results_by_pace,
            objectives_by_score_band: bands,
            stale_key_results: stale,
            key_results_without_check_in: without_check_in,
            successful_objectives: closed.then_some(successful),
        })
    }

    /// The health of every unarchived KPI, or of those of `teamId` and the teams below it.
    async fn kpi_health_summary(
        &self,
        ctx: &Context<'_>,
        team_id: Option<ID>,
    ) -> async_graphql::Result<KpiHealthSummary> {
        let organization_id = ctx.read_scope()?;
        let team_id = team_id
            .map(|id| decode::<TeamId>("teamId", &id))
            .transpose()?;
        let store = ctx.store()?;
        let teams = team_ids(ctx, organization_id, team_id).await?;
        let kpis = store
            .kpis_of_teams(organization_id, teams.as_deref())
            .await
            .map_err(store_failure)?;
        let mut summary = KpiHealthSummary {
            total: count(kpis.len()),
            healthy: 0,
            warning: 0,
            critical: 0,
            no_target: 0,
            no_data: 0,
            needing_attention: Vec::new(),
        };
        let mut critical = Vec::new();
        let mut warning = Vec::new();
        for kpi in kpis {
            match kpi.health() {
                DomainHealth::Healthy => summary.healthy += 1,
                DomainHealth::Warning => {
                    summary.warning += 1;
                    warning.push(Kpi(kpi));
                }
                DomainHealth::Critical => {
                    summary.critical += 1;
                    critical.push(Kpi(kpi));
                }
                DomainHealth::NoTarget => summary.no_target += 1,
                DomainHealth::NoData => summary.no_data += 1,
            }
        }
        critical.extend(warning);
        summary.needing_attention = critical;
        Ok(summary)
    }

    /// Objectives with the objectives aligned below them, depth first, each with its
    /// rolled-up progress: the tree under `rootId`, or the trees of the objectives of
    /// `cycleId` that have no parent in that cycle. At most 2,000 objectives.
    async fn alignment_tree(
        &self,
        ctx: &Context<'_>,
        cycle_id: Option<ID>,
        root_id: Option<ID>,
    ) -> async_graphql::Result<Vec<AlignmentNode>> {
        let organization_id = ctx.read_scope()?;
        let store = ctx.store()?;
        let roots: Vec<model::Objective> = match (cycle_id, root_id) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(bad_input("cycleId", "send either cycleId or rootId").into());
            }
            (None, Some(root)) => {
                let root = decode::<ObjectiveId>("rootId", &root)?;
                require_existing::<_, model::Objective>(ctx, "rootId", "objective", Some(root))
                    .await?;
                store
                    .objectives_by_ids(organization_id, &[root])
                    .await
                    .map_err(store_failure)?
                    .into_iter()
                    .filter(|row| row.state != ObjectiveState::Archived)
                    .collect()
            }
            (Some(cycle), None) => {
                let cycle = decode::<CycleId>("cycleId", &cycle)?;
                require_existing::<_, model::Cycle>(ctx, "cycleId", "cycle", Some(cycle)).await?;
                let in_cycle = store
                    .objectives_of_cycles(organization_id, &[cycle], None)
                    .await
                    .map_err(store_failure)?;
                let ids: Vec<ObjectiveId> = in_cycle.iter().map(|row| row.id).collect();
                in_cycle
                    .into_iter()
                    .filter(|row| row.parent_id.is_none_or(|parent| !ids.contains(&parent)))
                    .collect()
            }
        };
        let root_ids: Vec<ObjectiveId> = roots.iter().map(|row| row.id).collect();
        let descendants = store
            .objective_descendants(organization_id, &root_ids)
            .await
            .map_err(store_failure)?;
        if roots.len() + descendants.len() > MAX_TREE_NODES {
            return Err(bad_input(
                "cycleId",
                &format!(
                    "the tree holds {} objectives, more than {MAX_TREE_NODES}; ask for one root with rootId",
                    roots.len() + descendants.len()
                ),
            )
            .into());
        }
        let mut children: HashMap<ObjectiveId, Vec<model::Objective>> = HashMap::new();
        for objective in descendants {
            if let Some(parent) = objective.parent_id {
                children.entry(parent).or_default().push(objective);
            }
        }
        let mut nodes = Vec::new();
        let mut stack: Vec<(model::Objective, i32)> =
            roots.into_iter().rev().map(|root| (root, 0)).collect();
        while let Some((objective, depth)) = stack.pop() {
            if let Some(below) = children.remove(&objective.id) {
                stack.extend(below.into_iter().rev().map(|child| (child, depth + 1)));
            }
            nodes.push(AlignmentNode {
                parent_id: if depth == 0 {
                    None
                } else {
                    objective
                        .parent_id
                        .map(crate::graphql::ids::Typed::to_global)
                },
                depth,
                objective: Objective(objective),
            });
        }
        Ok(nodes)
    }

    /// The activity feed: check-ins, comments, milestones and state changes, newest first,
    /// narrowed by team (with the teams below it), cycle, objective, key result and type.
    #[allow(clippy::too_many_arguments)]
    async fn activity(
        &self,
        ctx: &Context<'_>,
        team_id: Option<ID>,
        cycle_id: Option<ID>,
        objective_id: Option<ID>,
        key_result_id: Option<ID>,
        types: Option<Vec<ActivityEventType>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<ActivityEventConnection> {
        let organization_id = ctx.read_scope()?;
        let team_id = team_id
            .map(|id| decode::<TeamId>("teamId", &id))
            .transpose()?;
        let filter = ActivityFilter {
            team_ids: team_ids(ctx, organization_id, team_id).await?,
            cycle_id: cycle_id
                .map(|id| decode::<CycleId>("cycleId", &id))
                .transpose()?,
            objective_id: objective_id
                .map(|id| decode::<ObjectiveId>("objectiveId", &id))
                .transpose()?,
            key_result_id: key_result_id
                .map(|id| decode::<KeyResultId>("keyResultId", &id))
                .transpose()?,
            event_types: activity_types(types),
        };
        require_existing::<_, model::Cycle>(ctx, "cycleId", "cycle", filter.cycle_id).await?;
        require_existing::<_, model::Objective>(
            ctx,
            "objectiveId",
            "objective",
            filter.objective_id,
        )
        .await?;
        require_existing::<_, model::KeyResult>(
            ctx,
            "keyResultId",
            "key result",
            filter.key_result_id,
        )
        .await?;
        activity_connection(ctx, filter, first, after, last, before).await
    }
}
