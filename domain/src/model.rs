//! The records of the domain as plain values.
//!
//! Each struct is what storage returns and what the API maps to its output types. Fields
//! that the rules in [`crate::progress`] derive (progress, milestones, scores) are stored
//! with the record so that reads need no recomputation.

use crate::error::{ErrorCode, ValidationError};
use crate::ids::{
    ApiTokenId, CheckInId, CommentId, CycleId, KeyResultId, KpiId, KpiMeasurementId, MembershipId,
    ObjectiveId, OrganizationId, TeamId, UserId,
};
use crate::kpi::KpiThresholds;
use crate::progress::Milestones;
use crate::values::{
    CheckInCadence, Confidence, CountLimit, CurrencyCode, Description, Email, ExternalKey, Grade,
    MetricValue, Name, TimeZone, Title, Weight,
};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The SCREAMING_SNAKE_CASE name used in storage and in the API.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses the stored name; `None` for a name this version does not know.
            pub fn from_name(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// A member's role in an organization. Each role can do everything the roles after it can.
    Role {
        /// Manages admins and everything an admin manages.
        Owner => "OWNER",
        /// Manages teams, cycles, KPIs, settings, tokens and webhooks.
        Admin => "ADMIN",
        /// Writes objectives, key results, check-ins and comments.
        Member => "MEMBER",
        /// Reads.
        Viewer => "VIEWER",
    }
);

impl Role {
    const fn rank(self) -> u8 {
        match self {
            Self::Owner => 3,
            Self::Admin => 2,
            Self::Member => 1,
            Self::Viewer => 0,
        }
    }

    /// Whether this role includes everything `other` may do.
    pub const fn includes(self, other: Self) -> bool {
        self.rank() >= other.rank()
    }
}

string_enum!(
    /// The life cycle of a cycle: PLANNED, then ACTIVE, then CLOSED; an admin may reopen it.
    CycleState {
        Planned => "PLANNED",
        Active => "ACTIVE",
        Closed => "CLOSED",
    }
);

/// A change of a cycle's state that an admin asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CycleTransition {
    /// PLANNED to ACTIVE.
    Activate,
    /// PLANNED or ACTIVE to CLOSED.
    Close,
    /// CLOSED to ACTIVE.
    Reopen,
}

impl CycleTransition {
    /// The mutation that asks for the transition, as the audit log names it.
    pub const fn action(self) -> &'static str {
        match self {
            Self::Activate => "activateCycle",
            Self::Close => "closeCycle",
            Self::Reopen => "reopenCycle",
        }
    }

    /// Returns the state after the transition, or an error on `id` that names the mutation to use
    /// when the cycle is not in a state the transition starts from.
    pub fn apply(self, current: CycleState) -> Result<CycleState, ValidationError> {
        let next_step = match (self, current) {
            (Self::Activate, CycleState::Planned) => return Ok(CycleState::Active),
            (Self::Close, CycleState::Planned | CycleState::Active) => {
                return Ok(CycleState::Closed);
            }
            (Self::Reopen, CycleState::Closed) => return Ok(CycleState::Active),
            (Self::Activate, CycleState::Active) => {
                "the cycle is already ACTIVE, so it cannot be activated; no change is needed"
            }
            (Self::Activate, CycleState::Closed) => {
                "the cycle is CLOSED, so it cannot be activated; reopen it with reopenCycle first, which makes it ACTIVE again"
            }
            (Self::Close, CycleState::Closed) => {
                "the cycle is already CLOSED, so it cannot be closed; use reopenCycle to make it ACTIVE again"
            }
            (Self::Reopen, CycleState::Planned) => {
                "the cycle is PLANNED, so it cannot be reopened; only a CLOSED cycle can be reopened, and activateCycle starts a PLANNED one"
            }
            (Self::Reopen, CycleState::Active) => {
                "the cycle is ACTIVE, so it cannot be reopened; only a CLOSED cycle can be reopened, and closeCycle closes it"
            }
        };
        Err(ValidationError::new(
            "id",
            ErrorCode::InvalidTransition,
            next_step,
        ))
    }
}

