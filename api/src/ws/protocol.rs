//! The messages of `graphql-transport-ws` and of the legacy `graphql-ws` protocol.

use actix_web::HttpRequest;
use async_graphql::{Request, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// A WebSocket subprotocol for GraphQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`, from the graphql-ws library.
    TransportWs,
    /// `graphql-ws`, from the older subscriptions-transport-ws library.
    Legacy,
}

/// The legacy protocol's keep-alive message.
pub const LEGACY_KEEP_ALIVE: &str = r#"{"type":"ka"}"#;

/// The subprotocols a client offers, in its order of preference.
pub fn requested(request: &HttpRequest) -> Vec<String> {
    request
        .headers()
        .get_all(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

impl Protocol {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "graphql-transport-ws" => Some(Self::TransportWs),
            "graphql-ws" => Some(Self::Legacy),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::TransportWs => "graphql-transport-ws",
            Self::Legacy => "graphql-ws",
        }
    }

    /// Returns the message type of a result: `next`, or `data` in the legacy protocol.
    const fn result_type(self) -> &'static str {
        match self {
            Self::TransportWs => "next",
            Self::Legacy => "data",
        }
    }

    pub fn ack(self) -> String {
        json!({ "type": "connection_ack" }).to_string()
    }

    /// A result of an operation: `next` or, in the legacy protocol, `data`.
    pub fn response(self, id: &str, response: &Response) -> String {
        message(self.result_type(), id, response)
    }

    /// Formats a result that is already JSON text, for the feeds that several subscribers share.
    pub fn response_text(self, id: &str, payload: &str) -> String {
        let kind = self.result_type();
        let id = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".to_owned());
        format!(r#"{{"type":"{kind}","id":{id},"payload":{payload}}}"#)
    }

    /// Errors that end an operation before it produced a result.
    pub fn error(self, id: &str, errors: &impl Serialize) -> String {
        message("error", id, errors)
    }

    pub fn complete(self, id: &str) -> String {
        json!({ "type": "complete", "id": id }).to_string()
    }
}

/// Serializes a server message with a payload straight to text.
fn message(kind: &str, id: &str, payload: &impl Serialize) -> String {
    #[derive(Serialize)]
    struct Message<'a, P> {
        #[serde(rename = "type")]
        kind: &'a str,
        id: &'a str,
        payload: &'a P,
    }
    serde_json::to_string(&Message { kind, id, payload }).unwrap_or_else(|_| {
        json!({ "type": "error", "id": id, "payload": [{ "message": "internal error" }] })
            .to_string()
    })
}

/// A message from the client.
#[derive(Debug)]
pub enum ClientMessage {
    ConnectionInit {
        payload: Option<Value>,
    },
    Ping {
        payload: Option<Value>,
    },
    Pong,
    Subscribe {
        id: String,
        request: Box<Request>,
    },
    Complete {
        id: String,
    },
    /// The legacy protocol's `connection_terminate`.
    Terminate,
}

/// The longest subscription id accepted, in bytes.
const MAX_ID_BYTES: usize = 128;

impl ClientMessage {
    /// Parses a text frame; the error is the close reason for an invalid message.
    pub fn parse(protocol: Protocol, text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text)
            .map_err(|_| "Invalid message received: not JSON".to_owned())?;
        let object = value
            .as_object()
            .ok_or_else(|| "Invalid message received: not a JSON object".to_owned())?;
        let kind = object
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| "Invalid message received: missing type".to_owned())?;
        let id = || -> Result<String, String> {
            let id = object
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .ok_or_else(|| format!("Invalid message received: {kind} needs an id"))?;
            if id.len() > MAX_ID_BYTES {
                return Err(format!(
                    "Invalid message received: ids are at most {MAX_ID_BYTES} bytes"
                ));
            }
            Ok(id.to_owned())
        };
        let payload = object
            .get("payload")
            .filter(|payload| !payload.is_null())
            .cloned();
        match (protocol, kind) {
            (_, "connection_init") => {
                if payload.as_ref().is_some_and(|payload| !payload.is_object()) {
                    return Err(
                        "Invalid message received: the connection_init payload must be an object"
                            .to_owned(),
                    );
                }
                Ok(Self::ConnectionInit { payload })
            }
            (Protocol::TransportWs, "ping") => Ok(Self::Ping { payload }),
            (Protocol::TransportWs, "pong") => Ok(Self::Pong),
            (Protocol::TransportWs, "subscribe") | (Protocol::Legacy, "start") => {
                let id = id()?;
                let payload = payload
                    .ok_or_else(|| format!("Invalid message received: {kind} needs a payload"))?;
                let request: Request = serde_json::from_value(payload).map_err(|_| {
                    format!("Invalid message received: the {kind} payload is not a GraphQL request")
                })?;
                if request.query.trim().is_empty() {
                    return Err(format!(
                        "Invalid message received: the {kind} payload has no query"
                    ));
                }
                Ok(Self::Subscribe {
                    id,
                    request: Box::new(request),
                })
            }
            (Protocol::TransportWs, "complete") | (Protocol::Legacy, "stop") => {
                Ok(Self::Complete { id: id()? })
            }
            (Protocol::Legacy, "connection_terminate") => Ok(Self::Terminate),
            _ => Err(format!("Invalid message received: unknown type {kind}")),
        }
    }
}
