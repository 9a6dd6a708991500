//! A quarter planned and checked in through the API, with every figure worked by hand.
//!
//! The clock stands at 2026-02-15T00:00:00Z: 45 of Q1's 90 days have passed, so the
//! quarter expects progress 0.5, and 45 of 2026's 365 days, so the year expects 45/365.

use crate::fixtures::{
    assert_close, check_in, create_cycle, create_key_result, create_kpi, create_objective,
    create_team, year_and_quarter,
};
use headway_tests::TestServer;
use serde_json::json;

const OBJECTIVE_QUERY: &str = "query($id: ID!) { node(id: $id) { ... on Objective { progress expectedProgress paceStatus progressExplanation { progress formula inputs { title weight progress counted note } } keyResults { totalCount nodes { title progress progressRatio paceStatus currentValue } } } } }";

#[tokio::test]
async fn quarter_rolls_up_by_hand_worked_numbers() {
    let server = TestServer::start().await;
    server.clock.set("2026-02-15T00:00:00Z".parse().unwrap());
    let ada = server.sign_up("ada").await;
    let (year, quarter) = year_and_quarter(&server, &ada).await;
    let sales_team = create_team(&server, &ada, json!({ "name": "Sales" })).await;

    let company = create_objective(
        &server,
        &ada,
        json!({ "cycleId": year, "title": "Win the mid-market", "progressSource": "CHILD_OBJECTIVES", "kind": "ASPIRATIONAL" }),
    )
    .await;
    let sales = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Grow revenue", "parentId": company, "teamId": sales_team, "ownerId": ada.user_id }),
    )
    .await;
    let product = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Delight users", "parentId": company, "weight": "3" }),
    )
    .await;

    // Sales: four key results, one of each remaining type.
    let revenue = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": sales, "title": "Revenue to 200k", "type": "INCREASE_TO", "startValue": "100", "targetValue": "200", "weight": "2", "unit": "CURRENCY", "currencyCode": "EUR" }),
    )
    .await;
    let churn = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": sales, "title": "Churn down to 10", "type": "DECREASE_TO", "startValue": "40", "targetValue": "10" }),
    )
    .await;
    let uptime = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": sales, "title": "Uptime at 95", "type": "STAY_AT_OR_ABOVE", "startValue": "90", "targetValue": "95", "unit": "PERCENT" }),
    )
    .await;
    let launch = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": sales, "title": "Launch partners", "type": "BOOLEAN", "weight": "0" }),
    )
    .await;
    // Product: over-achievement and a missed threshold.
    let signups = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": product, "title": "Signups to 80", "type": "INCREASE_TO", "startValue": "0", "targetValue": "80" }),
    )
    .await;
    let errors = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": product, "title": "Error rate at or below 2", "type": "STAY_AT_OR_BELOW", "targetValue": "2" }),
    )
    .await;

    // Until the first check-in the current value is the start value.
    let data = server
        .query(&ada.token, OBJECTIVE_QUERY, json!({ "id": sales }))
        .await;
    assert_close(&data["node"]["progress"], 0.0);

    check_in(
        &server,
        &ada,
        json!({ "keyResultId": revenue, "value": "150", "confidence": 7 }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": churn, "value": "25" }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": uptime, "value": "96" }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": launch, "done": true }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": signups, "value": "100" }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": errors, "value": "3" }),
    )
    .await;

    // Sales: (2 x 0.5 + 1 x 0.5 + 1 x 1) / 4 = 0.625; the launch has weight 0 and does not count.
    let data = server
        .query(&ada.token, OBJECTIVE_QUERY, json!({ "id": sales }))
        .await;
    let node = &data["node"];
    assert_close(&node["progress"], 0.625);
    assert_close(&node["expectedProgress"], 0.5);
    assert_eq!(node["paceStatus"], "ON_TRACK");
    assert_eq!(
        node["progressExplanation"]["formula"],
        "(2 × 0.5 + 1 × 0.5 + 1 × 1) / 4 = 0.625"
    );
    let inputs = node["progressExplanation"]["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 4);
    assert_eq!(inputs[3]["counted"], false);
    assert_eq!(inputs[3]["note"], "weight 0 keeps it out of the average");
    let key_results = node["keyResults"]["nodes"].as_array().unwrap();
    assert_close(&key_results[0]["progress"], 0.5);
    assert_close(&key_results[1]["progress"], 0.5);
    assert_close(&key_results[2]["progress"], 1.0);
    assert_close(&key_results[3]["progress"], 1.0);

    // Product: signups 100 of 80 is 1.25 unclamped and 1 clamped; errors 3 > 2 give 0.
    // (1 x 1 + 1 x 0) / 2 = 0.5.
    let data = server
        .query(&ada.token, OBJECTIVE_QUERY, json!({ "id": product }))
        .await;
    let node = &data["node"];
    assert_close(&node["progress"], 0.5);
    let key_results = node["keyResults"]["nodes"].as_array().unwrap();
    assert_close(&key_results[0]["progressRatio"], 1.25);
    assert_close(&key_results[0]["progress"], 1.0);
    assert_close(&key_results[1]["progress"], 0.0);
    assert_eq!(key_results[1]["paceStatus"], "OFF_TRACK");

    // Company: sales (weight 1) at 0.625 and product (weight 3) at 0.5:
    // (1 x 0.625 + 3 x 0.5) / 4 = 0.53125, against a year that expects 45/365.
    let data = server
        .query(&ada.token, OBJECTIVE_QUERY, json!({ "id": company }))
        .await;
    let node = &data["node"];
    assert_close(&node["progress"], 0.53125);
    assert_close(&node["expectedProgress"], 45.0 / 365.0);
    assert_eq!(node["paceStatus"], "ON_TRACK");
    assert_eq!(
        node["progressExplanation"]["formula"],
        "(1 × 0.625 + 3 × 0.5) / 4 = 0.5313"
    );

    // A backfilled value older than the current one is stored but does not become current.
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": revenue, "value": "190", "observedAt": "2026-02-01T09:00:00Z" }),
    )
    .await;
    let data = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { ... on KeyResult { currentValue progress latestConfidence lastCheckIn { value } checkIns { totalCount nodes { value observedAt } } } } }",
            json!({ "id": revenue }),
        )
        .await;
    let node = &data["node"];
    assert_eq!(node["currentValue"], "150");
    assert_close(&node["progress"], 0.5);
    assert_eq!(node["latestConfidence"], 7);
    assert_eq!(node["lastCheckIn"]["value"], "150");
    assert_eq!(node["checkIns"]["totalCount"], 2);
    assert_eq!(
        node["checkIns"]["nodes"][0]["value"], "150",
        "newest observation first"
    );
    let data = server
        .query(&ada.token, OBJECTIVE_QUERY, json!({ "id": company }))
        .await;
    assert_close(&data["node"]["progress"], 0.53125);
}

