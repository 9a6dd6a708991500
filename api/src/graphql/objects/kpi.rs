use super::enums::{
    KpiDirection, KpiFrequency, KpiHealth, SeriesAggregation, SeriesInterval, Source, Unit,
};
use super::key_result::KeyResult;
use super::organization::User;
use super::team::Team;
use super::{load_list, load_one, load_required};
use crate::graphql::connection::{TotalCount, connection, id_cursor, page_request};
use crate::graphql::context::ContextExt;
use crate::graphql::error::{ApiError, store_failure};
use crate::graphql::ids::Typed;
use crate::graphql::loaders::KeyResultsFollowing;
use crate::graphql::scalars::Decimal;
use crate::graphql::scalars::{Date, DateTime};
use async_graphql::{Context, ID, Object};
use headway_domain::ids::TeamId;
use headway_domain::model;
use headway_domain::series;
use headway_domain::values::MetricValue;
use headway_persistence::SortCursor;

/// One interval of a KPI series.
#[derive(async_graphql::SimpleObject)]
pub struct KpiSeriesPoint {
    /// The local date the interval begins on.
    pub date: Date,
    /// The first instant of the interval.
    pub start: DateTime,
    /// The first instant after the interval.
    pub end: DateTime,
    /// How many measurements the interval holds.
    pub count: i32,
    /// The value by the requested aggregation; null without measurements.
    pub value: Option<Decimal>,
    /// The value with the latest observed-at time.
    pub last: Option<Decimal>,
    /// The mean, to 10 decimal places.
    pub average: Option<Decimal>,
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
    pub sum: Option<Decimal>,
    /// The health of `value` against the KPI's current thresholds: NO_DATA for an interval
    /// without measurements, NO_TARGET for a KPI without a target.
    pub health: KpiHealth,
}

/// A lasting health metric of the business, such as monthly recurring revenue or churn.
/// KPIs live across cycles; key results can follow them.
#[derive(Clone)]
pub struct Kpi(pub model::Kpi);

#[Object]
impl Kpi {
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

    async fn unit(&self) -> Unit {
        self.0.unit.kind().into()
    }

    /// The ISO 4217 currency code when the unit is CURRENCY.
    async fn currency_code(&self) -> Option<String> {
        self.0.unit.currency().map(|code| code.as_str().to_owned())
    }

    async fn direction(&self) -> KpiDirection {
        self.0.thresholds.direction().into()
    }

    /// The target for HIGHER_IS_BETTER and LOWER_IS_BETTER.
    async fn target_value(&self) -> Option<Decimal> {
        self.0
            .thresholds
            .fields()
            .target
            .map(|value| Decimal::from(value.get()))
    }

    /// The threshold between WARNING and CRITICAL for HIGHER_IS_BETTER and LOWER_IS_BETTER.
    async fn warning_value(&self) -> Option<Decimal> {
        self.0
            .thresholds
            .fields()
            .warning
            .map(|value| Decimal::from(value.get()))
    }

    /// The lower bound of the healthy range for WITHIN_RANGE.
    async fn range_low(&self) -> Option<Decimal> {
        self.0
            .thresholds
            .fields()
            .range_low
            .map(|value| Decimal::from(value.get()))
    }

    /// The upper bound of the healthy range for WITHIN_RANGE.
    async fn range_high(&self) -> Option<Decimal> {
        self.0
            .thresholds
            .fields()
            .range_high
            .map(|value| Decimal::from(value.get()))
    }

    /// How far outside the range a value is WARNING rather than CRITICAL, for WITHIN_RANGE.
    async fn warning_margin(&self) -> Option<Decimal> {
        self.0
            .thresholds
            .fields()
            .warning_margin
            .map(|value| Decimal::from(value.get()))
    }

