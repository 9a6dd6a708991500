//! Idempotency keys: a retried write with the same key and input returns the first result.
//!
//! The key, a fingerprint of the operation and its input, and the first result are stored in
//! the write's own transaction, so a result is remembered exactly when its write committed.

use crate::entities::idempotency_key;
use crate::error::StoreError;
use crate::tx::WriteTx;
use headway_domain::values::IdempotencyKey;
use headway_domain::{ErrorCode, ValidationError};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// A SHA-256 over the operation name and the JSON of its input.
pub(crate) fn fingerprint(operation: &str, input: &impl Serialize) -> Result<String, StoreError> {
    let json = serde_json::to_vec(input)
        .map_err(|error| StoreError::Corrupt(format!("input does not serialize: {error}")))?;
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0]);
    hasher.update(&json);
    Ok(hex::encode(hasher.finalize()))
}

/// Returns the stored result of an earlier write with `key`, or `None` for a new key.
///
/// The same key with another operation or input is rejected with IDEMPOTENCY_KEY_REUSED.
pub(crate) async fn recall(
    tx: &WriteTx,
    key: &IdempotencyKey,
    operation: &str,
    fingerprint: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let row = idempotency_key::Entity::find_by_id((
        tx.organization_id().as_uuid(),
        key.as_str().to_owned(),
    ))
    .one(&tx.db)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.operation != operation || row.fingerprint != fingerprint {
        return Err(reused(key.as_str()).into());
    }
    let result = serde_json::from_str(&row.result)
        .map_err(|error| StoreError::Corrupt(format!("idempotency_keys.result: {error}")))?;
    Ok(Some(result))
}

/// Stores the result of a write under `key`.
pub(crate) async fn remember(
    tx: &WriteTx,
    key: &IdempotencyKey,
    operation: &str,
    fingerprint: &str,
    result: &serde_json::Value,
) -> Result<(), StoreError> {
    idempotency_key::ActiveModel {
        organization_id: Set(tx.organization_id().as_uuid()),
        key: Set(key.as_str().to_owned()),
        operation: Set(operation.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        result: Set(result.to_string()),
        created_at: Set(tx.now),
    }
    .insert(&tx.db)
    .await?;
    Ok(())
}

/// The item keys of a batch that earlier writes stored, by key.
pub(crate) async fn recall_items(
    tx: &WriteTx,
    keys: impl IntoIterator<Item = &IdempotencyKey>,
) -> Result<HashMap<String, idempotency_key::Model>, StoreError> {
    let keys: BTreeSet<String> = keys
        .into_iter()
        .map(|key| key.as_str().to_owned())
        .collect();
    let mut found = HashMap::with_capacity(keys.len());
    let keys: Vec<String> = keys.into_iter().collect();
    for chunk in keys.chunks(500) {
        let rows = idempotency_key::Entity::find()
            .filter(idempotency_key::Column::OrganizationId.eq(tx.organization_id().as_uuid()))
            .filter(idempotency_key::Column::Key.is_in(chunk.iter().cloned()))
            .all(&tx.db)
            .await?;
        found.extend(rows.into_iter().map(|row| (row.key.clone(), row)));
    }
    Ok(found)
}

/// The verdict on an item key that an earlier write stored: its result when the operation
/// and input match, IDEMPOTENCY_KEY_REUSED otherwise.
pub(crate) fn stored_result(
    row: &idempotency_key::Model,
    operation: &str,
    fingerprint: &str,
) -> Result<serde_json::Value, StoreError> {
    if row.operation != operation || row.fingerprint != fingerprint {
        return Err(reused(&row.key).into());
    }
    serde_json::from_str(&row.result)
        .map_err(|error| StoreError::Corrupt(format!("idempotency_keys.result: {error}")))
}

/// The error for a key that an earlier request with another input used.
pub(crate) fn reused(key: &str) -> ValidationError {
    ValidationError::new(
        "idempotencyKey",
        ErrorCode::IdempotencyKeyReused,
        format!(
            "the key \"{key}\" was already used for a different request; use a new key for a new request"
        ),
    )
}

/// Builds the error for a batch item whose key is the batch's own key.
pub(crate) fn batch_key_reused(key: &str) -> ValidationError {
    ValidationError::new(
        "idempotencyKey",
        ErrorCode::IdempotencyKeyReused,
        format!(
            "the key \"{key}\" is already the batch's idempotencyKey; give the item a key of its own or leave it out"
        ),
    )
}

/// Stores the results of many items under their keys.
pub(crate) async fn remember_items(
    tx: &WriteTx,
    operation: &str,
    items: Vec<(IdempotencyKey, String, serde_json::Value)>,
) -> Result<(), StoreError> {
    let rows: Vec<idempotency_key::ActiveModel> = items
        .into_iter()
        .map(|(key, fingerprint, result)| idempotency_key::ActiveModel {
            organization_id: Set(tx.organization_id().as_uuid()),
            key: Set(key.into_inner()),
            operation: Set(operation.to_owned()),
            fingerprint: Set(fingerprint),
            result: Set(result.to_string()),
            created_at: Set(tx.now),
        })
        .collect();
    crate::page::insert_chunked::<idempotency_key::Entity, _>(&tx.db, rows).await
}

/// The stored result of one batch item, for replays.
#[derive(Clone, serde::Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum StoredItem {
    Recorded {
        id: Uuid,
        #[serde(default)]
        replaced: bool,
    },
    Rejected {
        field: String,
        code: String,
        message: String,
    },
}

impl StoredItem {
    pub(crate) fn rejected(error: &ValidationError) -> Self {
        Self::Rejected {
            field: error.field.clone(),
            code: error.code.as_str().to_owned(),
            message: error.message.clone(),
        }
    }

    pub(crate) fn to_json(&self) -> Result<serde_json::Value, StoreError> {
        serde_json::to_value(self).map_err(|error| {
            StoreError::Corrupt(format!("an item result does not serialize: {error}"))
        })
    }

    pub(crate) fn from_json(value: serde_json::Value) -> Result<Self, StoreError> {
        serde_json::from_value(value)
            .map_err(|error| StoreError::Corrupt(format!("idempotency_keys.result: {error}")))
    }

    pub(crate) fn into_error(self) -> Option<ValidationError> {
        match self {
            Self::Recorded { .. } => None,
            Self::Rejected {
                field,
                code,
                message,
            } => Some(ValidationError::new(
                field,
                ErrorCode::from_name(&code).unwrap_or(ErrorCode::Invalid),
                message,
            )),
        }
    }
}