#[tokio::test]
async fn pace_status_follows_expected_progress() {
    let server = TestServer::start().await;
    server.clock.set("2026-02-15T00:00:00Z".parse().unwrap());
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Support" }),
    )
    .await;
    let key_result = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": objective, "title": "Tickets solved", "type": "INCREASE_TO", "startValue": "0", "targetValue": "100" }),
    )
    .await;
    let status = |value: &'static str| {
        let server = &server;
        let ada = &ada;
        let key_result = key_result.clone();
        async move {
            check_in(
                server,
                ada,
                json!({ "keyResultId": key_result, "value": value }),
            )
            .await;
            let data = server
                .query(
                    &ada.token,
                    "query($id: ID!) { node(id: $id) { ... on KeyResult { paceStatus } } }",
                    json!({ "id": key_result }),
                )
                .await;
            data["node"]["paceStatus"].as_str().unwrap().to_owned()
        }
    };
    // Expected 0.5: on track from 0.35, at risk from 0.2, off track below.
    assert_eq!(status("35").await, "ON_TRACK");
    assert_eq!(status("34.99").await, "AT_RISK");
    assert_eq!(status("20").await, "AT_RISK");
    assert_eq!(status("19.99").await, "OFF_TRACK");

    // In the first 5 % of the quarter (4.5 days) everything is on track.
    server.clock.set("2026-01-05T11:59:00Z".parse().unwrap());
    assert_eq!(status("0").await, "ON_TRACK");
}

