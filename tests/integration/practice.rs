//! Running a quarter: what needs attention, cycle summaries, progress history, rollover,
//! restructuring, limits and the activity feed, each with hand-worked figures.
//!
//! The server's clock reads 2026-02-15T12:00Z. Q1 2026 runs from 1 January 00:00 to
//! 1 April 00:00 UTC, 90 days, so 45.5 days have passed: expected progress is 45.5 / 90 =
//! 0.50556, AT_RISK starts below 0.7 * 0.50556 = 0.35389 and OFF_TRACK below
//! 0.4 * 0.50556 = 0.20222.

use crate::fixtures::{
    assert_close, check_in, create_cycle, create_key_result, create_objective, create_team,
    year_and_quarter,
};
use headway_tests::{Session, TestServer};
use serde_json::{Value, json};

fn increase(objective: &str, title: &str, target: &str, extra: Value) -> Value {
    let mut input = json!({ "objectiveId": objective, "title": title, "type": "INCREASE_TO", "startValue": "0", "targetValue": target });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    input
}

async fn objective_state(server: &TestServer, session: &Session, id: &str) -> Value {
    server
        .query(
            &session.token,
            "query($id: ID!) { node(id: $id) { ... on Objective { id title state progress cycle { id } parent { id } copiedFrom { id } keyResults(first: 20) { nodes { id title currentValue startValue targetValue externalKey checkIns { totalCount } } } } } }",
            json!({ "id": id }),
        )
        .await["node"]
        .clone()
}

fn ids_and_reasons(items: &Value) -> Vec<(String, Vec<String>)> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["keyResult"]["id"].as_str().unwrap().to_owned(),
                item["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|reason| reason.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn reasons(list: &[&str]) -> Vec<String> {
    list.iter().map(|reason| (*reason).to_owned()).collect()
}

