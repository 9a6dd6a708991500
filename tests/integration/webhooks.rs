//! Outbound webhooks against a receiver on 127.0.0.1: signatures, order, retries, time-outs,
//! disabling, redelivery, restarts and refused targets.

use crate::fixtures::{check_in, create_key_result, create_objective, year_and_quarter};
use headway_api::config::{ServeArgs, WebhookNetwork};
use headway_tests::receiver::{Received, Receiver, Reply};
use headway_tests::{Session, TestServer};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const SECRET: &str = "whsec_a-secret-that-is-long-enough";

const ENDPOINT_FIELDS: &str =
    "id url description eventTypes enabled disabledReason consecutiveFailures version deletedAt";

/// Webhooks to loopback, polled and retried quickly.
fn fast(serve: &mut ServeArgs) {
    serve.webhook_allow_networks = vec![WebhookNetwork::Loopback];
    serve.webhook_poll_ms = 50;
    serve.webhook_retry_base_ms = 50;
    serve.webhook_retry_max_ms = 200;
    serve.webhook_timeout_ms = 2_000;
}

/// A key result in an active quarter, to check in on.
async fn key_result(server: &TestServer, owner: &Session) -> String {
    let (_, quarter) = year_and_quarter(server, owner).await;
    let objective = create_objective(
        server,
        owner,
        json!({ "cycleId": quarter, "title": "Delight customers" }),
    )
    .await;
    create_key_result(
        server,
        owner,
        json!({ "objectiveId": objective, "title": "Answer 100 tickets", "type": "INCREASE_TO", "startValue": "0", "targetValue": "100" }),
    )
    .await
}

async fn create_endpoint(server: &TestServer, owner: &Session, input: Value) -> Value {
    server
        .mutate(
            &owner.token,
            "createWebhookEndpoint",
            &format!("mutation($input: CreateWebhookEndpointInput!) {{ createWebhookEndpoint(input: $input) {{ secret webhookEndpoint {{ {ENDPOINT_FIELDS} }} userErrors {{ field message code }} }} }}"),
            json!({ "input": input }),
        )
        .await
}

async fn update_endpoint(server: &TestServer, owner: &Session, input: Value) -> Value {
    server
        .query(
            &owner.token,
            &format!("mutation($input: UpdateWebhookEndpointInput!) {{ updateWebhookEndpoint(input: $input) {{ secret webhookEndpoint {{ {ENDPOINT_FIELDS} }} userErrors {{ field message code }} }} }}"),
            json!({ "input": input }),
        )
        .await["updateWebhookEndpoint"]
        .clone()
}

/// The endpoint with its delivery log, oldest delivery first.
async fn endpoint_log(server: &TestServer, owner: &Session, endpoint: &str) -> Value {
    let mut endpoint = server
        .query(
            &owner.token,
            &format!("query($id: ID!) {{ node(id: $id) {{ ... on WebhookEndpoint {{ {ENDPOINT_FIELDS} deliveries(first: 100) {{ totalCount nodes {{ id kind eventId eventType sequence status attemptCount responseStatus lastError nextAttemptAt redeliveryOf attempts {{ number responseStatus responseBody error durationMs }} }} }} }} }} }}"),
            json!({ "id": endpoint }),
        )
        .await["node"]
        .clone();
    let deliveries = endpoint["deliveries"]["nodes"].as_array_mut().unwrap();
    deliveries.reverse();
    endpoint
}

