//! Bearer tokens: who gets in, and which organization they act on.

use headway_api::auth::Authenticator;
use headway_tests::TestServer;
use headway_tests::server::{TEST_AUDIENCE, TEST_ISSUER, TEST_SECRET};
use headway_tests::ws::{Ending, WsClient};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use std::time::Duration;

/// The message of every token that fails a check other than its time claims.
const INVALID_TOKEN: &str =
    "the bearer token is invalid; get a new one from your identity provider and send it instead";

async fn organization_query(server: &TestServer, token: &str) -> (u16, Value) {
    server
        .post(Some(token), "{ organization { name } }", json!({}))
        .await
}

/// Sends `{ organization { id name } }` with exactly these headers, as raw bytes, in order.
async fn post_with_headers(server: &TestServer, headers: &[(&str, &[u8])]) -> (u16, Value) {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let response = server
        .client
        .post(&server.url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .headers(map)
        .body(r#"{"query":"{ organization { id name } }"}"#)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Signs `claims` with the test secret, with `typ` in the header when given.
fn sign(typ: Option<&str>, claims: Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = typ.map(str::to_owned);
    let key = EncodingKey::from_secret(TEST_SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn error_message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn missing_token_is_unauthenticated() {
    let server = TestServer::start().await;
    let (status, body) = server
        .post(None, "{ organization { name } }", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization header")
    );
}

#[tokio::test]
async fn invalid_tokens_are_rejected() {
    let server = TestServer::start().await;
    let now = server.store.now();
    let other_key = Authenticator::hs256(
        b"another-secret-that-is-long-enough-32b",
        TEST_ISSUER,
        TEST_AUDIENCE,
        chrono::Duration::zero(),
    )
    .unwrap();
    let wrong_issuer = Authenticator::hs256(
        headway_tests::server::TEST_SECRET.as_bytes(),
        "someone-else",
        TEST_AUDIENCE,
        chrono::Duration::zero(),
    )
    .unwrap();
    let wrong_audience = Authenticator::hs256(
        headway_tests::server::TEST_SECRET.as_bytes(),
        TEST_ISSUER,
        "another-api",
        chrono::Duration::zero(),
    )
    .unwrap();
    let valid = server.token("ada", "ada@example.com", "Ada");
    let tokens = [
        other_key
            .issue("ada", None, None, now, chrono::Duration::hours(1))
            .unwrap(),
        wrong_issuer
            .issue("ada", None, None, now, chrono::Duration::hours(1))
            .unwrap(),
        wrong_audience
            .issue("ada", None, None, now, chrono::Duration::hours(1))
            .unwrap(),
        // Expired, but with a signature of another key: the expiry must not show.
        other_key
            .issue(
                "ada",
                None,
                None,
                now - chrono::Duration::hours(3),
                chrono::Duration::hours(1),
            )
            .unwrap(),
        valid[..valid.len() - 4].to_owned(),
        "not-a-jwt".to_owned(),
    ];
    for token in tokens {
        let (status, body) = organization_query(&server, &token).await;
        assert_eq!(status, 401, "{token}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert_eq!(body["errors"][0]["message"], INVALID_TOKEN);
    }
    let response = server
        .client
        .post(&server.url)
        .header("content-type", "application/json")
        .header("authorization", "Basic YWRhOnNlY3JldA==")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn expiry_follows_the_server_clock() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let (status, _) = organization_query(&server, &ada.token).await;
    assert_eq!(status, 200);
    // The token lives a day; the leeway is a minute.
    server
        .clock
        .advance(chrono::Duration::hours(24) + chrono::Duration::seconds(30));
    let (status, _) = organization_query(&server, &ada.token).await;
    assert_eq!(status, 200, "within the leeway");
    server.clock.advance(chrono::Duration::seconds(60));
    let (status, _) = organization_query(&server, &ada.token).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn user_without_organization() {
    let server = TestServer::start().await;
    let token = server.token("loner", "loner@example.com", "Lone Wolf");
    let (status, body) = organization_query(&server, &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let data = server
        .query(
            &token,
            "{ viewer { user { name email } organization { id } role } }",
            json!({}),
        )
        .await;
    assert_eq!(data["viewer"]["user"]["name"], "Lone Wolf");
    assert_eq!(data["viewer"]["organization"], Value::Null);
}

#[tokio::test]
async fn several_organizations_need_the_header() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let second = server
        .mutate(
            &ada.token,
            "createOrganization",
            "mutation { createOrganization(input: { name: \"Side project\" }) { organization { id } userErrors { field message code } } }",
            json!({}),
        )
        .await;
    let second_id = second["organization"]["id"].as_str().unwrap();

    let (_, body) = organization_query(&server, &ada.token).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let message = error_message(&body);
    assert!(
        message.starts_with("you belong to 2 organizations: "),
        "{message}"
    );
    assert!(
        message.contains(&format!("{} (ada's organization)", ada.organization_id)),
        "{message}"
    );
    assert!(
        message.contains(&format!("{second_id} (Side project)")),
        "{message}"
    );
    assert!(
        message.ends_with("send the id of one of them in the X-Headway-Organization header"),
        "{message}"
    );

    let response = server
        .client
        .post(&server.url)
        .bearer_auth(&ada.token)
        .header("content-type", "application/json")
        .header("x-headway-organization", second_id)
        .body(r#"{"query":"{ organization { id name } }"}"#)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["organization"]["name"], "Side project");

    let bob = server.sign_up("bob").await;
    let response = server
        .client
        .post(&server.url)
        .bearer_auth(&ada.token)
        .header("content-type", "application/json")
        .header("x-headway-organization", &bob.organization_id)
        .body(r#"{"query":"{ organization { id } }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
}

#[tokio::test]
async fn invited_member_joins_on_first_sign_in() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let grace = server.add_member(&ada, "grace", "MEMBER").await;
    assert_eq!(grace.organization_id, ada.organization_id);
    let data = server
        .query(
            &grace.token,
            "{ viewer { role user { signedIn } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["viewer"]["role"], "MEMBER");
    assert_eq!(data["viewer"]["user"]["signedIn"], true);

    let viewer = server.add_member(&ada, "ken", "VIEWER").await;
    let (_, body) = server
        .post(
            Some(&viewer.token),
            "mutation { createTeam(input: { name: \"Nope\" }) { team { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("ADMIN")
    );
}

#[tokio::test]
async fn organization_list_is_capped() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    for number in 1..=11 {
        // From the second organization on, Ada names the one she acts in.
        let response = server
            .client
            .post(&server.url)
            .bearer_auth(&ada.token)
            .header("x-headway-organization", &ada.organization_id)
            .json(&json!({
                "query": "mutation($name: String!) { createOrganization(input: { name: $name }) { organization { id } userErrors { field message code } } }",
                "variables": { "name": format!("Venture {number}") },
            }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert!(
            body["data"]["createOrganization"]["organization"]["id"].is_string(),
            "{body}"
        );
    }
    // Someone else's organization never shows in Ada's message.
    let bob = server.sign_up("bob").await;

    let (status, body) = organization_query(&server, &ada.token).await;
    assert_eq!(status, 403, "{body}");
    let message = error_message(&body);
    assert!(
        message.starts_with("you belong to 12 organizations: "),
        "{message}"
    );
    assert_eq!(message.matches("org_").count(), 10, "{message}");
    assert!(message.contains(", and 2 more; "), "{message}");
    assert!(!message.contains(&bob.organization_id), "{message}");
    assert!(!message.contains("bob's organization"), "{message}");
}

#[tokio::test]
async fn token_times_are_told_apart() {
    let server = TestServer::start().await;
    let now = server.store.now().timestamp();
    let claims = |change: &dyn Fn(&mut Value)| {
        let mut body =
            json!({ "sub": "ada", "iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "exp": now + 3_600 });
        change(&mut body);
        body
    };

    // The test clock reads 2026-02-15T12:00:00Z, and the leeway is a minute.
    let expired = sign(
        Some("JWT"),
        claims(&|body| body["exp"] = json!(now - 7_200)),
    );
    let (status, body) = organization_query(&server, &expired).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert_eq!(
        error_message(&body),
        "the bearer token expired at 2026-02-15T10:00:00Z; get a new one from your identity provider and send it instead"
    );

    let premature = sign(
        Some("JWT"),
        claims(&|body| body["nbf"] = json!(now + 3_600)),
    );
    let (status, body) = organization_query(&server, &premature).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        error_message(&body),
        "the bearer token is not valid before 2026-02-15T13:00:00Z, and the server's time is 2026-02-15T12:00:00Z; wait until then, or check the clock of the identity provider that issued it"
    );

    // Explicit typing: a token without `typ` is rejected like any other invalid token,
    // and the accepted values match in any case.
    let untyped = sign(None, claims(&|_| {}));
    let (status, body) = organization_query(&server, &untyped).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_message(&body), INVALID_TOKEN);
    for typ in ["JWT", "jwt", "AT+JWT"] {
        let typed = sign(Some(typ), claims(&|_| {}));
        let (status, body) = server
            .post(Some(&typed), "{ viewer { user { id } } }", json!({}))
            .await;
        assert_eq!(status, 200, "typ {typ}: {body}");
        assert!(body.get("errors").is_none(), "typ {typ}: {body}");
    }
}

#[tokio::test]
async fn non_ascii_authorization_is_rejected() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let with_accent = format!("Bearer {}é", ada.token);
    for value in [
        "Bearer éé".as_bytes(),
        with_accent.as_bytes(),
        b"Bearer \xff\xfe",
    ] {
        let (status, body) = post_with_headers(&server, &[("authorization", value)]).await;
        let shown = String::from_utf8_lossy(value);
        assert_eq!(status, 401, "{shown}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{shown}"
        );
        assert!(
            error_message(&body).starts_with("invalid Authorization header: "),
            "{shown}: {body}"
        );
    }

    let organization = format!("{}é", ada.organization_id);
    let (status, body) = post_with_headers(
        &server,
        &[
            ("authorization", format!("Bearer {}", ada.token).as_bytes()),
            ("x-headway-organization", organization.as_bytes()),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(
        error_message(&body).starts_with("invalid X-Headway-Organization header: "),
        "{body}"
    );
}

#[tokio::test]
async fn repeated_credential_headers_are_rejected() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    let valid = format!("Bearer {}", ada.token);
    let junk = "Bearer junk";
    for pair in [
        [valid.as_str(), junk],
        [junk, valid.as_str()],
        [valid.as_str(), valid.as_str()],
    ] {
        let (status, body) = post_with_headers(
            &server,
            &[
                ("authorization", pair[0].as_bytes()),
                ("authorization", pair[1].as_bytes()),
            ],
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(
            error_message(&body),
            "the request has 2 Authorization headers; send it once"
        );
        assert!(body["data"].is_null(), "{body}");
    }

    let (status, body) = post_with_headers(
        &server,
        &[
            ("authorization", valid.as_bytes()),
            ("x-headway-organization", ada.organization_id.as_bytes()),
            ("X-Headway-Organization", ada.organization_id.as_bytes()),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        error_message(&body),
        "the request has 2 X-Headway-Organization headers; send it once"
    );

    // One of each still works.
    let (status, body) = post_with_headers(
        &server,
        &[
            ("authorization", valid.as_bytes()),
            ("x-headway-organization", ada.organization_id.as_bytes()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["organization"]["id"],
        ada.organization_id.as_str()
    );
}

#[tokio::test]
async fn bearer_scheme_matches_any_case() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    for scheme in [
        "Bearer ",
        "bearer ",
        "BEARER ",
        "bEaReR ",
        "Bearer   ",
        "Bearer\t",
    ] {
        let value = format!("{scheme}{}", ada.token);
        let (status, body) =
            post_with_headers(&server, &[("authorization", value.as_bytes())]).await;
        assert_eq!(status, 200, "{scheme:?}: {body}");
        assert_eq!(
            body["data"]["organization"]["id"],
            ada.organization_id.as_str(),
            "{scheme:?}: {body}"
        );
    }
    for value in ["Basic YWRhOnNlY3JldA==", "Bearer", "Bearer ", "Bearertoken"] {
        let (status, body) =
            post_with_headers(&server, &[("authorization", value.as_bytes())]).await;
        assert_eq!(status, 401, "{value:?}: {body}");
        assert_eq!(
            error_message(&body),
            "invalid Authorization header: it must be \"Bearer <token>\"",
            "{value:?}"
        );
    }
}

#[tokio::test]
async fn websocket_checks_credential_headers() {
    let server = TestServer::start().await;
    let ada = server.sign_up("ada").await;
    // The upgrade request is refused before the handshake. reqwest sends it, because the
    // WebSocket client refuses to send header values that are not UTF-8.
    let upgrade = |values: Vec<Vec<u8>>| {
        let mut request = server
            .client
            .get(&server.url)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-protocol", "graphql-transport-ws");
        for value in values {
            request = request.header("authorization", HeaderValue::from_bytes(&value).unwrap());
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or_default())
        }
    };

    let valid = format!("Bearer {}", ada.token).into_bytes();
    let (status, body) = upgrade(vec![valid.clone()]).await;
    assert_eq!(status, 101, "one valid header upgrades: {body}");
    let (status, body) = upgrade(vec![valid.clone(), b"Bearer junk".to_vec()]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        error_message(&body),
        "the request has 2 Authorization headers; send it once"
    );
    let (status, body) = upgrade(vec!["Bearer éé".as_bytes().to_vec()]).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        error_message(&body).starts_with("invalid Authorization header: "),
        "{body}"
    );

    // The same rules hold for the `connection_init` payload; the legacy protocol reports
    // the message before it closes.
    let mut client = WsClient::connect(&server.url, "graphql-ws").await;
    client
        .send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}é", ada.token) } }))
        .await;
    let error = client.next_message(Duration::from_secs(5)).await.unwrap();
    assert_eq!(error["type"], "connection_error", "{error}");
    assert!(
        error["payload"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("invalid Authorization header: "),
        "{error}"
    );
    assert!(matches!(
        client.ending(Duration::from_secs(5)).await,
        Some(Ending::Closed { code: 4403, .. })
    ));

    let mut client = WsClient::connect(&server.url, "graphql-transport-ws").await;
    client
        .send(json!({ "type": "connection_init", "payload": { "Authorization": format!("BEARER {}", ada.token) } }))
        .await;
    let ack = client.next_message(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ack["type"], "connection_ack", "{ack}");
}
