//! Progress, pace, staleness, milestones and scoring.
//!
//! Every figure is computed in decimal arithmetic and converted to a float only for
//! output, so start 0.1, target 0.3 and current 0.2 give exactly 0.5.

use crate::error::{ErrorCode, ValidationError};
use crate::model::{CycleState, KeyResultType, Measure, ObjectiveKind};
use crate::values::{CheckInCadence, Grade, MetricValue, TimeZone, Weight};
use chrono::{DateTime, Duration, LocalResult, NaiveDate, TimeZone as _, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Clamps a ratio to [0, 1].
pub fn clamp_unit(ratio: Decimal) -> Decimal {
    ratio.clamp(Decimal::ZERO, Decimal::ONE)
}

/// Converts a decimal figure to the nearest float for output. Parsing the decimal's text
/// rounds correctly, while `ToPrimitive::to_f64` of rust_decimal 1 can land one float
/// away, as 0.33333333333333337 for 1/3.
pub fn to_f64(value: Decimal) -> f64 {
    // Exact powers of ten as doubles: 10^22 is the largest that a double represents exactly.
    const POWERS_OF_TEN: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    // When the mantissa and the power of ten are both exact doubles, one division rounds
    // correctly, which spares the text for short values such as 0.75.
    let mantissa = value.mantissa();
    if mantissa.unsigned_abs() < (1_u128 << 53)
        && let Some(power) = POWERS_OF_TEN.get(value.scale() as usize)
    {
        return mantissa as f64 / power;
    }
    value.to_string().parse().unwrap_or(0.0)
}

/// The unclamped progress ratio of a key result at `current`.
///
/// INCREASE_TO gives (c - s) / (t - s) and DECREASE_TO gives (s - c) / (s - t), so both can
/// exceed 1 (over-achievement) or fall below 0 (moving away from the target). The other
/// types give 1 or 0.
pub fn key_result_ratio(measure: &Measure, current: MetricValue) -> Decimal {
    let (start, target, current) = (measure.start().get(), measure.target().get(), current.get());
    let reached = |done: bool| if done { Decimal::ONE } else { Decimal::ZERO };
    match measure.kind() {
        // `Measure::new` guarantees target != start, so the divisions below are defined.
        KeyResultType::IncreaseTo => (current - start)
            .checked_div(target - start)
            .unwrap_or(Decimal::ZERO),
        KeyResultType::DecreaseTo => (start - current)
            .checked_div(start - target)
            .unwrap_or(Decimal::ZERO),
        KeyResultType::StayAtOrAbove => reached(current >= target),
        KeyResultType::StayAtOrBelow => reached(current <= target),
        KeyResultType::Boolean => reached(current >= Decimal::ONE),
    }
}

/// One input of an objective's rollup: a key result or a child objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollupInput {
    pub weight: Weight,
    /// The input's progress clamped to [0, 1].
    pub progress: Decimal,
}

/// Weighted progress sum(w_i * p_i) / sum(w_i). Inputs of weight 0 do not count, and with
/// no counting inputs the progress is 0.
pub fn weighted_progress(inputs: &[RollupInput]) -> Decimal {
    let mut weighted_sum = Decimal::ZERO;
    let mut weight_sum = Decimal::ZERO;
    for input in inputs.iter().filter(|input| !input.weight.get().is_zero()) {
        weighted_sum += input.weight.get() * input.progress;
        weight_sum += input.weight.get();
    }
    if weight_sum.is_zero() {
        return Decimal::ZERO;
    }
    clamp_unit(
        weighted_sum
            .checked_div(weight_sum)
            .unwrap_or(Decimal::ZERO),
    )
}

/// A cycle's span as instants: from 00:00 of the start date to 24:00 of the end date, both
/// in the organization's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CycleWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The instant a calendar day begins in `time_zone`. Where a daylight-saving change skips
/// midnight, the day begins at the first instant that exists.
pub fn start_of_day(date: NaiveDate, time_zone: TimeZone) -> DateTime<Utc> {
    let tz = time_zone.tz();
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    let mut local = midnight;
    for _ in 0..4 {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(instant) => return instant.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => return earliest.with_timezone(&Utc),
            LocalResult::None => local += Duration::minutes(30),
        }
    }
    midnight.and_utc()
}

