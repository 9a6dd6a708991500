//! Mapping between table rows and domain values.
//!
//! Rows written by Headway always convert; a failure means the data was edited outside it
//! and becomes [`StoreError::Corrupt`].

use crate::entities::{
    check_in, comment, cycle, key_result, kpi, kpi_measurement, membership, objective,
    organization, team, user,
};
use crate::error::StoreError;
use chrono::{DateTime, SubsecRound, Utc};
use headway_domain::kpi::{KpiDirection, KpiThresholds, ThresholdFields};
use headway_domain::model::{
    CheckIn, Comment, CommentSubject, Cycle, CycleState, KeyResult, KeyResultType, Kpi,
    KpiFrequency, KpiMeasurement, Measure, Membership, Objective, ObjectiveKind, ObjectiveState,
    Organization, OrganizationSettings, ProgressSource, Role, Source, Team, Unit, UnitKind, User,
};
use headway_domain::progress::Milestones;
use headway_domain::values::{
    CheckInCadence, CommentBody, Confidence, CountLimit, CurrencyCode, Description, Email,
    ExternalKey, Grade, MetricValue, Name, TimeZone, Title, Weight,
};
use rust_decimal::Decimal;

/// Truncates an instant to microseconds, the precision of PostgreSQL timestamps, so that a
/// value compares equal after a round trip through either database.
pub(crate) fn storable_instant(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant.trunc_subsecs(6)
}

fn corrupt(table: &str, column: &str, value: &str) -> StoreError {
    let shown: String = value.chars().take(40).collect();
    StoreError::Corrupt(format!("{table}.{column} holds \"{shown}\""))
}

pub(crate) fn decimal(table: &str, column: &str, text: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str_exact(text).map_err(|_| corrupt(table, column, text))
}

pub(crate) fn metric(table: &str, column: &str, text: &str) -> Result<MetricValue, StoreError> {
    MetricValue::new(decimal(table, column, text)?).map_err(|_| corrupt(table, column, text))
}

fn optional_metric(
    table: &str,
    column: &str,
    text: Option<&str>,
) -> Result<Option<MetricValue>, StoreError> {
    text.map(|text| metric(table, column, text)).transpose()
}

fn weight(table: &str, text: &str) -> Result<Weight, StoreError> {
    Weight::new(decimal(table, "weight", text)?).map_err(|_| corrupt(table, "weight", text))
}

fn enum_value<T>(
    table: &str,
    column: &str,
    text: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| corrupt(table, column, text))
}

fn name(table: &str, text: &str) -> Result<Name, StoreError> {
    Name::parse(text).map_err(|_| corrupt(table, "name", text))
}

fn title(table: &str, text: &str) -> Result<Title, StoreError> {
    Title::parse(text).map_err(|_| corrupt(table, "title", text))
}

fn description(table: &str, text: Option<&str>) -> Result<Option<Description>, StoreError> {
    match text {
        Some(text) => {
            Description::parse_optional(text).map_err(|_| corrupt(table, "description", text))
        }
        None => Ok(None),
    }
}

fn external_key(table: &str, text: Option<&str>) -> Result<Option<ExternalKey>, StoreError> {
    text.map(|text| ExternalKey::parse(text).map_err(|_| corrupt(table, "external_key", text)))
        .transpose()
}

fn unit(table: &str, kind: &str, currency: Option<&str>) -> Result<Unit, StoreError> {
    let kind = enum_value(table, "unit", kind, UnitKind::from_name)?;
    let currency = currency
        .map(|code| {
            CurrencyCode::parse_stored(code).map_err(|_| corrupt(table, "currency_code", code))
        })
        .transpose()?;
    Unit::new(kind, currency).map_err(|_| corrupt(table, "unit", kind.as_str()))
}

fn milestones(bits: i16) -> Milestones {
    Milestones::from_bits(u8::try_from(bits).unwrap_or_default())
}

fn confidence(table: &str, level: Option<i16>) -> Result<Option<Confidence>, StoreError> {
    level
        .map(|level| {
            Confidence::new(i64::from(level))
                .map_err(|_| corrupt(table, "confidence", &level.to_string()))
        })
        .transpose()
}

