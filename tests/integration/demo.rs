//! The demo organization seeds into an empty database and serves the dashboard query. The
//! command line prints working instructions for it and rejects commands that would create a
//! stray database.

use headway_tests::server::TEST_SECRET;
use headway_tests::{TestDatabase, TestServer};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_headway-replica");

/// An empty folder of its own under the system's temporary folder, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn create() -> Self {
        let path = std::env::temp_dir()
            .join("headway-tests")
            .join(format!("cli-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds a command line process that runs in `folder` with only the environment that a
/// test sets.
fn headway(folder: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(folder)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("HEADWAY_JWT_SECRET", TEST_SECRET);
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// A `headway serve` process, ended when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the demo instructions name: the organization id, the token and the GraphQL URL.
#[derive(Debug)]
struct Instructions {
    organization_id: String,
    token: String,
    url: String,
}

fn parse_instructions(lines: &[String]) -> Instructions {
    let text = lines.join("\n");
    let organization_id = text
        .split("Demo organization \"Acme Corporation\" (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no organization id in:\n{text}"))
        .to_owned();
    let token = lines
        .iter()
        .skip_while(|line| !line.contains("with this bearer token"))
        .map(|line| line.trim())
        .find(|line| line.starts_with("ey"))
        .unwrap_or_else(|| panic!("no token in:\n{text}"))
        .to_owned();
    let url = text
        .split("curl -s ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no curl command in:\n{text}"))
        .to_owned();
    assert!(
        text.contains(&format!(
            "headway token create --organization {organization_id} "
        )),
        "{text}"
    );
    Instructions {
        organization_id,
        token,
        url,
    }
}

async fn organization_of(url: &str, token: &str) -> Value {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": "{ organization { id name } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"]["organization"].clone()
}

#[tokio::test]
async fn demo_seeds_a_planned_quarter() {
    let server = TestServer::start().await;
    let demo = headway_api::demo::seed(&server.store).await.unwrap();
    assert!(demo.created);
    let again = headway_api::demo::seed(&server.store).await.unwrap();
    assert!(!again.created, "seeding twice keeps one demo organization");

    let token = server.token(
        headway_api::demo::DEMO_OWNER_SUBJECT,
        headway_api::demo::DEMO_OWNER_EMAIL,
        headway_api::demo::DEMO_OWNER_NAME,
    );
    let data = server
        .query(
            &token,
            "{ viewer { role organization { name } } teams { totalCount } kpis { nodes { name health measurements { totalCount } } } cycles(state: ACTIVE, first: 5) { nodes { name objectives(first: 10) { nodes { title progress paceStatus children { totalCount } keyResults(first: 10) { nodes { title type progress lastCheckIn { source } } } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["viewer"]["role"], "OWNER");
    assert_eq!(data["viewer"]["organization"]["name"], "Acme Corporation");
    assert_eq!(data["teams"]["totalCount"], 4);
    let kpis = data["kpis"]["nodes"].as_array().unwrap();
    assert_eq!(kpis.len(), 3);
    assert!(
        kpis.iter()
            .all(|kpi| kpi["measurements"]["totalCount"] == 365)
    );
    let cycles = data["cycles"]["nodes"].as_array().unwrap();
    assert_eq!(cycles.len(), 2);
    let year = &cycles[0]["objectives"]["nodes"][0];
    assert_eq!(year["children"]["totalCount"], 3);
    let key_results: Vec<&serde_json::Value> = cycles[1]["objectives"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|objective| objective["keyResults"]["nodes"].as_array().unwrap())
        .collect();
    assert_eq!(key_results.len(), 12);
    for kind in [
        "INCREASE_TO",
        "DECREASE_TO",
        "STAY_AT_OR_ABOVE",
        "STAY_AT_OR_BELOW",
        "BOOLEAN",
    ] {
        assert!(key_results.iter().any(|kr| kr["type"] == kind), "{kind}");
    }
    assert!(
        key_results
            .iter()
            .any(|kr| kr["lastCheckIn"]["source"] == "KPI")
    );
}

#[tokio::test]
async fn printed_demo_instructions_work() {
    let folder = Folder::create();
    let database = TestDatabase::create().await;

    // The first start seeds the demo and names the port it bound, not port 0.
    let mut child = headway(&folder.0)
        .arg("serve")
        .env("HEADWAY_DATABASE_URL", &database.url)
        .env("HEADWAY_DATABASE_MAX_CONNECTIONS", "4")
        .env("HEADWAY_LISTEN", "127.0.0.1:0")
        .env("HEADWAY_WORKERS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serve = Serve(child);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let last = line.contains("headway token create");
            lines.push(line);
            if last {
                let _ = sender.send(lines.clone());
            }
        }
    });
    let lines = receiver
        .recv_timeout(Duration::from_secs(180))
        .expect("serve printed no demo instructions within 180 s");
    let first = parse_instructions(&lines);
    assert!(first.url.starts_with("http://127.0.0.1:"), "{first:?}");
    assert!(!first.url.starts_with("http://127.0.0.1:0/"), "{first:?}");
    assert!(first.organization_id.starts_with("org_"), "{first:?}");
    let organization = organization_of(&first.url, &first.token).await;
    assert_eq!(organization["id"], first.organization_id.as_str());
    assert_eq!(organization["name"], "Acme Corporation");

    // `headway demo` reuses the organization and sends to HEADWAY_LISTEN, with an
    // unspecified address turned into loopback.
    let port = first
        .url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/graphql")
        .to_owned();
    let (output, stdout, stderr) = run(headway(&folder.0)
        .arg("demo")
        .env("HEADWAY_DATABASE_URL", &database.url)
        .env("HEADWAY_LISTEN", format!("0.0.0.0:{port}")));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("the demo organization exists already"),
        "{stdout}"
    );
    let again = parse_instructions(&stdout.lines().map(str::to_owned).collect::<Vec<_>>());
    assert_eq!(again.url, first.url);
    assert_eq!(again.organization_id, first.organization_id);
    let organization = organization_of(&again.url, &again.token).await;
    assert_eq!(organization["id"], first.organization_id.as_str());

    let (output, stdout, stderr) = run(headway(&folder.0)
        .arg("demo")
        .env("HEADWAY_DATABASE_URL", &database.url)
        .env("HEADWAY_LISTEN", "[::]:9137"));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("curl -s http://[::1]:9137/graphql "),
        "{stdout}"
    );
    drop(serve);
}