#[tokio::test]
async fn attention_and_cycle_summary() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let bob = server.add_member(&ada, "bob", "MEMBER").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let sales = create_team(&server, &ada, json!({ "name": "Sales" })).await;
    let emea = create_team(&server, &ada, json!({ "name": "EMEA", "parentId": sales })).await;

    // Bob's objective: 50 %, 10 % and stale with confidence 2, never checked in, 30 %.
    let mine = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Bob's objective", "ownerId": bob.user_id }),
    )
    .await;
    let on_track = create_key_result(
        &server,
        &ada,
        increase(&mine, "On track", "100", json!({ "ownerId": bob.user_id })),
    )
    .await;
    let stale = create_key_result(
        &server,
        &ada,
        increase(&mine, "Stale", "10", json!({ "ownerId": bob.user_id })),
    )
    .await;
    let untouched = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": mine, "title": "Untouched", "type": "BOOLEAN" }),
    )
    .await;
    let at_risk = create_key_result(
        &server,
        &ada,
        increase(&mine, "At risk", "10", json!({ "ownerId": bob.user_id })),
    )
    .await;
    check_in(
        &server,
        &bob,
        json!({ "keyResultId": on_track, "value": "50", "observedAt": "2026-02-14T09:00:00Z" }),
    )
    .await;
    check_in(&server, &bob, json!({ "keyResultId": stale, "value": "1", "observedAt": "2026-02-01T09:00:00Z", "confidence": 2 })).await;
    check_in(&server, &bob, json!({ "keyResultId": at_risk, "value": "3", "observedAt": "2026-02-14T09:00:00Z", "confidence": 8 })).await;

    // An EMEA objective at (0.8 + 0) / 2 = 0.4, and a Sales draft that counts nowhere.
    let team_objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "EMEA objective", "teamId": emea }),
    )
    .await;
    let strong = create_key_result(
        &server,
        &ada,
        increase(&team_objective, "Strong", "10", json!({})),
    )
    .await;
    let fresh = create_key_result(
        &server,
        &ada,
        increase(&team_objective, "Fresh", "10", json!({})),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": strong, "value": "8", "observedAt": "2026-02-14T09:00:00Z" }),
    )
    .await;
    let draft = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Draft", "teamId": sales, "state": "DRAFT" }),
    )
    .await;
    create_key_result(&server, &ada, increase(&draft, "Drafted", "10", json!({}))).await;

    let attention = "query($owner: ID, $team: ID) { needsAttention(ownerId: $owner, teamId: $team) { keyResult { id } reasons } }";
    let expected = vec![
        (untouched.clone(), reasons(&["OFF_TRACK", "NO_CHECK_IN"])),
        (
            stale.clone(),
            reasons(&["OFF_TRACK", "STALE", "LOW_CONFIDENCE"]),
        ),
        (at_risk.clone(), reasons(&["AT_RISK"])),
    ];
    // The unowned BOOLEAN key result is Bob's through his objective.
    let data = server
        .query(&ada.token, attention, json!({ "owner": bob.user_id }))
        .await;
    assert_eq!(ids_and_reasons(&data["needsAttention"]), expected);
    let data = server.query(&bob.token, attention, json!({})).await;
    assert_eq!(
        ids_and_reasons(&data["needsAttention"]),
        expected,
        "the viewer's own"
    );
    let data = server
        .query(&ada.token, attention, json!({ "team": sales }))
        .await;
    assert_eq!(
        ids_and_reasons(&data["needsAttention"]),
        vec![(fresh.clone(), reasons(&["OFF_TRACK", "NO_CHECK_IN"]))],
        "EMEA is below Sales; the draft does not count"
    );

    let summary = "query($cycle: ID!, $team: ID) { cycleSummary(cycleId: $cycle, teamId: $team) { team { name } objectiveCount keyResultCount averageProgress expectedProgress objectivesByPaceStatus { onTrack atRisk offTrack } keyResultsByPaceStatus { onTrack atRisk offTrack } objectivesByScoreBand { green yellow red } staleKeyResults keyResultsWithoutCheckIn successfulObjectives } }";
    let data = server
        .query(&ada.token, summary, json!({ "cycle": quarter }))
        .await["cycleSummary"]
        .clone();
    // Bob's objective: (0.5 + 0.1 + 0 + 0.3) / 4 = 0.225, AT_RISK; EMEA's 0.4, ON_TRACK.
    assert_eq!(data["objectiveCount"], 2);
    assert_eq!(data["keyResultCount"], 6);
    assert_close(&data["averageProgress"], (0.225 + 0.4) / 2.0);
    assert_close(&data["expectedProgress"], 45.5 / 90.0);
    assert_eq!(
        data["objectivesByPaceStatus"],
        json!({ "onTrack": 1, "atRisk": 1, "offTrack": 0 })
    );
    assert_eq!(
        data["keyResultsByPaceStatus"],
        json!({ "onTrack": 2, "atRisk": 1, "offTrack": 3 })
    );
    assert_eq!(
        data["objectivesByScoreBand"],
        json!({ "green": 0, "yellow": 1, "red": 1 })
    );
    assert_eq!(
        data["staleKeyResults"], 1,
        "only the key result last checked in on 1 February"
    );
    assert_eq!(data["keyResultsWithoutCheckIn"], 2);
    assert_eq!(data["successfulObjectives"], Value::Null);
    assert_eq!(data["team"], Value::Null);

    let data = server
        .query(
            &ada.token,
            summary,
            json!({ "cycle": quarter, "team": sales }),
        )
        .await["cycleSummary"]
        .clone();
    assert_eq!(data["team"]["name"], "Sales");
    assert_eq!(data["objectiveCount"], 1);
    assert_eq!(data["keyResultCount"], 2);
    assert_close(&data["averageProgress"], 0.4);

    // Bad arguments name themselves and their limit.
    let (_, body) = server
        .post(
            Some(&ada.token),
            "{ needsAttention(first: 500) { reasons } }",
            json!({}),
        )
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("first:") && message.contains("100"),
        "{message}"
    );
}

