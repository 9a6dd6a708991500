//! Prometheus metrics of one server, served at `/metrics` in the OpenMetrics text format.
//!
//! Counters and histograms are updated where things happen; gauges that describe a state
//! (pool connections, sockets, Redis) are read when the endpoint is scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Maximum number of distinct operation names with a label of their own. Later names count
/// as `other`, so that clients cannot grow the metrics without bound.
pub const MAX_OPERATION_NAMES: usize = 200;

/// Maximum length, in characters, of an operation name label.
const MAX_OPERATION_NAME_CHARS: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// The operation's name, `anonymous`, or `other` past [`MAX_OPERATION_NAMES`].
    pub operation: String,
    /// `query`, `mutation`, `subscription`, or `unknown` when the document did not parse.
    pub r#type: String,
    /// `ok`, or `error` when the response carries errors.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The metrics of one running server.
pub struct Metrics {
    registry: Registry,
    operation_names: Mutex<HashSet<String>>,
    pub operations: Family<OperationLabels, Counter>,
    pub operation_seconds: HistogramFamily<OperationLabels>,
    pub errors: Family<CodeLabels, Counter>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub websocket_connections: Gauge,
    websocket_closes: Family<CodeLabels, Counter>,
    pub subscriptions: Gauge,
    subscription_feeds: Gauge,
    /// Events committed on this replica and not yet relayed.
    pub outbox_backlog: Gauge,
    pub relay_lag_seconds: Histogram,
    pub webhook_deliveries: Family<OutcomeLabels, Counter>,
    pub webhook_attempt_seconds: Histogram,
    pool_connections: Family<StateLabels, Gauge>,
    pool_max: Gauge,
    pool_waiting: Gauge,
    redis_connected: Gauge,
    redis_configured: bool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// State that a scrape reads from the rest of the server.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    pub pool: headway_persistence::PoolStatus,
    pub websocket_connections: i64,
    /// Shared subscription feeds running.
    pub subscription_feeds: usize,
    /// `None` when Redis is not configured.
    pub redis_connected: Option<bool>,
}