#[test]
fn commands_need_existing_database_file() {
    let folder = Folder::create();
    let organization = "org_00000000000000000000000000000001";
    let commands: [&[&str]; 3] = [
        &[
            "token",
            "create",
            "--organization",
            organization,
            "--name",
            "CRM sync",
            "--scopes",
            "ingest",
        ],
        &["token", "list", "--organization", organization],
        &[
            "token",
            "revoke",
            "--organization",
            organization,
            "tok_00000000000000000000000000000001",
        ],
    ];
    let expected = folder.0.join("headway.db");
    for arguments in commands {
        let (output, stdout, stderr) = run(headway(&folder.0).args(arguments));
        assert!(!output.status.success(), "{arguments:?}: {stdout}");
        assert!(
            stderr.contains(&format!(
                "the SQLite database file {} does not exist; run this command in the folder where `headway serve` runs, or set HEADWAY_DATABASE_URL",
                expected.display()
            )),
            "{arguments:?}: {stderr}"
        );
        assert!(
            !expected.exists(),
            "{arguments:?} created {}",
            expected.display()
        );
    }

    // `migrate` and `demo` create the database, as `serve` does.
    for arguments in [["migrate"], ["demo"]] {
        let (output, stdout, stderr) = run(headway(&folder.0).args(arguments));
        assert!(output.status.success(), "{arguments:?}: {stdout}{stderr}");
        assert!(expected.exists(), "{arguments:?} created no database");
    }

    // The path comes from HEADWAY_DATABASE_URL when it is set.
    let other = folder.0.join("elsewhere.db");
    let (output, _, stderr) = run(headway(&folder.0)
        .args(["token", "list", "--organization", organization])
        .env(
            "HEADWAY_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", other.display()),
        ));
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!(
            "the SQLite database file {} does not exist",
            other.display()
        )),
        "{stderr}"
    );
    assert!(!other.exists());

    // An in-memory database has no file to look for.
    let (output, stdout, stderr) = run(headway(&folder.0)
        .arg("migrate")
        .env("HEADWAY_DATABASE_URL", "sqlite::memory:"));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "migrations are up to date");
}
