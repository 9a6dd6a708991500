//! Building and running the server. Tests call the same functions as `headway serve`.

use crate::auth::Authenticator;
use crate::auth::KeySources;
use crate::config::{AuthArgs, DatabaseArgs, Mode, PublicKeyAlgorithm, ServeArgs};
use crate::graphql::limits::QueryLimits;
use crate::graphql::{self, SchemaLimits};
use crate::http::rate_limit::{RateLimiter, RateSettings};
use crate::http::{self, AppState, HttpLimits};
use crate::live::{Live, LiveSettings};
use crate::metrics::Metrics;
use crate::ws::SocketSettings;
use actix_web::{App, HttpServer, web};
use anyhow::{Context as _, bail};
use headway_domain::clock::Clock;
use headway_persistence::{DatabaseKind, Store};
use rand::RngCore;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// The shortest HS256 secret accepted, in bytes (RFC 7518 asks for the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Opens the database and applies pending migrations.
pub async fn open_store(database: &DatabaseArgs, clock: Arc<dyn Clock>) -> anyhow::Result<Store> {
    if DatabaseKind::of_url(&database.database_url).is_none() {
        bail!("HEADWAY_DATABASE_URL must start with postgres://, postgresql:// or sqlite:");
    }
    let db = headway_persistence::connect(
        &database.database_url,
        database.database_max_connections,
        Duration::from_millis(database.database_acquire_timeout_ms),
    )
    .await
    .context("failed to connect to the database")?;
    headway_persistence::migrate(&db)
        .await
        .context("failed to apply database migrations")?;
    Ok(Store::new(db, clock))
}

/// The HS256 secret: the configured one, or in development mode without any other key a
/// generated one kept in the dev key file.
pub fn signing_secret(auth: &AuthArgs) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(secret) = &auth.jwt_secret {
        if secret.len() < MIN_SECRET_BYTES {
            bail!(
                "HEADWAY_JWT_SECRET is {} bytes long; it must have at least {MIN_SECRET_BYTES}",
                secret.len()
            );
        }
        return Ok(Some(secret.as_bytes().to_vec()));
    }
    let other_keys = auth.jwt_public_key_file.is_some() || auth.jwks_file.is_some();
    if other_keys {
        return Ok(None);
    }
    if auth.mode == Mode::Production {
        bail!(
            "production mode needs a verification key: set HEADWAY_JWT_SECRET (at least {MIN_SECRET_BYTES} bytes), HEADWAY_JWT_PUBLIC_KEY_FILE or HEADWAY_JWKS_FILE"
        );
    }
    let path = &auth.dev_key_file;
    if path.exists() {
        let secret = std::fs::read_to_string(path).with_context(|| {
            format!("failed to read the development key file {}", path.display())
        })?;
        let secret = secret.trim();
        if secret.len() < MIN_SECRET_BYTES {
            bail!(
                "the development key file {} holds a key shorter than {MIN_SECRET_BYTES} bytes",
                path.display()
            );
        }
        return Ok(Some(secret.as_bytes().to_vec()));
    }
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    write_private_file(path, &secret).with_context(|| {
        format!(
            "failed to write the development key file {}",
            path.display()
        )
    })?;
    tracing::info!(path = %path.display(), "generated a development signing key");
    Ok(Some(secret.into_bytes()))
}

#[cfg(unix)]
fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// The authenticator for the configured keys.
pub fn authenticator(auth: &AuthArgs) -> anyhow::Result<Authenticator> {
    let secret = signing_secret(auth)?;
    let public_key = match &auth.jwt_public_key_file {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| {
                format!(
                    "failed to read HEADWAY_JWT_PUBLIC_KEY_FILE {}",
                    path.display()
                )
            })?;
            let algorithm = match auth.jwt_public_key_algorithm {
                PublicKeyAlgorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
                PublicKeyAlgorithm::Es256 => jsonwebtoken::Algorithm::ES256,
            };
            Some((pem, algorithm))
        }
        None => None,
    };
    let jwks = match &auth.jwks_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("failed to read HEADWAY_JWKS_FILE {}", path.display()))?,
        ),
        None => None,
    };
    let types: Vec<&str> = auth
        .jwt_types
        .iter()
        .map(|kind| kind.trim())
        .filter(|kind| !kind.is_empty())
        .collect();
    Authenticator::new(
        KeySources {
            secret,
            public_key,
            jwks,
        },
        &auth.jwt_issuer,
        &auth.jwt_audience,
        chrono::Duration::seconds(i64::from(auth.jwt_leeway_seconds)),
        &types,
    )
    .context("the token verification keys are invalid")
}

/// A built server, bound to its port, not yet running.
pub struct Application {
    address: SocketAddr,
    server: actix_web::dev::Server,
    live: Live,
    webhooks: crate::webhooks::Dispatcher,
    shutdown: Arc<watch::Sender<bool>>,
    finished: Arc<watch::Sender<bool>>,
    draining: Arc<AtomicBool>,
    shutdown_delay: Duration,
}

