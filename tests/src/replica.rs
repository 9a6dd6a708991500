//! Headway servers as separate processes, and private Redis servers, for tests of several
//! replicas and of faults.

use crate::server::{TEST_AUDIENCE, TEST_ISSUER, TEST_SECRET};
use headway_api::auth::Authenticator;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `headway serve` process.
pub struct Replica {
    child: Child,
    pub url: String,
    pub base: String,
    /// Every line the process wrote to standard error so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Replica {
    /// Starts `binary serve` on `database_url`, with Redis when `redis_url` is set, and waits
    /// until it listens. Integration tests pass `env!("CARGO_BIN_EXE_headway-replica")`.
    pub fn start(
        binary: &str,
        database_url: &str,
        redis_url: Option<&str>,
        catch_up_ms: u64,
    ) -> Self {
        Self::start_with(binary, database_url, redis_url, catch_up_ms, &[])
    }

    /// Like [`Self::start`], with more environment variables, which win over the defaults.
    pub fn start_with(
        binary: &str,
        database_url: &str,
        redis_url: Option<&str>,
        catch_up_ms: u64,
        environment: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info,sqlx=warn")
            .env("HEADWAY_DATABASE_URL", database_url)
            .env("HEADWAY_DATABASE_MAX_CONNECTIONS", "4")
            .env("HEADWAY_LISTEN", "127.0.0.1:0")
            .env("HEADWAY_WORKERS", "1")
            .env("HEADWAY_MODE", "production")
            .env("HEADWAY_JWT_SECRET", TEST_SECRET)
            .env("HEADWAY_JWT_ISSUER", TEST_ISSUER)
            .env("HEADWAY_JWT_AUDIENCE", TEST_AUDIENCE)
            .env("HEADWAY_SEED_DEMO", "false")
            .env("HEADWAY_EVENT_CATCH_UP_MS", catch_up_ms.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(redis_url) = redis_url {
            command.env("HEADWAY_REDIS_URL", redis_url);
        }
        command.envs(environment.iter().copied());
        let mut child = command
            .spawn()
            .expect("failed to start the replica process");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        // Reads the log until the replica says where it listens, then keeps draining it.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line.clone());
                if !sent && line.contains("headway is listening") {
                    // Text lines contain `address=…`, JSON lines `"address":"…"`.
                    let address = line
                        .split("address=")
                        .nth(1)
                        .or_else(|| line.split("\"address\":").nth(1))
                        .and_then(|rest| rest.split([' ', ',', '}']).next())
                        .map(|address| {
                            address
                                .trim_matches(|c: char| !c.is_ascii_digit() && c != '.' && c != ':')
                                .to_owned()
                        });
                    let _ = sender.send(address);
                    sent = true;
                }
                if line.contains("ERROR") {
                    eprintln!("replica: {line}");
                }
            }
        });
        let address = receiver
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("the replica did not start listening within 60 s"));
        Self {
            child,
            url: format!("http://{address}/graphql"),
            base: format!("http://{address}"),
            log,
        }
    }

    /// Returns the lines written to standard error so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM, as Kubernetes does to stop a pod.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("failed to run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `wait` for the process to exit; `None` while it still runs.
    pub fn wait_exit(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().expect("failed to poll the replica") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs tokens that replicas started by [`Replica::start`] accept.
pub fn token(subject: &str) -> String {
    let authenticator = Authenticator::hs256(
        TEST_SECRET.as_bytes(),
        TEST_ISSUER,
        TEST_AUDIENCE,
        chrono::Duration::seconds(60),
    )
    .unwrap();
    authenticator
        .issue(
            subject,
            Some(&format!("{subject}@example.com")),
            Some(subject),
            chrono::Utc::now(),
            chrono::Duration::hours(1),
        )
        .unwrap()
}

/// Sends a GraphQL request and returns its data, failing the test on errors.
pub async fn query(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("the replica did not answer");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// A `redis-server` of the test's own, on a free port, that the test can stop and restart.
pub struct PrivateRedis {
    child: Option<Child>,
    pub port: u16,
}

/// Returns a TCP port on 127.0.0.1 that nothing listens on at the moment of the call.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("no free port")
}

impl PrivateRedis {
    pub fn start() -> Self {
        let mut redis = Self {
            child: None,
            port: free_port(),
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port and waits until it answers.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("failed to start redis-server ({error}); install Redis to run this test")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the private redis-server on port {} did not start",
            self.port
        );
    }

    /// Kills the server.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
