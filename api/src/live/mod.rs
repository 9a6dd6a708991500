//! Live events on this replica: the hub that feeds subscriptions, and the relay that
//! publishes committed events to the other replicas.
//!
//! Storage numbers each organization's events gap-free in commit order (the outbox). The hub
//! delivers them to local subscribers in that order with no gap and no duplicate: an event
//! that arrives early makes it read the missing ones from the database first, and one that
//! arrives twice is dropped. Events arrive three ways:
//!
//! - from this replica's own commits, at once;
//! - from Redis pub/sub, published by every replica's relay when Redis is configured;
//! - from a periodic read of the outbox, which catches up after a Redis outage or a replica
//!   that died between its commit and its publish.

pub mod redis_bus;

use crate::metrics::Metrics;
use chrono::Duration;
use headway_domain::events::Event;
use headway_domain::ids::OrganizationId;
use headway_persistence::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::Instrument as _;

/// How many events a slow subscriber may fall behind before it rereads from the outbox.
const CHANNEL_CAPACITY: usize = 1_024;

/// How many events one outbox read returns.
const READ_BATCH: u64 = 500;

/// One organization's events on this replica.
struct OrganizationChannel {
    sender: broadcast::Sender<Arc<Event>>,
    /// The next sequence number to deliver. It sits behind an async lock because filling a
    /// gap reads the database while holding it.
    next: tokio::sync::Mutex<i64>,
}

/// Delivers each organization's events to this replica's subscribers, in order.
pub struct EventHub {
    store: Store,
    channels: Mutex<HashMap<OrganizationId, Arc<OrganizationChannel>>>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub").finish_non_exhaustive()
    }
}

impl EventHub {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self {
            store,
            channels: Mutex::new(HashMap::new()),
        })
    }

    fn channel(&self, organization_id: OrganizationId) -> Option<Arc<OrganizationChannel>> {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&organization_id)
            .cloned()
    }

    /// Subscribes to an organization's events. Returns the receiver and the sequence number
    /// of the last event delivered before it, so that a subscriber knows where live delivery
    /// begins.
    pub async fn subscribe(
        &self,
        organization_id: OrganizationId,
    ) -> Result<(broadcast::Receiver<Arc<Event>>, i64), StoreError> {
        let channel = match self.channel(organization_id) {
            Some(channel) => channel,
            None => {
                let latest = self.store.latest_event_sequence(organization_id).await?;
                let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
                let created = Arc::new(OrganizationChannel {
                    sender,
                    next: tokio::sync::Mutex::new(latest + 1),
                });
                self.channels
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(organization_id)
                    .or_insert(created)
                    .clone()
            }
        };
        let next = channel.next.lock().await;
        let receiver = channel.sender.subscribe();
        Ok((receiver, *next - 1))
    }

    /// Delivers events to local subscribers. Events may come in any order and more than
    /// once; each reaches subscribers once, in sequence order.
    pub async fn ingest(&self, events: &[Event]) {
        let mut by_organization: HashMap<OrganizationId, Vec<&Event>> = HashMap::new();
        for event in events {
            by_organization
                .entry(event.organization_id)
                .or_default()
                .push(event);
        }
        for (organization_id, mut events) in by_organization {
            let Some(channel) = self.channel(organization_id) else {
                continue;
            };
            events.sort_by_key(|event| event.sequence);
            let mut next = channel.next.lock().await;
            for event in events {
                if event.sequence < *next {
                    continue;
                }
                if event.sequence > *next
                    && let Err(error) = self
                        .fill(&channel, organization_id, &mut next, event.sequence)
                        .await
                {
                    tracing::warn!(organization_id = %organization_id, %error, "failed to read missed events from the outbox; the next catch-up retries");
                    break;
                }
                if event.sequence == *next {
                    let _ = channel.sender.send(Arc::new(event.clone()));
                    *next += 1;
                }
            }
        }
    }

    /// Reads events from the outbox and delivers them, from `*next` up to (not including)
    /// `until`, or up to the latest event when `until` is `i64::MAX`.
    async fn fill(
        &self,
        channel: &OrganizationChannel,
        organization_id: OrganizationId,
        next: &mut i64,
        until: i64,
    ) -> Result<(), StoreError> {
        while *next < until {
            let events = self
                .store
                .events_after(organization_id, *next - 1, READ_BATCH)
                .await?;
            if events.is_empty() {
                break;
            }
            for event in events {
                if event.sequence >= until {
                    return Ok(());
                }
                if event.sequence == *next {
                    let _ = channel.sender.send(Arc::new(event));
                    *next += 1;
                }
            }
        }
        Ok(())
    }

    /// Delivers every committed event that local subscribers have not seen yet, and forgets
    /// organizations without subscribers.
    pub async fn catch_up(&self) {
        let channels: Vec<(OrganizationId, Arc<OrganizationChannel>)> = {
            let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
            channels.retain(|_, channel| channel.sender.receiver_count() > 0);
            channels
                .iter()
                .map(|(id, channel)| (*id, channel.clone()))
                .collect()
        };
        for (organization_id, channel) in channels {
            let mut next = channel.next.lock().await;
            if let Err(error) = self
                .fill(&channel, organization_id, &mut next, i64::MAX)
                .await
            {
                tracing::warn!(organization_id = %organization_id, %error, "failed to read the outbox; the next catch-up retries");
            }
        }
    }

    /// The number of organizations with subscribers on this replica.
    pub fn organizations(&self) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Settings of the live event machinery.