impl CycleWindow {
    /// The window of the inclusive dates `start_date..=end_date` in `time_zone`.
    pub fn new(start_date: NaiveDate, end_date: NaiveDate, time_zone: TimeZone) -> Self {
        let day_after_end = end_date.succ_opt().unwrap_or(end_date);
        Self {
            start: start_of_day(start_date, time_zone),
            end: start_of_day(day_after_end, time_zone),
        }
    }

    /// Expected progress (pace) at `now`: the elapsed share of the window, clamped to [0, 1].
    pub fn expected_progress(&self, now: DateTime<Utc>) -> Decimal {
        let total = (self.end - self.start).num_milliseconds();
        if total <= 0 {
            return Decimal::ONE;
        }
        let elapsed = (now - self.start).num_milliseconds();
        clamp_unit(
            Decimal::from(elapsed)
                .checked_div(Decimal::from(total))
                .unwrap_or(Decimal::ZERO),
        )
    }

    /// Whether `instant` lies within the window (start inclusive, end exclusive).
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.start <= instant && instant < self.end
    }

    /// Returns the first and last calendar day of the window in `time_zone`, the zone it was
    /// built in.
    pub fn dates(&self, time_zone: TimeZone) -> (NaiveDate, NaiveDate) {
        let tz = time_zone.tz();
        let last_instant = self.end - Duration::nanoseconds(1);
        (
            self.start.with_timezone(&tz).date_naive(),
            last_instant.with_timezone(&tz).date_naive(),
        )
    }
}

/// How progress compares with the pace the cycle's elapsed time asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaceStatus {
    OnTrack,
    AtRisk,
    OffTrack,
}

impl PaceStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OnTrack => "ON_TRACK",
            Self::AtRisk => "AT_RISK",
            Self::OffTrack => "OFF_TRACK",
        }
    }
}

/// Expected progress below this is too early to judge, so everything is on track.
pub fn pace_grace() -> Decimal {
    Decimal::new(5, 2)
}

/// Pace status: ON_TRACK when progress >= 0.7 x expected, AT_RISK when >= 0.4 x expected,
/// else OFF_TRACK. While expected < 0.05 everything is ON_TRACK.
pub fn pace_status(progress: Decimal, expected: Decimal) -> PaceStatus {
    if expected < pace_grace() {
        return PaceStatus::OnTrack;
    }
    if progress >= Decimal::new(7, 1) * expected {
        PaceStatus::OnTrack
    } else if progress >= Decimal::new(4, 1) * expected {
        PaceStatus::AtRisk
    } else {
        PaceStatus::OffTrack
    }
}

/// Whether a key result is stale: its cycle is active and its newest check-in was observed
/// longer than one cadence ago.
///
/// A key result without check-ins counts from `tracked_since`, the later of its creation and
/// its cycle's start, so a new key result is not stale on its first day.
pub fn is_stale(
    cycle_state: CycleState,
    newest_observed_at: Option<DateTime<Utc>>,
    tracked_since: DateTime<Utc>,
    cadence: CheckInCadence,
    now: DateTime<Utc>,
) -> bool {
    cycle_state == CycleState::Active
        && now - newest_observed_at.unwrap_or(tracked_since) > cadence.duration()
}

/// A progress threshold whose first crossing is celebrated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Milestone {
    Quarter,
    Half,
    ThreeQuarters,
    Complete,
}

impl Milestone {
    pub const fn percent(self) -> u8 {
        match self {
            Self::Quarter => 25,
            Self::Half => 50,
            Self::ThreeQuarters => 75,
            Self::Complete => 100,
        }
    }

    fn threshold(self) -> Decimal {
        Decimal::new(i64::from(self.percent()), 2)
    }

    const fn bit(self) -> u8 {
        match self {
            Self::Quarter => 1,
            Self::Half => 2,
            Self::ThreeQuarters => 4,
            Self::Complete => 8,
        }
    }
}

/// The milestones of key results: 25, 50, 75 and 100 %.
pub const KEY_RESULT_MILESTONES: [Milestone; 4] = [
    Milestone::Quarter,
    Milestone::Half,
    Milestone::ThreeQuarters,
    Milestone::Complete,
];

/// The milestone of objectives: 100 %.
pub const OBJECTIVE_MILESTONES: [Milestone; 1] = [Milestone::Complete];

/// The set of milestones a record has already reached; each is reached once only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Milestones(u8);

