//! Turning GraphQL input into validated domain values, with errors that name the field.

use crate::graphql::error::UserError;
use crate::graphql::ids::{Typed, decode};
use crate::graphql::scalars::Decimal;
use async_graphql::{ID, MaybeUndefined, SimpleObject};
use headway_domain::values::{
    CurrencyCode, Description, ExternalKey, IdempotencyKey, MetricValue, Name, Title, Weight,
};
use headway_domain::{ErrorCode, ValidationError};
use headway_persistence::RecordRef;

/// The result of parsing a mutation's input: the value, or every field error found.
pub type Parsed<T> = Result<T, Vec<ValidationError>>;

/// Evaluates each `name = expression` (a `Result<_, ValidationError>`), collects every
/// error, and returns them all from the enclosing function when there is one.
macro_rules! parse_all {
    ($($name:ident = $value:expr;)+) => {
        let mut errors: Vec<headway_domain::ValidationError> = Vec::new();
        $(
            let $name = match $value {
                Ok(value) => Some(value),
                Err(error) => {
                    errors.push(error);
                    None
                }
            };
        )+
        $(
            let Some($name) = $name else {
                return Err(errors);
            };
        )+
    };
}

pub(crate) use parse_all;

/// Converts rejected input to the user errors of a payload.
pub fn user_errors(errors: Vec<ValidationError>) -> Vec<UserError> {
    errors.into_iter().map(UserError::from_validation).collect()
}

pub fn id<T: Typed>(field: &str, id: &ID) -> Result<T, ValidationError> {
    decode::<T>(id)
        .map_err(|error| ValidationError::new(field, ErrorCode::InvalidFormat, error.message))
}

pub fn optional_id<T: Typed>(
    field: &str,
    value: Option<&ID>,
) -> Result<Option<T>, ValidationError> {
    value.map(|value| id(field, value)).transpose()
}

/// Parses a field that may be left out (no change), null (clear) or set.
pub fn maybe<In, Out>(
    value: MaybeUndefined<In>,
    parse: impl FnOnce(In) -> Result<Out, ValidationError>,
) -> Result<Option<Option<Out>>, ValidationError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(value) => parse(value).map(|value| Some(Some(value))),
    }
}

/// Parses a field that may be left out (no change) or set but not cleared, so null gets an
/// error on the field.
pub fn settable<In, Out>(
    field: &str,
    value: MaybeUndefined<In>,
    parse: impl FnOnce(In) -> Result<Out, ValidationError>,
) -> Result<Option<Out>, ValidationError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(ValidationError::new(
            field,
            ErrorCode::Invalid,
            format!(
                "null is invalid for {field} because it cannot be cleared; leave {field} out to keep the current value, or send a new value"
            ),
        )),
        MaybeUndefined::Value(value) => parse(value).map(Some),
    }
}

pub fn maybe_id<T: Typed>(
    field: &str,
    value: MaybeUndefined<ID>,
) -> Result<Option<Option<T>>, ValidationError> {
    maybe(value, |value| id(field, &value))
}

pub fn title(field: &str, raw: &str) -> Result<Title, ValidationError> {
    Title::parse(raw).map_err(|error| error.in_field(field))
}

pub fn name(field: &str, raw: &str) -> Result<Name, ValidationError> {
    Name::parse(raw).map_err(|error| error.in_field(field))
}

pub fn description(field: &str, raw: Option<&str>) -> Result<Option<Description>, ValidationError> {
    match raw {
        Some(raw) => Description::parse_optional(raw).map_err(|error| error.in_field(field)),
        None => Ok(None),
    }
}

pub fn maybe_description(
    field: &str,
    value: MaybeUndefined<String>,
) -> Result<Option<Option<Description>>, ValidationError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(raw) => description(field, Some(&raw)).map(Some),
    }
}

pub fn external_key(field: &str, raw: &str) -> Result<ExternalKey, ValidationError> {
    ExternalKey::parse(raw).map_err(|error| error.in_field(field))
}

