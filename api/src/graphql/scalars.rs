//! Custom scalars: `Date`, `DateTime` and `Decimal`.
//!
//! As inputs they accept any string: a value that does not parse is kept with its error,
//! and the resolver reports it as a user error that names the input field. Rejecting it
//! while coercing variables would produce a message that names only the input type.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDate, SecondsFormat, Utc};
use headway_domain::values::parse_decimal;
use headway_domain::{ErrorCode, ValidationError};
use rust_decimal::Decimal as RustDecimal;

fn invalid(field: &str, message: &str) -> ValidationError {
    ValidationError::new(field, ErrorCode::InvalidFormat, message)
}

fn shown(text: &str) -> String {
    text.chars().take(64).collect()
}

/// A calendar date without time zone, written `YYYY-MM-DD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Date(Result<NaiveDate, String>);

impl Date {
    /// The date, or an error naming `field` when the input did not parse.
    pub fn get(&self, field: &str) -> Result<NaiveDate, ValidationError> {
        self.0.clone().map_err(|message| invalid(field, &message))
    }
}

impl From<NaiveDate> for Date {
    fn from(date: NaiveDate) -> Self {
        Self(Ok(date))
    }
}

#[Scalar(
    name = "Date",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => Ok(Self(NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(
                |_| format!("\"{}\" is not a date; write it as YYYY-MM-DD", shown(text)),
            ))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        match &self.0 {
            Ok(date) => Value::String(date.format("%Y-%m-%d").to_string()),
            Err(_) => Value::Null,
        }
    }
}

/// An instant, written in RFC 3339 such as `2026-02-15T09:30:00Z`. Output is always UTC;
/// input may carry any offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateTime(Result<chrono::DateTime<Utc>, String>);

impl DateTime {
    /// The instant, or an error naming `field` when the input did not parse.
    pub fn get(&self, field: &str) -> Result<chrono::DateTime<Utc>, ValidationError> {
        self.0.clone().map_err(|message| invalid(field, &message))
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(instant: chrono::DateTime<Utc>) -> Self {
        Self(Ok(instant))
    }
}

#[Scalar(
    name = "DateTime",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => Ok(Self(
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|instant| instant.with_timezone(&Utc))
                    .map_err(|_| {
                        format!(
                            "\"{}\" is not an RFC 3339 date and time; write it like \"2026-02-15T09:30:00Z\"",
                            shown(text)
                        )
                    }),
            )),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        match &self.0 {
            Ok(instant) => Value::String(instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Err(_) => Value::Null,
        }
    }
}

/// An exact decimal number, sent and returned as a string such as `"1250.50"` so that no
/// digit is lost to floating point. Integers may also be sent as JSON numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal(Result<RustDecimal, String>);

impl Decimal {
    /// The number, or an error naming `field` when the input did not parse.
    pub fn get(&self, field: &str) -> Result<RustDecimal, ValidationError> {
        match &self.0 {
            Ok(value) => Ok(*value),
            Err(message) => Err(ValidationError::new(
                field,
                ErrorCode::InvalidFormat,
                message.clone(),
            )),
        }
    }
}

impl From<RustDecimal> for Decimal {
    fn from(value: RustDecimal) -> Self {
        Self(Ok(value))
    }
}

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => Ok(Self(parse_decimal(text).map_err(|error| error.message))),
            Value::Number(number) if number.is_i64() || number.is_u64() => Ok(Self(
                parse_decimal(&number.to_string()).map_err(|error| error.message),
            )),
            Value::Number(number) => Ok(Self(Err(format!(
                "{number} is a floating-point number, which cannot hold decimals exactly; send it as a string such as \"{number}\""
            )))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        match &self.0 {
            Ok(value) => Value::String(value.normalize().to_string()),
            Err(_) => Value::Null,
        }
    }
}
