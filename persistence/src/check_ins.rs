//! Check-ins: the values that move key results.

use crate::convert;
use crate::entities::{check_in, key_result, objective};
use crate::error::StoreError;
use crate::idempotency;
use crate::idempotency::StoredItem;
use crate::page::{self, Page, PageRequest, SortKey};
use crate::rollup::{self, CycleTiming};
use crate::scoped::{self, OrganizationScoped};
use crate::tx::WriteTx;
use crate::{Actor, RecordRef, Store};
use chrono::{DateTime, Utc};
use headway_domain::events::{EventPayload, NewEvent, RecordKind};
use headway_domain::ids::{ApiTokenId, CheckInId, KeyResultId, OrganizationId, UserId};
use headway_domain::model::{CheckIn, KeyResult, KeyResultType, ObjectiveState, Source};
use headway_domain::progress::{self, KEY_RESULT_MILESTONES};
use headway_domain::rules::{self, CheckInTarget};
use headway_domain::values::{Confidence, Description, IdempotencyKey, MetricValue};
use headway_domain::{ErrorCode, ValidationError};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, IntoActiveModel, QueryFilter};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// A check-in as a client sends it.
#[derive(Clone, Debug, Serialize)]
pub struct NewCheckIn {
    pub key_result: RecordRef<KeyResultId>,
    /// The value, for every type but BOOLEAN.
    pub value: Option<MetricValue>,
    /// Done or not, for BOOLEAN key results.
    pub done: Option<bool>,
    pub confidence: Option<Confidence>,
    pub comment: Option<Description>,
    /// When the value was true; now when left out.
    pub observed_at: Option<DateTime<Utc>>,
    /// Makes a retry safe: of the call, or of this item in any later batch.
    pub idempotency_key: Option<IdempotencyKey>,
}

/// A recorded check-in with its key result after the change.
#[derive(Clone, Debug)]
pub struct CheckInOutcome {
    pub check_in: CheckIn,
    pub key_result: KeyResult,
    /// Whether this is the stored result of an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// A validated check-in about to be written.
pub(crate) struct CheckInRecord {
    pub(crate) value: MetricValue,
    pub(crate) confidence: Option<Confidence>,
    pub(crate) comment: Option<Description>,
    pub(crate) observed_at: DateTime<Utc>,
    pub(crate) source: Source,
    pub(crate) author_id: Option<UserId>,
    pub(crate) api_token_id: Option<ApiTokenId>,
}

const CREATE_CHECK_IN: &str = "createCheckIn";
const RECORD_CHECK_INS: &str = "recordCheckIns";
/// The operation name under which single items of a batch remember their results.
const RECORD_CHECK_IN_ITEM: &str = "recordCheckIns.item";

/// The key results that check-ins name, by id and by external key.
struct ResolvedKeyResults {
    by_id: HashMap<Uuid, key_result::Model>,
    by_key: HashMap<String, Uuid>,
}

impl ResolvedKeyResults {
    async fn load<'a>(
        tx: &WriteTx,
        refs: impl IntoIterator<Item = &'a RecordRef<KeyResultId>>,
    ) -> Result<Self, StoreError> {
        let mut ids = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for reference in refs {
            match reference {
                RecordRef::Id(id) => ids.insert(id.as_uuid()),
                RecordRef::ExternalKey(key) => keys.insert(key.as_str().to_owned()),
            };
        }
        let organization_id = tx.organization_id();
        let mut by_id: HashMap<Uuid, key_result::Model> =
            scoped::find_many::<key_result::Entity, _>(&tx.db, organization_id, ids)
                .await?
                .into_iter()
                .map(|row| (row.id, row))
                .collect();
        let mut by_key = HashMap::new();
        let keys: Vec<String> = keys.into_iter().collect();
        for chunk in keys.chunks(500) {
            let rows = key_result::Entity::find_in(organization_id)
                .filter(key_result::Column::ExternalKey.is_in(chunk.iter().cloned()))
                .all(&tx.db)
                .await?;
            for row in rows {
                if let Some(key) = &row.external_key {
                    by_key.insert(key.clone(), row.id);
                }
                by_id.insert(row.id, row);
            }
        }
        Ok(Self { by_id, by_key })
    }

