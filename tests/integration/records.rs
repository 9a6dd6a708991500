//! Creating, changing, archiving and listing every kind of record.

use crate::fixtures::{
    assert_close, check_in, create_cycle, create_key_result, create_kpi, create_objective,
    create_team, year_and_quarter,
};
use headway_tests::TestServer;
use serde_json::{Value, json};

#[tokio::test]
async fn objectives_filtered_and_aligned() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let grace = server.add_member(&ada, "grace", "MEMBER").await;
    let (year, quarter) = year_and_quarter(&server, &ada).await;
    let sales = create_team(
        &server,
        &ada,
        json!({ "name": "Sales", "externalKey": "sales" }),
    )
    .await;
    let company = create_objective(
        &server,
        &ada,
        json!({ "cycleId": year, "title": "Company", "progressSource": "CHILD_OBJECTIVES" }),
    )
    .await;
    let team = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Team", "parentId": company, "teamId": sales, "ownerId": grace.user_id }),
    )
    .await;
    let leaf = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Leaf", "parentId": team, "state": "DRAFT" }),
    )
    .await;

    let titles = |data: &Value| -> Vec<String> {
        data["objectives"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| node["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let query = "query($filter: ObjectiveFilterInput) { objectives(filter: $filter) { totalCount nodes { title } } }";
    let data = server
        .query(
            &ada.token,
            query,
            json!({ "filter": { "cycleId": quarter } }),
        )
        .await;
    assert_eq!(titles(&data), ["Team", "Leaf"]);
    let data = server
        .query(&ada.token, query, json!({ "filter": { "teamId": sales } }))
        .await;
    assert_eq!(titles(&data), ["Team"]);
    let data = server
        .query(
            &ada.token,
            query,
            json!({ "filter": { "ownerId": grace.user_id } }),
        )
        .await;
    assert_eq!(titles(&data), ["Team"]);
    let data = server
        .query(&ada.token, query, json!({ "filter": { "state": "DRAFT" } }))
        .await;
    assert_eq!(titles(&data), ["Leaf"]);
    let data = server
        .query(
            &ada.token,
            query,
            json!({ "filter": { "rootsOnly": true } }),
        )
        .await;
    assert_eq!(titles(&data), ["Company"]);
    let data = server
        .query(
            &ada.token,
            query,
            json!({ "filter": { "parentId": company } }),
        )
        .await;
    assert_eq!(titles(&data), ["Team"]);

    let data = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { ... on Objective { ancestors { title } parent { title } children { totalCount nodes { title state } } team { name externalKey } owner { name } cycle { name parent { name } } } } }",
            json!({ "id": team }),
        )
        .await;
    let node = &data["node"];
    assert_eq!(node["ancestors"], json!([{ "title": "Company" }]));
    assert_eq!(
        node["children"]["nodes"],
        json!([{ "title": "Leaf", "state": "DRAFT" }])
    );
    assert_eq!(
        node["team"],
        json!({ "name": "Sales", "externalKey": "sales" })
    );
    assert_eq!(node["owner"]["name"], "grace");
    assert_eq!(
        node["cycle"],
        json!({ "name": "Q1 2026", "parent": { "name": "2026" } })
    );
    let data = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { ... on Objective { ancestors { title } } } }",
            json!({ "id": leaf }),
        )
        .await;
    assert_eq!(
        data["node"]["ancestors"],
        json!([{ "title": "Team" }, { "title": "Company" }])
    );
}

