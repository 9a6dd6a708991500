use super::batch;
use super::input::{self, Parsed, Warning, parse_all, payload, record_input, user_errors};
use crate::graphql::context::{ContextExt, Permission};
use crate::graphql::error::{UserError, user_result};
use crate::graphql::objects::enums::{KeyResultType, Unit};
use crate::graphql::objects::key_result::{CheckIn, KeyResult};
use crate::graphql::scalars::DateTime;
use crate::graphql::scalars::Decimal;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use headway_domain::ids::KeyResultId;
use headway_domain::model::{Measure, Unit as DomainUnit};
use headway_domain::values::{Confidence, Grade, Weight};
use headway_persistence::{KeyResultChanges, KeyResultOutcome, NewCheckIn, NewKeyResult};

#[derive(InputObject)]
pub struct CreateKeyResultInput {
    pub objective_id: ID,
    /// At most 200 characters.
    pub title: String,
    pub description: Option<String>,
    /// A member of the organization.
    pub owner_id: Option<ID>,
    /// How progress follows the current value.
    #[graphql(name = "type")]
    pub kind: KeyResultType,
    /// Where the metric stands now. Required for INCREASE_TO and DECREASE_TO; defaults to the
    /// target for STAY_AT_OR_ABOVE and STAY_AT_OR_BELOW; left out for BOOLEAN.
    pub start_value: Option<Decimal>,
    /// The value to reach; left out for BOOLEAN. It must differ from the start value.
    pub target_value: Option<Decimal>,
    #[graphql(default_with = "Unit::Number")]
    pub unit: Unit,
    /// The ISO 4217 code, required when the unit is CURRENCY.
    pub currency_code: Option<String>,
    /// The weight in the objective's progress, from 0 to 1,000; default 1.
    pub weight: Option<Decimal>,
    /// A KPI whose latest measurement within the cycle drives the current value.
    pub kpi_id: Option<ID>,
    /// A key for integrations, unique among the organization's key results.
    pub external_key: Option<String>,
}

/// Changes to a key result. Left-out fields stay as they are. Null clears only the fields
/// described with "Null clears it."; for any other field it is rejected.
#[derive(InputObject)]
pub struct UpdateKeyResultInput {
    pub id: ID,
    /// Fails with a CONFLICT user error when the key result is at another version.
    pub expected_version: Option<i32>,
    pub title: MaybeUndefined<String>,
    /// Null clears it.
    pub description: MaybeUndefined<String>,
    /// Null clears it.
    pub owner_id: MaybeUndefined<ID>,
    /// The type can change only before the first check-in.
    #[graphql(name = "type")]
    pub kind: MaybeUndefined<KeyResultType>,
    pub start_value: MaybeUndefined<Decimal>,
    pub target_value: MaybeUndefined<Decimal>,
    pub unit: MaybeUndefined<Unit>,
    /// An ISO 4217 code such as `EUR`, for the CURRENCY unit. Null clears it.
    pub currency_code: MaybeUndefined<String>,
    pub weight: MaybeUndefined<Decimal>,
    /// Null clears it, so the key result stops following a KPI.
    pub kpi_id: MaybeUndefined<ID>,
    /// A grade from 0 to 1 that replaces the progress in the score at cycle close. Null
    /// clears it.
    pub manual_grade: MaybeUndefined<Decimal>,
    /// The reason for the manual grade. Null clears it.
    pub grade_note: MaybeUndefined<String>,
    /// Null clears it.
    pub external_key: MaybeUndefined<String>,
}

record_input!(ArchiveKeyResultInput, "The key result to archive.");

/// A check-in: a value observed for a key result.
#[derive(InputObject)]
pub struct CreateCheckInInput {
    /// The key result; send this or `keyResultExternalKey`.
    pub key_result_id: Option<ID>,
    /// The key result's external key; send this or `keyResultId`.
    pub key_result_external_key: Option<String>,
    /// The observed value, for every type but BOOLEAN.
    pub value: Option<Decimal>,
    /// Done or not, for BOOLEAN key results.
    pub done: Option<bool>,
    /// The owner's confidence from 0 to 10 that the key result will be reached.
    pub confidence: Option<i32>,
    /// At most 10,000 characters.
    pub comment: Option<String>,
    /// When the value was true; now when left out. It must lie within the key result's
    /// cycle, from 00:00 of its start date to 24:00 of its end date in the organization's
    /// time zone. A past time is a backfill, which sets the current value only when no
    /// check-in with a later observed-at time exists.
    pub observed_at: Option<DateTime>,
    /// Makes a retry safe: the same key with the same input returns the first result and
    /// writes nothing; the same key with another input is rejected. In a batch, the key
    /// covers this item in any later batch.
    pub idempotency_key: Option<String>,
}

