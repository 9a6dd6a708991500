//! The HTTP endpoints: `/graphql` (POST, GET and GraphiQL), `/healthz`, `/readyz` and
//! `/metrics`.

pub mod graphiql;
pub mod graphql;
pub mod negotiation;
pub mod observe;
pub mod rate_limit;

use crate::auth::Authenticator;
use crate::graphql::AppSchema;
use actix_web::{HttpResponse, web};
use headway_persistence::Store;
use serde_json::json;
use std::time::Duration;

/// Limits the HTTP layer enforces before a request reaches the schema.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub max_batch_operations: usize,
}

/// What every handler shares.
pub struct AppState {
    pub schema: AppSchema,
    pub store: Store,
    pub authenticator: Authenticator,
    pub limits: HttpLimits,
    pub sockets: crate::ws::SocketSettings,
    /// Flips to `true` when the server begins to shut down.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Open WebSocket connections.
    pub open_sockets: std::sync::atomic::AtomicI64,
    /// The Redis bus, when Redis is configured.
    pub redis: Option<std::sync::Arc<crate::live::redis_bus::RedisBus>>,
    pub rate_limiter: rate_limit::RateLimiter,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Set when a shutdown signal arrived: `/readyz` returns 503 from then on.
    pub draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Subscription feeds that identical subscriptions on this replica share.
    pub feeds: crate::ws::Feeds,
}

impl AppState {
    /// Counts WebSocket connections opening (`1`) and closing (`-1`).
    pub fn metrics_sockets(&self, delta: i64) {
        self.open_sockets
            .fetch_add(delta, std::sync::atomic::Ordering::Relaxed);
    }

    /// Checks whether the server is shutting down.
    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed) || *self.shutdown.borrow()
    }
}

/// Registers the routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/graphql")
                .route(web::post().to(graphql::post))
                .route(web::get().to(graphql::get))
                .default_service(web::to(method_not_allowed)),
        )
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("allow", "GET, POST"))
        .json(json!({ "errors": [{ "message": "use GET or POST on /graphql" }] }))
}

/// The process is alive.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The process can serve: the database answers, its migrations are current, and Redis
/// answers when it is configured.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.is_draining() {
        return HttpResponse::ServiceUnavailable().json(json!({ "status": "shutting down" }));
    }
    let database = state.store.ping().await.is_ok();
    let migrations = database
        && headway_persistence::connect::migrations_current(state.store.connection())
            .await
            .unwrap_or(false);
    let redis = match &state.redis {
        Some(redis) => Some((redis.ping().await, redis.is_connected())),
        None => None,
    };
    let redis_ok = redis.is_none_or(|(answers, _)| answers);
    let ready = database && migrations && redis_ok;
    let body = json!({
        "status": if ready { "ready" } else { "unready" },
        "database": database,
        "migrations": migrations,
        "redis": redis.map(|(answers, subscribed)| json!({ "answers": answers, "subscribed": subscribed })),
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Renders the metrics in the OpenMetrics text format, which Prometheus scrapes.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = crate::metrics::Snapshot {
        pool: state.store.pool_status(),
        websocket_connections: state
            .open_sockets
            .load(std::sync::atomic::Ordering::Relaxed),
        subscription_feeds: state.feeds.running(),
        redis_connected: state.redis.as_ref().map(|redis| redis.is_connected()),
    };
    match state.metrics.render(snapshot) {
        Ok(text) => HttpResponse::Ok()
            .content_type(crate::metrics::CONTENT_TYPE)
            .body(text),
        Err(_) => HttpResponse::InternalServerError()
            .json(json!({ "status": "the metrics could not be rendered" })),
    }
}