string_enum!(
    /// How an objective's success is judged at close.
    ObjectiveKind {
        /// Must be reached in full: success needs a score of 1.0.
        Committed => "COMMITTED",
        /// A stretch goal: success needs a score of 0.7.
        Aspirational => "ASPIRATIONAL",
    }
);

string_enum!(
    /// The state of an objective.
    ObjectiveState {
        Draft => "DRAFT",
        Active => "ACTIVE",
        Closed => "CLOSED",
        Archived => "ARCHIVED",
    }
);

impl ObjectiveState {
    /// Whether an objective may move from this state to `next`. Archiving is final.
    pub fn can_become(self, next: Self) -> bool {
        matches!(
            (self, next),
            (Self::Draft, Self::Active)
                | (Self::Active, Self::Closed)
                | (Self::Closed, Self::Active)
                | (Self::Active, Self::Draft)
                | (Self::Draft | Self::Active | Self::Closed, Self::Archived)
        )
    }
}

string_enum!(
    /// Which inputs an objective's progress is computed from.
    ProgressSource {
        KeyResults => "KEY_RESULTS",
        ChildObjectives => "CHILD_OBJECTIVES",
        Both => "BOTH",
    }
);

impl ProgressSource {
    pub const fn uses_key_results(self) -> bool {
        matches!(self, Self::KeyResults | Self::Both)
    }

    pub const fn uses_child_objectives(self) -> bool {
        matches!(self, Self::ChildObjectives | Self::Both)
    }
}

string_enum!(
    /// How a key result's progress follows its current value.
    KeyResultType {
        /// From a start value up to a higher target.
        IncreaseTo => "INCREASE_TO",
        /// From a start value down to a lower target.
        DecreaseTo => "DECREASE_TO",
        /// Done while the value is at or above the target.
        StayAtOrAbove => "STAY_AT_OR_ABOVE",
        /// Done while the value is at or below the target.
        StayAtOrBelow => "STAY_AT_OR_BELOW",
        /// Done or not done.
        Boolean => "BOOLEAN",
    }
);

string_enum!(
    /// The kind of unit of a key result or KPI.
    UnitKind {
        Number => "NUMBER",
        Percent => "PERCENT",
        Currency => "CURRENCY",
    }
);

/// The unit of a key result or KPI; currency amounts carry their currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    Number,
    Percent,
    Currency(CurrencyCode),
}

impl Unit {
    /// Builds a unit; a currency code is required for CURRENCY and rejected otherwise.
    pub fn new(kind: UnitKind, currency: Option<CurrencyCode>) -> Result<Self, ValidationError> {
        match (kind, currency) {
            (UnitKind::Number, None) => Ok(Self::Number),
            (UnitKind::Percent, None) => Ok(Self::Percent),
            (UnitKind::Currency, Some(code)) => Ok(Self::Currency(code)),
            (UnitKind::Currency, None) => Err(ValidationError::new(
                "currencyCode",
                ErrorCode::Invalid,
                "is required when the unit is CURRENCY",
            )),
            (_, Some(_)) => Err(ValidationError::new(
                "currencyCode",
                ErrorCode::Invalid,
                "is only allowed when the unit is CURRENCY",
            )),
        }
    }

    pub const fn kind(self) -> UnitKind {
        match self {
            Self::Number => UnitKind::Number,
            Self::Percent => UnitKind::Percent,
            Self::Currency(_) => UnitKind::Currency,
        }
    }

    pub const fn currency(self) -> Option<CurrencyCode> {
        match self {
            Self::Currency(code) => Some(code),
            _ => None,
        }
    }
}

/// The validated definition of a key result's measure: its type, start and target.
///
/// BOOLEAN measures run from 0 (not done) to 1 (done). For STAY_AT_OR_ABOVE and
/// STAY_AT_OR_BELOW the start value is where the metric stands when the key result is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measure {
    kind: KeyResultType,
    start: MetricValue,
    target: MetricValue,
}