/// A batch of check-ins.
#[derive(InputObject)]
pub struct RecordCheckInsInput {
    /// 1 to 1,000 check-ins. Valid ones are stored even when others are rejected.
    pub check_ins: Vec<CreateCheckInInput>,
    /// Makes a retry safe: the same key with the same batch returns the first result and
    /// writes nothing; the same key with another batch is rejected.
    pub idempotency_key: Option<String>,
}

/// The outcome of one check-in of a batch.
#[derive(SimpleObject)]
pub struct CheckInResult {
    /// The check-in's position in the input list, from 0.
    pub index: i32,
    /// The stored check-in; null when it was rejected.
    pub check_in: Option<CheckIn>,
    /// The key result right after this check-in.
    pub key_result: Option<KeyResult>,
    /// Whether this is the stored result of an earlier request with the same idempotency
    /// key, so that nothing was written now.
    pub replayed: bool,
    /// Why the check-in was rejected; empty when it was stored.
    pub user_errors: Vec<UserError>,
}

/// The result of recordCheckIns.
#[derive(SimpleObject)]
pub struct RecordCheckInsPayload {
    /// One result per input check-in, in input order.
    pub results: Vec<CheckInResult>,
    /// How many check-ins were stored.
    pub recorded_count: i32,
    /// How many check-ins were rejected.
    pub rejected_count: i32,
    /// Problems with the batch as a whole; when there are any, nothing was stored.
    pub user_errors: Vec<UserError>,
}

impl RecordCheckInsPayload {
    fn rejected(errors: Vec<UserError>) -> Self {
        Self {
            results: Vec::new(),
            recorded_count: 0,
            rejected_count: 0,
            user_errors: errors,
        }
    }
}

/// The result of createKeyResult.
#[derive(SimpleObject)]
pub struct CreateKeyResultPayload {
    /// The key result; null when the input was rejected.
    pub key_result: Option<KeyResult>,
    /// Problems with the input; empty when the mutation succeeded.
    pub user_errors: Vec<UserError>,
    /// Organization limits the change exceeds, when the organization only warns.
    pub warnings: Vec<Warning>,
}

impl CreateKeyResultPayload {
    fn done(outcome: KeyResultOutcome) -> Self {
        Self {
            key_result: Some(KeyResult::from(outcome.key_result)),
            user_errors: Vec::new(),
            warnings: outcome.warnings.into_iter().map(Warning::from).collect(),
        }
    }

    fn rejected(errors: Vec<UserError>) -> Self {
        Self {
            key_result: None,
            user_errors: errors,
            warnings: Vec::new(),
        }
    }
}

payload!(UpdateKeyResultPayload, key_result: KeyResult, "The result of updateKeyResult and archiveKeyResult.");

/// The result of createCheckIn.
#[derive(SimpleObject)]
pub struct CreateCheckInPayload {
    /// The check-in; null when the input was rejected.
    pub check_in: Option<CheckIn>,
    /// The key result after the check-in, with its new current value and progress.
    pub key_result: Option<KeyResult>,
    /// Whether this is the stored result of an earlier request with the same idempotency key.
    pub replayed: bool,
    /// Problems with the input; empty when the mutation succeeded.
    pub user_errors: Vec<UserError>,
}

impl CreateCheckInPayload {
    fn rejected(errors: Vec<UserError>) -> Self {
        Self {
            check_in: None,
            key_result: None,
            replayed: false,
            user_errors: errors,
        }
    }
}

impl CreateKeyResultInput {
    fn parse(&self) -> Parsed<NewKeyResult> {
        parse_all! {
            objective_id = input::id("objectiveId", &self.objective_id);
            title = input::title("title", &self.title);
            description = input::description("description", self.description.as_deref());
            owner_id = input::optional_id("ownerId", self.owner_id.as_ref());
            start_value = input::optional_metric("startValue", self.start_value.as_ref());
            target_value = input::optional_metric("targetValue", self.target_value.as_ref());
            currency = input::optional(self.currency_code.as_deref(), |raw| input::currency("currencyCode", raw));
            weight = input::optional(self.weight.as_ref(), |weight| input::weight("weight", weight));
            kpi_id = input::optional_id("kpiId", self.kpi_id.as_ref());
            external_key = input::optional(self.external_key.as_deref(), |raw| input::external_key("externalKey", raw));
        }
        parse_all! {
            measure = Measure::new(self.kind.into(), start_value, target_value);
            unit = DomainUnit::new(self.unit.into(), currency);
        }
        Ok(NewKeyResult {
            objective_id,
            owner_id,
            title,
            description,
            measure,
            unit,
            weight: weight.unwrap_or_else(Weight::one),
            kpi_id,
            external_key,
        })
    }
}