    /// Returns the key result that `reference` names, or a NOT_FOUND error naming the field.
    fn get(
        &self,
        reference: &RecordRef<KeyResultId>,
    ) -> Result<&key_result::Model, ValidationError> {
        let found = match reference {
            RecordRef::Id(id) => self.by_id.get(&id.as_uuid()),
            RecordRef::ExternalKey(key) => self
                .by_key
                .get(key.as_str())
                .and_then(|id| self.by_id.get(id)),
        };
        found.ok_or_else(|| match reference {
            RecordRef::Id(_) => ValidationError::new(
                "keyResultId",
                ErrorCode::NotFound,
                "no key result with this id exists in the organization",
            ),
            RecordRef::ExternalKey(key) => ValidationError::new(
                "keyResultExternalKey",
                ErrorCode::NotFound,
                format!("no key result with the external key \"{key}\" exists in the organization"),
            ),
        })
    }
}

/// Checks a check-in against its key result, objective and cycle, and gives what to write.
/// Errors about the key result name the field the client addressed it by.
fn validate(
    tx: &WriteTx,
    row: &key_result::Model,
    objective: &objective::Model,
    timing: CycleTiming,
    input: &NewCheckIn,
) -> Result<CheckInRecord, StoreError> {
    let actor = tx.actor;
    let now = tx.now;
    let kind = KeyResultType::from_name(&row.kind)
        .ok_or_else(|| StoreError::Corrupt(format!("key_results.kind holds \"{}\"", row.kind)))?;
    let value = rules::check_in_value(kind, input.value, input.done)?;
    let observed_at = input.observed_at.map_or(now, convert::storable_instant);
    admit(row, objective, timing, observed_at, now).map_err(|error| match error {
        StoreError::Rejected(error)
            if error.field == "keyResultId"
                && matches!(input.key_result, RecordRef::ExternalKey(_)) =>
        {
            StoreError::Rejected(error.in_field("keyResultExternalKey"))
        }
        error => error,
    })?;
    let time_zone = tx.organization.settings.time_zone;
    rules::validate_observed_in_cycle(observed_at, timing.window, time_zone).map_err(
        |mut error| {
            if input.observed_at.is_none() {
                error.message = format!(
                    "observedAt was left out, so it defaults to now. {}",
                    error.message
                );
            }
            error
        },
    )?;
    Ok(CheckInRecord {
        value,
        confidence: input.confidence,
        comment: input.comment.clone(),
        observed_at,
        source: if actor.api_token_id.is_some() {
            Source::ApiToken
        } else {
            Source::User
        },
        author_id: actor.user_id,
        api_token_id: actor.api_token_id,
    })
}

/// Writes a check-in and, when it is the newest observation, moves the key result's current
/// value and progress. The caller rolls the objective up afterwards.
pub(crate) async fn record(
    tx: &mut WriteTx,
    row: key_result::Model,
    objective: &objective::Model,
    timing: CycleTiming,
    record: CheckInRecord,
) -> Result<(check_in::Model, key_result::Model), StoreError> {
    let inserted = check_in::ActiveModel {
        id: Set(CheckInId::generate().as_uuid()),
        organization_id: Set(tx.organization_id().as_uuid()),
        key_result_id: Set(row.id),
        value: Set(record.value.to_string()),
        confidence: Set(record.confidence.map(|level| i16::from(level.get()))),
        comment: Set(record.comment.map(Description::into_inner)),
        author_id: Set(record.author_id.map(Into::into)),
        api_token_id: Set(record.api_token_id.map(Into::into)),
        source: Set(record.source.as_str().to_owned()),
        observed_at: Set(record.observed_at),
        created_at: Set(tx.now),
    }
    .insert(&tx.db)
    .await?;

    let scope = rollup::key_result_scope(&row, objective);
    let becomes_current = progress::becomes_current(record.observed_at, row.current_observed_at);
    tx.emit(NewEvent {
        payload: EventPayload::CheckInCreated {
            check_in_id: inserted.id.into(),
            key_result_id: row.id.into(),
            value: record.value.get(),
            confidence: record.confidence.map(Confidence::get),
            observed_at: record.observed_at,
            became_current: becomes_current,
        },
        scope,
    });
    if !becomes_current {
        return Ok((inserted, row));
    }
    let current = CurrentCheckIn {
        id: inserted.id,
        observed_at: record.observed_at,
        value: record.value,
        confidence: record.confidence,
    };
    let updated = make_current(tx, row, objective, timing, current).await?;
    Ok((inserted, updated))
}

