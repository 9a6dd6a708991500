use super::batch;
use super::input::{self, Parsed, parse_all, payload, record_input, user_errors};
use crate::graphql::context::{ContextExt, Permission};
use crate::graphql::error::{UserError, user_result};
use crate::graphql::objects::enums::{KpiDirection, KpiFrequency, Unit};
use crate::graphql::objects::kpi::{Kpi, KpiMeasurement};
use crate::graphql::scalars::DateTime;
use crate::graphql::scalars::Decimal;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use headway_domain::ids::KpiId;
use headway_domain::kpi::{KpiThresholds, ThresholdFields};
use headway_domain::model::Unit as DomainUnit;
use headway_persistence::{KpiChanges, NewKpi, NewMeasurement};

#[derive(InputObject)]
pub struct CreateKpiInput {
    /// At most 100 characters.
    pub name: String,
    pub description: Option<String>,
    #[graphql(default_with = "Unit::Number")]
    pub unit: Unit,
    /// The ISO 4217 code, required when the unit is CURRENCY.
    pub currency_code: Option<String>,
    #[graphql(default_with = "KpiDirection::HigherIsBetter")]
    pub direction: KpiDirection,
    /// The target for HIGHER_IS_BETTER and LOWER_IS_BETTER.
    pub target_value: Option<Decimal>,
    /// The WARNING threshold for HIGHER_IS_BETTER (at or below the target) and
    /// LOWER_IS_BETTER (at or above it).
    pub warning_value: Option<Decimal>,
    /// The healthy range for WITHIN_RANGE.
    pub range_low: Option<Decimal>,
    pub range_high: Option<Decimal>,
    /// How far outside the range a value is WARNING, for WITHIN_RANGE.
    pub warning_margin: Option<Decimal>,
    #[graphql(default_with = "KpiFrequency::Monthly")]
    pub frequency: KpiFrequency,
    pub owner_id: Option<ID>,
    pub team_id: Option<ID>,
    /// A key for integrations, unique among the organization's KPIs.
    pub external_key: Option<String>,
}

/// Changes to a KPI. Left-out fields stay as they are. Null clears only the fields
/// described with "Null clears it."; for any other field it is rejected. Changing the
/// direction clears the thresholds that are not sent again.
#[derive(InputObject)]
pub struct UpdateKpiInput {
    pub id: ID,
    /// Fails with a CONFLICT user error when the KPI is at another version.
    pub expected_version: Option<i32>,
    pub name: MaybeUndefined<String>,
    /// Null clears it.
    pub description: MaybeUndefined<String>,
    pub unit: MaybeUndefined<Unit>,
    /// An ISO 4217 code such as `EUR`, for the CURRENCY unit. Null clears it.
    pub currency_code: MaybeUndefined<String>,
    pub direction: MaybeUndefined<KpiDirection>,
    /// Null clears it.
    pub target_value: MaybeUndefined<Decimal>,
    /// Null clears it.
    pub warning_value: MaybeUndefined<Decimal>,
    /// Null clears it.
    pub range_low: MaybeUndefined<Decimal>,
    /// Null clears it.
    pub range_high: MaybeUndefined<Decimal>,
    /// Null clears it.
    pub warning_margin: MaybeUndefined<Decimal>,
    pub frequency: MaybeUndefined<KpiFrequency>,
    /// Null clears it.
    pub owner_id: MaybeUndefined<ID>,
    /// Null clears it.
    pub team_id: MaybeUndefined<ID>,
    /// Null clears it.
    pub external_key: MaybeUndefined<String>,
}

record_input!(ArchiveKpiInput, "The KPI to archive.");

/// One value of a KPI.
#[derive(InputObject)]
pub struct KpiMeasurementInput {
    /// The KPI; send this or `kpiExternalKey`.
    pub kpi_id: Option<ID>,
    /// The KPI's external key; send this or `kpiId`.
    pub kpi_external_key: Option<String>,
    pub value: Decimal,
    /// When the value was true. A value for a time that already has one replaces it.
    pub observed_at: DateTime,
    /// Makes a retry of this item safe in any later batch: the same key with the same item
    /// returns the first result and writes nothing; the same key with another item is
    /// rejected.
    pub idempotency_key: Option<String>,
}

/// A batch of KPI values.
#[derive(InputObject)]
pub struct RecordKpiMeasurementsInput {
    /// 1 to 1,000 measurements. Valid ones are stored even when others are rejected.
    pub measurements: Vec<KpiMeasurementInput>,
    /// Makes a retry safe: the same key with the same batch returns the first result and
    /// writes nothing; the same key with another batch is rejected.
    pub idempotency_key: Option<String>,
}

payload!(CreateKpiPayload, kpi: Kpi, "The result of createKpi.");
payload!(UpdateKpiPayload, kpi: Kpi, "The result of updateKpi and archiveKpi.");