#[tokio::test]
async fn progress_history_by_day() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (year, quarter) = year_and_quarter(&server, &ada).await;
    let yearly = create_objective(
        &server,
        &ada,
        json!({ "cycleId": year, "title": "Yearly", "progressSource": "CHILD_OBJECTIVES" }),
    )
    .await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Quarterly", "parentId": yearly }),
    )
    .await;
    let tens =
        create_key_result(&server, &ada, increase(&objective, "Tens", "10", json!({}))).await;
    let fours =
        create_key_result(&server, &ada, increase(&objective, "Fours", "4", json!({}))).await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": tens, "value": "2", "observedAt": "2026-02-02T10:00:00Z" }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": tens, "value": "5", "observedAt": "2026-02-04T10:00:00Z" }),
    )
    .await;
    // A backfill for 3 February, sent last.
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": tens, "value": "4", "observedAt": "2026-02-03T10:00:00Z" }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": fours, "value": "4", "observedAt": "2026-02-03T20:00:00Z" }),
    )
    .await;

    let history = |id: &str, fields: &str| {
        let server = &server;
        let token = ada.token.clone();
        let query = format!(
            "query($id: ID!) {{ node(id: $id) {{ ... on KeyResult {{ progressHistory(from: \"2026-02-01\", to: \"2026-02-05\") {{ {fields} }} }} ... on Objective {{ progressHistory(from: \"2026-02-01\", to: \"2026-02-05\") {{ {fields} }} }} }} }}"
        );
        let id = id.to_owned();
        async move {
            server.query(&token, &query, json!({ "id": id })).await["node"]["progressHistory"]
                .clone()
        }
    };
    let points = history(&tens, "date value progress").await;
    let values: Vec<&str> = points
        .as_array()
        .unwrap()
        .iter()
        .map(|point| point["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["0", "2", "4", "5", "5"]);
    assert_eq!(points[0]["date"], "2026-02-01");
    assert_close(&points[2]["progress"], 0.4);

    // The objective: Feb 1 0; Feb 2 (0.2 + 0) / 2 = 0.1; Feb 3 (0.4 + 1) / 2 = 0.7;
    // Feb 4 and 5 (0.5 + 1) / 2 = 0.75. The yearly objective follows its one child.
    for id in [&objective, &yearly] {
        let points = history(id, "date progress value").await;
        let progress: Vec<f64> = points
            .as_array()
            .unwrap()
            .iter()
            .map(|point| point["progress"].as_f64().unwrap())
            .collect();
        for (actual, expected) in progress.iter().zip([0.0, 0.1, 0.7, 0.75, 0.75]) {
            assert!((actual - expected).abs() < 1e-9, "{progress:?}");
        }
        assert_eq!(points[0]["value"], Value::Null);
    }

    // Without a range, the history runs from the cycle's start to today: 1 January to
    // 15 February is 46 days.
    let points = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { ... on Objective { progressHistory { date progress } } } }",
            json!({ "id": objective }),
        )
        .await["node"]["progressHistory"]
        .clone();
    assert_eq!(points.as_array().unwrap().len(), 46);
    assert_close(&points[45]["progress"], 0.75);

    let (_, body) = server
        .post(
            Some(&ada.token),
            "query($id: ID!) { node(id: $id) { ... on KeyResult { progressHistory(from: \"2026-02-05\", to: \"2026-02-01\") { date } } } }",
            json!({ "id": tens }),
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("to:"),
        "{body}"
    );
}

