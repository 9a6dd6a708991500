//! Live subscriptions over WebSocket: delivery, scopes, resuming, milestones and the
//! protocol's close codes.

use crate::fixtures::{create_key_result, create_objective, year_and_quarter};
use headway_tests::metrics::{metrics, sample};
use headway_tests::ws::{Ending, WsClient};
use headway_tests::{Session, TestServer};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

const PROGRESS: &str = "subscription($scope: EventScopeInput, $after: Sequence) { progress(scope: $scope, after: $after) { sequence type oldProgress newProgress oldStatus newStatus oldValue newValue keyResult { title } objective { title } } }";
const ACTIVITY: &str = "subscription($scope: EventScopeInput, $after: Sequence) { activity(scope: $scope, after: $after) { sequence type record recordId milestonePercent becameCurrent checkIn { value } } }";

async fn check_in(server: &TestServer, session: &Session, key_result: &str, value: &str) {
    crate::fixtures::check_in(
        server,
        session,
        json!({ "keyResultId": key_result, "value": value }),
    )
    .await;
}

/// The payload data of the next `next` message for `id`.
async fn next_event(client: &mut WsClient, id: &str, field: &str) -> Value {
    let message = client.next_message(WAIT).await.expect("no event arrived");
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], id, "{message}");
    assert!(message["payload"]["errors"].is_null(), "{message}");
    message["payload"]["data"][field].clone()
}

/// A quarter with one objective and one key result from 0 to 100.
async fn plan(server: &TestServer, session: &Session) -> (String, String) {
    let (_, quarter) = year_and_quarter(server, session).await;
    let objective = create_objective(
        server,
        session,
        json!({ "cycleId": quarter, "title": "Live" }),
    )
    .await;
    let key_result = create_key_result(
        server,
        session,
        json!({ "objectiveId": objective, "title": "Signups", "type": "INCREASE_TO", "startValue": "0", "targetValue": "100" }),
    )
    .await;
    (objective, key_result)
}

#[tokio::test]
async fn check_in_reaches_subscribers() {
    let server = TestServer::start().await;
    server.clock.set("2026-02-15T00:00:00Z".parse().unwrap());
    let ada = server.sign_up("ada").await;
    let (_, key_result) = plan(&server, &ada).await;
    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    assert_eq!(client.protocol.as_deref(), Some("graphql-transport-ws"));
    client.subscribe("progress", PROGRESS, json!({})).await;
    client.subscribe("activity", ACTIVITY, json!({})).await;
    // Subscriptions are registered before the server reads the next message.
    client.send(json!({ "type": "ping" })).await;
    assert_eq!(client.next_message(WAIT).await.unwrap()["type"], "pong");

    check_in(&server, &ada, &key_result, "30").await;
    let mut progress = Vec::new();
    let mut activity = Vec::new();
    while progress.len() < 2 || activity.len() < 2 {
        let message = client
            .next_message(WAIT)
            .await
            .expect("fewer events than expected");
        assert_eq!(message["type"], "next", "{message}");
        match message["id"].as_str().unwrap() {
            "progress" => progress.push(message["payload"]["data"]["progress"].clone()),
            _ => activity.push(message["payload"]["data"]["activity"].clone()),
        }
    }
    let key_result_event = progress
        .iter()
        .find(|event| event["type"] == "KEY_RESULT_PROGRESS_CHANGED")
        .unwrap();
    assert_eq!(key_result_event["oldValue"], "0");
    assert_eq!(key_result_event["newValue"], "30");
    assert_eq!(key_result_event["newProgress"], 0.3);
    assert_eq!(key_result_event["keyResult"]["title"], "Signups");
    // 0.3 against an expected 0.5 is at risk (0.3 < 0.35).
    assert_eq!(key_result_event["newStatus"], "AT_RISK");
    let objective_event = progress
        .iter()
        .find(|event| event["type"] == "OBJECTIVE_PROGRESS_CHANGED")
        .unwrap();
    assert_eq!(objective_event["objective"]["title"], "Live");
    assert_eq!(objective_event["newProgress"], 0.3);
    let check_in_event = activity
        .iter()
        .find(|event| event["type"] == "CHECK_IN_CREATED")
        .unwrap();
    assert_eq!(check_in_event["checkIn"]["value"], "30");
    assert_eq!(check_in_event["becameCurrent"], true);
    let milestone = activity
        .iter()
        .find(|event| event["type"] == "MILESTONE_REACHED")
        .unwrap();
    assert_eq!(milestone["milestonePercent"], 25);

    // Every event carries a distinct sequence number.
    let mut sequences: Vec<i64> = progress
        .iter()
        .chain(&activity)
        .map(|event| event["sequence"].as_i64().unwrap())
        .collect();
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(sequences.len(), 4);
}

