use headway_tests::TestServer;
use serde_json::{Value, json};

#[tokio::test]
async fn typename_answers_anonymously() {
    let server = TestServer::start().await;
    let (status, body) = server.post(None, "{ __typename }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["__typename"], "Query");
}
