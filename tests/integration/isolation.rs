//! Tenant isolation: every id of another organization reads, and fails to write, exactly
//! like an id that does not exist, for every role and token kind.

use crate::fixtures::{
    check_in, create_key_result, create_kpi, create_objective, create_team, year_and_quarter,
};
use headway_api::config::WebhookNetwork;
use headway_tests::ws::WsClient;
use headway_tests::{Session, TestServer};
use serde_json::{Value, json};
use std::time::Duration;

/// A marker in every name and title of the other organization; no response may contain it.
const MARKER: &str = "SECRET-B";

/// The ids of one organization's records, by kind.
struct Records {
    organization: String,
    user: String,
    membership: String,
    team: String,
    cycle: String,
    objective: String,
    key_result: String,
    check_in: String,
    kpi: String,
    measurement: String,
    comment: String,
    token: String,
    audit_entry: String,
    webhook_endpoint: String,
    webhook_delivery: String,
}

async fn populate(server: &TestServer, owner: &Session, member: &Session, label: &str) -> Records {
    let (_, cycle) = year_and_quarter(server, owner).await;
    let team = create_team(server, owner, json!({ "name": format!("{label} team") })).await;
    let objective = create_objective(
        server,
        owner,
        json!({ "cycleId": cycle, "title": format!("{label} objective"), "teamId": team, "ownerId": member.user_id }),
    )
    .await;
    let kpi = create_kpi(
        server,
        owner,
        json!({ "name": format!("{label} KPI"), "teamId": team }),
    )
    .await;
    let key_result = create_key_result(
        server,
        owner,
        json!({ "objectiveId": objective, "title": format!("{label} key result"), "type": "INCREASE_TO", "startValue": "0", "targetValue": "10", "kpiId": kpi }),
    )
    .await;
    let checked = check_in(
        server,
        owner,
        json!({ "keyResultId": key_result, "value": "2", "comment": label }),
    )
    .await;
    let measurement = server
        .mutate(
            &owner.token,
            "recordKpiMeasurements",
            "mutation($id: ID!) { recordKpiMeasurements(input: { measurements: [{ kpiId: $id, value: \"5\", observedAt: \"2026-01-10T00:00:00Z\" }] }) { results { measurement { id } } userErrors { field message code } } }",
            json!({ "id": kpi }),
        )
        .await["results"][0]["measurement"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let comment = server
        .mutate(
            &owner.token,
            "createComment",
            "mutation($id: ID!, $body: String!) { createComment(input: { subjectId: $id, body: $body }) { comment { id } userErrors { field message code } } }",
            json!({ "id": key_result, "body": format!("{label} comment") }),
        )
        .await["comment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .mutate(
            &owner.token,
            "addTeamMember",
            "mutation($team: ID!, $user: ID!) { addTeamMember(input: { teamId: $team, userId: $user }) { team { id } userErrors { field message code } } }",
            json!({ "team": team, "user": member.user_id }),
        )
        .await;
    let token = server
        .mutate(
            &owner.token,
            "createApiToken",
            "mutation($name: String!) { createApiToken(input: { name: $name, scopes: [READ] }) { apiToken { id } userErrors { field message code } } }",
            json!({ "name": format!("{label} token") }),
        )
        .await["apiToken"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Nothing listens on the discard port, so the test delivery fails fast and is logged.
    let endpoint = server
        .mutate(
            &owner.token,
            "createWebhookEndpoint",
            "mutation($description: String!) { createWebhookEndpoint(input: { url: \"http://127.0.0.1:9/hook\", description: $description, eventTypes: [CHECK_IN_CREATED] }) { webhookEndpoint { id } userErrors { field message code } } }",
            json!({ "description": format!("{label} endpoint") }),
        )
        .await["webhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let webhook_delivery = server
        .mutate(
            &owner.token,
            "testWebhookEndpoint",
            "mutation($id: ID!) { testWebhookEndpoint(input: { id: $id }) { delivery { id } userErrors { field message code } } }",
            json!({ "id": endpoint }),
        )
        .await["delivery"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_view = server
        .query(
            &owner.token,
            "{ organization { id members(first: 100) { nodes { id user { id } } } } auditEntries(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    let membership = admin_view["organization"]["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|node| node["user"]["id"] == json!(member.user_id))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Records {
        organization: admin_view["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        user: member.user_id.clone(),
        membership,
        team,
        cycle,
        objective,
        key_result,
        check_in: checked["checkIn"]["id"].as_str().unwrap().to_owned(),
        kpi,
        measurement,
        comment,
        token,
        audit_entry: admin_view["auditEntries"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        webhook_endpoint: endpoint,
        webhook_delivery,
    }
}

impl Records {
    fn all(&self) -> Vec<&str> {
        vec![
            &self.organization,
            &self.user,
            &self.membership,
            &self.team,
            &self.cycle,
            &self.objective,
            &self.key_result,
            &self.check_in,
            &self.kpi,
            &self.measurement,
            &self.comment,
            &self.token,
            &self.audit_entry,
            &self.webhook_endpoint,
            &self.webhook_delivery,
        ]
    }
}

/// An id of the same kind as `id` that no organization has.
fn random_twin(id: &str) -> String {
    let (prefix, _) = id.split_once('_').unwrap();
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// The response with the probed id and request ids blanked, for comparing two probes.
fn normalized(body: &Value, id: &str) -> String {
    let text = body.to_string().replace(id, "PROBED-ID");
    let mut value: Value = serde_json::from_str(&text).unwrap();
    strip_request_ids(&mut value);
    value.to_string()
}

fn strip_request_ids(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("requestId");
            for child in map.values_mut() {
                strip_request_ids(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_request_ids),
        _ => {}
    }
}

/// Every query and mutation that takes an id, with `$id` standing for the probed one; the
/// other ids are the probing organization's own.
fn probes(own: &Records) -> Vec<(String, Value)> {
    let plain = |document: &str| (document.to_owned(), json!({}));
    let with = |document: &str, extra: Value| (document.to_owned(), extra);
    vec![
        plain("query($id: ID!) { node(id: $id) { id __typename } }"),
        plain("query($id: ID!) { nodes(ids: [$id]) { id } }"),
        plain("query($id: ID!) { teams(parentId: $id) { totalCount nodes { id name } } }"),
        plain("query($id: ID!) { cycles(parentId: $id) { totalCount nodes { id name } } }"),
        plain("query($id: ID!) { kpis(teamId: $id) { totalCount nodes { id name } } }"),
        plain(
            "query($id: ID!) { objectives(filter: { cycleId: $id }) { totalCount nodes { id title } } }",
        ),
        plain(
            "query($id: ID!) { objectives(filter: { teamId: $id }) { totalCount nodes { id title } } }",
        ),
        plain(
            "query($id: ID!) { objectives(filter: { ownerId: $id }) { totalCount nodes { id title } } }",
        ),
        plain(
            "query($id: ID!) { objectives(filter: { parentId: $id }) { totalCount nodes { id title } } }",
        ),
        plain(
            "query($id: ID!) { auditEntries(filter: { recordId: $id }) { totalCount nodes { id } } }",
        ),
        plain(
            "query($id: ID!) { auditEntries(filter: { userId: $id }) { totalCount nodes { id } } }",
        ),
        plain(
            "query($id: ID!) { auditEntries(filter: { apiTokenId: $id }) { totalCount nodes { id } } }",
        ),
        plain(
            "mutation($id: ID!) { updateTeam(input: { id: $id, name: \"Taken over\" }) { team { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { archiveTeam(input: { id: $id }) { team { id } userErrors { field message code } } }",
        ),
        with(
            "mutation($id: ID!, $user: ID!) { addTeamMember(input: { teamId: $id, userId: $user }) { team { id } userErrors { field message code } } }",
            json!({ "user": own.user }),
        ),
        plain(
            "mutation($id: ID!) { removeTeamMember(input: { teamId: $id, userId: $id }) { team { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { updateCycle(input: { id: $id, name: \"Taken over\" }) { cycle { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { archiveCycle(input: { id: $id }) { cycle { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { activateCycle(input: { id: $id }) { cycle { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { closeCycle(input: { id: $id }) { cycle { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { reopenCycle(input: { id: $id }) { cycle { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { createObjective(input: { cycleId: $id, title: \"Intruder\" }) { objective { id } userErrors { field message code } } }",
        ),
        with(
            "mutation($id: ID!, $cycle: ID!) { createObjective(input: { cycleId: $cycle, title: \"Intruder\", teamId: $id }) { objective { id } userErrors { field message code } } }",
            json!({ "cycle": own.cycle }),
        ),
        with(
            "mutation($id: ID!, $cycle: ID!) { createObjective(input: { cycleId: $cycle, title: \"Intruder\", ownerId: $id }) { objective { id } userErrors { field message code } } }",
            json!({ "cycle": own.cycle }),
        ),
        with(
            "mutation($id: ID!, $cycle: ID!) { createObjective(input: { cycleId: $cycle, title: \"Intruder\", parentId: $id }) { objective { id } userErrors { field message code } } }",
            json!({ "cycle": own.cycle }),
        ),
        plain(
            "mutation($id: ID!) { updateObjective(input: { id: $id, title: \"Taken over\" }) { objective { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { archiveObjective(input: { id: $id }) { objective { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { createKeyResult(input: { objectiveId: $id, title: \"Intruder\", type: BOOLEAN }) { keyResult { id } userErrors { field message code } } }",
        ),
        with(
            "mutation($id: ID!, $objective: ID!) { createKeyResult(input: { objectiveId: $objective, title: \"Intruder\", type: BOOLEAN, kpiId: $id }) { keyResult { id } userErrors { field message code } } }",
            json!({ "objective": own.objective }),
        ),
        plain(
            "mutation($id: ID!) { updateKeyResult(input: { id: $id, title: \"Taken over\" }) { keyResult { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { archiveKeyResult(input: { id: $id }) { keyResult { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { createCheckIn(input: { keyResultId: $id, value: \"9\" }) { checkIn { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { updateKpi(input: { id: $id, name: \"Taken over\" }) { kpi { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { archiveKpi(input: { id: $id }) { kpi { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { createKpi(input: { name: \"Intruder\", teamId: $id }) { kpi { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { recordKpiMeasurements(input: { measurements: [{ kpiId: $id, value: \"1\", observedAt: \"2026-01-11T00:00:00Z\" }] }) { recordedCount results { userErrors { field message code } } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { createComment(input: { subjectId: $id, body: \"Intruder\" }) { comment { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { updateComment(input: { id: $id, body: \"Taken over\" }) { comment { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { archiveComment(input: { id: $id }) { comment { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { updateMemberRole(input: { membershipId: $id, role: VIEWER }) { membership { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { removeMember(input: { membershipId: $id }) { membership { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { revokeApiToken(input: { id: $id }) { apiToken { id } userErrors { field message code } } }",
        ),
        plain("query($id: ID!) { cycleSummary(cycleId: $id) { objectiveCount keyResultCount } }"),
        with(
            "query($id: ID!, $cycle: ID!) { cycleSummary(cycleId: $cycle, teamId: $id) { objectiveCount keyResultCount } }",
            json!({ "cycle": own.cycle }),
        ),
        plain(
            "query($id: ID!) { needsAttention(ownerId: $id) { keyResult { id title } reasons } }",
        ),
        plain("query($id: ID!) { needsAttention(teamId: $id) { keyResult { id title } reasons } }"),
        plain(
            "query($id: ID!) { needsAttention(cycleId: $id) { keyResult { id title } reasons } }",
        ),
        plain(
            "query($id: ID!) { kpiHealthSummary(teamId: $id) { total needingAttention { id name } } }",
        ),
        plain("query($id: ID!) { alignmentTree(rootId: $id) { depth objective { id title } } }"),
        plain("query($id: ID!) { alignmentTree(cycleId: $id) { depth objective { id title } } }"),
        plain("query($id: ID!) { activity(teamId: $id) { totalCount nodes { type } } }"),
        plain("query($id: ID!) { activity(cycleId: $id) { totalCount nodes { type } } }"),
        plain("query($id: ID!) { activity(objectiveId: $id) { totalCount nodes { type } } }"),
        plain("query($id: ID!) { activity(keyResultId: $id) { totalCount nodes { type } } }"),
        with(
            "mutation($id: ID!, $cycle: ID!) { rolloverObjectives(input: { sourceCycleId: $id, targetCycleId: $cycle }) { copies { copy { id } } userErrors { field message code } } }",
            json!({ "cycle": own.cycle }),
        ),
        with(
            "mutation($id: ID!, $cycle: ID!) { rolloverObjectives(input: { sourceCycleId: $cycle, targetCycleId: $id }) { copies { copy { id } } userErrors { field message code } } }",
            json!({ "cycle": own.cycle }),
        ),
        plain(
            "mutation($id: ID!) { duplicateObjective(input: { id: $id }) { objective { id } userErrors { field message code } } }",
        ),
        with(
            "mutation($id: ID!, $objective: ID!) { duplicateObjective(input: { id: $objective, cycleId: $id }) { objective { id } userErrors { field message code } } }",
            json!({ "objective": own.objective }),
        ),
        with(
            "mutation($id: ID!, $objective: ID!) { moveKeyResult(input: { id: $id, objectiveId: $objective }) { keyResult { id } userErrors { field message code } } }",
            json!({ "objective": own.objective }),
        ),
        with(
            "mutation($id: ID!, $keyResult: ID!) { moveKeyResult(input: { id: $keyResult, objectiveId: $id }) { keyResult { id } userErrors { field message code } } }",
            json!({ "keyResult": own.key_result }),
        ),
        plain(
            "mutation($id: ID!) { recordCheckIns(input: { checkIns: [{ keyResultId: $id, value: \"9\" }] }) { recordedCount results { userErrors { field message code } } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { updateWebhookEndpoint(input: { id: $id, description: \"Taken over\" }) { webhookEndpoint { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { deleteWebhookEndpoint(input: { id: $id }) { webhookEndpoint { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { testWebhookEndpoint(input: { id: $id }) { delivery { id } userErrors { field message code } } }",
        ),
        plain(
            "mutation($id: ID!) { redeliverWebhookDelivery(input: { id: $id }) { delivery { id } userErrors { field message code } } }",
        ),
    ]
}

/// What an organization's owner sees of everything it holds, to compare before and after.
async fn snapshot(server: &TestServer, owner: &Session) -> Value {
    server
        .query(
            &owner.token,
            "{ organization { name version members(first: 10) { nodes { id role version } } } teams(includeArchived: true, first: 10) { nodes { id name version archivedAt members { id } } } cycles(includeArchived: true, first: 10) { nodes { id name state version } } objectives(filter: { }, first: 10) { nodes { id title version state progress keyResults(includeArchived: true, first: 10) { nodes { id title version currentValue checkIns(first: 1) { totalCount } comments(first: 10) { nodes { id body version } } } } } } kpis(includeArchived: true, first: 10) { nodes { id name version latestValue measurements(first: 1) { totalCount } } } apiTokens(includeRevoked: true, first: 10) { nodes { id name revokedAt } } webhookEndpoints(includeDeleted: true, first: 10) { nodes { id description version enabled deletedAt deliveries(first: 10) { nodes { id status } } } } }",
            json!({}),
        )
        .await
}

/// Sends one probe with `id` as the token's principal.
async fn probe(
    server: &TestServer,
    token: &str,
    document: &str,
    variables: &Value,
    id: &str,
) -> Value {
    let mut variables = variables.clone();
    variables["id"] = json!(id);
    let (_, body) = server.post(Some(token), document, variables).await;
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_organizations_ids_read_like_missing_ones() {
    let server = TestServer::start_with(|serve| {
        serve.webhook_allow_networks = vec![WebhookNetwork::Loopback];
    })
    .await;
    let owner_a = server.sign_up("owner-a").await;
    let member_a = server.add_member(&owner_a, "member-a", "MEMBER").await;
    let owner_b = server.sign_up("owner-b").await;
    let member_b = server.add_member(&owner_b, "member-b", "MEMBER").await;
    let own = populate(&server, &owner_a, &member_a, "A").await;
    let other = populate(&server, &owner_b, &member_b, MARKER).await;
    let before = snapshot(&server, &owner_b).await;

    let mut principals = vec![
        ("OWNER", owner_a.token.clone()),
        (
            "ADMIN",
            server.add_member(&owner_a, "admin-a", "ADMIN").await.token,
        ),
        ("MEMBER", member_a.token.clone()),
        (
            "VIEWER",
            server
                .add_member(&owner_a, "viewer-a", "VIEWER")
                .await
                .token,
        ),
    ];
    for scope in ["READ", "WRITE", "INGEST", "ADMIN"] {
        let token = server
            .mutate(
                &owner_a.token,
                "createApiToken",
                "mutation($scope: ApiTokenScope!) { createApiToken(input: { name: \"probe\", scopes: [$scope] }) { token userErrors { field message code } } }",
                json!({ "scope": scope }),
            )
            .await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        principals.push((scope, token));
    }

    let probes = probes(&own);
    let mut compared = 0;
    for (principal, token) in &principals {
        for id in other.all() {
            let twin = random_twin(id);
            for (document, variables) in &probes {
                let foreign = probe(&server, token, document, variables, id).await;
                let missing = probe(&server, token, document, variables, &twin).await;
                assert_eq!(
                    normalized(&foreign, id),
                    normalized(&missing, &twin),
                    "{principal} probing {id} with {document}"
                );
                let text = foreign.to_string();
                assert!(
                    !text.contains(MARKER),
                    "{principal} saw the other organization's data: {text}"
                );
                assert!(
                    !text.contains("\"INTERNAL\""),
                    "{principal} probing {id} with {document} failed inside the server: {text}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(
        compared,
        principals.len() * other.all().len() * probes.len()
    );

    // A subscription scoped to a record of the other organization fails like one scoped to
    // an id that never existed.
    let mut subscriber = WsClient::authenticated(&server.url, &owner_a.token).await;
    let scoped = [
        ("progress", "objectiveId", other.objective.as_str()),
        ("activity", "keyResultId", other.key_result.as_str()),
        ("kpiMeasurements", "kpiId", other.kpi.as_str()),
        ("progress", "teamId", other.team.as_str()),
        ("activity", "cycleId", other.cycle.as_str()),
    ];
    for (index, (field, argument, id)) in scoped.into_iter().enumerate() {
        let document = format!(
            "subscription($scope: EventScopeInput) {{ {field}(scope: $scope) {{ sequence }} }}"
        );
        let mut answers = Vec::new();
        for (attempt, probed) in [id.to_owned(), random_twin(id)].iter().enumerate() {
            let operation = format!("{index}-{attempt}");
            subscriber
                .subscribe(
                    &operation,
                    &document,
                    json!({ "scope": { argument: probed } }),
                )
                .await;
            let message = subscriber
                .next_message(Duration::from_secs(5))
                .await
                .expect("an answer to a scoped subscription");
            assert_eq!(
                message["type"], "error",
                "{field} scoped by {argument}: {message}"
            );
            assert_eq!(message["id"], operation.as_str());
            assert_eq!(message["payload"][0]["extensions"]["code"], "NOT_FOUND");
            answers.push(normalized(&message["payload"], probed));
        }
        assert_eq!(
            answers[0], answers[1],
            "{field} scoped by the other organization's {argument} answered unlike a random id"
        );
    }

    // Subscriptions to the whole organization receive nothing of the other one.
    for field in ["progress", "activity", "kpiMeasurements"] {
        subscriber
            .subscribe(
                field,
                &format!("subscription {{ {field} {{ sequence }} }}"),
                json!({}),
            )
            .await;
    }
    subscriber.send(json!({ "type": "ping" })).await;
    assert_eq!(
        subscriber
            .next_message(Duration::from_secs(5))
            .await
            .unwrap()["type"],
        "pong"
    );
    check_in(
        &server,
        &owner_b,
        json!({ "keyResultId": other.key_result, "value": "3" }),
    )
    .await;
    server
        .mutate(
            &owner_b.token,
            "recordKpiMeasurements",
            "mutation($id: ID!) { recordKpiMeasurements(input: { measurements: [{ kpiId: $id, value: \"6\", observedAt: \"2026-01-12T00:00:00Z\" }] }) { recordedCount userErrors { field message code } } }",
            json!({ "id": other.kpi }),
        )
        .await;
    assert!(
        subscriber
            .next_message(Duration::from_millis(700))
            .await
            .is_none(),
        "an event of the other organization arrived"
    );

    // Nothing of the other organization changed, but for its own check-in and measurement
    // and what they caused.
    let after = snapshot(&server, &owner_b).await;
    let strip_own_changes = |mut value: Value| {
        let objectives = value["objectives"]["nodes"].as_array_mut().unwrap();
        for objective in objectives {
            objective["progress"] = Value::Null;
            objective["version"] = Value::Null;
            for key_result in objective["keyResults"]["nodes"].as_array_mut().unwrap() {
                key_result["version"] = Value::Null;
                key_result["currentValue"] = Value::Null;
                key_result["checkIns"] = Value::Null;
            }
        }
        for kpi in value["kpis"]["nodes"].as_array_mut().unwrap() {
            kpi["latestValue"] = Value::Null;
            kpi["measurements"] = Value::Null;
        }
        // The check-in queues a delivery to the organization's own endpoint.
        for endpoint in value["webhookEndpoints"]["nodes"].as_array_mut().unwrap() {
            endpoint["deliveries"] = Value::Null;
        }
        value
    };
    assert_eq!(strip_own_changes(before), strip_own_changes(after));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_ids_resolve_to_nothing() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let server = TestServer::start_with(|serve| {
        serve.webhook_allow_networks = vec![WebhookNetwork::Loopback];
    })
    .await;
    let owner = server.sign_up("owner").await;
    let member = server.add_member(&owner, "member", "MEMBER").await;
    let own = populate(&server, &owner, &member, "own").await;
    let prefixes = [
        "org", "usr", "mem", "team", "cyc", "obj", "kr", "chk", "kpi", "kpim", "cmt", "tok", "aud",
        "whk", "whd",
    ];
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let strategy = (0..prefixes.len(), any::<u128>());
    runner
        .run(&strategy, |(kind, bits)| {
            let id = format!("{}_{}", prefixes[kind], uuid::Uuid::from_u128(bits).simple());
            let own_ids = own.all();
            prop_assume!(!own_ids.contains(&id.as_str()));
            let body = tokio::task::block_in_place(|| {
                handle.block_on(server.post(Some(&owner.token), "query($id: ID!) { node(id: $id) { id } nodes(ids: [$id]) { id } }", json!({ "id": id })))
            });
            prop_assert_eq!(&body.1["data"]["node"], &Value::Null);
            prop_assert_eq!(&body.1["data"]["nodes"], &json!([null]));
            let body = tokio::task::block_in_place(|| {
                handle.block_on(server.post(Some(&owner.token), "mutation($id: ID!) { createCheckIn(input: { keyResultId: $id, value: \"1\" }) { userErrors { code } } }", json!({ "id": id })))
            });
            let code = body.1["data"]["createCheckIn"]["userErrors"][0]["code"].clone();
            let expected = if kind == 6 { "NOT_FOUND" } else { "INVALID_FORMAT" };
            prop_assert_eq!(code, json!(expected));
            Ok(())
        })
        .unwrap();
}
