//! Bulk inserts on PostgreSQL that bind one JSON parameter instead of one per value.
//!
//! A multi-row `INSERT … VALUES` of 500 rows with 12 columns binds 6,000 parameters.
//! Building such statements and encoding their parameters took 28 % of the server's
//! instructions for a batch of 1,000 KPI measurements (callgrind, see BENCHMARKS.md).
//! Here the rows travel as one JSON array that `json_to_recordset` expands on the server.
//! SQLite keeps the multi-row statements of [`crate::page::insert_chunked`].

use crate::entities::{check_in, event, kpi_measurement};
use crate::error::StoreError;
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde::Serialize;
use uuid::Uuid;

/// Formats a time as PostgreSQL reads it, truncated to microseconds as sqlx binds it, so
/// that a row inserted here stores the same instant as one inserted with bound parameters.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Inserts `rows` into `table` with one statement. `columns` lists each column's name and
/// PostgreSQL type, and every row serializes to an object with those names as keys.
/// `conflict` is appended as is: empty, or an `ON CONFLICT` clause.
async fn insert_json<C, R>(
    db: &C,
    table: &str,
    columns: &[(&str, &str)],
    conflict: &str,
    rows: &[R],
) -> Result<(), StoreError>
where
    C: ConnectionTrait,
    R: Serialize,
{
    if rows.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let names = names.join(", ");
    let definitions: Vec<String> = columns
        .iter()
        .map(|(name, kind)| format!("{name} {kind}"))
        .collect();
    let definitions = definitions.join(", ");
    let sql = format!(
        "INSERT INTO {table} ({names}) SELECT {names} FROM json_to_recordset($1::json) AS row_values({definitions}) {conflict}"
    );
    let json = serde_json::to_string(rows)
        .map_err(|error| StoreError::Corrupt(format!("{table} rows do not serialize: {error}")))?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [Value::from(json)],
    ))
    .await?;
    Ok(())
}

/// An `events` row as `json_to_recordset` reads it.
#[derive(Serialize)]
struct EventRow<'a> {
    id: Uuid,
    organization_id: Uuid,
    sequence: i64,
    event_type: &'a str,
    topic: &'a str,
    payload: &'a str,
    team_id: Option<Uuid>,
    cycle_id: Option<Uuid>,
    objective_id: Option<Uuid>,
    key_result_id: Option<Uuid>,
    kpi_id: Option<Uuid>,
    occurred_at: String,
}

const EVENT_COLUMNS: [(&str, &str); 12] = [
    ("id", "uuid"),
    ("organization_id", "uuid"),
    ("sequence", "bigint"),
    ("event_type", "text"),
    ("topic", "text"),
    ("payload", "text"),
    ("team_id", "uuid"),
    ("cycle_id", "uuid"),
    ("objective_id", "uuid"),
    ("key_result_id", "uuid"),
    ("kpi_id", "uuid"),
    ("occurred_at", "timestamptz"),
];

/// Inserts outbox rows on PostgreSQL with one statement.
pub(crate) async fn insert_events<C: ConnectionTrait>(
    db: &C,
    rows: &[event::Model],
) -> Result<(), StoreError> {
    let rows: Vec<EventRow<'_>> = rows
        .iter()
        .map(|row| EventRow {
            id: row.id,
            organization_id: row.organization_id,
            sequence: row.sequence,
            event_type: &row.event_type,
            topic: &row.topic,
            payload: &row.payload,
            team_id: row.team_id,
            cycle_id: row.cycle_id,
            objective_id: row.objective_id,
            key_result_id: row.key_result_id,
            kpi_id: row.kpi_id,
            occurred_at: timestamp(row.occurred_at),
        })
        .collect();
    insert_json(db, "events", &EVENT_COLUMNS, "", &rows).await
}

/// A `kpi_measurements` row as `json_to_recordset` reads it.
#[derive(Serialize)]
struct MeasurementRow<'a> {
    id: Uuid,
    organization_id: Uuid,
    kpi_id: Uuid,
    observed_at: String,
    value: &'a str,
    source: &'a str,
    created_at: String,
    updated_at: String,
}

