//! Building plans through the API in a few lines.

use headway_tests::{Session, TestServer};
use serde_json::{Value, json};

pub async fn create_cycle(server: &TestServer, session: &Session, input: Value) -> String {
    let payload = server
        .mutate(
            &session.token,
            "createCycle",
            "mutation($input: CreateCycleInput!) { createCycle(input: $input) { cycle { id } userErrors { field message code } } }",
            json!({ "input": input }),
        )
        .await;
    payload["cycle"]["id"].as_str().unwrap().to_owned()
}

pub async fn create_team(server: &TestServer, session: &Session, input: Value) -> String {
    let payload = server
        .mutate(
            &session.token,
            "createTeam",
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } userErrors { field message code } } }",
            json!({ "input": input }),
        )
        .await;
    payload["team"]["id"].as_str().unwrap().to_owned()
}

pub async fn create_objective(server: &TestServer, session: &Session, input: Value) -> String {
    let payload = server
        .mutate(
            &session.token,
            "createObjective",
            "mutation($input: CreateObjectiveInput!) { createObjective(input: $input) { objective { id } userErrors { field message code } warnings { message } } }",
            json!({ "input": input }),
        )
        .await;
    payload["objective"]["id"].as_str().unwrap().to_owned()
}

pub async fn create_key_result(server: &TestServer, session: &Session, input: Value) -> String {
    let payload = server
        .mutate(
            &session.token,
            "createKeyResult",
            "mutation($input: CreateKeyResultInput!) { createKeyResult(input: $input) { keyResult { id } userErrors { field message code } } }",
            json!({ "input": input }),
        )
        .await;
    payload["keyResult"]["id"].as_str().unwrap().to_owned()
}

pub async fn check_in(server: &TestServer, session: &Session, input: Value) -> Value {
    server
        .mutate(
            &session.token,
            "createCheckIn",
            "mutation($input: CreateCheckInInput!) { createCheckIn(input: $input) { checkIn { id value observedAt } keyResult { currentValue progress } replayed userErrors { field message code } } }",
            json!({ "input": input }),
        )
        .await
}

pub async fn create_kpi(server: &TestServer, session: &Session, input: Value) -> String {
    let payload = server
        .mutate(
            &session.token,
            "createKpi",
            "mutation($input: CreateKpiInput!) { createKpi(input: $input) { kpi { id } userErrors { field message code } } }",
            json!({ "input": input }),
        )
        .await;
    payload["kpi"]["id"].as_str().unwrap().to_owned()
}

/// An active quarter (Q1 2026) inside an active year, as (year id, quarter id).
pub async fn year_and_quarter(server: &TestServer, session: &Session) -> (String, String) {
    let year = create_cycle(
        server,
        session,
        json!({ "name": "2026", "startDate": "2026-01-01", "endDate": "2026-12-31", "state": "ACTIVE" }),
    )
    .await;
    let quarter = create_cycle(
        server,
        session,
        json!({ "name": "Q1 2026", "startDate": "2026-01-01", "endDate": "2026-03-31", "parentId": year, "state": "ACTIVE" }),
    )
    .await;
    (year, quarter)
}

/// A float that must equal `expected` up to rounding in its last digits.
pub fn assert_close(actual: &Value, expected: f64) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{actual} is not a number"));
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}
