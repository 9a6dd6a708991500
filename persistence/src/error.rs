use headway_domain::{ErrorCode, ValidationError};
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The input breaks a rule; the client sees it as a user error naming the field.
    #[error(transparent)]
    Rejected(#[from] ValidationError),
    /// The organization of the caller no longer exists or was archived.
    #[error("organization not found")]
    OrganizationNotFound,
    /// The database failed; details are logged, never shown to clients.
    #[error("database operation failed")]
    Database(#[from] DbErr),
    /// A stored value could not be read back, which means the data was changed outside
    /// Headway.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn not_found(field: &str, what: &str) -> Self {
        Self::Rejected(ValidationError::new(
            field,
            ErrorCode::NotFound,
            format!("no {what} with this id exists in the organization"),
        ))
    }

    pub(crate) fn version_conflict(expected: i32, actual: i32) -> Self {
        Self::Rejected(ValidationError::new(
            "expectedVersion",
            ErrorCode::Conflict,
            format!(
                "the record is at version {actual}, not {expected}: another change came first; reload it and apply your change again"
            ),
        ))
    }

    /// Returns whether the database could not be reached or ended the connection, as while
    /// it restarts or fails over. Such a call may succeed when it is retried.
    pub fn is_unavailable(&self) -> bool {
        let Self::Database(error) = self else {
            return false;
        };
        let runtime = match error {
            DbErr::ConnectionAcquire(_) => return true,
            DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
            _ => return false,
        };
        let RuntimeErr::SqlxError(error) = runtime else {
            return false;
        };
        match error.as_ref() {
            sea_orm::sqlx::Error::Io(_)
            | sea_orm::sqlx::Error::PoolTimedOut
            | sea_orm::sqlx::Error::PoolClosed
            | sea_orm::sqlx::Error::WorkerCrashed => true,
            // SQLSTATE class 08 is a connection exception, and class 57P an operator
            // intervention such as a shutdown or a server still starting.
            sea_orm::sqlx::Error::Database(database) => database
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
            _ => false,
        }
    }

    /// Whether the error is a unique-constraint violation.
    pub(crate) fn is_unique_violation(error: &DbErr) -> bool {
        matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
    }
}

/// Fails with a version conflict when the client expected another version than the stored one.
pub(crate) fn check_version(expected: Option<i32>, actual: i32) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != actual => Err(StoreError::version_conflict(expected, actual)),
        _ => Ok(()),
    }
}
