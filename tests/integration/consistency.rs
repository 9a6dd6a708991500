//! Concurrency, optimistic versions and idempotency keys: no write lost or doubled.

use crate::fixtures::{
    assert_close, check_in, create_key_result, create_objective, year_and_quarter,
};
use headway_tests::TestServer;
use serde_json::{Value, json};

const CHECK_IN: &str = "mutation($input: CreateCheckInInput!) { createCheckIn(input: $input) { checkIn { id } replayed userErrors { field message code } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_check_ins_lose_nothing() {
    let server = TestServer::start().await;
    server.clock.set("2026-02-15T00:00:00Z".parse().unwrap());
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Busy" }),
    )
    .await;
    let mut key_results = Vec::new();
    for (index, weight) in ["1", "2", "3"].iter().enumerate() {
        key_results.push(
            create_key_result(
                &server,
                &ada,
                json!({ "objectiveId": objective, "title": format!("KR {index}"), "type": "INCREASE_TO", "startValue": "0", "targetValue": "100", "weight": weight }),
            )
            .await,
        );
    }

    // 24 check-ins on the first key result and 12 on each sibling, all at once, with
    // observed-at times in shuffled order so that arrival order is not observation order.
    let mut requests = Vec::new();
    for (kr_index, key_result) in key_results.iter().enumerate() {
        let count = if kr_index == 0 { 24 } else { 12 };
        for step in 0..count {
            let minute = (step * 7) % count;
            let value = format!("{}", 10 + kr_index * 20 + minute);
            let observed_at = format!("2026-02-14T10:{minute:02}:00Z");
            let server = &server;
            let token = ada.token.clone();
            let input =
                json!({ "keyResultId": key_result, "value": value, "observedAt": observed_at });
            requests.push(async move {
                let (status, body) = server
                    .post(Some(&token), CHECK_IN, json!({ "input": input }))
                    .await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(
                    body["data"]["createCheckIn"]["userErrors"],
                    json!([]),
                    "{body}"
                );
            });
        }
    }
    futures::future::join_all(requests).await;

    // Each key result's current value is its check-in with the latest observed-at time.
    let mut expected_sum = 0.0;
    let mut weight_sum = 0.0;
    for (kr_index, key_result) in key_results.iter().enumerate() {
        let data = server
            .query(
                &ada.token,
                "query($id: ID!) { node(id: $id) { ... on KeyResult { currentValue progress weight checkIns(first: 100) { totalCount nodes { value observedAt } } } } }",
                json!({ "id": key_result }),
            )
            .await;
        let node = &data["node"];
        let count = if kr_index == 0 { 24 } else { 12 };
        assert_eq!(
            node["checkIns"]["totalCount"], count,
            "no check-in lost or doubled"
        );
        let newest = &node["checkIns"]["nodes"][0];
        assert_eq!(node["currentValue"], newest["value"]);
        let latest_value = (10 + kr_index * 20 + count - 1) as f64;
        assert_eq!(node["currentValue"], json!(format!("{latest_value}")));
        assert_close(&node["progress"], latest_value / 100.0);
        let weight: f64 = node["weight"].as_str().unwrap().parse().unwrap();
        expected_sum += weight * latest_value / 100.0;
        weight_sum += weight;
    }
    let data = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { ... on Objective { progress } } }",
            json!({ "id": objective }),
        )
        .await;
    // (1 x 0.33 + 2 x 0.41 + 3 x 0.61) / 6 = 0.49666...
    assert_close(&data["node"]["progress"], expected_sum / weight_sum);
}

#[tokio::test]
async fn stale_version_is_a_conflict() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "First title" }),
    )
    .await;
    let update = "mutation($input: UpdateObjectiveInput!) { updateObjective(input: $input) { objective { title version } userErrors { field message code } } }";
    let data = server
        .query(
            &ada.token,
            update,
            json!({ "input": { "id": objective, "expectedVersion": 1, "title": "Second title" } }),
        )
        .await;
    assert_eq!(data["updateObjective"]["objective"]["version"], 2);
    let data = server
        .query(
            &ada.token,
            update,
            json!({ "input": { "id": objective, "expectedVersion": 1, "title": "Lost title" } }),
        )
        .await;
    let error = &data["updateObjective"]["userErrors"][0];
    assert_eq!(error["code"], "CONFLICT");
    assert_eq!(error["field"], json!(["input", "expectedVersion"]));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("version 2, not 1")
    );
    let data = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { ... on Objective { title } } }",
            json!({ "id": objective }),
        )
        .await;
    assert_eq!(data["node"]["title"], "Second title");
}

#[tokio::test]
async fn idempotency_key_replays_and_rejects_reuse() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Grow" }),
    )
    .await;
    let key_result = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": objective, "title": "KR", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" }),
    )
    .await;
    let input =
        json!({ "keyResultId": key_result, "value": "4", "idempotencyKey": "sync-2026-02-15-001" });
    let first = check_in(&server, &ada, input.clone()).await;
    assert_eq!(first["replayed"], false);
    let second = check_in(&server, &ada, input.clone()).await;
    assert_eq!(second["replayed"], true);
    assert_eq!(second["checkIn"]["id"], first["checkIn"]["id"]);

    let mut changed = input.clone();
    changed["value"] = json!("5");
    let data = server
        .query(&ada.token, CHECK_IN, json!({ "input": changed }))
        .await;
    let error = &data["createCheckIn"]["userErrors"][0];
    assert_eq!(error["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(error["field"], json!(["input", "idempotencyKey"]));

    let data = server
        .query(&ada.token, "query($id: ID!) { node(id: $id) { ... on KeyResult { checkIns { totalCount } currentValue } } }", json!({ "id": key_result }))
        .await;
    assert_eq!(data["node"]["checkIns"]["totalCount"], 1);
    assert_eq!(data["node"]["currentValue"], Value::String("4".to_owned()));
}