impl Measure {
    /// Validates a measure. The errors name `startValue` or `targetValue`.
    pub fn new(
        kind: KeyResultType,
        start: Option<MetricValue>,
        target: Option<MetricValue>,
    ) -> Result<Self, ValidationError> {
        let required = |value: Option<MetricValue>, field: &str| {
            value.ok_or_else(|| {
                ValidationError::new(
                    field,
                    ErrorCode::Invalid,
                    format!("is required for {} key results", kind.as_str()),
                )
            })
        };
        match kind {
            KeyResultType::Boolean => {
                for (value, field) in [(start, "startValue"), (target, "targetValue")] {
                    if value.is_some() {
                        return Err(ValidationError::new(
                            field,
                            ErrorCode::Invalid,
                            "must be left out for BOOLEAN key results, which run from not done to done",
                        ));
                    }
                }
                Ok(Self {
                    kind,
                    start: MetricValue::zero(),
                    target: MetricValue::one(),
                })
            }
            KeyResultType::IncreaseTo | KeyResultType::DecreaseTo => {
                let start = required(start, "startValue")?;
                let target = required(target, "targetValue")?;
                if start == target {
                    return Err(ValidationError::new(
                        "targetValue",
                        ErrorCode::Invalid,
                        format!(
                            "must differ from the start value {start}, or there is nothing to progress"
                        ),
                    ));
                }
                if kind == KeyResultType::IncreaseTo && target < start {
                    return Err(ValidationError::new(
                        "targetValue",
                        ErrorCode::Invalid,
                        format!(
                            "{target} is below the start value {start}; an INCREASE_TO target must be higher (use DECREASE_TO to go down)"
                        ),
                    ));
                }
                if kind == KeyResultType::DecreaseTo && target > start {
                    return Err(ValidationError::new(
                        "targetValue",
                        ErrorCode::Invalid,
                        format!(
                            "{target} is above the start value {start}; a DECREASE_TO target must be lower (use INCREASE_TO to go up)"
                        ),
                    ));
                }
                Ok(Self {
                    kind,
                    start,
                    target,
                })
            }
            KeyResultType::StayAtOrAbove | KeyResultType::StayAtOrBelow => {
                let target = required(target, "targetValue")?;
                Ok(Self {
                    kind,
                    start: start.unwrap_or(target),
                    target,
                })
            }
        }
    }

    pub const fn kind(&self) -> KeyResultType {
        self.kind
    }

    pub const fn start(&self) -> MetricValue {
        self.start
    }

    pub const fn target(&self) -> MetricValue {
        self.target
    }

    /// The target as clients see it: none for BOOLEAN.
    pub fn visible_target(&self) -> Option<MetricValue> {
        (self.kind != KeyResultType::Boolean).then_some(self.target)
    }

    /// The start as clients see it: none for BOOLEAN.
    pub fn visible_start(&self) -> Option<MetricValue> {
        (self.kind != KeyResultType::Boolean).then_some(self.start)
    }
}

string_enum!(
    /// Where a check-in or measurement came from.
    Source {
        /// A person, through the API.
        User => "USER",
        /// An integration, with an API token.
        ApiToken => "API_TOKEN",
        /// A KPI measurement that drives a linked key result.
        Kpi => "KPI",
    }
);

string_enum!(
    /// How often a KPI is expected to be measured.
    KpiFrequency {
        Daily => "DAILY",
        Weekly => "WEEKLY",
        Monthly => "MONTHLY",
        Quarterly => "QUARTERLY",
    }
);

