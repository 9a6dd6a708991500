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
use sea_orm::{ActiveModelTrait, EntityTrait};
use serde::Serialize;
use sha2::{Digest, Sha256};

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
        return Err(ValidationError::new(
            "idempotencyKey",
            ErrorCode::IdempotencyKeyReused,
            format!(
                "the key \"{key}\" was already used for a different request; use a new key for a new request"
            ),
        )
        .into());
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
