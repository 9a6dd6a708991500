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

mod protocol;

use crate::auth::{self, ORGANIZATION_HEADER};
use crate::graphql::context::{Principal, RequestState};
use crate::graphql::loaders::{Loaders, RequestLoaders};
use crate::http::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use async_graphql::{Request, Response};
use futures::StreamExt;
use protocol::{ClientMessage, Protocol};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::Instrument as _;

/// Limits and timings of WebSocket connections.
#[derive(Clone, Copy, Debug)]
pub struct SocketSettings {
    /// How long a client has to send `connection_init`.
    pub init_timeout: Duration,
    /// How often the server pings (or sends `ka` in the legacy protocol).
    pub keep_alive: Duration,
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
    let (response, session, stream) =
        match actix_ws::handle_with_protocols(&request, body, &[protocol.name()]) {
            Ok(parts) => parts,
            Err(error) => return error.error_response(),
        };
    let stream = stream.max_frame_size(state.sockets.max_message_bytes);
    let handshake = Handshake {
        authorization: header(&request, "authorization"),
        organization: header(&request, ORGANIZATION_HEADER),
        request_id: crate::http::graphql::request_id(&request),
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

fn header(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Credentials and ids from the upgrade request.
struct Handshake {
    authorization: Option<String>,
    organization: Option<String>,
    request_id: String,
}

/// What a subscription task reports to its connection.
enum Outgoing {
    Failed { id: String, errors: Value },
    Response { id: String, response: Box<Response> },
    Done { id: String },
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
    let (sender, mut outgoing) = mpsc::unbounded_channel::<Outgoing>();
    let mut shutdown = state.shutdown.clone();
    let settings = state.sockets;
    let init_deadline = tokio::time::sleep(settings.init_timeout);
    tokio::pin!(init_deadline);
    let mut keep_alive = tokio::time::interval_at(
        tokio::time::Instant::now() + settings.keep_alive,
        settings.keep_alive,
    );
    let mut principal: Option<Principal> = None;
    let mut init_received = false;
    let mut subscriptions: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
    state.metrics_sockets(1);

    let reason: Option<CloseReason> = loop {
        tokio::select! {
            message = stream.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() { break None; }
                        continue;
                    }
                    Some(Ok(Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => break Some(close(4400, "binary messages are not part of the protocol")),
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Ok(Message::Continuation(_) | Message::Nop)) => continue,
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
                        match authenticate(&state, &handshake, payload.as_ref()).await {
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
                                break Some(close(4403, "Forbidden"));
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
                        if let Err(limited) = state.rate_limiter.check(&rate_key, 1).await {
                            let error = json!([{ "message": format!("rate limit exceeded (HEADWAY_RATE_LIMIT_PER_SECOND); retry after {} ms", limited.retry_after.as_millis()), "extensions": { "code": "RATE_LIMITED" } }]);
                            if session.text(protocol.error(&id, error)).await.is_err() { break None; }
                            continue;
                        }
                        if subscriptions.len() >= settings.max_subscriptions {
                            let error = json!([{ "message": format!("this connection already has {} subscriptions, the maximum (HEADWAY_WS_MAX_SUBSCRIPTIONS)", settings.max_subscriptions), "extensions": { "code": "BAD_USER_INPUT" } }]);
                            if session.text(protocol.error(&id, error)).await.is_err() { break None; }
                            continue;
                        }
                        let task = start(&state, principal.clone(), &handshake.request_id, id.clone(), *request, sender.clone());
                        subscriptions.insert(id, task);
                    }
                    ClientMessage::Complete { id } => {
                        if let Some(task) = subscriptions.remove(&id) {
                            task.abort();
                            if protocol == Protocol::Legacy && session.text(protocol.complete(&id)).await.is_err() {
                                break None;
                            }
                        }
                    }
                    ClientMessage::Terminate => break Some(CloseReason { code: CloseCode::Normal, description: None }),
                }
            }
            Some(message) = outgoing.recv() => {
                let text = match message {
                    Outgoing::Failed { id, errors } => {
                        // An operation that fails before its first result ends with `error`.
                        if subscriptions.remove(&id).is_none() { continue; }
                        protocol.error(&id, errors)
                    }
                    Outgoing::Response { id, response } => {
                        // Nothing reaches a client for an id it already completed.
                        if !subscriptions.contains_key(&id) { continue; }
                        protocol.response(&id, &response)
                    }
                    Outgoing::Done { id } => {
                        if subscriptions.remove(&id).is_none() { continue; }
                        protocol.complete(&id)
                    }
                };
                if session.text(text).await.is_err() { break None; }
            }
            () = &mut init_deadline, if !init_received => {
                break Some(close(4408, "Connection initialisation timeout"));
            }
            _ = keep_alive.tick() => {
                let sent = match protocol {
                    Protocol::TransportWs => session.text(json!({ "type": "ping" }).to_string()).await,
                    Protocol::Legacy => session.text(protocol::LEGACY_KEEP_ALIVE).await,
                };
                if sent.is_err() { break None; }
            }
            () = crate::live::stopping(&mut shutdown) => {
                break Some(CloseReason { code: CloseCode::Away, description: Some("server shutting down; reconnect".to_owned()) });
            }
        }
    };

    for task in subscriptions.into_values() {
        task.abort();
    }
    state.metrics_sockets(-1);
    let _ = session.close(reason).await;
}

/// Resolves the principal from the `connection_init` payload, or from the upgrade request's
/// headers when the payload carries none.
async fn authenticate(
    state: &AppState,
    handshake: &Handshake,
    payload: Option<&Value>,
) -> Result<Principal, String> {
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
    let authorization = field(&["authorization"])
        .or_else(|| field(&["token"]).map(|token| format!("Bearer {token}")))
        .or_else(|| handshake.authorization.clone());
    let organization =
        field(&[ORGANIZATION_HEADER, "organization"]).or_else(|| handshake.organization.clone());
    auth::authenticate(
        &state.authenticator,
        &state.store,
        authorization.as_deref(),
        organization.as_deref(),
        state.store.now(),
    )
    .await
    .map_err(|error| error.message)
}

/// Runs one operation and reports its results to the connection.
fn start(
    state: &web::Data<AppState>,
    principal: Principal,
    request_id: &str,
    id: String,
    request: Request,
    sender: mpsc::UnboundedSender<Outgoing>,
) -> tokio::task::AbortHandle {
    let organization_id = principal.organization_id();
    // Long-lived operations read fresh records for every event, so nothing is memoized.
    let loaders = RequestLoaders::new(Loaders::new(state.store.clone(), organization_id), false);
    let request = request
        .data(RequestState::live(principal, request_id.to_owned()))
        .data(loaders);
    let schema = state.schema.clone();
    let metrics = state.metrics.clone();
    let span = tracing::Span::current();
    let task = actix_web::rt::spawn(
        async move {
            let _running = RunningOperation::start(metrics);
            let mut responses = schema.execute_stream(request);
            let mut first = true;
            while let Some(mut response) = responses.next().await {
                crate::graphql::error::tag_missing_codes(&mut response.errors);
                if first
                    && response.data == async_graphql::Value::Null
                    && !response.errors.is_empty()
                {
                    let errors =
                        serde_json::to_value(&response.errors).unwrap_or_else(|_| json!([]));
                    let _ = sender.send(Outgoing::Failed { id, errors });
                    return;
                }
                first = false;
                let response = Box::new(response);
                if sender
                    .send(Outgoing::Response {
                        id: id.clone(),
                        response,
                    })
                    .is_err()
                {
                    return;
                }
            }
            let _ = sender.send(Outgoing::Done { id });
        }
        .instrument(span),
    );
    task.abort_handle()
}

/// Counts an operation of a connection in the subscription gauge while it runs; dropping
/// it, also when the task is aborted, counts it out.
struct RunningOperation(std::sync::Arc<crate::metrics::Metrics>);

impl RunningOperation {
    fn start(metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        metrics.subscription(1);
        Self(metrics)
    }
}

impl Drop for RunningOperation {
    fn drop(&mut self) {
        self.0.subscription(-1);
    }
}