impl Application {
    /// Builds the server on an open store and starts its background tasks. Binding port 0
    /// picks a free port; [`Self::address`] tells which.
    pub async fn build(
        serve: &ServeArgs,
        store: Store,
        authenticator: Authenticator,
    ) -> anyhow::Result<Self> {
        let (shutdown, shutdown_signal) = watch::channel(false);
        let shutdown = Arc::new(shutdown);
        let redis_url = serve.redis_url.clone().filter(|url| !url.trim().is_empty());
        let metrics = Arc::new(Metrics::new(redis_url.is_some()));
        let mut store = store;
        let live = Live::start(
            &mut store,
            LiveSettings {
                redis_url,
                redis_channel: serve.redis_channel.clone(),
                catch_up_interval: Duration::from_millis(serve.event_catch_up_ms.max(10)),
                retention: chrono::Duration::hours(i64::from(serve.event_retention_hours)),
            },
            shutdown_signal.clone(),
            metrics.clone(),
        )
        .await;
        let webhook_settings = serve.webhook_settings();
        let webhook_sender = Arc::new(
            crate::webhooks::Sender::new(&webhook_settings)
                .context("failed to build the webhook HTTP client")?,
        );
        let webhooks = crate::webhooks::Dispatcher::start(
            store.clone(),
            webhook_sender.clone(),
            webhook_settings,
            live.wake.clone(),
            shutdown_signal.clone(),
            metrics.clone(),
        );
        let limits = SchemaLimits {
            query: QueryLimits {
                max_depth: serve.max_query_depth,
                max_complexity: serve.max_query_complexity,
                max_aliases: serve.max_aliases,
                introspection: serve.introspection,
            },
            introspection: serve.introspection,
            suggestions: serve.field_suggestions,
        };
        let draining = Arc::new(AtomicBool::new(false));
        let state = web::Data::new(AppState {
            schema: graphql::build_schema(
                store.clone(),
                live.hub.clone(),
                webhook_sender,
                limits,
                metrics.clone(),
            ),
            store,
            authenticator,
            limits: HttpLimits {
                max_body_bytes: serve.max_body_bytes,
                request_timeout: Duration::from_millis(serve.request_timeout_ms),
                max_batch_operations: serve.max_batch_operations,
            },
            sockets: SocketSettings {
                init_timeout: Duration::from_millis(serve.ws_init_timeout_ms),
                keep_alive: Duration::from_millis(serve.ws_keep_alive_ms.max(100)),
                reauthenticate: Duration::from_millis(serve.ws_reauthenticate_ms.max(100)),
                max_subscriptions: serve.ws_max_subscriptions,
                max_message_bytes: serve.max_body_bytes,
            },
            shutdown: shutdown_signal,
            open_sockets: AtomicI64::new(0),
            feeds: crate::ws::Feeds::default(),
            redis: live.redis.clone(),
            rate_limiter: RateLimiter::new(
                RateSettings {
                    per_second: serve.rate_limit_per_second.max(0.0),
                    burst: serve.rate_limit_burst.max(1.0),
                },
                live.redis.clone(),
            ),
            metrics,
            draining: draining.clone(),
        });
        let listener = TcpListener::bind(serve.listen)
            .with_context(|| format!("failed to listen on {}", serve.listen))?;
        let address = listener.local_addr()?;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::from_fn(http::observe::request))
                .configure(http::routes)
        })
        .disable_signals()
        .shutdown_timeout(serve.shutdown_grace_seconds);
        if serve.workers > 0 {
            server = server.workers(serve.workers);
        }
        let server = server.listen(listener)?.run();
        Ok(Self {
            address,
            server,
            live,
            webhooks,
            shutdown,
            finished: Arc::new(watch::channel(false).0),
            draining,
            shutdown_delay: Duration::from_secs(serve.shutdown_delay_seconds),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops the server: sockets close with 1001, new connections are refused, requests in
    /// flight finish, and the event relay drains.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            server: self.server.handle(),
            shutdown: self.shutdown.clone(),
            finished: self.finished.clone(),
            draining: self.draining.clone(),
        }
    }

    /// Runs until the server is stopped through a [`Stopper`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.shutdown.send_replace(true);
        self.webhooks.drain().await;
        self.live.drain().await;
        // Unlike `send`, this also stores the value while nobody waits yet.
        self.finished.send_replace(true);
        result
    }

    /// Runs until SIGINT or SIGTERM, then stops gracefully: `/readyz` turns unready, the
    /// listener stays open for the shutdown delay, then closes, and requests in flight get
    /// the grace period to finish. A second signal stops at once.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        let stopper = self.stopper();
        let delay = self.shutdown_delay;
        let running = tokio::spawn(self.run_until_stopped());
        shutdown_signal().await;
        stopper.drain();
        let forced = stopper.clone();
        let second = tokio::spawn(async move {
            shutdown_signal().await;
            tracing::warn!("second shutdown signal received; stopping at once");
            forced.abort();
        });
        if delay.is_zero() {
            tracing::info!("shutdown signal received");
        } else {
            tracing::info!(
                delay_seconds = delay.as_secs(),
                "shutdown signal received; unready, still serving until the delay ends"
            );
            tokio::time::sleep(delay).await;
        }
        tracing::info!("closing the listener; finishing requests in flight");
        stopper.stop().await;
        second.abort();
        running.await.map_err(std::io::Error::other)?
    }
}

/// Stops a running [`Application`].
#[derive(Clone)]
pub struct Stopper {
    server: actix_web::dev::ServerHandle,
    shutdown: Arc<watch::Sender<bool>>,
    finished: Arc<watch::Sender<bool>>,
    draining: Arc<AtomicBool>,
}

impl Stopper {
    /// Turns `/readyz` unready while the server keeps serving.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Closes WebSockets with 1001, stops accepting, and waits for requests and webhook
    /// deliveries in flight and for the event relay to drain, when the server runs.
    pub async fn stop(&self) {
        self.drain();
        self.shutdown.send_replace(true);
        self.server.stop(true).await;
        let mut finished = self.finished.subscribe();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            finished.wait_for(|finished| *finished),
        )
        .await;
    }

    /// Stops at once, without waiting for requests in flight.
    pub fn abort(&self) {
        self.shutdown.send_replace(true);
        drop(self.server.stop(false));
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::error!(%error, "failed to listen for SIGTERM; stopping on SIGINT only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