impl UpdateKeyResultInput {
    fn parse(self) -> Parsed<(KeyResultId, KeyResultChanges)> {
        parse_all! {
            id = input::id::<KeyResultId>("id", &self.id);
            title = input::settable("title", self.title, |raw| input::title("title", &raw));
            description = input::maybe_description("description", self.description);
            owner_id = input::maybe_id("ownerId", self.owner_id);
            kind = input::settable("type", self.kind, |kind| Ok(kind.into()));
            start_value = input::settable("startValue", self.start_value, |value| input::metric("startValue", &value));
            target_value = input::settable("targetValue", self.target_value, |value| input::metric("targetValue", &value));
            unit = input::settable("unit", self.unit, |unit| Ok(unit.into()));
            currency_code = input::maybe(self.currency_code, |raw| input::currency("currencyCode", &raw));
            weight = input::settable("weight", self.weight, |weight| input::weight("weight", &weight));
            kpi_id = input::maybe_id("kpiId", self.kpi_id);
            manual_grade = input::maybe(self.manual_grade, |grade| Grade::new(grade.get("manualGrade")?).map_err(|error| error.in_field("manualGrade")));
            grade_note = input::maybe_description("gradeNote", self.grade_note);
            external_key = input::maybe(self.external_key, |raw| input::external_key("externalKey", &raw));
        }
        Ok((
            id,
            KeyResultChanges {
                expected_version: self.expected_version,
                title,
                description,
                owner_id,
                kind,
                start_value,
                target_value,
                unit,
                currency_code,
                weight,
                kpi_id,
                manual_grade,
                grade_note,
                external_key,
            },
        ))
    }
}

impl CreateCheckInInput {
    /// Parses the input; `prefix` names the item of a batch in error fields.
    fn parse(&self, prefix: &str) -> Parsed<NewCheckIn> {
        let field = |name: &str| format!("{prefix}{name}");
        parse_all! {
            key_result = input::record_ref::<KeyResultId>(
                &field("keyResultId"),
                self.key_result_id.as_ref(),
                &field("keyResultExternalKey"),
                self.key_result_external_key.as_deref(),
            );
            value = input::optional_metric(&field("value"), self.value.as_ref());
            confidence = input::optional(self.confidence, |level| {
                Confidence::new(i64::from(level)).map_err(|error| error.in_field(field("confidence")))
            });
            comment = input::description(&field("comment"), self.comment.as_deref());
            idempotency_key = input::idempotency_key(self.idempotency_key.as_deref())
                .map_err(|error| error.in_field(field("idempotencyKey")));
            observed_at = input::optional(self.observed_at.as_ref(), |instant| instant.get(&field("observedAt")));
        }
        Ok(NewCheckIn {
            key_result,
            value,
            done: self.done,
            confidence,
            comment,
            observed_at,
            idempotency_key,
        })
    }
}

#[derive(Default)]
pub struct KeyResultMutations;