impl Milestones {
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & 0b1111)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn contains(self, milestone: Milestone) -> bool {
        self.0 & milestone.bit() != 0
    }

    /// Marks every milestone of `candidates` that `progress` reaches for the first time, and
    /// returns the updated set with the newly reached milestones in ascending order.
    pub fn reach(self, progress: Decimal, candidates: &[Milestone]) -> (Self, Vec<Milestone>) {
        let mut reached = self;
        let mut new = Vec::new();
        for milestone in candidates {
            if progress >= milestone.threshold() && !reached.contains(*milestone) {
                reached.0 |= milestone.bit();
                new.push(*milestone);
            }
        }
        (reached, new)
    }
}

/// Returns the key-result milestones that a definition meets before any check-in, such as all
/// four for a STAY_AT_OR_ABOVE key result that starts at its threshold. They count as
/// reached without an event, because no check-in crossed them.
pub fn key_result_milestones_met(progress: Decimal) -> Milestones {
    Milestones::default()
        .reach(progress, &KEY_RESULT_MILESTONES)
        .0
}

/// A key result's score at cycle close: the manual grade when an owner set one, else its
/// clamped progress.
pub fn key_result_score(progress_ratio: Decimal, manual_grade: Option<Grade>) -> Decimal {
    manual_grade.map_or_else(|| clamp_unit(progress_ratio), Grade::get)
}

/// The color band of a score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScoreBand {
    /// 0.7 or more.
    Green,
    /// 0.4 or more, below 0.7.
    Yellow,
    /// Below 0.4.
    Red,
}

pub fn score_band(score: Decimal) -> ScoreBand {
    if score >= Decimal::new(7, 1) {
        ScoreBand::Green
    } else if score >= Decimal::new(4, 1) {
        ScoreBand::Yellow
    } else {
        ScoreBand::Red
    }
}

/// Whether an objective with `score` succeeded: COMMITTED needs 1.0, ASPIRATIONAL needs 0.7.
pub fn is_successful(kind: ObjectiveKind, score: Decimal) -> bool {
    match kind {
        ObjectiveKind::Committed => score >= Decimal::ONE,
        ObjectiveKind::Aspirational => score >= Decimal::new(7, 1),
    }
}

/// Whether a check-in observed at `candidate` replaces the one observed at `current` as the
/// source of the current value. The latest observed-at time wins, and a tie goes to the
/// newer check-in, so a backfilled older value never overwrites a newer one.
pub fn becomes_current(candidate: DateTime<Utc>, current: Option<DateTime<Utc>>) -> bool {
    current.is_none_or(|current| candidate >= current)
}

