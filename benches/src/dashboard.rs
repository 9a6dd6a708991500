//! The dashboard query in three forms: Headway's, PostGraphile's equivalent nested query,
//! and the raw SQL baseline that fetches the same data in one statement.

use crate::api::global_id_uuid;
use crate::load::Probe;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::postgres::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// A cycle's objectives with their key results, progress, pace status, latest confidence
/// and last check-in.
pub const HEADWAY_QUERY: &str = "query($cycle: ID!) { node(id: $cycle) { ... on Cycle { objectives(first: 100) { nodes { id title progress paceStatus owner { name } keyResults(first: 20) { nodes { id title type progress paceStatus latestConfidence lastCheckIn { value observedAt } } } } } } } }";

/// The same selection in PostGraphile 4's default naming. PostGraphile returns the stored
/// progress figures and the cycle's dates; it does not compute progress or pace status.
pub const POSTGRAPHILE_QUERY: &str = "query($cycle: UUID!) { cycleById(id: $cycle) { startDate endDate objectivesByCycleId(first: 100, orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes { id title progress userByOwnerId { name } keyResultsByObjectiveId(first: 20, orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes { id title kind progressRatio latestConfidence checkInsByKeyResultId(first: 1, orderBy: [OBSERVED_AT_DESC, CREATED_AT_DESC]) { nodes { value observedAt } } } } } } } }";

/// One statement: the cycle's first 100 objectives, each with its owner, its first 20 key
/// results and each key result's current check-in.
const RAW_QUERY: &str = "
SELECT o.id, o.title, o.progress, u.name AS owner_name, c.start_date, c.end_date,
       k.id AS key_result_id, k.title AS key_result_title, k.kind, k.progress_ratio,
       k.latest_confidence, ci.value AS check_in_value, ci.observed_at AS check_in_observed_at
FROM (SELECT * FROM objectives
      WHERE cycle_id = $1 AND state <> 'ARCHIVED'
      ORDER BY created_at, id LIMIT 100) o
JOIN cycles c ON c.id = o.cycle_id
LEFT JOIN users u ON u.id = o.owner_id
LEFT JOIN LATERAL (SELECT * FROM key_results kr
                   WHERE kr.objective_id = o.id AND kr.archived_at IS NULL
                   ORDER BY kr.created_at, kr.id LIMIT 20) k ON true
LEFT JOIN check_ins ci ON ci.id = k.current_check_in_id
ORDER BY o.created_at, o.id, k.created_at, k.id";