    async fn frequency(&self) -> KpiFrequency {
        self.0.frequency.into()
    }

    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.0.owner_id {
            Some(owner_id) => Ok(load_one(ctx, owner_id).await?.map(User)),
            None => Ok(None),
        }
    }

    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        match self.0.team_id {
            Some(team_id) => Ok(load_one(ctx, team_id).await?.map(Team)),
            None => Ok(None),
        }
    }

    /// The health of the latest measurement.
    async fn health(&self) -> KpiHealth {
        self.0.health().into()
    }

    /// The value of the measurement with the latest observed-at time.
    async fn latest_value(&self) -> Option<Decimal> {
        self.0.latest_value.map(|value| Decimal::from(value.get()))
    }

    /// When the latest measurement was observed.
    async fn latest_observed_at(&self) -> Option<DateTime> {
        self.0.latest_observed_at.map(Into::into)
    }

    /// Measurements observed from `from` (inclusive) to `to` (exclusive), oldest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn measurements(
        &self,
        ctx: &Context<'_>,
        from: Option<DateTime>,
        to: Option<DateTime>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<KpiMeasurementConnection> {
        let instant = |argument: &str, value: Option<DateTime>| {
            value
                .map(|value| value.get(argument))
                .transpose()
                .map_err(|error| ApiError::bad_input(format!("{argument}: {}", error.message)))
        };
        let from = instant("from", from)?;
        let to = instant("to", to)?;
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            return Err(ApiError::bad_input(format!(
                "to: {} is before from {}; the range must not be reversed",
                to.to_rfc3339(),
                from.to_rfc3339()
            ))
            .into());
        }
        let organization_id = ctx.read_scope()?;
        let request = page_request(first, after, last, before)?;
        let store = ctx.store()?.clone();
        let kpi_id = self.0.id;
        let page = store
            .measurements_page(organization_id, kpi_id, from, to, request)
            .await
            .map_err(store_failure)?;
        let total = TotalCount::deferred(move || {
            let store = store.clone();
            Box::pin(async move {
                store
                    .count_measurements(organization_id, kpi_id, from, to)
                    .await
            })
        });
        Ok(KpiMeasurementConnection::build(
            page,
            |measurement| SortCursor {
                time: Some(measurement.observed_at),
                id: measurement.id.as_uuid(),
            },
            KpiMeasurement,
            total,
        ))
    }

    /// The KPI's measurements grouped by day, week, month or quarter of the organization's
    /// time zone, for charts. The points run from the interval that contains `from` to the
    /// one that contains the instant before `to` (now when left out), at most 1,000 of them.
    /// An interval without measurements is a point with count 0 and no value.
    async fn series(
        &self,
        ctx: &Context<'_>,
        from: DateTime,
        to: Option<DateTime>,
        interval: SeriesInterval,
        #[graphql(default_with = "SeriesAggregation::Last")] aggregation: SeriesAggregation,
    ) -> async_graphql::Result<Vec<KpiSeriesPoint>> {
        let organization_id = ctx.read_scope()?;
        let bad_input = |error: headway_domain::ValidationError| {
            ApiError::bad_input(format!("{}: {}", error.field, error.message))
        };
        let from = from.get("from").map_err(bad_input)?;
        let to = match to {
            Some(to) => to.get("to").map_err(bad_input)?,
            None => ctx.now()?,
        };
        let time_zone = ctx.organization().await?.settings.time_zone;
        let buckets = series::buckets(from, to, interval.into(), time_zone).map_err(bad_input)?;
        let points = ctx
            .store()?
            .kpi_series(organization_id, self.0.id, &buckets)
            .await
            .map_err(store_failure)?;
        let aggregation = series::Aggregation::from(aggregation);
        Ok(buckets
            .into_iter()
            .zip(points)
            .map(|(bucket, point)| {
                let value = point.value(aggregation);
                let health = self
                    .0
                    .thresholds
                    .health(value.and_then(|value| MetricValue::new(value).ok()));
                KpiSeriesPoint {
                    date: bucket.date.into(),
                    start: bucket.start.into(),
                    end: bucket.end.into(),
                    count: i32::try_from(point.count).unwrap_or(i32::MAX),
                    value: value.map(Decimal::from),
                    last: point.value(series::Aggregation::Last).map(Decimal::from),
                    average: point.value(series::Aggregation::Average).map(Decimal::from),
                    min: point.value(series::Aggregation::Min).map(Decimal::from),
                    max: point.value(series::Aggregation::Max).map(Decimal::from),
                    sum: point.value(series::Aggregation::Sum).map(Decimal::from),
                    health: health.into(),
                }
            })
            .collect())
    }

    /// The key results whose current value follows this KPI.
    async fn key_results(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<KeyResult>> {
        Ok(load_list(ctx, KeyResultsFollowing(self.0.id))
            .await?
            .into_iter()
            .map(KeyResult::from)
            .collect())
    }

    /// The key that integrations use to address this KPI, unique in the organization.
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

    /// When the KPI was archived; archived KPIs take no measurements.
    async fn archived_at(&self) -> Option<DateTime> {
        self.0.archived_at.map(Into::into)
    }
}

connection!(KpiConnection, KpiEdge, Kpi, "A page of KPIs.");

/// One value of a KPI at a point in time. A KPI has at most one value per observed-at time.
#[derive(Clone)]
pub struct KpiMeasurement(pub model::KpiMeasurement);

#[Object]
impl KpiMeasurement {
    /// The global id.
    pub async fn id(&self) -> ID {
        self.0.id.to_global()
    }

    async fn kpi(&self, ctx: &Context<'_>) -> async_graphql::Result<Kpi> {
        Ok(Kpi(load_required(ctx, self.0.kpi_id).await?))
    }

    async fn value(&self) -> Decimal {
        Decimal::from(self.0.value.get())
    }

    /// When the value was true.
    async fn observed_at(&self) -> DateTime {
        self.0.observed_at.into()
    }

    async fn source(&self) -> Source {
        self.0.source.into()
    }

    /// The health of this value against the KPI's current thresholds.
    async fn health(&self, ctx: &Context<'_>) -> async_graphql::Result<KpiHealth> {
        let kpi: model::Kpi = load_required(ctx, self.0.kpi_id).await?;
        Ok(kpi.thresholds.health(Some(self.0.value)).into())
    }

    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When the value last changed; a measurement sent again for the same time replaces it.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

connection!(
    KpiMeasurementConnection,
    KpiMeasurementEdge,
    KpiMeasurement,
    "A page of KPI measurements."
);

/// Lists KPIs, oldest first.
pub async fn kpis_connection(
    ctx: &Context<'_>,
    team_id: Option<TeamId>,
    include_archived: bool,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> async_graphql::Result<KpiConnection> {
    let organization_id = ctx.read_scope()?;
    let request = page_request(first, after, last, before)?;
    let store = ctx.store()?.clone();
    let page = store
        .kpis_page(organization_id, team_id, include_archived, request)
        .await
        .map_err(store_failure)?;
    let total = TotalCount::deferred(move || {
        let store = store.clone();
        Box::pin(async move {
            store
                .count_kpis(organization_id, team_id, include_archived)
                .await
        })
    });
    Ok(KpiConnection::build(
        page,
        |kpi| id_cursor(kpi.id.as_uuid()),
        Kpi,
        total,
    ))
}
