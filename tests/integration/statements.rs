//! The dashboard query's number of SQL statements does not grow with the data.

use crate::fixtures::{check_in, create_key_result, create_objective, year_and_quarter};
use headway_tests::TestServer;
use serde_json::json;

const DASHBOARD: &str = "query($cycle: ID!) { node(id: $cycle) { ... on Cycle { name expectedProgress objectives(first: 100) { totalCount nodes { id title progress paceStatus owner { name } team { name } keyResults { nodes { title type progress paceStatus latestConfidence stale lastCheckIn { value observedAt author { name } } } } } } } } }";

/// Builds a quarter with `objectives` objectives of two checked-in key results each, runs
/// the dashboard query, and returns how many statements it took.
async fn dashboard_statements(objectives: usize) -> Vec<String> {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    for index in 0..objectives {
        let objective = create_objective(
            &server,
            &ada,
            json!({ "cycleId": quarter, "title": format!("Objective {index}"), "ownerId": ada.user_id }),
        )
        .await;
        for kr in 0..2 {
            let key_result = create_key_result(
                &server,
                &ada,
                json!({ "objectiveId": objective, "title": format!("KR {kr}"), "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" }),
            )
            .await;
            check_in(
                &server,
                &ada,
                json!({ "keyResultId": key_result, "value": "3", "confidence": 6 }),
            )
            .await;
        }
    }
    // Warm up once so that the measured run sees the same caches as every later request.
    let warm = server
        .query(&ada.token, DASHBOARD, json!({ "cycle": quarter }))
        .await;
    assert_eq!(warm["node"]["objectives"]["totalCount"], objectives);
    let before = server.statement_log_len();
    let data = server
        .query(&ada.token, DASHBOARD, json!({ "cycle": quarter }))
        .await;
    // The webhook dispatcher polls its tables in the background on the same pool.
    let statements: Vec<String> = server
        .statements_since(before)
        .into_iter()
        .filter(|statement| !statement.contains("webhook_"))
        .collect();
    let nodes = data["node"]["objectives"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), objectives);
    assert_eq!(nodes[0]["keyResults"]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(
        nodes[0]["keyResults"]["nodes"][0]["lastCheckIn"]["value"],
        "3"
    );
    statements
}

#[tokio::test]
async fn dashboard_statements_do_not_grow() {
    let small = dashboard_statements(5).await;
    let large = dashboard_statements(50).await;
    assert_eq!(
        small.len(),
        large.len(),
        "5 objectives took {} statements, 50 took {}:\n{}\n---\n{}",
        small.len(),
        large.len(),
        small.join("\n"),
        large.join("\n")
    );
    assert!(
        small.len() <= 20,
        "the dashboard took {} statements",
        small.len()
    );
}
