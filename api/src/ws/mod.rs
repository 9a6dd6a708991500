//! GraphQL over WebSocket: the `graphql-transport-ws` protocol and the legacy `graphql-ws`
//! protocol of subscriptions-transport-ws, on `/graphql`.
//!
//! The connection is a small state machine. Clients authenticate in `connection_init`
//! (`{"Authorization": "Bearer <token>"}`), or with the headers of the upgrade request.
//! Protocol violations close the socket with the codes `graphql-transport-ws` defines:
//! 4400 invalid message, 4401 subscribe before acknowledgement, 4403 rejected credentials,
//! 4408 no `connection_init` in time, 4409 duplicate subscriber id, 4429 a second
//! `connection_init`. Shutdown closes every socket with 1001 so that clients reconnect
//! elsewhere.

mod feed;
mod protocol;

use crate::auth::{self, ORGANIZATION_HEADER};
use crate::graphql::context::{Principal, RequestState};
use crate::graphql::loaders::{Loaders, RequestLoaders};
use crate::http::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message, ProtocolError};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError};
use feed::FeedItem;
use futures::stream::{BoxStream, Stream, StreamExt};
use protocol::{ClientMessage, Protocol};
use serde_json::{Value, json};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio_stream::StreamMap;
use tracing::Instrument as _;

pub use feed::Feeds;

/// Limits and timings of WebSocket connections.
#[derive(Clone, Copy, Debug)]
pub struct SocketSettings {
    /// How long a client has to send `connection_init`.
    pub init_timeout: Duration,
    /// How often the server pings (or sends `ka` in the legacy protocol).
    pub keep_alive: Duration,
    /// How often an authenticated connection checks its credentials again.
    pub reauthenticate: Duration,
    /// Most subscriptions open at once on one connection.
    pub max_subscriptions: usize,
    /// Largest message a client may send, in bytes.
    pub max_message_bytes: usize,
}