#[tokio::test]
async fn pages_walk_forward_and_back() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    for index in 0..5 {
        create_objective(
            &server,
            &ada,
            json!({ "cycleId": quarter, "title": format!("O{index}") }),
        )
        .await;
    }
    let query = "query($first: Int, $after: String, $last: Int, $before: String) { objectives(first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { title } } } }";
    let page = server.query(&ada.token, query, json!({ "first": 2 })).await;
    let connection = &page["objectives"];
    assert_eq!(connection["totalCount"], 5);
    assert_eq!(connection["edges"][1]["node"]["title"], "O1");
    assert_eq!(connection["pageInfo"]["hasNextPage"], true);
    assert_eq!(connection["pageInfo"]["hasPreviousPage"], false);
    let end = connection["pageInfo"]["endCursor"].clone();
    let page = server
        .query(&ada.token, query, json!({ "first": 10, "after": end }))
        .await;
    let connection = &page["objectives"];
    assert_eq!(connection["edges"].as_array().unwrap().len(), 3);
    assert_eq!(connection["edges"][0]["node"]["title"], "O2");
    assert_eq!(connection["pageInfo"]["hasNextPage"], false);
    assert_eq!(connection["pageInfo"]["hasPreviousPage"], true);
    let start = connection["pageInfo"]["startCursor"].clone();
    let page = server
        .query(&ada.token, query, json!({ "last": 1, "before": start }))
        .await;
    assert_eq!(page["objectives"]["edges"][0]["node"]["title"], "O1");
    assert_eq!(page["objectives"]["pageInfo"]["hasPreviousPage"], true);

    let (_, body) = server
        .post(Some(&ada.token), query, json!({ "first": 101 }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1 to 100")
    );
    let (_, body) = server
        .post(
            Some(&ada.token),
            query,
            json!({ "first": 1, "after": "bogus" }),
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("after:")
    );
}

#[tokio::test]
async fn key_result_changes_recompute_progress() {
    let server = TestServer::start().await;
    server.clock.set("2026-02-15T00:00:00Z".parse().unwrap());
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Grow" }),
    )
    .await;
    let first = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": objective, "title": "A", "type": "INCREASE_TO", "startValue": "0", "targetValue": "100" }),
    )
    .await;
    let second = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": objective, "title": "B", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": first, "value": "50" }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": second, "value": "10" }),
    )
    .await;
    let progress = |id: String| {
        let server = &server;
        let token = ada.token.clone();
        async move {
            server
                .query(&token, "query($id: ID!) { node(id: $id) { ... on Objective { progress } ... on KeyResult { progress } } }", json!({ "id": id }))
                .await["node"]["progress"]
                .clone()
        }
    };
    // (0.5 + 1) / 2 = 0.75
    assert_close(&progress(objective.clone()).await, 0.75);

    // A target of 200 halves the first key result: (0.25 + 1) / 2 = 0.625.
    let update = "mutation($input: UpdateKeyResultInput!) { updateKeyResult(input: $input) { keyResult { progress targetValue version } userErrors { field message code } } }";
    let payload = server
        .mutate(
            &ada.token,
            "updateKeyResult",
            update,
            json!({ "input": { "id": first, "targetValue": "200" } }),
        )
        .await;
    assert_close(&payload["keyResult"]["progress"], 0.25);
    assert_close(&progress(objective.clone()).await, 0.625);

    // Weight 3 on the first: (3 x 0.25 + 1) / 4 = 0.4375.
    server
        .mutate(
            &ada.token,
            "updateKeyResult",
            update,
            json!({ "input": { "id": first, "weight": "3" } }),
        )
        .await;
    assert_close(&progress(objective.clone()).await, 0.4375);

    // The type cannot change after check-ins.
    let data = server
        .query(
            &ada.token,
            update,
            json!({ "input": { "id": first, "type": "BOOLEAN" } }),
        )
        .await;
    assert_eq!(
        data["updateKeyResult"]["userErrors"][0]["field"],
        json!(["input", "type"])
    );

    // Archiving the second leaves only the first: 0.25.
    server
        .mutate(
            &ada.token,
            "archiveKeyResult",
            "mutation($id: ID!) { archiveKeyResult(input: { id: $id }) { keyResult { id } userErrors { field message code } } }",
            json!({ "id": second }),
        )
        .await;
    assert_close(&progress(objective.clone()).await, 0.25);

    // Switching the objective to child objectives with no children gives 0.
    server
        .mutate(
            &ada.token,
            "updateObjective",
            "mutation($id: ID!) { updateObjective(input: { id: $id, progressSource: CHILD_OBJECTIVES }) { objective { progress } userErrors { field message code } } }",
            json!({ "id": objective }),
        )
        .await;
    assert_close(&progress(objective.clone()).await, 0.0);
}