/// The outcome of one measurement of a batch.
#[derive(SimpleObject)]
pub struct KpiMeasurementResult {
    /// The measurement's position in the input list, from 0.
    pub index: i32,
    /// The stored measurement; null when it was rejected.
    pub measurement: Option<KpiMeasurement>,
    /// Whether it replaced an earlier value for the same KPI and observed-at time.
    pub replaced: bool,
    /// Whether this is the stored result of an earlier request with the same idempotency
    /// key, so that nothing was written now.
    pub replayed: bool,
    /// Why the measurement was rejected; empty when it was stored.
    pub user_errors: Vec<UserError>,
}

/// The result of recordKpiMeasurements.
#[derive(SimpleObject)]
pub struct RecordKpiMeasurementsPayload {
    /// One result per input measurement, in input order.
    pub results: Vec<KpiMeasurementResult>,
    /// How many measurements were stored.
    pub recorded_count: i32,
    /// How many measurements were rejected.
    pub rejected_count: i32,
    /// Problems with the batch as a whole; when there are any, nothing was stored.
    pub user_errors: Vec<UserError>,
}

impl RecordKpiMeasurementsPayload {
    fn rejected(errors: Vec<UserError>) -> Self {
        Self {
            results: Vec::new(),
            recorded_count: 0,
            rejected_count: 0,
            user_errors: errors,
        }
    }
}

impl CreateKpiInput {
    fn parse(&self) -> Parsed<NewKpi> {
        parse_all! {
            name = input::name("name", &self.name);
            description = input::description("description", self.description.as_deref());
            currency = input::optional(self.currency_code.as_deref(), |raw| input::currency("currencyCode", raw));
            target = input::optional_metric("targetValue", self.target_value.as_ref());
            warning = input::optional_metric("warningValue", self.warning_value.as_ref());
            range_low = input::optional_metric("rangeLow", self.range_low.as_ref());
            range_high = input::optional_metric("rangeHigh", self.range_high.as_ref());
            warning_margin = input::optional_metric("warningMargin", self.warning_margin.as_ref());
            owner_id = input::optional_id("ownerId", self.owner_id.as_ref());
            team_id = input::optional_id("teamId", self.team_id.as_ref());
            external_key = input::optional(self.external_key.as_deref(), |raw| input::external_key("externalKey", raw));
        }
        let fields = ThresholdFields {
            target,
            warning,
            range_low,
            range_high,
            warning_margin,
        };
        parse_all! {
            thresholds = KpiThresholds::new(self.direction.into(), fields);
            unit = DomainUnit::new(self.unit.into(), currency);
        }
        Ok(NewKpi {
            name,
            description,
            unit,
            thresholds,
            frequency: self.frequency.into(),
            owner_id,
            team_id,
            external_key,
        })
    }
}

impl UpdateKpiInput {
    fn parse(self) -> Parsed<(KpiId, KpiChanges)> {
        parse_all! {
            id = input::id::<KpiId>("id", &self.id);
            name = input::settable("name", self.name, |raw| input::name("name", &raw));
            description = input::maybe_description("description", self.description);
            unit = input::settable("unit", self.unit, |unit| Ok(unit.into()));
            direction = input::settable("direction", self.direction, |direction| Ok(direction.into()));
            frequency = input::settable("frequency", self.frequency, |frequency| Ok(frequency.into()));
            currency_code = input::maybe(self.currency_code, |raw| input::currency("currencyCode", &raw));
            target_value = input::maybe_metric("targetValue", self.target_value);
            warning_value = input::maybe_metric("warningValue", self.warning_value);
            range_low = input::maybe_metric("rangeLow", self.range_low);
            range_high = input::maybe_metric("rangeHigh", self.range_high);
            warning_margin = input::maybe_metric("warningMargin", self.warning_margin);
            owner_id = input::maybe_id("ownerId", self.owner_id);
            team_id = input::maybe_id("teamId", self.team_id);
            external_key = input::maybe(self.external_key, |raw| input::external_key("externalKey", &raw));
        }
        Ok((
            id,
            KpiChanges {
                expected_version: self.expected_version,
                name,
                description,
                unit,
                currency_code,
                direction,
                target_value,
                warning_value,
                range_low,
                range_high,
                warning_margin,
                frequency,
                owner_id,
                team_id,
                external_key,
            },
        ))
    }
}