#[tokio::test]
async fn scope_selects_events() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (first_objective, first) = plan(&server, &ada).await;
    let (_, second) = plan(&server, &ada).await;
    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    client
        .subscribe(
            "scoped",
            PROGRESS,
            json!({ "scope": { "objectiveId": first_objective } }),
        )
        .await;
    client.send(json!({ "type": "ping" })).await;
    assert_eq!(client.next_message(WAIT).await.unwrap()["type"], "pong");

    check_in(&server, &ada, &second, "50").await;
    check_in(&server, &ada, &first, "10").await;
    let event = next_event(&mut client, "scoped", "progress").await;
    assert_eq!(
        event["newValue"], "10",
        "the other objective's event was not delivered"
    );
}

#[tokio::test]
async fn resume_delivers_missed_events_once() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, key_result) = plan(&server, &ada).await;
    let scope = json!({ "scope": { "keyResultId": key_result } });

    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    client.subscribe("p", PROGRESS, scope.clone()).await;
    client.send(json!({ "type": "ping" })).await;
    assert_eq!(client.next_message(WAIT).await.unwrap()["type"], "pong");
    check_in(&server, &ada, &key_result, "10").await;
    let first = next_event(&mut client, "p", "progress").await;
    let last_seen = first["sequence"].as_i64().unwrap();
    drop(client);

    // Three check-ins happen while the client is away.
    for value in ["20", "30", "40"] {
        check_in(&server, &ada, &key_result, value).await;
    }
    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    let mut variables = scope.clone();
    variables["after"] = json!(last_seen);
    client.subscribe("p", PROGRESS, variables).await;
    let mut values = Vec::new();
    let mut sequences = vec![last_seen];
    for _ in 0..3 {
        let event = next_event(&mut client, "p", "progress").await;
        values.push(event["newValue"].as_str().unwrap().to_owned());
        sequences.push(event["sequence"].as_i64().unwrap());
    }
    assert_eq!(values, ["20", "30", "40"]);
    // Then live events, without a duplicate of what the history gave.
    check_in(&server, &ada, &key_result, "50").await;
    let event = next_event(&mut client, "p", "progress").await;
    assert_eq!(event["newValue"], "50");
    sequences.push(event["sequence"].as_i64().unwrap());
    assert!(
        sequences.windows(2).all(|pair| pair[0] < pair[1]),
        "{sequences:?}"
    );
    assert!(
        client
            .next_message(Duration::from_millis(300))
            .await
            .is_none(),
        "no duplicate"
    );
}

