//! Configuration from `HEADWAY_*` environment variables and command-line flags.
//!
//! Every setting has a flag and a variable; a flag wins over the variable. Defaults run the
//! embedded mode: SQLite in the working folder, in-process events, 127.0.0.1:8080.

use crate::webhooks::WebhookSettings;
use clap::{Args, ValueEnum};
use headway_domain::webhooks::{AllowedNetworks, RetryPolicy};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Whether the server may take shortcuts meant for trying it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Generates a signing key when none is configured, seeds a demo organization into an
    /// empty database, and issues tokens from the command line.
    Development,
    /// Refuses to start without a configured signing key and never generates one.
    Production,
}

/// Format of the log lines on standard error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event, with the fields of the spans it happened in.
    Text,
    /// One JSON object per line, with the event's fields and its spans under `spans`.
    Json,
}

/// An internal network that webhooks may be allowed to reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WebhookNetwork {
    Loopback,
    Private,
    LinkLocal,
}

/// An algorithm of a public verification key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PublicKeyAlgorithm {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
}

/// Settings shared by every command that opens the database.
#[derive(Clone, Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "HEADWAY_DATABASE_URL",
        default_value = "sqlite://headway.db?mode=rwc"
    )]
    pub database_url: String,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "HEADWAY_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,

    /// How long a request waits for a free database connection, or for the database to
    /// accept a new one, before it fails with `UNAVAILABLE`, in milliseconds.
    #[arg(
        long,
        env = "HEADWAY_DATABASE_ACQUIRE_TIMEOUT_MS",
        default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub database_acquire_timeout_ms: u64,
}

/// Settings of token signing and checking.
#[derive(Clone, Debug, Args)]
pub struct AuthArgs {
    /// `development` or `production`.
    #[arg(long, env = "HEADWAY_MODE", value_enum, default_value_t = Mode::Development)]
    pub mode: Mode,

    /// The HS256 secret that signs identity tokens, at least 32 bytes. In development mode
    /// a random one is generated into `--dev-key-file` when this is not set.
    #[arg(long, env = "HEADWAY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// A PEM file with the identity provider's public key (RSA or P-256) for RS256 or ES256
    /// tokens.
    #[arg(long, env = "HEADWAY_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// The algorithm of `--jwt-public-key-file`: `RS256` or `ES256`.
    #[arg(long, env = "HEADWAY_JWT_PUBLIC_KEY_ALGORITHM", value_enum, default_value_t = PublicKeyAlgorithm::Rs256)]
    pub jwt_public_key_algorithm: PublicKeyAlgorithm,

    /// A JWKS file (JSON) with the identity provider's public keys, chosen by each token's
    /// `kid`.
    #[arg(long, env = "HEADWAY_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,

    /// Comma-separated values of the `typ` header, compared without regard to case. A token
    /// must carry one of them, so a token without a `typ` header is rejected (explicit
    /// typing, RFC 8725 section 3.11).
    #[arg(
        long,
        env = "HEADWAY_JWT_TYPES",
        value_delimiter = ',',
        default_value = "JWT,at+jwt"
    )]
    pub jwt_types: Vec<String>,

    /// The `iss` claim that tokens must carry.
    #[arg(long, env = "HEADWAY_JWT_ISSUER", default_value = "headway")]
    pub jwt_issuer: String,

    /// The `aud` claim that tokens must carry.
    #[arg(long, env = "HEADWAY_JWT_AUDIENCE", default_value = "headway-api")]
    pub jwt_audience: String,

    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(long, env = "HEADWAY_JWT_LEEWAY_SECONDS", default_value_t = 60)]
    pub jwt_leeway_seconds: u32,

    /// Where development mode keeps its generated signing secret.
    #[arg(long, env = "HEADWAY_DEV_KEY_FILE", default_value = "headway-dev.key")]
    pub dev_key_file: PathBuf,
}