/// Parses one batch item; errors name the field under `measurements.<index>`.
fn parse_measurement(index: usize, item: &KpiMeasurementInput) -> Parsed<NewMeasurement> {
    let field = |name: &str| format!("measurements.{index}.{name}");
    parse_all! {
        kpi = input::record_ref::<KpiId>(
            &field("kpiId"),
            item.kpi_id.as_ref(),
            &field("kpiExternalKey"),
            item.kpi_external_key.as_deref(),
        );
        value = input::metric(&field("value"), &item.value);
        observed_at = item.observed_at.get(&field("observedAt"));
        idempotency_key = input::idempotency_key(item.idempotency_key.as_deref())
            .map_err(|error| error.in_field(field("idempotencyKey")));
    }
    Ok(NewMeasurement {
        kpi,
        value,
        observed_at,
        idempotency_key,
    })
}

#[derive(Default)]
pub struct KpiMutations;

#[Object]
impl KpiMutations {
    /// Creates a KPI. Needs ADMIN.
    async fn create_kpi(
        &self,
        ctx: &Context<'_>,
        input: CreateKpiInput,
    ) -> async_graphql::Result<CreateKpiPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let new = match input.parse() {
            Ok(new) => new,
            Err(errors) => return Ok(CreateKpiPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.create_kpi(actor, new).await)? {
                Ok(kpi) => CreateKpiPayload::done(Kpi(kpi)),
                Err(errors) => CreateKpiPayload::rejected(errors),
            },
        )
    }

    /// Changes a KPI's description, unit, thresholds or owner. Needs ADMIN.
    async fn update_kpi(
        &self,
        ctx: &Context<'_>,
        input: UpdateKpiInput,
    ) -> async_graphql::Result<UpdateKpiPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let (kpi_id, changes) = match input.parse() {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(UpdateKpiPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.update_kpi(actor, kpi_id, changes).await)? {
                Ok(kpi) => UpdateKpiPayload::done(Kpi(kpi)),
                Err(errors) => UpdateKpiPayload::rejected(errors),
            },
        )
    }

    /// Archives a KPI; it takes no more measurements. Needs ADMIN.
    async fn archive_kpi(
        &self,
        ctx: &Context<'_>,
        input: ArchiveKpiInput,
    ) -> async_graphql::Result<UpdateKpiPayload> {
        let actor = ctx.authorize(Permission::Administer)?;
        let kpi_id = match input::id::<KpiId>("id", &input.id) {
            Ok(id) => id,
            Err(error) => return Ok(UpdateKpiPayload::rejected(user_errors(vec![error]))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .archive_kpi(actor, kpi_id, input.expected_version)
                    .await,
            )? {
                Ok(kpi) => UpdateKpiPayload::done(Kpi(kpi)),
                Err(errors) => UpdateKpiPayload::rejected(errors),
            },
        )
    }

    /// Records up to 1,000 KPI values, each addressed by KPI id or external key. Each is
    /// stored or rejected on its own; a value for a KPI and time that already has one
    /// replaces it; key results that follow a KPI move to its latest value in their cycle.
    /// Needs MEMBER, or a token with the ingest, write or admin scope.
    async fn record_kpi_measurements(
        &self,
        ctx: &Context<'_>,
        input: RecordKpiMeasurementsInput,
    ) -> async_graphql::Result<RecordKpiMeasurementsPayload> {
        let actor = ctx.authorize(Permission::RecordMeasurements)?;
        let batch_key = batch::check_size("measurements", input.measurements.len())
            .and_then(|()| input::idempotency_key(input.idempotency_key.as_deref()));
        let batch_key = match batch_key {
            Ok(key) => key,
            Err(error) => {
                return Ok(RecordKpiMeasurementsPayload::rejected(user_errors(vec![
                    error,
                ])));
            }
        };
        let parsed = batch::Parsed::new(&input.measurements, parse_measurement);
        let stored = if parsed.valid.is_empty() {
            Vec::new()
        } else {
            match user_result(
                ctx.store()?
                    .record_measurements(actor, parsed.valid.clone(), batch_key)
                    .await,
            )? {
                Ok(stored) => stored,
                Err(errors) => return Ok(RecordKpiMeasurementsPayload::rejected(errors)),
            }
        };
        let outcomes = parsed.merge("measurements", stored);
        let (recorded_count, rejected_count) = batch::counts(&outcomes);
        let results = outcomes
            .into_iter()
            .enumerate()
            .map(|(index, outcome)| match outcome {
                Ok(outcome) => KpiMeasurementResult {
                    index: batch::index(index),
                    measurement: Some(KpiMeasurement(outcome.measurement)),
                    replaced: outcome.replaced,
                    replayed: outcome.replayed,
                    user_errors: Vec::new(),
                },
                Err(errors) => KpiMeasurementResult {
                    index: batch::index(index),
                    measurement: None,
                    replaced: false,
                    replayed: false,
                    user_errors: user_errors(errors),
                },
            })
            .collect();
        Ok(RecordKpiMeasurementsPayload {
            results,
            recorded_count,
            rejected_count,
            user_errors: Vec::new(),
        })
    }
}