#[Object]
impl KeyResultMutations {
    /// Creates a key result and rolls its objective's progress up. Needs MEMBER.
    async fn create_key_result(
        &self,
        ctx: &Context<'_>,
        input: CreateKeyResultInput,
    ) -> async_graphql::Result<CreateKeyResultPayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let new = match input.parse() {
            Ok(new) => new,
            Err(errors) => return Ok(CreateKeyResultPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.create_key_result(actor, new).await)? {
                Ok(outcome) => CreateKeyResultPayload::done(outcome),
                Err(errors) => CreateKeyResultPayload::rejected(errors),
            },
        )
    }

    /// Changes a key result; a new measure or weight recomputes and rolls up progress. Needs MEMBER.
    async fn update_key_result(
        &self,
        ctx: &Context<'_>,
        input: UpdateKeyResultInput,
    ) -> async_graphql::Result<UpdateKeyResultPayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let (key_result_id, changes) = match input.parse() {
            Ok(parsed) => parsed,
            Err(errors) => return Ok(UpdateKeyResultPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .update_key_result(actor, key_result_id, changes)
                    .await,
            )? {
                Ok(key_result) => UpdateKeyResultPayload::done(KeyResult::from(key_result)),
                Err(errors) => UpdateKeyResultPayload::rejected(errors),
            },
        )
    }

    /// Archives a key result, which leaves its objective's progress. Needs MEMBER.
    async fn archive_key_result(
        &self,
        ctx: &Context<'_>,
        input: ArchiveKeyResultInput,
    ) -> async_graphql::Result<UpdateKeyResultPayload> {
        let actor = ctx.authorize(Permission::WritePlans)?;
        let key_result_id = match input::id::<KeyResultId>("id", &input.id) {
            Ok(id) => id,
            Err(error) => return Ok(UpdateKeyResultPayload::rejected(user_errors(vec![error]))),
        };
        Ok(
            match user_result(
                ctx.store()?
                    .archive_key_result(actor, key_result_id, input.expected_version)
                    .await,
            )? {
                Ok(key_result) => UpdateKeyResultPayload::done(KeyResult::from(key_result)),
                Err(errors) => UpdateKeyResultPayload::rejected(errors),
            },
        )
    }

    /// Records a check-in, moves the key result's current value when the check-in is the
    /// newest observation, and rolls progress up to every aligned objective. Needs MEMBER,
    /// or a token with the ingest, write or admin scope.
    async fn create_check_in(
        &self,
        ctx: &Context<'_>,
        input: CreateCheckInInput,
    ) -> async_graphql::Result<CreateCheckInPayload> {
        let actor = ctx.authorize(Permission::CheckIn)?;
        let new = match input.parse("") {
            Ok(new) => new,
            Err(errors) => return Ok(CreateCheckInPayload::rejected(user_errors(errors))),
        };
        Ok(
            match user_result(ctx.store()?.create_check_in(actor, new).await)? {
                Ok(outcome) => CreateCheckInPayload {
                    check_in: Some(CheckIn(outcome.check_in)),
                    key_result: Some(KeyResult::from(outcome.key_result)),
                    replayed: outcome.replayed,
                    user_errors: Vec::new(),
                },
                Err(errors) => CreateCheckInPayload::rejected(errors),
            },
        )
    }

    /// Records up to 1,000 check-ins, each addressed by key result id or external key, in
    /// one transaction. Each is stored or rejected on its own, and every affected objective
    /// rolls up once. Needs MEMBER, or a token with the ingest, write or admin scope.
    async fn record_check_ins(
        &self,
        ctx: &Context<'_>,
        input: RecordCheckInsInput,
    ) -> async_graphql::Result<RecordCheckInsPayload> {
        let actor = ctx.authorize(Permission::CheckIn)?;
        let batch_key = batch::check_size("checkIns", input.check_ins.len())
            .and_then(|()| input::idempotency_key(input.idempotency_key.as_deref()));
        let batch_key = match batch_key {
            Ok(key) => key,
            Err(error) => return Ok(RecordCheckInsPayload::rejected(user_errors(vec![error]))),
        };
        let parsed = batch::Parsed::new(&input.check_ins, |index, item| {
            item.parse(&format!("checkIns.{index}."))
        });
        let stored = if parsed.valid.is_empty() {
            Vec::new()
        } else {
            match user_result(
                ctx.store()?
                    .record_check_ins(actor, parsed.valid.clone(), batch_key)
                    .await,
            )? {
                Ok(stored) => stored,
                Err(errors) => return Ok(RecordCheckInsPayload::rejected(errors)),
            }
        };
        let outcomes = parsed.merge("checkIns", stored);
        let (recorded_count, rejected_count) = batch::counts(&outcomes);
        let results = outcomes
            .into_iter()
            .enumerate()
            .map(|(index, outcome)| match outcome {
                Ok(outcome) => CheckInResult {
                    index: batch::index(index),
                    check_in: Some(CheckIn(outcome.check_in)),
                    key_result: Some(KeyResult::from(outcome.key_result)),
                    replayed: outcome.replayed,
                    user_errors: Vec::new(),
                },
                Err(errors) => CheckInResult {
                    index: batch::index(index),
                    check_in: None,
                    key_result: None,
                    replayed: false,
                    user_errors: user_errors(errors),
                },
            })
            .collect();
        Ok(RecordCheckInsPayload {
            results,
            recorded_count,
            rejected_count,
            user_errors: Vec::new(),
        })
    }
}