impl Metrics {
    pub fn new(redis_configured: bool) -> Self {
        let mut registry = Registry::with_prefix("headway");
        let operations = Family::<OperationLabels, Counter>::default();
        registry.register(
            "graphql_operations",
            "GraphQL operations executed, by operation name, type and outcome",
            operations.clone(),
        );
        let operation_seconds: HistogramFamily<OperationLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "graphql_operation_duration_seconds",
            "Time to execute a GraphQL operation, by operation name, type and outcome",
            operation_seconds.clone(),
        );
        let errors = Family::<CodeLabels, Counter>::default();
        registry.register(
            "graphql_errors",
            "Errors in GraphQL responses, by error code",
            errors.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            http_requests.clone(),
        );
        let websocket_connections = Gauge::default();
        registry.register(
            "websocket_connections",
            "Open WebSocket connections",
            websocket_connections.clone(),
        );
        let websocket_closes = Family::<CodeLabels, Counter>::default();
        registry.register(
            "websocket_closes",
            "WebSocket connections closed by the server, by close code; `none` when the connection ended without a close frame from the server",
            websocket_closes.clone(),
        );
        let subscriptions = Gauge::default();
        registry.register(
            "subscriptions",
            "Running GraphQL subscriptions",
            subscriptions.clone(),
        );
        let subscription_feeds = Gauge::default();
        registry.register(
            "subscription_feeds",
            "Executions of GraphQL subscriptions, each shared by identical subscriptions",
            subscription_feeds.clone(),
        );
        let outbox_backlog = Gauge::default();
        registry.register(
            "outbox_backlog_events",
            "Events committed on this replica that the relay has not published yet",
            outbox_backlog.clone(),
        );
        let relay_lag_seconds = latency_histogram();
        registry.register(
            "relay_lag_seconds",
            "Time from an event's commit to its publication by the relay",
            relay_lag_seconds.clone(),
        );
        let webhook_deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_delivery_attempts",
            "Webhook delivery attempts, by outcome: delivered, retry or failed",
            webhook_deliveries.clone(),
        );
        // Every outcome shows from the start, so that rates work before the first failure.
        for outcome in ["delivered", "retry", "failed"] {
            drop(webhook_deliveries.get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            }));
        }
        let webhook_attempt_seconds = latency_histogram();
        registry.register(
            "webhook_attempt_duration_seconds",
            "Time of one webhook delivery attempt",
            webhook_attempt_seconds.clone(),
        );
        let pool_connections = Family::<StateLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections, by state: in_use or idle",
            pool_connections.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "The most connections the database pool opens",
            pool_max.clone(),
        );
        let pool_waiting = Gauge::default();
        registry.register(
            "db_pool_waiting",
            "Write transactions waiting for a database connection",
            pool_waiting.clone(),
        );
        let redis_connected = Gauge::default();
        if redis_configured {
            registry.register(
                "redis_connected",
                "1 while the Redis event bus holds its subscription, else 0",
                redis_connected.clone(),
            );
        }
        Self {
            registry,
            operation_names: Mutex::new(HashSet::new()),
            operations,
            operation_seconds,
            errors,
            http_requests,
            websocket_connections,
            websocket_closes,
            subscriptions,
            subscription_feeds,
            outbox_backlog,
            relay_lag_seconds,
            webhook_deliveries,
            webhook_attempt_seconds,
            pool_connections,
            pool_max,
            pool_waiting,
            redis_connected,
            redis_configured,
        }
    }

    /// Returns the label for an operation name, bounded in length and in distinct values.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|name| !name.is_empty()) else {
            return "anonymous".to_owned();
        };
        let name: String = name.chars().take(MAX_OPERATION_NAME_CHARS).collect();
        let mut names = self
            .operation_names
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if names.contains(&name) {
            return name;
        }
        if names.len() >= MAX_OPERATION_NAMES {
            return "other".to_owned();
        }
        names.insert(name.clone());
        name
    }

    /// Records one executed operation and the codes of its errors.
    pub fn record_operation(&self, labels: &OperationLabels, elapsed: Duration, codes: &[String]) {
        self.operations.get_or_create(labels).inc();
        self.operation_seconds
            .get_or_create(labels)
            .observe(elapsed.as_secs_f64());
        for code in codes {
            self.errors
                .get_or_create(&CodeLabels { code: code.clone() })
                .inc();
        }
    }

    /// Counts a WebSocket connection that ended, by the close code the server sent.
    pub fn record_websocket_close(&self, code: Option<u16>) {
        let code = code.map_or_else(|| "none".to_owned(), |code| code.to_string());
        self.websocket_closes
            .get_or_create(&CodeLabels { code })
            .inc();
    }

    /// Counts one subscription under its operation name label, once it started or failed.
    pub fn record_subscription(&self, operation: String, failed: bool) {
        let labels = OperationLabels {
            operation,
            r#type: "subscription".to_owned(),
            outcome: if failed { "error" } else { "ok" }.to_owned(),
        };
        self.operations.get_or_create(&labels).inc();
    }

    /// Counts the error codes of a message sent to a WebSocket client.
    pub fn record_errors(&self, codes: impl IntoIterator<Item = String>) {
        for code in codes {
            self.errors.get_or_create(&CodeLabels { code }).inc();
        }
    }

    /// Counts a subscription starting (`1`) or ending (`-1`).
    pub fn subscription(&self, delta: i64) {
        self.subscriptions.inc_by(delta);
    }

    /// Renders every metric, after reading the state gauges from `snapshot`.
    pub fn render(&self, snapshot: Snapshot) -> Result<String, std::fmt::Error> {
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        self.pool_connections
            .get_or_create(&StateLabels {
                state: "in_use".to_owned(),
            })
            .set(gauge(snapshot.pool.in_use));
        self.pool_connections
            .get_or_create(&StateLabels {
                state: "idle".to_owned(),
            })
            .set(gauge(snapshot.pool.idle));
        self.pool_max.set(gauge(snapshot.pool.max));
        self.pool_waiting.set(gauge(snapshot.pool.waiting));
        self.websocket_connections
            .set(snapshot.websocket_connections);
        self.subscription_feeds
            .set(i64::try_from(snapshot.subscription_feeds).unwrap_or(i64::MAX));
        if self.redis_configured {
            self.redis_connected
                .set(i64::from(snapshot.redis_connected.unwrap_or(false)));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_bounded() {
        let metrics = Metrics::new(false);
        assert_eq!(metrics.operation_label(None), "anonymous");
        assert_eq!(metrics.operation_label(Some("")), "anonymous");
        for index in 0..MAX_OPERATION_NAMES {
            assert_eq!(
                metrics.operation_label(Some(&format!("Op{index}"))),
                format!("Op{index}")
            );
        }
        assert_eq!(metrics.operation_label(Some("OneTooMany")), "other");
        assert_eq!(metrics.operation_label(Some("Op7")), "Op7");
        let long = "A".repeat(100);
        assert_eq!(metrics.operation_label(Some(&long)), "other");
    }

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let metrics = Metrics::new(true);
        let labels = OperationLabels {
            operation: "Dashboard".to_owned(),
            r#type: "query".to_owned(),
            outcome: "ok".to_owned(),
        };
        metrics.record_operation(&labels, Duration::from_millis(3), &["NOT_FOUND".to_owned()]);
        metrics.subscription(1);
        let text = metrics
            .render(Snapshot {
                pool: headway_persistence::PoolStatus {
                    in_use: 2,
                    idle: 3,
                    max: 16,
                    waiting: 0,
                },
                websocket_connections: 4,
                subscription_feeds: 1,
                redis_connected: Some(true),
            })
            .unwrap();
        for line in [
            "headway_graphql_operations_total{operation=\"Dashboard\",type=\"query\",outcome=\"ok\"} 1",
            "headway_graphql_errors_total{code=\"NOT_FOUND\"} 1",
            "headway_db_pool_connections{state=\"in_use\"} 2",
            "headway_db_pool_max_connections 16",
            "headway_websocket_connections 4",
            "headway_subscriptions 1",
            "headway_subscription_feeds 1",
            "headway_redis_connected 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(text.contains("headway_graphql_operation_duration_seconds_bucket{"));
        assert!(text.ends_with("# EOF\n"));
    }
}
