//! Integrations pushing data: batch ingestion by id or external key, retries, backfill,
//! key results that follow KPIs, and KPI series for charts.

use crate::fixtures::{create_key_result, create_kpi, create_objective, year_and_quarter};
use headway_tests::{Session, TestServer};
use serde_json::{Value, json};

const RECORD: &str = "mutation($input: RecordKpiMeasurementsInput!) { recordKpiMeasurements(input: $input) { recordedCount rejectedCount results { index replaced replayed measurement { id value observedAt } userErrors { field message code } } userErrors { field message code } } }";

const RECORD_CHECK_INS: &str = "mutation($input: RecordCheckInsInput!) { recordCheckIns(input: $input) { recordedCount rejectedCount results { index replayed checkIn { id value source } keyResult { currentValue progress } userErrors { field message code } } userErrors { field message code } } }";

async fn ingest_token(server: &TestServer, admin: &Session) -> String {
    server
        .mutate(
            &admin.token,
            "createApiToken",
            "mutation { createApiToken(input: { name: \"CRM sync\", scopes: [INGEST] }) { token userErrors { field message code } } }",
            json!({}),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn record(server: &TestServer, token: &str, input: Value) -> Value {
    server.query(token, RECORD, json!({ "input": input })).await["recordKpiMeasurements"].clone()
}

async fn kpi_state(server: &TestServer, token: &str, kpi: &str) -> Value {
    server
        .query(
            token,
            "query($id: ID!) { node(id: $id) { ... on Kpi { latestValue latestObservedAt measurements(first: 100) { totalCount nodes { value observedAt } } } } }",
            json!({ "id": kpi }),
        )
        .await["node"]
        .clone()
}

fn codes(result: &Value) -> Vec<(String, String)> {
    result["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["field"].as_array().map_or_else(String::new, |path| {
                    path.iter()
                        .skip(1)
                        .map(|part| match part {
                            Value::String(text) => text.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(".")
                }),
                error["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn measurement_batch_item_results() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let token = ingest_token(&server, &owner).await;
    let revenue = create_kpi(
        &server,
        &owner,
        json!({ "name": "Revenue", "externalKey": "crm:revenue", "unit": "CURRENCY", "currencyCode": "EUR" }),
    )
    .await;
    let churn = create_kpi(&server, &owner, json!({ "name": "Churn" })).await;

    let result = record(
        &server,
        &token,
        json!({ "measurements": [
            { "kpiExternalKey": "crm:revenue", "value": "1200.50", "observedAt": "2026-02-01T00:00:00Z" },
            { "kpiId": churn, "value": 3, "observedAt": "2026-02-01T00:00:00Z" },
            { "kpiExternalKey": "crm:unknown", "value": "1", "observedAt": "2026-02-01T00:00:00Z" },
            { "kpiExternalKey": "crm:revenue", "value": "10000000000000000", "observedAt": "2026-02-02T00:00:00Z" },
            { "kpiExternalKey": "crm:revenue", "value": "5", "observedAt": "2027-01-01T00:00:00Z" },
            { "kpiId": revenue, "kpiExternalKey": "crm:revenue", "value": "5", "observedAt": "2026-02-03T00:00:00Z" },
            { "value": "5", "observedAt": "2026-02-03T00:00:00Z" },
            { "kpiId": "kpi_nothex", "value": "abc", "observedAt": "2026-02-03T00:00:00Z" },
        ] }),
    )
    .await;
    assert_eq!(result["userErrors"], json!([]));
    assert_eq!(result["recordedCount"], 2);
    assert_eq!(result["rejectedCount"], 6);
    let results = result["results"].as_array().unwrap();
    assert_eq!(
        results
            .iter()
            .map(|item| item["index"].clone())
            .collect::<Vec<_>>(),
        (0..8).map(|index| json!(index)).collect::<Vec<_>>()
    );
    assert_eq!(results[0]["measurement"]["value"], "1200.5");
    assert_eq!(results[1]["measurement"]["value"], "3");
    assert_eq!(
        codes(&results[2]),
        vec![("measurements.2.kpiExternalKey".into(), "NOT_FOUND".into())]
    );
    assert!(
        results[2]["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("crm:unknown")
    );
    assert_eq!(
        codes(&results[3]),
        vec![("measurements.3.value".into(), "OUT_OF_RANGE".into())]
    );
    assert_eq!(
        codes(&results[4]),
        vec![("measurements.4.observedAt".into(), "OUT_OF_RANGE".into())]
    );
    assert_eq!(
        codes(&results[5]),
        vec![("measurements.5.kpiId".into(), "INVALID".into())]
    );
    assert_eq!(
        codes(&results[6]),
        vec![("measurements.6.kpiId".into(), "BLANK".into())]
    );
    // Every problem of an item is named, not only the first.
    let fields: Vec<String> = codes(&results[7])
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    assert_eq!(fields, ["measurements.7.kpiId", "measurements.7.value"]);

    let state = kpi_state(&server, &owner.token, &revenue).await;
    assert_eq!(state["latestValue"], "1200.5");
    assert_eq!(state["measurements"]["totalCount"], 1);
}

#[tokio::test]
async fn batch_size_limits() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let kpi = create_kpi(&server, &owner, json!({ "name": "Signups" })).await;
    let item = json!({ "kpiId": kpi, "value": "1", "observedAt": "2026-02-01T00:00:00Z" });
    let result = record(
        &server,
        &owner.token,
        json!({ "measurements": vec![item.clone(); 1001] }),
    )
    .await;
    assert_eq!(
        codes(&result),
        vec![("measurements".into(), "TOO_LONG".into())]
    );
    let message = result["userErrors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("1001") && message.contains("1000"),
        "{message}"
    );
    assert_eq!(result["results"], json!([]));
    let result = record(&server, &owner.token, json!({ "measurements": [] })).await;
    assert_eq!(
        codes(&result),
        vec![("measurements".into(), "BLANK".into())]
    );
    assert_eq!(
        kpi_state(&server, &owner.token, &kpi).await["measurements"]["totalCount"],
        0
    );

    let result = server
        .query(
            &owner.token,
            RECORD_CHECK_INS,
            json!({ "input": { "checkIns": vec![json!({ "keyResultId": "kr_0190f2e1c7a97b3e8b5f000000000000", "value": "1" }); 1001] } }),
        )
        .await["recordCheckIns"]
        .clone();
    assert_eq!(codes(&result), vec![("checkIns".into(), "TOO_LONG".into())]);

    // A full batch of 1,000 goes through.
    let items: Vec<Value> = (0..1000)
        .map(|minute| {
            json!({ "kpiId": kpi, "value": minute, "observedAt": format!("2026-02-01T{:02}:{:02}:00Z", minute / 60, minute % 60) })
        })
        .collect();
    let result = record(&server, &owner.token, json!({ "measurements": items })).await;
    assert_eq!(result["recordedCount"], 1000);
    assert_eq!(
        kpi_state(&server, &owner.token, &kpi).await["measurements"]["totalCount"],
        1000
    );
}

#[tokio::test]
async fn measurement_retries_and_duplicates() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let token = ingest_token(&server, &owner).await;
    let kpi = create_kpi(
        &server,
        &owner,
        json!({ "name": "Pipeline", "externalKey": "pipeline" }),
    )
    .await;
    let batch = json!({
        "idempotencyKey": "sync-2026-02-01",
        "measurements": [
            { "kpiExternalKey": "pipeline", "value": "10", "observedAt": "2026-02-01T00:00:00Z" },
            { "kpiExternalKey": "pipeline", "value": "11", "observedAt": "2026-02-02T00:00:00Z" },
            { "kpiExternalKey": "missing", "value": "11", "observedAt": "2026-02-02T00:00:00Z" },
        ],
    });
    let first = record(&server, &token, batch.clone()).await;
    assert_eq!(first["recordedCount"], 2);
    let events_before = server
        .store
        .latest_event_sequence(organization(&owner))
        .await
        .unwrap();

    // The same batch again: the first result, nothing written.
    let retried = record(&server, &token, batch.clone()).await;
    assert_eq!(retried["recordedCount"], 2);
    assert_eq!(retried["rejectedCount"], 1);
    for index in 0..2 {
        assert_eq!(retried["results"][index]["replayed"], true);
        assert_eq!(
            retried["results"][index]["measurement"]["id"],
            first["results"][index]["measurement"]["id"]
        );
    }
    assert_eq!(codes(&retried["results"][2]), codes(&first["results"][2]));
    let events_after = server
        .store
        .latest_event_sequence(organization(&owner))
        .await
        .unwrap();
    assert_eq!(events_before, events_after, "a replay wrote events");

    // The same key with another batch is refused as a whole.
    let mut changed = batch.clone();
    changed["measurements"][0]["value"] = json!("99");
    let refused = record(&server, &token, changed).await;
    assert_eq!(
        codes(&refused),
        vec![("idempotencyKey".into(), "IDEMPOTENCY_KEY_REUSED".into())]
    );

    // Item keys hold across batches: a known item is replayed, a new one is written, and a
    // known key with another value is refused for that item only.
    let items = |value: &str| {
        json!({ "measurements": [
            { "kpiExternalKey": "pipeline", "value": "20", "observedAt": "2026-02-03T00:00:00Z", "idempotencyKey": "deal-1" },
            { "kpiExternalKey": "pipeline", "value": value, "observedAt": "2026-02-04T00:00:00Z", "idempotencyKey": "deal-2" },
        ] })
    };
    let first = record(&server, &token, items("30")).await;
    assert_eq!(first["recordedCount"], 2);
    let again = record(&server, &token, items("30")).await;
    assert_eq!(again["results"][0]["replayed"], true);
    assert_eq!(again["results"][1]["replayed"], true);
    let conflicting = record(&server, &token, items("31")).await;
    assert_eq!(conflicting["results"][0]["replayed"], true);
    assert_eq!(
        codes(&conflicting["results"][1]),
        vec![(
            "measurements.1.idempotencyKey".into(),
            "IDEMPOTENCY_KEY_REUSED".into()
        )]
    );
    // Two items with one key in one batch: the second repeats the first.
    let twice = record(
        &server,
        &token,
        json!({ "measurements": [
            { "kpiExternalKey": "pipeline", "value": "40", "observedAt": "2026-02-05T00:00:00Z", "idempotencyKey": "deal-3" },
            { "kpiExternalKey": "pipeline", "value": "40", "observedAt": "2026-02-05T00:00:00Z", "idempotencyKey": "deal-3" },
        ] }),
    )
    .await;
    assert_eq!(twice["results"][0]["replayed"], false);
    assert_eq!(twice["results"][1]["replayed"], true);
    assert_eq!(
        twice["results"][0]["measurement"]["id"],
        twice["results"][1]["measurement"]["id"]
    );

    // A point sent again without a key replaces the stored value for that time.
    let resent = record(
        &server,
        &token,
        json!({ "measurements": [{ "kpiId": kpi, "value": "12", "observedAt": "2026-02-02T00:00:00Z" }] }),
    )
    .await;
    assert_eq!(resent["results"][0]["replaced"], true);
    let state = kpi_state(&server, &owner.token, &kpi).await;
    assert_eq!(state["measurements"]["totalCount"], 5);
    let values: Vec<&str> = state["measurements"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["10", "12", "20", "30", "40"]);
}

fn organization(owner: &Session) -> headway_domain::ids::OrganizationId {
    let id = owner.organization_id.split_once('_').unwrap().1;
    uuid::Uuid::parse_str(id).unwrap().into()
}

#[tokio::test]
async fn measurement_backfill_and_kpi_driven_key_results() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let token = ingest_token(&server, &owner).await;
    let (_, quarter) = year_and_quarter(&server, &owner).await;
    let kpi = create_kpi(
        &server,
        &owner,
        json!({ "name": "Active users", "externalKey": "product:wau", "direction": "HIGHER_IS_BETTER", "targetValue": "2000", "warningValue": "1000" }),
    )
    .await;
    let objective = create_objective(
        &server,
        &owner,
        json!({ "cycleId": quarter, "title": "Grow usage" }),
    )
    .await;
    let following = create_key_result(
        &server,
        &owner,
        json!({ "objectiveId": objective, "title": "Reach 2,000 weekly users", "type": "INCREASE_TO", "startValue": "1000", "targetValue": "2000", "kpiId": kpi }),
    )
    .await;
    create_key_result(
        &server,
        &owner,
        json!({ "objectiveId": objective, "title": "Ship onboarding", "type": "BOOLEAN" }),
    )
    .await;

    // Last year's value lies outside the quarter: the key result does not follow it.
    record(
        &server,
        &token,
        json!({ "measurements": [{ "kpiExternalKey": "product:wau", "value": "1900", "observedAt": "2025-12-31T12:00:00Z" }] }),
    )
    .await;
    let read = |key_result: String| {
        let server = &server;
        let token = owner.token.clone();
        async move {
            server
                .query(
                    &token,
                    "query($id: ID!) { node(id: $id) { ... on KeyResult { currentValue progress lastCheckIn { value source observedAt } objective { progress } } } }",
                    json!({ "id": key_result }),
                )
                .await["node"]
                .clone()
        }
    };
    let state = read(following.clone()).await;
    assert_eq!(state["currentValue"], "1000");
    assert_eq!(state["lastCheckIn"], Value::Null);

    // The newest value inside the quarter moves the key result, as a check-in from the KPI,
    // and the objective rolls up: (0.5 + 0) / 2.
    record(
        &server,
        &token,
        json!({ "measurements": [
            { "kpiExternalKey": "product:wau", "value": "1500", "observedAt": "2026-02-10T00:00:00Z" },
            { "kpiExternalKey": "product:wau", "value": "1200", "observedAt": "2026-01-20T00:00:00Z" },
        ] }),
    )
    .await;
    let state = read(following.clone()).await;
    assert_eq!(state["currentValue"], "1500");
    assert_eq!(state["lastCheckIn"]["source"], "KPI");
    assert_eq!(state["lastCheckIn"]["observedAt"], "2026-02-10T00:00:00Z");
    crate::fixtures::assert_close(&state["progress"], 0.5);
    crate::fixtures::assert_close(&state["objective"]["progress"], 0.25);

    // A backfill older than the current value changes neither the KPI nor the key result.
    record(
        &server,
        &token,
        json!({ "measurements": [{ "kpiExternalKey": "product:wau", "value": "1999", "observedAt": "2026-02-01T00:00:00Z" }] }),
    )
    .await;
    let kpi_now = kpi_state(&server, &owner.token, &kpi).await;
    assert_eq!(kpi_now["latestValue"], "1500");
    assert_eq!(kpi_now["latestObservedAt"], "2026-02-10T00:00:00Z");
    assert_eq!(read(following.clone()).await["currentValue"], "1500");

    // Correcting the newest point moves both.
    record(
        &server,
        &token,
        json!({ "measurements": [{ "kpiExternalKey": "product:wau", "value": "1800", "observedAt": "2026-02-10T00:00:00Z" }] }),
    )
    .await;
    let state = read(following).await;
    assert_eq!(state["currentValue"], "1800");
    crate::fixtures::assert_close(&state["progress"], 0.8);
    crate::fixtures::assert_close(&state["objective"]["progress"], 0.4);
}

#[tokio::test]
async fn check_in_batch_by_external_key() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let token = ingest_token(&server, &owner).await;
    let (_, quarter) = year_and_quarter(&server, &owner).await;
    let objective = create_objective(
        &server,
        &owner,
        json!({ "cycleId": quarter, "title": "Close more deals" }),
    )
    .await;
    create_key_result(
        &server,
        &owner,
        json!({ "objectiveId": objective, "title": "Win 40 deals", "type": "INCREASE_TO", "startValue": "0", "targetValue": "40", "externalKey": "crm:deals-won" }),
    )
    .await;
    create_key_result(
        &server,
        &owner,
        json!({ "objectiveId": objective, "title": "Sign the reseller", "type": "BOOLEAN", "externalKey": "crm:reseller" }),
    )
    .await;
    let input = json!({
        "idempotencyKey": "crm-nightly-2026-02-14",
        "checkIns": [
            { "keyResultExternalKey": "crm:deals-won", "value": "8", "observedAt": "2026-02-07T00:00:00Z", "confidence": 6 },
            { "keyResultExternalKey": "crm:deals-won", "value": "10", "observedAt": "2026-02-14T00:00:00Z" },
            { "keyResultExternalKey": "crm:reseller", "value": "1" },
            { "keyResultExternalKey": "crm:nothing", "value": "1" },
            { "keyResultExternalKey": "crm:reseller", "done": true, "confidence": 11 },
            { "keyResultExternalKey": "crm:reseller", "done": true },
        ],
    });
    let result = server
        .query(&token, RECORD_CHECK_INS, json!({ "input": input.clone() }))
        .await["recordCheckIns"]
        .clone();
    assert_eq!(result["userErrors"], json!([]));
    assert_eq!(result["recordedCount"], 3, "{result}");
    let results = result["results"].as_array().unwrap();
    assert_eq!(results[0]["keyResult"]["currentValue"], "8");
    assert_eq!(results[1]["keyResult"]["currentValue"], "10");
    assert_eq!(results[1]["checkIn"]["source"], "API_TOKEN");
    assert_eq!(
        codes(&results[2]),
        vec![("checkIns.2.value".into(), "INVALID".into())]
    );
    assert_eq!(
        codes(&results[3]),
        vec![("checkIns.3.keyResultExternalKey".into(), "NOT_FOUND".into())]
    );
    assert_eq!(
        codes(&results[4]),
        vec![("checkIns.4.confidence".into(), "OUT_OF_RANGE".into())]
    );
    assert_eq!(results[5]["keyResult"]["currentValue"], "1");
    let progress = server
        .query(
            &owner.token,
            "query($id: ID!) { node(id: $id) { ... on Objective { progress keyResults(first: 10) { nodes { checkIns(first: 10) { totalCount } } } } } }",
            json!({ "id": objective }),
        )
        .await["node"]
        .clone();
    // (10/40 + 1) / 2
    crate::fixtures::assert_close(&progress["progress"], 0.625);

    let replay = server
        .query(&token, RECORD_CHECK_INS, json!({ "input": input }))
        .await["recordCheckIns"]
        .clone();
    assert_eq!(replay["recordedCount"], 3);
    assert!(
        replay["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| !item["checkIn"].is_null())
            .all(|item| item["replayed"] == true)
    );
    assert_eq!(
        replay["results"][0]["checkIn"]["id"],
        result["results"][0]["checkIn"]["id"]
    );
    let counts = server
        .query(
            &owner.token,
            "query($id: ID!) { node(id: $id) { ... on Objective { keyResults(first: 10) { nodes { checkIns(first: 10) { totalCount } } } } } }",
            json!({ "id": objective }),
        )
        .await["node"]["keyResults"]["nodes"]
        .clone();
    assert_eq!(counts[0]["checkIns"]["totalCount"], 2);
    assert_eq!(counts[1]["checkIns"]["totalCount"], 1);
}

#[tokio::test]
async fn kpi_series_by_calendar_interval() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    server
        .mutate(
            &owner.token,
            "updateOrganization",
            "mutation { updateOrganization(input: { timeZone: \"Europe/Berlin\" }) { userErrors { field message code } } }",
            json!({}),
        )
        .await;
    let kpi = create_kpi(
        &server,
        &owner,
        json!({ "name": "Orders", "direction": "HIGHER_IS_BETTER", "targetValue": "10", "warningValue": "5" }),
    )
    .await;
    // 23:30 UTC on Sunday 1 February is Monday 2 February in Berlin, the next ISO week.
    record(
        &server,
        &owner.token,
        json!({ "measurements": [
            { "kpiId": kpi, "value": "4", "observedAt": "2026-01-26T10:00:00Z" },
            { "kpiId": kpi, "value": "8", "observedAt": "2026-01-28T10:00:00Z" },
            { "kpiId": kpi, "value": "6", "observedAt": "2026-02-01T12:00:00Z" },
            { "kpiId": kpi, "value": "12", "observedAt": "2026-02-01T23:30:00Z" },
            { "kpiId": kpi, "value": "9", "observedAt": "2026-02-03T08:00:00Z" },
        ] }),
    )
    .await;
    let series = |interval: &str, aggregation: &str| {
        let server = &server;
        let token = owner.token.clone();
        let kpi = kpi.clone();
        let interval = interval.to_owned();
        let aggregation = aggregation.to_owned();
        async move {
            server
                .query(
                    &token,
                    "query($id: ID!, $interval: SeriesInterval!, $aggregation: SeriesAggregation!) { node(id: $id) { ... on Kpi { series(from: \"2026-01-26T00:00:00Z\", to: \"2026-02-15T23:00:00Z\", interval: $interval, aggregation: $aggregation) { date start end count value last average min max sum health } } } }",
                    json!({ "id": kpi, "interval": interval, "aggregation": aggregation }),
                )
                .await["node"]["series"]
                .clone()
        }
    };
    let weeks = series("WEEK", "AVERAGE").await;
    let weeks = weeks.as_array().unwrap();
    assert_eq!(weeks.len(), 3);
    assert_eq!(weeks[0]["date"], "2026-01-26");
    assert_eq!(weeks[0]["start"], "2026-01-25T23:00:00Z");
    assert_eq!(weeks[0]["count"], 3);
    assert_eq!(weeks[0]["value"], "6");
    assert_eq!(weeks[0]["sum"], "18");
    assert_eq!(weeks[0]["min"], "4");
    assert_eq!(weeks[0]["max"], "8");
    assert_eq!(weeks[0]["last"], "6");
    assert_eq!(weeks[0]["health"], "WARNING");
    assert_eq!(weeks[1]["count"], 2);
    assert_eq!(weeks[1]["value"], "10.5");
    assert_eq!(weeks[1]["health"], "HEALTHY");
    assert_eq!(weeks[2]["count"], 0);
    assert_eq!(weeks[2]["value"], Value::Null);
    assert_eq!(weeks[2]["health"], "NO_DATA");

    let months = series("MONTH", "MAX").await;
    assert_eq!(
        months
            .as_array()
            .unwrap()
            .iter()
            .map(|point| (point["date"].clone(), point["value"].clone()))
            .collect::<Vec<_>>(),
        vec![
            (json!("2026-01-01"), json!("8")),
            (json!("2026-02-01"), json!("12"))
        ]
    );
    let days = series("DAY", "LAST").await;
    assert_eq!(days.as_array().unwrap().len(), 21);

    let (_, body) = server
        .post(
            Some(&owner.token),
            "query($id: ID!) { node(id: $id) { ... on Kpi { series(from: \"2020-01-01T00:00:00Z\", to: \"2026-01-01T00:00:00Z\", interval: DAY) { count } } } }",
            json!({ "id": kpi }),
        )
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("1000 points"), "{message}");
}

