//! Bearer tokens: who gets in, and which organization they act on.

use headway_api::auth::Authenticator;
use headway_tests::TestServer;
use headway_tests::server::{TEST_AUDIENCE, TEST_ISSUER};
use serde_json::{Value, json};

async fn organization_query(server: &TestServer, token: &str) -> (u16, Value) {
    server
        .post(Some(token), "{ organization { name } }", json!({}))
        .await
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
        server
            .authenticator
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
        assert_eq!(
            body["errors"][0]["message"],
            "the bearer token is invalid or expired; sign in again"
        );
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
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("x-headway-organization")
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