#[tokio::test]
async fn moving_an_objective_updates_both_parents() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (year, quarter) = year_and_quarter(&server, &ada).await;
    let first_parent = create_objective(
        &server,
        &ada,
        json!({ "cycleId": year, "title": "P1", "progressSource": "CHILD_OBJECTIVES" }),
    )
    .await;
    let second_parent = create_objective(
        &server,
        &ada,
        json!({ "cycleId": year, "title": "P2", "progressSource": "CHILD_OBJECTIVES" }),
    )
    .await;
    let child = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Child", "parentId": first_parent }),
    )
    .await;
    let key_result = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": child, "title": "Done", "type": "BOOLEAN" }),
    )
    .await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": key_result, "done": true }),
    )
    .await;
    let progress_of = |id: String| {
        let server = &server;
        let token = ada.token.clone();
        async move {
            server
                .query(
                    &token,
                    "query($id: ID!) { node(id: $id) { ... on Objective { progress } } }",
                    json!({ "id": id }),
                )
                .await["node"]["progress"]
                .clone()
        }
    };
    assert_close(&progress_of(first_parent.clone()).await, 1.0);
    server
        .mutate(
            &ada.token,
            "updateObjective",
            "mutation($id: ID!, $parent: ID!) { updateObjective(input: { id: $id, parentId: $parent }) { objective { id } userErrors { field message code } } }",
            json!({ "id": child, "parent": second_parent }),
        )
        .await;
    assert_close(&progress_of(first_parent.clone()).await, 0.0);
    assert_close(&progress_of(second_parent.clone()).await, 1.0);

    server
        .mutate(
            &ada.token,
            "archiveObjective",
            "mutation($id: ID!) { archiveObjective(input: { id: $id }) { objective { state } userErrors { field message code } } }",
            json!({ "id": child }),
        )
        .await;
    assert_close(&progress_of(second_parent.clone()).await, 0.0);
}

