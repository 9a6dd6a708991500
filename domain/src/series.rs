//! KPI series: measurements grouped into calendar days, weeks, months or quarters of the
//! organization's time zone, and aggregated per group.

use crate::error::{ErrorCode, ValidationError};
use crate::progress::start_of_day;
use crate::values::{MetricValue, TimeZone};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The maximum number of points in one series.
pub const MAX_POINTS: usize = 1_000;

/// Decimal places that an average keeps.
const AVERAGE_SCALE: u32 = 10;

/// The calendar unit of one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Interval {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
    /// Calendar quarters: January, April, July and October begin one.
    Quarter,
}

impl Interval {
    /// The first day of the interval that contains `date`.
    pub fn start_of(self, date: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => date,
            Self::Week => date - Duration::days(i64::from(date.weekday().num_days_from_monday())),
            Self::Month => date.with_day(1).unwrap_or(date),
            Self::Quarter => {
                let first_month = (date.month0() / 3) * 3 + 1;
                NaiveDate::from_ymd_opt(date.year(), first_month, 1).unwrap_or(date)
            }
        }
    }

    /// The first day of the interval after the one that begins on `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        let months = match self {
            Self::Day => return start + Duration::days(1),
            Self::Week => return start + Duration::days(7),
            Self::Month => 1,
            Self::Quarter => 3,
        };
        start
            .checked_add_months(chrono::Months::new(months))
            .unwrap_or(start + Duration::days(31 * i64::from(months)))
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Day => "DAY",
            Self::Week => "WEEK",
            Self::Month => "MONTH",
            Self::Quarter => "QUARTER",
        }
    }
}

/// The function that combines the measurements of one point into its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Aggregation {
    /// The value with the latest observed-at time.
    Last,
    /// The arithmetic mean, to 10 decimal places.
    Average,
    Min,
    Max,
    Sum,
}

/// One calendar interval of a series: the local date it begins on and its instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub date: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The intervals from the one that contains `from` to the one that contains the instant
/// before `to`, in `time_zone`. Rejects `to` before `from` and more than [`MAX_POINTS`].
pub fn buckets(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: Interval,
    time_zone: TimeZone,
) -> Result<Vec<Bucket>, ValidationError> {
    if to <= from {
        return Err(ValidationError::new(
            "to",
            ErrorCode::OutOfRange,
            format!(
                "{} is not after from ({}); a series needs a later end than start",
                to.to_rfc3339(),
                from.to_rfc3339()
            ),
        ));
    }
    let tz = time_zone.tz();
    let first = interval.start_of(from.with_timezone(&tz).date_naive());
    let last_instant = to - Duration::microseconds(1);
    let last = interval.start_of(last_instant.with_timezone(&tz).date_naive());
    let mut buckets = Vec::new();
    let mut date = first;
    while date <= last {
        if buckets.len() == MAX_POINTS {
            return Err(ValidationError::new(
                "from",
                ErrorCode::OutOfRange,
                format!(
                    "the range from {} to {} holds more than {MAX_POINTS} points of one {}; shorten it or choose a longer interval",
                    from.to_rfc3339(),
                    to.to_rfc3339(),
                    interval.as_str()
                ),
            ));
        }
        let next = interval.next(date);
        buckets.push(Bucket {
            date,
            start: start_of_day(date, time_zone),
            end: start_of_day(next, time_zone),
        });
        date = next;
    }
    Ok(buckets)
}

/// The running figures of one point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accumulator {
    pub count: u64,
    sum: Decimal,
    min: Option<Decimal>,
    max: Option<Decimal>,
    last: Option<(DateTime<Utc>, Decimal)>,
}

impl Accumulator {
    /// Adds one measurement; the latest observed-at time decides the last value.
    pub fn add(&mut self, observed_at: DateTime<Utc>, value: MetricValue) {
        let value = value.get();
        self.count += 1;
        // Values stay below 10^15 and a point contains far fewer than 10^13 of them, so the
        // sum fits in a decimal's 28 digits. Saturating is only a guard.
        self.sum = self.sum.checked_add(value).unwrap_or(Decimal::MAX);
        self.min = Some(self.min.map_or(value, |min| min.min(value)));
        self.max = Some(self.max.map_or(value, |max| max.max(value)));
        if self.last.is_none_or(|(at, _)| observed_at >= at) {
            self.last = Some((observed_at, value));
        }
    }

