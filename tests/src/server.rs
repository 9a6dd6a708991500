//! A real Headway server on a free port, with a clock the test controls.

use crate::database::TestDatabase;
use chrono::{DateTime, Utc};
use headway_api::auth::Authenticator;
use headway_api::config::ServeArgs;
use headway_api::startup::Application;
use headway_domain::clock::ManualClock;
use headway_persistence::Store;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The secret that signs tests' tokens.
pub const TEST_SECRET: &str = "test-secret-that-is-long-enough-for-hs256-keys";
pub const TEST_ISSUER: &str = "headway-tests";
pub const TEST_AUDIENCE: &str = "headway-api";

/// The variable that makes test servers relay events through Redis.
pub const REDIS_URL_VARIABLE: &str = "HEADWAY_TEST_REDIS_URL";

/// The instant a test server's clock starts at: mid-February 2026, 46 days into Q1.
pub fn default_now() -> DateTime<Utc> {
    "2026-02-15T12:00:00Z".parse().unwrap()
}

/// Fails the test when the configured Redis does not accept connections.
fn require_redis(url: &str) {
    let parsed = reqwest::Url::parse(url)
        .unwrap_or_else(|error| panic!("{REDIS_URL_VARIABLE}={url} is not a URL: {error}"));
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let port = parsed.port().unwrap_or(6379);
    if std::net::TcpStream::connect((host, port)).is_err() {
        panic!(
            "{REDIS_URL_VARIABLE} is set to {url}, but Redis does not answer; start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no` or unset the variable"
        );
    }
}

/// A signed-in user of one organization.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub organization_id: String,
    pub user_id: String,
    pub email: String,
}

/// A running server with its own database.
pub struct TestServer {
    pub address: SocketAddr,
    pub url: String,
    pub store: Store,
    pub clock: ManualClock,
    pub authenticator: Authenticator,
    /// SQL statements the server has run so far.
    pub statements: Arc<AtomicU64>,
    /// The text of every statement, in order, for tests that explain a count.
    pub statement_log: Arc<std::sync::Mutex<Vec<String>>>,
    pub client: reqwest::Client,
    stopper: headway_api::startup::Stopper,
    pub database: TestDatabase,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `configure` adjusted its settings.
    pub async fn start_with(configure: impl FnOnce(&mut ServeArgs)) -> Self {
        Self::start_on(TestDatabase::create().await, configure).await
    }

    /// Starts a server on an existing database.
    pub async fn start_on(database: TestDatabase, configure: impl FnOnce(&mut ServeArgs)) -> Self {
        let authenticator = Authenticator::hs256(
            TEST_SECRET.as_bytes(),
            TEST_ISSUER,
            TEST_AUDIENCE,
            chrono::Duration::seconds(60),
        )
        .unwrap();
        Self::start_full(database, authenticator, configure).await
    }

    /// Starts a server that checks tokens with `authenticator`.
    pub async fn start_with_authenticator(authenticator: Authenticator) -> Self {
        Self::start_full(TestDatabase::create().await, authenticator, |_| {}).await
    }

    async fn start_full(
        database: TestDatabase,
        authenticator: Authenticator,
        configure: impl FnOnce(&mut ServeArgs),
    ) -> Self {
        let clock = ManualClock::new(default_now());
        let mut db =
            headway_persistence::connect(&database.url, 8, std::time::Duration::from_secs(30))
                .await
                .unwrap_or_else(|error| panic!("failed to connect to {}: {error}", database.url));
        let statements = Arc::new(AtomicU64::new(0));
        let statement_log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let counter = statements.clone();
        let log = statement_log.clone();
        db.set_metric_callback(move |info| {
            counter.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut log) = log.lock() {
                log.push(info.statement.sql.clone());
            }
        });
        headway_persistence::migrate(&db)
            .await
            .expect("migrations failed");
        let store = Store::new(db, Arc::new(clock.clone()));