#[tokio::test]
async fn cycle_close_freezes_scores() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let committed = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Committed" }),
    )
    .await;
    let stretch = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Stretch", "kind": "ASPIRATIONAL" }),
    )
    .await;
    let first = create_key_result(&server, &ada, json!({ "objectiveId": committed, "title": "A", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" })).await;
    let second = create_key_result(&server, &ada, json!({ "objectiveId": stretch, "title": "B", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" })).await;
    check_in(&server, &ada, json!({ "keyResultId": first, "value": "8" })).await;
    check_in(
        &server,
        &ada,
        json!({ "keyResultId": second, "value": "3" }),
    )
    .await;
    // An owner grades the second key result 0.75 instead of its progress 0.3.
    server
        .mutate(
            &ada.token,
            "updateKeyResult",
            "mutation($id: ID!) { updateKeyResult(input: { id: $id, manualGrade: \"0.75\", gradeNote: \"Blocked by a vendor, work done\" }) { keyResult { manualGrade } userErrors { field message code } } }",
            json!({ "id": second }),
        )
        .await;
    server
        .mutate(
            &ada.token,
            "closeCycle",
            "mutation($id: ID!) { closeCycle(input: { id: $id }) { cycle { state } userErrors { field message code } } }",
            json!({ "id": quarter }),
        )
        .await;
    let query = "query($id: ID!) { node(id: $id) { ... on Objective { score scoreBand successful keyResults { nodes { score scoreBand } } } } }";
    let data = server
        .query(&ada.token, query, json!({ "id": committed }))
        .await;
    assert_close(&data["node"]["score"], 0.8);
    assert_eq!(data["node"]["scoreBand"], "GREEN");
    assert_eq!(data["node"]["successful"], false, "COMMITTED needs 1.0");
    let data = server
        .query(&ada.token, query, json!({ "id": stretch }))
        .await;
    assert_close(&data["node"]["score"], 0.75);
    assert_eq!(data["node"]["successful"], true, "ASPIRATIONAL needs 0.7");
    let summary = server
        .query(
            &ada.token,
            "query($id: ID!) { cycleSummary(cycleId: $id) { successfulObjectives objectivesByScoreBand { green yellow red } } }",
            json!({ "id": quarter }),
        )
        .await["cycleSummary"]
        .clone();
    assert_eq!(summary["successfulObjectives"], 1);
    assert_eq!(
        summary["objectivesByScoreBand"],
        json!({ "green": 2, "yellow": 0, "red": 0 }),
        "by the frozen scores 0.8 and 0.75"
    );

    let data = server
        .query(
            &ada.token,
            "mutation($id: ID!) { closeCycle(input: { id: $id }) { userErrors { field code } } }",
            json!({ "id": quarter }),
        )
        .await;
    assert_eq!(
        data["closeCycle"]["userErrors"][0]["code"],
        "INVALID_TRANSITION"
    );

    server
        .mutate(
            &ada.token,
            "reopenCycle",
            "mutation($id: ID!) { reopenCycle(input: { id: $id }) { cycle { state } userErrors { field message code } } }",
            json!({ "id": quarter }),
        )
        .await;
    let data = server
        .query(&ada.token, query, json!({ "id": committed }))
        .await;
    assert_eq!(data["node"]["score"], Value::Null);
}

#[tokio::test]
async fn teams_kpis_comments_and_members() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let grace = server.add_member(&ada, "grace", "ADMIN").await;
    let company = create_team(&server, &ada, json!({ "name": "Company" })).await;
    let sales = create_team(
        &server,
        &ada,
        json!({ "name": "Sales", "parentId": company }),
    )
    .await;
    server
        .mutate(
            &ada.token,
            "addTeamMember",
            "mutation($team: ID!, $user: ID!) { addTeamMember(input: { teamId: $team, userId: $user }) { team { id } userErrors { field message code } } }",
            json!({ "team": sales, "user": grace.user_id }),
        )
        .await;
    let data = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { ... on Team { name parent { name } members { name teams { name } } } } teams(rootsOnly: true) { nodes { name children { name } } } }",
            json!({ "id": sales }),
        )
        .await;
    assert_eq!(data["node"]["parent"]["name"], "Company");
    assert_eq!(
        data["node"]["members"],
        json!([{ "name": "grace", "teams": [{ "name": "Sales" }] }])
    );
    assert_eq!(
        data["teams"]["nodes"],
        json!([{ "name": "Company", "children": [{ "name": "Sales" }] }])
    );

    let data = server
        .query(&ada.token, "mutation($id: ID!) { archiveTeam(input: { id: $id }) { userErrors { message code } } }", json!({ "id": company }))
        .await;
    assert_eq!(data["archiveTeam"]["userErrors"][0]["code"], "INVALID");

    let kpi = create_kpi(&server, &grace, json!({ "name": "NPS", "direction": "WITHIN_RANGE", "rangeLow": "40", "rangeHigh": "60", "warningMargin": "5", "teamId": sales })).await;
    let payload = server
        .mutate(
            &grace.token,
            "updateKpi",
            "mutation($id: ID!) { updateKpi(input: { id: $id, direction: HIGHER_IS_BETTER, targetValue: \"50\" }) { kpi { direction targetValue rangeLow health version } userErrors { field message code } } }",
            json!({ "id": kpi }),
        )
        .await;
    assert_eq!(
        payload["kpi"],
        json!({ "direction": "HIGHER_IS_BETTER", "targetValue": "50", "rangeLow": null, "health": "NO_DATA", "version": 2 })
    );

    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Talk" }),
    )
    .await;
    let comment = server
        .mutate(
            &grace.token,
            "createComment",
            "mutation($id: ID!) { createComment(input: { subjectId: $id, body: \"Great start\" }) { comment { id body author { name } subject { ... on Objective { title } } } userErrors { field message code } } }",
            json!({ "id": objective }),
        )
        .await;
    assert_eq!(comment["comment"]["author"]["name"], "grace");
    assert_eq!(comment["comment"]["subject"]["title"], "Talk");
    let data = server
        .query(&ada.token, "query($id: ID!) { node(id: $id) { ... on Objective { comments { totalCount nodes { body } } } } }", json!({ "id": objective }))
        .await;
    assert_eq!(
        data["node"]["comments"]["nodes"],
        json!([{ "body": "Great start" }])
    );

    // The last owner cannot step down; another owner first.
    let members = server
        .query(
            &ada.token,
            "{ organization { members { nodes { id role user { name } } } } }",
            json!({}),
        )
        .await;
    let owner = members["organization"]["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|member| member["role"] == "OWNER")
        .unwrap()["id"]
        .clone();
    let data = server
        .query(
            &ada.token,
            "mutation($id: ID!) { updateMemberRole(input: { membershipId: $id, role: ADMIN }) { userErrors { message code } } }",
            json!({ "id": owner }),
        )
        .await;
    assert!(
        data["updateMemberRole"]["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("last OWNER")
    );
    let (_, body) = server
        .post(
            Some(&grace.token),
            "mutation($id: ID!) { updateMemberRole(input: { membershipId: $id, role: MEMBER }) { userErrors { code } } }",
            json!({ "id": owner }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "an ADMIN cannot demote an OWNER"
    );
}

#[tokio::test]
async fn nested_cycles_and_dates() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let year = create_cycle(
        &server,
        &ada,
        json!({ "name": "2026", "startDate": "2026-01-01", "endDate": "2026-12-31" }),
    )
    .await;
    create_cycle(&server, &ada, json!({ "name": "Q2", "startDate": "2026-04-01", "endDate": "2026-06-30", "parentId": year })).await;
    let data = server
        .query(&ada.token, "query($id: ID!) { node(id: $id) { ... on Cycle { state startsAt endsAt children { name startDate endDate } } } }", json!({ "id": year }))
        .await;
    assert_eq!(data["node"]["state"], "PLANNED");
    assert_eq!(data["node"]["startsAt"], "2026-01-01T00:00:00Z");
    assert_eq!(data["node"]["endsAt"], "2027-01-01T00:00:00Z");
    assert_eq!(
        data["node"]["children"],
        json!([{ "name": "Q2", "startDate": "2026-04-01", "endDate": "2026-06-30" }])
    );
    // Shrinking the year so that Q2 falls outside is rejected.
    let data = server
        .query(
            &ada.token,
            "mutation($id: ID!) { updateCycle(input: { id: $id, endDate: \"2026-05-31\" }) { userErrors { field message } } }",
            json!({ "id": year }),
        )
        .await;
    assert_eq!(
        data["updateCycle"]["userErrors"][0]["field"],
        json!(["input", "endDate"])
    );
}

#[tokio::test]
async fn organization_settings_and_time_zone() {
    let server = TestServer::start().await;
    server.clock.set("2026-02-15T00:00:00Z".parse().unwrap());
    let ada = server.sign_up("ada").await;
    let payload = server
        .mutate(
            &ada.token,
            "updateOrganization",
            "mutation { updateOrganization(input: { timeZone: \"Pacific/Auckland\", checkInCadenceDays: 14, objectiveLimit: 3 }) { organization { timeZone checkInCadenceDays objectiveLimit version } userErrors { field message code } } }",
            json!({}),
        )
        .await;
    assert_eq!(payload["organization"]["timeZone"], "Pacific/Auckland");
    assert_eq!(payload["organization"]["version"], 2);
    let data = server
        .query(&ada.token, "mutation { updateOrganization(input: { timeZone: \"Mars/Olympus\" }) { userErrors { field code } } }", json!({}))
        .await;
    assert_eq!(
        data["updateOrganization"]["userErrors"][0],
        json!({ "field": ["input", "timeZone"], "code": "INVALID_FORMAT" })
    );
    // Q1 in Auckland (UTC+13 in summer) starts at 2025-12-31T11:00:00Z.
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let data = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { ... on Cycle { startsAt } } }",
            json!({ "id": quarter }),
        )
        .await;
    assert_eq!(data["node"]["startsAt"], "2025-12-31T11:00:00Z");
}

#[tokio::test]
async fn limits_warn_in_payloads() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    server
        .mutate(
            &ada.token,
            "updateOrganization",
            "mutation { updateOrganization(input: { keyResultLimit: 1 }) { organization { id } userErrors { field message code } } }",
            json!({}),
        )
        .await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let objective =
        create_objective(&server, &ada, json!({ "cycleId": quarter, "title": "Few" })).await;
    let create = "mutation($input: CreateKeyResultInput!) { createKeyResult(input: $input) { keyResult { id } warnings { field message code } userErrors { field message code } } }";
    let input = json!({ "objectiveId": objective, "title": "KR", "type": "BOOLEAN" });
    let data = server
        .query(&ada.token, create, json!({ "input": input }))
        .await;
    assert_eq!(data["createKeyResult"]["warnings"], json!([]));
    let data = server
        .query(&ada.token, create, json!({ "input": input }))
        .await;
    assert_eq!(
        data["createKeyResult"]["warnings"][0]["code"],
        "LIMIT_EXCEEDED"
    );
    assert!(
        data["createKeyResult"]["keyResult"]["id"].is_string(),
        "a warning does not stop the change"
    );

    server
        .mutate(
            &ada.token,
            "updateOrganization",
            "mutation { updateOrganization(input: { enforceLimits: true }) { organization { id } userErrors { field message code } } }",
            json!({}),
        )
        .await;
    let data = server
        .query(&ada.token, create, json!({ "input": input }))
        .await;
    assert_eq!(
        data["createKeyResult"]["userErrors"][0]["code"],
        "LIMIT_EXCEEDED"
    );
    assert_eq!(data["createKeyResult"]["keyResult"], Value::Null);
}

