//! The load generator: closed-loop runs for peak throughput and open-loop runs at a fixed
//! rate for latency, with exact percentiles over every recorded sample.

use futures::future::BoxFuture;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// One request against a target; `Err` carries a short description of the failure.
pub type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Latency percentiles and throughput of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Concurrent clients of a closed-loop run; 0 for an open-loop run.
    pub concurrency: usize,
    /// The requested rate of an open-loop run, per second; 0 for a closed-loop run.
    pub target_rate: f64,
    pub completed: u64,
    pub errors: u64,
    /// The first failure, to explain a non-zero error count.
    pub first_error: Option<String>,
    pub seconds: f64,
    /// Successful requests per second over the measured window.
    pub rate: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Returns the `percent` percentile of sorted samples by the nearest-rank method.
pub fn percentile(sorted: &[Duration], percent: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// Summarizes latency samples taken over `window`.
pub fn summarize(
    mut samples: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
    window: Duration,
) -> Stats {
    samples.sort_unstable();
    let completed = samples.len() as u64;
    let total: Duration = samples.iter().sum();
    let seconds = window.as_secs_f64();
    Stats {
        concurrency: 0,
        target_rate: 0.0,
        completed,
        errors,
        first_error,
        seconds,
        rate: if seconds > 0.0 {
            completed as f64 / seconds
        } else {
            0.0
        },
        mean_ms: if completed > 0 {
            milliseconds(total) / completed as f64
        } else {
            0.0
        },
        p50_ms: milliseconds(percentile(&samples, 50.0)),
        p90_ms: milliseconds(percentile(&samples, 90.0)),
        p99_ms: milliseconds(percentile(&samples, 99.0)),
        max_ms: milliseconds(samples.last().copied().unwrap_or_default()),
    }
}

/// Runs `concurrency` clients that each send the next request as soon as the previous one
/// returns. Requests that start during `warmup` are not recorded.
pub async fn closed_loop(
    probe: &Probe,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Stats {
    let start = Instant::now();
    let measured_from = start + warmup;
    let end = measured_from + duration;

    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let probe = probe.clone();
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0_u64;
            let mut first_error = None;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let outcome = probe().await;
                if sent < measured_from {
                    continue;
                }
                match outcome {
                    Ok(()) => samples.push(sent.elapsed()),
                    Err(error) => {
                        errors += 1;
                        first_error.get_or_insert(error);
                    }
                }
            }
            (samples, errors, first_error)
        }));
    }

    let mut samples = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for worker in workers {
        match worker.await {
            Ok((worker_samples, worker_errors, worker_error)) => {
                samples.extend(worker_samples);
                errors += worker_errors;
                if first_error.is_none() {
                    first_error = worker_error;
                }
            }
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(format!("a load worker failed: {error}"));
            }
        }
    }

    let mut stats = summarize(samples, errors, first_error, end - measured_from);
    stats.concurrency = concurrency;
    stats
}

/// Sends requests at `rate` per second whatever the response times, for `duration` after
/// a `warmup`. Latency counts from the time a request was scheduled, so a stalled server
/// shows in the percentiles instead of slowing the sender (coordinated omission). A
/// request due while `max_in_flight` are outstanding is counted as an error.
pub async fn open_loop(
    probe: &Probe,
    rate: f64,
    warmup: Duration,
    duration: Duration,
    max_in_flight: usize,
) -> Stats {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let start = Instant::now();
    let measured_from = start + warmup;
    let end = measured_from + duration;
    let in_flight = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let (sender, mut receiver) = mpsc::unbounded_channel::<(Instant, Result<Duration, String>)>();
    let mut dropped = 0_u64;
    let mut index = 0_u32;

    loop {
        let scheduled = start + interval * index;
        index += 1;
        if scheduled >= end {
            break;
        }
        // Sleep only when the next request is due later, so a late sender catches up in a burst.
        if scheduled > Instant::now() {
            tokio::time::sleep_until(scheduled.into()).await;
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            if scheduled >= measured_from {
                dropped += 1;
            }
            continue;
        };
        let probe = probe.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            let outcome = probe().await.map(|()| scheduled.elapsed());
            drop(permit);
            let _ = sender.send((scheduled, outcome));
        });
    }
    drop(sender);

    let mut samples = Vec::new();
    let mut errors = dropped;
    let mut first_error = (dropped > 0).then(|| {
        format!("{dropped} requests were not sent because {max_in_flight} were outstanding")
    });
    while let Some((scheduled, outcome)) = receiver.recv().await {
        if scheduled < measured_from {
            continue;
        }
        match outcome {
            Ok(latency) => samples.push(latency),
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    let mut stats = summarize(samples, errors, first_error, end - measured_from);
    stats.target_rate = rate;
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_uses_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&samples, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&samples, 0.0), Duration::from_millis(1));
    }

    #[test]
    fn percentile_of_nothing_is_zero() {
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }

    #[test]
    fn summary_counts_rate_over_window() {
        let samples = vec![Duration::from_millis(10); 50];
        let stats = summarize(samples, 2, Some("x".to_owned()), Duration::from_secs(5));
        assert_eq!(stats.completed, 50);
        assert_eq!(stats.errors, 2);
        assert!((stats.rate - 10.0).abs() < 1e-9);
        assert!((stats.p99_ms - 10.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn closed_loop_records_every_request() {
        let probe: Probe = Arc::new(|| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(())
            })
        });
        let stats = closed_loop(&probe, 2, Duration::ZERO, Duration::from_millis(200)).await;
        assert!(stats.completed > 10, "{stats:?}");
        assert_eq!(stats.errors, 0);
        assert!(stats.p50_ms >= 5.0, "{stats:?}");
    }

    #[tokio::test]
    async fn open_loop_keeps_the_rate() {
        let probe: Probe = Arc::new(|| Box::pin(async { Ok(()) }));
        let stats = open_loop(
            &probe,
            200.0,
            Duration::ZERO,
            Duration::from_millis(500),
            16,
        )
        .await;
        assert!((90..=101).contains(&stats.completed), "{stats:?}");
        assert_eq!(stats.errors, 0);
    }
}
