//! Write paths: check-ins through createCheckIn, and KPI ingestion through
//! recordKpiMeasurements against plain multi-row INSERTs.

use crate::api::{Api, global_id_uuid};
use crate::load::{Probe, Stats, summarize};
use crate::seed::{KeyResult, MEASUREMENT_BATCH, RECORD_MEASUREMENTS};
use anyhow::{Context, Result};
use chrono::{DateTime, Duration as TimeDelta, Utc};
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::postgres::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

const CHECK_IN: &str = "mutation($input: CreateCheckInInput!) { createCheckIn(input: $input) { checkIn { id } keyResult { progress } userErrors { field message code } } }";

/// Returns a probe that checks in a random value on a random key result, observed now.
pub fn check_in_probe(api: Api, key_results: &[KeyResult]) -> Probe {
    let key_results: Arc<Vec<KeyResult>> = Arc::new(
        key_results
            .iter()
            .filter(|key_result| key_result.kind != "BOOLEAN")
            .cloned()
            .collect(),
    );
    Arc::new(move || {
        let api = api.clone();
        let key_results = key_results.clone();
        Box::pin(async move {
            let (index, value, confidence) = {
                let mut rng = rand::rng();
                (
                    rng.random_range(0..key_results.len().max(1)),
                    rng.random_range(0.0..300.0_f64),
                    rng.random_range(1..=10),
                )
            };
            let key_result = key_results.get(index).ok_or("no key results to check in")?;
            let body = json!({ "query": CHECK_IN, "variables": { "input": {
                "keyResultId": key_result.id, "value": format!("{value:.2}"), "confidence": confidence } } });
            let response = api
                .client
                .post(&api.url)
                .bearer_auth(&api.token)
                .header("accept", "application/json")
                .json(&body)
                .send()
                .await
                .map_err(|error| error.to_string())?;
            let status = response.status();
            let text = response.text().await.map_err(|error| error.to_string())?;
            if status != reqwest::StatusCode::OK || !text.contains("\"userErrors\":[]") {
                return Err(format!(
                    "status {status}: {}",
                    text.chars().take(300).collect::<String>()
                ));
            }
            Ok(())
        })
    })
}

/// Throughput of one way of ingesting measurements.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Ingestion {
    pub measurements: u64,
    pub batches: u64,
    pub parallel_batches: usize,
    pub seconds: f64,
    pub per_second: f64,
    /// Latency of whole batches.
    pub batch: Stats,
}

/// Hourly timestamps at `minute` past the hour, going back from `before`, so that every
/// run of the ingestion inserts new rows.
fn measurement_times(before: DateTime<Utc>, minute: u32, count: usize) -> Vec<DateTime<Utc>> {
    let day = (before - TimeDelta::days(400)).date_naive();
    let Some(base) = day.and_hms_opt(23, minute.min(59), 0) else {
        return Vec::new();
    };
    let base = base.and_utc();
    (0..count)
        .map(|hour| base - TimeDelta::hours(hour as i64))
        .collect()
}

/// Measurements for `batches` batches of 1,000, spread over `kpis`.
fn batches_of(
    kpis: &[Uuid],
    times: &[DateTime<Utc>],
    batches: usize,
) -> Vec<Vec<(Uuid, DateTime<Utc>, String)>> {
    let per_kpi = (batches * MEASUREMENT_BATCH).div_ceil(kpis.len().max(1));
    let mut rows = Vec::with_capacity(batches * MEASUREMENT_BATCH);
    let mut rng = rand::rng();
    'outer: for kpi in kpis {
        for time in times.iter().take(per_kpi) {
            rows.push((
                *kpi,
                *time,
                format!("{:.2}", rng.random_range(0.0..100.0_f64)),
            ));
            if rows.len() == batches * MEASUREMENT_BATCH {
                break 'outer;
            }
        }
    }
    rows.chunks(MEASUREMENT_BATCH).map(<[_]>::to_vec).collect()
}

/// Runs `batches` through `send` with `parallel` in flight and measures the rate.
async fn ingest<F, Fut>(
    batches: Vec<Vec<(Uuid, DateTime<Utc>, String)>>,
    parallel: usize,
    send: F,
) -> Result<Ingestion>
where
    F: Fn(Vec<(Uuid, DateTime<Utc>, String)>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let measurements: u64 = batches.iter().map(|batch| batch.len() as u64).sum();
    let count = batches.len() as u64;
    let queue = Arc::new(tokio::sync::Mutex::new(batches));
    let send = Arc::new(send);
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..parallel {
        let queue = queue.clone();
        let send = send.clone();
        let errors = errors.clone();
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut first_error: Option<String> = None;
            loop {
                let Some(batch) = queue.lock().await.pop() else {
                    break;
                };
                let sent = Instant::now();
                match send(batch).await {
                    Ok(()) => samples.push(sent.elapsed()),
                    Err(error) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error.get_or_insert(format!("{error:#}"));
                    }
                }
            }
            (samples, first_error)
        }));
    }
    let mut samples = Vec::new();
    let mut first_error = None;
    for worker in workers {
        let (worker_samples, worker_error) = worker.await.context("an ingestion worker failed")?;
        samples.extend(worker_samples);
        if first_error.is_none() {
            first_error = worker_error;
        }
    }
    let elapsed = started.elapsed();
    let errors = errors.load(Ordering::Relaxed);
    let stored = measurements.saturating_sub(errors * MEASUREMENT_BATCH as u64);
    let mut batch = summarize(samples, errors, first_error, elapsed);
    batch.concurrency = parallel;
    Ok(Ingestion {
        measurements: stored,
        batches: count,
        parallel_batches: parallel,
        seconds: elapsed.as_secs_f64(),
        per_second: stored as f64 / elapsed.as_secs_f64().max(1e-9),
        batch,
    })
}