const RECORD_AUDIT: &str = "query($id: ID!) { auditEntries(filter: { recordId: $id }) { totalCount nodes { action changes } } }";

#[tokio::test]
async fn audit_changes_use_api_names() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let grace = server.add_member(&ada, "grace", "MEMBER").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let parent = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Parent" }),
    )
    .await;
    let objective = create_objective(
        &server,
        &ada,
        json!({ "cycleId": quarter, "title": "Child" }),
    )
    .await;
    server
        .mutate(
            &ada.token,
            "updateObjective",
            "mutation($input: UpdateObjectiveInput!) { updateObjective(input: $input) { objective { id } userErrors { field message code } } }",
            json!({ "input": { "id": objective, "ownerId": grace.user_id, "parentId": parent } }),
        )
        .await;
    let data = server
        .query(&ada.token, RECORD_AUDIT, json!({ "id": objective }))
        .await;
    let changes = &data["auditEntries"]["nodes"][0]["changes"];
    assert_eq!(
        changes["ownerId"],
        json!({ "old": null, "new": grace.user_id })
    );
    assert_eq!(changes["parentId"], json!({ "old": null, "new": parent }));
    for column in ["owner_id", "parent_id", "version", "updated_at"] {
        assert!(changes.get(column).is_none(), "{column} in {changes}");
    }
    let resolved = server
        .query(
            &ada.token,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": changes["parentId"]["new"] }),
        )
        .await;
    assert_eq!(resolved["node"]["id"], json!(parent));

    // A key result's kind is its API field `type`; milestones stay internal.
    let key_result = create_key_result(
        &server,
        &ada,
        json!({ "objectiveId": objective, "title": "Calls", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" }),
    )
    .await;
    server
        .mutate(
            &ada.token,
            "updateKeyResult",
            "mutation($input: UpdateKeyResultInput!) { updateKeyResult(input: $input) { keyResult { id } userErrors { field message code } } }",
            json!({ "input": { "id": key_result, "type": "DECREASE_TO", "startValue": "10", "targetValue": "0" } }),
        )
        .await;
    let data = server
        .query(&ada.token, RECORD_AUDIT, json!({ "id": key_result }))
        .await;
    let created = &data["auditEntries"]["nodes"][1]["changes"];
    assert_eq!(created["objectiveId"]["new"], json!(objective));
    let changes = &data["auditEntries"]["nodes"][0]["changes"];
    assert_eq!(
        changes["type"],
        json!({ "old": "INCREASE_TO", "new": "DECREASE_TO" })
    );
    for column in ["kind", "milestones", "objective_id", "start_value"] {
        assert!(changes.get(column).is_none(), "{column} in {changes}");
    }
    assert!(changes.get("startValue").is_some(), "{changes}");
}

#[tokio::test]
async fn update_without_change_writes_nothing() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (_, quarter) = year_and_quarter(&server, &ada).await;
    let team = create_team(&server, &ada, json!({ "name": "Sales" })).await;
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
    let kpi = create_kpi(
        &server,
        &ada,
        json!({ "name": "NPS", "direction": "HIGHER_IS_BETTER", "targetValue": "50" }),
    )
    .await;
    let cases = [
        (
            "updateObjective",
            "UpdateObjectiveInput",
            json!({ "id": objective, "title": "Grow" }),
        ),
        (
            "updateObjective",
            "UpdateObjectiveInput",
            json!({ "id": objective }),
        ),
        (
            "updateKeyResult",
            "UpdateKeyResultInput",
            json!({ "id": key_result, "title": "Calls", "targetValue": "10" }),
        ),
        (
            "updateTeam",
            "UpdateTeamInput",
            json!({ "id": team, "name": "Sales", "description": null }),
        ),
        (
            "updateCycle",
            "UpdateCycleInput",
            json!({ "id": quarter, "name": "Q1 2026" }),
        ),
        (
            "updateKpi",
            "UpdateKpiInput",
            json!({ "id": kpi, "name": "NPS", "targetValue": "50" }),
        ),
    ];
    for (mutation, input_type, input) in cases {
        let query = format!(
            "mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ userErrors {{ field message code }} }} }}"
        );
        server
            .mutate(&ada.token, mutation, &query, json!({ "input": input }))
            .await;
    }
    let version_query = "query($id: ID!) { node(id: $id) { ... on Objective { version } ... on KeyResult { version } ... on Team { version } ... on Cycle { version } ... on Kpi { version } } }";
    for id in [&objective, &key_result, &team, &quarter, &kpi] {
        let data = server
            .query(&ada.token, version_query, json!({ "id": id }))
            .await;
        assert_eq!(data["node"]["version"], 1, "{id}");
        let audit = server
            .query(&ada.token, RECORD_AUDIT, json!({ "id": id }))
            .await;
        assert_eq!(audit["auditEntries"]["totalCount"], 1, "{id}: {audit}");
    }

    let payload = server
        .mutate(
            &ada.token,
            "updateOrganization",
            "mutation($name: String!) { updateOrganization(input: { name: $name }) { organization { version } userErrors { field message code } } }",
            json!({ "name": "ada's organization" }),
        )
        .await;
    assert_eq!(payload["organization"]["version"], 1);

    // A real change still counts.
    let payload = server
        .mutate(
            &ada.token,
            "updateObjective",
            "mutation($id: ID!) { updateObjective(input: { id: $id, title: \"Grow faster\" }) { objective { version } userErrors { field message code } } }",
            json!({ "id": objective }),
        )
        .await;
    assert_eq!(payload["objective"]["version"], 2);
    let audit = server
        .query(&ada.token, RECORD_AUDIT, json!({ "id": objective }))
        .await;
    assert_eq!(audit["auditEntries"]["totalCount"], 2);
}

