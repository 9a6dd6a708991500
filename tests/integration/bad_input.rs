//! Bad input gets a clear error that names the field and the rule; nothing is written and
//! the server keeps answering.

use crate::fixtures::{check_in, create_key_result, create_objective, year_and_quarter};
use headway_tests::{Session, TestServer};
use serde_json::{Value, json};

const CREATE_OBJECTIVE: &str = "mutation($input: CreateObjectiveInput!) { createObjective(input: $input) { objective { id } userErrors { field message code } } }";
const CREATE_KEY_RESULT: &str = "mutation($input: CreateKeyResultInput!) { createKeyResult(input: $input) { keyResult { id } userErrors { field message code } } }";
const CREATE_CHECK_IN: &str = "mutation($input: CreateCheckInInput!) { createCheckIn(input: $input) { checkIn { id } userErrors { field message code } } }";
const CREATE_CYCLE: &str = "mutation($input: CreateCycleInput!) { createCycle(input: $input) { cycle { id } userErrors { field message code } } }";

/// Runs a mutation that must be rejected with exactly one user error, and returns it.
async fn rejected(
    server: &TestServer,
    session: &Session,
    field: &str,
    query: &str,
    input: Value,
) -> Value {
    let data = server
        .query(&session.token, query, json!({ "input": input }))
        .await;
    let payload = &data[field];
    let errors = payload["userErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{payload}");
    assert!(
        payload
            .as_object()
            .unwrap()
            .iter()
            .all(|(key, value)| key == "userErrors" || value.is_null()),
        "{payload}"
    );
    errors[0].clone()
}

/// Sends a request that must fail before execution, and returns its first error message.
async fn request_error(
    server: &TestServer,
    session: &Session,
    query: &str,
    variables: Value,
) -> String {
    let (status, body) = server.post(Some(&session.token), query, variables).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"].is_null(), "{body}");
    body["errors"][0]["message"].as_str().unwrap().to_owned()
}

async fn count_objectives(server: &TestServer, session: &Session) -> i64 {
    let data = server
        .query(&session.token, "{ objectives { totalCount } }", json!({}))
        .await;
    data["objectives"]["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn malformed_and_foreign_ids() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let bob = server.sign_up("bob").await;
    let (_, bobs_quarter) = year_and_quarter(&server, &bob).await;

    let error = rejected(
        &server,
        &ada,
        "createObjective",
        CREATE_OBJECTIVE,
        json!({ "cycleId": "nope", "title": "T" }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "cycleId"]));
    assert_eq!(error["code"], "INVALID_FORMAT");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("\"nope\" is not a valid Cycle id")
    );

    let error = rejected(
        &server,
        &ada,
        "createObjective",
        CREATE_OBJECTIVE,
        json!({ "cycleId": ada.user_id, "title": "T" }),
    )
    .await;
    assert_eq!(error["code"], "INVALID_FORMAT");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("is the id of a User, not of a Cycle")
    );

    // Another organization's cycle reads exactly like one that does not exist.
    let foreign = rejected(
        &server,
        &ada,
        "createObjective",
        CREATE_OBJECTIVE,
        json!({ "cycleId": bobs_quarter, "title": "T" }),
    )
    .await;
    let random = rejected(
        &server,
        &ada,
        "createObjective",
        CREATE_OBJECTIVE,
        json!({ "cycleId": "cyc_0190f2e1c7a97b3e8b5f000000000000", "title": "T" }),
    )
    .await;
    assert_eq!(foreign, random);
    assert_eq!(foreign["code"], "NOT_FOUND");
    assert_eq!(count_objectives(&server, &ada).await, 0);

    let (status, body) = server
        .post(
            Some(&ada.token),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": bobs_quarter }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["node"], Value::Null);
    let (_, body) = server
        .post(
            Some(&ada.token),
            "{ node(id: \"garbage\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn numbers_that_are_not_exact_decimals() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Grow" }),
    )
    .await;

    for (value, expected) in [
        (json!("NaN"), "\"NaN\" is not a decimal number"),
        (json!("Infinity"), "\"Infinity\" is not a decimal number"),
        (json!("-Infinity"), "\"-Infinity\" is not a decimal number"),
        (json!("1e5"), "\"1e5\" is not a decimal number"),
        (json!(0.1), "floating-point number"),
        (
            json!("123456789012345678901234567890123"),
            "28 significant digits",
        ),
    ] {
        let error = rejected(
            &server,
            &ada,
            "createKeyResult",
            CREATE_KEY_RESULT,
            json!({ "objectiveId": objective, "title": "T", "type": "INCREASE_TO", "startValue": "0", "targetValue": value }),
        )
        .await;
        assert_eq!(error["field"], json!(["input", "targetValue"]), "{value}");
        assert!(
            error["message"].as_str().unwrap().contains(expected),
            "{value}: {error}"
        );
    }

    let error = rejected(
        &server,
        &ada,
        "createKeyResult",
        CREATE_KEY_RESULT,
        json!({ "objectiveId": objective, "title": "T", "type": "INCREASE_TO", "startValue": "0", "targetValue": "12345678901234567890" }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "targetValue"]));
    assert_eq!(error["code"], "OUT_OF_RANGE");
    assert!(error["message"].as_str().unwrap().contains("10^15"));

    // A JSON number beyond the float range is not valid JSON for the server: 400.
    let response = server
        .client
        .post(&server.url)
        .bearer_auth(&ada.token)
        .header("content-type", "application/json")
        .body(r#"{"query":"{ __typename }","variables":{"x":1e999}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    let data = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { ... on Objective { keyResults { totalCount } } } }",
            json!({ "id": objective }),
        )
        .await;
    assert_eq!(
        data["node"]["keyResults"]["totalCount"], 0,
        "nothing written"
    );
}