/// Settings of the HTTP server and its request limits.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on; port 0 picks a free port.
    #[arg(long, env = "HEADWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Number of HTTP worker threads; 0 uses one per CPU core.
    #[arg(long, env = "HEADWAY_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Maximum request body size, in bytes.
    #[arg(long, env = "HEADWAY_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// Maximum time to execute one request, in milliseconds.
    #[arg(long, env = "HEADWAY_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Maximum operations in one batched request.
    #[arg(long, env = "HEADWAY_MAX_BATCH_OPERATIONS", default_value_t = 10)]
    pub max_batch_operations: usize,

    /// Maximum nesting depth of a query.
    #[arg(long, env = "HEADWAY_MAX_QUERY_DEPTH", default_value_t = 12)]
    pub max_query_depth: usize,

    /// Maximum query complexity; each field costs 1 and a connection multiplies the cost of
    /// its selection by its page size.
    #[arg(long, env = "HEADWAY_MAX_QUERY_COMPLEXITY", default_value_t = 50_000)]
    pub max_query_complexity: usize,

    /// Maximum number of aliased fields in one query.
    #[arg(long, env = "HEADWAY_MAX_ALIASES", default_value_t = 50)]
    pub max_aliases: usize,

    /// Requests per second that one user, API token or anonymous address may sustain; 0
    /// turns rate limiting off. With Redis configured the limit holds across replicas.
    #[arg(long, env = "HEADWAY_RATE_LIMIT_PER_SECOND", default_value_t = 50.0)]
    pub rate_limit_per_second: f64,

    /// Requests a principal may send at once after a quiet period.
    #[arg(long, env = "HEADWAY_RATE_LIMIT_BURST", default_value_t = 100.0)]
    pub rate_limit_burst: f64,

    /// Whether error messages suggest similar field names (`true` or `false`); turn it off
    /// in production together with introspection.
    #[arg(long, env = "HEADWAY_FIELD_SUGGESTIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub field_suggestions: bool,

    /// Whether clients may introspect the schema (`true` or `false`).
    #[arg(long, env = "HEADWAY_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,

    /// Redis URL such as `redis://127.0.0.1:6379`. With it, replicas share events through
    /// Redis pub/sub; without it, events stay in this process.
    #[arg(long, env = "HEADWAY_REDIS_URL")]
    pub redis_url: Option<String>,

    /// The Redis pub/sub channel that replicas of one deployment share.
    #[arg(long, env = "HEADWAY_REDIS_CHANNEL", default_value = "headway:events")]
    pub redis_channel: String,

    /// How long events are kept for subscribers that resume, in hours.
    #[arg(long, env = "HEADWAY_EVENT_RETENTION_HOURS", default_value_t = 168)]
    pub event_retention_hours: u32,

    /// How often each replica reads the outbox for events that Redis did not bring, in
    /// milliseconds.
    #[arg(long, env = "HEADWAY_EVENT_CATCH_UP_MS", default_value_t = 1_000)]
    pub event_catch_up_ms: u64,

    /// How long a WebSocket client has to send `connection_init`, in milliseconds.
    #[arg(long, env = "HEADWAY_WS_INIT_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_init_timeout_ms: u64,

    /// How often the server pings WebSocket clients, in milliseconds. A client that sends
    /// no frame, not even the pong to a ping frame, for three intervals is disconnected with
    /// 1001.
    #[arg(long, env = "HEADWAY_WS_KEEP_ALIVE_MS", default_value_t = 15_000)]
    pub ws_keep_alive_ms: u64,

    /// How often an open WebSocket connection checks its credentials again, in
    /// milliseconds. A connection whose access ended or changed closes with 4403.
    #[arg(long, env = "HEADWAY_WS_REAUTHENTICATE_MS", default_value_t = 60_000)]
    pub ws_reauthenticate_ms: u64,

    /// Maximum subscriptions open at once on one WebSocket connection.
    #[arg(long, env = "HEADWAY_WS_MAX_SUBSCRIPTIONS", default_value_t = 100)]
    pub ws_max_subscriptions: usize,

    /// Internal networks that webhooks may reach besides public addresses, comma-separated:
    /// `loopback`, `private` (RFC 1918, 100.64.0.0/10, fc00::/7) and `link-local`
    /// (169.254.0.0/16, fe80::/10). Empty refuses them all.
    #[arg(
        long,
        env = "HEADWAY_WEBHOOK_ALLOW_NETWORKS",
        value_delimiter = ',',
        num_args = 0..
    )]
    pub webhook_allow_networks: Vec<WebhookNetwork>,

    /// The maximum wait for a webhook endpoint's response, connecting included, in
    /// milliseconds.
    #[arg(long, env = "HEADWAY_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,

    /// Attempts per webhook delivery, the first included.
    #[arg(long, env = "HEADWAY_WEBHOOK_MAX_ATTEMPTS", default_value_t = 12)]
    pub webhook_max_attempts: u32,

    /// The wait before a delivery's second attempt, in milliseconds; each later wait
    /// doubles, with jitter.
    #[arg(long, env = "HEADWAY_WEBHOOK_RETRY_BASE_MS", default_value_t = 10_000)]
    pub webhook_retry_base_ms: u64,

    /// The maximum wait between two attempts of a delivery, in milliseconds.
    #[arg(
        long,
        env = "HEADWAY_WEBHOOK_RETRY_MAX_MS",
        default_value_t = 3_600_000
    )]
    pub webhook_retry_max_ms: u64,

    /// Failed attempts in a row after which an endpoint is disabled.
    #[arg(long, env = "HEADWAY_WEBHOOK_DISABLE_AFTER", default_value_t = 50)]
    pub webhook_disable_after: u32,

    /// How often each replica looks for webhook deliveries to queue and send, in
    /// milliseconds; its own commits wake it at once.
    #[arg(long, env = "HEADWAY_WEBHOOK_POLL_MS", default_value_t = 1_000)]
    pub webhook_poll_ms: u64,

    /// Webhook endpoints that one replica sends to at once.
    #[arg(long, env = "HEADWAY_WEBHOOK_CONCURRENCY", default_value_t = 16)]
    pub webhook_concurrency: usize,

    /// Whether the first start on an empty database seeds the demo organization
    /// (development mode only; `true` or `false`).
    #[arg(long, env = "HEADWAY_SEED_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_demo: bool,

    /// Seconds between a shutdown signal and closing the listener, while `/readyz` returns
    /// 503 and requests are still served, so that load balancers stop sending traffic first.
    #[arg(long, env = "HEADWAY_SHUTDOWN_DELAY_SECONDS", default_value_t = 0)]
    pub shutdown_delay_seconds: u64,

    /// Seconds that requests in flight get to finish after the listener closed; then the
    /// remaining connections are cut.
    #[arg(long, env = "HEADWAY_SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    pub shutdown_grace_seconds: u64,
}