#[tokio::test]
async fn invalid_cycle_transition_names_next_step() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let cycle = create_cycle(
        &server,
        &ada,
        json!({ "name": "Q2 2026", "startDate": "2026-04-01", "endDate": "2026-06-30" }),
    )
    .await;
    let change = |mutation: &str| {
        format!(
            "mutation($id: ID!) {{ {mutation}(input: {{ id: $id }}) {{ cycle {{ state }} userErrors {{ field message code }} }} }}"
        )
    };
    let data = server
        .query(&ada.token, &change("reopenCycle"), json!({ "id": cycle }))
        .await;
    let error = &data["reopenCycle"]["userErrors"][0];
    assert_eq!(error["code"], "INVALID_TRANSITION");
    assert!(
        error["message"].as_str().unwrap().contains("activateCycle"),
        "{error}"
    );

    server
        .mutate(
            &ada.token,
            "closeCycle",
            &change("closeCycle"),
            json!({ "id": cycle }),
        )
        .await;
    let data = server
        .query(&ada.token, &change("activateCycle"), json!({ "id": cycle }))
        .await;
    let error = &data["activateCycle"]["userErrors"][0];
    assert_eq!(error["code"], "INVALID_TRANSITION");
    assert_eq!(error["field"], json!(["input", "id"]));
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("CLOSED"), "{message}");
    assert!(message.contains("reopenCycle"), "{message}");
}