#[tokio::test]
async fn pruned_resume_point_is_rejected() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, key_result) = plan(&server, &ada).await;
    check_in(&server, &ada, &key_result, "10").await;
    check_in(&server, &ada, &key_result, "20").await;
    let pruned = server
        .store
        .prune_events(server.store.now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert!(pruned > 0);
    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    client.subscribe("p", PROGRESS, json!({ "after": 1 })).await;
    let message = client.next_message(WAIT).await.unwrap();
    assert_eq!(message["type"], "error", "{message}");
    assert!(
        message["payload"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no longer kept"),
        "{message}"
    );
    assert_eq!(
        message["payload"][0]["extensions"]["code"],
        "EVENTS_EXPIRED"
    );
}

#[tokio::test]
async fn silent_client_is_disconnected() {
    let server = TestServer::start_with(|serve| serve.ws_keep_alive_ms = 200).await;
    let ada = server.sign_up("ada").await;

    // A client that reads nothing replies to no ping frame and is closed with 1001. The test
    // client reads the close frame only after the server has closed the connection, and
    // its late pongs may reset it first, so the metrics show the close code.
    let silent = WsClient::authenticated(&server.url, &ada.token).await;
    let base = format!("http://{}", server.address);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = metrics(&base).await;
        if sample(&text, "headway_websocket_closes_total{code=\"1001\"}") == Some(1.0) {
            assert_eq!(sample(&text, "headway_websocket_connections "), Some(0.0));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(silent);

    // A client that reads, and so replies to ping frames, stays connected.
    let mut reading = WsClient::authenticated(&server.url, &ada.token).await;
    assert!(
        reading
            .next_message(Duration::from_millis(1_500))
            .await
            .is_none()
    );
    reading.send(json!({ "type": "ping" })).await;
    assert_eq!(reading.next_message(WAIT).await.unwrap()["type"], "pong");
}

#[tokio::test]
async fn scope_fields_no_event_carries() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (objective, _) = plan(&server, &ada).await;
    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    let kpi_id = format!("kpi_{}", uuid::Uuid::new_v4().simple());
    for (index, (field, scope, named)) in [
        ("progress", json!({ "kpiId": kpi_id }), "scope.kpiId"),
        (
            "kpiMeasurements",
            json!({ "objectiveId": objective }),
            "scope.objectiveId",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let id = index.to_string();
        client
            .subscribe(
                &id,
                &format!("subscription($scope: EventScopeInput) {{ {field}(scope: $scope) {{ sequence }} }}"),
                json!({ "scope": scope }),
            )
            .await;
        let message = client.next_message(WAIT).await.unwrap();
        assert_eq!(message["type"], "error", "{field}: {message}");
        assert_eq!(
            message["payload"][0]["extensions"]["code"],
            "BAD_USER_INPUT"
        );
        assert!(
            message["payload"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with(named),
            "{field}: {message}"
        );
    }
}

#[tokio::test]
async fn milestones_arrive_once_each() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (objective, key_result) = plan(&server, &ada).await;
    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    client
        .subscribe(
            "a",
            "subscription { activity { type record recordId milestonePercent } }",
            json!({}),
        )
        .await;
    client.send(json!({ "type": "ping" })).await;
    assert_eq!(client.next_message(WAIT).await.unwrap()["type"], "pong");
    for value in ["30", "60", "40", "55", "80", "100", "120"] {
        check_in(&server, &ada, &key_result, value).await;
    }
    let mut milestones = Vec::new();
    while let Some(message) = client.next_message(Duration::from_millis(700)).await {
        let event = &message["payload"]["data"]["activity"];
        if event["type"] == "MILESTONE_REACHED" {
            milestones.push((
                event["record"].as_str().unwrap().to_owned(),
                event["milestonePercent"].as_i64().unwrap(),
                event["recordId"].clone(),
            ));
        }
    }
    let key_result_milestones: Vec<i64> = milestones
        .iter()
        .filter(|(record, _, _)| record == "KEY_RESULT")
        .map(|(_, percent, _)| *percent)
        .collect();
    assert_eq!(key_result_milestones, [25, 50, 75, 100]);
    let objective_milestones: Vec<&(String, i64, Value)> = milestones
        .iter()
        .filter(|(record, _, _)| record == "OBJECTIVE")
        .collect();
    assert_eq!(objective_milestones.len(), 1);
    assert_eq!(objective_milestones[0].1, 100);
    assert_eq!(objective_milestones[0].2, json!(objective));

    // A key result whose definition already meets its threshold crossed no milestone, at
    // its creation or at a check-in that keeps it there.
    let data = server
        .mutate(
            &ada.token,
            "createKeyResult",
            "mutation($input: CreateKeyResultInput!) { createKeyResult(input: $input) { keyResult { id progress } userErrors { message } } }",
            json!({ "input": { "objectiveId": objective, "title": "Uptime at 99", "type": "STAY_AT_OR_ABOVE", "startValue": "99.5", "targetValue": "99", "unit": "PERCENT" } }),
        )
        .await;
    let kept = data["keyResult"]["id"].as_str().unwrap().to_owned();
    assert_eq!(data["keyResult"]["progress"], 1.0);
    check_in(&server, &ada, &kept, "99.7").await;
    while let Some(message) = client.next_message(Duration::from_millis(700)).await {
        let event = &message["payload"]["data"]["activity"];
        assert_ne!(
            event["type"], "MILESTONE_REACHED",
            "a milestone fired without a crossing: {event}"
        );
    }
}

/// Reads `/metrics` until `subscriptions` and `feeds` show, or fails after `WAIT`.
async fn await_feeds(server: &TestServer, subscriptions: f64, feeds: f64) {
    let base = format!("http://{}", server.address);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = metrics(&base).await;
        if sample(&text, "headway_subscriptions ") == Some(subscriptions)
            && sample(&text, "headway_subscription_feeds ") == Some(feeds)
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn identical_subscriptions_share_one_feed() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, key_result) = plan(&server, &ada).await;
    let query = "subscription($after: Sequence) { progress(after: $after) { sequence type newValue keyResult { title } } }";
    let mut first = WsClient::authenticated(&server.url, &ada.token).await;
    let mut second = WsClient::authenticated(&server.url, &ada.token).await;
    // A null `after` does not resume, so both share one execution.
    first.subscribe("a", query, json!({ "after": null })).await;
    second.subscribe("b", query, json!({ "after": null })).await;
    await_feeds(&server, 2.0, 1.0).await;

    check_in(&server, &ada, &key_result, "40").await;
    let seen_first = next_event(&mut first, "a", "progress").await;
    let seen_second = next_event(&mut second, "b", "progress").await;
    assert_eq!(seen_first, seen_second);
    assert_eq!(seen_first["type"], "KEY_RESULT_PROGRESS_CHANGED");
    assert_eq!(seen_first["newValue"], "40");
    assert_eq!(seen_first["keyResult"]["title"], "Signups");
    let objective_first = next_event(&mut first, "a", "progress").await;
    let objective_second = next_event(&mut second, "b", "progress").await;
    assert_eq!(objective_first, objective_second);
    let resume_from = objective_first["sequence"].clone();

    // A subscription that resumes replays its own history, so it runs on its own.
    let mut resuming = WsClient::authenticated(&server.url, &ada.token).await;
    resuming
        .subscribe("r", query, json!({ "after": seen_first["sequence"] }))
        .await;
    let replayed = next_event(&mut resuming, "r", "progress").await;
    assert_eq!(replayed["sequence"], resume_from);
    await_feeds(&server, 3.0, 1.0).await;

    // One subscriber leaving does not end the feed of the other.
    first.send(json!({ "type": "complete", "id": "a" })).await;
    await_feeds(&server, 2.0, 1.0).await;
    check_in(&server, &ada, &key_result, "60").await;
    let later = next_event(&mut second, "b", "progress").await;
    assert_eq!(later["newValue"], "60");
    let resumed = next_event(&mut resuming, "r", "progress").await;
    assert_eq!(resumed, later);
    let objective = next_event(&mut second, "b", "progress").await;
    assert_eq!(objective["type"], "OBJECTIVE_PROGRESS_CHANGED");
    assert_eq!(next_event(&mut resuming, "r", "progress").await, objective);

    // The last subscriber leaving stops the feed.
    second.send(json!({ "type": "complete", "id": "b" })).await;
    await_feeds(&server, 1.0, 0.0).await;

    // A shared subscription that fails fails for every subscriber, under its own id.
    let broken = "subscription { progress(scope: { keyResultId: \"kr_missing\" }) { sequence } }";
    first.subscribe("x", broken, json!({})).await;
    second.subscribe("y", broken, json!({})).await;
    for (client, id) in [(&mut first, "x"), (&mut second, "y")] {
        let message = client.next_message(WAIT).await.expect("no error arrived");
        assert_eq!(message["type"], "error", "{message}");
        assert_eq!(message["id"], id, "{message}");
        assert_eq!(
            message["payload"][0]["extensions"]["code"],
            "BAD_USER_INPUT"
        );
    }

    // A resume point that its scalar rejects is bad input too.
    first
        .subscribe(
            "z",
            "subscription { progress(after: -1) { sequence } }",
            json!({}),
        )
        .await;
    let message = first.next_message(WAIT).await.expect("no error arrived");
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(
        message["payload"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    let text = message["payload"][0]["message"].as_str().unwrap();
    assert!(text.contains("-1 is not a sequence number"), "{text}");
}

#[tokio::test]
async fn revoked_token_closes_open_socket() {
    let server = TestServer::start_with(|serve| serve.ws_reauthenticate_ms = 200).await;
    let ada = server.sign_up("ada").await;
    let created = server
        .mutate(
            &ada.token,
            "createApiToken",
            "mutation { createApiToken(input: { name: \"Wallboard\", scopes: [READ] }) { token apiToken { id } userErrors { field message code } } }",
            json!({}),
        )
        .await;
    let secret = created["token"].as_str().unwrap();
    let id = created["apiToken"]["id"].as_str().unwrap();
    let mut client = WsClient::authenticated(&server.url, secret).await;
    client
        .subscribe("live", "subscription { progress { sequence } }", json!({}))
        .await;

    // Credentials that still hold keep the socket open across several checks.
    tokio::time::sleep(Duration::from_millis(700)).await;
    client.send(json!({ "type": "ping" })).await;
    assert_eq!(client.next_message(WAIT).await.unwrap()["type"], "pong");

    server
        .mutate(
            &ada.token,
            "revokeApiToken",
            "mutation($id: ID!) { revokeApiToken(input: { id: $id }) { apiToken { revokedAt } userErrors { field message code } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(client.close_code(WAIT).await, 4403);
}

#[tokio::test]
async fn protocol_violations_close_with_their_codes() {
    let server = TestServer::start_with(|serve| serve.ws_init_timeout_ms = 400).await;
    let ada = server.sign_up("ada").await;

    let mut client = WsClient::connect(&server.url, "graphql-transport-ws").await;
    client.send_text("{ not json").await;
    assert_eq!(client.close_code(WAIT).await, 4400, "invalid JSON");

    let mut client = WsClient::connect(&server.url, "graphql-transport-ws").await;
    client.send(json!({ "type": "shout" })).await;
    assert_eq!(client.close_code(WAIT).await, 4400, "unknown type");

    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    client
        .send(json!({ "type": "subscribe", "payload": { "query": "{ __typename }" } }))
        .await;
    assert_eq!(client.close_code(WAIT).await, 4400, "subscribe without id");

    let mut client = WsClient::connect(&server.url, "graphql-transport-ws").await;
    client.subscribe("1", "{ __typename }", json!({})).await;
    assert_eq!(
        client.close_code(WAIT).await,
        4401,
        "subscribe before connection_ack"
    );

    let mut client = WsClient::connect(&server.url, "graphql-transport-ws").await;
    client
        .send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer forged.token.value" } }))
        .await;
    match client.ending(WAIT).await {
        Some(Ending::Closed { code, reason }) => {
            assert_eq!(code, 4403, "rejected credentials");
            assert!(reason.starts_with("Forbidden: "), "{reason}");
            assert!(reason.len() > "Forbidden: ".len(), "{reason}");
        }
        other => panic!("expected 4403, got {other:?}"),
    }

    let mut client = WsClient::connect(&server.url, "graphql-transport-ws").await;
    assert_eq!(
        client.close_code(WAIT).await,
        4408,
        "no connection_init in time"
    );

    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    client
        .subscribe("same", "subscription { progress { sequence } }", json!({}))
        .await;
    client
        .subscribe("same", "subscription { progress { sequence } }", json!({}))
        .await;
    match client.ending(WAIT).await {
        Some(Ending::Closed { code, reason }) => {
            assert_eq!(code, 4409);
            assert_eq!(reason, "Subscriber for same already exists");
        }
        other => panic!("expected 4409, got {other:?}"),
    }

    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    let oversized = json!({ "id": "big", "type": "subscribe", "payload": { "query": format!("subscription {{ progress {{ sequence }} }} # {}", "x".repeat(1_100_000)) } });
    client.send(oversized).await;
    match client.ending(WAIT).await {
        Some(Ending::Closed { code, reason }) => {
            assert_eq!(code, 1009);
            assert!(reason.contains("HEADWAY_MAX_BODY_BYTES"), "{reason}");
        }
        other => panic!("expected 1009, got {other:?}"),
    }

    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    client.send(json!({ "type": "connection_init" })).await;
    assert_eq!(
        client.close_code(WAIT).await,
        4429,
        "a second connection_init"
    );

    // The server replies to a client's close frame with the same status code.
    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    client.close(4000, "done").await;
    assert_eq!(client.close_code(WAIT).await, 4000, "the echoed close code");
}

#[tokio::test]
async fn queries_ping_and_complete_over_websocket() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, key_result) = plan(&server, &ada).await;
    let mut client = WsClient::authenticated(&server.url, &ada.token).await;

    client
        .send(json!({ "type": "ping", "payload": { "at": 1 } }))
        .await;
    let pong = client.next_message(WAIT).await.unwrap();
    assert_eq!(pong, json!({ "type": "pong", "payload": { "at": 1 } }));

    client
        .subscribe("q", "{ organization { name } }", json!({}))
        .await;
    let next = client.next_message(WAIT).await.unwrap();
    assert_eq!(next["type"], "next");
    assert_eq!(
        next["payload"]["data"]["organization"]["name"],
        "ada's organization"
    );
    assert_eq!(
        client.next_message(WAIT).await.unwrap(),
        json!({ "type": "complete", "id": "q" })
    );

    // A completed subscription delivers nothing more, and its id can be used again.
    client.subscribe("s", PROGRESS, json!({})).await;
    client.send(json!({ "type": "complete", "id": "s" })).await;
    client.send(json!({ "type": "ping" })).await;
    assert_eq!(client.next_message(WAIT).await.unwrap()["type"], "pong");
    check_in(&server, &ada, &key_result, "5").await;
    assert!(
        client
            .next_message(Duration::from_millis(500))
            .await
            .is_none()
    );
    client.subscribe("s", PROGRESS, json!({})).await;
    client.send(json!({ "type": "ping" })).await;
    assert_eq!(client.next_message(WAIT).await.unwrap()["type"], "pong");
    check_in(&server, &ada, &key_result, "6").await;
    let event = next_event(&mut client, "s", "progress").await;
    assert_eq!(event["newValue"], "6");

    // A document that does not validate gets an error message and no next.
    client
        .subscribe("bad", "subscription { nope }", json!({}))
        .await;
    let error = client.next_message(WAIT).await.unwrap();
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "bad");
}

#[tokio::test]
async fn legacy_protocol_still_works() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, key_result) = plan(&server, &ada).await;
    let mut client = WsClient::connect(&server.url, "graphql-ws").await;
    assert_eq!(client.protocol.as_deref(), Some("graphql-ws"));
    client
        .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", ada.token) } }))
        .await;
    assert_eq!(
        client.next_message(WAIT).await.unwrap()["type"],
        "connection_ack"
    );
    client
        .send(json!({ "type": "start", "id": "1", "payload": { "query": "subscription { progress { newValue } }" } }))
        .await;
    check_in(&server, &ada, &key_result, "7").await;
    let data = client.next_message(WAIT).await.unwrap();
    assert_eq!(data["type"], "data", "{data}");
    assert_eq!(data["payload"]["data"]["progress"]["newValue"], "7");
    client.send(json!({ "type": "stop", "id": "1" })).await;
    // The objective's progress event may still arrive before the completion.
    let mut message = client.next_message(WAIT).await.unwrap();
    while message["type"] == "data" {
        message = client.next_message(WAIT).await.unwrap();
    }
    assert_eq!(message, json!({ "type": "complete", "id": "1" }));
}

