//! Several server processes on one database: events cross replicas, through Redis when it is
//! configured and through the outbox otherwise, and survive a Redis outage. A replica also
//! recovers by itself from a PostgreSQL restart.

use headway_tests::TestDatabase;
use headway_tests::database::DATABASE_URL_VARIABLE;
use headway_tests::postgres::PrivatePostgres;
use headway_tests::replica::{PrivateRedis, Replica, query, token};
use headway_tests::ws::WsClient;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const BINARY: &str = env!("CARGO_BIN_EXE_headway-replica");
const REDIS_VARIABLE: &str = "HEADWAY_TEST_REDIS_URL";

/// Creates an organization with a key result through `url`; returns (token, key result id).
async fn organization_with_key_result(client: &reqwest::Client, url: &str) -> (String, String) {
    let token = token(&format!("ada-{}", uuid::Uuid::now_v7().simple()));
    query(
        client,
        url,
        &token,
        "mutation { createOrganization(input: { name: \"Replicated\" }) { organization { id } } }",
        json!({}),
    )
    .await;
    let cycle = query(
        client,
        url,
        &token,
        "mutation { createCycle(input: { name: \"Now\", startDate: \"2020-01-01\", endDate: \"2999-12-31\", state: ACTIVE }) { cycle { id } } }",
        json!({}),
    )
    .await["createCycle"]["cycle"]["id"]
        .clone();
    let objective = query(
        client,
        url,
        &token,
        "mutation($cycle: ID!) { createObjective(input: { cycleId: $cycle, title: \"Across replicas\" }) { objective { id } } }",
        json!({ "cycle": cycle }),
    )
    .await["createObjective"]["objective"]["id"]
        .clone();
    let key_result = query(
        client,
        url,
        &token,
        "mutation($objective: ID!) { createKeyResult(input: { objectiveId: $objective, title: \"Count\", type: INCREASE_TO, startValue: \"0\", targetValue: \"1000\" }) { keyResult { id } } }",
        json!({ "objective": objective }),
    )
    .await["createKeyResult"]["keyResult"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, key_result)
}

async fn check_in(client: &reqwest::Client, url: &str, token: &str, key_result: &str, value: &str) {
    let data = query(
        client,
        url,
        token,
        "mutation($kr: ID!, $value: Decimal) { createCheckIn(input: { keyResultId: $kr, value: $value }) { userErrors { message } } }",
        json!({ "kr": key_result, "value": value }),
    )
    .await;
    assert_eq!(data["createCheckIn"]["userErrors"], json!([]));
}

/// Subscribes to key-result progress on `url`, and waits until the subscription is live.
async fn subscribe(url: &str, token: &str, after: Option<i64>) -> WsClient {
    let mut client = WsClient::authenticated(url, token).await;
    client
        .subscribe(
            "p",
            "subscription($after: Sequence) { progress(after: $after) { sequence type newValue } }",
            json!({ "after": after }),
        )
        .await;
    // A pong after the subscribe shows that the subscription is live; with `after`, missed
    // events may come first, and `next_value` skips the pong.
    client.send(json!({ "type": "ping" })).await;
    if after.is_none() {
        assert_eq!(client.next_message(WAIT).await.unwrap()["type"], "pong");
    }
    client
}