#[tokio::test]
async fn kpi_health_and_linked_key_result() {
    let server = TestServer::start().await;
    server.clock.set("2026-02-15T00:00:00Z".parse().unwrap());
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let revenue = create_kpi(
        &server,
        &ada,
        json!({ "name": "MRR", "direction": "HIGHER_IS_BETTER", "targetValue": "100", "warningValue": "80", "unit": "CURRENCY", "currencyCode": "USD", "frequency": "DAILY" }),
    )
    .await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Revenue" }),
    )
    .await;
    let key_result = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": objective, "title": "MRR to 120", "type": "INCREASE_TO", "startValue": "60", "targetValue": "120", "kpiId": revenue }),
    )
    .await;

    let recorded = server
        .mutate(
            &ada.token,
            "recordKpiMeasurements",
            "mutation($input: RecordKpiMeasurementsInput!) { recordKpiMeasurements(input: $input) { recordedCount rejectedCount results { index replaced measurement { value health } userErrors { field code } } userErrors { field message code } } }",
            json!({ "input": { "measurements": [
                { "kpiId": revenue, "value": "70", "observedAt": "2025-12-20T00:00:00Z" },
                { "kpiId": revenue, "value": "85", "observedAt": "2026-01-20T00:00:00Z" },
                { "kpiId": revenue, "value": "90", "observedAt": "2026-02-10T00:00:00Z" },
                { "kpiId": revenue, "value": "95", "observedAt": "2026-02-10T00:00:00Z" }
            ] } }),
        )
        .await;
    assert_eq!(recorded["recordedCount"], 4);
    assert_eq!(recorded["results"][0]["measurement"]["health"], "CRITICAL");
    assert_eq!(recorded["results"][1]["measurement"]["health"], "WARNING");
    assert_eq!(
        recorded["results"][3]["replaced"], true,
        "same KPI and time replaces"
    );

    let data = server
        .query(
            &ada.token,
            "query($kpi: ID!, $kr: ID!) { kpi: node(id: $kpi) { ... on Kpi { health latestValue measurements(from: \"2026-01-01T00:00:00Z\") { totalCount nodes { value } } } } kr: node(id: $kr) { ... on KeyResult { currentValue progress lastCheckIn { source value } checkIns { nodes { source value observedAt } } } } }",
            json!({ "kpi": revenue, "kr": key_result }),
        )
        .await;
    assert_eq!(data["kpi"]["health"], "WARNING");
    assert_eq!(data["kpi"]["latestValue"], "95");
    assert_eq!(
        data["kpi"]["measurements"]["totalCount"], 2,
        "one value per KPI and time"
    );
    // The key result follows the latest measurement in Q1: (95 - 60) / (120 - 60) = 0.58333...
    assert_eq!(data["kr"]["currentValue"], "95");
    assert_close(&data["kr"]["progress"], 35.0 / 60.0);
    assert_eq!(data["kr"]["lastCheckIn"]["source"], "KPI");
    // Each of the two points in Q1 is a check-in; the December one lies outside the cycle.
    assert_eq!(
        data["kr"]["checkIns"]["nodes"],
        json!([
            { "source": "KPI", "value": "95", "observedAt": "2026-02-10T00:00:00Z" },
            { "source": "KPI", "value": "85", "observedAt": "2026-01-20T00:00:00Z" },
        ])
    );

    // A value at the target makes the KPI healthy.
    server
        .mutate(
            &ada.token,
            "recordKpiMeasurements",
            "mutation($input: RecordKpiMeasurementsInput!) { recordKpiMeasurements(input: $input) { recordedCount userErrors { field message code } } }",
            json!({ "input": { "measurements": [{ "kpiId": revenue, "value": "100", "observedAt": "2026-02-14T00:00:00Z" }] } }),
        )
        .await;
    let data = server
        .query(
            &ada.token,
            "query($kpi: ID!, $kr: ID!) { kpi: node(id: $kpi) { ... on Kpi { health } } kr: node(id: $kr) { ... on KeyResult { currentValue progress checkIns { totalCount } } } }",
            json!({ "kpi": revenue, "kr": key_result }),
        )
        .await;
    assert_eq!(data["kpi"]["health"], "HEALTHY");
    // (100 - 60) / (120 - 60) = 2/3, from a third check-in.
    assert_eq!(data["kr"]["currentValue"], "100");
    assert_close(&data["kr"]["progress"], 40.0 / 60.0);
    assert_eq!(data["kr"]["checkIns"]["totalCount"], 3);
}