/// Organization-wide settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrganizationSettings {
    pub time_zone: TimeZone,
    pub check_in_cadence: CheckInCadence,
    /// Maximum objectives per owner per cycle.
    pub objective_limit: CountLimit,
    /// Maximum key results per objective.
    pub key_result_limit: CountLimit,
    /// Whether exceeding a limit rejects the change (`true`) or only warns (`false`).
    pub enforce_limits: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: Name,
    pub settings: OrganizationSettings,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: UserId,
    /// The identity provider's subject (`sub` claim); none for an invited user who has not
    /// signed in yet.
    pub external_id: Option<String>,
    pub email: Option<Email>,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Membership {
    pub id: MembershipId,
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub role: Role,
    pub version: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Team {
    pub id: TeamId,
    pub organization_id: OrganizationId,
    pub name: Name,
    pub description: Option<Description>,
    pub parent_id: Option<TeamId>,
    pub external_key: Option<ExternalKey>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cycle {
    pub id: CycleId,
    pub organization_id: OrganizationId,
    pub name: Name,
    /// First day, inclusive, in the organization's time zone.
    pub start_date: NaiveDate,
    /// Last day, inclusive, in the organization's time zone.
    pub end_date: NaiveDate,
    pub parent_id: Option<CycleId>,
    pub state: CycleState,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub id: ObjectiveId,
    pub organization_id: OrganizationId,
    pub cycle_id: CycleId,
    pub team_id: Option<TeamId>,
    pub owner_id: Option<UserId>,
    pub parent_id: Option<ObjectiveId>,
    pub title: Title,
    pub description: Option<Description>,
    pub kind: ObjectiveKind,
    pub state: ObjectiveState,
    pub progress_source: ProgressSource,
    pub weight: Weight,
    /// Weighted progress of the inputs, from 0 to 1.
    pub progress: Decimal,
    pub milestones: Milestones,
    /// The frozen score, set when the cycle closes.
    pub score: Option<Decimal>,
    /// The objective this one was rolled over or duplicated from.
    pub copied_from: Option<ObjectiveId>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KeyResult {
    pub id: KeyResultId,
    pub organization_id: OrganizationId,
    pub objective_id: ObjectiveId,
    pub owner_id: Option<UserId>,
    pub title: Title,
    pub description: Option<Description>,
    pub measure: Measure,
    pub unit: Unit,
    pub weight: Weight,
    pub current_value: MetricValue,
    /// The unclamped progress ratio; 1.25 means 25 % over target.
    pub progress_ratio: Decimal,
    pub kpi_id: Option<KpiId>,
    pub manual_grade: Option<Grade>,
    pub grade_note: Option<Description>,
    /// The frozen score, set when the cycle closes.
    pub score: Option<Decimal>,
    /// The check-in with the latest observed-at time, which sets the current value.
    pub current_check_in_id: Option<CheckInId>,
    pub current_observed_at: Option<DateTime<Utc>>,
    pub latest_confidence: Option<Confidence>,
    pub milestones: Milestones,
    pub external_key: Option<ExternalKey>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

impl Kpi {
    /// The health of the latest measurement.
    pub fn health(&self) -> crate::kpi::KpiHealth {
        self.thresholds.health(self.latest_value)
    }
}

impl KeyResult {
    /// Progress clamped to [0, 1], the figure that rolls up.
    pub fn progress(&self) -> Decimal {
        crate::progress::clamp_unit(self.progress_ratio)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CheckIn {
    pub id: CheckInId,
    pub organization_id: OrganizationId,
    pub key_result_id: KeyResultId,
    pub value: MetricValue,
    pub confidence: Option<Confidence>,
    pub comment: Option<Description>,
    pub author_id: Option<UserId>,
    pub api_token_id: Option<ApiTokenId>,
    pub source: Source,
    /// When the value was true, which may lie in the past (a backfill).
    pub observed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Kpi {
    pub id: KpiId,
    pub organization_id: OrganizationId,
    pub name: Name,
    pub description: Option<Description>,
    pub unit: Unit,
    pub thresholds: KpiThresholds,
    pub frequency: KpiFrequency,
    pub owner_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub external_key: Option<ExternalKey>,
    /// The value of the measurement with the latest observed-at time.
    pub latest_value: Option<MetricValue>,
    pub latest_observed_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KpiMeasurement {
    pub id: KpiMeasurementId,
    pub organization_id: OrganizationId,
    pub kpi_id: KpiId,
    pub value: MetricValue,
    pub source: Source,
    pub observed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a comment is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommentSubject {
    Objective(ObjectiveId),
    KeyResult(KeyResultId),
    CheckIn(CheckInId),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub id: CommentId,
    pub organization_id: OrganizationId,
    pub subject: CommentSubject,
    pub author_id: Option<UserId>,
    pub body: crate::values::CommentBody,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Option<MetricValue> {
        Some(MetricValue::parse(text).unwrap())
    }

    #[test]
    fn measure_rejects_target_equal_to_start() {
        for kind in [KeyResultType::IncreaseTo, KeyResultType::DecreaseTo] {
            let error = Measure::new(kind, value("10"), value("10")).unwrap_err();
            assert_eq!(error.field, "targetValue");
            assert_eq!(error.code, ErrorCode::Invalid);
        }
    }

    #[test]
    fn measure_rejects_contradicting_direction() {
        let error = Measure::new(KeyResultType::IncreaseTo, value("10"), value("5")).unwrap_err();
        assert_eq!(error.field, "targetValue");
        assert!(error.message.contains("DECREASE_TO"));
        let error = Measure::new(KeyResultType::DecreaseTo, value("5"), value("10")).unwrap_err();
        assert!(error.message.contains("INCREASE_TO"));
    }

    #[test]
    fn measure_requires_start_and_target() {
        let error = Measure::new(KeyResultType::IncreaseTo, None, value("5")).unwrap_err();
        assert_eq!(error.field, "startValue");
        let error = Measure::new(KeyResultType::StayAtOrAbove, value("1"), None).unwrap_err();
        assert_eq!(error.field, "targetValue");
    }

    #[test]
    fn measure_boolean_takes_no_values() {
        let error = Measure::new(KeyResultType::Boolean, None, value("1")).unwrap_err();
        assert_eq!(error.field, "targetValue");
        let measure = Measure::new(KeyResultType::Boolean, None, None).unwrap();
        assert_eq!(measure.visible_target(), None);
    }

    #[test]
    fn measure_stay_defaults_start_to_target() {
        let measure = Measure::new(KeyResultType::StayAtOrBelow, None, value("3")).unwrap();
        assert_eq!(measure.start(), MetricValue::parse("3").unwrap());
    }

    #[test]
    fn unit_currency_code_rules() {
        let eur = CurrencyCode::parse("EUR").unwrap();
        assert_eq!(
            Unit::new(UnitKind::Currency, Some(eur)).unwrap().currency(),
            Some(eur)
        );
        assert_eq!(
            Unit::new(UnitKind::Currency, None).unwrap_err().field,
            "currencyCode"
        );
        assert_eq!(
            Unit::new(UnitKind::Percent, Some(eur)).unwrap_err().field,
            "currencyCode"
        );
    }

    #[test]
    fn role_ordering() {
        assert!(Role::Owner.includes(Role::Admin));
        assert!(Role::Admin.includes(Role::Member));
        assert!(!Role::Viewer.includes(Role::Member));
        assert!(Role::Member.includes(Role::Member));
    }

    #[test]
    fn cycle_transitions() {
        use CycleTransition::{Activate, Close, Reopen};
        assert_eq!(Activate.apply(CycleState::Planned), Ok(CycleState::Active));
        assert_eq!(Close.apply(CycleState::Active), Ok(CycleState::Closed));
        assert_eq!(Close.apply(CycleState::Planned), Ok(CycleState::Closed));
        assert_eq!(Reopen.apply(CycleState::Closed), Ok(CycleState::Active));
        assert_eq!(
            Activate.apply(CycleState::Closed).unwrap_err().code,
            ErrorCode::InvalidTransition
        );
        assert!(Reopen.apply(CycleState::Active).is_err());
        assert!(Close.apply(CycleState::Closed).is_err());
    }

    #[test]
    fn invalid_cycle_transitions_name_next_step() {
        use CycleTransition::{Activate, Close, Reopen};
        let cases = [
            (Activate, CycleState::Closed, "reopenCycle"),
            (Activate, CycleState::Active, "already ACTIVE"),
            (Close, CycleState::Closed, "reopenCycle"),
            (Reopen, CycleState::Planned, "activateCycle"),
            (Reopen, CycleState::Active, "closeCycle"),
        ];
        for (transition, state, hint) in cases {
            let error = transition.apply(state).unwrap_err();
            assert_eq!(error.field, "id");
            assert!(
                error.message.contains(hint),
                "{transition:?} from {state:?}: {}",
                error.message
            );
        }
    }

    #[test]
    fn objective_archive_is_final() {
        for next in ObjectiveState::ALL {
            assert!(!ObjectiveState::Archived.can_become(*next));
        }
    }

    #[test]
    fn string_enum_round_trip() {
        for kind in KeyResultType::ALL {
            assert_eq!(KeyResultType::from_name(kind.as_str()), Some(*kind));
        }
        assert_eq!(KeyResultType::from_name("SIDEWAYS"), None);
    }
}
