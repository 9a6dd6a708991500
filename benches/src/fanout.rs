//! Subscription fan-out: many `graphql-transport-ws` subscribers, one event, and the time
//! until each subscriber has it. The peer is a minimal broadcast server in this binary.

use crate::load::{Stats, summarize};
use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub const SUBPROTOCOL: &str = "graphql-transport-ws";

/// The subscription every subscriber opens on Headway.
pub const PROGRESS_SUBSCRIPTION: &str =
    "subscription($scope: EventScopeInput) { progress(scope: $scope) { sequence newValue } }";

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The event a round waits for: the value it published and when it published it.
#[derive(Clone, Copy, Debug)]
struct Round {
    number: u64,
    value: f64,
    started: Instant,
}

/// Open subscriber connections and the deliveries they report.
#[derive(Debug)]
pub struct Subscribers {
    url: String,
    authorization: Option<String>,
    subscribe: Value,
    round: Arc<RwLock<Option<Round>>>,
    deliveries_sender: mpsc::UnboundedSender<(u64, Duration)>,
    deliveries: mpsc::UnboundedReceiver<(u64, Duration)>,
    /// Connections that closed or reported an error after subscribing.
    pub lost: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Delivery latency of a number of subscribers over several rounds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FanOut {
    pub subscribers: usize,
    pub rounds: usize,
    /// Deliveries that did not arrive within the round's timeout.
    pub missed: u64,
    pub lost_connections: u64,
    /// From just before the event was sent to each subscriber's receipt.
    pub delivery: Stats,
    /// Latency of the request that caused the event (the check-in, or the publish message).
    pub trigger_p50_ms: f64,
    /// Resident memory of the server before the subscribers connected, in bytes.
    pub rss_before: u64,
    /// Resident memory of the server with the subscribers connected and idle, in bytes.
    pub rss_idle: u64,
    pub bytes_per_subscription: f64,
    /// The growth in resident memory since the previous, smaller count, per added
    /// subscription, in bytes; it leaves out what the first connections cost once.
    pub marginal_bytes_per_subscription: Option<f64>,
    /// Seconds taken to connect and subscribe all subscribers.
    pub connect_seconds: f64,
}

impl Subscribers {
    /// Prepares subscribers of `url` (http or ws) that send `authorization` in
    /// `connection_init` and subscribe with `payload`.
    pub fn new(url: &str, authorization: Option<String>, payload: Value) -> Self {
        let (deliveries_sender, deliveries) = mpsc::unbounded_channel();
        Self {
            url: url.replacen("http://", "ws://", 1),
            authorization,
            subscribe: json!({ "id": "1", "type": "subscribe", "payload": payload }),
            round: Arc::new(RwLock::new(None)),
            deliveries_sender,
            deliveries,
            lost: Arc::new(AtomicU64::new(0)),
            tasks: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Opens connections until there are `total`, `batch` handshakes at a time so that the
    /// server's accept backlog is not overrun.
    pub async fn grow_to(&mut self, total: usize, batch: usize) -> Result<()> {
        while self.tasks.len() < total {
            let count = batch.min(total - self.tasks.len());
            let handshakes = (0..count)
                .map(|_| connect(&self.url, self.authorization.as_deref(), &self.subscribe));
            for socket in futures::future::join_all(handshakes).await {
                let socket = socket?;
                self.tasks.push(tokio::spawn(read(
                    socket,
                    self.round.clone(),
                    self.deliveries_sender.clone(),
                    self.lost.clone(),
                )));
            }
        }
        Ok(())
    }

    /// Announces a round, awaits `trigger` and collects deliveries until every subscriber
    /// has reported or `timeout` passes. Returns the latencies and the trigger's latency.
    /// The trigger is a future that does nothing until awaited, so the clock starts
    /// just before it sends.
    pub async fn round<Fut>(
        &mut self,
        number: u64,
        value: f64,
        timeout: Duration,
        trigger: Fut,
    ) -> Result<(Vec<Duration>, Duration)>
    where
        Fut: std::future::Future<Output = Result<()>>,
    {
        while self.deliveries.try_recv().is_ok() {}
        let started = Instant::now();
        *self.round.write().unwrap_or_else(PoisonError::into_inner) = Some(Round {
            number,
            value,
            started,
        });
        trigger.await?;
        let triggered = started.elapsed();
        let deadline = tokio::time::Instant::from_std(started + timeout);
        let mut latencies = Vec::with_capacity(self.tasks.len());
        while latencies.len() < self.tasks.len() {
            match tokio::time::timeout_at(deadline, self.deliveries.recv()).await {
                Ok(Some((round, latency))) if round == number => latencies.push(latency),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        Ok((latencies, triggered))
    }

    /// Closes every connection.
    pub fn close(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

async fn connect(url: &str, authorization: Option<&str>, subscribe: &Value) -> Result<Socket> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", SUBPROTOCOL.parse()?);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(small_buffers()), true)
            .await
            .with_context(|| format!("the WebSocket handshake with {url} failed"))?;
    let payload =
        authorization.map_or_else(|| json!({}), |value| json!({ "Authorization": value }));
    send(
        &mut socket,
        &json!({ "type": "connection_init", "payload": payload }),
    )
    .await?;
    let acknowledged = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(frame) = socket.next().await {
            if let Message::Text(text) = frame? {
                let message: Value = serde_json::from_str(&text)?;
                match message["type"].as_str() {
                    Some("connection_ack") => return Ok(()),
                    Some("ping") => send(&mut socket, &json!({ "type": "pong" })).await?,
                    _ => bail!("expected connection_ack, got {message}"),
                }
            }
        }
        bail!("the connection closed before connection_ack")
    })
    .await;
    match acknowledged {
        Ok(result) => result?,
        Err(_) => bail!("no connection_ack from {url} within 30 s"),
    }
    send(&mut socket, subscribe).await?;
    Ok(socket)
}

/// WebSocket settings for many mostly idle connections. tungstenite allocates its read
/// buffer up front, 128 KiB by default, and its documentation suggests 4 KiB for this case.
fn small_buffers() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024)
}

async fn send(socket: &mut Socket, message: &Value) -> Result<()> {
    socket
        .send(Message::Text(message.to_string().into()))
        .await?;
    Ok(())
}

/// Reads one subscriber's messages: it replies to pings and reports the first delivery of
/// each round's value.
async fn read(
    mut socket: Socket,
    round: Arc<RwLock<Option<Round>>>,
    deliveries: mpsc::UnboundedSender<(u64, Duration)>,
    lost: Arc<AtomicU64>,
) {
    let mut reported = u64::MAX;
    while let Some(frame) = socket.next().await {
        let Ok(Message::Text(text)) = frame else {
            if !matches!(
                frame,
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))
            ) {
                break;
            }
            continue;
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match message["type"].as_str() {
            Some("ping") => {
                let answered = send(&mut socket, &json!({ "type": "pong" })).await;
                if answered.is_err() {
                    break;
                }
            }
            Some("next") => {
                let current = *round.read().unwrap_or_else(PoisonError::into_inner);
                let Some(current) = current else {
                    continue;
                };
                let value = &message["payload"]["data"]["progress"]["newValue"];
                let value = value
                    .as_f64()
                    .or_else(|| value.as_str().and_then(|text| text.parse().ok()));
                if reported != current.number
                    && value.is_some_and(|value| (value - current.value).abs() < 1e-6)
                {
                    reported = current.number;
                    let _ = deliveries.send((current.number, current.started.elapsed()));
                }
            }
            Some("error" | "complete") => break,
            _ => {}
        }
    }
    lost.fetch_add(1, Ordering::Relaxed);
}

/// Summarizes the measured rounds of one subscriber count.
pub fn summarize_rounds(subscribers: usize, rounds: &[(Vec<Duration>, Duration)]) -> FanOut {
    let expected = (subscribers * rounds.len()) as u64;
    let samples: Vec<Duration> = rounds
        .iter()
        .flat_map(|(latencies, _)| latencies.iter().copied())
        .collect();
    let received = samples.len() as u64;
    let window: Duration = rounds
        .iter()
        .map(|(latencies, _)| latencies.iter().max().copied().unwrap_or_default())
        .sum();
    let mut triggers: Vec<Duration> = rounds.iter().map(|(_, trigger)| *trigger).collect();
    triggers.sort_unstable();
    FanOut {
        subscribers,
        rounds: rounds.len(),
        missed: expected.saturating_sub(received),
        delivery: summarize(samples, expected.saturating_sub(received), None, window),
        trigger_p50_ms: crate::load::percentile(&triggers, 50.0).as_secs_f64() * 1_000.0,
        ..FanOut::default()
    }
}

/// Serves the broadcast peer on 127.0.0.1:`port` until the process is stopped.
///
/// It speaks just enough `graphql-transport-ws` for the subscribers above: it acknowledges
/// `connection_init`, registers a `subscribe`, pings every 15 s like Headway, and forwards
/// the payload of every `{"type":"publish"}` message to every subscriber as `next`.
pub async fn serve_broadcast(port: u16) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("failed to listen on 127.0.0.1:{port}"))?;
    let (events, _) = broadcast::channel::<Arc<str>>(1_024);
    loop {
        let (stream, _) = listener.accept().await?;
        let events = events.clone();
        tokio::spawn(async move {
            let _ = serve_connection(stream, events).await;
        });
    }
}