#[tokio::test]
async fn texts_blank_and_too_long() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;

    let error = rejected(
        &server,
        &ada,
        "createObjective",
        CREATE_OBJECTIVE,
        json!({ "cycleId": quarter, "title": "   " }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "title"]));
    assert_eq!(error["code"], "BLANK");

    let megabyte = "x".repeat(1_000_000);
    let error = rejected(
        &server,
        &ada,
        "createObjective",
        CREATE_OBJECTIVE,
        json!({ "cycleId": quarter, "title": megabyte }),
    )
    .await;
    assert_eq!(error["code"], "TOO_LONG");
    assert_eq!(
        error["message"],
        "is 1000000 characters long; the maximum is 200"
    );

    let error = rejected(
        &server,
        &ada,
        "createObjective",
        CREATE_OBJECTIVE,
        json!({ "cycleId": quarter, "title": "Fine", "description": "y".repeat(10_001) }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "description"]));
    assert_eq!(error["code"], "TOO_LONG");
    assert_eq!(count_objectives(&server, &ada).await, 0);
}

#[tokio::test]
async fn several_field_errors_at_once() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let data = server
        .query(
            &ada.token,
            CREATE_OBJECTIVE,
            json!({ "input": { "cycleId": "bad", "title": "", "weight": "-1" } }),
        )
        .await;
    let fields: Vec<Value> = data["createObjective"]["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].clone())
        .collect();
    assert_eq!(
        fields,
        vec![
            json!(["input", "cycleId"]),
            json!(["input", "title"]),
            json!(["input", "weight"])
        ]
    );
}

#[tokio::test]
async fn cycle_dates() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;

    let error = rejected(
        &server,
        &ada,
        "createCycle",
        CREATE_CYCLE,
        json!({ "name": "Backwards", "startDate": "2026-04-01", "endDate": "2026-03-31" }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "endDate"]));
    assert_eq!(error["code"], "INVALID");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("before the start date 2026-04-01")
    );

    let error = rejected(
        &server,
        &ada,
        "createCycle",
        CREATE_CYCLE,
        json!({ "name": "Ancient", "startDate": "0999-01-01", "endDate": "2026-03-31" }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "startDate"]));
    assert_eq!(error["code"], "OUT_OF_RANGE");

    let error = rejected(
        &server,
        &ada,
        "createCycle",
        CREATE_CYCLE,
        json!({ "name": "Bad", "startDate": "2026-02-30", "endDate": "2026-03-31" }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "startDate"]));
    assert_eq!(
        error["message"],
        "\"2026-02-30\" is not a date; write it as YYYY-MM-DD"
    );

    let (year, _) = year_and_quarter(&server, &ada).await;
    let error = rejected(
        &server,
        &ada,
        "createCycle",
        CREATE_CYCLE,
        json!({ "name": "Spill", "startDate": "2026-12-01", "endDate": "2027-02-28", "parentId": year }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "parentId"]));

    let data = server
        .query(&ada.token, "{ cycles { totalCount } }", json!({}))
        .await;
    assert_eq!(
        data["cycles"]["totalCount"], 2,
        "only the fixture's cycles exist"
    );
}