const MEASUREMENT_COLUMNS: [(&str, &str); 8] = [
    ("id", "uuid"),
    ("organization_id", "uuid"),
    ("kpi_id", "uuid"),
    ("observed_at", "timestamptz"),
    ("value", "text"),
    ("source", "text"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
];

/// Inserts KPI measurements on PostgreSQL with one statement. A row whose KPI and
/// observed-at time already have a measurement replaces that measurement's value, source
/// and update time, and keeps its id and creation time.
pub(crate) async fn upsert_measurements<C: ConnectionTrait>(
    db: &C,
    rows: &[kpi_measurement::Model],
) -> Result<(), StoreError> {
    let rows: Vec<MeasurementRow<'_>> = rows
        .iter()
        .map(|row| MeasurementRow {
            id: row.id,
            organization_id: row.organization_id,
            kpi_id: row.kpi_id,
            observed_at: timestamp(row.observed_at),
            value: &row.value,
            source: &row.source,
            created_at: timestamp(row.created_at),
            updated_at: timestamp(row.updated_at),
        })
        .collect();
    insert_json(
        db,
        "kpi_measurements",
        &MEASUREMENT_COLUMNS,
        "ON CONFLICT (kpi_id, observed_at) DO UPDATE SET value = excluded.value, source = excluded.source, updated_at = excluded.updated_at",
        &rows,
    )
    .await
}

/// A `check_ins` row as `json_to_recordset` reads it.
#[derive(Serialize)]
struct CheckInRow<'a> {
    id: Uuid,
    organization_id: Uuid,
    key_result_id: Uuid,
    value: &'a str,
    confidence: Option<i16>,
    comment: Option<&'a str>,
    author_id: Option<Uuid>,
    api_token_id: Option<Uuid>,
    source: &'a str,
    observed_at: String,
    created_at: String,
}

const CHECK_IN_COLUMNS: [(&str, &str); 11] = [
    ("id", "uuid"),
    ("organization_id", "uuid"),
    ("key_result_id", "uuid"),
    ("value", "text"),
    ("confidence", "smallint"),
    ("comment", "text"),
    ("author_id", "uuid"),
    ("api_token_id", "uuid"),
    ("source", "text"),
    ("observed_at", "timestamptz"),
    ("created_at", "timestamptz"),
];

/// Inserts check-ins on PostgreSQL with one statement.
pub(crate) async fn insert_check_ins<C: ConnectionTrait>(
    db: &C,
    rows: &[check_in::Model],
) -> Result<(), StoreError> {
    let rows: Vec<CheckInRow<'_>> = rows
        .iter()
        .map(|row| CheckInRow {
            id: row.id,
            organization_id: row.organization_id,
            key_result_id: row.key_result_id,
            value: &row.value,
            confidence: row.confidence,
            comment: row.comment.as_deref(),
            author_id: row.author_id,
            api_token_id: row.api_token_id,
            source: &row.source,
            observed_at: timestamp(row.observed_at),
            created_at: timestamp(row.created_at),
        })
        .collect();
    insert_json(db, "check_ins", &CHECK_IN_COLUMNS, "", &rows).await
}

/// A new value for the check-in `id`.
#[derive(Serialize)]
struct CheckInValue<'a> {
    id: Uuid,
    value: &'a str,
}

/// Sets the values of an organization's check-ins by id on PostgreSQL with one statement.
pub(crate) async fn update_check_in_values<C: ConnectionTrait>(
    db: &C,
    organization_id: Uuid,
    updates: &[(Uuid, String)],
) -> Result<(), StoreError> {
    if updates.is_empty() {
        return Ok(());
    }
    let rows: Vec<CheckInValue<'_>> = updates
        .iter()
        .map(|(id, value)| CheckInValue { id: *id, value })
        .collect();
    let json = serde_json::to_string(&rows).map_err(|error| {
        StoreError::Corrupt(format!("check-in values do not serialize: {error}"))
    })?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE check_ins SET value = row_values.value FROM json_to_recordset($1::json) AS row_values(id uuid, value text) WHERE check_ins.id = row_values.id AND check_ins.organization_id = $2",
        [Value::from(json), Value::from(organization_id)],
    ))
    .await?;
    Ok(())
}