// The handshake callback's error type is fixed by tungstenite.
#[allow(clippy::result_large_err)]
async fn serve_connection(stream: TcpStream, events: broadcast::Sender<Arc<str>>) -> Result<()> {
    stream.set_nodelay(true)?;
    let choose_protocol =
        |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
            let offered = request
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.split(',').any(|name| name.trim() == SUBPROTOCOL));
            if offered && let Ok(value) = SUBPROTOCOL.parse() {
                response
                    .headers_mut()
                    .insert("sec-websocket-protocol", value);
            }
            Ok(response)
        };
    let mut socket = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        choose_protocol,
        Some(small_buffers()),
    )
    .await?;
    let mut subscription: Option<(String, broadcast::Receiver<Arc<str>>)> = None;
    let keep_alive = Duration::from_secs(15);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    loop {
        tokio::select! {
            frame = socket.next() => {
                let Some(Ok(frame)) = frame else { break };
                let Message::Text(text) = frame else {
                    if frame.is_close() { break }
                    continue;
                };
                let message: Value = serde_json::from_str(&text)?;
                match message["type"].as_str() {
                    Some("connection_init") => {
                        socket.send(Message::Text(r#"{"type":"connection_ack"}"#.into())).await?;
                    }
                    Some("subscribe") => {
                        let id = message["id"].to_string();
                        subscription = Some((id, events.subscribe()));
                    }
                    Some("publish") => {
                        let _ = events.send(Arc::from(message["payload"].to_string()));
                    }
                    Some("ping") => {
                        socket.send(Message::Text(r#"{"type":"pong"}"#.into())).await?;
                    }
                    _ => {}
                }
            }
            event = next_event(&mut subscription) => {
                if let Some((id, payload)) = event {
                    let text = format!(r#"{{"id":{id},"type":"next","payload":{payload}}}"#);
                    socket.send(Message::Text(text.into())).await?;
                }
            }
            _ = ping.tick() => {
                socket.send(Message::Text(r#"{"type":"ping"}"#.into())).await?;
            }
        }
    }
    Ok(())
}

/// Returns the next broadcast event of a subscription, and never completes without one.
async fn next_event(
    subscription: &mut Option<(String, broadcast::Receiver<Arc<str>>)>,
) -> Option<(String, Arc<str>)> {
    let Some((id, receiver)) = subscription else {
        return std::future::pending().await;
    };
    match receiver.recv().await {
        Ok(payload) => Some((id.clone(), payload)),
        Err(broadcast::error::RecvError::Lagged(_)) => None,
        Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
    }
}

/// A control connection to the broadcast peer that publishes events.
#[derive(Debug)]
pub struct Publisher(Socket);

impl Publisher {
    pub async fn connect(url: &str) -> Result<Self> {
        let mut request = url.replacen("http://", "ws://", 1).into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", SUBPROTOCOL.parse()?);
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self(socket))
    }

    /// Publishes the event that Headway's progress subscription would carry for `value`.
    pub async fn publish(&mut self, sequence: u64, value: f64) -> Result<()> {
        let message = json!({ "type": "publish", "payload": { "data": { "progress": { "sequence": sequence.to_string(), "newValue": value.to_string() } } } });
        send(&mut self.0, &message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn broadcast_peer_reaches_every_subscriber() {
        let port = crate::process::free_port().unwrap();
        tokio::spawn(serve_broadcast(port));
        let url = format!("http://127.0.0.1:{port}/");
        let mut ready = false;
        for _ in 0..50 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(ready, "the broadcast peer did not listen");

        let mut subscribers =
            Subscribers::new(&url, None, json!({ "query": "subscription { x }" }));
        subscribers.grow_to(20, 7).await.unwrap();
        assert_eq!(subscribers.len(), 20);

        let mut publisher = Publisher::connect(&url).await.unwrap();
        // Subscriptions register asynchronously, so the first round may miss some.
        let _ = subscribers
            .round(
                0,
                1.0,
                Duration::from_millis(500),
                publisher.publish(0, 1.0),
            )
            .await
            .unwrap();

        let (latencies, _) = subscribers
            .round(1, 2.0, Duration::from_secs(5), publisher.publish(1, 2.0))
            .await
            .unwrap();
        assert_eq!(latencies.len(), 20);
        let summary = summarize_rounds(20, &[(latencies, Duration::from_millis(1))]);
        assert_eq!(summary.missed, 0);
        subscribers.close();
    }
}