async fn wait_until(
    server: &TestServer,
    owner: &Session,
    endpoint: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let log = endpoint_log(server, owner, endpoint).await;
        if done(&log) {
            return log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen: {log:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn event_ids(received: &[headway_tests::receiver::Received]) -> Vec<String> {
    received
        .iter()
        .map(|request| request.header("headway-event-id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_signed_and_logged() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(fast).await;
    let owner = server.sign_up("owner").await;
    let key_result = key_result(&server, &owner).await;
    let created = create_endpoint(
        &server,
        &owner,
        json!({ "url": receiver.url("/hooks/headway"), "secret": SECRET, "description": "CRM", "eventTypes": ["CHECK_IN_CREATED", "KEY_RESULT_PROGRESS_CHANGED"] }),
    )
    .await;
    assert_eq!(
        created["secret"],
        Value::Null,
        "a chosen secret is not echoed"
    );
    let endpoint = created["webhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created["webhookEndpoint"]["enabled"], true);

    for value in ["2", "5", "7"] {
        check_in(
            &server,
            &owner,
            json!({ "keyResultId": key_result, "value": value }),
        )
        .await;
    }
    receiver.wait_for(6, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.received();
    assert_eq!(
        received.len(),
        6,
        "only the chosen event types: {received:#?}"
    );

    let sequences: Vec<i64> = received
        .iter()
        .map(|request| request.json()["sequence"].as_i64().unwrap())
        .collect();
    assert!(
        sequences.windows(2).all(|pair| pair[0] < pair[1]),
        "deliveries arrive in sequence order: {sequences:?}"
    );
    let now = chrono::Utc::now().timestamp();
    for request in &received {
        assert!(request.signed_with(SECRET), "bad signature: {request:#?}");
        assert!(!request.signed_with("another-secret-of-some-length"));
        assert_eq!(request.path, "/hooks/headway");
        assert_eq!(request.header("content-type"), "application/json");
        assert!(
            request
                .header("user-agent")
                .starts_with("Headway-Webhooks/")
        );
        let body = request.json();
        assert_eq!(request.header("headway-event-id"), body["id"]);
        assert_eq!(request.header("headway-event-type"), body["type"]);
        assert!(request.header("headway-delivery-id").starts_with("whd_"));
        let timestamp: i64 = request.header("headway-timestamp").parse().unwrap();
        assert!(
            (now - timestamp).abs() < 60,
            "timestamp {timestamp} is not now"
        );
        assert_eq!(body["organizationId"], owner.organization_id);
    }
    let first = received[0].json();
    assert_eq!(first["type"], "CHECK_IN_CREATED");
    assert_eq!(first["data"]["keyResultId"], key_result);
    assert_eq!(first["data"]["value"], "2");
    assert!(
        first["data"]["checkInId"]
            .as_str()
            .unwrap()
            .starts_with("chk_")
    );
    let second = received[1].json();
    assert_eq!(second["type"], "KEY_RESULT_PROGRESS_CHANGED");
    assert_eq!(second["data"]["newValue"], "2");

    let log = endpoint_log(&server, &owner, &endpoint).await;
    assert_eq!(log["deliveries"]["totalCount"], 6);
    for delivery in log["deliveries"]["nodes"].as_array().unwrap() {
        assert_eq!(delivery["status"], "SUCCEEDED");
        assert_eq!(delivery["kind"], "EVENT");
        assert_eq!(delivery["attemptCount"], 1);
        assert_eq!(delivery["responseStatus"], 200);
        assert_eq!(delivery["attempts"][0]["responseBody"], "received");
    }
    let logged: Vec<String> = log["deliveries"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|delivery| delivery["eventId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logged, event_ids(&received));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retries_keep_ids_and_order() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|serve| {
        fast(serve);
        serve.webhook_timeout_ms = 700;
    })
    .await;
    let owner = server.sign_up("owner").await;
    let key_result = key_result(&server, &owner).await;
    receiver.plan([
        Reply::status(500),
        Reply::after(200, Duration::from_secs(3)),
        Reply::status(503),
    ]);
    let endpoint = create_endpoint(
        &server,
        &owner,
        json!({ "url": receiver.url("/in"), "secret": SECRET, "eventTypes": ["CHECK_IN_CREATED"] }),
    )
    .await["webhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "1" }),
    )
    .await;
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "2" }),
    )
    .await;

    let received = receiver.wait_for(5, Duration::from_secs(20)).await;
    let ids = event_ids(&received);
    // The first event is tried until it succeeds; the second waits behind it.
    assert!(ids[..4].iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_ne!(ids[4], ids[0]);
    let deliveries: BTreeSet<&str> = received[..4]
        .iter()
        .map(|request| request.header("headway-delivery-id"))
        .collect();
    assert_eq!(deliveries.len(), 1, "a retry keeps the delivery id");
    for request in &received {
        assert!(request.signed_with(SECRET));
    }

    let log = wait_until(&server, &owner, &endpoint, "both deliveries", |log| {
        log["deliveries"]["nodes"].as_array().is_some_and(|nodes| {
            nodes.len() == 2 && nodes.iter().all(|node| node["status"] == "SUCCEEDED")
        })
    })
    .await;
    let first = &log["deliveries"]["nodes"][0];
    assert_eq!(first["attemptCount"], 4);
    let attempts = first["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["responseStatus"], 500);
    assert_eq!(attempts[1]["responseStatus"], Value::Null);
    assert!(
        attempts[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("no response within"),
        "{}",
        attempts[1]
    );
    assert_eq!(attempts[2]["responseStatus"], 503);
    assert_eq!(attempts[3]["responseStatus"], 200);
    assert_eq!(log["consecutiveFailures"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_failing_endpoint_disabled() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|serve| {
        fast(serve);
        serve.webhook_max_attempts = 2;
        serve.webhook_disable_after = 3;
    })
    .await;
    let owner = server.sign_up("owner").await;
    let key_result = key_result(&server, &owner).await;
    receiver.otherwise(Reply::status(500));
    let endpoint = create_endpoint(
        &server,
        &owner,
        json!({ "url": receiver.url("/in"), "secret": SECRET, "eventTypes": ["CHECK_IN_CREATED"] }),
    )
    .await["webhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for value in ["1", "2", "3"] {
        check_in(
            &server,
            &owner,
            json!({ "keyResultId": key_result, "value": value }),
        )
        .await;
    }
    let log = wait_until(&server, &owner, &endpoint, "disabling", |log| {
        log["enabled"] == false
    })
    .await;
    assert_eq!(log["disabledReason"], "TOO_MANY_FAILURES");
    assert_eq!(log["consecutiveFailures"], 3);
    let statuses: Vec<&str> = log["deliveries"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|delivery| delivery["status"].as_str().unwrap())
        .collect();
    // Two attempts used up the first delivery; the second failed once and waits.
    assert_eq!(statuses, ["FAILED", "PENDING", "PENDING"]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        receiver.received().len(),
        3,
        "a disabled endpoint receives nothing"
    );

    // An event while disabled is kept for later.
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "4" }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 3);

    receiver.otherwise(Reply::status(204));
    let enabled =
        update_endpoint(&server, &owner, json!({ "id": endpoint, "enabled": true })).await;
    assert_eq!(enabled["webhookEndpoint"]["consecutiveFailures"], 0);
    assert_eq!(enabled["webhookEndpoint"]["disabledReason"], Value::Null);
    let log = wait_until(&server, &owner, &endpoint, "catching up", |log| {
        log["deliveries"]["nodes"].as_array().is_some_and(|nodes| {
            nodes.len() == 4 && nodes[1..].iter().all(|node| node["status"] == "SUCCEEDED")
        })
    })
    .await;
    let received = receiver.received();
    assert_eq!(received.len(), 6);

    // The failed delivery goes out again on request, with its event id and a new
    // delivery id.
    let failed = log["deliveries"]["nodes"][0].clone();
    assert_eq!(failed["status"], "FAILED");
    let redelivered = server
        .mutate(
            &owner.token,
            "redeliverWebhookDelivery",
            "mutation($id: ID!) { redeliverWebhookDelivery(input: { id: $id }) { delivery { id kind eventId status redeliveryOf } userErrors { field message code } } }",
            json!({ "id": failed["id"] }),
        )
        .await["delivery"]
        .clone();
    assert_eq!(redelivered["kind"], "REDELIVERY");
    assert_eq!(redelivered["redeliveryOf"], failed["id"]);
    assert_eq!(redelivered["eventId"], failed["eventId"]);
    let received = receiver.wait_for(7, Duration::from_secs(10)).await;
    let last = &received[6];
    assert_eq!(last.header("headway-event-id"), failed["eventId"]);
    assert_eq!(last.header("headway-delivery-id"), redelivered["id"]);

    // A pending delivery cannot be redelivered, and an unknown one is not found.
    let (_, body) = server
        .post(
            Some(&owner.token),
            "mutation { redeliverWebhookDelivery(input: { id: \"whd_0190f2e1c7a97b3e8b5f000000000000\" }) { userErrors { field code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["redeliverWebhookDelivery"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_two_replicas_once_in_order() {
    let receiver = Receiver::start().await;
    let first = TestServer::start_with(fast).await;
    let second = TestServer::start_on(first.database.share(), fast).await;
    let owner = first.sign_up("owner").await;
    let key_result = key_result(&first, &owner).await;
    // Slow responses keep deliveries in flight while both replicas look for work.
    receiver.otherwise(Reply::after(200, Duration::from_millis(30)));
    create_endpoint(
        &first,
        &owner,
        json!({ "url": receiver.url("/in"), "secret": SECRET, "eventTypes": ["CHECK_IN_CREATED"] }),
    )
    .await;
    for value in 1..=20 {
        let server = if value % 2 == 0 { &first } else { &second };
        check_in(
            server,
            &owner,
            json!({ "keyResultId": key_result, "value": value.to_string() }),
        )
        .await;
    }
    receiver.wait_for(20, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received();
    let values: Vec<String> = received
        .iter()
        .map(|request| request.json()["data"]["value"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (1..=20).map(|value: i32| value.to_string()).collect();
    assert_eq!(values, expected, "each event once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_restart_mid_delivery() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(fast).await;
    let owner = server.sign_up("owner").await;
    let key_result = key_result(&server, &owner).await;
    // The receiver responds to the first request only after the server began to stop.
    receiver.plan([Reply::after(200, Duration::from_millis(1_500))]);
    let endpoint = create_endpoint(
        &server,
        &owner,
        json!({ "url": receiver.url("/in"), "secret": SECRET, "eventTypes": ["CHECK_IN_CREATED"] }),
    )
    .await["webhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "1" }),
    )
    .await;
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "2" }),
    )
    .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    // Stopping waits for the request in flight and logs its response.
    let server = server.restart(fast).await;
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "3" }),
    )
    .await;
    let log = wait_until(&server, &owner, &endpoint, "three deliveries", |log| {
        log["deliveries"]["nodes"].as_array().is_some_and(|nodes| {
            nodes.len() == 3 && nodes.iter().all(|node| node["status"] == "SUCCEEDED")
        })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids = event_ids(&receiver.received());
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 3, "each event arrives once: {ids:?}");
    assert_eq!(distinct.len(), 3);
    for delivery in log["deliveries"]["nodes"].as_array().unwrap() {
        assert_eq!(delivery["attemptCount"], 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_internal_targets_refused() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|serve| serve.webhook_poll_ms = 50).await;
    let owner = server.sign_up("owner").await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    let create = "mutation($url: String!) { createWebhookEndpoint(input: { url: $url, eventTypes: [CHECK_IN_CREATED] }) { webhookEndpoint { id } userErrors { field message code } } }";
    for url in [
        format!("http://127.0.0.1:{port}/in"),
        format!("http://localhost:{port}/in"),
        format!("http://[::1]:{port}/in"),
    ] {
        let payload = server
            .query(&owner.token, create, json!({ "url": url }))
            .await["createWebhookEndpoint"]
            .clone();
        assert_eq!(payload["webhookEndpoint"], Value::Null, "{url}");
        let error = &payload["userErrors"][0];
        assert_eq!(error["field"], json!(["input", "url"]));
        assert_eq!(error["code"], "INVALID");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("loopback") && message.contains("HEADWAY_WEBHOOK_ALLOW_NETWORKS"),
            "{message}"
        );
    }
    for (url, code) in [
        ("ftp://127.0.0.1/in", "INVALID_FORMAT"),
        ("https://user:password@example.com/in", "INVALID_FORMAT"),
        ("not a url", "INVALID_FORMAT"),
    ] {
        let payload = server
            .query(&owner.token, create, json!({ "url": url }))
            .await["createWebhookEndpoint"]
            .clone();
        assert_eq!(payload["userErrors"][0]["code"], code, "{url}: {payload}");
    }

    // A target allowed when registered and refused later is checked again on delivery.
    let server = server.restart(fast).await;
    let key_result = key_result(&server, &owner).await;
    let endpoint = create_endpoint(
        &server,
        &owner,
        json!({ "url": receiver.url("/in"), "secret": SECRET, "eventTypes": ["CHECK_IN_CREATED"] }),
    )
    .await["webhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let named_endpoint = create_endpoint(
        &server,
        &owner,
        json!({ "url": format!("http://localhost:{port}/in"), "secret": SECRET, "eventTypes": ["CHECK_IN_CREATED"] }),
    )
    .await["webhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = server
        .restart(|serve| {
            fast(serve);
            serve.webhook_allow_networks = Vec::new();
        })
        .await;
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "1" }),
    )
    .await;
    let log = wait_until(&server, &owner, &endpoint, "the refusal", |log| {
        log["deliveries"]["nodes"][0]["status"] == "FAILED"
    })
    .await;
    let delivery = &log["deliveries"]["nodes"][0];
    assert_eq!(
        delivery["attemptCount"], 1,
        "a refused target is not retried"
    );
    assert_eq!(
        delivery["lastError"],
        "refused: The host 127.0.0.1 is a loopback address. Webhooks reach loopback addresses only when HEADWAY_WEBHOOK_ALLOW_NETWORKS includes loopback."
    );
    let log = wait_until(&server, &owner, &named_endpoint, "the refusal", |log| {
        log["deliveries"]["nodes"][0]["status"] == "FAILED"
    })
    .await;
    let delivery = &log["deliveries"]["nodes"][0];
    assert_eq!(delivery["attemptCount"], 1);
    let error = delivery["lastError"].as_str().unwrap();
    assert!(
        error.starts_with("refused: The host localhost resolves to ")
            && error.ends_with(
                ", which is a loopback address. Webhooks reach loopback addresses only when HEADWAY_WEBHOOK_ALLOW_NETWORKS includes loopback."
            ),
        "{error}"
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_refusal_messages_and_ports() {
    let server = TestServer::start_with(|serve| serve.webhook_poll_ms = 50).await;
    let owner = server.sign_up("owner").await;
    let create = "mutation($url: String!) { createWebhookEndpoint(input: { url: $url, eventTypes: [CHECK_IN_CREATED] }) { webhookEndpoint { id } userErrors { field message code } } }";
    let loopback_rule = "Webhooks reach loopback addresses only when HEADWAY_WEBHOOK_ALLOW_NETWORKS includes loopback.";
    let reserved_rule =
        "Webhooks never reach reserved addresses, whatever HEADWAY_WEBHOOK_ALLOW_NETWORKS allows.";
    for (url, message) in [
        (
            "http://127.0.0.1:9000/in".to_owned(),
            format!("The host 127.0.0.1 is a loopback address. {loopback_rule}"),
        ),
        (
            "http://[::1]:9000/in".to_owned(),
            format!("The host ::1 is a loopback address. {loopback_rule}"),
        ),
        (
            "http://10.1.2.3/in".to_owned(),
            "The host 10.1.2.3 is a private address. Webhooks reach private addresses only when HEADWAY_WEBHOOK_ALLOW_NETWORKS includes private.".to_owned(),
        ),
        (
            "http://169.254.169.254/latest".to_owned(),
            "The host 169.254.169.254 is a link-local address. Webhooks reach link-local addresses only when HEADWAY_WEBHOOK_ALLOW_NETWORKS includes link-local.".to_owned(),
        ),
        (
            "http://0.0.0.0/in".to_owned(),
            format!("The host 0.0.0.0 is a reserved address. {reserved_rule}"),
        ),
    ] {
        let payload = server
            .query(&owner.token, create, json!({ "url": url }))
            .await["createWebhookEndpoint"]
            .clone();
        assert_eq!(payload["webhookEndpoint"], Value::Null, "{url}");
        let error = &payload["userErrors"][0];
        assert_eq!(error["field"], json!(["input", "url"]), "{url}");
        assert_eq!(error["code"], "INVALID", "{url}");
        assert_eq!(error["message"], message, "{url}");
    }

    // A name is refused with the name, the address it resolves to and the rule.
    let payload = server
        .query(
            &owner.token,
            create,
            json!({ "url": "http://localhost:9000/in" }),
        )
        .await["createWebhookEndpoint"]
        .clone();
    let message = payload["userErrors"][0]["message"].as_str().unwrap();
    assert!(
        message
            == format!(
                "The host localhost resolves to 127.0.0.1, which is a loopback address. {loopback_rule}"
            )
            || message
                == format!(
                    "The host localhost resolves to ::1, which is a loopback address. {loopback_rule}"
                ),
        "{message}"
    );

    // Ports outside 1..=65535 are rejected before any lookup.
    for (url, port) in [
        ("http://hooks.example.com:0/in", "0"),
        ("https://hooks.example.com:65536/in", "65536"),
        ("https://hooks.example.com:99999999/in", "99999999"),
        ("http://[2606:4700::1111]:0/in", "0"),
        ("http://hooks.example.com:http/in", "http"),
    ] {
        let payload = server
            .query(&owner.token, create, json!({ "url": url }))
            .await["createWebhookEndpoint"]
            .clone();
        assert_eq!(payload["webhookEndpoint"], Value::Null, "{url}");
        let error = &payload["userErrors"][0];
        assert_eq!(error["field"], json!(["input", "url"]), "{url}");
        assert_eq!(error["code"], "OUT_OF_RANGE", "{url}");
        assert_eq!(
            error["message"],
            format!(
                "has the port \"{port}\", but a port must be a number from 1 to 65535, or left out for the scheme's default"
            ),
            "{url}"
        );
    }
}

/// Checks each signature of `request` on its own: `secrets[i]` must verify signature `i`.
fn assert_signatures(request: &Received, secrets: &[&str]) {
    let signatures = request.signatures();
    assert_eq!(signatures.len(), secrets.len(), "{request:#?}");
    for (signature, secret) in signatures.iter().zip(secrets) {
        let mut single = request.clone();
        single
            .headers
            .insert("headway-signature".to_owned(), (*signature).to_owned());
        assert!(
            single.signed_with(secret),
            "{signature} is not signed with {secret}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_secret_rotation_overlap() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(fast).await;
    let owner = server.sign_up("owner").await;
    let key_result = key_result(&server, &owner).await;
    let endpoint = create_endpoint(
        &server,
        &owner,
        json!({ "url": receiver.url("/in"), "secret": SECRET, "eventTypes": ["CHECK_IN_CREATED"] }),
    )
    .await["webhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "1" }),
    )
    .await;
    let before = receiver.wait_for(1, Duration::from_secs(15)).await[0].clone();
    assert_signatures(&before, &[SECRET]);

    // After a rotation, a delivery carries the new signature first, then the old one.
    let rotated = update_endpoint(
        &server,
        &owner,
        json!({ "id": endpoint, "regenerateSecret": true }),
    )
    .await;
    let generated = rotated["secret"].as_str().unwrap().to_owned();
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "2" }),
    )
    .await;
    let during = receiver.wait_for(2, Duration::from_secs(15)).await[1].clone();
    assert_eq!(during.json()["data"]["value"], "2");
    assert_signatures(&during, &[&generated, SECRET]);

    // A test delivery is signed the same way.
    server
        .mutate(
            &owner.token,
            "testWebhookEndpoint",
            "mutation($id: ID!) { testWebhookEndpoint(input: { id: $id }) { delivery { status } userErrors { field message code } } }",
            json!({ "id": endpoint }),
        )
        .await;
    let ping = receiver.wait_for(3, Duration::from_secs(5)).await[2].clone();
    assert_signatures(&ping, &[&generated, SECRET]);

    // A second change keeps only the secret it replaced beside the new one.
    let chosen = "whsec_another-secret-that-is-long-enough";
    let changed =
        update_endpoint(&server, &owner, json!({ "id": endpoint, "secret": chosen })).await;
    assert_eq!(changed["userErrors"], json!([]));
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "3" }),
    )
    .await;
    let after = receiver.wait_for(4, Duration::from_secs(15)).await[3].clone();
    assert_eq!(after.json()["data"]["value"], "3");
    assert_signatures(&after, &[chosen, &generated]);
    assert!(!after.signed_with(SECRET));

    // Setting the current secret again changes nothing.
    update_endpoint(&server, &owner, json!({ "id": endpoint, "secret": chosen })).await;
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "4" }),
    )
    .await;
    let same = receiver.wait_for(5, Duration::from_secs(15)).await[4].clone();
    assert_signatures(&same, &[chosen, &generated]);

    // A day after the last change, only the current secret signs.
    server.clock.advance(chrono::Duration::hours(24));
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "5" }),
    )
    .await;
    let later = receiver.wait_for(6, Duration::from_secs(15)).await[5].clone();
    assert_eq!(later.json()["data"]["value"], "5");
    assert_signatures(&later, &[chosen]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoint_management() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(fast).await;
    let owner = server.sign_up("owner").await;
    let member = server.add_member(&owner, "member", "MEMBER").await;
    let key_result = key_result(&server, &owner).await;

    // Without a secret, Headway generates one and shows it once.
    let created = create_endpoint(
        &server,
        &owner,
        json!({ "url": receiver.url("/in"), "eventTypes": ["CHECK_IN_CREATED", "CHECK_IN_CREATED"] }),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() >= 40,
        "{secret}"
    );
    let endpoint = created["webhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        created["webhookEndpoint"]["eventTypes"],
        json!(["CHECK_IN_CREATED"])
    );

    // Fields that cannot be cleared reject null, naming the field; nothing changes.
    for field in ["url", "secret", "eventTypes", "enabled"] {
        let rejected =
            update_endpoint(&server, &owner, json!({ "id": endpoint, field: null })).await;
        assert_eq!(
            rejected["webhookEndpoint"],
            Value::Null,
            "{field}: {rejected}"
        );
        assert_eq!(
            rejected["userErrors"][0]["field"],
            json!(["input", field]),
            "{field}: {rejected}"
        );
        assert_eq!(
            rejected["userErrors"][0]["code"], "INVALID",
            "{field}: {rejected}"
        );
    }

    let test = "mutation($id: ID!) { testWebhookEndpoint(input: { id: $id }) { delivery { kind eventType status responseStatus attemptCount } userErrors { field message code } } }";
    let tested = server
        .mutate(
            &owner.token,
            "testWebhookEndpoint",
            test,
            json!({ "id": endpoint }),
        )
        .await["delivery"]
        .clone();
    assert_eq!(
        tested,
        json!({ "kind": "TEST", "eventType": "PING", "status": "SUCCEEDED", "responseStatus": 200, "attemptCount": 1 })
    );
    let ping = receiver.wait_for(1, Duration::from_secs(5)).await[0].clone();
    assert_eq!(ping.header("headway-event-type"), "PING");
    assert!(ping.signed_with(&secret));

    // Rotating returns the new secret once; later requests are signed with it.
    let rotated = update_endpoint(
        &server,
        &owner,
        json!({ "id": endpoint, "regenerateSecret": true }),
    )
    .await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    server
        .mutate(
            &owner.token,
            "testWebhookEndpoint",
            test,
            json!({ "id": endpoint }),
        )
        .await;
    let ping = receiver.wait_for(2, Duration::from_secs(5)).await[1].clone();
    assert!(ping.signed_with(&new_secret), "{ping:#?}");
    assert!(
        ping.signed_with(&secret),
        "the old secret signs too for a day: {ping:#?}"
    );

    // Bad changes name the field and the limit.
    let rejected = update_endpoint(
        &server,
        &owner,
        json!({ "id": endpoint, "secret": "short" }),
    )
    .await;
    assert_eq!(
        rejected["userErrors"][0]["field"],
        json!(["input", "secret"])
    );
    assert!(
        rejected["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("24 to 200")
    );
    let rejected = update_endpoint(
        &server,
        &owner,
        json!({ "id": endpoint, "secret": "a-secret-that-is-long-enough", "regenerateSecret": true }),
    )
    .await;
    assert_eq!(rejected["userErrors"][0]["code"], "INVALID");
    let rejected =
        update_endpoint(&server, &owner, json!({ "id": endpoint, "eventTypes": [] })).await;
    assert_eq!(rejected["userErrors"][0]["code"], "BLANK");
    let rejected = update_endpoint(
        &server,
        &owner,
        json!({ "id": endpoint, "description": "x", "expectedVersion": 1 }),
    )
    .await;
    assert_eq!(rejected["userErrors"][0]["code"], "CONFLICT");

    // A disabled endpoint receives nothing until it is enabled.
    let disabled =
        update_endpoint(&server, &owner, json!({ "id": endpoint, "enabled": false })).await;
    assert_eq!(
        disabled["webhookEndpoint"]["disabledReason"],
        "DISABLED_BY_ADMIN"
    );
    check_in(
        &server,
        &owner,
        json!({ "keyResultId": key_result, "value": "1" }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 2);

    // Members see no webhooks; the audit log never holds a secret.
    let (_, body) = server
        .post(
            Some(&member.token),
            "{ webhookEndpoints { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let (_, body) = server
        .post(
            Some(&member.token),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": endpoint }),
        )
        .await;
    assert_eq!(body["data"]["node"], Value::Null);
    let audit = server
        .query(
            &owner.token,
            "{ auditEntries(first: 100) { nodes { action changes } } }",
            json!({}),
        )
        .await
        .to_string();
    assert!(audit.contains("createWebhookEndpoint") && audit.contains("updateWebhookEndpoint"));
    assert!(
        !audit.contains(&secret) && !audit.contains(&new_secret),
        "{audit}"
    );

    // Deleting removes it from the list and from delivery.
    let listed = server
        .query(
            &owner.token,
            "{ webhookEndpoints { totalCount nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["webhookEndpoints"]["totalCount"], 1);
    server
        .mutate(
            &owner.token,
            "deleteWebhookEndpoint",
            "mutation($id: ID!) { deleteWebhookEndpoint(input: { id: $id }) { webhookEndpoint { deletedAt enabled } userErrors { field message code } } }",
            json!({ "id": endpoint }),
        )
        .await;
    let listed = server
        .query(
            &owner.token,
            "{ webhookEndpoints { totalCount } all: webhookEndpoints(includeDeleted: true) { totalCount nodes { deletedAt } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["webhookEndpoints"]["totalCount"], 0);
    assert_eq!(listed["all"]["totalCount"], 1);
    let again = update_endpoint(&server, &owner, json!({ "id": endpoint, "enabled": true })).await;
    assert_eq!(again["userErrors"][0]["code"], "NOT_FOUND");
}
