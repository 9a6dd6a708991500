//! Roles, API tokens, token checks, the audit log, and request limits.

use crate::fixtures::{
    create_key_result, create_kpi, create_objective, create_team, year_and_quarter,
};
use headway_api::auth::{Authenticator, KeySources};
use headway_tests::server::{TEST_AUDIENCE, TEST_ISSUER, TEST_SECRET};
use headway_tests::ws::WsClient;
use headway_tests::{Session, TestServer};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/jwt");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

/// Creates an API token with `scopes` as `admin` and returns its secret.
async fn api_token(server: &TestServer, admin: &Session, scopes: &[&str]) -> String {
    let payload = server
        .mutate(
            &admin.token,
            "createApiToken",
            "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id scopes } userErrors { field message code } } }",
            json!({ "input": { "name": format!("{} integration", scopes.join("+")), "scopes": scopes.iter().map(|scope| scope.to_uppercase()).collect::<Vec<_>>() } }),
        )
        .await;
    payload["token"].as_str().unwrap().to_owned()
}

/// Every record of an organization that the role table needs ids of.
struct Fixture {
    team: String,
    cycle: String,
    objective: String,
    key_result: String,
    kpi: String,
    comment: String,
    member_membership: String,
    member_user: String,
}

async fn fixture_organization(server: &TestServer, owner: &Session, member: &Session) -> Fixture {
    let (_, cycle) = year_and_quarter(server, owner).await;
    let team = create_team(server, owner, json!({ "name": "Team" })).await;
    let objective = create_objective(
        server,
        owner,
        json!({ "cycleId": cycle, "title": "Objective" }),
    )
    .await;
    let key_result = create_key_result(
        server,
        owner,
        json!({ "objectiveId": objective, "title": "KR", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" }),
    )
    .await;
    let kpi = create_kpi(server, owner, json!({ "name": "KPI" })).await;
    let comment = server
        .mutate(
            &owner.token,
            "createComment",
            "mutation($id: ID!) { createComment(input: { subjectId: $id, body: \"Hello\" }) { comment { id } userErrors { field message code } } }",
            json!({ "id": objective }),
        )
        .await["comment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let members = server
        .query(
            &owner.token,
            "{ organization { members(first: 100) { nodes { id user { id } } } } }",
            json!({}),
        )
        .await;
    let member_membership = members["organization"]["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|node| node["user"]["id"] == json!(member.user_id))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Fixture {
        team,
        cycle,
        objective,
        key_result,
        kpi,
        comment,
        member_membership,
        member_user: member.user_id.clone(),
    }
}

/// The permission levels of the table: the least role, and the token scopes, that may run a
/// mutation.
#[derive(Clone, Copy, Debug)]
enum Needs {
    /// Any signed-in person, but no token.
    Person,
    Owner,
    Admin,
    /// MEMBER, or a token with write or admin.
    Write,
    /// MEMBER, or a token with ingest, write or admin.
    Ingest,
}

impl Needs {
    fn allows(self, principal: &str) -> bool {
        let roles: &[&str] = match self {
            Self::Person => &["OWNER", "ADMIN", "MEMBER", "VIEWER"],
            Self::Owner => &["OWNER"],
            Self::Admin => &["OWNER", "ADMIN", "token:admin"],
            Self::Write => &["OWNER", "ADMIN", "MEMBER", "token:write", "token:admin"],
            Self::Ingest => &[
                "OWNER",
                "ADMIN",
                "MEMBER",
                "token:ingest",
                "token:write",
                "token:admin",
            ],
        };
        roles.contains(&principal)
    }
}

/// Every mutation with a document that passes the permission check, and what it needs.
fn mutation_table(f: &Fixture) -> Vec<(&'static str, Needs, String, Value)> {
    let id = |value: &str| json!(value);
    vec![
        ("updateOrganization", Needs::Admin, "mutation { updateOrganization(input: { checkInCadenceDays: 7 }) { userErrors { code } } }".into(), json!({})),
        ("archiveOrganization", Needs::Owner, "mutation { archiveOrganization(input: { expectedVersion: -1 }) { userErrors { code } } }".into(), json!({})),
        ("addMember", Needs::Admin, "mutation { addMember(input: { email: \"new@example.com\", role: VIEWER }) { userErrors { code } } }".into(), json!({})),
        ("updateMemberRole", Needs::Admin, "mutation($id: ID!) { updateMemberRole(input: { membershipId: $id, role: MEMBER, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.member_membership })),
        ("removeMember", Needs::Admin, "mutation { removeMember(input: { membershipId: \"mem_0190f2e1c7a97b3e8b5f000000000000\" }) { userErrors { code } } }".into(), json!({})),
        ("createApiToken", Needs::Admin, "mutation { createApiToken(input: { name: \"T\", scopes: [READ] }) { userErrors { code } } }".into(), json!({})),
        ("revokeApiToken", Needs::Admin, "mutation { revokeApiToken(input: { id: \"tok_0190f2e1c7a97b3e8b5f000000000000\" }) { userErrors { code } } }".into(), json!({})),
        ("createTeam", Needs::Admin, "mutation { createTeam(input: { name: \"T\" }) { userErrors { code } } }".into(), json!({})),
        ("updateTeam", Needs::Admin, "mutation($id: ID!) { updateTeam(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": id(&f.team) })),
        ("archiveTeam", Needs::Admin, "mutation($id: ID!) { archiveTeam(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": id(&f.team) })),
        ("addTeamMember", Needs::Admin, "mutation($team: ID!, $user: ID!) { addTeamMember(input: { teamId: $team, userId: $user }) { userErrors { code } } }".into(), json!({ "team": f.team, "user": f.member_user })),
        ("removeTeamMember", Needs::Admin, "mutation($team: ID!) { removeTeamMember(input: { teamId: $team, userId: \"usr_0190f2e1c7a97b3e8b5f000000000000\" }) { userErrors { code } } }".into(), json!({ "team": f.team })),
        ("createCycle", Needs::Admin, "mutation { createCycle(input: { name: \"C\", startDate: \"2026-01-01\", endDate: \"2025-01-01\" }) { userErrors { code } } }".into(), json!({})),
        ("updateCycle", Needs::Admin, "mutation($id: ID!) { updateCycle(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.cycle })),
        ("archiveCycle", Needs::Admin, "mutation($id: ID!) { archiveCycle(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.cycle })),
        ("activateCycle", Needs::Admin, "mutation($id: ID!) { activateCycle(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.cycle })),
        ("closeCycle", Needs::Admin, "mutation($id: ID!) { closeCycle(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.cycle })),
        ("reopenCycle", Needs::Admin, "mutation($id: ID!) { reopenCycle(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.cycle })),
        ("createObjective", Needs::Write, "mutation($cycle: ID!) { createObjective(input: { cycleId: $cycle, title: \"\" }) { userErrors { code } } }".into(), json!({ "cycle": f.cycle })),
        ("updateObjective", Needs::Write, "mutation($id: ID!) { updateObjective(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.objective })),
        ("archiveObjective", Needs::Write, "mutation($id: ID!) { archiveObjective(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.objective })),
        ("createKeyResult", Needs::Write, "mutation($id: ID!) { createKeyResult(input: { objectiveId: $id, title: \"\", type: BOOLEAN }) { userErrors { code } } }".into(), json!({ "id": f.objective })),
        ("updateKeyResult", Needs::Write, "mutation($id: ID!) { updateKeyResult(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.key_result })),
        ("archiveKeyResult", Needs::Write, "mutation($id: ID!) { archiveKeyResult(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.key_result })),
        ("createCheckIn", Needs::Ingest, "mutation($id: ID!) { createCheckIn(input: { keyResultId: $id, value: \"1\", confidence: 99 }) { userErrors { code } } }".into(), json!({ "id": f.key_result })),
        ("createKpi", Needs::Admin, "mutation { createKpi(input: { name: \"\" }) { userErrors { code } } }".into(), json!({})),
        ("updateKpi", Needs::Admin, "mutation($id: ID!) { updateKpi(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.kpi })),
        ("archiveKpi", Needs::Admin, "mutation($id: ID!) { archiveKpi(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.kpi })),
        ("recordKpiMeasurements", Needs::Ingest, "mutation { recordKpiMeasurements(input: { measurements: [] }) { userErrors { code } } }".into(), json!({})),
        ("rolloverObjectives", Needs::Write, "mutation($cycle: ID!) { rolloverObjectives(input: { sourceCycleId: $cycle, targetCycleId: $cycle }) { userErrors { code } } }".into(), json!({ "cycle": f.cycle })),
        ("duplicateObjective", Needs::Write, "mutation($id: ID!) { duplicateObjective(input: { id: $id, title: \"\" }) { userErrors { code } } }".into(), json!({ "id": f.objective })),
        ("moveKeyResult", Needs::Write, "mutation($id: ID!, $objective: ID!) { moveKeyResult(input: { id: $id, objectiveId: $objective, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.key_result, "objective": f.objective })),
        ("recordCheckIns", Needs::Ingest, "mutation { recordCheckIns(input: { checkIns: [] }) { userErrors { code } } }".into(), json!({})),
        ("createWebhookEndpoint", Needs::Admin, "mutation { createWebhookEndpoint(input: { url: \"not a url\", eventTypes: [] }) { userErrors { code } } }".into(), json!({})),
        ("updateWebhookEndpoint", Needs::Admin, "mutation { updateWebhookEndpoint(input: { id: \"whk_0190f2e1c7a97b3e8b5f000000000000\" }) { userErrors { code } } }".into(), json!({})),
        ("deleteWebhookEndpoint", Needs::Admin, "mutation { deleteWebhookEndpoint(input: { id: \"whk_0190f2e1c7a97b3e8b5f000000000000\" }) { userErrors { code } } }".into(), json!({})),
        ("testWebhookEndpoint", Needs::Admin, "mutation { testWebhookEndpoint(input: { id: \"whk_0190f2e1c7a97b3e8b5f000000000000\" }) { userErrors { code } } }".into(), json!({})),
        ("redeliverWebhookDelivery", Needs::Admin, "mutation { redeliverWebhookDelivery(input: { id: \"whd_0190f2e1c7a97b3e8b5f000000000000\" }) { userErrors { code } } }".into(), json!({})),
        ("createComment", Needs::Write, "mutation($id: ID!) { createComment(input: { subjectId: $id, body: \"\" }) { userErrors { code } } }".into(), json!({ "id": f.objective })),
        ("updateComment", Needs::Write, "mutation($id: ID!) { updateComment(input: { id: $id, body: \"x\", expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.comment })),
        ("archiveComment", Needs::Write, "mutation($id: ID!) { archiveComment(input: { id: $id, expectedVersion: -1 }) { userErrors { code } } }".into(), json!({ "id": f.comment })),
        // Last, because a person who creates a second organization must name one per request.
        ("createOrganization", Needs::Person, "mutation { createOrganization(input: { name: \"Another\" }) { userErrors { code } } }".into(), json!({})),
    ]
}

#[tokio::test]
async fn role_table_covers_every_mutation() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let admin = server.add_member(&owner, "admin", "ADMIN").await;
    let member = server.add_member(&owner, "member", "MEMBER").await;
    let viewer = server.add_member(&owner, "viewer", "VIEWER").await;
    let fixture = fixture_organization(&server, &owner, &member).await;
    let mut principals = vec![
        ("OWNER", owner.token.clone()),
        ("ADMIN", admin.token.clone()),
        ("MEMBER", member.token.clone()),
        ("VIEWER", viewer.token.clone()),
    ];
    for scope in ["read", "write", "ingest", "admin"] {
        principals.push((
            match scope {
                "read" => "token:read",
                "write" => "token:write",
                "ingest" => "token:ingest",
                _ => "token:admin",
            },
            api_token(&server, &owner, &[scope]).await,
        ));
    }

    // The table must name every mutation of the schema.
    let table = mutation_table(&fixture);
    let schema = server
        .query(
            &owner.token,
            "{ __type(name: \"Mutation\") { fields { name } } }",
            json!({}),
        )
        .await;
    let in_schema: BTreeSet<String> = schema["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["name"].as_str().unwrap().to_owned())
        .collect();
    let in_table: BTreeSet<String> = table.iter().map(|(name, ..)| (*name).to_owned()).collect();
    assert_eq!(
        in_schema, in_table,
        "the role table must cover every mutation"
    );

    // Reads: everyone in the organization reads plans; only admins read tokens and the
    // audit log; an ingest token reads nothing.
    let reads = [
        (
            "{ objectives { totalCount } }",
            [
                "OWNER",
                "ADMIN",
                "MEMBER",
                "VIEWER",
                "token:read",
                "token:write",
                "token:admin",
            ]
            .as_slice(),
        ),
        (
            "{ apiTokens { totalCount } }",
            ["OWNER", "ADMIN", "token:admin"].as_slice(),
        ),
        (
            "{ auditEntries(first: 1) { totalCount } }",
            ["OWNER", "ADMIN", "token:admin"].as_slice(),
        ),
    ];
    for (principal, token) in &principals {
        for (query, allowed) in reads {
            let (_, body) = server.post(Some(token), query, json!({})).await;
            if allowed.contains(principal) {
                assert!(
                    body["errors"].is_null(),
                    "{principal} reads {query}: {body}"
                );
            } else {
                assert_eq!(
                    body["errors"][0]["extensions"]["code"], "FORBIDDEN",
                    "{principal} must not read {query}: {body}"
                );
            }
        }
    }

    // Subscriptions need read access too.
    for (principal, token) in &principals {
        let mut client = WsClient::authenticated(&server.url, token).await;
        client
            .subscribe("s", "subscription { progress { sequence } }", json!({}))
            .await;
        client.send(json!({ "type": "ping" })).await;
        let first = client.next_message(Duration::from_secs(5)).await.unwrap();
        if *principal == "token:ingest" {
            assert_eq!(first["type"], "error", "{first}");
            assert_eq!(first["payload"][0]["extensions"]["code"], "FORBIDDEN");
        } else {
            assert_eq!(first["type"], "pong", "{principal}: {first}");
        }
    }

    // Mutations come last: a person who creates a second organization must name one per
    // request afterwards.
    for (principal, token) in &principals {
        for (name, needs, document, variables) in &table {
            let (status, body) = server.post(Some(token), document, variables.clone()).await;
            assert_eq!(status, 200, "{principal} {name}: {body}");
            let code = body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("");
            if needs.allows(principal) {
                assert_ne!(code, "FORBIDDEN", "{principal} may run {name}: {body}");
                assert!(body["errors"].is_null(), "{principal} {name}: {body}");
            } else {
                assert_eq!(code, "FORBIDDEN", "{principal} must not run {name}: {body}");
                assert!(body["data"].is_null(), "{principal} {name}: {body}");
            }
        }
    }
}

#[tokio::test]
async fn ingest_token_records_and_nothing_else() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let (_, quarter) = year_and_quarter(&server, &owner).await;
    let objective = create_objective(
        &server,
        &owner,
        json!({ "cycleId": quarter, "title": "Grow" }),
    )
    .await;
    let key_result = create_key_result(
        &server,
        &owner,
        json!({ "objectiveId": objective, "title": "Deals", "type": "INCREASE_TO", "startValue": "0", "targetValue": "10" }),
    )
    .await;
    let kpi = create_kpi(&server, &owner, json!({ "name": "Revenue" })).await;
    let created = server
        .mutate(
            &owner.token,
            "createApiToken",
            "mutation { createApiToken(input: { name: \"CRM sync\", scopes: [INGEST], expiresAt: \"2026-03-01T00:00:00Z\" }) { token apiToken { id name scopes expiresAt lastUsedAt } userErrors { field message code } } }",
            json!({}),
        )
        .await;
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("hwt_"), "{secret}");
    assert!(secret.len() >= 4 + 16 + 1 + 43, "at least 256 random bits");
    assert_eq!(created["apiToken"]["scopes"], json!(["INGEST"]));
    assert_eq!(created["apiToken"]["lastUsedAt"], Value::Null);

    let payload = server
        .mutate(
            &secret,
            "createCheckIn",
            "mutation($id: ID!) { createCheckIn(input: { keyResultId: $id, value: \"4\" }) { checkIn { source value } keyResult { currentValue progress } userErrors { field message code } } }",
            json!({ "id": key_result }),
        )
        .await;
    assert_eq!(payload["checkIn"]["source"], "API_TOKEN");
    assert_eq!(payload["keyResult"]["currentValue"], "4");

    // What it changed is readable; records beyond it are not, even through the payload.
    for (selection, field) in [
        ("checkIn { author { id } }", "CheckIn.author"),
        ("keyResult { owner { email } }", "KeyResult.owner"),
        ("keyResult { objective { title } }", "KeyResult.objective"),
        (
            "keyResult { checkIns { totalCount } }",
            "KeyResult.checkIns",
        ),
        (
            "keyResult { kpi { keyResults { title } } }",
            "Kpi.keyResults",
        ),
    ] {
        let query = format!(
            "mutation($id: ID!) {{ createCheckIn(input: {{ keyResultId: $id, value: \"5\" }}) {{ {selection} userErrors {{ message }} }} }}"
        );
        let (_, body) = server
            .post(Some(&secret), &query, json!({ "id": key_result }))
            .await;
        let error = &body["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "FORBIDDEN",
            "{selection}: {body}"
        );
        assert!(
            error["message"].as_str().unwrap().starts_with(field),
            "{selection}: {body}"
        );
        assert!(!body.to_string().contains("owner@"), "{body}");
    }
    // The document was rejected before it ran, so none of those check-ins was written.
    let read = server
        .query(
            &owner.token,
            "query($id: ID!) { node(id: $id) { ... on KeyResult { currentValue checkIns { totalCount } } } }",
            json!({ "id": key_result }),
        )
        .await;
    assert_eq!(read["node"]["currentValue"], "4");
    assert_eq!(read["node"]["checkIns"]["totalCount"], 1);
    server
        .mutate(
            &secret,
            "recordKpiMeasurements",
            "mutation($id: ID!) { recordKpiMeasurements(input: { measurements: [{ kpiId: $id, value: \"7\", observedAt: \"2026-02-14T00:00:00Z\" }] }) { recordedCount userErrors { field message code } } }",
            json!({ "id": kpi }),
        )
        .await;
    for forbidden in [
        "{ objectives { totalCount } }",
        "{ organization { name } }",
        "mutation { createTeam(input: { name: \"No\" }) { userErrors { code } } }",
    ] {
        let (_, body) = server.post(Some(&secret), forbidden, json!({})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{forbidden}: {body}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("ingest"),
            "{body}"
        );
    }

    // Listed without its secret, with the time of last use.
    let listed = server
        .query(
            &owner.token,
            "{ apiTokens { nodes { id name lastUsedAt createdBy { name } } } }",
            json!({}),
        )
        .await;
    let token = &listed["apiTokens"]["nodes"][0];
    assert_eq!(token["name"], "CRM sync");
    assert_eq!(token["lastUsedAt"], "2026-02-15T12:00:00Z");
    assert_eq!(token["createdBy"]["name"], "owner");
    assert!(!listed.to_string().contains(&secret[20..]));

    // The audit log names the token as the author of its check-in.
    let audit = server
        .query(
            &owner.token,
            "query($id: ID!) { auditEntries(filter: { action: \"createCheckIn\", apiTokenId: $id }) { nodes { action recordType apiTokenId user { name } changes } } }",
            json!({ "id": token["id"] }),
        )
        .await;
    let entry = &audit["auditEntries"]["nodes"][0];
    assert_eq!(entry["apiTokenId"], token["id"]);
    assert_eq!(entry["user"], Value::Null);
    assert_eq!(entry["changes"]["value"]["new"], "4");

    // Revoked, and later expired, tokens are rejected.
    let revoke = "mutation($id: ID!) { revokeApiToken(input: { id: $id }) { apiToken { revokedAt } userErrors { field message code } } }";
    server
        .mutate(
            &owner.token,
            "revokeApiToken",
            revoke,
            json!({ "id": token["id"] }),
        )
        .await;
    let (status, body) = server
        .post(Some(&secret), "{ __typename }", json!({}))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    let expiring = server
        .mutate(
            &owner.token,
            "createApiToken",
            "mutation { createApiToken(input: { name: \"Short\", scopes: [READ], expiresAt: \"2026-02-16T00:00:00Z\" }) { token userErrors { field message code } } }",
            json!({}),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = server
        .post(Some(&expiring), "{ objectives { totalCount } }", json!({}))
        .await;
    assert_eq!(status, 200);
    server.clock.set("2026-02-16T00:00:01Z".parse().unwrap());
    let (status, _) = server
        .post(Some(&expiring), "{ objectives { totalCount } }", json!({}))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn command_line_creates_usable_token() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let run = |arguments: Vec<String>| {
        std::process::Command::new(env!("CARGO_BIN_EXE_headway-replica"))
            .args(arguments)
            .env("HEADWAY_DATABASE_URL", &server.database.url)
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    };
    let output = run(vec![
        "token".into(),
        "create".into(),
        "--organization".into(),
        owner.organization_id.clone(),
        "--name".into(),
        "Warehouse".into(),
        "--scopes".into(),
        "ingest,read".into(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let secret = stdout
        .split_whitespace()
        .find(|word| word.starts_with("hwt_"))
        .unwrap()
        .trim_end_matches('`')
        .to_owned();
    let (status, body) = server
        .post(Some(&secret), "{ objectives { totalCount } }", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");

    let output = run(vec![
        "token".into(),
        "list".into(),
        "--organization".into(),
        owner.organization_id.clone(),
    ]);
    let listing = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(listing.contains("Warehouse"));
    assert!(listing.contains("ingest,read") || listing.contains("read,ingest"));
    assert!(!listing.contains(&secret));
    let token_id = listing
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_owned();

    let output = run(vec![
        "token".into(),
        "revoke".into(),
        "--organization".into(),
        owner.organization_id.clone(),
        token_id,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (status, _) = server
        .post(Some(&secret), "{ objectives { totalCount } }", json!({}))
        .await;
    assert_eq!(status, 401);

    let output = run(vec![
        "token".into(),
        "create".into(),
        "--organization".into(),
        owner.organization_id.clone(),
        "--name".into(),
        "X".into(),
        "--scopes".into(),
        "fly".into(),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a scope"));
}

fn sign(
    algorithm: Algorithm,
    key: &EncodingKey,
    kid: Option<&str>,
    typ: Option<&str>,
    claims: Value,
) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

fn claims(now: i64) -> Value {
    json!({ "sub": "ada", "iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "exp": now + 3600, "email": "ada@example.com", "name": "Ada" })
}

async fn accepted(server: &TestServer, token: &str) -> bool {
    let (status, body) = server
        .post(Some(token), "{ viewer { user { name } } }", json!({}))
        .await;
    assert!(status == 200 || status == 401, "{status}: {body}");
    status == 200 && body["data"]["viewer"]["user"]["name"] == "Ada"
}

#[tokio::test]
async fn public_key_algorithms_and_their_attacks() {
    let jwks = String::from_utf8(fixture("jwks.json")).unwrap();
    let authenticator = Authenticator::new(
        KeySources {
            secret: None,
            public_key: Some((fixture("rsa-public.pem"), Algorithm::RS256)),
            jwks: Some(jwks),
        },
        TEST_ISSUER,
        TEST_AUDIENCE,
        chrono::Duration::seconds(30),
        &["JWT", "at+jwt"],
    )
    .unwrap();
    let server = TestServer::start_with_authenticator(authenticator).await;
    let now = server.store.now().timestamp();
    let rsa = EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(&fixture("ec-private.pem")).unwrap();

    assert!(
        accepted(
            &server,
            &sign(Algorithm::RS256, &rsa, None, Some("JWT"), claims(now))
        )
        .await,
        "RS256 with the PEM key"
    );
    assert!(
        accepted(
            &server,
            &sign(
                Algorithm::RS256,
                &rsa,
                Some("rsa-test-1"),
                Some("at+jwt"),
                claims(now)
            )
        )
        .await,
        "RS256 by kid"
    );
    assert!(
        accepted(
            &server,
            &sign(
                Algorithm::ES256,
                &ec,
                Some("ec-test-1"),
                Some("JWT"),
                claims(now)
            )
        )
        .await,
        "ES256 by kid"
    );

    // Algorithm confusion: an HS256 token keyed with the public key must fail.
    let confused = EncodingKey::from_secret(&fixture("rsa-public.pem")).unwrap();
    assert!(
        !accepted(
            &server,
            &sign(Algorithm::HS256, &confused, None, Some("JWT"), claims(now))
        )
        .await
    );
    // alg: none, hand-built.
    let header = base64_url(r#"{"alg":"none","typ":"JWT"}"#);
    let body = base64_url(&claims(now).to_string());
    assert!(!accepted(&server, &format!("{header}.{body}.")).await);
    // Wrong or missing typ.
    assert!(
        !accepted(
            &server,
            &sign(Algorithm::RS256, &rsa, None, Some("id+jwt"), claims(now))
        )
        .await
    );
    assert!(
        !accepted(
            &server,
            &sign(Algorithm::RS256, &rsa, None, None, claims(now))
        )
        .await
    );
    // A kid that names the other key's id.
    assert!(
        !accepted(
            &server,
            &sign(
                Algorithm::ES256,
                &ec,
                Some("rsa-test-1"),
                Some("JWT"),
                claims(now)
            )
        )
        .await
    );
    // Not yet valid, and expired beyond the leeway; within the leeway both pass.
    let mut early = claims(now);
    early["nbf"] = json!(now + 60);
    assert!(
        !accepted(
            &server,
            &sign(Algorithm::RS256, &rsa, None, Some("JWT"), early.clone())
        )
        .await
    );
    early["nbf"] = json!(now + 20);
    assert!(
        accepted(
            &server,
            &sign(Algorithm::RS256, &rsa, None, Some("JWT"), early)
        )
        .await
    );
    let mut late = claims(now);
    late["exp"] = json!(now - 60);
    assert!(
        !accepted(
            &server,
            &sign(Algorithm::RS256, &rsa, None, Some("JWT"), late)
        )
        .await
    );
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn bad_credentials_never_fail_the_server() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let member = server.add_member(&owner, "member", "MEMBER").await;
    let now = server.store.now().timestamp();
    let key = EncodingKey::from_secret(TEST_SECRET.as_bytes()).unwrap();
    let valid = server.token("ada", "ada@example.com", "Ada");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = claims(now);
        change(&mut body);
        sign(Algorithm::HS256, &key, None, Some("JWT"), body)
    };
    let unauthenticated = [
        ("malformed", "not.a.token".to_owned()),
        ("truncated", valid[..valid.len() / 2].to_owned()),
        (
            "expired",
            with(&|claims| claims["exp"] = json!(now - 3_600)),
        ),
        (
            "not yet valid",
            with(&|claims| claims["nbf"] = json!(now + 3_600)),
        ),
        (
            "wrong audience",
            with(&|claims| claims["aud"] = json!("another-api")),
        ),
        (
            "wrong issuer",
            with(&|claims| claims["iss"] = json!("someone-else")),
        ),
        (
            "wrong typ",
            sign(Algorithm::HS256, &key, None, Some("dpop+jwt"), claims(now)),
        ),
        (
            "no typ",
            sign(Algorithm::HS256, &key, None, None, claims(now)),
        ),
        ("no subject", with(&|claims| claims["sub"] = json!(""))),
        (
            "forged token",
            "hwt_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned(),
        ),
        ("huge token", "x".repeat(20_000)),
    ];
    for (case, token) in unauthenticated {
        let (status, body) = server
            .post(Some(&token), "{ organization { name } }", json!({}))
            .await;
        assert!(status == 401 || status == 431, "{case}: {status} {body}");
        if status == 401 {
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                "{case}"
            );
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert!(
                !message.contains("audience")
                    && !message.contains("issuer")
                    && !message.contains("signature"),
                "{case}: {message}"
            );
        }
    }

    // A removed member keeps a valid token but no organization.
    let membership = server
        .query(
            &owner.token,
            "{ organization { members { nodes { id role } } } }",
            json!({}),
        )
        .await["organization"]["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|node| node["role"] == "MEMBER")
        .unwrap()["id"]
        .clone();
    server
        .mutate(
            &owner.token,
            "removeMember",
            "mutation($id: ID!) { removeMember(input: { membershipId: $id }) { membership { id } userErrors { field message code } } }",
            json!({ "id": membership }),
        )
        .await;
    let (status, body) = server
        .post(Some(&member.token), "{ organization { name } }", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");

    // An archived organization locks out its members and tokens.
    let token = api_token(&server, &owner, &["read"]).await;
    server
        .mutate(
            &owner.token,
            "archiveOrganization",
            "mutation { archiveOrganization(input: {}) { organization { id } userErrors { field message code } } }",
            json!({}),
        )
        .await;
    let (_, body) = server
        .post(Some(&owner.token), "{ organization { name } }", json!({}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let (status, _) = server
        .post(Some(&token), "{ objectives { totalCount } }", json!({}))
        .await;
    assert_eq!(status, 401);

    let (status, body) = server.post(None, "{ __typename }", json!({})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn audit_log_records_who_changed_what() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let member = server.add_member(&owner, "member", "MEMBER").await;
    let (_, quarter) = year_and_quarter(&server, &owner).await;
    let objective = create_objective(
        &server,
        &member,
        json!({ "cycleId": quarter, "title": "First" }),
    )
    .await;
    server
        .mutate(
            &member.token,
            "updateObjective",
            "mutation($id: ID!) { updateObjective(input: { id: $id, title: \"Second\" }) { objective { id } userErrors { field message code } } }",
            json!({ "id": objective }),
        )
        .await;
    let data = server
        .query(
            &owner.token,
            "query($id: ID!) { auditEntries(filter: { recordId: $id }) { totalCount nodes { action recordType recordId user { name } changes occurredAt } } }",
            json!({ "id": objective }),
        )
        .await;
    let entries = data["auditEntries"]["nodes"].as_array().unwrap();
    assert_eq!(data["auditEntries"]["totalCount"], 2);
    assert_eq!(entries[0]["action"], "updateObjective", "newest first");
    assert_eq!(entries[0]["recordType"], "Objective");
    assert_eq!(entries[0]["recordId"], json!(objective));
    assert_eq!(entries[0]["user"]["name"], "member");
    assert_eq!(
        entries[0]["changes"],
        json!({ "title": { "old": "First", "new": "Second" } })
    );
    assert_eq!(entries[1]["action"], "createObjective");
    assert_eq!(entries[1]["changes"]["title"]["new"], "First");
    assert_eq!(
        entries[1]["changes"]["cycleId"]["new"],
        json!(quarter),
        "references are global ids under the API's field names"
    );
    for internal in [
        "cycle_id",
        "milestones",
        "version",
        "updated_at",
        "created_at",
    ] {
        assert!(
            entries[1]["changes"].get(internal).is_none(),
            "{internal} in {}",
            entries[1]["changes"]
        );
    }

    let data = server
        .query(
            &owner.token,
            "query($user: ID!) { auditEntries(filter: { userId: $user }) { totalCount } }",
            json!({ "user": member.user_id }),
        )
        .await;
    assert_eq!(data["auditEntries"]["totalCount"], 2);
}

/// Sends a raw body and returns status and body text.
async fn raw(server: &TestServer, token: &str, body: String) -> (u16, String) {
    let response = server
        .client
        .post(&server.url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Asserts that a plain request is answered within a few seconds.
async fn still_answers(server: &TestServer, token: &str) {
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        server.post(Some(token), "{ __typename }", json!({})),
    )
    .await;
    let (status, _) = answer.expect("the server stopped answering after an abusive request");
    assert_eq!(status, 200);
}

#[tokio::test]
async fn abusive_requests_hit_named_limits() {
    let server = TestServer::start_with(|serve| {
        serve.max_query_depth = 10;
        serve.max_aliases = 100;
        serve.max_batch_operations = 10;
        serve.max_body_bytes = 1_048_576;
        serve.max_query_complexity = 5_000;
    })
    .await;
    let owner = server.sign_up("owner").await;

    let aliases: String = (0..10_000)
        .map(|index| format!("a{index}: __typename "))
        .collect();
    let (status, body) = raw(
        &server,
        &owner.token,
        json!({ "query": format!("{{ {aliases} }}") }).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("10000 aliases")
            && body.contains("the maximum is 100")
            && body.contains("HEADWAY_MAX_ALIASES"),
        "{body}"
    );
    still_answers(&server, &owner.token).await;

    let mut nested = String::from("id");
    for _ in 0..20 {
        nested = format!("children {{ nodes {{ {nested} }} }}");
    }
    let deep = format!("{{ objectives {{ nodes {{ {nested} }} }} }}");
    let (status, body) = raw(&server, &owner.token, json!({ "query": deep }).to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("the maximum depth is 10") && body.contains("HEADWAY_MAX_QUERY_DEPTH"),
        "{body}"
    );
    still_answers(&server, &owner.token).await;

    // Introspection does not count towards the depth, but its lists may nest only three
    // levels, so that no introspection response grows to megabytes.
    let mut blow_up = String::from("name");
    for _ in 0..8 {
        blow_up = format!("fields {{ type {{ {blow_up} }} }}");
    }
    let introspection = format!("{{ __schema {{ types {{ {blow_up} }} }} }}");
    let (status, body) = raw(
        &server,
        &owner.token,
        json!({ "query": introspection }).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("nests list fields") && body.contains("the maximum is 3"),
        "{body}"
    );
    still_answers(&server, &owner.token).await;

    let wide =
        "{ objectives(first: 100) { nodes { keyResults(first: 100) { nodes { id title } } } } }";
    let (status, body) = raw(&server, &owner.token, json!({ "query": wide }).to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("complexity") && body.contains("the maximum is 5000"),
        "{body}"
    );

    let batch: Vec<Value> = (0..10_000)
        .map(|_| json!({ "query": "{ __typename }" }))
        .collect();
    let (status, body) = raw(&server, &owner.token, Value::Array(batch).to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("10000 operations") && body.contains("1 to 10"),
        "{body}"
    );
    still_answers(&server, &owner.token).await;

    let oversized =
        json!({ "query": format!("{{ __typename }} # {}", "x".repeat(2 * 1_048_576)) }).to_string();
    let (status, body) = raw(&server, &owner.token, oversized).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("1048576 bytes"), "{body}");
    still_answers(&server, &owner.token).await;
}

#[tokio::test]
async fn request_time_out_names_its_limit() {
    let server = TestServer::start_with(|serve| serve.request_timeout_ms = 1).await;
    let owner = server.sign_up_directly("owner").await;
    let (status, body) = server
        .post(
            Some(&owner.token),
            "{ objectives(first: 100) { totalCount nodes { id } } organization { name } }",
            json!({}),
        )
        .await;
    if status == 503 {
        assert_eq!(body["errors"][0]["extensions"]["code"], "TIMEOUT");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("HEADWAY_REQUEST_TIMEOUT_MS")
        );
    } else {
        // A machine fast enough to answer within 1 ms still answers correctly.
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn rate_limit_per_principal() {
    let server = TestServer::start_with(|serve| {
        serve.rate_limit_per_second = 0.5;
        serve.rate_limit_burst = 3.0;
    })
    .await;
    let first = server.token("first", "first@example.com", "First");
    let second = server.token("second", "second@example.com", "Second");
    for _ in 0..3 {
        let (status, _) = server.post(Some(&first), "{ __typename }", json!({})).await;
        assert_eq!(status, 200);
    }
    let response = server
        .client
        .post(&server.url)
        .bearer_auth(&first)
        .header("content-type", "application/json")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("0.5 requests per second")
    );
    let (status, _) = server
        .post(Some(&second), "{ __typename }", json!({}))
        .await;
    assert_eq!(status, 200, "another principal has its own bucket");
}

#[tokio::test]
async fn rate_limit_holds_across_replicas_with_redis() {
    if std::env::var(headway_tests::server::REDIS_URL_VARIABLE).map_or(true, |url| url.is_empty()) {
        eprintln!(
            "rate_limit_holds_across_replicas_with_redis needs Redis: set HEADWAY_TEST_REDIS_URL to run it"
        );
        return;
    }
    let channel = format!("headway:test:{}", uuid::Uuid::now_v7().simple());
    let configure = |serve: &mut headway_api::config::ServeArgs| {
        serve.rate_limit_per_second = 0.5;
        serve.rate_limit_burst = 4.0;
        serve.redis_channel = channel.clone();
    };
    let first = TestServer::start_with(configure).await;
    let second = TestServer::start_with(configure).await;
    // Anonymous requests share one bucket per address, and both replicas see 127.0.0.1.
    for server in [&first, &second, &first, &second] {
        let (status, _) = server.post(None, "{ __typename }", json!({})).await;
        assert_eq!(status, 200);
    }
    let (status, body) = second.post(None, "{ __typename }", json!({})).await;
    assert_eq!(
        status, 429,
        "the fifth request across both replicas exceeds the burst: {body}"
    );
}

#[tokio::test]
async fn production_hardening_switches() {
    let server = TestServer::start_with(|serve| {
        serve.introspection = false;
        serve.field_suggestions = false;
    })
    .await;
    let owner = server.sign_up("owner").await;
    let (_, body) = server
        .post(
            Some(&owner.token),
            "{ __schema { types { name } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    let (_, body) = server
        .post(Some(&owner.token), "{ organizatio { name } }", json!({}))
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
}

#[tokio::test]
async fn api_token_rejections_name_the_cause() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let create = "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id } userErrors { field message code } } }";
    let revoked = server
        .mutate(
            &owner.token,
            "createApiToken",
            create,
            json!({ "input": { "name": "Revoked", "scopes": ["READ"] } }),
        )
        .await;
    let expiring = server
        .mutate(
            &owner.token,
            "createApiToken",
            create,
            json!({ "input": { "name": "Expiring", "scopes": ["READ"], "expiresAt": "2026-02-16T00:00:00Z" } }),
        )
        .await;
    let revoked_secret = revoked["token"].as_str().unwrap();
    let expiring_secret = expiring["token"].as_str().unwrap();
    server
        .mutate(
            &owner.token,
            "revokeApiToken",
            "mutation($id: ID!) { revokeApiToken(input: { id: $id }) { apiToken { revokedAt } userErrors { field message code } } }",
            json!({ "id": revoked["apiToken"]["id"] }),
        )
        .await;
    server.clock.set("2026-02-16T00:00:01Z".parse().unwrap());

    let message = |body: &Value| body["errors"][0]["message"].as_str().unwrap().to_owned();
    let (status, body) = server
        .post(Some(revoked_secret), "{ __typename }", json!({}))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert_eq!(
        message(&body),
        "the API token was revoked at 2026-02-15T12:00:00Z; ask an admin for a new one"
    );

    let (status, body) = server
        .post(Some(expiring_secret), "{ __typename }", json!({}))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        message(&body),
        "the API token expired at 2026-02-16T00:00:00Z; ask an admin for a new one"
    );

    // A wrong secret for an existing token's lookup reveals nothing about that token.
    let (lookup, _) = revoked_secret.rsplit_once('_').unwrap();
    let forged = format!("{lookup}_{}", "a".repeat(43));
    for token in [forged.as_str(), "hwt_0123456789abcdef_short"] {
        let (status, body) = server.post(Some(token), "{ __typename }", json!({})).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(
            message(&body),
            "the API token is invalid; check that it was copied whole, or ask an admin for a new one"
        );
    }
}

#[test]
fn command_line_issue_checks_its_input() {
    let issue = |arguments: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_headway-replica"))
            .args(["token", "issue"])
            .args(arguments)
            .env("HEADWAY_JWT_SECRET", TEST_SECRET)
            .env("HEADWAY_JWT_ISSUER", TEST_ISSUER)
            .env("HEADWAY_JWT_AUDIENCE", TEST_AUDIENCE)
            .env("HEADWAY_MODE", "development")
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    for subject in ["", "   ", &"s".repeat(256)] {
        let (success, stdout, stderr) = issue(&["--subject", subject]);
        assert!(!success, "subject {subject:?}: {stdout}");
        assert!(stdout.is_empty(), "subject {subject:?}: {stdout}");
        assert!(
            stderr.contains("--subject")
                && stderr.contains("is invalid: it must have 1 to 255 bytes"),
            "subject {subject:?}: {stderr}"
        );
    }
    for hours in ["0", "8761"] {
        let (success, stdout, stderr) = issue(&["--subject", "ada", "--ttl-hours", hours]);
        assert!(!success, "{hours} hours: {stdout}");
        assert!(stderr.contains("--ttl-hours"), "{hours} hours: {stderr}");
        assert!(stderr.contains("1..=8760"), "{hours} hours: {stderr}");
    }

    let (success, token, stderr) = issue(&["--subject", "ada", "--ttl-hours", "1"]);
    assert!(success, "{stderr}");
    let authenticator = Authenticator::hs256(
        TEST_SECRET.as_bytes(),
        TEST_ISSUER,
        TEST_AUDIENCE,
        chrono::Duration::zero(),
    )
    .unwrap();
    let now = chrono::Utc::now();
    let claims = authenticator.verify(&token, now).unwrap();
    assert_eq!(claims.sub, "ada");
    assert!(
        (claims.exp - now.timestamp() - 3_600).abs() < 60,
        "{}",
        claims.exp
    );
}