        let mut serve = ServeArgs::defaults();
        serve.listen = "127.0.0.1:0".parse().unwrap();
        serve.workers = 2;
        // Tests send bursts of requests; the rate-limit tests turn limiting back on.
        serve.rate_limit_per_second = 0.0;
        // With Redis configured, events travel through it on a channel of this server's own.
        if let Ok(redis_url) = std::env::var(REDIS_URL_VARIABLE)
            && !redis_url.trim().is_empty()
        {
            require_redis(&redis_url);
            serve.redis_url = Some(redis_url);
            serve.redis_channel = format!("headway:test:{}", uuid::Uuid::now_v7().simple());
        }
        configure(&mut serve);
        let application = Application::build(&serve, store.clone(), authenticator.clone())
            .await
            .unwrap();
        let address = application.address();
        let stopper = application.stopper();
        tokio::spawn(application.run_until_stopped());
        Self {
            address,
            url: format!("http://{address}/graphql"),
            store,
            clock,
            authenticator,
            statements,
            statement_log,
            client: reqwest::Client::new(),
            stopper,
            database,
        }
    }

    /// A token for the user `subject`, valid for a day from the server's clock.
    pub fn token(&self, subject: &str, email: &str, name: &str) -> String {
        self.authenticator
            .issue(
                subject,
                Some(email),
                Some(name),
                self.store.now(),
                chrono::Duration::days(1),
            )
            .unwrap()
    }

    /// Sends a GraphQL request with `application/json` and returns the status and body.
    pub async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server did not answer");
        let status = response.status().as_u16();
        let body = response.json().await.expect("the response is not JSON");
        (status, body)
    }

    /// Sends a GraphQL request that must succeed without errors, and returns its `data`.
    pub async fn query(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(Some(token), query, variables).await;
        assert_eq!(status, 200, "status {status}: {body}");
        assert!(body.get("errors").is_none(), "errors: {body}");
        body["data"].clone()
    }

    /// Runs a mutation whose payload must have no user errors, and returns the payload.
    pub async fn mutate(&self, token: &str, field: &str, query: &str, variables: Value) -> Value {
        let data = self.query(token, query, variables).await;
        let payload = data[field].clone();
        assert_eq!(
            payload["userErrors"],
            json!([]),
            "user errors in {field}: {payload}"
        );
        payload
    }

    /// Signs up a new user who creates a new organization, and returns their session.
    pub async fn sign_up(&self, name: &str) -> Session {
        let subject = format!("{name}-{}", uuid::Uuid::now_v7().simple());
        let email = format!("{subject}@example.com");
        let token = self.token(&subject, &email, name);
        let payload = self
            .mutate(
                &token,
                "createOrganization",
                "mutation($name: String!) { createOrganization(input: { name: $name, timeZone: \"UTC\" }) { organization { id } userErrors { field message code } } }",
                json!({ "name": format!("{name}'s organization") }),
            )
            .await;
        let organization_id = payload["organization"]["id"].as_str().unwrap().to_owned();
        let viewer = self
            .query(&token, "{ viewer { user { id } } }", json!({}))
            .await;
        Session {
            token,
            organization_id,
            user_id: viewer["viewer"]["user"]["id"].as_str().unwrap().to_owned(),
            email,
        }
    }

    /// Signs up a user and creates their organization through the store, without requests.
    pub async fn sign_up_directly(&self, name: &str) -> Session {
        let subject = format!("{name}-{}", uuid::Uuid::now_v7().simple());
        let email = format!("{subject}@example.com");
        let user = self
            .store
            .provision_user(&headway_persistence::UserClaims {
                external_id: subject.clone(),
                email: headway_domain::values::Email::parse(&email).ok(),
                name: Some(name.to_owned()),
            })
            .await
            .unwrap();
        let (organization, _) = self
            .store
            .create_organization(
                user.id,
                headway_persistence::NewOrganization {
                    name: headway_domain::values::Name::parse(name).unwrap(),
                    time_zone: headway_domain::values::TimeZone::utc(),
                },
            )
            .await
            .unwrap();
        Session {
            token: self.token(&subject, &email, name),
            organization_id: headway_api::graphql::ids::Typed::to_global(organization.id)
                .to_string(),
            user_id: headway_api::graphql::ids::Typed::to_global(user.id).to_string(),
            email,
        }
    }

    /// Adds a new user with `role` to the owner's organization and returns their session.
    pub async fn add_member(&self, owner: &Session, name: &str, role: &str) -> Session {
        let subject = format!("{name}-{}", uuid::Uuid::now_v7().simple());
        let email = format!("{subject}@example.com");
        self.mutate(
            &owner.token,
            "addMember",
            "mutation($email: String!, $role: Role!) { addMember(input: { email: $email, role: $role }) { membership { id } userErrors { field message code } } }",
            json!({ "email": email, "role": role }),
        )
        .await;
        let token = self.token(&subject, &email, name);
        let viewer = self
            .query(
                &token,
                "{ viewer { user { id } organization { id } } }",
                json!({}),
            )
            .await;
        Session {
            token,
            organization_id: viewer["viewer"]["organization"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            user_id: viewer["viewer"]["user"]["id"].as_str().unwrap().to_owned(),
            email,
        }
    }

    /// Stops the server gracefully: sockets close with 1001 and requests in flight finish.
    pub async fn stop(&self) {
        self.stopper.stop().await;
    }

    /// Stops the server gracefully and starts a new one on the same database, with the
    /// settings that `configure` gives.
    pub async fn restart(mut self, configure: impl FnOnce(&mut ServeArgs)) -> Self {
        self.stop().await;
        let database = self.database.hand_over();
        let now = self.store.now();
        drop(self);
        let server = Self::start_on(database, configure).await;
        server.clock.set(now);
        server
    }

    /// The number of SQL statements run so far.
    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::SeqCst)
    }

    /// The statements run since the log held `from` entries.
    pub fn statements_since(&self, from: usize) -> Vec<String> {
        self.statement_log
            .lock()
            .map(|log| log[from.min(log.len())..].to_vec())
            .unwrap_or_default()
    }

    /// The number of statements logged so far.
    pub fn statement_log_len(&self) -> usize {
        self.statement_log
            .lock()
            .map(|log| log.len())
            .unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stopper.abort();
    }
}