pub(crate) fn organization(row: organization::Model) -> Result<Organization, StoreError> {
    let table = "organizations";
    let settings = OrganizationSettings {
        time_zone: TimeZone::parse(&row.time_zone)
            .map_err(|_| corrupt(table, "time_zone", &row.time_zone))?,
        check_in_cadence: CheckInCadence::new(i64::from(row.check_in_cadence_days)).map_err(
            |_| {
                corrupt(
                    table,
                    "check_in_cadence_days",
                    &row.check_in_cadence_days.to_string(),
                )
            },
        )?,
        objective_limit: CountLimit::new(i64::from(row.objective_limit))
            .map_err(|_| corrupt(table, "objective_limit", &row.objective_limit.to_string()))?,
        key_result_limit: CountLimit::new(i64::from(row.key_result_limit))
            .map_err(|_| corrupt(table, "key_result_limit", &row.key_result_limit.to_string()))?,
        enforce_limits: row.enforce_limits,
    };
    Ok(Organization {
        id: row.id.into(),
        name: name(table, &row.name)?,
        settings,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(crate) fn user(row: user::Model) -> Result<User, StoreError> {
    let email = row
        .email
        .as_deref()
        .map(|email| Email::parse(email).map_err(|_| corrupt("users", "email", email)))
        .transpose()?;
    Ok(User {
        id: row.id.into(),
        external_id: row.external_id,
        email,
        name: row.name,
        created_at: row.created_at,
    })
}

pub(crate) fn membership(row: membership::Model) -> Result<Membership, StoreError> {
    Ok(Membership {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        user_id: row.user_id.into(),
        role: enum_value("memberships", "role", &row.role, Role::from_name)?,
        version: row.version,
        created_at: row.created_at,
    })
}

pub(crate) fn team(row: team::Model) -> Result<Team, StoreError> {
    let table = "teams";
    Ok(Team {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        name: name(table, &row.name)?,
        description: description(table, row.description.as_deref())?,
        parent_id: row.parent_id.map(Into::into),
        external_key: external_key(table, row.external_key.as_deref())?,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        archived_at: row.archived_at,
    })
}

pub(crate) fn cycle(row: cycle::Model) -> Result<Cycle, StoreError> {
    let table = "cycles";
    Ok(Cycle {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        name: name(table, &row.name)?,
        start_date: row.start_date,
        end_date: row.end_date,
        parent_id: row.parent_id.map(Into::into),
        state: enum_value(table, "state", &row.state, CycleState::from_name)?,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        archived_at: row.archived_at,
    })
}

pub(crate) fn objective(row: objective::Model) -> Result<Objective, StoreError> {
    let table = "objectives";
    Ok(Objective {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        cycle_id: row.cycle_id.into(),
        team_id: row.team_id.map(Into::into),
        owner_id: row.owner_id.map(Into::into),
        parent_id: row.parent_id.map(Into::into),
        title: title(table, &row.title)?,
        description: description(table, row.description.as_deref())?,
        kind: enum_value(table, "kind", &row.kind, ObjectiveKind::from_name)?,
        state: enum_value(table, "state", &row.state, ObjectiveState::from_name)?,
        progress_source: enum_value(
            table,
            "progress_source",
            &row.progress_source,
            ProgressSource::from_name,
        )?,
        weight: weight(table, &row.weight)?,
        progress: decimal(table, "progress", &row.progress)?,
        milestones: milestones(row.milestones),
        score: row
            .score
            .as_deref()
            .map(|score| decimal(table, "score", score))
            .transpose()?,
        copied_from: row.copied_from_id.map(Into::into),
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(crate) fn key_result(row: key_result::Model) -> Result<KeyResult, StoreError> {
    let table = "key_results";
    let kind = enum_value(table, "kind", &row.kind, KeyResultType::from_name)?;
    let start = metric(table, "start_value", &row.start_value)?;
    let target = metric(table, "target_value", &row.target_value)?;
    let measure = if kind == KeyResultType::Boolean {
        Measure::new(kind, None, None)
    } else {
        Measure::new(kind, Some(start), Some(target))
    }
    .map_err(|_| corrupt(table, "target_value", &row.target_value))?;
    let manual_grade = row
        .manual_grade
        .as_deref()
        .map(|text| {
            Grade::new(decimal(table, "manual_grade", text)?)
                .map_err(|_| corrupt(table, "manual_grade", text))
        })
        .transpose()?;
    Ok(KeyResult {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        objective_id: row.objective_id.into(),
        owner_id: row.owner_id.map(Into::into),
        title: title(table, &row.title)?,
        description: description(table, row.description.as_deref())?,
        measure,
        unit: unit(table, &row.unit, row.currency_code.as_deref())?,
        weight: weight(table, &row.weight)?,
        current_value: metric(table, "current_value", &row.current_value)?,
        progress_ratio: decimal(table, "progress_ratio", &row.progress_ratio)?,
        kpi_id: row.kpi_id.map(Into::into),
        manual_grade,
        grade_note: description(table, row.grade_note.as_deref())?,
        score: row
            .score
            .as_deref()
            .map(|score| decimal(table, "score", score))
            .transpose()?,
        current_check_in_id: row.current_check_in_id.map(Into::into),
        current_observed_at: row.current_observed_at,
        latest_confidence: confidence(table, row.latest_confidence)?,
        milestones: milestones(row.milestones),
        external_key: external_key(table, row.external_key.as_deref())?,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        archived_at: row.archived_at,
    })
}

pub(crate) fn check_in(row: check_in::Model) -> Result<CheckIn, StoreError> {
    let table = "check_ins";
    Ok(CheckIn {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        key_result_id: row.key_result_id.into(),
        value: metric(table, "value", &row.value)?,
        confidence: confidence(table, row.confidence)?,
        comment: description(table, row.comment.as_deref())?,
        author_id: row.author_id.map(Into::into),
        api_token_id: row.api_token_id.map(Into::into),
        source: enum_value(table, "source", &row.source, Source::from_name)?,
        observed_at: row.observed_at,
        created_at: row.created_at,
    })
}

pub(crate) fn kpi(row: kpi::Model) -> Result<Kpi, StoreError> {
    let table = "kpis";
    let direction = enum_value(table, "direction", &row.direction, KpiDirection::from_name)?;
    let fields = ThresholdFields {
        target: optional_metric(table, "target_value", row.target_value.as_deref())?,
        warning: optional_metric(table, "warning_value", row.warning_value.as_deref())?,
        range_low: optional_metric(table, "range_low", row.range_low.as_deref())?,
        range_high: optional_metric(table, "range_high", row.range_high.as_deref())?,
        warning_margin: optional_metric(table, "warning_margin", row.warning_margin.as_deref())?,
    };
    let thresholds = KpiThresholds::new(direction, fields)
        .map_err(|error| corrupt(table, &error.field, &error.message))?;
    Ok(Kpi {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        name: name(table, &row.name)?,
        description: description(table, row.description.as_deref())?,
        unit: unit(table, &row.unit, row.currency_code.as_deref())?,
        thresholds,
        frequency: enum_value(table, "frequency", &row.frequency, KpiFrequency::from_name)?,
        owner_id: row.owner_id.map(Into::into),
        team_id: row.team_id.map(Into::into),
        external_key: external_key(table, row.external_key.as_deref())?,
        latest_value: optional_metric(table, "latest_value", row.latest_value.as_deref())?,
        latest_observed_at: row.latest_observed_at,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        archived_at: row.archived_at,
    })
}

pub(crate) fn kpi_measurement(row: kpi_measurement::Model) -> Result<KpiMeasurement, StoreError> {
    let table = "kpi_measurements";
    Ok(KpiMeasurement {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        kpi_id: row.kpi_id.into(),
        value: metric(table, "value", &row.value)?,
        source: enum_value(table, "source", &row.source, Source::from_name)?,
        observed_at: row.observed_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(crate) fn comment(row: comment::Model) -> Result<Comment, StoreError> {
    let table = "comments";
    let subject = match (row.objective_id, row.key_result_id, row.check_in_id) {
        (Some(id), None, None) => CommentSubject::Objective(id.into()),
        (None, Some(id), None) => CommentSubject::KeyResult(id.into()),
        (None, None, Some(id)) => CommentSubject::CheckIn(id.into()),
        _ => return Err(corrupt(table, "subject", &row.id.to_string())),
    };
    Ok(Comment {
        id: row.id.into(),
        organization_id: row.organization_id.into(),
        subject,
        author_id: row.author_id.map(Into::into),
        body: CommentBody::parse(&row.body).map_err(|_| corrupt(table, "body", &row.body))?,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        archived_at: row.archived_at,
    })
}

/// Converts every row, failing on the first that does not convert.
pub(crate) fn all<R, T>(
    rows: Vec<R>,
    convert: fn(R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(convert).collect()
}