#[tokio::test]
async fn check_ins_outside_cycle_rejected() {
    let server = TestServer::start().await;
    server.clock.set("2026-02-15T12:00:00Z".parse().unwrap());
    let ada = server.sign_up("ada").await;
    server
        .mutate(
            &ada.token,
            "updateOrganization",
            "mutation { updateOrganization(input: { timeZone: \"Europe/Berlin\" }) { userErrors { field message code } } }",
            json!({}),
        )
        .await;
    // In Berlin (UTC+1 in winter) Q1 2026 runs from 2025-12-31T23:00Z up to 2026-03-31T22:00Z
    // (UTC+2 from 29 March), and Q4 2025 from 2025-09-30T22:00Z up to 2025-12-31T23:00Z.
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let last_quarter = create_cycle(
        &server,
        &ada,
        json!({ "name": "Q4 2025", "startDate": "2025-10-01", "endDate": "2025-12-31", "state": "ACTIVE" }),
    )
    .await;
    let current = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Grow" }),
    )
    .await;
    let current = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": current, "title": "Reach 100", "type": "INCREASE_TO", "startValue": "0", "targetValue": "100" }),
    )
    .await;
    let past = create_objective(
        &server,
        &ada,
        json!({ "cycleId": last_quarter, "title": "Finish the year" }),
    )
    .await;
    let past = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": past, "title": "Reach 100", "type": "INCREASE_TO", "startValue": "0", "targetValue": "100" }),
    )
    .await;
    let rejected = |key_result: &str, input: serde_json::Value| {
        let server = &server;
        let ada = &ada;
        let mut input = input;
        input["keyResultId"] = json!(key_result);
        async move {
            let payload = server
                .query(
                    &ada.token,
                    "mutation($input: CreateCheckInInput!) { createCheckIn(input: $input) { checkIn { id } userErrors { field message code } } }",
                    json!({ "input": input }),
                )
                .await["createCheckIn"]
                .clone();
            assert_eq!(payload["checkIn"], serde_json::Value::Null, "{payload}");
            let errors = payload["userErrors"].as_array().unwrap().clone();
            assert_eq!(errors.len(), 1, "{payload}");
            assert_eq!(errors[0]["code"], "OUT_OF_RANGE");
            assert_eq!(errors[0]["field"], json!(["input", "observedAt"]));
            errors[0]["message"].as_str().unwrap().to_owned()
        }
    };

    // Q1: one second before the start is rejected, the first instant is accepted.
    let message = rejected(
        &current,
        json!({ "value": "90", "observedAt": "2025-12-31T22:59:59Z" }),
    )
    .await;
    assert_eq!(
        message,
        "2025-12-31T22:59:59+00:00 is before the key result's cycle, which runs from 2026-01-01 to 2026-03-31 in Europe/Berlin; send an observedAt within those dates"
    );
    let accepted = check_in(
        &server,
        &ada,
        json!({ "keyResultId": current, "value": "10", "observedAt": "2025-12-31T23:00:00Z" }),
    )
    .await;
    assert_eq!(accepted["keyResult"]["currentValue"], "10");
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": current, "value": "30", "observedAt": "2026-02-01T00:00:00Z" }),
    )
    .await;
    rejected(
        &current,
        json!({ "value": "90", "observedAt": "2025-12-01T00:00:00Z" }),
    )
    .await;

    // Q4 2025: its last instant is accepted, the next one is rejected, and so is a check-in
    // without observedAt, which is observed now, on 2026-02-15.
    let accepted = check_in(
        &server,
        &ada,
        json!({ "keyResultId": past, "value": "80", "observedAt": "2025-12-31T22:59:59Z" }),
    )
    .await;
    assert_eq!(accepted["keyResult"]["currentValue"], "80");
    let message = rejected(
        &past,
        json!({ "value": "95", "observedAt": "2025-12-31T23:00:00Z" }),
    )
    .await;
    assert_eq!(
        message,
        "2025-12-31T23:00:00+00:00 is after the key result's cycle, which runs from 2025-10-01 to 2025-12-31 in Europe/Berlin; send an observedAt within those dates"
    );
    let message = rejected(&past, json!({ "value": "95" })).await;
    assert_eq!(
        message,
        "observedAt was left out, so it defaults to now. 2026-02-15T12:00:00+00:00 is after the key result's cycle, which runs from 2025-10-01 to 2025-12-31 in Europe/Berlin; send an observedAt within those dates"
    );

    // A batch rejects the item outside the cycle and stores the other.
    let batch = server
        .mutate(
            &ada.token,
            "recordCheckIns",
            "mutation($input: RecordCheckInsInput!) { recordCheckIns(input: $input) { recordedCount results { keyResult { currentValue } userErrors { field message code } } userErrors { field message code } } }",
            json!({ "input": { "checkIns": [
                { "keyResultId": current, "value": "99", "observedAt": "2026-04-01T00:00:00Z" },
                { "keyResultId": current, "value": "40", "observedAt": "2026-02-14T00:00:00Z" },
            ] } }),
        )
        .await;
    assert_eq!(batch["recordedCount"], 1);
    let error = &batch["results"][0]["userErrors"][0];
    assert_eq!(error["code"], "OUT_OF_RANGE");
    assert_eq!(
        error["field"],
        json!(["input", "checkIns", "0", "observedAt"])
    );
    assert_eq!(batch["results"][1]["keyResult"]["currentValue"], "40");

    // Only the accepted check-ins count: 40 / 100 in Q1 and 80 / 100 in Q4 2025.
    let data = server
        .query(
            &ada.token,
            "query($current: ID!, $past: ID!) { current: node(id: $current) { ... on KeyResult { currentValue progress checkIns { totalCount } } } past: node(id: $past) { ... on KeyResult { currentValue progress checkIns { totalCount } } } }",
            json!({ "current": current, "past": past }),
        )
        .await;
    assert_eq!(data["current"]["currentValue"], "40");
    assert_close(&data["current"]["progress"], 0.4);
    assert_eq!(data["current"]["checkIns"]["totalCount"], 3);
    assert_eq!(data["past"]["currentValue"], "80");
    assert_close(&data["past"]["progress"], 0.8);
    assert_eq!(data["past"]["checkIns"]["totalCount"], 1);
}
