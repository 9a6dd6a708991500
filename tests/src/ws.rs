//! A small GraphQL-over-WebSocket client for tests.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    Closed { code: u16, reason: String },
    Dropped,
}

/// A WebSocket connection speaking one GraphQL subprotocol.
pub struct WsClient {
    socket: Socket,
    pub protocol: Option<String>,
}

impl WsClient {
    /// Connects to `http_url` (http is replaced by ws) offering `protocol`.
    pub async fn connect(http_url: &str, protocol: &str) -> Self {
        let url = http_url.replacen("http", "ws", 1);
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .unwrap_or_else(|error| panic!("the WebSocket handshake failed: {error}"));
        let protocol = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|value| value.to_str().unwrap().to_owned());
        Self { socket, protocol }
    }

    /// Connects with `graphql-transport-ws` and completes `connection_init` with `token`.
    pub async fn authenticated(http_url: &str, token: &str) -> Self {
        let mut client = Self::connect(http_url, "graphql-transport-ws").await;
        client
            .send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
        let ack = client
            .next_message(Duration::from_secs(5))
            .await
            .expect("no connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .await
            .unwrap();
    }

    /// Starts the closing handshake with `code`.
    pub async fn close(&mut self, code: u16, reason: &str) {
        let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        self.socket.send(Message::Close(Some(frame))).await.unwrap();
    }

    /// Starts an operation with `graphql-transport-ws`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next protocol message other than pings, or `None` after `wait` or when the
    /// connection ends.
    pub async fn next_message(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??;
            match frame {
                Ok(Message::Text(text)) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if message["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    if message["type"] == "ka" {
                        continue;
                    }
                    return Some(message);
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Waits up to `wait` for the connection to end, skipping other messages.
    pub async fn ending(&mut self, wait: Duration) -> Option<Ending> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return None,
                Ok(None) => return Some(Ending::Dropped),
                Ok(Some(frame)) => frame,
            };
            match frame {
                Ok(Message::Close(Some(frame))) => {
                    let code = match frame.code {
                        CloseCode::Library(code)
                        | CloseCode::Bad(code)
                        | CloseCode::Reserved(code)
                        | CloseCode::Iana(code) => code,
                        other => u16::from(other),
                    };
                    return Some(Ending::Closed {
                        code,
                        reason: frame.reason.to_string(),
                    });
                }
                Ok(Message::Close(None)) | Err(_) => return Some(Ending::Dropped),
                Ok(_) => continue,
            }
        }
    }

    /// Waits for the close code, failing the test if the connection stays open or drops.
    pub async fn close_code(&mut self, wait: Duration) -> u16 {
        match self.ending(wait).await {
            Some(Ending::Closed { code, .. }) => code,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}