impl ServeArgs {
    /// The defaults, as the command line gives them without flags or variables.
    pub fn defaults() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 0,
            max_body_bytes: 1_048_576,
            request_timeout_ms: 30_000,
            max_batch_operations: 10,
            max_query_depth: 12,
            max_query_complexity: 50_000,
            max_aliases: 50,
            rate_limit_per_second: 50.0,
            rate_limit_burst: 100.0,
            field_suggestions: true,
            redis_url: None,
            redis_channel: "headway:events".to_owned(),
            event_retention_hours: 168,
            event_catch_up_ms: 1_000,
            ws_init_timeout_ms: 10_000,
            ws_keep_alive_ms: 15_000,
            ws_reauthenticate_ms: 60_000,
            ws_max_subscriptions: 100,
            introspection: true,
            webhook_allow_networks: Vec::new(),
            webhook_timeout_ms: 10_000,
            webhook_max_attempts: 12,
            webhook_retry_base_ms: 10_000,
            webhook_retry_max_ms: 3_600_000,
            webhook_disable_after: 50,
            webhook_poll_ms: 1_000,
            webhook_concurrency: 16,
            seed_demo: true,
            shutdown_delay_seconds: 0,
            shutdown_grace_seconds: 30,
        }
    }

    /// Builds the webhook settings from these arguments.
    pub fn webhook_settings(&self) -> WebhookSettings {
        let networks = &self.webhook_allow_networks;
        WebhookSettings {
            allow: AllowedNetworks {
                loopback: networks.contains(&WebhookNetwork::Loopback),
                private: networks.contains(&WebhookNetwork::Private),
                link_local: networks.contains(&WebhookNetwork::LinkLocal),
            },
            timeout: Duration::from_millis(self.webhook_timeout_ms.max(1)),
            retry: RetryPolicy {
                max_attempts: self.webhook_max_attempts.max(1),
                base_delay: Duration::from_millis(self.webhook_retry_base_ms),
                max_delay: Duration::from_millis(
                    self.webhook_retry_max_ms.max(self.webhook_retry_base_ms),
                ),
            },
            disable_after: self.webhook_disable_after.max(1),
            poll_interval: Duration::from_millis(self.webhook_poll_ms.max(10)),
            concurrency: self.webhook_concurrency.max(1),
        }
    }
}