/// The check-in that becomes the source of a key result's current value.
pub(crate) struct CurrentCheckIn {
    pub(crate) id: Uuid,
    pub(crate) observed_at: DateTime<Utc>,
    pub(crate) value: MetricValue,
    /// The check-in's confidence; without one the key result keeps its latest confidence.
    pub(crate) confidence: Option<Confidence>,
}

/// Moves a key result's current value, progress and milestones to `current`, emitting a
/// progress event when the value or progress changes. The caller rolls the objective up.
pub(crate) async fn make_current(
    tx: &mut WriteTx,
    row: key_result::Model,
    objective: &objective::Model,
    timing: CycleTiming,
    current: CurrentCheckIn,
) -> Result<key_result::Model, StoreError> {
    let scope = rollup::key_result_scope(&row, objective);
    let key_result = convert::key_result(row.clone())?;
    let old_ratio = key_result.progress_ratio;
    let new_ratio = progress::key_result_ratio(&key_result.measure, current.value);
    let (milestones, reached) = key_result
        .milestones
        .reach(new_ratio, &KEY_RESULT_MILESTONES);
    if new_ratio != old_ratio || current.value != key_result.current_value {
        tx.emit(NewEvent {
            payload: EventPayload::KeyResultProgressChanged {
                key_result_id: row.id.into(),
                old_value: key_result.current_value.get(),
                new_value: current.value.get(),
                old_progress: old_ratio,
                new_progress: new_ratio,
                old_status: rollup::pace(tx, timing, old_ratio),
                new_status: rollup::pace(tx, timing, new_ratio),
            },
            scope,
        });
    }
    rollup::emit_milestones(tx, RecordKind::KeyResult, row.id, &reached, scope);

    let latest_confidence = current
        .confidence
        .map(|level| i16::from(level.get()))
        .or(row.latest_confidence);
    let version = row.version;
    let mut update = row.into_active_model();
    update.current_value = Set(current.value.to_string());
    update.progress_ratio = Set(new_ratio.normalize().to_string());
    update.current_check_in_id = Set(Some(current.id));
    update.current_observed_at = Set(Some(current.observed_at));
    update.latest_confidence = Set(latest_confidence);
    update.milestones = Set(i16::from(milestones.bits()));
    update.version = Set(version + 1);
    update.updated_at = Set(tx.now);
    Ok(update.update(&tx.db).await?)
}

/// Checks that a key result and everything around it take check-ins now.
pub(crate) fn admit(
    row: &key_result::Model,
    objective: &objective::Model,
    timing: CycleTiming,
    observed_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let objective_state = ObjectiveState::from_name(&objective.state).ok_or_else(|| {
        StoreError::Corrupt(format!("objectives.state holds \"{}\"", objective.state))
    })?;
    rules::admit_check_in(
        CheckInTarget {
            key_result_archived: row.archived_at.is_some(),
            objective_state,
            cycle_state: timing.state,
        },
        observed_at,
        now,
    )?;
    Ok(())
}

impl Store {
    /// Records a check-in by a user or an integration, and rolls progress up.
    pub async fn create_check_in(
        &self,
        actor: Actor,
        input: NewCheckIn,
    ) -> Result<CheckInOutcome, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        let fingerprint = match &input.idempotency_key {
            Some(key) => {
                let fingerprint = idempotency::fingerprint(CREATE_CHECK_IN, &input)?;
                if let Some(result) =
                    idempotency::recall(&tx, key, CREATE_CHECK_IN, &fingerprint).await?
                {
                    drop(tx);
                    return self.replay_check_in(organization_id, &result).await;
                }
                Some(fingerprint)
            }
            None => None,
        };