    /// The point's value by `aggregation`; `None` for a point without measurements.
    pub fn value(&self, aggregation: Aggregation) -> Option<Decimal> {
        if self.count == 0 {
            return None;
        }
        match aggregation {
            Aggregation::Last => self.last.map(|(_, value)| value),
            Aggregation::Average => self
                .sum
                .checked_div(Decimal::from(self.count))
                .map(|mean| mean.round_dp(AVERAGE_SCALE).normalize()),
            Aggregation::Min => self.min,
            Aggregation::Max => self.max,
            Aggregation::Sum => Some(self.sum),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::dec;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn value(text: &str) -> MetricValue {
        MetricValue::new(dec(text)).unwrap()
    }

    #[test]
    fn intervals_start_on_calendar_boundaries() {
        // 2026-05-14 is a Thursday.
        let day = date("2026-05-14");
        assert_eq!(Interval::Day.start_of(day), day);
        assert_eq!(Interval::Week.start_of(day), date("2026-05-11"));
        assert_eq!(Interval::Month.start_of(day), date("2026-05-01"));
        assert_eq!(Interval::Quarter.start_of(day), date("2026-04-01"));
        assert_eq!(
            Interval::Quarter.start_of(date("2026-12-31")),
            date("2026-10-01")
        );
        assert_eq!(Interval::Month.next(date("2026-01-01")), date("2026-02-01"));
        assert_eq!(
            Interval::Quarter.next(date("2026-10-01")),
            date("2027-01-01")
        );
        assert_eq!(Interval::Week.next(date("2026-12-28")), date("2027-01-04"));
    }

    #[test]
    fn buckets_follow_the_time_zone() {
        let berlin = TimeZone::parse("Europe/Berlin").unwrap();
        // 23:30 UTC on 31 January is already 1 February in Berlin.
        let buckets = buckets(
            at("2026-01-31T23:30:00Z"),
            at("2026-02-02T00:00:00Z"),
            Interval::Day,
            berlin,
        )
        .unwrap();
        let dates: Vec<NaiveDate> = buckets.iter().map(|bucket| bucket.date).collect();
        assert_eq!(dates, vec![date("2026-02-01"), date("2026-02-02")]);
        assert_eq!(buckets[0].start, at("2026-01-31T23:00:00Z"));
        assert_eq!(buckets[0].end, at("2026-02-01T23:00:00Z"));
    }

    #[test]
    fn buckets_across_a_clock_change() {
        let berlin = TimeZone::parse("Europe/Berlin").unwrap();
        // Clocks go forward on 29 March 2026: that day has 23 hours.
        let buckets = buckets(
            at("2026-03-29T00:00:00Z"),
            at("2026-03-29T12:00:00Z"),
            Interval::Day,
            berlin,
        )
        .unwrap();
        assert_eq!(buckets.len(), 1);
        assert_eq!(buckets[0].end - buckets[0].start, Duration::hours(23));
    }

    #[test]
    fn buckets_end_on_a_boundary() {
        let buckets = buckets(
            at("2026-01-01T00:00:00Z"),
            at("2026-04-01T00:00:00Z"),
            Interval::Month,
            TimeZone::utc(),
        )
        .unwrap();
        assert_eq!(buckets.len(), 3);
        assert_eq!(buckets[2].end, at("2026-04-01T00:00:00Z"));
    }

    #[test]
    fn ranges_are_checked() {
        let error = buckets(
            at("2026-02-01T00:00:00Z"),
            at("2026-01-01T00:00:00Z"),
            Interval::Day,
            TimeZone::utc(),
        )
        .unwrap_err();
        assert_eq!(error.field, "to");
        let error = buckets(
            at("2020-01-01T00:00:00Z"),
            at("2026-01-01T00:00:00Z"),
            Interval::Day,
            TimeZone::utc(),
        )
        .unwrap_err();
        assert_eq!(error.code, ErrorCode::OutOfRange);
        assert!(error.message.contains("1000 points"), "{}", error.message);
        assert!(
            buckets(
                at("2020-01-01T00:00:00Z"),
                at("2026-01-01T00:00:00Z"),
                Interval::Week,
                TimeZone::utc(),
            )
            .is_ok()
        );
    }

    #[test]
    fn aggregations() {
        let mut point = Accumulator::default();
        assert_eq!(point.value(Aggregation::Sum), None);
        point.add(at("2026-01-01T10:00:00Z"), value("4"));
        point.add(at("2026-01-01T18:00:00Z"), value("1"));
        // Sent later but observed earlier: not the last value.
        point.add(at("2026-01-01T08:00:00Z"), value("2"));
        assert_eq!(point.count, 3);
        assert_eq!(point.value(Aggregation::Last), Some(dec("1")));
        assert_eq!(point.value(Aggregation::Sum), Some(dec("7")));
        assert_eq!(point.value(Aggregation::Min), Some(dec("1")));
        assert_eq!(point.value(Aggregation::Max), Some(dec("4")));
        assert_eq!(point.value(Aggregation::Average), Some(dec("2.3333333333")));
    }
}