/// Checks that a cycle's dates are in order and lie within its parent cycle's dates.
pub fn validate_cycle_dates(
    start_date: NaiveDate,
    end_date: NaiveDate,
    parent: Option<(NaiveDate, NaiveDate)>,
) -> Result<(), ValidationError> {
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    let latest = NaiveDate::from_ymd_opt(2999, 12, 31).unwrap_or(NaiveDate::MAX);
    for (date, field) in [(start_date, "startDate"), (end_date, "endDate")] {
        if date < earliest || date > latest {
            return Err(ValidationError::new(
                field,
                ErrorCode::OutOfRange,
                format!("{date} is out of range; dates run from {earliest} to {latest}"),
            ));
        }
    }
    if end_date < start_date {
        return Err(ValidationError::new(
            "endDate",
            ErrorCode::Invalid,
            format!(
                "{end_date} is before the start date {start_date}; a cycle must end on or after the day it starts"
            ),
        ));
    }
    if let Some((parent_start, parent_end)) = parent
        && (start_date < parent_start || end_date > parent_end)
    {
        return Err(ValidationError::new(
            "parentId",
            ErrorCode::Invalid,
            format!(
                "the parent cycle runs from {parent_start} to {parent_end}, which does not contain {start_date} to {end_date}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::dec;

    fn measure(kind: KeyResultType, start: &str, target: &str) -> Measure {
        Measure::new(
            kind,
            Some(MetricValue::parse(start).unwrap()),
            Some(MetricValue::parse(target).unwrap()),
        )
        .unwrap()
    }

    fn ratio(measure: &Measure, current: &str) -> Decimal {
        key_result_ratio(measure, MetricValue::parse(current).unwrap())
    }

    fn input(weight: &str, progress: &str) -> RollupInput {
        RollupInput {
            weight: Weight::parse(weight).unwrap(),
            progress: dec(progress),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn increase_to_progress() {
        let m = measure(KeyResultType::IncreaseTo, "100", "200");
        assert_eq!(ratio(&m, "100"), dec("0"));
        assert_eq!(ratio(&m, "150"), dec("0.5"));
        assert_eq!(ratio(&m, "200"), dec("1"));
    }

    #[test]
    fn increase_to_exact_decimals() {
        let m = measure(KeyResultType::IncreaseTo, "0.1", "0.3");
        assert_eq!(ratio(&m, "0.2"), dec("0.5"));
        assert_eq!(to_f64(ratio(&m, "0.2")), 0.5);
    }

    #[test]
    fn increase_to_over_achievement_stays_unclamped() {
        let m = measure(KeyResultType::IncreaseTo, "0", "80");
        assert_eq!(ratio(&m, "100"), dec("1.25"));
        assert_eq!(clamp_unit(ratio(&m, "100")), dec("1"));
    }

    #[test]
    fn increase_to_below_start_is_negative() {
        let m = measure(KeyResultType::IncreaseTo, "10", "20");
        assert_eq!(ratio(&m, "5"), dec("-0.5"));
        assert_eq!(clamp_unit(ratio(&m, "5")), dec("0"));
    }

    #[test]
    fn decrease_to_progress() {
        let m = measure(KeyResultType::DecreaseTo, "40", "10");
        assert_eq!(ratio(&m, "40"), dec("0"));
        assert_eq!(ratio(&m, "25"), dec("0.5"));
        assert_eq!(ratio(&m, "10"), dec("1"));
        assert_eq!(ratio(&m, "4"), dec("1.2"));
        assert_eq!(ratio(&m, "46"), dec("-0.2"));
    }

    #[test]
    fn stay_at_or_above_progress() {
        let m = measure(KeyResultType::StayAtOrAbove, "90", "95");
        assert_eq!(ratio(&m, "94.99"), dec("0"));
        assert_eq!(ratio(&m, "95"), dec("1"));
        assert_eq!(ratio(&m, "99"), dec("1"));
    }

    #[test]
    fn stay_at_or_below_progress() {
        let m = measure(KeyResultType::StayAtOrBelow, "3", "2");
        assert_eq!(ratio(&m, "2.01"), dec("0"));
        assert_eq!(ratio(&m, "2"), dec("1"));
        assert_eq!(ratio(&m, "0"), dec("1"));
    }

    #[test]
    fn boolean_progress() {
        let m = Measure::new(KeyResultType::Boolean, None, None).unwrap();
        assert_eq!(ratio(&m, "0"), dec("0"));
        assert_eq!(ratio(&m, "1"), dec("1"));
    }

    #[test]
    fn rollup_weighted_average() {
        // (2 x 0.5 + 1 x 1.0 + 1 x 0.0) / 4 = 0.5
        let inputs = [input("2", "0.5"), input("1", "1"), input("1", "0")];
        assert_eq!(weighted_progress(&inputs), dec("0.5"));
    }

    #[test]
    fn rollup_weight_zero_does_not_count() {
        // The weight-0 input at 0 % would halve the figure if it counted.
        let inputs = [input("1", "0.8"), input("0", "0")];
        assert_eq!(weighted_progress(&inputs), dec("0.8"));
    }

    #[test]
    fn rollup_all_zero_weights_is_zero() {
        let inputs = [input("0", "0.8"), input("0", "1")];
        assert_eq!(weighted_progress(&inputs), dec("0"));
    }

    #[test]
    fn rollup_without_inputs_is_zero() {
        assert_eq!(weighted_progress(&[]), dec("0"));
    }

    #[test]
    fn rollup_three_levels() {
        // Key results at 0.5 and 1.0 (weights 1, 1) give the team objective 0.75.
        let team = weighted_progress(&[input("1", "0.5"), input("1", "1")]);
        assert_eq!(team, dec("0.75"));
        // The department objective weights that at 3 against a sibling at 0.25: (3 x 0.75 + 1 x 0.25) / 4.
        let department = weighted_progress(&[
            RollupInput {
                weight: Weight::parse("3").unwrap(),
                progress: team,
            },
            input("1", "0.25"),
        ]);
        assert_eq!(department, dec("0.625"));
        // The company objective has the department at weight 1 and an unstarted sibling: 0.3125.
        let company = weighted_progress(&[
            RollupInput {
                weight: Weight::one(),
                progress: department,
            },
            input("1", "0"),
        ]);
        assert_eq!(company, dec("0.3125"));
    }

    #[test]
    fn expected_progress_over_a_utc_quarter() {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        let window = CycleWindow::new(start, end, TimeZone::utc());
        assert_eq!(window.start, at("2026-01-01T00:00:00Z"));
        assert_eq!(window.end, at("2026-04-01T00:00:00Z"));
        // 90 days in all; 45 days in gives exactly one half.
        assert_eq!(
            window.expected_progress(at("2026-02-15T00:00:00Z")),
            dec("0.5")
        );
        assert_eq!(
            window.expected_progress(at("2025-12-31T00:00:00Z")),
            dec("0")
        );
        assert_eq!(
            window.expected_progress(at("2026-05-01T00:00:00Z")),
            dec("1")
        );
    }

    #[test]
    fn cycle_window_uses_organization_time_zone() {
        let day = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let berlin = TimeZone::parse("Europe/Berlin").unwrap();
        let window = CycleWindow::new(day, day, berlin);
        assert_eq!(window.start, at("2026-06-30T22:00:00Z"));
        assert_eq!(window.end, at("2026-07-01T22:00:00Z"));
        assert!(window.contains(at("2026-06-30T22:00:00Z")));
        assert!(!window.contains(at("2026-07-01T22:00:00Z")));
        assert_eq!(window.dates(berlin), (day, day));
    }

    #[test]
    fn cycle_window_skipped_midnight() {
        // In America/Santiago clocks jumped from 00:00 to 01:00 on 2022-09-11.
        let day = NaiveDate::from_ymd_opt(2022, 9, 11).unwrap();
        let santiago = TimeZone::parse("America/Santiago").unwrap();
        let window = CycleWindow::new(day, day, santiago);
        assert_eq!(window.start, at("2022-09-11T04:00:00Z"));
        assert_eq!(window.dates(santiago), (day, day));
    }

    #[test]
    fn pace_before_grace_is_on_track() {
        assert_eq!(pace_status(dec("0"), dec("0.0499")), PaceStatus::OnTrack);
        assert_eq!(pace_status(dec("0"), dec("0.05")), PaceStatus::OffTrack);
    }

    #[test]
    fn pace_on_track_boundary() {
        // Expected 0.5: on track from 0.35 (0.7 x 0.5).
        assert_eq!(pace_status(dec("0.35"), dec("0.5")), PaceStatus::OnTrack);
        assert_eq!(pace_status(dec("0.3499"), dec("0.5")), PaceStatus::AtRisk);
    }

    #[test]
    fn pace_at_risk_boundary() {
        // Expected 0.5: at risk from 0.2 (0.4 x 0.5), off track below.
        assert_eq!(pace_status(dec("0.2"), dec("0.5")), PaceStatus::AtRisk);
        assert_eq!(pace_status(dec("0.1999"), dec("0.5")), PaceStatus::OffTrack);
    }

    #[test]
    fn pace_at_cycle_end() {
        assert_eq!(pace_status(dec("0.7"), dec("1")), PaceStatus::OnTrack);
        assert_eq!(pace_status(dec("0.4"), dec("1")), PaceStatus::AtRisk);
        assert_eq!(pace_status(dec("0.39"), dec("1")), PaceStatus::OffTrack);
    }

    #[test]
    fn stale_after_cadence() {
        let cadence = CheckInCadence::default();
        let since = at("2026-01-01T00:00:00Z");
        let last = Some(at("2026-01-10T12:00:00Z"));
        let exactly_one_cadence = at("2026-01-17T12:00:00Z");
        assert!(!is_stale(
            CycleState::Active,
            last,
            since,
            cadence,
            exactly_one_cadence
        ));
        let later = exactly_one_cadence + Duration::seconds(1);
        assert!(is_stale(CycleState::Active, last, since, cadence, later));
        assert!(!is_stale(CycleState::Closed, last, since, cadence, later));
        assert!(!is_stale(CycleState::Planned, last, since, cadence, later));
    }

    #[test]
    fn stale_without_check_ins_counts_from_tracking_start() {
        let cadence = CheckInCadence::default();
        let since = at("2026-01-01T00:00:00Z");
        assert!(!is_stale(
            CycleState::Active,
            None,
            since,
            cadence,
            at("2026-01-05T00:00:00Z")
        ));
        assert!(is_stale(
            CycleState::Active,
            None,
            since,
            cadence,
            at("2026-01-09T00:00:00Z")
        ));
    }

    #[test]
    fn float_output_is_nearest() {
        let third = Decimal::ONE / Decimal::from(3);
        assert_eq!(to_f64(third), 1.0 / 3.0);
        assert_eq!(to_f64(Decimal::from(2) / Decimal::from(3)), 2.0 / 3.0);
        assert_eq!(to_f64(Decimal::new(7, 1)), 0.7);
        assert_eq!(to_f64(Decimal::from(-5) / Decimal::from(4)), -1.25);
        assert_eq!(to_f64(Decimal::new(1, 1)), 0.1);
        assert_eq!(to_f64(Decimal::new(123_456_789, 28)), 123_456_789e-28);
        assert_eq!(
            to_f64(Decimal::MAX),
            79_228_162_514_264_337_593_543_950_335.0
        );
    }

    #[test]
    fn milestones_reached_once() {
        let none = Milestones::default();
        let (after, new) = none.reach(dec("0.6"), &KEY_RESULT_MILESTONES);
        assert_eq!(new, vec![Milestone::Quarter, Milestone::Half]);
        let (after, new) = after.reach(dec("0.3"), &KEY_RESULT_MILESTONES);
        assert!(new.is_empty());
        let (after, new) = after.reach(dec("0.75"), &KEY_RESULT_MILESTONES);
        assert_eq!(new, vec![Milestone::ThreeQuarters]);
        let (after, new) = after.reach(dec("1.25"), &KEY_RESULT_MILESTONES);
        assert_eq!(new, vec![Milestone::Complete]);
        assert_eq!(after.bits(), 0b1111);
    }

    #[test]
    fn objective_milestone_is_complete_only() {
        let (_, new) = Milestones::default().reach(dec("0.99"), &OBJECTIVE_MILESTONES);
        assert!(new.is_empty());
        let (_, new) = Milestones::default().reach(dec("1"), &OBJECTIVE_MILESTONES);
        assert_eq!(new, vec![Milestone::Complete]);
    }

    #[test]
    fn score_uses_manual_grade() {
        assert_eq!(key_result_score(dec("1.3"), None), dec("1"));
        let grade = Grade::new(dec("0.6")).unwrap();
        assert_eq!(key_result_score(dec("1.3"), Some(grade)), dec("0.6"));
    }

    #[test]
    fn score_bands() {
        assert_eq!(score_band(dec("0.7")), ScoreBand::Green);
        assert_eq!(score_band(dec("0.6999")), ScoreBand::Yellow);
        assert_eq!(score_band(dec("0.4")), ScoreBand::Yellow);
        assert_eq!(score_band(dec("0.3999")), ScoreBand::Red);
    }

    #[test]
    fn success_by_kind() {
        assert!(is_successful(ObjectiveKind::Committed, dec("1")));
        assert!(!is_successful(ObjectiveKind::Committed, dec("0.99")));
        assert!(is_successful(ObjectiveKind::Aspirational, dec("0.7")));
        assert!(!is_successful(ObjectiveKind::Aspirational, dec("0.69")));
    }

    #[test]
    fn backfill_does_not_become_current() {
        let current = Some(at("2026-02-10T09:00:00Z"));
        assert!(!becomes_current(at("2026-02-01T09:00:00Z"), current));
        assert!(becomes_current(at("2026-02-10T09:00:00Z"), current));
        assert!(becomes_current(at("2026-02-11T09:00:00Z"), current));
        assert!(becomes_current(at("2020-01-01T00:00:00Z"), None));
    }

    #[test]
    fn cycle_dates_in_order() {
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert!(validate_cycle_dates(day(1, 1), day(1, 1), None).is_ok());
        let error = validate_cycle_dates(day(3, 1), day(2, 1), None).unwrap_err();
        assert_eq!(error.field, "endDate");
        let year = Some((day(1, 1), day(12, 31)));
        assert!(validate_cycle_dates(day(4, 1), day(6, 30), year).is_ok());
        let error = validate_cycle_dates(
            day(4, 1),
            NaiveDate::from_ymd_opt(2027, 1, 5).unwrap(),
            year,
        )
        .unwrap_err();
        assert_eq!(error.field, "parentId");
        let ancient = NaiveDate::from_ymd_opt(1066, 10, 14).unwrap();
        assert_eq!(
            validate_cycle_dates(ancient, day(1, 1), None)
                .unwrap_err()
                .code,
            ErrorCode::OutOfRange
        );
    }
}