/// Ingests `batches` batches of 1,000 through recordKpiMeasurements, at `minute` past
/// each hour so that separate runs write separate rows.
pub async fn ingest_through_headway(
    api: &Api,
    kpis: &[String],
    batches: usize,
    parallel: usize,
    minute: u32,
) -> Result<Ingestion> {
    let kpi_ids: Vec<Uuid> = kpis
        .iter()
        .map(|id| global_id_uuid(id))
        .collect::<Result<_>>()?;
    let global: std::collections::HashMap<Uuid, String> =
        kpi_ids.iter().copied().zip(kpis.iter().cloned()).collect();
    let per_kpi = (batches * MEASUREMENT_BATCH).div_ceil(kpis.len().max(1));
    let times = measurement_times(Utc::now(), minute, per_kpi);
    let api = api.clone();
    ingest(batches_of(&kpi_ids, &times, batches), parallel, move |batch| {
        let api = api.clone();
        let measurements: Vec<Value> = batch
            .iter()
            .map(|(kpi, time, value)| json!({ "kpiId": global.get(kpi), "value": value, "observedAt": time.to_rfc3339() }))
            .collect();
        async move {
            let payload = api
                .mutate("recordKpiMeasurements", RECORD_MEASUREMENTS, json!({ "input": { "measurements": measurements } }))
                .await?;
            let recorded = payload.get("recordedCount").and_then(Value::as_u64);
            anyhow::ensure!(recorded == Some(MEASUREMENT_BATCH as u64), "stored {recorded:?} of {MEASUREMENT_BATCH}: {payload}");
            Ok(())
        }
    })
    .await
}

/// Ingests the same number of rows with multi-row `INSERT ... ON CONFLICT` statements, at
/// `minute` past each hour.
pub async fn ingest_with_sql(
    pool: &PgPool,
    organization: Uuid,
    kpis: &[Uuid],
    batches: usize,
    parallel: usize,
    minute: u32,
) -> Result<Ingestion> {
    let per_kpi = (batches * MEASUREMENT_BATCH).div_ceil(kpis.len().max(1));
    let times = measurement_times(Utc::now(), minute, per_kpi);
    let pool = pool.clone();
    ingest(batches_of(kpis, &times, batches), parallel, move |batch| {
        let pool = pool.clone();
        async move {
            let now = Utc::now();
            let mut builder = sqlx::QueryBuilder::<sqlx::Postgres>::new(
                "INSERT INTO kpi_measurements (id, organization_id, kpi_id, observed_at, value, source, created_at, updated_at) ",
            );
            builder.push_values(batch, |mut row, (kpi, time, value)| {
                row.push_bind(Uuid::now_v7())
                    .push_bind(organization)
                    .push_bind(kpi)
                    .push_bind(time)
                    .push_bind(value)
                    .push_bind("USER")
                    .push_bind(now)
                    .push_bind(now);
            });
            builder.push(" ON CONFLICT (kpi_id, observed_at) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at");
            builder.build().execute(&pool).await?;
            Ok(())
        }
    })
    .await
}

/// Waits between phases so that background work of the previous one settles.
pub async fn settle() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_a_thousand_distinct_rows() {
        let kpis: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let times = measurement_times(Utc::now(), 15, 700);
        let batches = batches_of(&kpis, &times, 2);
        assert_eq!(batches.len(), 2);
        assert!(batches.iter().all(|batch| batch.len() == MEASUREMENT_BATCH));
        let mut keys: Vec<(Uuid, DateTime<Utc>)> = batches
            .iter()
            .flatten()
            .map(|(kpi, time, _)| (*kpi, *time))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 2 * MEASUREMENT_BATCH);
    }

    #[test]
    fn measurement_times_fall_on_the_minute() {
        let times = measurement_times(Utc::now(), 45, 3);
        assert!(
            times
                .iter()
                .all(|time| chrono::Timelike::minute(time) == 45)
        );
        assert!(times[0] > times[1]);
    }
}