#[tokio::test]
async fn unknown_enum_values() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Grow" }),
    )
    .await;
    let message = request_error(
        &server,
        &ada,
        CREATE_KEY_RESULT,
        json!({ "input": { "objectiveId": objective, "title": "T", "type": "SIDEWAYS", "targetValue": "1" } }),
    )
    .await;
    assert!(message.contains("SIDEWAYS"), "{message}");
    assert!(message.contains("KeyResultType"), "{message}");
}

#[tokio::test]
async fn key_result_definitions() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Grow" }),
    )
    .await;
    for (input, field, fragment) in [
        (
            json!({ "type": "INCREASE_TO", "startValue": "5", "targetValue": "5" }),
            "targetValue",
            "must differ from the start value 5",
        ),
        (
            json!({ "type": "INCREASE_TO", "startValue": "5", "targetValue": "1" }),
            "targetValue",
            "use DECREASE_TO",
        ),
        (
            json!({ "type": "DECREASE_TO", "startValue": "1", "targetValue": "5" }),
            "targetValue",
            "use INCREASE_TO",
        ),
        (
            json!({ "type": "INCREASE_TO", "targetValue": "5" }),
            "startValue",
            "is required for INCREASE_TO",
        ),
        (
            json!({ "type": "BOOLEAN", "targetValue": "1" }),
            "targetValue",
            "must be left out for BOOLEAN",
        ),
        (
            json!({ "type": "INCREASE_TO", "startValue": "0", "targetValue": "5", "weight": "-1" }),
            "weight",
            "negative",
        ),
        (
            json!({ "type": "INCREASE_TO", "startValue": "0", "targetValue": "5", "unit": "CURRENCY" }),
            "currencyCode",
            "required",
        ),
        (
            json!({ "type": "INCREASE_TO", "startValue": "0", "targetValue": "5", "unit": "CURRENCY", "currencyCode": "euro" }),
            "currencyCode",
            "ISO 4217",
        ),
    ] {
        let mut input = input;
        input["objectiveId"] = json!(objective);
        input["title"] = json!("Key result");
        let error = rejected(
            &server,
            &ada,
            "createKeyResult",
            CREATE_KEY_RESULT,
            input.clone(),
        )
        .await;
        assert_eq!(error["field"], json!(["input", field]), "{input}");
        assert!(
            error["message"].as_str().unwrap().contains(fragment),
            "{input}: {error}"
        );
    }
}

