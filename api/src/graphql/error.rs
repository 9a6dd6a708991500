//! Errors as clients see them.
//!
//! Domain problems become `userErrors` in mutation payloads. Authentication, authorization
//! and internal failures become GraphQL errors with `extensions.code`. No internal error
//! text reaches a client: internal failures are logged with their whole source chain and
//! answered with a generic message.

use async_graphql::{Enum, ErrorExtensions, SimpleObject};
use headway_domain::{ErrorCode, ValidationError};
use headway_persistence::StoreError;

/// The `extensions.code` of GraphQL errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    RateLimited,
    Timeout,
    Unavailable,
    /// A subscription's `after` points before the oldest event still kept.
    EventsExpired,
    Internal,
}

impl ErrorKind {
    pub const fn code(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Conflict => "CONFLICT",
            Self::RateLimited => "RATE_LIMITED",
            Self::Timeout => "TIMEOUT",
            Self::Unavailable => "UNAVAILABLE",
            Self::EventsExpired => "EVENTS_EXPIRED",
            Self::Internal => "INTERNAL",
        }
    }
}

/// A GraphQL error with a code.
///
/// It has no `Display` on purpose: async-graphql converts any `Display` type into an error
/// without extensions, and this type must keep its code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadUserInput, message)
    }

    /// Builds the `NOT_FOUND` error for an id argument that names no `what` in the
    /// organization. Ids of other organizations get the same error as ids that never existed.
    pub fn not_found(argument: &str, what: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            format!("{argument}: no {what} with this id exists in the organization"),
        )
    }

    /// The message every internal failure shows; the details go to the log.
    pub fn internal() -> Self {
        Self::new(
            ErrorKind::Internal,
            "internal error; the server logged the details under this request's id",
        )
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        async_graphql::Error::new(error.message).extend_with(|_, extensions| {
            extensions.set("code", error.kind.code());
        })
    }
}

/// The code a client should see for an error that carries none: a request error (a
/// document that does not parse or validate) has no path, and anything else is internal.
const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// Returns the error's `extensions.code`, or the code it gets when it has none.
pub fn code_of(error: &async_graphql::ServerError) -> String {
    let code = error
        .extensions
        .as_ref()
        .and_then(|extensions| extensions.get("code"));
    match code {
        Some(async_graphql::Value::String(code)) => code.clone(),
        Some(async_graphql::Value::Enum(code)) => code.to_string(),
        _ if error.path.is_empty() => VALIDATION_FAILED.to_owned(),
        // async-graphql reports an argument that its scalar rejects while the field
        // resolves, or a value of the wrong JSON type for a custom scalar, with these
        // prefixes and without a code.
        _ if error.message.starts_with("Failed to parse \"")
            || error.message.starts_with("Expected input type \"") =>
        {
            ErrorKind::BadUserInput.code().to_owned()
        }
        _ => ErrorKind::Internal.code().to_owned(),
    }
}

/// Gives every error of a response an `extensions.code`, as the API promises.
pub fn tag_missing_codes(errors: &mut [async_graphql::ServerError]) {
    for error in errors {
        let code = code_of(error);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", code);
        }
    }
}

/// Gives every error a code and the id of the request or connection, so that a client can
/// quote it and the log lines of that id explain it.
pub fn tag_errors(errors: &mut [async_graphql::ServerError], request_id: &str) {
    tag_missing_codes(errors);
    for error in errors {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("requestId", request_id);
    }
}

/// Logs an internal failure with its source chain and returns the generic client error.
pub fn internal(error: &(dyn std::error::Error + 'static)) -> ApiError {
    tracing::error!(error = %error_chain(error), "internal error");
    ApiError::internal()
}

/// Joins an error's message with those of its sources.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// Maps a storage failure that is not a user error to a GraphQL error.
pub fn store_failure(error: StoreError) -> ApiError {
    match error {
        StoreError::Rejected(rejection) => {
            ApiError::bad_input(format!("{}: {}", rejection.field, rejection.message))
        }
        StoreError::OrganizationNotFound => {
            ApiError::forbidden("the organization of this request no longer exists")
        }
        StoreError::Database(_) if error.is_unavailable() => {
            tracing::warn!(error = %error_chain(&error), "the database is unavailable");
            ApiError::new(
                ErrorKind::Unavailable,
                "the database is unavailable; retry in a few seconds",
            )
        }
        StoreError::Database(_) | StoreError::Corrupt(_) => internal(&error),
    }
}

/// The reason of a user error, for clients to match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum UserErrorCode {
    /// A required text is empty or only whitespace.
    Blank,
    /// A text or list is longer than its maximum.
    TooLong,
    /// A number or date lies outside its allowed range.
    OutOfRange,
    /// A value does not have the expected format.
    InvalidFormat,
    /// Values contradict each other or a rule of the model.
    Invalid,
    /// A referenced record does not exist in the organization.
    NotFound,
    /// The record changed since the version the client passed in `expectedVersion`.
    Conflict,
    /// Setting this parent would make the hierarchy circular.
    AlignmentCycle,
    /// The cycle is closed, so its data is frozen.
    CycleClosed,
    /// The record is archived and accepts no changes.
    Archived,
    /// The state change is not allowed from the current state.
    InvalidTransition,
    /// An organization limit is exceeded.
    LimitExceeded,
    /// The idempotency key was used before with a different input.
    IdempotencyKeyReused,
    /// Another record already uses this unique value.
    Taken,
}

impl From<ErrorCode> for UserErrorCode {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::Blank => Self::Blank,
            ErrorCode::TooLong => Self::TooLong,
            ErrorCode::OutOfRange => Self::OutOfRange,
            ErrorCode::InvalidFormat => Self::InvalidFormat,
            ErrorCode::Invalid => Self::Invalid,
            ErrorCode::NotFound => Self::NotFound,
            ErrorCode::Conflict => Self::Conflict,
            ErrorCode::AlignmentCycle => Self::AlignmentCycle,
            ErrorCode::CycleClosed => Self::CycleClosed,
            ErrorCode::Archived => Self::Archived,
            ErrorCode::InvalidTransition => Self::InvalidTransition,
            ErrorCode::LimitExceeded => Self::LimitExceeded,
            ErrorCode::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            ErrorCode::Taken => Self::Taken,
        }
    }
}

/// A problem with a mutation's input, reported in the payload instead of failing the request.
#[derive(Clone, Debug, PartialEq, Eq, SimpleObject)]
pub struct UserError {
    /// The path to the input field at fault, such as `["input", "targetValue"]`.
    pub field: Option<Vec<String>>,
    /// What is wrong and how to fix it.
    pub message: String,
    pub code: UserErrorCode,
}

impl UserError {
    /// A user error on a field of the mutation's `input` argument.
    pub fn from_validation(error: ValidationError) -> Self {
        let mut path = vec!["input".to_owned()];
        path.extend(
            error
                .field
                .split('.')
                .filter(|part| !part.is_empty())
                .map(str::to_owned),
        );
        Self {
            field: Some(path),
            message: error.message,
            code: error.code.into(),
        }
    }
}

/// Splits a storage result into the value, user errors, or a GraphQL error.
pub fn user_result<T>(
    result: Result<T, StoreError>,
) -> Result<Result<T, Vec<UserError>>, ApiError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(StoreError::Rejected(error)) => Ok(Err(vec![UserError::from_validation(error)])),
        Err(other) => Err(store_failure(other)),
    }
}
