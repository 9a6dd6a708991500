//! Redis pub/sub between replicas.
//!
//! Publishing goes through a connection manager that reconnects by itself. Listening uses a
//! dedicated connection in a loop that reconnects with back-off and, after every
//! (re)subscription, reads the outbox for events published while it was away.

use super::EventHub;
use headway_domain::events::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, watch};

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A Redis connection for publishing events and listening to other replicas.
pub struct RedisBus {
    client: Option<redis::Client>,
    channel: String,
    publisher: Mutex<Option<redis::aio::ConnectionManager>>,
    connected: AtomicBool,
    publish_failures: AtomicU64,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    /// A bus on `url`. An invalid URL is logged and leaves the bus disconnected, so that the
    /// outbox catch-up still delivers events.
    pub fn new(url: &str, channel: &str) -> Self {
        let client = match redis::Client::open(url) {
            Ok(client) => Some(client),
            Err(error) => {
                tracing::error!(%error, "HEADWAY_REDIS_URL is not a valid Redis URL; events reach other replicas only through the outbox");
                None
            }
        };
        Self {
            client,
            channel: channel.to_owned(),
            publisher: Mutex::new(None),
            connected: AtomicBool::new(false),
            publish_failures: AtomicU64::new(0),
        }
    }

    /// Whether the listening connection is subscribed right now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Pings Redis on the publishing connection.
    pub async fn ping(&self) -> bool {
        let Some(mut connection) = self.publisher().await else {
            return false;
        };
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .is_ok()
    }

    async fn publisher(&self) -> Option<redis::aio::ConnectionManager> {
        let client = self.client.as_ref()?;
        let mut publisher = self.publisher.lock().await;
        if publisher.is_none() {
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_secs(2)))
                .set_number_of_retries(1);
            match client.get_connection_manager_with_config(config).await {
                Ok(manager) => *publisher = Some(manager),
                Err(error) => {
                    self.log_publish_failure(&error);
                    return None;
                }
            }
        }
        publisher.clone()
    }

    /// Logs the first failure and then every hundredth, so that an outage does not flood the log.
    fn log_publish_failure(&self, error: &redis::RedisError) {
        let failures = self.publish_failures.fetch_add(1, Ordering::Relaxed);
        if failures.is_multiple_of(100) {
            tracing::warn!(%error, failures = failures + 1, "failed to publish events to Redis; other replicas read them from the outbox");
        }
    }

    /// Runs the rate-limit script for `key`; `None` when Redis cannot be reached, so that the
    /// caller falls back to local buckets.
    pub async fn rate_limit(
        &self,
        script: &str,
        key: &str,
        per_second: f64,
        burst: f64,
        cost: f64,
    ) -> Option<(bool, u64)> {
        let mut connection = self.publisher().await?;
        let result: Result<(i64, i64), _> = redis::Script::new(script)
            .key(format!("{}:rate:{key}", self.channel))
            .arg(per_second)
            .arg(burst)
            .arg(cost)
            .invoke_async(&mut connection)
            .await;
        match result {
            Ok((allowed, wait)) => Some((allowed == 1, u64::try_from(wait).unwrap_or(0))),
            Err(error) => {
                self.log_publish_failure(&error);
                None
            }
        }
    }

    /// Publishes events as JSON, one message each. Failures are logged and dropped: the
    /// events are in the outbox, where every replica's catch-up finds them.
    pub async fn publish(&self, events: &[Event]) {
        let Some(mut connection) = self.publisher().await else {
            return;
        };
        for event in events {
            let message = match serde_json::to_string(event) {
                Ok(message) => message,
                Err(error) => {
                    tracing::error!(%error, sequence = event.sequence, "failed to encode an event");
                    continue;
                }
            };
            let published: Result<i64, _> = redis::cmd("PUBLISH")
                .arg(&self.channel)
                .arg(message)
                .query_async(&mut connection)
                .await;
            if let Err(error) = published {
                self.log_publish_failure(&error);
                return;
            }
        }
        self.publish_failures.store(0, Ordering::Relaxed);
    }

    /// Listens for events from every replica until the shutdown signal, reconnecting after
    /// failures.
    pub async fn listen(self: Arc<Self>, hub: Arc<EventHub>, mut shutdown: watch::Receiver<bool>) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let mut backoff = Duration::from_millis(100);
        loop {
            let attempt = async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&self.channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let pubsub = tokio::select! {
                result = tokio::time::timeout(Duration::from_secs(5), attempt) => result,
                () = super::stopping(&mut shutdown) => return,
            };
            match pubsub {
                Ok(Ok(pubsub)) => {
                    self.connected.store(true, Ordering::Relaxed);
                    tracing::info!(channel = %self.channel, "subscribed to Redis events");
                    backoff = Duration::from_millis(100);
                    // Events published while this replica was not listening are in the outbox.
                    hub.catch_up().await;
                    let mut messages = pubsub.into_on_message();
                    loop {
                        let message = tokio::select! {
                            message = futures::StreamExt::next(&mut messages) => message,
                            () = super::stopping(&mut shutdown) => {
                                self.connected.store(false, Ordering::Relaxed);
                                return;
                            }
                        };
                        let Some(message) = message else {
                            break;
                        };
                        match serde_json::from_slice::<Event>(message.get_payload_bytes()) {
                            Ok(event) => hub.ingest(std::slice::from_ref(&event)).await,
                            Err(error) => {
                                tracing::warn!(%error, "ignored a message on the events channel that is not an event")
                            }
                        }
                    }
                    self.connected.store(false, Ordering::Relaxed);
                    tracing::warn!("lost the Redis events subscription; reconnecting");
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis(), "failed to subscribe to Redis events");
                }
                Err(_) => {
                    tracing::warn!(
                        retry_in_ms = backoff.as_millis(),
                        "subscribing to Redis events timed out"
                    );
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                () = super::stopping(&mut shutdown) => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
