//! GraphQL over HTTP: media types, status codes, GET, GraphiQL and request limits.

use headway_tests::TestServer;
use serde_json::{Value, json};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

async fn send(
    server: &TestServer,
    accept: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut request = server.client.post(&server.url).body(body.to_owned());
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let media_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, media_type, response.text().await.unwrap())
}

#[tokio::test]
async fn typename_answers_anonymously() {
    let server = TestServer::start().await;
    let (status, body) = server.post(None, "{ __typename }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn response_type_follows_accept() {
    let server = TestServer::start().await;
    let valid = r#"{"query":"{ __typename }"}"#;
    let (status, media_type, _) = send(
        &server,
        Some(GRAPHQL_RESPONSE),
        Some("application/json"),
        valid,
    )
    .await;
    assert_eq!(status, 200);
    assert!(media_type.starts_with(GRAPHQL_RESPONSE), "{media_type}");

    let (status, media_type, _) = send(
        &server,
        Some("application/json"),
        Some("application/json"),
        valid,
    )
    .await;
    assert_eq!(status, 200);
    assert!(media_type.starts_with("application/json"), "{media_type}");

    let (status, media_type, _) = send(&server, None, Some("application/json"), valid).await;
    assert_eq!(status, 200);
    assert!(media_type.starts_with("application/json"), "{media_type}");

    let (status, _, body) = send(&server, Some("text/xml"), Some("application/json"), valid).await;
    assert_eq!(status, 406, "{body}");
}

#[tokio::test]
async fn invalid_documents_by_response_type() {
    let server = TestServer::start().await;
    for document in [
        r#"{"query":"{ __typename"}"#,
        r#"{"query":"{ noSuchField }"}"#,
    ] {
        let (status, _, body) = send(
            &server,
            Some(GRAPHQL_RESPONSE),
            Some("application/json"),
            document,
        )
        .await;
        assert_eq!(status, 400, "{document}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(
            body.get("data").is_none() || body["data"].is_null(),
            "{body}"
        );
        assert!(body["errors"][0]["message"].is_string());

        let (status, _, _) = send(
            &server,
            Some("application/json"),
            Some("application/json"),
            document,
        )
        .await;
        assert_eq!(status, 200, "{document}");
    }
}

#[tokio::test]
async fn request_shapes_rejected() {
    let server = TestServer::start().await;
    let (status, _, body) = send(
        &server,
        Some(GRAPHQL_RESPONSE),
        Some("text/plain"),
        r#"{"query":"{ __typename }"}"#,
    )
    .await;
    assert_eq!(status, 415, "{body}");
    let (status, _, _) = send(
        &server,
        Some(GRAPHQL_RESPONSE),
        None,
        r#"{"query":"{ __typename }"}"#,
    )
    .await;
    assert_eq!(status, 415);
    let (status, _, body) = send(
        &server,
        Some("application/json"),
        Some("application/json"),
        "{not json",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not valid JSON"), "{body}");

    // Valid JSON of the wrong shape: the message names the member and its type, in JSON
    // terms rather than the server's type names.
    for (request, expected) in [
        (r#"{"variables":{}}"#, "the request has no query"),
        (r#"{"query":null}"#, "query must be a string, not null"),
        (
            r#"{"query":"{ __typename }","variables":[1,2]}"#,
            "variables must be an object or null, not a list",
        ),
        (
            r#"{"query":"{ __typename }","operationName":7}"#,
            "operationName must be a string or null, not a number",
        ),
        (
            r#"[{"query":"{ __typename }"},5]"#,
            "request 1: expected an object, got a number",
        ),
        ("[]", "the request has no query"),
    ] {
        let (status, _, body) = send(
            &server,
            Some("application/json"),
            Some("application/json"),
            request,
        )
        .await;
        assert_eq!(status, 400, "{request}: {body}");
        assert!(body.contains(expected), "{request}: {body}");
        assert!(!body.contains("untagged"), "{request}: {body}");
    }
}

#[tokio::test]
async fn body_limit_names_its_value() {
    let server = TestServer::start_with(|serve| serve.max_body_bytes = 4_096).await;
    let big = format!(r#"{{"query":"{{ __typename }} # {}"}}"#, "x".repeat(5_000));
    let (status, _, body) = send(
        &server,
        Some("application/json"),
        Some("application/json"),
        &big,
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("4096 bytes"), "{body}");
    assert!(body.contains("HEADWAY_MAX_BODY_BYTES"), "{body}");
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed["errors"][0]["extensions"]["limit"], "maxBodyBytes");
    assert_eq!(parsed["errors"][0]["extensions"]["limitValue"], 4096);
    let (status, _) = server.post(None, "{ __typename }", json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn batches_up_to_the_limit() {
    let server = TestServer::start_with(|serve| serve.max_batch_operations = 3).await;
    let three = r#"[{"query":"{ a: __typename }"},{"query":"{ b: __typename }"},{"query":"{ c: __typename }"}]"#;
    let (status, _, body) = send(
        &server,
        Some("application/json"),
        Some("application/json"),
        three,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body.as_array().unwrap().len(), 3);
    assert_eq!(body[2]["data"]["c"], "Query");

    let four = r#"[{"query":"{ __typename }"},{"query":"{ __typename }"},{"query":"{ __typename }"},{"query":"{ __typename }"}]"#;
    let (status, _, body) = send(
        &server,
        Some("application/json"),
        Some("application/json"),
        four,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("4 operations"), "{body}");
    assert!(body.contains("1 to 3"), "{body}");
}

#[tokio::test]
async fn get_runs_queries_only() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(format!("{}?query=%7B__typename%7D", server.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query");

    let response = server
        .client
        .get(format!("{}?query=mutation%7B__typename%7D", server.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn browsers_get_graphiql() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(&server.url)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("graphiql"));
}

#[tokio::test]
async fn health_endpoints() {
    let server = TestServer::start().await;
    let base = format!("http://{}", server.address);
    let healthz = server
        .client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status().as_u16(), 200);
    let readyz: Value = server
        .client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readyz["status"], "ready");
    assert_eq!(readyz["migrations"], true);
}

#[tokio::test]
async fn request_id_in_errors() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(&server.url)
        .header("content-type", "application/json")
        .header("x-request-id", "trace-me-42")
        .body(r#"{"query":"{ organization { name } }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["requestId"], "trace-me-42");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn custom_scalar_wrong_type_is_bad_input() {
    let server = TestServer::start().await;
    let owner = server.sign_up("Ada").await;
    for (document, variables) in [
        (
            "mutation($at: DateTime) { createCheckIn(input: { keyResultId: \"kr_00000000000000000000000000000000\", value: \"1\", observedAt: $at }) { userErrors { message } } }",
            json!({ "at": 5 }),
        ),
        (
            "mutation($value: Decimal) { createCheckIn(input: { keyResultId: \"kr_00000000000000000000000000000000\", value: $value }) { userErrors { message } } }",
            json!({ "value": { "x": 1 } }),
        ),
    ] {
        let (_, body) = server.post(Some(&owner.token), document, variables).await;
        let code = &body["errors"][0]["extensions"]["code"];
        assert_eq!(code, "BAD_USER_INPUT", "{document}: {body}");
    }
}