/// Parses a record named either by id or by external key; exactly one of the two is needed.
pub fn record_ref<T: Typed>(
    id_field: &str,
    id: Option<&ID>,
    key_field: &str,
    key: Option<&str>,
) -> Result<RecordRef<T>, ValidationError> {
    match (id, key) {
        (Some(value), None) => self::id(id_field, value).map(RecordRef::Id),
        (None, Some(raw)) => external_key(key_field, raw).map(RecordRef::ExternalKey),
        (Some(_), Some(_)) => Err(ValidationError::new(
            id_field,
            ErrorCode::Invalid,
            format!("send either {id_field} or {key_field}, not both"),
        )),
        (None, None) => Err(ValidationError::new(
            id_field,
            ErrorCode::Blank,
            format!("{id_field} or {key_field} is required"),
        )),
    }
}

pub fn idempotency_key(raw: Option<&str>) -> Result<Option<IdempotencyKey>, ValidationError> {
    raw.map(|raw| IdempotencyKey::parse(raw).map_err(|error| error.in_field("idempotencyKey")))
        .transpose()
}

pub fn metric(field: &str, value: &Decimal) -> Result<MetricValue, ValidationError> {
    MetricValue::new(value.get(field)?).map_err(|error| error.in_field(field))
}

pub fn optional_metric(
    field: &str,
    value: Option<&Decimal>,
) -> Result<Option<MetricValue>, ValidationError> {
    value.map(|value| metric(field, value)).transpose()
}

pub fn maybe_metric(
    field: &str,
    value: MaybeUndefined<Decimal>,
) -> Result<Option<Option<MetricValue>>, ValidationError> {
    maybe(value, |value| metric(field, &value))
}

pub fn weight(field: &str, value: &Decimal) -> Result<Weight, ValidationError> {
    Weight::new(value.get(field)?).map_err(|error| error.in_field(field))
}

pub fn currency(field: &str, raw: &str) -> Result<CurrencyCode, ValidationError> {
    CurrencyCode::parse(raw).map_err(|error| error.in_field(field))
}

pub fn optional<In, Out>(
    value: Option<In>,
    parse: impl FnOnce(In) -> Result<Out, ValidationError>,
) -> Result<Option<Out>, ValidationError> {
    value.map(parse).transpose()
}

/// Declares a payload type with the changed record and the user errors.
macro_rules! payload {
    ($payload:ident, $field:ident: $record:ty, $description:literal) => {
        #[doc = $description]
        #[derive(async_graphql::SimpleObject)]
        pub struct $payload {
            /// The record after the change; null when the input was rejected.
            pub $field: Option<$record>,
            /// Problems with the input; empty when the mutation succeeded.
            pub user_errors: Vec<$crate::graphql::error::UserError>,
        }

        impl $payload {
            pub fn done(record: $record) -> Self {
                Self {
                    $field: Some(record),
                    user_errors: Vec::new(),
                }
            }

            pub fn rejected(errors: Vec<$crate::graphql::error::UserError>) -> Self {
                Self {
                    $field: None,
                    user_errors: errors,
                }
            }
        }
    };
}

pub(crate) use payload;

/// Declares the input of a mutation that takes only the id and expected version of a record.
macro_rules! record_input {
    ($input:ident, $description:literal) => {
        #[doc = $description]
        #[derive(async_graphql::InputObject)]
        pub struct $input {
            /// The record's global id.
            pub id: async_graphql::ID,
            /// Fails with a CONFLICT user error when the record is at another version.
            pub expected_version: Option<i32>,
        }
    };
}

pub(crate) use record_input;

/// A limit warning that does not stop the mutation.
#[derive(Clone, Debug, SimpleObject)]
pub struct Warning {
    /// The path to the input field the warning is about.
    pub field: Option<Vec<String>>,
    pub message: String,
    pub code: crate::graphql::error::UserErrorCode,
}

impl From<ValidationError> for Warning {
    fn from(error: ValidationError) -> Self {
        let user_error = UserError::from_validation(error);
        Self {
            field: user_error.field,
            message: user_error.message,
            code: user_error.code,
        }
    }
}