/// Reads the types of the organization's events after `after`, in order.
async fn event_types_after(server: &TestServer, owner: &Session, after: i64) -> Vec<String> {
    server
        .store
        .events_after(organization(owner), after, 1_000)
        .await
        .unwrap()
        .iter()
        .map(|event| event.payload.type_name().to_owned())
        .collect()
}

fn count_of(types: &[String], wanted: &str) -> usize {
    types.iter().filter(|kind| kind.as_str() == wanted).count()
}

#[tokio::test]
async fn kpi_measurements_mirrored_as_check_ins() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let token = ingest_token(&server, &owner).await;
    let (_, quarter) = year_and_quarter(&server, &owner).await;
    let kpi = create_kpi(
        &server,
        &owner,
        json!({ "name": "Active users", "externalKey": "product:wau" }),
    )
    .await;
    let objective = create_objective(
        &server,
        &owner,
        json!({ "cycleId": quarter, "title": "Grow usage" }),
    )
    .await;
    let following = create_key_result(
        &server,
        &owner,
        json!({ "objectiveId": objective, "title": "Reach 2,000 weekly users", "type": "INCREASE_TO", "startValue": "1000", "targetValue": "2000", "kpiId": kpi }),
    )
    .await;
    create_key_result(
        &server,
        &owner,
        json!({ "objectiveId": objective, "title": "Ship onboarding", "type": "BOOLEAN" }),
    )
    .await;
    let read = |key_result: String| {
        let server = &server;
        let token = owner.token.clone();
        async move {
            server
                .query(
                    &token,
                    "query($id: ID!) { node(id: $id) { ... on KeyResult { currentValue progress lastCheckIn { id value } objective { progress } checkIns(first: 20) { totalCount nodes { value source observedAt } } progressHistory(from: \"2026-01-19\", to: \"2026-02-10\") { date value progress } } } }",
                    json!({ "id": key_result }),
                )
                .await["node"]
                .clone()
        }
    };
    let check_ins = |state: &Value| -> Vec<(String, String, String)> {
        state["checkIns"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| {
                (
                    node["observedAt"].as_str().unwrap().to_owned(),
                    node["value"].as_str().unwrap().to_owned(),
                    node["source"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let kpi_check_in = |at: &str, value: &str| (at.to_owned(), value.to_owned(), "KPI".to_owned());

    // Three points inside Q1 and one before it: each point inside becomes a check-in, and
    // only the newest moves the current value, to 1500: progress (1500 - 1000) / 1000 = 0.5,
    // and the objective (0.5 + 0) / 2 = 0.25.
    let before = server
        .store
        .latest_event_sequence(organization(&owner))
        .await
        .unwrap();
    let first = record(
        &server,
        &token,
        json!({ "measurements": [
            { "kpiExternalKey": "product:wau", "value": "1900", "observedAt": "2025-12-31T12:00:00Z" },
            { "kpiExternalKey": "product:wau", "value": "1200", "observedAt": "2026-01-20T00:00:00Z" },
            { "kpiExternalKey": "product:wau", "value": "1500", "observedAt": "2026-02-10T00:00:00Z" },
            { "kpiExternalKey": "product:wau", "value": "1400", "observedAt": "2026-02-01T00:00:00Z" },
        ] }),
    )
    .await;
    assert_eq!(first["recordedCount"], 4);
    let state = read(following.clone()).await;
    assert_eq!(state["checkIns"]["totalCount"], 3);
    assert_eq!(
        check_ins(&state),
        vec![
            kpi_check_in("2026-02-10T00:00:00Z", "1500"),
            kpi_check_in("2026-02-01T00:00:00Z", "1400"),
            kpi_check_in("2026-01-20T00:00:00Z", "1200"),
        ]
    );
    assert_eq!(state["currentValue"], "1500");
    crate::fixtures::assert_close(&state["progress"], 0.5);
    crate::fixtures::assert_close(&state["objective"]["progress"], 0.25);
    let history = state["progressHistory"].as_array().unwrap();
    let day = |date: &str| {
        history
            .iter()
            .find(|point| point["date"] == date)
            .unwrap_or_else(|| panic!("no point for {date}"))
            .clone()
    };
    assert_eq!(day("2026-01-19")["value"], "1000");
    assert_eq!(day("2026-01-20")["value"], "1200");
    crate::fixtures::assert_close(&day("2026-01-20")["progress"], 0.2);
    assert_eq!(day("2026-01-31")["value"], "1200");
    assert_eq!(day("2026-02-01")["value"], "1400");
    crate::fixtures::assert_close(&day("2026-02-01")["progress"], 0.4);
    assert_eq!(day("2026-02-10")["value"], "1500");
    let types = event_types_after(&server, &owner, before).await;
    assert_eq!(count_of(&types, "KPI_MEASUREMENT_RECORDED"), 4, "{types:?}");
    assert_eq!(count_of(&types, "CHECK_IN_CREATED"), 1, "{types:?}");
    assert_eq!(
        count_of(&types, "KEY_RESULT_PROGRESS_CHANGED"),
        1,
        "{types:?}"
    );

    // A backfilled point and a replaced older point: the check-in at 2026-02-01 takes the
    // new value in place, one check-in is added at 2026-01-25, and the current value stays.
    let newest_check_in = state["lastCheckIn"]["id"].clone();
    let before = server
        .store
        .latest_event_sequence(organization(&owner))
        .await
        .unwrap();
    let second = record(
        &server,
        &token,
        json!({ "measurements": [
            { "kpiExternalKey": "product:wau", "value": "1250", "observedAt": "2026-01-25T00:00:00Z" },
            { "kpiExternalKey": "product:wau", "value": "1300", "observedAt": "2026-02-01T00:00:00Z" },
        ] }),
    )
    .await;
    assert_eq!(second["results"][1]["replaced"], true);
    let state = read(following.clone()).await;
    assert_eq!(
        check_ins(&state),
        vec![
            kpi_check_in("2026-02-10T00:00:00Z", "1500"),
            kpi_check_in("2026-02-01T00:00:00Z", "1300"),
            kpi_check_in("2026-01-25T00:00:00Z", "1250"),
            kpi_check_in("2026-01-20T00:00:00Z", "1200"),
        ]
    );
    assert_eq!(state["currentValue"], "1500");
    crate::fixtures::assert_close(&state["progress"], 0.5);
    let types = event_types_after(&server, &owner, before).await;
    assert_eq!(
        types,
        ["KPI_MEASUREMENT_RECORDED", "KPI_MEASUREMENT_RECORDED"]
    );

    // Replacing the newest point changes its check-in in place, and the current value and
    // progress follow: (1800 - 1000) / 1000 = 0.8, and the objective 0.8 / 2 = 0.4.
    let before = server
        .store
        .latest_event_sequence(organization(&owner))
        .await
        .unwrap();
    record(
        &server,
        &token,
        json!({ "measurements": [{ "kpiExternalKey": "product:wau", "value": "1800", "observedAt": "2026-02-10T00:00:00Z" }] }),
    )
    .await;
    let state = read(following.clone()).await;
    assert_eq!(state["checkIns"]["totalCount"], 4);
    assert_eq!(state["lastCheckIn"]["id"], newest_check_in);
    assert_eq!(state["lastCheckIn"]["value"], "1800");
    assert_eq!(state["currentValue"], "1800");
    crate::fixtures::assert_close(&state["progress"], 0.8);
    crate::fixtures::assert_close(&state["objective"]["progress"], 0.4);
    let types = event_types_after(&server, &owner, before).await;
    assert_eq!(
        count_of(&types, "KEY_RESULT_PROGRESS_CHANGED"),
        1,
        "{types:?}"
    );
    assert_eq!(count_of(&types, "CHECK_IN_CREATED"), 0, "{types:?}");

    // The same point with the same value again changes nothing.
    let before = server
        .store
        .latest_event_sequence(organization(&owner))
        .await
        .unwrap();
    record(
        &server,
        &token,
        json!({ "measurements": [{ "kpiExternalKey": "product:wau", "value": "1800", "observedAt": "2026-02-10T00:00:00Z" }] }),
    )
    .await;
    assert_eq!(read(following.clone()).await["checkIns"]["totalCount"], 4);
    let types = event_types_after(&server, &owner, before).await;
    assert_eq!(types, ["KPI_MEASUREMENT_RECORDED"]);

    // A key result linked later takes every point of its cycle at once.
    let later = create_key_result(
        &server,
        &owner,
        json!({ "objectiveId": objective, "title": "Keep 1,500 weekly users", "type": "STAY_AT_OR_ABOVE", "startValue": "1000", "targetValue": "1500", "kpiId": kpi }),
    )
    .await;
    let state = read(later).await;
    assert_eq!(
        check_ins(&state),
        vec![
            kpi_check_in("2026-02-10T00:00:00Z", "1800"),
            kpi_check_in("2026-02-01T00:00:00Z", "1300"),
            kpi_check_in("2026-01-25T00:00:00Z", "1250"),
            kpi_check_in("2026-01-20T00:00:00Z", "1200"),
        ]
    );
    assert_eq!(state["currentValue"], "1800");
    crate::fixtures::assert_close(&state["progress"], 1.0);
}

#[tokio::test]
async fn manual_check_in_outranks_kpi_backfill() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let (_, quarter) = year_and_quarter(&server, &owner).await;
    let kpi = create_kpi(&server, &owner, json!({ "name": "Signups" })).await;
    let objective = create_objective(
        &server,
        &owner,
        json!({ "cycleId": quarter, "title": "Grow signups" }),
    )
    .await;
    let following = create_key_result(
        &server,
        &owner,
        json!({ "objectiveId": objective, "title": "Reach 100 signups", "type": "INCREASE_TO", "startValue": "0", "targetValue": "100", "kpiId": kpi }),
    )
    .await;
    record(
        &server,
        &owner.token,
        json!({ "measurements": [{ "kpiId": kpi, "value": "40", "observedAt": "2026-02-01T00:00:00Z" }] }),
    )
    .await;
    // A manual check-in observed later than every point sets the current value, 60.
    let manual = crate::fixtures::check_in(
        &server,
        &owner,
        json!({ "keyResultId": following, "value": "60", "observedAt": "2026-02-05T00:00:00Z" }),
    )
    .await;
    assert_eq!(manual["keyResult"]["currentValue"], "60");

    // Points older than the manual check-in, new or replaced, leave the current value at 60.
    record(
        &server,
        &owner.token,
        json!({ "measurements": [
            { "kpiId": kpi, "value": "45", "observedAt": "2026-02-01T00:00:00Z" },
            { "kpiId": kpi, "value": "50", "observedAt": "2026-02-04T00:00:00Z" },
        ] }),
    )
    .await;
    let state = server
        .query(
            &owner.token,
            "query($id: ID!) { node(id: $id) { ... on KeyResult { currentValue progress checkIns(first: 10) { totalCount nodes { value source } } } } }",
            json!({ "id": following }),
        )
        .await["node"]
        .clone();
    assert_eq!(state["currentValue"], "60");
    crate::fixtures::assert_close(&state["progress"], 0.6);
    assert_eq!(
        state["checkIns"]["nodes"],
        json!([
            { "value": "60", "source": "USER" },
            { "value": "50", "source": "KPI" },
            { "value": "45", "source": "KPI" },
        ])
    );

    // A newer point takes over: 70 / 100.
    record(
        &server,
        &owner.token,
        json!({ "measurements": [{ "kpiId": kpi, "value": "70", "observedAt": "2026-02-06T00:00:00Z" }] }),
    )
    .await;
    let state = server
        .query(
            &owner.token,
            "query($id: ID!) { node(id: $id) { ... on KeyResult { currentValue progress } } }",
            json!({ "id": following }),
        )
        .await["node"]
        .clone();
    assert_eq!(state["currentValue"], "70");
    crate::fixtures::assert_close(&state["progress"], 0.7);
}

#[tokio::test]
async fn batch_key_reused_by_item() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let token = ingest_token(&server, &owner).await;
    let (_, quarter) = year_and_quarter(&server, &owner).await;
    create_kpi(
        &server,
        &owner,
        json!({ "name": "Pipeline", "externalKey": "pipeline" }),
    )
    .await;
    let objective = create_objective(
        &server,
        &owner,
        json!({ "cycleId": quarter, "title": "Close more deals" }),
    )
    .await;
    create_key_result(
        &server,
        &owner,
        json!({ "objectiveId": objective, "title": "Win 40 deals", "type": "INCREASE_TO", "startValue": "0", "targetValue": "40", "externalKey": "crm:deals-won" }),
    )
    .await;

    // The item that repeats the batch's key is rejected; the other item is stored.
    let batch = json!({
        "idempotencyKey": "k-same",
        "measurements": [
            { "kpiExternalKey": "pipeline", "value": "10", "observedAt": "2026-02-01T00:00:00Z", "idempotencyKey": "k-same" },
            { "kpiExternalKey": "pipeline", "value": "11", "observedAt": "2026-02-02T00:00:00Z" },
        ],
    });
    let first = record(&server, &token, batch.clone()).await;
    assert_eq!(first["userErrors"], json!([]));
    assert_eq!(first["recordedCount"], 1);
    assert_eq!(
        codes(&first["results"][0]),
        vec![(
            "measurements.0.idempotencyKey".into(),
            "IDEMPOTENCY_KEY_REUSED".into()
        )]
    );
    let message = first["results"][0]["userErrors"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("\"k-same\""), "{message}");
    assert!(message.contains("batch"), "{message}");
    // A retry replays the first result.
    let retried = record(&server, &token, batch).await;
    assert_eq!(retried["recordedCount"], 1);
    assert_eq!(codes(&retried["results"][0]), codes(&first["results"][0]));
    assert_eq!(retried["results"][1]["replayed"], true);

    // The same for check-ins.
    let check_ins = json!({
        "idempotencyKey": "c-same",
        "checkIns": [
            { "keyResultExternalKey": "crm:deals-won", "value": "8", "observedAt": "2026-02-07T00:00:00Z", "idempotencyKey": "c-same" },
            { "keyResultExternalKey": "crm:deals-won", "value": "9", "observedAt": "2026-02-08T00:00:00Z" },
        ],
    });
    let first = server
        .query(
            &token,
            RECORD_CHECK_INS,
            json!({ "input": check_ins.clone() }),
        )
        .await["recordCheckIns"]
        .clone();
    assert_eq!(first["userErrors"], json!([]));
    assert_eq!(first["recordedCount"], 1);
    assert_eq!(
        codes(&first["results"][0]),
        vec![(
            "checkIns.0.idempotencyKey".into(),
            "IDEMPOTENCY_KEY_REUSED".into()
        )]
    );
    assert_eq!(first["results"][1]["keyResult"]["currentValue"], "9");
    let retried = server
        .query(&token, RECORD_CHECK_INS, json!({ "input": check_ins }))
        .await["recordCheckIns"]
        .clone();
    assert_eq!(retried["recordedCount"], 1);
    assert_eq!(retried["results"][1]["replayed"], true);

    // Two check-ins of one batch with one key: the same input repeats the first result,
    // and another input with that key is rejected.
    let twice = server
        .query(
            &token,
            RECORD_CHECK_INS,
            json!({ "input": { "checkIns": [
                { "keyResultExternalKey": "crm:deals-won", "value": "12", "observedAt": "2026-02-10T00:00:00Z", "idempotencyKey": "deal-12" },
                { "keyResultExternalKey": "crm:deals-won", "value": "12", "observedAt": "2026-02-10T00:00:00Z", "idempotencyKey": "deal-12" },
                { "keyResultExternalKey": "crm:deals-won", "value": "13", "observedAt": "2026-02-10T00:00:00Z", "idempotencyKey": "deal-12" },
            ] } }),
        )
        .await["recordCheckIns"]
        .clone();
    assert_eq!(twice["userErrors"], json!([]));
    assert_eq!(twice["recordedCount"], 2);
    assert_eq!(twice["results"][0]["replayed"], false);
    assert_eq!(twice["results"][1]["replayed"], true);
    assert_eq!(
        twice["results"][0]["checkIn"]["id"],
        twice["results"][1]["checkIn"]["id"]
    );
    assert_eq!(
        codes(&twice["results"][2]),
        vec![(
            "checkIns.2.idempotencyKey".into(),
            "IDEMPOTENCY_KEY_REUSED".into()
        )]
    );
    let count = server
        .query(
            &owner.token,
            "query($id: ID!) { node(id: $id) { ... on Objective { keyResults { nodes { currentValue checkIns { totalCount } } } } } }",
            json!({ "id": objective }),
        )
        .await["node"]["keyResults"]["nodes"][0]
        .clone();
    // 9 and 12: the rejected items wrote nothing.
    assert_eq!(count["checkIns"]["totalCount"], 2);
    assert_eq!(count["currentValue"], "12");
}
