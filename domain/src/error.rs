//! Validation errors that clients see as `userErrors`.

use std::fmt;

/// Machine-readable reason of a [`ValidationError`], sent to clients as `code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A required text is empty or only whitespace.
    Blank,
    /// A text or list is longer than its maximum.
    TooLong,
    /// A number or date lies outside its allowed range.
    OutOfRange,
    /// A value does not have the expected format (decimal, currency code, time zone, id).
    InvalidFormat,
    /// Values contradict each other or a rule of the model.
    Invalid,
    /// A referenced record does not exist in the organization.
    NotFound,
    /// The record changed since the version the client passed.
    Conflict,
    /// Setting this parent would make the alignment graph cyclic.
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

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [Self; 14] = [
        Self::Blank,
        Self::TooLong,
        Self::OutOfRange,
        Self::InvalidFormat,
        Self::Invalid,
        Self::NotFound,
        Self::Conflict,
        Self::AlignmentCycle,
        Self::CycleClosed,
        Self::Archived,
        Self::InvalidTransition,
        Self::LimitExceeded,
        Self::IdempotencyKeyReused,
        Self::Taken,
    ];

    /// The code with the name that [`ErrorCode::as_str`] gives.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == name)
    }

    /// The SCREAMING_SNAKE_CASE name that clients match on.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Blank => "BLANK",
            Self::TooLong => "TOO_LONG",
            Self::OutOfRange => "OUT_OF_RANGE",
            Self::InvalidFormat => "INVALID_FORMAT",
            Self::Invalid => "INVALID",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::AlignmentCycle => "ALIGNMENT_CYCLE",
            Self::CycleClosed => "CYCLE_CLOSED",
            Self::Archived => "ARCHIVED",
            Self::InvalidTransition => "INVALID_TRANSITION",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::Taken => "TAKEN",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected input: which field, why, and a message a person can act on.
///
/// `field` uses the camelCase names of the public API's input fields, because those are
/// the names a client can find and fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub code: ErrorCode,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    /// Returns the error with its field renamed, for values parsed before their field was known.
    pub fn in_field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip_by_name() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::from_name("NOT_A_CODE"), None);
    }
}
