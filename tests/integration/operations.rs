//! What operators rely on: metrics, readiness, graceful shutdown on SIGTERM, traces sent to
//! an OTLP collector, and logs with request ids and without secrets.

use crate::fixtures::{check_in, create_key_result, create_objective, year_and_quarter};
use headway_tests::collector::Collector;
use headway_tests::metrics::{metrics, sample};
use headway_tests::replica::{Replica, query, token};
use headway_tests::server::TEST_SECRET;
use headway_tests::ws::WsClient;
use headway_tests::{TestDatabase, TestServer};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const BINARY: &str = env!("CARGO_BIN_EXE_headway-replica");
const WAIT: Duration = Duration::from_secs(10);

#[actix_rt::test]
async fn metrics_count_operations_and_sockets() {
    let server = TestServer::start().await;
    let owner = server.sign_up("Ada").await;
    server
        .query(
            &owner.token,
            "query Dashboard { viewer { user { name } } }",
            json!({}),
        )
        .await;
    let (_, broken) = server
        .post(
            Some(&owner.token),
            "query Broken { noSuchField }",
            json!({}),
        )
        .await;
    assert!(broken["errors"].is_array(), "{broken}");
    let (_, forbidden) = server
        .post(
            None,
            "query Anonymous { viewer { user { name } } }",
            json!({}),
        )
        .await;
    assert!(forbidden["errors"].is_array(), "{forbidden}");

    let mut socket = WsClient::authenticated(&server.url, &owner.token).await;
    socket
        .subscribe("live", "subscription { progress { sequence } }", json!({}))
        .await;
    socket.send(json!({ "type": "ping" })).await;
    let pong = socket.next_message(WAIT).await.unwrap();
    assert_eq!(pong["type"], "pong", "{pong}");

    // Errors sent over the socket count too, and carry the connection's request id.
    socket
        .subscribe(
            "missing",
            "subscription($scope: EventScopeInput) { progress(scope: $scope) { sequence } }",
            json!({ "scope": { "objectiveId": format!("obj_{}", uuid::Uuid::new_v4().simple()) } }),
        )
        .await;
    let missing = socket.next_message(WAIT).await.unwrap();
    assert_eq!(missing["type"], "error", "{missing}");
    assert_eq!(missing["payload"][0]["extensions"]["code"], "NOT_FOUND");
    let socket_request_id = missing["payload"][0]["extensions"]["requestId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!socket_request_id.is_empty(), "{missing}");
    socket
        .subscribe("broken", "subscription { noSuchField }", json!({}))
        .await;
    let broken_over_socket = socket.next_message(WAIT).await.unwrap();
    assert_eq!(broken_over_socket["type"], "error", "{broken_over_socket}");
    assert_eq!(
        broken_over_socket["payload"][0]["extensions"]["requestId"],
        socket_request_id.as_str()
    );

    let text = metrics(&format!("http://{}", server.address)).await;
    let ok =
        "headway_graphql_operations_total{operation=\"Dashboard\",type=\"query\",outcome=\"ok\"}";
    assert_eq!(sample(&text, ok), Some(1.0), "{text}");
    let failed =
        "headway_graphql_operations_total{operation=\"Broken\",type=\"unknown\",outcome=\"error\"}";
    assert!(
        sample(&text, failed).is_some()
            || sample(
                &text,
                "headway_graphql_operations_total{operation=\"Broken\",type=\"query\",outcome=\"error\"}"
            )
            .is_some(),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "headway_graphql_operation_duration_seconds_count{operation=\"Dashboard\""
        )
        .is_some(),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "headway_graphql_errors_total{code=\"GRAPHQL_VALIDATION_FAILED\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "headway_graphql_errors_total{code=\"UNAUTHENTICATED\"}"
        )
        .is_some(),
        "{text}"
    );
    assert_eq!(
        sample(&text, "headway_graphql_errors_total{code=\"NOT_FOUND\"}"),
        Some(1.0),
        "{text}"
    );
    // Both subscriptions that failed at their start count as errors; the running one
    // counts once its first event goes out or it ends.
    assert_eq!(
        sample(
            &text,
            "headway_graphql_operations_total{operation=\"anonymous\",type=\"subscription\",outcome=\"error\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "headway_websocket_connections "),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "headway_subscriptions "), Some(1.0), "{text}");
    assert!(
        sample(
            &text,
            "headway_http_requests_total{method=\"POST\",route=\"/graphql\",status=\"200\"}"
        )
        .is_some_and(|count| count >= 2.0),
        "{text}"
    );
    assert!(sample(&text, "headway_db_pool_max_connections ").is_some_and(|max| max >= 1.0));
    assert!(sample(&text, "headway_db_pool_connections{state=\"idle\"}").is_some());
    assert!(sample(&text, "headway_db_pool_waiting ").is_some());
    assert!(sample(&text, "headway_outbox_backlog_events ").is_some());
    for family in [
        "# TYPE headway_relay_lag_seconds histogram",
        "# TYPE headway_webhook_delivery_attempts counter",
    ] {
        assert!(text.contains(family), "{family} missing from\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));

    // Closing the socket ends its subscription in the gauges.
    socket
        .send(json!({ "type": "complete", "id": "live" }))
        .await;
    drop(socket);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = metrics(&format!("http://{}", server.address)).await;
        if sample(&text, "headway_websocket_connections ") == Some(0.0)
            && sample(&text, "headway_subscriptions ") == Some(0.0)
        {
            // The client went away without a close frame, so the server sent none either.
            assert_eq!(
                sample(&text, "headway_websocket_closes_total{code=\"none\"}"),
                Some(1.0),
                "{text}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn relay_lag_and_backlog_metrics() {
    let server = TestServer::start().await;
    let owner = server.sign_up("Ada").await;
    let (_, quarter) = year_and_quarter(&server, &owner).await;
    let objective = create_objective(
        &server,
        &owner,
        json!({ "cycleId": quarter, "title": "Ship" }),
    )
    .await;
    let key_result = create_key_result(
        &server,
        &owner,
        json!({ "objectiveId": objective, "title": "Releases", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" }),
    )
    .await;
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "3" }),
    )
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = metrics(&format!("http://{}", server.address)).await;
        let relayed = sample(&text, "headway_relay_lag_seconds_count ").unwrap_or(0.0);
        if relayed >= 1.0 {
            assert_eq!(
                sample(&text, "headway_outbox_backlog_events "),
                Some(0.0),
                "{text}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready_status(client: &reqwest::Client, base: &str) -> (u16, Value) {
    let response = client.get(format!("{base}/readyz")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[actix_rt::test]
async fn readyz_unready_during_shutdown_delay() {
    let database = TestDatabase::create().await;
    let mut replica = Replica::start_with(
        BINARY,
        &database.url,
        None,
        1_000,
        &[("HEADWAY_SHUTDOWN_DELAY_SECONDS", "3")],
    );
    let client = reqwest::Client::new();
    let (status, body) = ready_status(&client, &replica.base).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["migrations"], true, "{body}");

    replica.terminate();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let body = loop {
        let (status, body) = ready_status(&client, &replica.base).await;
        if status == 503 {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still ready: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(body["status"], "shutting down");
    // Load balancers take a moment to notice; requests keep being served meanwhile.
    let healthy = client
        .get(format!("{}/healthz", replica.base))
        .send()
        .await
        .unwrap();
    assert_eq!(healthy.status().as_u16(), 200);
    let response = client
        .post(&replica.url)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query", "{body}");

    let status = replica
        .wait_exit(Duration::from_secs(20))
        .expect("the server did not stop after the delay");
    assert!(status.success(), "{status:?}");
}

/// Starts a server process on `database` with `environment` and signs up `subject` as the
/// owner of a new organization. Returns the server, a client and the owner's token.
async fn replica_with_organization(
    database: &TestDatabase,
    environment: &[(&str, &str)],
    subject: &str,
) -> (Replica, reqwest::Client, String) {
    let replica = Replica::start_with(BINARY, &database.url, None, 1_000, environment);
    let client = reqwest::Client::new();
    let owner = token(subject);
    query(
        &client,
        &replica.url,
        &owner,
        "mutation { createOrganization(input: { name: \"Operated\" }) { organization { id } } }",
        json!({}),
    )
    .await;
    (replica, client, owner)
}

#[actix_rt::test]
async fn sigterm_finishes_slow_request_closes_sockets() {
    let database = TestDatabase::create().await;
    let (mut replica, _, owner) = replica_with_organization(
        &database,
        &[("HEADWAY_SHUTDOWN_GRACE_SECONDS", "20")],
        "grace-owner",
    )
    .await;
    let mut socket = WsClient::authenticated(&replica.url, &owner).await;
    socket
        .subscribe("live", "subscription { progress { sequence } }", json!({}))
        .await;
    socket.send(json!({ "type": "ping" })).await;
    assert_eq!(socket.next_message(WAIT).await.unwrap()["type"], "pong");

    // A request whose body arrives slowly: half before the signal, half after.
    let address = replica.base.trim_start_matches("http://").to_owned();
    let body = json!({ "query": "query Slow { viewer { user { name } } }" }).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {owner}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    replica.terminate();
    assert_eq!(socket.close_code(WAIT).await, 1001);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        replica.wait_exit(Duration::ZERO).is_none(),
        "the server exited with a request in flight"
    );

    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("no response to the slow request")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"name\":\"grace-owner\""), "{response}");

    let status = replica
        .wait_exit(Duration::from_secs(20))
        .expect("the server did not stop after its last request");
    assert!(status.success(), "{status:?}");
}

#[actix_rt::test]
async fn spans_reach_otlp_collector_with_parent() {
    let collector = Collector::start().await;
    let database = TestDatabase::create().await;
    let (mut replica, client, owner) = replica_with_organization(
        &database,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint),
            ("OTEL_SERVICE_NAME", "headway-under-test"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
            // Long enough that only the flush at shutdown sends the spans.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
        "traced-owner",
    )
    .await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = client
        .post(&replica.url)
        .bearer_auth(&owner)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .header("x-request-id", "traced-request-1")
        .json(&json!({ "query": "mutation CreatePlatform { createTeam(input: { name: \"Platform\" }) { team { id } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let failing_trace = "0af7651916cd43dd8448eb211c80319c";
    client
        .post(&replica.url)
        .bearer_auth(&owner)
        .header(
            "traceparent",
            format!("00-{failing_trace}-b7ad6b7169203331-01"),
        )
        .json(&json!({ "query": "query Broken { noSuchField }" }))
        .send()
        .await
        .unwrap();
    // A check-in commits events, which the relay publishes.
    let cycle = query(
        &client,
        &replica.url,
        &owner,
        "mutation { createCycle(input: { name: \"Now\", startDate: \"2020-01-01\", endDate: \"2999-12-31\", state: ACTIVE }) { cycle { id } } }",
        json!({}),
    )
    .await["createCycle"]["cycle"]["id"]
        .clone();
    let objective = query(
        &client,
        &replica.url,
        &owner,
        "mutation($cycle: ID!) { createObjective(input: { cycleId: $cycle, title: \"Traced\" }) { objective { id } } }",
        json!({ "cycle": cycle }),
    )
    .await["createObjective"]["objective"]["id"]
        .clone();
    let key_result = query(
        &client,
        &replica.url,
        &owner,
        "mutation($objective: ID!) { createKeyResult(input: { objectiveId: $objective, title: \"Count\", type: INCREASE_TO, startValue: \"0\", targetValue: \"10\" }) { keyResult { id } } }",
        json!({ "objective": objective }),
    )
    .await["createKeyResult"]["keyResult"]["id"]
        .clone();
    query(
        &client,
        &replica.url,
        &owner,
        "mutation($kr: ID!) { createCheckIn(input: { keyResultId: $kr, value: \"4\" }) { checkIn { id } } }",
        json!({ "kr": key_result }),
    )
    .await;
    assert!(
        collector.spans().is_empty(),
        "spans were sent before the shutdown flush"
    );

    replica.terminate();
    let status = replica
        .wait_exit(Duration::from_secs(30))
        .expect("the server did not stop");
    assert!(status.success(), "{status:?}");

    let spans = collector.spans();
    let in_trace: Vec<_> = spans
        .iter()
        .filter(|span| span.trace_id == trace_id)
        .collect();
    let http = in_trace
        .iter()
        .find(|span| span.name == "POST /graphql")
        .unwrap_or_else(|| panic!("no HTTP span in the caller's trace: {spans:#?}"));
    assert_eq!(http.parent_span_id, caller_span);
    assert_eq!(http.attribute("http.response.status_code"), Some("200"));
    assert_eq!(http.attribute("request_id"), Some("traced-request-1"));
    assert_eq!(
        http.resource.get("service.name").map(String::as_str),
        Some("headway-under-test")
    );
    assert_eq!(
        http.resource
            .get("deployment.environment")
            .map(String::as_str),
        Some("test")
    );

    let operation = in_trace
        .iter()
        .find(|span| span.name == "mutation CreatePlatform")
        .unwrap_or_else(|| panic!("no operation span: {in_trace:#?}"));
    assert_eq!(operation.parent_span_id, http.span_id);
    assert_eq!(
        operation.attribute("graphql.operation.name"),
        Some("CreatePlatform")
    );
    assert_eq!(
        operation.attribute("graphql.operation.type"),
        Some("mutation")
    );
    assert_eq!(operation.attribute("headway.principal_kind"), Some("user"));
    assert!(
        operation
            .attribute("headway.organization_id")
            .is_some_and(|id| id.starts_with("org_")),
        "{operation:#?}"
    );
    assert_eq!(operation.attribute("graphql.error.codes"), None);

    // Database statements are spans below the operation.
    let below_operation = |span: &&&headway_tests::collector::ReceivedSpan| {
        let mut parent = span.parent_span_id.clone();
        while !parent.is_empty() {
            if parent == operation.span_id {
                return true;
            }
            parent = in_trace
                .iter()
                .find(|candidate| candidate.span_id == parent)
                .map(|candidate| candidate.parent_span_id.clone())
                .unwrap_or_default();
        }
        false
    };
    let statements: Vec<_> = in_trace
        .iter()
        .filter(|span| span.attribute("db.system").is_some())
        .filter(below_operation)
        .collect();
    assert!(!statements.is_empty(), "no database spans: {in_trace:#?}");
    let system = if database.is_postgres() {
        "postgresql"
    } else {
        "sqlite"
    };
    assert!(
        statements
            .iter()
            .all(|span| span.attribute("db.system") == Some(system))
    );

    let broken = spans
        .iter()
        .find(|span| span.trace_id == failing_trace && span.name.ends_with("Broken"))
        .unwrap_or_else(|| panic!("no span for the failing operation: {spans:#?}"));
    assert_eq!(
        broken.attribute("graphql.error.codes"),
        Some("GRAPHQL_VALIDATION_FAILED")
    );

    // Background polls leave no statement spans of their own, and spans carry no build
    // paths.
    let orphans: Vec<_> = spans
        .iter()
        .filter(|span| span.attribute("db.system").is_some() && span.parent_span_id.is_empty())
        .collect();
    assert!(
        orphans.is_empty(),
        "statement spans outside any work: {orphans:#?}"
    );
    assert!(
        spans
            .iter()
            .all(|span| span.attribute("code.file.path").is_none()
                && span.attribute("code.filepath").is_none())
    );

    // The relay publishes the check-in's events in a span of its own.
    assert!(
        spans
            .iter()
            .any(|span| span.name == "outbox.relay" && span.attribute("events").is_some()),
        "no relay span: {spans:#?}"
    );
}

#[actix_rt::test]
async fn json_logs_have_request_ids_no_secrets() {
    let receiver = headway_tests::receiver::Receiver::start().await;
    let database = TestDatabase::create().await;
    let (mut replica, client, owner) = replica_with_organization(
        &database,
        &[
            ("HEADWAY_LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
            ("HEADWAY_WEBHOOK_ALLOW_NETWORKS", "loopback"),
            ("HEADWAY_WEBHOOK_POLL_MS", "50"),
        ],
        "logged-owner",
    )
    .await;
    let created = query(
        &client,
        &replica.url,
        &owner,
        "mutation { createApiToken(input: { name: \"CRM\", scopes: [READ] }) { token } }",
        json!({}),
    )
    .await;
    let api_token = created["createApiToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    query(
        &client,
        &replica.url,
        &api_token,
        "{ viewer { organization { name } } }",
        json!({}),
    )
    .await;
    let webhook_secret = "whsec-logs-must-never-show-this-0123456789";
    query(
        &client,
        &replica.url,
        &owner,
        "mutation($url: String!, $secret: String!) { createWebhookEndpoint(input: { url: $url, secret: $secret, eventTypes: [CHECK_IN_CREATED] }) { userErrors { message } } }",
        json!({ "url": receiver.url("/hooks"), "secret": webhook_secret }),
    )
    .await;
    let wrong_token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.not-a-real-signature";
    let rejected = client
        .post(&replica.url)
        .bearer_auth(wrong_token)
        .header("x-request-id", "rejected-request-1")
        .json(&json!({ "query": "{ viewer { user { name } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status().as_u16(), 401);
    let body: Value = rejected.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["requestId"],
        "rejected-request-1"
    );

    replica.terminate();
    replica
        .wait_exit(Duration::from_secs(30))
        .expect("the server did not stop");
    let lines = replica.log_lines();
    assert!(lines.len() > 10, "{lines:#?}");
    for secret in [
        owner.as_str(),
        api_token.as_str(),
        webhook_secret,
        wrong_token,
        TEST_SECRET,
    ] {
        if let Some(line) = lines.iter().find(|line| line.contains(secret)) {
            panic!("a log line shows a secret: {line}");
        }
    }
    let mut in_requests = 0;
    for line in &lines {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"));
        let spans = entry["spans"].as_array().cloned().unwrap_or_default();
        if spans.iter().any(|span| span["name"] == "http.request") {
            in_requests += 1;
            assert!(
                spans.iter().any(|span| span["request_id"].is_string()),
                "a line inside a request has no request id: {line}"
            );
        }
    }
    assert!(in_requests > 0);
    assert!(
        lines.iter().any(|line| line.contains("rejected-request-1")),
        "the rejected request left no line with its id"
    );
}

#[actix_rt::test]
async fn newer_migrations_keep_old_servers_ready() {
    use sea_orm::ConnectionTrait as _;
    let server = TestServer::start().await;
    // A newer build's pre-upgrade Job applied a migration that this build does not know.
    server
        .store
        .connection()
        .execute_unprepared(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29991231_000001_from_a_newer_build', 0)",
        )
        .await
        .unwrap();
    let base = format!("http://{}", server.address);
    let (status, body) = ready_status(&server.client, &base).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["migrations"], true, "{body}");

    // An old server that restarts meanwhile still starts and serves.
    let server = server.restart(|_| {}).await;
    let base = format!("http://{}", server.address);
    let (status, body) = ready_status(&server.client, &base).await;
    assert_eq!(status, 200, "{body}");
    let owner = server.sign_up("Ada").await;
    let data = server
        .query(&owner.token, "{ viewer { user { name } } }", json!({}))
        .await;
    assert_eq!(data["viewer"]["user"]["name"], "Ada");
}