#[tokio::test]
async fn check_ins_where_they_are_not_allowed() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Grow" }),
    )
    .await;
    let active = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": objective, "title": "Active", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" }),
    )
    .await;
    let archived = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": objective, "title": "Archived", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" }),
    )
    .await;
    server
        .mutate(
            &ada.token,
            "archiveKeyResult",
            "mutation($id: ID!) { archiveKeyResult(input: { id: $id }) { keyResult { archivedAt } userErrors { field message code } } }",
            json!({ "id": archived }),
        )
        .await;

    let error = rejected(
        &server,
        &ada,
        "createCheckIn",
        CREATE_CHECK_IN,
        json!({ "keyResultId": archived, "value": "3" }),
    )
    .await;
    assert_eq!(error["code"], "ARCHIVED");
    assert_eq!(error["field"], json!(["input", "keyResultId"]));

    let error = rejected(
        &server,
        &ada,
        "createCheckIn",
        CREATE_CHECK_IN,
        json!({ "keyResultId": active, "done": true }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "done"]));

    let error = rejected(
        &server,
        &ada,
        "createCheckIn",
        CREATE_CHECK_IN,
        json!({ "keyResultId": active, "value": "3", "confidence": 11 }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "confidence"]));
    assert_eq!(
        error["message"],
        "11 is out of range; confidence runs from 0 to 10"
    );

    let error = rejected(
        &server,
        &ada,
        "createCheckIn",
        CREATE_CHECK_IN,
        json!({ "keyResultId": active, "value": "3", "observedAt": "2030-01-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "observedAt"]));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("is in the future")
    );

    server
        .mutate(
            &ada.token,
            "closeCycle",
            "mutation($id: ID!) { closeCycle(input: { id: $id }) { cycle { state } userErrors { field message code } } }",
            json!({ "id": quarter }),
        )
        .await;
    let error = rejected(
        &server,
        &ada,
        "createCheckIn",
        CREATE_CHECK_IN,
        json!({ "keyResultId": active, "value": "3" }),
    )
    .await;
    assert_eq!(error["code"], "CYCLE_CLOSED");

    let data = server
        .query(&ada.token, "query($id: ID!) { node(id: $id) { ... on KeyResult { checkIns { totalCount } currentValue } } }", json!({ "id": active }))
        .await;
    assert_eq!(data["node"]["checkIns"]["totalCount"], 0, "nothing written");
    assert_eq!(data["node"]["currentValue"], "0");

    // After a reopen, check-ins are accepted again.
    server
        .mutate(
            &ada.token,
            "reopenCycle",
            "mutation($id: ID!) { reopenCycle(input: { id: $id }) { cycle { state } userErrors { field message code } } }",
            json!({ "id": quarter }),
        )
        .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": active, "value": "3" }),
    )
    .await;
}

#[tokio::test]
async fn check_in_errors_name_external_key() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Grow" }),
    )
    .await;
    let archived = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": objective, "title": "Archived", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10", "externalKey": "crm:archived" }),
    )
    .await;
    create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": objective, "title": "Active", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10", "externalKey": "crm:active" }),
    )
    .await;
    server
        .mutate(
            &ada.token,
            "archiveKeyResult",
            "mutation($id: ID!) { archiveKeyResult(input: { id: $id }) { keyResult { archivedAt } userErrors { field message code } } }",
            json!({ "id": archived }),
        )
        .await;
    let batch = |key: &str| {
        let server = &server;
        let token = ada.token.clone();
        let key = key.to_owned();
        async move {
            server
                .query(
                    &token,
                    "mutation($input: RecordCheckInsInput!) { recordCheckIns(input: $input) { recordedCount results { userErrors { field message code } } userErrors { field message code } } }",
                    json!({ "input": { "checkIns": [{ "keyResultExternalKey": key, "value": "3" }] } }),
                )
                .await["recordCheckIns"]
                .clone()
        }
    };

    // An archived key result, addressed by external key, alone and in a batch.
    let error = rejected(
        &server,
        &ada,
        "createCheckIn",
        CREATE_CHECK_IN,
        json!({ "keyResultExternalKey": "crm:archived", "value": "3" }),
    )
    .await;
    assert_eq!(error["code"], "ARCHIVED");
    assert_eq!(error["field"], json!(["input", "keyResultExternalKey"]));
    let result = batch("crm:archived").await;
    assert_eq!(result["recordedCount"], 0);
    let error = &result["results"][0]["userErrors"][0];
    assert_eq!(error["code"], "ARCHIVED");
    assert_eq!(
        error["field"],
        json!(["input", "checkIns", "0", "keyResultExternalKey"])
    );

    // A closed cycle, the same way; by id the error stays on keyResultId.
    server
        .mutate(
            &ada.token,
            "closeCycle",
            "mutation($id: ID!) { closeCycle(input: { id: $id }) { cycle { state } userErrors { field message code } } }",
            json!({ "id": quarter }),
        )
        .await;
    let error = rejected(
        &server,
        &ada,
        "createCheckIn",
        CREATE_CHECK_IN,
        json!({ "keyResultExternalKey": "crm:active", "value": "3" }),
    )
    .await;
    assert_eq!(error["code"], "CYCLE_CLOSED");
    assert_eq!(error["field"], json!(["input", "keyResultExternalKey"]));
    let result = batch("crm:active").await;
    let error = &result["results"][0]["userErrors"][0];
    assert_eq!(error["code"], "CYCLE_CLOSED");
    assert_eq!(
        error["field"],
        json!(["input", "checkIns", "0", "keyResultExternalKey"])
    );
    let error = rejected(
        &server,
        &ada,
        "createCheckIn",
        CREATE_CHECK_IN,
        json!({ "keyResultId": archived, "value": "3" }),
    )
    .await;
    assert_eq!(error["field"], json!(["input", "keyResultId"]));
}

