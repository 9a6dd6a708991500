//! Outbound webhooks: the signed HTTP sender and the dispatcher that delivers the outbox.
//!
//! Every replica runs a dispatcher. It queues each enabled endpoint's events from the
//! outbox, and a compare-and-set on the endpoint's cursor keeps replicas from queueing an
//! event twice. Then it sends the due deliveries of each endpoint in sequence order under a
//! lease on the endpoint, so that one replica at a time sends to it.
//!
//! A request carries the JSON body and these headers:
//!
//! - `Headway-Event-Id` and `Headway-Event-Type`, the same on every attempt;
//! - `Headway-Delivery-Id`, the same on every attempt of one delivery;
//! - `Headway-Timestamp`, the Unix time of the attempt;
//! - `Headway-Signature: v1=<hex>`, HMAC-SHA256 with the endpoint's secret over
//!   `<timestamp>.<body>`. For a day after the secret changed, the header carries a second
//!   `v1=` signature, with the previous secret: `v1=<new>,v1=<old>`.

use crate::graphql::ids::{NodeKind, Typed, encode_event_id};
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use headway_domain::events::{Event, RecordKind};
use headway_domain::webhooks::{
    AddressClass, AllowedNetworks, AttemptVerdict, RetryPolicy, WebhookDelivery, WebhookEventType,
    WebhookUrl,
};
use headway_persistence::webhooks::{AttemptRecord, AttemptResult, QueueWork, QueuedEvent};
use headway_persistence::{Store, StoreError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument as _;

/// How much of a response body the delivery log keeps.
const RESPONSE_EXCERPT_BYTES: usize = 1_024;

/// Events read from the outbox per endpoint and round.
const QUEUE_BATCH: u64 = 500;

/// The settings of webhook delivery.
#[derive(Clone, Copy, Debug)]
pub struct WebhookSettings {
    pub allow: AllowedNetworks,
    /// The maximum wait for a response, connecting included.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Failed attempts in a row after which an endpoint is disabled.
    pub disable_after: u32,
    /// How often the outbox is checked for events that other replicas committed.
    pub poll_interval: Duration,
    /// Endpoints sent to at once by one replica.
    pub concurrency: usize,
}

/// Builds the JSON body of an event's delivery, with the API's global ids.
pub fn event_body(event: &Event) -> serde_json::Value {
    let mut data = serde_json::to_value(&event.payload).unwrap_or_default();
    if let Some(fields) = data.as_object_mut() {
        fields.remove("type");
        let record_kind = fields
            .get("record")
            .and_then(|record| serde_json::from_value::<RecordKind>(record.clone()).ok());
        for (name, value) in fields.iter_mut() {
            let kind = match name.as_str() {
                "checkInId" => Some(NodeKind::CheckIn),
                "keyResultId" => Some(NodeKind::KeyResult),
                "objectiveId" => Some(NodeKind::Objective),
                "commentId" => Some(NodeKind::Comment),
                "kpiId" => Some(NodeKind::Kpi),
                "measurementId" => Some(NodeKind::KpiMeasurement),
                "recordId" => record_kind.map(node_kind),
                _ => None,
            };
            if let (Some(kind), Some(uuid)) = (
                kind,
                value
                    .as_str()
                    .and_then(|text| uuid::Uuid::parse_str(text).ok()),
            ) {
                *value = serde_json::Value::String(
                    crate::graphql::ids::GlobalId::encode(kind, uuid).to_string(),
                );
            }
        }
    }
    serde_json::json!({
        "id": encode_event_id(event.id),
        "type": event.payload.type_name(),
        "sequence": event.sequence,
        "organizationId": event.organization_id.to_global().to_string(),
        "occurredAt": event.occurred_at,
        "data": data,
    })
}

fn node_kind(record: RecordKind) -> NodeKind {
    match record {
        RecordKind::Objective => NodeKind::Objective,
        RecordKind::KeyResult => NodeKind::KeyResult,
        RecordKind::Cycle => NodeKind::Cycle,
        RecordKind::Kpi => NodeKind::Kpi,
        RecordKind::Team => NodeKind::Team,
        RecordKind::CheckIn => NodeKind::CheckIn,
    }
}

/// Computes the signature header's value: `v1=` and the hex HMAC-SHA256 over
/// `<timestamp>.<body>`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Computes the signature header's value: the signature with `secret`, and while a
/// previous secret still signs, a second one with it, comma-separated. Receivers accept a
/// request when any `v1=` signature matches their secret.
pub fn signature_header(
    secret: &str,
    previous_secret: Option<&str>,
    timestamp: i64,
    body: &str,
) -> String {
    let current = signature(secret, timestamp, body);
    match previous_secret {
        Some(previous) => format!("{current},{}", signature(previous, timestamp, body)),
        None => current,
    }
}

/// Explains why webhooks may not reach `address`, which `host` names or resolves to, or
/// returns `None` when `allow` permits it.
fn refusal(host: &str, address: IpAddr, allow: AllowedNetworks) -> Option<String> {
    allow.check(address).err()?;
    let class = AddressClass::of(address);
    let subject = if host.trim_start_matches('[').trim_end_matches(']') == address.to_string() {
        format!("The host {address} is")
    } else {
        format!("The host {host} resolves to {address}, which is")
    };
    let rule = match class {
        AddressClass::Loopback => {
            "Webhooks reach loopback addresses only when HEADWAY_WEBHOOK_ALLOW_NETWORKS includes loopback."
        }
        AddressClass::Private => {
            "Webhooks reach private addresses only when HEADWAY_WEBHOOK_ALLOW_NETWORKS includes private."
        }
        AddressClass::LinkLocal => {
            "Webhooks reach link-local addresses only when HEADWAY_WEBHOOK_ALLOW_NETWORKS includes link-local."
        }
        AddressClass::Reserved => {
            "Webhooks never reach reserved addresses, whatever HEADWAY_WEBHOOK_ALLOW_NETWORKS allows."
        }
        AddressClass::Public => return None,
    };
    Some(format!("{subject} a {} address. {rule}", class.as_str()))
}

/// A target address that the configuration does not allow.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves host names and drops the addresses that webhooks may not reach, so that a name
/// cannot lead to an internal address, whenever it is looked up.
struct GuardedResolver {
    allow: AllowedNetworks,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = addresses
                .into_iter()
                .partition(|address| allow.check(address.ip()).is_ok());
            if allowed.is_empty() {
                let reason = refused
                    .first()
                    .and_then(|address| refusal(&host, address.ip(), allow))
                    .unwrap_or_else(|| format!("The host {host} resolves to no address."));
                return Err(Box::new(Refused(reason)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Checks, when an endpoint is registered, that its URL does not lead only to addresses
/// that webhooks may not reach. A name that does not resolve yet is accepted; its
/// deliveries fail until it does.
pub async fn check_target(url: &WebhookUrl, allow: AllowedNetworks) -> Result<(), String> {
    if let Some(address) = url.ip_host() {
        return refusal(&address.to_string(), address, allow).map_or(Ok(()), Err);
    }
    let Ok(parsed) = url::Url::parse(url.as_str()) else {
        return Ok(());
    };
    let Some(host) = parsed.host_str() else {
        return Ok(());
    };
    let lookup = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::lookup_host((host, parsed.port_or_known_default().unwrap_or(443))),
    )
    .await;
    let Ok(Ok(addresses)) = lookup else {
        return Ok(());
    };
    let addresses: Vec<SocketAddr> = addresses.collect();
    if addresses.is_empty()
        || addresses
            .iter()
            .any(|address| allow.check(address.ip()).is_ok())
    {
        return Ok(());
    }
    refusal(host, addresses[0].ip(), allow).map_or(Ok(()), Err)
}

/// One outgoing request, as the sender needs it.
pub struct Outgoing<'a> {
    pub url: &'a WebhookUrl,
    pub secret: &'a str,
    /// The secret before the latest change, while it still signs beside `secret`.
    pub previous_secret: Option<&'a str>,
    pub delivery_id: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub body: &'a str,
}

/// Sends signed requests.
pub struct Sender {
    client: reqwest::Client,
    allow: AllowedNetworks,
}

impl Sender {
    pub fn new(settings: &WebhookSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("Headway-Webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would hide the real target from the address check.
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .dns_resolver(Arc::new(GuardedResolver {
                allow: settings.allow,
            }))
            .build()?;
        Ok(Self {
            client,
            allow: settings.allow,
        })
    }

    pub fn allowed_networks(&self) -> AllowedNetworks {
        self.allow
    }

    /// Sends one request and returns its log record and verdict. Time-outs, refused
    /// targets and error statuses are outcomes in the record, not errors.
    pub async fn send(&self, outgoing: &Outgoing<'_>) -> (AttemptRecord, AttemptVerdict) {
        let started_at = Utc::now();
        let started = Instant::now();
        let finish =
            |status: Option<u16>, body: Option<String>, error: Option<String>| AttemptRecord {
                started_at,
                duration_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
                response_status: status,
                response_body: body,
                error,
            };
        if let Some(address) = outgoing.url.ip_host()
            && let Some(reason) = refusal(&address.to_string(), address, self.allow)
        {
            return (
                finish(None, None, Some(format!("refused: {reason}"))),
                AttemptVerdict::GiveUp,
            );
        }
        let timestamp = started_at.timestamp();
        let request = self
            .client
            .post(outgoing.url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Headway-Event-Id", outgoing.event_id)
            .header("Headway-Event-Type", outgoing.event_type)
            .header("Headway-Delivery-Id", outgoing.delivery_id)
            .header("Headway-Timestamp", timestamp.to_string())
            .header(
                "Headway-Signature",
                signature_header(
                    outgoing.secret,
                    outgoing.previous_secret,
                    timestamp,
                    outgoing.body,
                ),
            )
            .body(outgoing.body.to_owned());
        match request.send().await {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let mut excerpt = Vec::new();
                // The body is read only as far as the log keeps it.
                while excerpt.len() < RESPONSE_EXCERPT_BYTES {
                    match response.chunk().await {
                        Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                        Ok(None) | Err(_) => break,
                    }
                }
                excerpt.truncate(RESPONSE_EXCERPT_BYTES);
                let text = String::from_utf8_lossy(&excerpt).into_owned();
                let verdict = AttemptVerdict::of(Some(status));
                let error = (verdict != AttemptVerdict::Delivered)
                    .then(|| format!("the endpoint answered {status}"));
                (
                    finish(Some(status), (!text.is_empty()).then_some(text), error),
                    verdict,
                )
            }
            Err(error) => {
                if let Some(refused) = find_refusal(&error) {
                    return (
                        finish(None, None, Some(format!("refused: {refused}"))),
                        AttemptVerdict::GiveUp,
                    );
                }
                let reason = if error.is_timeout() {
                    format!(
                        "no response within {} ms",
                        started.elapsed().as_millis().max(1)
                    )
                } else if error.is_connect() {
                    format!("could not connect: {}", root_cause(&error))
                } else {
                    format!("request failed: {}", root_cause(&error))
                };
                (finish(None, None, Some(reason)), AttemptVerdict::Retry)
            }
        }
    }
}

fn find_refusal(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(refused) = error.downcast_ref::<Refused>() {
            return Some(refused.0.clone());
        }
        current = error.source();
    }
    None
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// The running dispatcher of one replica.
pub struct Dispatcher {
    task: tokio::task::JoinHandle<()>,
}

impl Dispatcher {
    /// Starts delivering; `wake` signals that this replica committed events.
    pub fn start(
        store: Store,
        sender: Arc<Sender>,
        settings: WebhookSettings,
        wake: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let task = tokio::spawn(run(store, sender, settings, wake, shutdown, metrics));
        Self { task }
    }

    /// Waits until deliveries in flight finished after the shutdown signal.
    pub async fn drain(self) {
        let _ = self.task.await;
    }
}

async fn run(
    store: Store,
    sender: Arc<Sender>,
    settings: WebhookSettings,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) {
    let owner = uuid::Uuid::now_v7().to_string();
    let busy: Arc<Mutex<HashSet<uuid::Uuid>>> = Arc::new(Mutex::new(HashSet::new()));
    let mut senders = JoinSet::new();
    let mut failures: u64 = 0;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let round = async {
            queue(&store).await?;
            let context = DispatchContext {
                store: &store,
                sender: &sender,
                settings,
                owner: &owner,
                shutdown: &shutdown,
                metrics: &metrics,
            };
            dispatch(&context, &busy, &mut senders).await
        };
        if let Err(error) = round.await {
            failures += 1;
            if failures.is_power_of_two() {
                tracing::warn!(%error, failures, "failed to queue or send webhook deliveries; the next round retries");
            }
        } else {
            failures = 0;
        }
        while senders.try_join_next().is_some() {}
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(settings.poll_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Requests in flight finish and are logged; nothing new starts.
    while senders.join_next().await.is_some() {}
}

/// Queues the events that enabled endpoints have not seen yet.
async fn queue(store: &Store) -> Result<(), StoreError> {
    for work in store.webhook_queue_work().await? {
        let events = store
            .events_after(work.organization_id, work.cursor, QUEUE_BATCH)
            .await?;
        let to = match events.last() {
            Some(last) => last.sequence,
            // What was after the cursor expired from the outbox.
            None => work.latest,
        };
        let first = events
            .first()
            .map_or(work.latest + 1, |event| event.sequence);
        if first > work.cursor + 1 {
            tracing::warn!(
                endpoint = %work.endpoint_id.to_global().as_str(),
                missed = first - work.cursor - 1,
                "events expired from the outbox before they were queued for a webhook endpoint"
            );
        }
        let queued = queued_events(&work, &events);
        store
            .queue_webhook_deliveries(&work, to, queued, Utc::now())
            .await?;
    }
    Ok(())
}

fn queued_events(work: &QueueWork, events: &[Event]) -> Vec<QueuedEvent> {
    events
        .iter()
        .filter(|event| {
            work.event_types
                .contains(&WebhookEventType::of(&event.payload))
        })
        .map(|event| QueuedEvent {
            event_id: event.id,
            event_type: event.payload.type_name().to_owned(),
            sequence: event.sequence,
            body: event_body(event).to_string(),
        })
        .collect()
}

/// Settings and handles that every sender task of the dispatcher shares.
#[derive(Clone, Copy)]
struct DispatchContext<'a> {
    store: &'a Store,
    sender: &'a Arc<Sender>,
    settings: WebhookSettings,
    owner: &'a str,
    shutdown: &'a watch::Receiver<bool>,
    metrics: &'a Arc<Metrics>,
}

/// Starts a sender task for each endpoint with due deliveries that no task of this replica
/// serves yet.
async fn dispatch(
    context: &DispatchContext<'_>,
    busy: &Arc<Mutex<HashSet<uuid::Uuid>>>,
    senders: &mut JoinSet<()>,
) -> Result<(), StoreError> {
    let DispatchContext {
        store,
        sender,
        settings,
        owner,
        shutdown,
        metrics,
    } = *context;
    let capacity = settings.concurrency.max(1).saturating_sub(senders.len());
    if capacity == 0 {
        return Ok(());
    }
    let due = store
        .webhook_endpoints_due(Utc::now(), u64::try_from(capacity * 4).unwrap_or(u64::MAX))
        .await?;
    for endpoint_id in due {
        if senders.len() >= settings.concurrency.max(1) {
            break;
        }
        let fresh = busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(endpoint_id.as_uuid());
        if !fresh {
            continue;
        }
        let task = EndpointSender {
            store: store.clone(),
            sender: sender.clone(),
            settings,
            owner: owner.to_owned(),
            endpoint_id,
            shutdown: shutdown.clone(),
            metrics: metrics.clone(),
        };
        let busy = busy.clone();
        senders.spawn(async move {
            if let Err(error) = task.run().await {
                tracing::warn!(
                    %error,
                    endpoint = %endpoint_id.to_global().as_str(),
                    "failed to send webhook deliveries; the next round retries"
                );
            }
            busy.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&endpoint_id.as_uuid());
        });
    }
    Ok(())
}

/// Sends one endpoint's due deliveries in order while it holds the endpoint's lease.
struct EndpointSender {
    store: Store,
    sender: Arc<Sender>,
    settings: WebhookSettings,
    owner: String,
    endpoint_id: headway_domain::ids::WebhookEndpointId,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
}

impl EndpointSender {
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.timeout * 2 + Duration::from_secs(30))
            .unwrap_or(chrono::Duration::minutes(5))
    }

    async fn run(self) -> Result<(), StoreError> {
        let result = self.send_due().await;
        self.store
            .release_webhook_endpoint(self.endpoint_id, &self.owner)
            .await?;
        result
    }

    async fn send_due(&self) -> Result<(), StoreError> {
        loop {
            if *self.shutdown.borrow() {
                return Ok(());
            }
            let now = Utc::now();
            // Claiming again each time renews the lease and reads the endpoint's URL and
            // secret as they are now.
            let Some(claimed) = self
                .store
                .claim_webhook_endpoint(self.endpoint_id, &self.owner, now, now + self.lease())
                .await?
            else {
                return Ok(());
            };
            let Some(delivery) = self.store.next_webhook_delivery(self.endpoint_id).await? else {
                return Ok(());
            };
            // Later deliveries wait while the first one waits for its retry.
            if delivery.next_attempt_at.is_some_and(|at| at > now) {
                return Ok(());
            }
            let result = self.attempt(&claimed, &delivery).await?;
            if result.endpoint_disabled {
                tracing::warn!(
                    endpoint = %self.endpoint_id.to_global().as_str(),
                    failures = self.settings.disable_after,
                    "disabled a webhook endpoint after failed attempts in a row"
                );
                return Ok(());
            }
            if result.retry_later {
                return Ok(());
            }
        }
    }

    async fn attempt(
        &self,
        claimed: &headway_persistence::webhooks::ClaimedEndpoint,
        delivery: &WebhookDelivery,
    ) -> Result<AttemptOutcome, StoreError> {
        let delivery_id = delivery.id.to_global().to_string();
        let event_id = encode_event_id(delivery.event_id);
        let attempt = delivery.attempts + 1;
        let span = tracing::info_span!(
            "webhook.delivery",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            webhook.endpoint_id = %self.endpoint_id.to_global().as_str(),
            webhook.delivery_id = %delivery_id,
            webhook.event_type = %delivery.event_type,
            webhook.attempt = attempt,
            http.response.status_code = tracing::field::Empty,
            webhook.outcome = tracing::field::Empty,
        );
        let started = Instant::now();
        let (record, verdict) = self
            .sender
            .send(&Outgoing {
                url: &claimed.endpoint.url,
                secret: &claimed.secret,
                previous_secret: claimed.previous_secret.as_deref(),
                delivery_id: &delivery_id,
                event_id: &event_id,
                event_type: &delivery.event_type,
                body: &delivery.body,
            })
            .instrument(span.clone())
            .await;
        self.metrics
            .webhook_attempt_seconds
            .observe(started.elapsed().as_secs_f64());
        let result = match verdict {
            AttemptVerdict::Delivered => AttemptResult::Delivered,
            AttemptVerdict::Retry if attempt < self.settings.retry.max_attempts => {
                let wait = self.settings.retry.delay(attempt, rand::random::<f64>());
                AttemptResult::RetryAt(
                    Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                )
            }
            AttemptVerdict::Retry | AttemptVerdict::GiveUp => AttemptResult::Failed,
        };
        let outcome = match result {
            AttemptResult::Delivered => "delivered",
            AttemptResult::RetryAt(_) => "retry",
            AttemptResult::Failed => "failed",
        };
        if let Some(status) = record.response_status {
            span.record("http.response.status_code", status);
        }
        span.record("webhook.outcome", outcome);
        if outcome != "delivered" {
            span.record("otel.status_code", "ERROR");
        }
        self.metrics
            .webhook_deliveries
            .get_or_create(&crate::metrics::OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
        let recorded = self
            .store
            .record_webhook_attempt(
                delivery,
                record,
                result,
                self.settings.disable_after,
                Utc::now(),
            )
            .await?;
        Ok(AttemptOutcome {
            retry_later: matches!(result, AttemptResult::RetryAt(_)),
            endpoint_disabled: recorded.endpoint_disabled,
        })
    }
}

struct AttemptOutcome {
    /// The delivery waits for a retry, and the ones after it wait with it.
    retry_later: bool,
    endpoint_disabled: bool,
}

/// Builds the body of a test delivery.
pub fn test_body(
    event_id: &str,
    endpoint: &headway_domain::webhooks::WebhookEndpoint,
    at: DateTime<Utc>,
) -> serde_json::Value {
    serde_json::json!({
        "id": event_id,
        "type": "PING",
        "sequence": 0,
        "organizationId": endpoint.organization_id.to_global().to_string(),
        "occurredAt": at,
        "data": {
            "endpointId": endpoint.id.to_global().to_string(),
            "message": "A test delivery from Headway; the signature shows whether the secret matches.",
        },
    })
}
