//! Samples what the benchmark database's active PostgreSQL sessions wait on, from
//! `pg_stat_activity`, to explain where a write path spends its time.

use serde::Serialize;
use sqlx::postgres::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The share of samples of active sessions per wait event. `running` is a session that
/// waited on nothing, so it was on a CPU or ready to run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Waits {
    /// Samples of active sessions taken.
    pub samples: u64,
    /// The average number of active sessions.
    pub mean_active: f64,
    /// Wait events with their share of the samples, largest first.
    pub events: Vec<(String, f64)>,
    /// The statements that most often waited for a lock, with their share of the samples.
    pub lock_waiters: Vec<(String, f64)>,
}

impl Waits {
    /// Describes the five largest shares, such as `running 61 %, Lock:tuple 22 %`.
    pub fn describe(&self) -> String {
        let events: Vec<String> = self
            .events
            .iter()
            .take(5)
            .map(|(event, share)| format!("{event} {:.0} %", share * 100.0))
            .collect();
        let mut text = format!(
            "{} (on average {:.1} active sessions)",
            events.join(", "),
            self.mean_active
        );
        if let Some((statement, share)) = self.lock_waiters.first() {
            text.push_str(&format!(
                "; the statement that waited most for a lock ({:.0} % of samples) was `{statement}`",
                share * 100.0
            ));
        }
        text
    }
}

const SAMPLE: &str = "SELECT coalesce(wait_event_type || ':' || wait_event, 'running'), \
     CASE WHEN wait_event_type = 'Lock' THEN query ELSE '' END \
     FROM pg_stat_activity \
     WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()";

#[derive(Clone, Debug, Default)]
struct Tally {
    rounds: u64,
    events: HashMap<String, u64>,
    lock_waiters: HashMap<String, u64>,
}

/// Samples every 50 ms in the background until [`WaitSampler::finish`].
#[derive(Debug)]
pub struct WaitSampler {
    tally: Arc<Mutex<Tally>>,
    task: tokio::task::JoinHandle<()>,
}

impl WaitSampler {
    pub fn start(pool: PgPool) -> Self {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let shared = tally.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Ok(rows) = sqlx::query_as::<_, (String, String)>(SAMPLE)
                    .fetch_all(&pool)
                    .await
                {
                    let mut tally = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    tally.rounds += 1;
                    for (event, query) in rows {
                        *tally.events.entry(event).or_insert(0) += 1;
                        if !query.is_empty() {
                            let query = crate::pgproxy::abbreviate(&query);
                            *tally.lock_waiters.entry(query).or_insert(0) += 1;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Self { tally, task }
    }

    pub fn finish(self) -> Waits {
        self.task.abort();
        let tally = self
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let samples: u64 = tally.events.values().sum();
        let shares = |counts: HashMap<String, u64>| {
            let mut shares: Vec<(String, f64)> = counts
                .into_iter()
                .map(|(key, count)| (key, count as f64 / samples.max(1) as f64))
                .collect();
            shares.sort_by(|a, b| b.1.total_cmp(&a.1));
            shares
        };
        Waits {
            samples,
            mean_active: samples as f64 / tally.rounds.max(1) as f64,
            events: shares(tally.events),
            lock_waiters: shares(tally.lock_waiters),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_lists_largest_shares() {
        let waits = Waits {
            samples: 10,
            mean_active: 2.5,
            events: vec![("running".to_owned(), 0.6), ("Lock:tuple".to_owned(), 0.4)],
            lock_waiters: Vec::new(),
        };
        assert_eq!(
            waits.describe(),
            "running 60 %, Lock:tuple 40 % (on average 2.5 active sessions)"
        );
    }
}