#[tokio::test]
async fn rollover_keeps_the_alignment_of_an_aligned_tree() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (year, quarter) = year_and_quarter(&server, &ada).await;
    let next = create_cycle(
        &server,
        &ada,
        json!({ "name": "Q2 2026", "startDate": "2026-04-01", "endDate": "2026-06-30", "parentId": year }),
    )
    .await;
    let yearly = create_objective(
        &server,
        &ada,
        json!({ "cycleId": year, "title": "Yearly", "progressSource": "CHILD_OBJECTIVES" }),
    )
    .await;
    let top = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Top", "parentId": yearly }),
    )
    .await;
    let below = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Below", "parentId": top }),
    )
    .await;
    let done = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Done", "parentId": top }),
    )
    .await;
    let top_key_result =
        create_key_result(&server, &ada, increase(&top, "Half way", "10", json!({}))).await;
    let below_key_result = create_key_result(
        &server,
        &ada,
        increase(
            &below,
            "Fed by the CRM",
            "10",
            json!({ "externalKey": "crm:deals" }),
        ),
    )
    .await;
    let done_key_result =
        create_key_result(&server, &ada, increase(&done, "Reached", "10", json!({}))).await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": top_key_result, "value": "5" }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": below_key_result, "value": "2" }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": done_key_result, "value": "10" }),
    )
    .await;
    let yearly_before = objective_state(&server, &ada, &yearly).await["progress"].clone();

    let rollover = "mutation($input: RolloverObjectivesInput!) { rolloverObjectives(input: $input) { copies { source { id } copy { id title state progress parent { id } cycle { id } copiedFrom { id } } } skipped { objective { id } reason } keyResultCount userErrors { field message code } warnings { message } } }";
    let input =
        json!({ "sourceCycleId": quarter, "targetCycleId": next, "transferExternalKeys": true });
    let data = server
        .mutate(
            &ada.token,
            "rolloverObjectives",
            rollover,
            json!({ "input": input.clone() }),
        )
        .await;
    let copies = data["copies"].as_array().unwrap();
    assert_eq!(copies.len(), 2);
    assert_eq!(copies[0]["source"]["id"], top);
    assert_eq!(copies[1]["source"]["id"], below);
    let top_copy = copies[0]["copy"]["id"].as_str().unwrap().to_owned();
    let below_copy = copies[1]["copy"]["id"].as_str().unwrap().to_owned();
    for copy in copies {
        assert_eq!(copy["copy"]["state"], "DRAFT");
        assert_eq!(copy["copy"]["progress"], 0.0);
        assert_eq!(copy["copy"]["cycle"]["id"], next);
        assert_eq!(copy["copy"]["copiedFrom"]["id"], copy["source"]["id"]);
    }
    // The top copy stays aligned to the yearly objective; the one below it to its copy.
    assert_eq!(copies[0]["copy"]["parent"]["id"], yearly);
    assert_eq!(copies[1]["copy"]["parent"]["id"], top_copy);
    assert_eq!(
        data["skipped"],
        json!([{ "objective": { "id": done }, "reason": "FINISHED" }])
    );
    assert_eq!(data["keyResultCount"], 2);

    // Key results come over at their start values without check-ins; the external key moves.
    let copied = objective_state(&server, &ada, &below_copy).await;
    let key_result = &copied["keyResults"]["nodes"][0];
    assert_eq!(key_result["currentValue"], "0");
    assert_eq!(key_result["checkIns"]["totalCount"], 0);
    assert_eq!(key_result["externalKey"], "crm:deals");
    let original = objective_state(&server, &ada, &below).await;
    assert_eq!(
        original["keyResults"]["nodes"][0]["externalKey"],
        Value::Null
    );
    assert_eq!(original["keyResults"]["nodes"][0]["currentValue"], "2");
    // Drafts do not count, so the yearly objective did not move.
    assert_eq!(
        objective_state(&server, &ada, &yearly).await["progress"],
        yearly_before
    );

    // Running it again copies nothing twice.
    let again = server
        .mutate(
            &ada.token,
            "rolloverObjectives",
            rollover,
            json!({ "input": input }),
        )
        .await;
    assert_eq!(again["copies"], json!([]));
    let skipped: Vec<(String, String)> = again["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["objective"]["id"].as_str().unwrap().to_owned(),
                item["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        vec![
            (top.clone(), "ALREADY_COPIED".to_owned()),
            (below.clone(), "ALREADY_COPIED".to_owned()),
            (done.clone(), "FINISHED".to_owned()),
        ]
    );
    // The finished one on request, aligned to the earlier copy of its parent.
    let finished = server
        .mutate(
            &ada.token,
            "rolloverObjectives",
            rollover,
            json!({ "input": { "sourceCycleId": quarter, "targetCycleId": next, "objectiveIds": [done], "includeFinished": true } }),
        )
        .await;
    assert_eq!(finished["copies"][0]["copy"]["parent"]["id"], top_copy);

    // Bad targets are named.
    let data = server
        .query(
            &ada.token,
            rollover,
            json!({ "input": { "sourceCycleId": quarter, "targetCycleId": quarter } }),
        )
        .await["rolloverObjectives"]
        .clone();
    assert_eq!(
        data["userErrors"][0]["field"],
        json!(["input", "targetCycleId"])
    );
    assert_eq!(data["userErrors"][0]["code"], "INVALID");
    let data = server
        .query(
            &ada.token,
            rollover,
            json!({ "input": { "sourceCycleId": quarter, "targetCycleId": next, "objectiveIds": [yearly] } }),
        )
        .await["rolloverObjectives"]
        .clone();
    assert_eq!(
        data["userErrors"][0]["field"],
        json!(["input", "objectiveIds", "0"])
    );
    assert_eq!(data["userErrors"][0]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn moving_duplicating_and_limits() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (year, quarter) = year_and_quarter(&server, &ada).await;
    let first = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "First", "ownerId": ada.user_id }),
    )
    .await;
    let second = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Second" }),
    )
    .await;
    let half = create_key_result(&server, &ada, increase(&first, "Half", "10", json!({}))).await;
    let nothing =
        create_key_result(&server, &ada, increase(&first, "Nothing", "10", json!({}))).await;
    let full = create_key_result(&server, &ada, increase(&second, "Full", "10", json!({}))).await;
    check_in(&server, &ada, json!({ "keyResultId": half, "value": "5" })).await;
    check_in(&server, &ada, json!({ "keyResultId": full, "value": "10" })).await;
    assert_close(
        &objective_state(&server, &ada, &first).await["progress"],
        0.25,
    );
    assert_close(
        &objective_state(&server, &ada, &second).await["progress"],
        1.0,
    );

    // Moving "Nothing" leaves First at 0.5 and brings Second to (1 + 0) / 2 = 0.5.
    let move_key_result = "mutation($id: ID!, $objective: ID!, $version: Int) { moveKeyResult(input: { id: $id, objectiveId: $objective, expectedVersion: $version }) { keyResult { objective { id } version } userErrors { field message code } warnings { code } } }";
    let moved = server
        .mutate(
            &ada.token,
            "moveKeyResult",
            move_key_result,
            json!({ "id": nothing, "objective": second, "version": 1 }),
        )
        .await;
    assert_eq!(moved["keyResult"]["objective"]["id"], second);
    assert_close(
        &objective_state(&server, &ada, &first).await["progress"],
        0.5,
    );
    assert_close(
        &objective_state(&server, &ada, &second).await["progress"],
        0.5,
    );
    for (variables, field, code) in [
        (
            json!({ "id": nothing, "objective": second, "version": 1 }),
            "expectedVersion",
            "CONFLICT",
        ),
        (
            json!({ "id": nothing, "objective": second }),
            "objectiveId",
            "INVALID",
        ),
    ] {
        let data =
            server.query(&ada.token, move_key_result, variables).await["moveKeyResult"].clone();
        assert_eq!(data["userErrors"][0]["code"], code, "{data}");
        assert_eq!(data["userErrors"][0]["field"], json!(["input", field]));
    }
    let yearly =
        create_objective(&server, &ada, json!({ "cycleId": year, "title": "Yearly" })).await;
    let data = server
        .query(
            &ada.token,
            move_key_result,
            json!({ "id": nothing, "objective": yearly }),
        )
        .await["moveKeyResult"]
        .clone();
    assert_eq!(data["userErrors"][0]["code"], "INVALID");
    assert!(
        data["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cycle")
    );

    // A duplicate is a draft with the key results at their start values.
    let duplicate = "mutation($id: ID!, $title: String, $cycle: ID) { duplicateObjective(input: { id: $id, title: $title, cycleId: $cycle }) { objective { id title state progress copiedFrom { id } keyResults { nodes { title currentValue } } } userErrors { field message code } warnings { code message } } }";
    let copy = server
        .mutate(
            &ada.token,
            "duplicateObjective",
            duplicate,
            json!({ "id": first, "title": "First, again" }),
        )
        .await;
    assert_eq!(copy["objective"]["title"], "First, again");
    assert_eq!(copy["objective"]["state"], "DRAFT");
    assert_eq!(copy["objective"]["copiedFrom"]["id"], first);
    assert_eq!(
        copy["objective"]["keyResults"]["nodes"],
        json!([{ "title": "Half", "currentValue": "0" }])
    );

    // Objectives per owner per cycle: a warning, then a rejection when enforced.
    server
        .mutate(
            &ada.token,
            "updateOrganization",
            "mutation { updateOrganization(input: { objectiveLimit: 3 }) { organization { id } userErrors { field message code } } }",
            json!({}),
        )
        .await;
    let create = "mutation($input: CreateObjectiveInput!) { createObjective(input: $input) { objective { id } warnings { field code message } userErrors { field code message } } }";
    let input = json!({ "input": { "cycleId": quarter, "title": "Third of Ada's", "ownerId": ada.user_id } });
    let data = server.query(&ada.token, create, input.clone()).await["createObjective"].clone();
    assert_eq!(
        data["warnings"],
        json!([]),
        "First, its duplicate and this one make three"
    );
    let data = server.query(&ada.token, create, input.clone()).await["createObjective"].clone();
    assert_eq!(data["warnings"][0]["code"], "LIMIT_EXCEEDED");
    assert!(
        data["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("limit is 3")
    );
    assert!(data["objective"]["id"].is_string());
    server
        .mutate(
            &ada.token,
            "updateOrganization",
            "mutation { updateOrganization(input: { enforceLimits: true }) { organization { id } userErrors { field message code } } }",
            json!({}),
        )
        .await;
    let data = server.query(&ada.token, create, input).await["createObjective"].clone();
    assert_eq!(data["userErrors"][0]["code"], "LIMIT_EXCEEDED");
    assert_eq!(data["objective"], Value::Null);
    let data = server
        .query(&ada.token, duplicate, json!({ "id": first }))
        .await["duplicateObjective"]
        .clone();
    assert_eq!(data["userErrors"][0]["code"], "LIMIT_EXCEEDED", "{data}");

    // Nothing goes into a closed cycle.
    server
        .mutate(
            &ada.token,
            "closeCycle",
            "mutation($id: ID!) { closeCycle(input: { id: $id }) { userErrors { field message code } } }",
            json!({ "id": quarter }),
        )
        .await;
    let data = server
        .query(
            &ada.token,
            duplicate,
            json!({ "id": yearly, "cycle": quarter }),
        )
        .await["duplicateObjective"]
        .clone();
    assert_eq!(data["userErrors"][0]["code"], "CYCLE_CLOSED");
    let late = "mutation($id: ID!) { createCheckIn(input: { keyResultId: $id, value: \"6\" }) { keyResult { currentValue } userErrors { field message code } } }";
    let data = server.query(&ada.token, late, json!({ "id": half })).await["createCheckIn"].clone();
    assert_eq!(data["userErrors"][0]["code"], "CYCLE_CLOSED");

    // Reopened, the cycle takes check-ins again.
    server
        .mutate(
            &ada.token,
            "reopenCycle",
            "mutation($id: ID!) { reopenCycle(input: { id: $id }) { userErrors { field message code } } }",
            json!({ "id": quarter }),
        )
        .await;
    let data = server
        .mutate(&ada.token, "createCheckIn", late, json!({ "id": half }))
        .await;
    assert_eq!(data["keyResult"]["currentValue"], "6");
}