/// Builds a request body for a GraphQL endpoint.
pub fn request_body(query: &str, variables: Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

/// Returns a probe that posts `body` and accepts status 200 without a top-level `errors` member.
pub fn http_probe(
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    body: String,
) -> Probe {
    Arc::new(move || {
        let client = client.clone();
        let url = url.clone();
        let token = token.clone();
        let body = body.clone();
        Box::pin(async move {
            let mut request = client
                .post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.map_err(|error| error.to_string())?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(|error| error.to_string())?;
            if status != reqwest::StatusCode::OK || contains(&bytes, b"\"errors\":") {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
                return Err(format!("status {status}: {text}"));
            }
            Ok(())
        })
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Fetches the dashboard in one statement and serializes it to JSON.
pub async fn raw_dashboard(pool: &PgPool, cycle: Uuid, now: DateTime<Utc>) -> Result<Vec<u8>> {
    let rows = sqlx::query(RAW_QUERY).bind(cycle).fetch_all(pool).await?;
    let mut objectives: Vec<Value> = Vec::new();
    let mut current: Option<Uuid> = None;
    for row in rows {
        let id: Uuid = row.try_get("id")?;
        let start: NaiveDate = row.try_get("start_date")?;
        let end: NaiveDate = row.try_get("end_date")?;
        let expected = expected_progress(start, end, now);
        if current != Some(id) {
            current = Some(id);
            let progress: f64 = row.try_get::<String, _>("progress")?.parse().unwrap_or(0.0);
            objectives.push(json!({
                "id": id,
                "title": row.try_get::<String, _>("title")?,
                "progress": progress,
                "paceStatus": pace_status(progress, expected),
                "owner": row.try_get::<Option<String>, _>("owner_name")?.map(|name| json!({ "name": name })),
                "keyResults": { "nodes": [] },
            }));
        }
        let Some(key_result) = row.try_get::<Option<Uuid>, _>("key_result_id")? else {
            continue;
        };
        let ratio: f64 = row
            .try_get::<Option<String>, _>("progress_ratio")?
            .and_then(|text| text.parse().ok())
            .unwrap_or(0.0);
        let progress = ratio.clamp(0.0, 1.0);
        let last_check_in = match row.try_get::<Option<String>, _>("check_in_value")? {
            Some(value) => json!({
                "value": value,
                "observedAt": row.try_get::<Option<DateTime<Utc>>, _>("check_in_observed_at")?,
            }),
            None => Value::Null,
        };
        let node = json!({
            "id": key_result,
            "title": row.try_get::<Option<String>, _>("key_result_title")?,
            "type": row.try_get::<Option<String>, _>("kind")?,
            "progress": progress,
            "paceStatus": pace_status(progress, expected),
            "latestConfidence": row.try_get::<Option<i16>, _>("latest_confidence")?,
            "lastCheckIn": last_check_in,
        });
        if let Some(nodes) = objectives
            .last_mut()
            .and_then(|objective| objective.pointer_mut("/keyResults/nodes"))
            .and_then(Value::as_array_mut)
        {
            nodes.push(node);
        }
    }
    let document = json!({ "data": { "node": { "objectives": { "nodes": objectives } } } });
    Ok(serde_json::to_vec(&document)?)
}

/// Returns the elapsed share of a cycle from 00:00 UTC of its first day to 24:00 UTC of
/// its last.
fn expected_progress(start: NaiveDate, end: NaiveDate, now: DateTime<Utc>) -> f64 {
    let (Some(starts), Some(ends)) = (
        start.and_hms_opt(0, 0, 0),
        end.succ_opt().and_then(|day| day.and_hms_opt(0, 0, 0)),
    ) else {
        return 0.0;
    };
    let total = (ends.and_utc() - starts.and_utc()).num_seconds() as f64;
    let elapsed = (now - starts.and_utc()).num_seconds() as f64;
    (elapsed / total.max(1.0)).clamp(0.0, 1.0)
}

/// Returns the pace status by the rule of Headway's README: on track at 0.7 times the
/// expected progress or more, at risk at 0.4 times or more, and on track while under 5 %
/// of the cycle passed.
fn pace_status(progress: f64, expected: f64) -> &'static str {
    if expected < 0.05 || progress >= 0.7 * expected {
        "ON_TRACK"
    } else if progress >= 0.4 * expected {
        "AT_RISK"
    } else {
        "OFF_TRACK"
    }
}

/// Returns a probe that runs the raw SQL dashboard on `pool`.
pub fn raw_probe(pool: PgPool, cycle: Uuid) -> Probe {
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move {
            raw_dashboard(&pool, cycle, Utc::now())
                .await
                .map(|_| ())
                .map_err(|error| error.to_string())
        })
    })
}

/// The objectives, their key results and each key result's last check-in value, as every
/// form of the dashboard returns them.
pub type Shape = Vec<(Uuid, Vec<(Uuid, Option<String>)>)>;

/// A summary of one response of each form and whether they agree.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Equivalence {
    pub objectives: usize,
    pub key_results: usize,
    pub check_ins: usize,
    pub headway_bytes: usize,
    pub postgraphile_bytes: usize,
    pub raw_bytes: usize,
    /// Empty when the three responses list the same records and values.
    pub differences: Vec<String>,
}

fn decimal(text: &str) -> String {
    text.parse::<f64>()
        .map_or_else(|_| text.to_owned(), |value| format!("{value:.6}"))
}

/// Reads Headway's response, or the raw baseline's, which has the same shape with UUIDs.
pub fn headway_shape(document: &Value) -> Result<Shape> {
    shape(
        document,
        "/data/node/objectives/nodes",
        "/keyResults/nodes",
        "/lastCheckIn/value",
    )
}

pub fn postgraphile_shape(document: &Value) -> Result<Shape> {
    shape(
        document,
        "/data/cycleById/objectivesByCycleId/nodes",
        "/keyResultsByObjectiveId/nodes",
        "/checkInsByKeyResultId/nodes/0/value",
    )
}