/// The next key-result event's (sequence, value), skipping objective events.
async fn next_value(client: &mut WsClient) -> (i64, String) {
    loop {
        let message = client
            .next_message(WAIT)
            .await
            .expect("no event reached the subscriber");
        let event = &message["payload"]["data"]["progress"];
        if event["type"] == "KEY_RESULT_PROGRESS_CHANGED" {
            return (
                event["sequence"].as_i64().unwrap(),
                event["newValue"].as_str().unwrap().to_owned(),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_in_on_one_replica_reaches_another() {
    let database = TestDatabase::create().await;
    let redis = std::env::var(REDIS_VARIABLE)
        .ok()
        .filter(|url| !url.is_empty());
    // Without Redis the outbox catch-up carries events between replicas.
    let first = Replica::start(BINARY, &database.url, redis.as_deref(), 200);
    let second = Replica::start(BINARY, &database.url, redis.as_deref(), 200);
    let client = reqwest::Client::new();
    let (token, key_result) = organization_with_key_result(&client, &first.url).await;

    let mut subscriber = subscribe(&second.url, &token, None).await;
    check_in(&client, &first.url, &token, &key_result, "17").await;
    let (_, value) = next_value(&mut subscriber).await;
    assert_eq!(value, "17");
}

async fn redis_subscribed(client: &reqwest::Client, replica: &Replica) -> bool {
    let Ok(response) = client.get(format!("{}/readyz", replica.base)).send().await else {
        return false;
    };
    let body: Value = response.json().await.unwrap_or_default();
    body["redis"]["subscribed"] == true
}

async fn wait_until_subscribed(client: &reqwest::Client, replicas: &[&Replica]) {
    for _ in 0..200 {
        let mut all = true;
        for replica in replicas {
            all &= redis_subscribed(client, replica).await;
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replicas did not subscribe to Redis within 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_loses_nothing() {
    if std::env::var(REDIS_VARIABLE).map_or(true, |url| url.is_empty()) {
        eprintln!(
            "redis_outage_loses_nothing needs Redis: set {REDIS_VARIABLE} (as .ci/run does) to run it"
        );
        return;
    }
    let database = TestDatabase::create().await;
    let mut redis = PrivateRedis::start();
    // The catch-up runs once a minute, so events must come through Redis or its recovery.
    let first = Replica::start(BINARY, &database.url, Some(&redis.url()), 60_000);
    let second = Replica::start(BINARY, &database.url, Some(&redis.url()), 60_000);
    let client = reqwest::Client::new();
    wait_until_subscribed(&client, &[&first, &second]).await;
    let (token, key_result) = organization_with_key_result(&client, &first.url).await;

    let mut live = subscribe(&second.url, &token, None).await;
    check_in(&client, &first.url, &token, &key_result, "1").await;
    let (before_outage, value) = next_value(&mut live).await;
    assert_eq!(value, "1");

    // Redis goes down: queries and mutations keep working.
    redis.stop();
    check_in(&client, &first.url, &token, &key_result, "2").await;
    check_in(&client, &first.url, &token, &key_result, "3").await;
    let data = query(
        &client,
        &second.url,
        &token,
        "query($id: ID!) { node(id: $id) { ... on KeyResult { currentValue } } }",
        json!({ "id": key_result }),
    )
    .await;
    assert_eq!(data["node"]["currentValue"], "3");

    // Redis comes back: the replicas resubscribe by themselves and deliver what they missed.
    redis.restart();
    wait_until_subscribed(&client, &[&first, &second]).await;
    let mut values = vec![next_value(&mut live).await.1, next_value(&mut live).await.1];
    check_in(&client, &first.url, &token, &key_result, "4").await;
    values.push(next_value(&mut live).await.1);
    assert_eq!(values, ["2", "3", "4"]);

    // A client that left before the outage resumes from its last sequence number.
    let mut resumed = subscribe(&second.url, &token, Some(before_outage)).await;
    let mut resumed_values = Vec::new();
    for _ in 0..3 {
        resumed_values.push(next_value(&mut resumed).await.1);
    }
    assert_eq!(resumed_values, ["2", "3", "4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_loses_nothing() {
    if std::env::var(DATABASE_URL_VARIABLE).map_or(true, |url| url.is_empty()) {
        eprintln!(
            "postgres_restart_loses_nothing needs the PostgreSQL server programs: set {DATABASE_URL_VARIABLE} (as .ci/run does) to run it"
        );
        return;
    }
    let mut postgres = PrivatePostgres::start();
    let replica = Replica::start_with(
        BINARY,
        &postgres.url(),
        None,
        200,
        &[("HEADWAY_DATABASE_ACQUIRE_TIMEOUT_MS", "1000")],
    );
    let client = reqwest::Client::new();
    let (token, key_result) = organization_with_key_result(&client, &replica.url).await;
    let mut live = subscribe(&replica.url, &token, None).await;
    check_in(&client, &replica.url, &token, &key_result, "1").await;
    assert_eq!(next_value(&mut live).await.1, "1");

    // While the database is down, requests fail with UNAVAILABLE, write nothing, and the
    // replica reports itself unready.
    postgres.stop();
    let check_in_document = "mutation($kr: ID!, $value: Decimal) { createCheckIn(input: { keyResultId: $kr, value: $value }) { userErrors { message } } }";
    let response = client
        .post(&replica.url)
        .bearer_auth(&token)
        .json(
            &json!({ "query": check_in_document, "variables": { "kr": key_result, "value": "2" } }),
        )
        .send()
        .await
        .expect("the replica did not answer while the database was down");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{body}"
    );
    assert!(
        !body.to_string().contains("sqlx") && !body.to_string().contains("127.0.0.1"),
        "the error leaks internals: {body}"
    );
    let ready = client
        .get(format!("{}/readyz", replica.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);

    // Once the database is back, the same replica recovers by itself: writes, events and
    // readiness, with no restart.
    postgres.restart();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client.get(format!("{}/readyz", replica.base)).send().await;
        if ready.is_ok_and(|response| response.status().is_success()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replica stayed unready after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    check_in(&client, &replica.url, &token, &key_result, "3").await;
    assert_eq!(next_value(&mut live).await.1, "3");
    let data = query(
        &client,
        &replica.url,
        &token,
        "query($id: ID!) { node(id: $id) { ... on KeyResult { currentValue checkIns { totalCount nodes { value } } } } }",
        json!({ "id": key_result }),
    )
    .await;
    assert_eq!(data["node"]["currentValue"], "3");
    assert_eq!(
        data["node"]["checkIns"]["totalCount"], 2,
        "the check-in sent while the database was down was written: {data}"
    );
}