#[tokio::test]
async fn activity_feed_pages_and_outlives_the_outbox() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let team = create_team(&server, &ada, json!({ "name": "Platform" })).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Faster builds", "teamId": team }),
    )
    .await;
    let other = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Elsewhere" }),
    )
    .await;
    let key_result = create_key_result(
        &server,
        &ada,
        increase(&objective, "Build minutes", "10", json!({})),
    )
    .await;
    let elsewhere = create_key_result(
        &server,
        &ada,
        increase(&other, "Unrelated", "10", json!({})),
    )
    .await;
    // 6 of 10 crosses 25 % and 50 %: one check-in and two milestones.
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": key_result, "value": "6" }),
    )
    .await;
    server
        .mutate(
            &ada.token,
            "createComment",
            "mutation($id: ID!) { createComment(input: { subjectId: $id, body: \"Cache hits doubled\" }) { comment { id } userErrors { field message code } } }",
            json!({ "id": objective }),
        )
        .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": elsewhere, "value": "1" }),
    )
    .await;

    let feed = "query($id: ID!, $types: [ActivityEventType!], $after: String) { node(id: $id) { ... on Objective { activity(types: $types, first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { type milestonePercent comment { body } checkIn { value } keyResult { id } } } } } }";
    let page = server
        .query(&ada.token, feed, json!({ "id": objective }))
        .await["node"]["activity"]
        .clone();
    assert_eq!(page["totalCount"], 4);
    assert_eq!(page["nodes"][0]["type"], "COMMENT_CREATED", "newest first");
    assert_eq!(page["nodes"][0]["comment"]["body"], "Cache hits doubled");
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let rest = server
        .query(
            &ada.token,
            feed,
            json!({ "id": objective, "after": page["pageInfo"]["endCursor"] }),
        )
        .await["node"]["activity"]
        .clone();
    let mut types: Vec<String> = page["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["nodes"].as_array().unwrap())
        .map(|node| node["type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "CHECK_IN_CREATED",
            "COMMENT_CREATED",
            "MILESTONE_REACHED",
            "MILESTONE_REACHED"
        ]
    );
    let milestones = server
        .query(
            &ada.token,
            feed,
            json!({ "id": objective, "types": ["MILESTONE_REACHED"] }),
        )
        .await["node"]["activity"]
        .clone();
    let mut percents: Vec<i64> = milestones["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["milestonePercent"].as_i64().unwrap())
        .collect();
    percents.sort_unstable();
    assert_eq!(percents, [25, 50]);

    // The team's feed has its objective's activity and nothing of the other objective.
    let team_feed = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { ... on Team { activity { totalCount } } } }",
            json!({ "id": team }),
        )
        .await;
    assert_eq!(team_feed["node"]["activity"]["totalCount"], 4);
    let everything = "{ activity(first: 100) { totalCount } }";
    assert_eq!(
        server.query(&ada.token, everything, json!({})).await["activity"]["totalCount"],
        5
    );

    // The outbox deletes events after its retention, and the feed keeps them.
    let pruned = server
        .store
        .prune_events(server.store.now() + chrono::Duration::days(1))
        .await
        .unwrap();
    assert!(pruned > 0);
    assert_eq!(
        server.query(&ada.token, everything, json!({})).await["activity"]["totalCount"],
        5
    );
}
