//! Validating newtypes. A value of these types is always valid; `parse` is the only way in.
//!
//! Parse errors carry an empty field name; the caller names the field with
//! [`ValidationError::in_field`].

use crate::error::{ErrorCode, ValidationError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

fn reject_control_characters(text: &str, allow_line_breaks: bool) -> Result<(), ValidationError> {
    let forbidden = text
        .chars()
        .find(|c| c.is_control() && !(allow_line_breaks && matches!(c, '\n' | '\r' | '\t')));
    match forbidden {
        Some(c) => Err(ValidationError::new(
            "",
            ErrorCode::InvalidFormat,
            format!(
                "must not contain the control character U+{:04X}",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

fn check_length(text: &str, max_chars: usize) -> Result<(), ValidationError> {
    let length = text.chars().count();
    if length > max_chars {
        return Err(ValidationError::new(
            "",
            ErrorCode::TooLong,
            format!("is {length} characters long; the maximum is {max_chars}"),
        ));
    }
    Ok(())
}

/// Parses a required single-line text: trimmed, not blank, at most `max_chars` characters.
fn parse_line(raw: &str, max_chars: usize) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(
            "",
            ErrorCode::Blank,
            "must not be blank",
        ));
    }
    check_length(trimmed, max_chars)?;
    reject_control_characters(trimmed, false)?;
    Ok(trimmed.to_owned())
}

macro_rules! text_type {
    ($(#[$meta:meta])* $name:ident, max = $max:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                parse_line(raw, Self::MAX_CHARS).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// The title of an objective or key result: one line of at most 200 characters.
    Title,
    max = 200
);
text_type!(
    /// The name of an organization, team, cycle, KPI or API token: one line of at most 100 characters.
    Name,
    max = 100
);
text_type!(
    /// A key that an integration uses to address a record instead of its id.
    ExternalKey,
    max = 200
);
text_type!(
    /// A client-chosen key that makes a retried write return the first result instead of
    /// writing again.
    IdempotencyKey,
    max = 200
);

/// Free text of several lines (a description, a check-in note): at most 10,000 characters.
///
/// Surrounding whitespace is trimmed, and an empty text is stored as no text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 10_000;

    /// Parses an optional text; blank input becomes `None`.
    pub fn parse_optional(raw: &str) -> Result<Option<Self>, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        check_length(trimmed, Self::MAX_CHARS)?;
        reject_control_characters(trimmed, true)?;
        Ok(Some(Self(trimmed.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The text of a comment: not blank, at most 10,000 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommentBody(String);

impl CommentBody {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match Description::parse_optional(raw)? {
            Some(text) => Ok(Self(text.into_inner())),
            None => Err(ValidationError::new(
                "",
                ErrorCode::Blank,
                "must not be blank",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Parses a plain decimal string such as `-12.50`: an optional sign, digits, and an optional
/// fraction. Exponents, `NaN` and `Infinity` are rejected because they are not exact values.
pub fn parse_decimal(raw: &str) -> Result<Decimal, ValidationError> {
    const MAX_INPUT_CHARS: usize = 64;
    let text = raw.trim();
    let invalid = || {
        let shown: String = text.chars().take(MAX_INPUT_CHARS).collect();
        ValidationError::new(
            "",
            ErrorCode::InvalidFormat,
            format!("\"{shown}\" is not a decimal number; write it like \"1250.50\""),
        )
    };
    if text.is_empty() || text.len() > MAX_INPUT_CHARS {
        return Err(invalid());
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(invalid());
    }
    Decimal::from_str_exact(text).map_err(|_| {
        ValidationError::new(
            "",
            ErrorCode::OutOfRange,
            format!(
                "\"{text}\" has more digits than a decimal can hold exactly (28 significant digits)"
            ),
        )
    })
}

/// A measured or planned quantity: a key result's start, target or current value, a KPI
/// threshold or measurement.
///
/// The magnitude is below 10^15 and at most 10 digits follow the decimal point, so that
/// differences and ratios of two values stay exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MetricValue(Decimal);

impl MetricValue {
    pub const MAX_SCALE: u32 = 10;

    /// The exclusive bound on the magnitude: 10^15.
    pub fn magnitude_limit() -> Decimal {
        Decimal::from(1_000_000_000_000_000_i64)
    }

    pub fn new(value: Decimal) -> Result<Self, ValidationError> {
        if value.abs() >= Self::magnitude_limit() {
            return Err(ValidationError::new(
                "",
                ErrorCode::OutOfRange,
                format!(
                    "{value} is out of range; values must lie strictly between -10^15 and 10^15"
                ),
            ));
        }
        let normalized = value.normalize();
        if normalized.scale() > Self::MAX_SCALE {
            return Err(ValidationError::new(
                "",
                ErrorCode::OutOfRange,
                format!(
                    "{value} has {} decimal places; the maximum is {}",
                    normalized.scale(),
                    Self::MAX_SCALE
                ),
            ));
        }
        Ok(Self(normalized))
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::new(parse_decimal(raw)?)
    }

    pub const fn zero() -> Self {
        Self(Decimal::ZERO)
    }

    pub const fn one() -> Self {
        Self(Decimal::ONE)
    }

    pub const fn get(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for MetricValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The weight of a key result or objective in its parent's rollup: 0 to 1,000, at most four
/// decimal places. Weight 0 keeps an input visible but out of the rollup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Weight(Decimal);

impl Weight {
    pub const MAX: i64 = 1_000;
    pub const MAX_SCALE: u32 = 4;

    pub fn new(value: Decimal) -> Result<Self, ValidationError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(ValidationError::new(
                "",
                ErrorCode::OutOfRange,
                format!("{value} is negative; weights must be 0 or more"),
            ));
        }
        if value > Decimal::from(Self::MAX) {
            return Err(ValidationError::new(
                "",
                ErrorCode::OutOfRange,
                format!("{value} is too large; the maximum weight is {}", Self::MAX),
            ));
        }
        let normalized = value.normalize();
        if normalized.scale() > Self::MAX_SCALE {
            return Err(ValidationError::new(
                "",
                ErrorCode::OutOfRange,
                format!(
                    "{value} has {} decimal places; the maximum is {}",
                    normalized.scale(),
                    Self::MAX_SCALE
                ),
            ));
        }
        Ok(Self(normalized.abs()))
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::new(parse_decimal(raw)?)
    }

    pub const fn one() -> Self {
        Self(Decimal::ONE)
    }

    pub const fn get(self) -> Decimal {
        self.0
    }
}

impl Default for Weight {
    fn default() -> Self {
        Self::one()
    }
}

/// An owner's confidence that a key result will be reached, from 0 (none) to 10 (certain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Confidence(u8);

impl Confidence {
    pub const MAX: i64 = 10;

    pub fn new(value: i64) -> Result<Self, ValidationError> {
        match u8::try_from(value) {
            Ok(level) if i64::from(level) <= Self::MAX => Ok(Self(level)),
            _ => Err(ValidationError::new(
                "",
                ErrorCode::OutOfRange,
                format!(
                    "{value} is out of range; confidence runs from 0 to {}",
                    Self::MAX
                ),
            )),
        }
    }

    pub const fn get(self) -> u8 {
        self.0
    }
}

/// A manual grade that an owner gives a key result at cycle close, from 0 to 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Grade(Decimal);

impl Grade {
    pub fn new(value: Decimal) -> Result<Self, ValidationError> {
        if value < Decimal::ZERO || value > Decimal::ONE {
            return Err(ValidationError::new(
                "",
                ErrorCode::OutOfRange,
                format!("{value} is out of range; grades run from 0 to 1"),
            ));
        }
        Ok(Self(value.normalize()))
    }

    pub const fn get(self) -> Decimal {
        self.0
    }
}

/// An ISO 4217 currency code: three upper-case letters such as `EUR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CurrencyCode([u8; 3]);

impl CurrencyCode {
    /// Parses a code of the ISO 4217 list, as the `iso_currency` crate carries it.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let shown: String = raw.chars().take(16).collect();
        let [a, b, c] = raw.as_bytes() else {
            return Err(Self::invalid_format(&shown));
        };
        if ![a, b, c].iter().all(|byte| byte.is_ascii_uppercase()) {
            return Err(Self::invalid_format(&shown));
        }
        if iso_currency::Currency::from_code(raw).is_none() {
            return Err(ValidationError::new(
                "",
                ErrorCode::InvalidFormat,
                format!(
                    "\"{shown}\" is not an ISO 4217 currency code; use a listed code such as \"EUR\", \"USD\" or \"JPY\""
                ),
            ));
        }
        Ok(Self([*a, *b, *c]))
    }

    /// Parses a stored code by its format alone: three upper-case letters. Codes stored
    /// before `parse` checked the ISO 4217 list stay readable.
    pub fn parse_stored(raw: &str) -> Result<Self, ValidationError> {
        match raw.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|byte| byte.is_ascii_uppercase()) => {
                Ok(Self([*a, *b, *c]))
            }
            _ => Err(Self::invalid_format(
                &raw.chars().take(16).collect::<String>(),
            )),
        }
    }

    fn invalid_format(shown: &str) -> ValidationError {
        ValidationError::new(
            "",
            ErrorCode::InvalidFormat,
            format!(
                "\"{shown}\" is not a currency code; use three upper-case letters as in ISO 4217, such as \"EUR\""
            ),
        )
    }

    pub fn as_str(&self) -> &str {
        // The bytes are ASCII upper-case letters, checked in `parse`.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IANA time zone such as `Europe/Berlin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        chrono_tz::Tz::from_str(raw).map(Self).map_err(|_| {
            let shown: String = raw.chars().take(64).collect();
            ValidationError::new(
                "",
                ErrorCode::InvalidFormat,
                format!("\"{shown}\" is not an IANA time zone; use a name such as \"Europe/Berlin\" or \"UTC\""),
            )
        })
    }

    pub const fn utc() -> Self {
        Self(chrono_tz::Tz::UTC)
    }

    pub const fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        Self::utc()
    }
}

/// A whole number within an inclusive range, for settings such as limits and cadences.
fn bounded_count(value: i64, min: i64, max: i64, what: &str) -> Result<u32, ValidationError> {
    if value < min || value > max {
        return Err(ValidationError::new(
            "",
            ErrorCode::OutOfRange,
            format!("{value} is out of range; {what} runs from {min} to {max}"),
        ));
    }
    u32::try_from(value).map_err(|_| {
        ValidationError::new(
            "",
            ErrorCode::OutOfRange,
            format!("{value} is out of range"),
        )
    })
}

/// How often owners are expected to check in, in days (1 to 90, default 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CheckInCadence(u32);

impl CheckInCadence {
    pub fn new(days: i64) -> Result<Self, ValidationError> {
        bounded_count(days, 1, 90, "the check-in cadence in days").map(Self)
    }

    pub const fn days(self) -> u32 {
        self.0
    }

    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.0))
    }
}

impl Default for CheckInCadence {
    fn default() -> Self {
        Self(7)
    }
}

/// A per-owner or per-objective count limit (1 to 100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CountLimit(u32);

impl CountLimit {
    pub fn new(value: i64) -> Result<Self, ValidationError> {
        bounded_count(value, 1, 100, "a limit").map(Self)
    }

    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for CountLimit {
    fn default() -> Self {
        Self(5)
    }
}

/// An e-mail address as it arrives in identity claims or invitations: trimmed, at most 254
/// characters, with one `@` between non-empty parts. Deliverability is not checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let text = raw.trim();
        check_length(text, Self::MAX_CHARS)?;
        let valid = match text.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !text.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if !valid {
            let shown: String = text.chars().take(64).collect();
            return Err(ValidationError::new(
                "",
                ErrorCode::InvalidFormat,
                format!("\"{shown}\" is not an e-mail address"),
            ));
        }
        Ok(Self(text.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::dec;

    #[test]
    fn title_is_trimmed() {
        assert_eq!(
            Title::parse("  Grow revenue ").unwrap().as_str(),
            "Grow revenue"
        );
    }

    #[test]
    fn title_rejects_blank() {
        assert_eq!(Title::parse(" \t ").unwrap_err().code, ErrorCode::Blank);
    }

    #[test]
    fn title_rejects_over_maximum() {
        let error = Title::parse(&"x".repeat(201)).unwrap_err();
        assert_eq!(error.code, ErrorCode::TooLong);
        assert!(error.message.contains("201"));
        assert!(error.message.contains("200"));
        assert!(Title::parse(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn title_rejects_line_breaks() {
        assert_eq!(
            Title::parse("a\nb").unwrap_err().code,
            ErrorCode::InvalidFormat
        );
    }

    #[test]
    fn description_blank_is_none() {
        assert_eq!(Description::parse_optional("  ").unwrap(), None);
        assert!(
            Description::parse_optional("line one\nline two")
                .unwrap()
                .is_some()
        );
        assert_eq!(
            Description::parse_optional(&"y".repeat(1_000_000))
                .unwrap_err()
                .code,
            ErrorCode::TooLong
        );
    }

    #[test]
    fn decimal_rejects_non_numbers() {
        for raw in [
            "NaN", "Infinity", "-inf", "1e5", "", "1.2.3", "12,5", "0x10", ".", "-",
        ] {
            let error = parse_decimal(raw).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidFormat, "{raw}");
        }
    }

    #[test]
    fn decimal_accepts_plain_forms() {
        assert_eq!(parse_decimal("-12.50").unwrap(), dec("-12.50"));
        assert_eq!(parse_decimal("+3").unwrap(), dec("3"));
        assert_eq!(parse_decimal(".5").unwrap(), dec("0.5"));
    }

    #[test]
    fn decimal_rejects_too_many_digits() {
        let error = parse_decimal("123456789012345678901234567890").unwrap_err();
        assert_eq!(error.code, ErrorCode::OutOfRange);
    }

    #[test]
    fn metric_value_bounds() {
        assert!(MetricValue::parse("999999999999999.9999").is_ok());
        let error = MetricValue::parse("1000000000000000").unwrap_err();
        assert_eq!(error.code, ErrorCode::OutOfRange);
        assert!(error.message.contains("10^15"));
        assert_eq!(
            MetricValue::parse("0.00000000001").unwrap_err().code,
            ErrorCode::OutOfRange
        );
        assert_eq!(
            MetricValue::parse("1.50000").unwrap().get().to_string(),
            "1.5"
        );
    }

    #[test]
    fn weight_bounds() {
        assert!(Weight::parse("0").is_ok());
        assert_eq!(
            Weight::parse("-0.1").unwrap_err().code,
            ErrorCode::OutOfRange
        );
        assert_eq!(
            Weight::parse("1000.5").unwrap_err().code,
            ErrorCode::OutOfRange
        );
        assert_eq!(
            Weight::parse("0.00001").unwrap_err().code,
            ErrorCode::OutOfRange
        );
        assert_eq!(Weight::parse("-0").unwrap().get(), Decimal::ZERO);
    }

    #[test]
    fn confidence_bounds() {
        assert!(Confidence::new(0).is_ok());
        assert!(Confidence::new(10).is_ok());
        assert_eq!(Confidence::new(11).unwrap_err().code, ErrorCode::OutOfRange);
        assert_eq!(Confidence::new(-1).unwrap_err().code, ErrorCode::OutOfRange);
    }

    #[test]
    fn grade_bounds() {
        assert!(Grade::new(dec("0.7")).is_ok());
        assert!(Grade::new(dec("1.01")).is_err());
        assert!(Grade::new(dec("-0.01")).is_err());
    }

    #[test]
    fn currency_code_format() {
        assert_eq!(CurrencyCode::parse("EUR").unwrap().as_str(), "EUR");
        for raw in ["eur", "EURO", "E1R", ""] {
            assert_eq!(
                CurrencyCode::parse(raw).unwrap_err().code,
                ErrorCode::InvalidFormat
            );
        }
        for raw in ["USD", "JPY", "CHF", "XAU"] {
            assert_eq!(CurrencyCode::parse(raw).unwrap().as_str(), raw);
        }
        let unlisted = CurrencyCode::parse("XXQ").unwrap_err();
        assert_eq!(unlisted.code, ErrorCode::InvalidFormat);
        assert!(unlisted.message.contains("\"XXQ\""), "{}", unlisted.message);
        assert!(
            unlisted.message.contains("ISO 4217"),
            "{}",
            unlisted.message
        );
        assert_eq!(CurrencyCode::parse_stored("XXQ").unwrap().as_str(), "XXQ");
        assert!(CurrencyCode::parse_stored("xxq").is_err());
    }

    #[test]
    fn time_zone_names() {
        assert_eq!(
            TimeZone::parse("Europe/Berlin").unwrap().name(),
            "Europe/Berlin"
        );
        assert_eq!(
            TimeZone::parse("Mars/Olympus").unwrap_err().code,
            ErrorCode::InvalidFormat
        );
    }

    #[test]
    fn email_format() {
        assert_eq!(
            Email::parse(" Ada@Example.com ").unwrap().as_str(),
            "ada@example.com"
        );
        for raw in ["ada", "@example.com", "ada@", "a b@example.com", "a@b@c"] {
            assert!(Email::parse(raw).is_err(), "{raw}");
        }
    }
}