        let key_results = ResolvedKeyResults::load(&tx, [&input.key_result]).await?;
        let row = key_results.get(&input.key_result)?.clone();
        let objective =
            scoped::find_one::<objective::Entity, _>(&tx.db, organization_id, row.objective_id)
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt("a key result's objective is missing".to_owned())
                })?;
        let timing = rollup::cycle_timing(&tx, objective.cycle_id).await?;
        let record = validate(&tx, &row, &objective, timing, &input)?;
        let (check_in, key_result) =
            record_and_roll_up(&mut tx, row, &objective, timing, record).await?;
        tx.audit_row(
            "createCheckIn",
            "CheckIn",
            check_in.id,
            None,
            Some(&check_in),
        );
        if let (Some(key), Some(fingerprint)) = (&input.idempotency_key, &fingerprint) {
            let result = serde_json::json!({ "checkInId": check_in.id });
            idempotency::remember(&tx, key, CREATE_CHECK_IN, fingerprint, &result).await?;
        }
        tx.commit(self).await?;
        Ok(CheckInOutcome {
            check_in: convert::check_in(check_in)?,
            key_result: convert::key_result(key_result)?,
            replayed: false,
        })
    }

    /// Records up to a batch of check-ins in one transaction. Valid items are stored and
    /// invalid ones rejected one by one; each objective rolls up once at the end. The batch
    /// key replays a whole batch; an item key replays that item in any later batch.
    pub async fn record_check_ins(
        &self,
        actor: Actor,
        items: Vec<NewCheckIn>,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<Vec<Result<CheckInOutcome, ValidationError>>, StoreError> {
        let mut tx = WriteTx::begin(self, actor).await?;
        let organization_id = actor.organization_id;
        let fingerprint = match &idempotency_key {
            Some(key) => {
                let fingerprint = idempotency::fingerprint(RECORD_CHECK_INS, &items)?;
                if let Some(result) =
                    idempotency::recall(&tx, key, RECORD_CHECK_INS, &fingerprint).await?
                {
                    drop(tx);
                    let stored: Vec<StoredItem> =
                        serde_json::from_value(result).map_err(|error| {
                            StoreError::Corrupt(format!("idempotency_keys.result: {error}"))
                        })?;
                    let replayed = (0..stored.len()).collect();
                    return self
                        .check_in_outcomes(organization_id, stored, HashMap::new(), &replayed)
                        .await;
                }
                Some(fingerprint)
            }
            None => None,
        };

        let mut key_results =
            ResolvedKeyResults::load(&tx, items.iter().map(|item| &item.key_result)).await?;
        let objective_ids: BTreeSet<Uuid> = key_results
            .by_id
            .values()
            .map(|row| row.objective_id)
            .collect();
        let objectives: HashMap<Uuid, objective::Model> =
            scoped::find_many::<objective::Entity, _>(&tx.db, organization_id, objective_ids)
                .await?
                .into_iter()
                .map(|row| (row.id, row))
                .collect();
        let mut timings: HashMap<Uuid, CycleTiming> = HashMap::new();
        let remembered = idempotency::recall_items(
            &tx,
            items
                .iter()
                .filter_map(|item| item.idempotency_key.as_ref()),
        )
        .await?;

        let mut stored: Vec<StoredItem> = Vec::with_capacity(items.len());
        let mut replayed = HashSet::new();
        let mut keys_in_batch: HashMap<&str, (usize, String)> = HashMap::new();
        let mut written: HashMap<Uuid, (check_in::Model, key_result::Model)> = HashMap::new();
        let mut touched: Vec<Uuid> = Vec::new();
        let mut remember = Vec::new();
        for (index, item) in items.iter().enumerate() {
            // An item key seen before returns its first result.
            let item_fingerprint = match &item.idempotency_key {
                Some(key) if idempotency_key.as_ref() == Some(key) => {
                    stored.push(StoredItem::rejected(&idempotency::batch_key_reused(
                        key.as_str(),
                    )));
                    continue;
                }
                Some(key) => {
                    let fingerprint = idempotency::fingerprint(RECORD_CHECK_IN_ITEM, item)?;
                    if let Some((first, first_fingerprint)) = keys_in_batch.get(key.as_str()) {
                        if *first_fingerprint == fingerprint {
                            let first = stored[*first].clone();
                            stored.push(first);
                            replayed.insert(index);
                        } else {
                            stored.push(StoredItem::rejected(&idempotency::reused(key.as_str())));
                        }
                        continue;
                    }
                    keys_in_batch.insert(key.as_str(), (index, fingerprint.clone()));
                    if let Some(row) = remembered.get(key.as_str()) {
                        match idempotency::stored_result(row, RECORD_CHECK_IN_ITEM, &fingerprint) {
                            Ok(result) => {
                                stored.push(StoredItem::from_json(result)?);
                                replayed.insert(index);
                            }
                            Err(StoreError::Rejected(error)) => {
                                stored.push(StoredItem::rejected(&error));
                            }
                            Err(error) => return Err(error),
                        }
                        continue;
                    }
                    Some(fingerprint)
                }
                None => None,
            };

            let row = match key_results.get(&item.key_result) {
                Ok(row) => row.clone(),
                Err(error) => {
                    stored.push(StoredItem::rejected(&error));
                    continue;
                }
            };
            let objective = objectives.get(&row.objective_id).ok_or_else(|| {
                StoreError::Corrupt("a key result's objective is missing".to_owned())
            })?;
            let timing = match timings.get(&objective.cycle_id) {
                Some(timing) => *timing,
                None => {
                    let timing = rollup::cycle_timing(&tx, objective.cycle_id).await?;
                    timings.insert(objective.cycle_id, timing);
                    timing
                }
            };
            let record = match validate(&tx, &row, objective, timing, item) {
                Ok(record) => record,
                Err(StoreError::Rejected(error)) => {
                    stored.push(StoredItem::rejected(&error));
                    continue;
                }
                Err(error) => return Err(error),
            };
            let (check_in, updated) = self::record(&mut tx, row, objective, timing, record).await?;
            tx.audit_row(
                "recordCheckIns",
                "CheckIn",
                check_in.id,
                None,
                Some(&check_in),
            );
            if !touched.contains(&objective.id) {
                touched.push(objective.id);
            }
            key_results.by_id.insert(updated.id, updated.clone());
            let result = StoredItem::Recorded {
                id: check_in.id,
                replaced: false,
            };
            if let (Some(key), Some(fingerprint)) = (&item.idempotency_key, item_fingerprint) {
                remember.push((key.clone(), fingerprint, result.to_json()?));
            }
            stored.push(result);
            written.insert(check_in.id, (check_in, updated));
        }

        for objective_id in touched {
            rollup::roll_up(&mut tx, objective_id.into()).await?;
        }
        idempotency::remember_items(&tx, RECORD_CHECK_IN_ITEM, remember).await?;
        if let (Some(key), Some(fingerprint)) = (&idempotency_key, &fingerprint) {
            let result = serde_json::to_value(&stored).map_err(|error| {
                StoreError::Corrupt(format!("batch result does not serialize: {error}"))
            })?;
            idempotency::remember(&tx, key, RECORD_CHECK_INS, fingerprint, &result).await?;
        }
        tx.commit(self).await?;
        self.check_in_outcomes(organization_id, stored, written, &replayed)
            .await
    }

    /// Turns item results into outcomes: `written` contains what this call wrote, and the rows of
    /// results stored by earlier calls are read.
    async fn check_in_outcomes(
        &self,
        organization_id: OrganizationId,
        stored: Vec<StoredItem>,
        mut written: HashMap<Uuid, (check_in::Model, key_result::Model)>,
        replayed: &HashSet<usize>,
    ) -> Result<Vec<Result<CheckInOutcome, ValidationError>>, StoreError> {
        let missing: Vec<Uuid> = stored
            .iter()
            .filter_map(|item| match item {
                StoredItem::Recorded { id, .. } if !written.contains_key(id) => Some(*id),
                _ => None,
            })
            .collect();
        if !missing.is_empty() {
            let check_ins =
                scoped::find_many::<check_in::Entity, _>(&self.db, organization_id, missing)
                    .await?;
            let key_results: HashMap<Uuid, key_result::Model> =
                scoped::find_many::<key_result::Entity, _>(
                    &self.db,
                    organization_id,
                    check_ins
                        .iter()
                        .map(|row| row.key_result_id)
                        .collect::<BTreeSet<_>>(),
                )
                .await?
                .into_iter()
                .map(|row| (row.id, row))
                .collect();
            for check_in in check_ins {
                let key_result = key_results
                    .get(&check_in.key_result_id)
                    .cloned()
                    .ok_or_else(|| {
                        StoreError::Corrupt("a check-in's key result is missing".to_owned())
                    })?;
                written.insert(check_in.id, (check_in, key_result));
            }
        }
        stored
            .into_iter()
            .enumerate()
            .map(|(index, item)| match item {
                StoredItem::Recorded { id, .. } => {
                    let (check_in, key_result) = written.get(&id).cloned().ok_or_else(|| {
                        StoreError::Corrupt("a remembered check-in is missing".to_owned())
                    })?;
                    Ok(Ok(CheckInOutcome {
                        check_in: convert::check_in(check_in)?,
                        key_result: convert::key_result(key_result)?,
                        replayed: replayed.contains(&index),
                    }))
                }
                rejected => Ok(Err(rejected.into_error().unwrap_or_else(|| {
                    ValidationError::new("", ErrorCode::Invalid, "rejected")
                }))),
            })
            .collect()
    }

    async fn replay_check_in(
        &self,
        organization_id: OrganizationId,
        result: &serde_json::Value,
    ) -> Result<CheckInOutcome, StoreError> {
        let check_in_id = result
            .get("checkInId")
            .and_then(|id| id.as_str())
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| {
                StoreError::Corrupt("idempotency_keys.result lacks checkInId".to_owned())
            })?;
        let check_in =
            scoped::find_one::<check_in::Entity, _>(&self.db, organization_id, check_in_id)
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt("a remembered check-in is missing".to_owned())
                })?;
        let key_result = scoped::find_one::<key_result::Entity, _>(
            &self.db,
            organization_id,
            check_in.key_result_id,
        )
        .await?
        .ok_or_else(|| StoreError::Corrupt("a check-in's key result is missing".to_owned()))?;
        Ok(CheckInOutcome {
            check_in: convert::check_in(check_in)?,
            key_result: convert::key_result(key_result)?,
            replayed: true,
        })
    }

    pub async fn check_ins_by_ids(
        &self,
        organization_id: OrganizationId,
        ids: &[CheckInId],
    ) -> Result<Vec<CheckIn>, StoreError> {
        let rows = scoped::find_many::<check_in::Entity, _>(
            &self.db,
            organization_id,
            ids.iter().map(|id| id.as_uuid()),
        )
        .await?;
        convert::all(rows, convert::check_in)
    }

    /// A key result's check-ins, newest observation first.
    pub async fn check_ins_page(
        &self,
        organization_id: OrganizationId,
        key_result_id: KeyResultId,
        request: PageRequest,
    ) -> Result<Page<CheckIn>, StoreError> {
        let select = check_in::Entity::find_in(organization_id)
            .filter(check_in::Column::KeyResultId.eq(key_result_id.as_uuid()));
        let key = SortKey::TimeThenId {
            time: check_in::Column::ObservedAt,
            id: check_in::Column::Id,
            descending: true,
        };
        page::paginate(&self.db, select, key, request)
            .await?
            .try_map(convert::check_in)
    }

    pub async fn count_check_ins(
        &self,
        organization_id: OrganizationId,
        key_result_id: KeyResultId,
    ) -> Result<u64, StoreError> {
        let select = check_in::Entity::find_in(organization_id)
            .filter(check_in::Column::KeyResultId.eq(key_result_id.as_uuid()));
        page::count(&self.db, select).await
    }
}

/// Records a check-in and rolls its objective up.
pub(crate) async fn record_and_roll_up(
    tx: &mut WriteTx,
    row: key_result::Model,
    objective: &objective::Model,
    timing: CycleTiming,
    record: CheckInRecord,
) -> Result<(check_in::Model, key_result::Model), StoreError> {
    let result = self::record(tx, row, objective, timing, record).await?;
    rollup::roll_up(tx, objective.id.into()).await?;
    Ok(result)
}
