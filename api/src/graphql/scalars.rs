//! Custom scalars: `Date` (ISO 8601 calendar date) and `Decimal` (exact decimal as a string).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;
use headway_domain::values::parse_decimal;
use rust_decimal::Decimal as RustDecimal;

/// A calendar date without time zone, written `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(
    name = "Date",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| {
                    let shown: String = text.chars().take(40).collect();
                    InputValueError::custom(format!(
                        "\"{shown}\" is not a date; write it as YYYY-MM-DD"
                    ))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// An exact decimal number, sent and returned as a string such as `"1250.50"` so that no
/// digit is lost to floating point. Integers may also be sent as JSON numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal(pub RustDecimal);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => parse_decimal(text)
                .map(Decimal)
                .map_err(|error| InputValueError::custom(error.message)),
            Value::Number(number) if number.is_i64() || number.is_u64() => {
                parse_decimal(&number.to_string())
                    .map(Decimal)
                    .map_err(|error| InputValueError::custom(error.message))
            }
            Value::Number(number) => Err(InputValueError::custom(format!(
                "{number} is a floating-point number, which cannot hold decimals exactly; send it as a string such as \"{number}\""
            ))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.normalize().to_string())
    }
}

impl From<RustDecimal> for Decimal {
    fn from(value: RustDecimal) -> Self {
        Self(value)
    }
}