#[derive(Clone, Debug)]
pub struct LiveSettings {
    /// Redis URL; `None` runs the in-process bus only.
    pub redis_url: Option<String>,
    /// The Redis pub/sub channel that replicas share.
    pub redis_channel: String,
    /// How often the outbox is read for events that did not arrive otherwise.
    pub catch_up_interval: std::time::Duration,
    /// How long events are kept for clients that resume.
    pub retention: Duration,
}

/// The running relay and background tasks; they stop when the shutdown signal flips.
pub struct Live {
    pub hub: Arc<EventHub>,
    pub redis: Option<Arc<redis_bus::RedisBus>>,
    /// Notified after this replica committed events, so that webhooks go out at once.
    pub wake: Arc<tokio::sync::Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Live {
    /// Installs the relay as the store's commit hook and starts the background tasks.
    pub async fn start(
        store: &mut Store,
        settings: LiveSettings,
        shutdown: watch::Receiver<bool>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let hub = EventHub::new(store.clone());
        let redis = match &settings.redis_url {
            Some(url) => Some(Arc::new(redis_bus::RedisBus::new(
                url,
                &settings.redis_channel,
            ))),
            None => None,
        };
        let (relay_sender, relay_receiver) = mpsc::unbounded_channel::<Vec<Event>>();
        let backlog = metrics.clone();
        store.set_commit_hook(Arc::new(move |events: &[Event]| {
            backlog
                .outbox_backlog
                .inc_by(i64::try_from(events.len()).unwrap_or(i64::MAX));
            // The receiver lives as long as the relay task; after shutdown nothing is sent.
            let _ = relay_sender.send(events.to_vec());
        }));

        let wake = Arc::new(tokio::sync::Notify::new());
        let mut tasks = vec![tokio::spawn(relay(
            Relay {
                hub: hub.clone(),
                redis: redis.clone(),
                metrics,
            },
            wake.clone(),
            relay_receiver,
            shutdown.clone(),
        ))];
        if let Some(redis) = &redis {
            tasks.push(tokio::spawn(
                redis.clone().listen(hub.clone(), shutdown.clone()),
            ));
        }
        tasks.push(tokio::spawn(catch_up(
            hub.clone(),
            settings.catch_up_interval,
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(prune(
            store.clone(),
            settings.retention,
            shutdown,
        )));
        Self {
            hub,
            redis,
            wake,
            tasks,
        }
    }

    /// Waits for the background tasks to finish after the shutdown signal.
    pub async fn drain(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Destinations of the relay: this replica's hub, Redis when configured, and the metrics.
struct Relay {
    hub: Arc<EventHub>,
    redis: Option<Arc<redis_bus::RedisBus>>,
    metrics: Arc<Metrics>,
}

impl Relay {
    /// Publishes one committed batch locally and to Redis, in a span, and records its lag.
    async fn publish(&self, batch: &[Event]) {
        let span = tracing::info_span!(
            "outbox.relay",
            otel.kind = "producer",
            events = batch.len(),
            redis = self.redis.is_some(),
        );
        async {
            self.hub.ingest(batch).await;
            if let Some(redis) = &self.redis {
                redis.publish(batch).await;
            }
        }
        .instrument(span)
        .await;
        let now = chrono::Utc::now();
        for event in batch {
            let lag = (now - event.occurred_at).to_std().unwrap_or_default();
            self.metrics.relay_lag_seconds.observe(lag.as_secs_f64());
        }
        self.metrics
            .outbox_backlog
            .dec_by(i64::try_from(batch.len()).unwrap_or(i64::MAX));
    }
}

/// Publishes each committed batch of events: locally at once, and to Redis when configured.
async fn relay(
    relay: Relay,
    wake: Arc<tokio::sync::Notify>,
    mut events: mpsc::UnboundedReceiver<Vec<Event>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let batch = tokio::select! {
            batch = events.recv() => batch,
            () = stopping(&mut shutdown) => None,
        };
        let Some(batch) = batch else {
            break;
        };
        wake.notify_one();
        relay.publish(&batch).await;
    }
    // Publish what committed before the shutdown signal.
    while let Ok(batch) = events.try_recv() {
        relay.publish(&batch).await;
    }
}

async fn catch_up(
    hub: Arc<EventHub>,
    interval: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => hub.catch_up().await,
            () = stopping(&mut shutdown) => break,
        }
    }
}

/// How often events older than the retention period are deleted.
const PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3_600);

async fn prune(store: Store, retention: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let cutoff = store.now() - retention;
                match store.prune_events(cutoff).await {
                    Ok(0) => {}
                    Ok(count) => tracing::info!(count, "pruned events past their retention"),
                    Err(error) => tracing::warn!(%error, "failed to prune old events; retrying in an hour"),
                }
            }
            () = stopping(&mut shutdown) => break,
        }
    }
}

/// Completes when the shutdown signal flips to `true`.
pub async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}
