//! The demo organization seeds into an empty database and answers the dashboard query.

use headway_tests::TestServer;
use serde_json::json;

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
