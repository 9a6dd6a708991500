//! Rules that look at several records at once: admitting check-ins and counting limits.

use crate::error::{ErrorCode, ValidationError};
use crate::model::{CycleState, KeyResultType, ObjectiveState};
use crate::progress::CycleWindow;
use crate::values::{CountLimit, MetricValue, TimeZone};
use chrono::{DateTime, Duration, Utc};

/// How far in the future an observed-at time may lie, to allow for clock skew between a
/// client and the server.
pub fn max_clock_skew() -> Duration {
    Duration::minutes(5)
}

/// The earliest observed-at time accepted: 1970-01-01T00:00:00Z.
pub fn earliest_observed_at() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

/// The state around a key result that decides whether it takes check-ins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckInTarget {
    pub key_result_archived: bool,
    pub objective_state: ObjectiveState,
    pub cycle_state: CycleState,
}

/// Checks that a check-in observed at `observed_at` may be recorded at `now`.
pub fn admit_check_in(
    target: CheckInTarget,
    observed_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ValidationError> {
    if target.key_result_archived {
        return Err(ValidationError::new(
            "keyResultId",
            ErrorCode::Archived,
            "the key result is archived and takes no check-ins",
        ));
    }
    if target.objective_state == ObjectiveState::Archived {
        return Err(ValidationError::new(
            "keyResultId",
            ErrorCode::Archived,
            "the key result's objective is archived, so it takes no check-ins",
        ));
    }
    if target.cycle_state == CycleState::Closed {
        return Err(ValidationError::new(
            "keyResultId",
            ErrorCode::CycleClosed,
            "the key result's cycle is closed; an admin must reopen it before check-ins are accepted",
        ));
    }
    validate_observed_at(observed_at, now)
}

/// Checks that an observed-at time is neither before 1970 nor in the future.
pub fn validate_observed_at(
    observed_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ValidationError> {
    let latest = now + max_clock_skew();
    if observed_at > latest {
        return Err(ValidationError::new(
            "observedAt",
            ErrorCode::OutOfRange,
            format!(
                "{} is in the future; the latest accepted time is {} (now plus {} minutes of clock skew)",
                observed_at.to_rfc3339(),
                latest.to_rfc3339(),
                max_clock_skew().num_minutes()
            ),
        ));
    }
    if observed_at < earliest_observed_at() {
        return Err(ValidationError::new(
            "observedAt",
            ErrorCode::OutOfRange,
            format!(
                "{} is out of range; observed-at times start at 1970-01-01T00:00:00Z",
                observed_at.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

/// Checks that a check-in's observed-at time lies within its key result's cycle, from 00:00
/// of the start date to 24:00 of the end date in the organization's `time_zone`.
pub fn validate_observed_in_cycle(
    observed_at: DateTime<Utc>,
    window: CycleWindow,
    time_zone: TimeZone,
) -> Result<(), ValidationError> {
    if window.contains(observed_at) {
        return Ok(());
    }
    let (start_date, end_date) = window.dates(time_zone);
    let side = if observed_at < window.start {
        "before"
    } else {
        "after"
    };
    Err(ValidationError::new(
        "observedAt",
        ErrorCode::OutOfRange,
        format!(
            "{} is {side} the key result's cycle, which runs from {start_date} to {end_date} in {}; send an observedAt within those dates",
            observed_at.to_rfc3339(),
            time_zone.name()
        ),
    ))
}

/// The value a check-in records: `done` for BOOLEAN key results (stored as 1 or 0) and
/// `value` for every other type. Exactly one of the two must be given.
pub fn check_in_value(
    kind: KeyResultType,
    value: Option<MetricValue>,
    done: Option<bool>,
) -> Result<MetricValue, ValidationError> {
    match (kind, value, done) {
        (KeyResultType::Boolean, None, Some(done)) => Ok(if done {
            MetricValue::one()
        } else {
            MetricValue::zero()
        }),
        (KeyResultType::Boolean, Some(_), _) => Err(ValidationError::new(
            "value",
            ErrorCode::Invalid,
            "must be left out for a BOOLEAN key result; send done: true or false",
        )),
        (KeyResultType::Boolean, None, None) => Err(ValidationError::new(
            "done",
            ErrorCode::Invalid,
            "is required for a BOOLEAN key result",
        )),
        (_, Some(value), None) => Ok(value),
        (_, _, Some(_)) => Err(ValidationError::new(
            "done",
            ErrorCode::Invalid,
            format!(
                "only applies to BOOLEAN key results; send value for {}",
                kind.as_str()
            ),
        )),
        (_, None, None) => Err(ValidationError::new(
            "value",
            ErrorCode::Invalid,
            format!("is required for {} key results", kind.as_str()),
        )),
    }
}

/// What an organization limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    ObjectivesPerOwnerPerCycle,
    KeyResultsPerObjective,
}

/// Checks a count against an organization limit.
///
/// Returns `Ok(None)` within the limit, `Ok(Some(warning))` over it when the organization
/// only warns, and `Err` over it when the organization enforces its limits.
pub fn check_count_limit(
    kind: LimitKind,
    count_after: u64,
    limit: CountLimit,
    enforce: bool,
) -> Result<Option<ValidationError>, ValidationError> {
    if count_after <= u64::from(limit.get()) {
        return Ok(None);
    }
    let (field, what) = match kind {
        LimitKind::ObjectivesPerOwnerPerCycle => {
            ("ownerId", "objectives for this owner in this cycle")
        }
        LimitKind::KeyResultsPerObjective => ("objectiveId", "key results on this objective"),
    };
    let problem = ValidationError::new(
        field,
        ErrorCode::LimitExceeded,
        format!(
            "this makes {count_after} {what}; the organization's limit is {}",
            limit.get()
        ),
    );
    if enforce {
        Err(problem)
    } else {
        Ok(Some(problem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_target() -> CheckInTarget {
        CheckInTarget {
            key_result_archived: false,
            objective_state: ObjectiveState::Active,
            cycle_state: CycleState::Active,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn check_in_admitted() {
        assert!(admit_check_in(open_target(), now(), now()).is_ok());
        let backfill = now() - Duration::days(40);
        assert!(admit_check_in(open_target(), backfill, now()).is_ok());
    }

    #[test]
    fn check_in_on_archived_key_result() {
        let target = CheckInTarget {
            key_result_archived: true,
            ..open_target()
        };
        assert_eq!(
            admit_check_in(target, now(), now()).unwrap_err().code,
            ErrorCode::Archived
        );
    }

    #[test]
    fn check_in_on_archived_objective() {
        let target = CheckInTarget {
            objective_state: ObjectiveState::Archived,
            ..open_target()
        };
        assert_eq!(
            admit_check_in(target, now(), now()).unwrap_err().code,
            ErrorCode::Archived
        );
    }

    #[test]
    fn check_in_on_closed_cycle() {
        let target = CheckInTarget {
            cycle_state: CycleState::Closed,
            ..open_target()
        };
        assert_eq!(
            admit_check_in(target, now(), now()).unwrap_err().code,
            ErrorCode::CycleClosed
        );
    }

    #[test]
    fn check_in_in_the_future() {
        let error = admit_check_in(open_target(), now() + Duration::minutes(6), now()).unwrap_err();
        assert_eq!(error.field, "observedAt");
        assert!(admit_check_in(open_target(), now() + Duration::minutes(5), now()).is_ok());
    }

    #[test]
    fn check_in_outside_cycle() {
        let berlin = TimeZone::parse("Europe/Berlin").unwrap();
        let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let end = chrono::NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        let window = CycleWindow::new(start, end, berlin);
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        // Berlin is UTC+1 in winter and UTC+2 from 29 March, so the cycle runs from
        // 2025-12-31T23:00Z up to 2026-03-31T22:00Z.
        assert!(validate_observed_in_cycle(at("2025-12-31T23:00:00Z"), window, berlin).is_ok());
        assert!(validate_observed_in_cycle(at("2026-03-31T21:59:59Z"), window, berlin).is_ok());

        let early =
            validate_observed_in_cycle(at("2025-12-31T22:59:59Z"), window, berlin).unwrap_err();
        assert_eq!(early.field, "observedAt");
        assert_eq!(early.code, ErrorCode::OutOfRange);
        assert_eq!(
            early.message,
            "2025-12-31T22:59:59+00:00 is before the key result's cycle, which runs from 2026-01-01 to 2026-03-31 in Europe/Berlin; send an observedAt within those dates"
        );
        let late =
            validate_observed_in_cycle(at("2026-03-31T22:00:00Z"), window, berlin).unwrap_err();
        assert!(late.message.contains("is after the key result's cycle"));
    }

    #[test]
    fn check_in_before_1970() {
        let old = DateTime::parse_from_rfc3339("1969-12-31T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            admit_check_in(open_target(), old, now()).unwrap_err().code,
            ErrorCode::OutOfRange
        );
    }

    #[test]
    fn check_in_value_by_type() {
        let five = MetricValue::parse("5").unwrap();
        assert_eq!(
            check_in_value(KeyResultType::IncreaseTo, Some(five), None).unwrap(),
            five
        );
        assert_eq!(
            check_in_value(KeyResultType::Boolean, None, Some(true)).unwrap(),
            MetricValue::one()
        );
        assert_eq!(
            check_in_value(KeyResultType::Boolean, Some(five), None)
                .unwrap_err()
                .field,
            "value"
        );
        assert_eq!(
            check_in_value(KeyResultType::DecreaseTo, None, Some(true))
                .unwrap_err()
                .field,
            "done"
        );
        assert_eq!(
            check_in_value(KeyResultType::StayAtOrAbove, None, None)
                .unwrap_err()
                .field,
            "value"
        );
    }

    #[test]
    fn limit_warns_or_rejects() {
        let limit = CountLimit::new(5).unwrap();
        let kind = LimitKind::KeyResultsPerObjective;
        assert_eq!(check_count_limit(kind, 5, limit, true), Ok(None));
        let warning = check_count_limit(kind, 6, limit, false).unwrap().unwrap();
        assert_eq!(warning.code, ErrorCode::LimitExceeded);
        assert!(warning.message.contains('6'));
        assert!(check_count_limit(kind, 6, limit, true).is_err());
    }
}
