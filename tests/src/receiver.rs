//! A webhook receiver on 127.0.0.1 that records every request and responds as planned.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{BTreeMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Returns the comma-separated signatures of `Headway-Signature`, such as `v1=<hex>`.
    pub fn signatures(&self) -> Vec<&str> {
        self.header("headway-signature").split(',').collect()
    }

    /// Checks whether one of the signatures of `Headway-Signature` is the HMAC-SHA256 with
    /// `secret` over `<Headway-Timestamp>.<body>`, computed here independently of the server.
    pub fn signed_with(&self, secret: &str) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(self.header("headway-timestamp").as_bytes());
        mac.update(b".");
        mac.update(self.body.as_bytes());
        let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        self.signatures().contains(&expected.as_str())
    }
}

/// The receiver's response to one request.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub status: u16,
    /// The wait before responding.
    pub delay: Duration,
}

impl Reply {
    pub const fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
        }
    }

    pub const fn after(status: u16, delay: Duration) -> Self {
        Self { status, delay }
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    plan: VecDeque<Reply>,
    /// The response once the plan is used up.
    otherwise: Option<Reply>,
}

/// A running receiver.
pub struct Receiver {
    pub base: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let reply = {
        let mut state = state.lock().unwrap();
        state.received.push(Received {
            path: request.path().to_owned(),
            headers: request
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        value.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let otherwise = state.otherwise.unwrap_or(Reply::status(200));
        state.plan.pop_front().unwrap_or(otherwise)
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap())
        .body("received")
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let data = web::Data::new(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base,
            state,
            handle,
        }
    }

    /// Returns the URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers the next requests with `replies`, in order.
    pub fn plan(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().plan.extend(replies);
    }

    /// Answers every request after the plan with `reply`.
    pub fn otherwise(&self, reply: Reply) {
        self.state.lock().unwrap().otherwise = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until at least `count` requests arrived, and returns all of them.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} requests, not {count}, within {timeout:?}: {received:#?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}