/// Whether a request asks to upgrade to a WebSocket.
pub fn is_upgrade(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(actix_web::http::header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// Upgrades `GET /graphql` to a WebSocket and serves it until it closes.
pub async fn upgrade(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let requested = protocol::requested(&request);
    let Some(protocol) = requested.iter().find_map(|name| Protocol::from_name(name)) else {
        return HttpResponse::BadRequest().json(json!({
            "errors": [{ "message": "WebSocket clients must offer the graphql-transport-ws or graphql-ws subprotocol" }]
        }));
    };
    let request_id = crate::http::graphql::request_id(&request);
    let credentials = match auth::credential_headers(request.headers()) {
        Ok(credentials) => credentials,
        Err(error) => {
            return crate::http::graphql::api_error_response(
                crate::http::negotiation::ResponseType::Json,
                &error,
                &request_id,
            );
        }
    };
    let (response, session, stream) =
        match actix_ws::handle_with_protocols(&request, body, &[protocol.name()]) {
            Ok(parts) => parts,
            Err(error) => return error.error_response(),
        };
    let stream = stream.max_frame_size(state.sockets.max_message_bytes);
    let handshake = Handshake {
        authorization: credentials.authorization,
        organization: credentials.organization,
        request_id,
    };
    let span = tracing::info_span!(
        "websocket.connection",
        otel.kind = "server",
        protocol = protocol.name(),
        request_id = %handshake.request_id,
    );
    actix_web::rt::spawn(serve(protocol, session, stream, state, handshake).instrument(span));
    response
}

/// Credentials and ids from the upgrade request.
struct Handshake {
    authorization: Option<String>,
    organization: Option<String>,
    request_id: String,
}

/// A message of an operation for its client.
enum Outgoing {
    Failed(Vec<ServerError>),
    Response(Response),
    Shared(Arc<FeedItem>),
    Done,
}

fn close(code: u16, description: &str) -> CloseReason {
    CloseReason {
        code: CloseCode::Other(code),
        description: Some(description.to_owned()),
    }
}

/// Serves one connection until either side closes it.
async fn serve(
    protocol: Protocol,
    mut session: actix_ws::Session,
    mut stream: actix_ws::MessageStream,
    state: web::Data<AppState>,
    handshake: Handshake,
) {
    let mut shutdown = state.shutdown.clone();
    let settings = state.sockets;
    let init_deadline = tokio::time::sleep(settings.init_timeout);
    tokio::pin!(init_deadline);
    let mut keep_alive = tokio::time::interval_at(
        tokio::time::Instant::now() + settings.keep_alive,
        settings.keep_alive,
    );
    // The first check falls at a random point of the first period, so that sockets opened
    // together (after a replica restart, say) do not all check at the same moment.
    let first_check = settings
        .reauthenticate
        .mul_f64(rand::random_range(0.5..=1.0));
    let mut reauthenticate = tokio::time::interval_at(
        tokio::time::Instant::now() + first_check,
        settings.reauthenticate,
    );
    reauthenticate.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut principal: Option<Principal> = None;
    let mut credentials = Credentials::default();
    let mut init_received = false;
    let mut subscriptions: StreamMap<String, Operation> = StreamMap::new();
    state.metrics_sockets(1);

    // Any frame from the client, such as the pong sent in reply to a ping frame, shows that the
    // connection is alive.
    let mut last_heard = tokio::time::Instant::now();
    let reason: Option<CloseReason> = loop {
        tokio::select! {
            message = stream.next() => {
                if matches!(message, Some(Ok(_))) {
                    last_heard = tokio::time::Instant::now();
                }
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() { break None; }
                        continue;
                    }
                    Some(Ok(Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => break Some(close(4400, "binary messages are not part of the protocol")),
                    // The closing handshake echoes the client's status code.
                    Some(Ok(Message::Close(reason))) => break reason,
                    None => break None,
                    Some(Ok(Message::Continuation(_) | Message::Nop)) => continue,
                    Some(Err(ProtocolError::Overflow)) => break Some(CloseReason {
                        code: CloseCode::Size,
                        description: Some(format!("message larger than {} bytes (HEADWAY_MAX_BODY_BYTES)", settings.max_message_bytes)),
                    }),
                    // A transport error means the connection is gone; invalid UTF-8 text
                    // comes as InvalidData.
                    Some(Err(ProtocolError::Io(error))) if error.kind() != std::io::ErrorKind::InvalidData => break None,
                    Some(Err(_)) => break Some(close(4400, "invalid WebSocket frame")),
                };
                let message = match ClientMessage::parse(protocol, &text) {
                    Ok(message) => message,
                    Err(problem) => break Some(close(4400, &problem)),
                };
                match message {
                    ClientMessage::ConnectionInit { payload } => {
                        if init_received {
                            break Some(close(4429, "Too many initialisation requests"));
                        }
                        init_received = true;
                        // Boxed: the connection's future lives as long as the socket, and would
                        // otherwise keep room for this one-off call's state all that time.
                        credentials = Credentials::of(&handshake, payload.as_ref());
                        match Box::pin(authenticate(&state, &credentials)).await {
                            Ok(authenticated) => {
                                principal = Some(authenticated);
                                if session.text(protocol.ack()).await.is_err() { break None; }
                                if protocol == Protocol::Legacy && session.text(protocol::LEGACY_KEEP_ALIVE).await.is_err() {
                                    break None;
                                }
                            }
                            Err(message) => {
                                if protocol == Protocol::Legacy {
                                    let _ = session.text(json!({ "type": "connection_error", "payload": { "message": message } }).to_string()).await;
                                }
                                break Some(close(4403, &forbidden_reason(&message)));
                            }
                        }
                    }
                    ClientMessage::Ping { payload } => {
                        let pong = match payload {
                            Some(payload) => json!({ "type": "pong", "payload": payload }),
                            None => json!({ "type": "pong" }),
                        };
                        if session.text(pong.to_string()).await.is_err() { break None; }
                    }
                    ClientMessage::Pong => {}
                    ClientMessage::Subscribe { id, request } => {
                        let Some(principal) = &principal else {
                            break Some(close(4401, "Unauthorized"));
                        };
                        if subscriptions.contains_key(&id) {
                            if protocol == Protocol::Legacy {
                                continue;
                            }
                            break Some(close(4409, &format!("Subscriber for {id} already exists")));
                        }
                        let rate_key = principal.rate_key().unwrap_or_else(|| "anonymous-socket".to_owned());
                        if let Err(limited) = Box::pin(state.rate_limiter.check(&rate_key, 1)).await {
                            state.metrics.record_errors(["RATE_LIMITED".to_owned()]);
                            let error = json!([{ "message": format!("rate limit exceeded (HEADWAY_RATE_LIMIT_PER_SECOND); retry after {} ms", limited.retry_after.as_millis()), "extensions": { "code": "RATE_LIMITED", "requestId": handshake.request_id } }]);
                            if session.text(protocol.error(&id, &error)).await.is_err() { break None; }
                            continue;
                        }
                        if subscriptions.len() >= settings.max_subscriptions {
                            state.metrics.record_errors(["BAD_USER_INPUT".to_owned()]);
                            let error = json!([{ "message": format!("this connection already has {} subscriptions, the maximum (HEADWAY_WS_MAX_SUBSCRIPTIONS)", settings.max_subscriptions), "extensions": { "code": "BAD_USER_INPUT", "requestId": handshake.request_id } }]);
                            if session.text(protocol.error(&id, &error)).await.is_err() { break None; }
                            continue;
                        }
                        let operation = start(&state, principal.clone(), &handshake.request_id, *request);
                        subscriptions.insert(id, operation);
                    }
                    ClientMessage::Complete { id } => {
                        if subscriptions.remove(&id).is_some()
                            && protocol == Protocol::Legacy
                            && session.text(protocol.complete(&id)).await.is_err()
                        {
                            break None;
                        }
                    }
                    ClientMessage::Terminate => break Some(CloseReason { code: CloseCode::Normal, description: None }),
                }
            }
            Some((id, message)) = subscriptions.next() => {
                let request_id = handshake.request_id.as_str();
                let text = match message {
                    Outgoing::Failed(mut errors) => {
                        subscriptions.remove(&id);
                        report(&state, &mut errors, request_id);
                        protocol.error(&id, &errors)
                    }
                    Outgoing::Response(mut response) => {
                        report(&state, &mut response.errors, request_id);
                        protocol.response(&id, &response)
                    }
                    Outgoing::Shared(item) => match item.as_ref() {
                        FeedItem::Payload(payload) => protocol.response_text(&id, payload),
                        FeedItem::Response(shared) => {
                            let mut response = Response::new(shared.data.clone());
                            response.extensions.clone_from(&shared.extensions);
                            response.errors.clone_from(&shared.errors);
                            report(&state, &mut response.errors, request_id);
                            protocol.response(&id, &response)
                        }
                        FeedItem::Failed(errors) => {
                            subscriptions.remove(&id);
                            let mut errors = errors.clone();
                            report(&state, &mut errors, request_id);
                            protocol.error(&id, &errors)
                        }
                        FeedItem::Done => {
                            subscriptions.remove(&id);
                            protocol.complete(&id)
                        }
                    },
                    Outgoing::Done => {
                        subscriptions.remove(&id);
                        protocol.complete(&id)
                    }
                };
                if session.text(text).await.is_err() { break None; }
            }
            _ = reauthenticate.tick(), if principal.as_ref().is_some_and(|principal| !matches!(principal, Principal::Anonymous)) => {
                // Access ends with the token's expiry or revocation, or the membership's
                // removal, also for a connection that is already open.
                let current = Box::pin(authenticate(&state, &credentials)).await;
                match (current, &principal) {
                    (Ok(current), Some(previous)) if same_access(&current, previous) => {}
                    (Ok(_), _) => {
                        tracing::info!("closing a WebSocket connection whose access changed");
                        break Some(close(4403, "Forbidden: access changed; reconnect"));
                    }
                    (Err(message), _) => {
                        tracing::info!(reason = %message, "closing a WebSocket connection whose credentials no longer hold");
                        break Some(close(4403, &forbidden_reason(&message)));
                    }
                }
            }
            () = &mut init_deadline, if !init_received => {
                break Some(close(4408, "Connection initialisation timeout"));
            }
            _ = keep_alive.tick() => {
                // Every compliant WebSocket client replies to ping frames by itself, so a client
                // that stays silent through several of them has gone, as a phone that lost
                // its network leaves a half-open connection.
                let silence = last_heard.elapsed();
                if silence > settings.keep_alive * SILENT_PINGS {
                    break Some(CloseReason {
                        code: CloseCode::Away,
                        description: Some(format!("no frame from the client for {} s; reconnect", silence.as_secs())),
                    });
                }
                let sent = match protocol {
                    Protocol::TransportWs => session.text(json!({ "type": "ping" }).to_string()).await,
                    Protocol::Legacy => session.text(protocol::LEGACY_KEEP_ALIVE).await,
                };
                if sent.is_err() || session.ping(b"").await.is_err() { break None; }
            }
            () = crate::live::stopping(&mut shutdown) => {
                break Some(CloseReason { code: CloseCode::Away, description: Some("server shutting down; reconnect".to_owned()) });
            }
        }
    };

    drop(subscriptions);
    state.metrics_sockets(-1);
    log_close(reason.as_ref(), &handshake.request_id);
    state
        .metrics
        .record_websocket_close(reason.as_ref().map(|reason| u16::from(reason.code)));
    let _ = session.close(reason).await;
}

/// The credentials a connection authenticates with: from the `connection_init` payload, or
/// from the upgrade request's headers when the payload carries none.
#[derive(Default)]
struct Credentials {
    authorization: Option<String>,
    organization: Option<String>,
}

impl Credentials {
    fn of(handshake: &Handshake, payload: Option<&Value>) -> Self {
        let field = |names: &[&str]| -> Option<String> {
            let object = payload?.as_object()?;
            names
                .iter()
                .find_map(|name| {
                    object
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(name))
                })
                .and_then(|(_, value)| value.as_str())
                .map(str::to_owned)
        };
        Self {
            authorization: field(&["authorization"])
                .or_else(|| field(&["token"]).map(|token| format!("Bearer {token}")))
                .or_else(|| handshake.authorization.clone()),
            organization: field(&[ORGANIZATION_HEADER, "organization"])
                .or_else(|| handshake.organization.clone()),
        }
    }
}

/// How many keep-alive intervals a client may stay silent, ping frames unanswered, before
/// the server closes its connection.
const SILENT_PINGS: u32 = 3;

/// The maximum length of a close frame's reason: 125 bytes of payload less the 2-byte code
/// (RFC 6455, section 5.5).
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// Builds the reason of a 4403 close: `Forbidden: ` and the authentication message, cut at
/// a character boundary to fit a close frame.
fn forbidden_reason(message: &str) -> String {
    let mut reason = format!("Forbidden: {message}");
    if reason.len() > MAX_CLOSE_REASON_BYTES {
        let mut end = MAX_CLOSE_REASON_BYTES;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// Logs why the server closed a connection: protocol violations and rejected credentials
/// at info level, ordinary ends at debug level.
fn log_close(reason: Option<&CloseReason>, request_id: &str) {
    let Some(reason) = reason else {
        tracing::debug!(request_id, "WebSocket connection ended");
        return;
    };
    let code = u16::from(reason.code);
    let description = reason.description.as_deref().unwrap_or_default();
    if matches!(code, 1000 | 1001) {
        tracing::debug!(
            request_id,
            code,
            description,
            "closed a WebSocket connection"
        );
    } else {
        tracing::info!(
            request_id,
            code,
            description,
            "closed a WebSocket connection"
        );
    }
}

/// Gives the errors of a message for the client their codes and the connection's request
/// id, and counts them in the metrics.
fn report(state: &AppState, errors: &mut [ServerError], request_id: &str) {
    if errors.is_empty() {
        return;
    }
    crate::graphql::error::tag_errors(errors, request_id);
    state
        .metrics
        .record_errors(errors.iter().map(crate::graphql::error::code_of));
}

/// Resolves the principal of a connection's credentials at the current time.
async fn authenticate(state: &AppState, credentials: &Credentials) -> Result<Principal, String> {
    auth::authenticate(
        &state.authenticator,
        &state.store,
        credentials.authorization.as_deref(),
        credentials.organization.as_deref(),
        state.store.now(),
    )
    .await
    .map_err(|error| error.message)
}

/// Checks whether two principals read and write the same: the same organization, role and
/// token scopes. Shared feeds and running operations rely on that staying the same.
fn same_access(current: &Principal, previous: &Principal) -> bool {
    let scopes = |principal: &Principal| match principal {
        Principal::ApiToken(token) => Some(token.scopes.clone()),
        Principal::User(_) | Principal::Anonymous => None,
    };
    current.organization_id() == previous.organization_id()
        && current.role() == previous.role()
        && scopes(current) == scopes(previous)
}

/// Prepares one operation; the connection polls its responses. Subscriptions join the
/// replica's shared feed for their request when they can.
fn start(
    state: &web::Data<AppState>,
    principal: Principal,
    request_id: &str,
    request: Request,
) -> Operation {
    // Parsed once here for the metrics label and the feed key; execution parses again.
    let document = async_graphql::parser::parse_query(&request.query).ok();
    let running = RunningOperation::start(
        state.metrics.clone(),
        document
            .as_ref()
            .and_then(|document| subscription_label(&state.metrics, &request, document)),
    );
    let execute = |principal: Principal, request: Request| {
        let organization_id = principal.organization_id();
        // Long-lived operations read fresh records for every event, so nothing is memoized.
        let loaders =
            RequestLoaders::new(Loaders::new(state.store.clone(), organization_id), false);
        let request = request
            .data(RequestState::live(principal, request_id.to_owned()))
            .data(loaders);
        state.schema.execute_stream(request)
    };
    let source = match state
        .feeds
        .join(&principal, request, document.as_ref(), |request| {
            execute(principal.clone(), request)
        }) {
        Ok(subscriber) => Source::Shared(subscriber),
        Err(request) => Source::Own(execute(principal, *request)),
    };
    Operation {
        source,
        started: false,
        finished: false,
        running,
    }
}

/// Returns the metrics label of a subscription request, or `None` for queries and
/// mutations, which the schema's hooks count.
fn subscription_label(
    metrics: &crate::metrics::Metrics,
    request: &Request,
    document: &ExecutableDocument,
) -> Option<String> {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let (name, operation) = match &document.operations {
        DocumentOperations::Single(operation) => (request.operation_name.clone(), operation),
        DocumentOperations::Multiple(operations) => match &request.operation_name {
            Some(name) => (Some(name.clone()), operations.get(name.as_str())?),
            None if operations.len() == 1 => {
                let (name, operation) = operations.iter().next()?;
                (Some(name.to_string()), operation)
            }
            None => return None,
        },
    };
    (operation.node.ty == OperationType::Subscription)
        .then(|| metrics.operation_label(name.as_deref()))
}

/// The source of an operation's results.
enum Source {
    /// Its own execution.
    Own(BoxStream<'static, Response>),
    /// A feed shared with identical subscriptions.
    Shared(feed::Subscriber),
}

/// One running operation of a connection. The connection's own task polls it, so each
/// event costs no task switch and no channel between the operation and the socket.
struct Operation {
    source: Source,
    /// Whether a first result went out. An operation that fails before that ends with `error`.
    started: bool,
    finished: bool,
    running: RunningOperation,
}

/// Checks whether a first response ends its operation: no data and errors, as when the
/// document or an argument is invalid. Such an operation ends with `error`, not `next`.
fn fails_before_start(response: &Response) -> bool {
    response.data == async_graphql::Value::Null && !response.errors.is_empty()
}

/// Polls an operation's own execution.
fn poll_own(
    responses: &mut BoxStream<'static, Response>,
    started: bool,
    cx: &mut Context<'_>,
) -> Poll<Outgoing> {
    Poll::Ready(match ready!(responses.poll_next_unpin(cx)) {
        Some(response) => {
            if !started && fails_before_start(&response) {
                Outgoing::Failed(response.errors)
            } else {
                Outgoing::Response(response)
            }
        }
        None => Outgoing::Done,
    })
}

/// Polls a subscriber's place in a shared feed.
fn poll_shared(subscriber: &mut feed::Subscriber, cx: &mut Context<'_>) -> Poll<Outgoing> {
    Poll::Ready(match ready!(subscriber.receiver.poll_next_unpin(cx)) {
        Some(Ok(item)) => Outgoing::Shared(item),
        Some(Err(skipped)) => {
            let mut error = ServerError::new(
                format!(
                    "the client read this subscription too slowly: {skipped} messages were dropped after {} queued up; subscribe again with after set to the last sequence number received",
                    feed::FEED_CAPACITY
                ),
                None,
            );
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "SUBSCRIBER_LAGGED");
            tracing::info!(
                skipped,
                "ended a shared subscription whose client fell behind"
            );
            Outgoing::Failed(vec![error])
        }
        None => Outgoing::Done,
    })
}

impl Stream for Operation {
    type Item = Outgoing;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let outgoing = match &mut this.source {
            Source::Own(responses) => ready!(poll_own(responses, this.started, cx)),
            Source::Shared(subscriber) => ready!(poll_shared(subscriber, cx)),
        };
        let failed = match &outgoing {
            Outgoing::Response(_) => {
                this.started = true;
                false
            }
            Outgoing::Shared(item) => match item.as_ref() {
                FeedItem::Payload(_) | FeedItem::Response(_) => {
                    this.started = true;
                    false
                }
                FeedItem::Failed(_) => {
                    this.finished = true;
                    true
                }
                FeedItem::Done => {
                    this.finished = true;
                    false
                }
            },
            Outgoing::Failed(_) => {
                this.finished = true;
                true
            }
            Outgoing::Done => {
                this.finished = true;
                false
            }
        };
        this.running.count_subscription(failed);
        Poll::Ready(Some(outgoing))
    }
}

/// Counts an operation of a connection in the subscription gauge while it runs. Dropping
/// it, when the operation ends or its connection closes, counts it out.
///
/// A subscription also counts once in `headway_graphql_operations_total`: as an error when
/// it fails before its first event, as ok when its first event goes out or when it ends
/// without having failed.
struct RunningOperation {
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The operation name label of a subscription that is not counted yet.
    uncounted_subscription: Option<String>,
}

impl RunningOperation {
    fn start(
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        subscription: Option<String>,
    ) -> Self {
        metrics.subscription(1);
        Self {
            metrics,
            uncounted_subscription: subscription,
        }
    }

    fn count_subscription(&mut self, failed: bool) {
        if let Some(label) = self.uncounted_subscription.take() {
            self.metrics.record_subscription(label, failed);
        }
    }
}

impl Drop for RunningOperation {
    fn drop(&mut self) {
        self.count_subscription(false);
        self.metrics.subscription(-1);
    }
}