#[tokio::test]
async fn unknown_subprotocol_is_refused() {
    let server = TestServer::start().await;
    let url = server.url.replacen("http", "ws", 1);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "chat".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn shutdown_closes_sockets_with_going_away() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let mut client = WsClient::authenticated(&server.url, &ada.token).await;
    client.subscribe("p", PROGRESS, json!({})).await;
    server.stop().await;
    assert_eq!(client.close_code(WAIT).await, 1001);
}

/// The variable that names the folder with the Node client and its installed packages.
const NODE_CLIENT_VARIABLE: &str = "HEADWAY_TEST_NODE_CLIENT";

#[tokio::test]
async fn graphql_ws_library_receives_check_in() {
    let Ok(folder) = std::env::var(NODE_CLIENT_VARIABLE) else {
        eprintln!(
            "graphql_ws_library_receives_check_in needs Node.js: run `npm ci --prefix tests/node` and set {NODE_CLIENT_VARIABLE}=tests/node (as .ci/run does)"
        );
        return;
    };
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(folder);
    assert!(
        folder.join("node_modules/graphql-ws").exists(),
        "{NODE_CLIENT_VARIABLE} is set, but {} has no node_modules/graphql-ws; run `npm ci` there",
        folder.display()
    );
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, key_result) = plan(&server, &ada).await;
    let output = tokio::process::Command::new("node")
        .arg(folder.join("subscribe-check-in.mjs"))
        .env("HEADWAY_URL", &server.url)
        .env("HEADWAY_TOKEN", &ada.token)
        .env("HEADWAY_KEY_RESULT", &key_result)
        .output()
        .await
        .expect("failed to run node; install Node.js 20 or unset the variable");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Node client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.starts_with("ok: event"), "{stdout}");
}