#[tokio::test]
async fn alignment_cycles_rejected() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let top = create_objective(&server, &ada, json!({ "cycleId": quarter, "title": "Top" })).await;
    let middle = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Middle", "parentId": top }),
    )
    .await;
    let bottom = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Bottom", "parentId": middle }),
    )
    .await;
    let data = server
        .query(
            &ada.token,
            "mutation($id: ID!, $parent: ID!) { updateObjective(input: { id: $id, parentId: $parent }) { objective { id } userErrors { field message code } } }",
            json!({ "id": top, "parent": bottom }),
        )
        .await;
    let error = &data["updateObjective"]["userErrors"][0];
    assert_eq!(error["code"], "ALIGNMENT_CYCLE");
    assert_eq!(error["field"], json!(["input", "parentId"]));
    let data = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { ... on Objective { parent { id } } } }",
            json!({ "id": top }),
        )
        .await;
    assert_eq!(data["node"]["parent"], Value::Null);
}

#[tokio::test]
async fn server_answers_after_bad_input() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    for body in [
        "{",
        "[]",
        "{\"query\": 5}",
        "\"just a string\"",
        "{\"query\": \"{ __typename \"}",
    ] {
        let response = server
            .client
            .post(&server.url)
            .bearer_auth(&ada.token)
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{body}");
        let json: Value = response.json().await.unwrap();
        assert!(json["errors"][0]["message"].is_string(), "{body}: {json}");
    }
    let (status, body) = server
        .post(Some(&ada.token), "{ __typename }", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn null_for_uncleared_field_rejected() {
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
        json!({ "objectiveId": objective, "title": "Calls", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" }),
    )
    .await;
    let team = server
        .mutate(
            &ada.token,
            "createTeam",
            "mutation { createTeam(input: { name: \"Sales\" }) { team { id } userErrors { field message code } } }",
            json!({}),
        )
        .await["team"]["id"]
        .clone();
    let kpi = server
        .mutate(
            &ada.token,
            "createKpi",
            "mutation { createKpi(input: { name: \"NPS\", direction: HIGHER_IS_BETTER }) { kpi { id } userErrors { field message code } } }",
            json!({}),
        )
        .await["kpi"]["id"]
        .clone();
    let cases = [
        (
            "updateObjective",
            "UpdateObjectiveInput",
            json!(objective),
            "title",
        ),
        (
            "updateObjective",
            "UpdateObjectiveInput",
            json!(objective),
            "kind",
        ),
        (
            "updateObjective",
            "UpdateObjectiveInput",
            json!(objective),
            "state",
        ),
        (
            "updateObjective",
            "UpdateObjectiveInput",
            json!(objective),
            "progressSource",
        ),
        (
            "updateObjective",
            "UpdateObjectiveInput",
            json!(objective),
            "weight",
        ),
        (
            "updateKeyResult",
            "UpdateKeyResultInput",
            json!(key_result),
            "title",
        ),
        (
            "updateKeyResult",
            "UpdateKeyResultInput",
            json!(key_result),
            "type",
        ),
        (
            "updateKeyResult",
            "UpdateKeyResultInput",
            json!(key_result),
            "startValue",
        ),
        (
            "updateKeyResult",
            "UpdateKeyResultInput",
            json!(key_result),
            "targetValue",
        ),
        (
            "updateKeyResult",
            "UpdateKeyResultInput",
            json!(key_result),
            "unit",
        ),
        (
            "updateKeyResult",
            "UpdateKeyResultInput",
            json!(key_result),
            "weight",
        ),
        ("updateTeam", "UpdateTeamInput", team.clone(), "name"),
        ("updateCycle", "UpdateCycleInput", json!(quarter), "name"),
        (
            "updateCycle",
            "UpdateCycleInput",
            json!(quarter),
            "startDate",
        ),
        ("updateCycle", "UpdateCycleInput", json!(quarter), "endDate"),
        ("updateKpi", "UpdateKpiInput", kpi.clone(), "name"),
        ("updateKpi", "UpdateKpiInput", kpi.clone(), "unit"),
        ("updateKpi", "UpdateKpiInput", kpi.clone(), "direction"),
        ("updateKpi", "UpdateKpiInput", kpi.clone(), "frequency"),
    ];
    for (mutation, input_type, id, field) in &cases {
        let query = format!(
            "mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ userErrors {{ field message code }} }} }}"
        );
        let mut input = json!({ "id": id });
        input[*field] = Value::Null;
        let data = server
            .query(&ada.token, &query, json!({ "input": input }))
            .await;
        let errors = &data[*mutation]["userErrors"];
        assert_eq!(
            errors[0]["field"],
            json!(["input", field]),
            "{mutation}: {errors}"
        );
        assert_eq!(errors[0]["code"], "INVALID", "{mutation}.{field}");
        let message = errors[0]["message"].as_str().unwrap();
        assert!(message.contains("cannot be cleared"), "{message}");
        assert!(message.contains(field), "{message}");
    }

    // Nothing was written: every record is at its first version with only its create entry.
    let version_query = "query($id: ID!) { node(id: $id) { ... on Objective { version } ... on KeyResult { version } ... on Team { version } ... on Cycle { version } ... on Kpi { version } } }";
    let audit_query = "query($id: ID!) { auditEntries(filter: { recordId: $id }) { totalCount } }";
    for id in [
        json!(objective),
        json!(key_result),
        team,
        json!(quarter),
        kpi,
    ] {
        let data = server
            .query(&ada.token, version_query, json!({ "id": id }))
            .await;
        assert_eq!(data["node"]["version"], 1, "{id}");
        let audit = server
            .query(&ada.token, audit_query, json!({ "id": id }))
            .await;
        assert_eq!(audit["auditEntries"]["totalCount"], 1, "{id}");
    }

    let data = server
        .query(
            &ada.token,
            "mutation { updateOrganization(input: { timeZone: null }) { organization { version } userErrors { field message code } } }",
            json!({}),
        )
        .await;
    let error = &data["updateOrganization"]["userErrors"][0];
    assert_eq!(error["field"], json!(["input", "timeZone"]));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("cannot be cleared"),
        "{error}"
    );
}

#[tokio::test]
async fn currency_code_outside_iso_4217_rejected() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Grow" }),
    )
    .await;
    let data = server
        .query(
            &ada.token,
            CREATE_KEY_RESULT,
            json!({ "input": { "objectiveId": objective, "title": "Revenue", "type": "INCREASE_TO", "startValue": "0", "targetValue": "5", "unit": "CURRENCY", "currencyCode": "XXQ" } }),
        )
        .await;
    assert_eq!(data["createKeyResult"]["keyResult"], Value::Null);
    let error = &data["createKeyResult"]["userErrors"][0];
    assert_eq!(error["field"], json!(["input", "currencyCode"]));
    assert_eq!(error["code"], "INVALID_FORMAT");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("\"XXQ\""), "{message}");
    assert!(message.contains("ISO 4217"), "{message}");

    let data = server
        .query(
            &ada.token,
            "mutation { createKpi(input: { name: \"Revenue\", direction: HIGHER_IS_BETTER, unit: CURRENCY, currencyCode: \"XXQ\" }) { kpi { id } userErrors { field message code } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["createKpi"]["kpi"], Value::Null);
    let error = &data["createKpi"]["userErrors"][0];
    assert_eq!(error["field"], json!(["input", "currencyCode"]));
    assert!(
        error["message"].as_str().unwrap().contains("\"XXQ\""),
        "{error}"
    );

    // A listed code is accepted.
    let data = server
        .query(
            &ada.token,
            CREATE_KEY_RESULT,
            json!({ "input": { "objectiveId": objective, "title": "Revenue", "type": "INCREASE_TO", "startValue": "0", "targetValue": "5", "unit": "CURRENCY", "currencyCode": "CHF" } }),
        )
        .await;
    assert_eq!(data["createKeyResult"]["userErrors"], json!([]));
}