/// Reads a shape from a response: the objectives at `objectives`, their key results at
/// `key_results`, and each key result's last check-in value at `last_value`. Ids are UUIDs
/// or Headway's global ids.
fn shape(document: &Value, objectives: &str, key_results: &str, last_value: &str) -> Result<Shape> {
    let nodes = document
        .pointer(objectives)
        .and_then(Value::as_array)
        .with_context(|| format!("no objectives in {}", preview(document)))?;
    let uuid_of = |value: &Value| -> Result<Uuid> {
        let text = value.as_str().context("an id is not a string")?;
        Uuid::parse_str(text).or_else(|_| global_id_uuid(text))
    };
    let mut shape = Vec::new();
    for objective in nodes {
        let mut entries = Vec::new();
        for key_result in objective
            .pointer(key_results)
            .and_then(Value::as_array)
            .context("an objective has no key results list")?
        {
            let value = key_result
                .pointer(last_value)
                .and_then(Value::as_str)
                .map(decimal);
            entries.push((uuid_of(&key_result["id"])?, value));
        }
        shape.push((uuid_of(&objective["id"])?, entries));
    }
    Ok(shape)
}

fn preview(document: &Value) -> String {
    document.to_string().chars().take(300).collect()
}

/// Compares the three responses record by record.
pub fn compare(headway: &Shape, postgraphile: &Shape, raw: &Shape) -> Vec<String> {
    let mut differences = Vec::new();
    for (name, other) in [("PostGraphile", postgraphile), ("raw SQL", raw)] {
        if other.len() != headway.len() {
            differences.push(format!(
                "Headway returned {} objectives and {name} {}",
                headway.len(),
                other.len()
            ));
            continue;
        }
        for ((id, key_results), (other_id, other_key_results)) in headway.iter().zip(other) {
            if id != other_id {
                differences.push(format!("objective {id} is {other_id} in {name}"));
            } else if key_results != other_key_results {
                differences.push(format!(
                    "the key results of objective {id} differ in {name}"
                ));
            }
        }
    }
    differences.truncate(10);
    differences
}

/// Counts the records of a shape: objectives, key results and last check-ins.
pub fn count(shape: &Shape) -> (usize, usize, usize) {
    let key_results = shape.iter().map(|(_, krs)| krs.len()).sum();
    let check_ins = shape
        .iter()
        .flat_map(|(_, krs)| krs.iter())
        .filter(|(_, value)| value.is_some())
        .count();
    (shape.len(), key_results, check_ins)
}

/// Posts a body once and returns the parsed response, failing on GraphQL errors.
pub async fn fetch_once(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &str,
) -> Result<(Value, usize)> {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    let document: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{url} did not return JSON (status {status})"))?;
    if status != reqwest::StatusCode::OK || document.get("errors").is_some() {
        bail!("{url} returned status {status}: {}", preview(&document));
    }
    Ok((document, bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_follows_the_thresholds() {
        assert_eq!(pace_status(0.35, 0.5), "ON_TRACK");
        assert_eq!(pace_status(0.2, 0.5), "AT_RISK");
        assert_eq!(pace_status(0.19, 0.5), "OFF_TRACK");
        assert_eq!(pace_status(0.0, 0.04), "ON_TRACK");
    }

    #[test]
    fn expected_progress_counts_the_last_day() {
        let start = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(2026, 10, 2).unwrap();
        let now = "2026-10-02T00:00:00Z".parse().unwrap();
        assert!((expected_progress(start, end, now) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn shapes_of_both_graphql_answers_match() {
        let objective = "0191f4c2-a8e3-7c2c-9f1d-6b0e5a4d3c2b";
        let key_result = "0191f4c2-a8e3-7c2c-9f1d-6b0e5a4d3c2c";
        let headway = json!({ "data": { "node": { "objectives": { "nodes": [
            { "id": "obj_0191f4c2a8e37c2c9f1d6b0e5a4d3c2b", "keyResults": { "nodes": [
                { "id": "kr_0191f4c2a8e37c2c9f1d6b0e5a4d3c2c", "lastCheckIn": { "value": "3" } } ] } } ] } } } });
        let postgraphile = json!({ "data": { "cycleById": { "objectivesByCycleId": { "nodes": [
            { "id": objective, "keyResultsByObjectiveId": { "nodes": [
                { "id": key_result, "checkInsByKeyResultId": { "nodes": [ { "value": "3.00" } ] } } ] } } ] } } } });
        let headway = headway_shape(&headway).unwrap();
        let postgraphile = postgraphile_shape(&postgraphile).unwrap();
        assert_eq!(
            compare(&headway, &postgraphile, &headway),
            Vec::<String>::new()
        );
        assert_eq!(count(&headway), (1, 1, 1));
    }
}
