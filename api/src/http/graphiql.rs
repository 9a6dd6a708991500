//! GraphiQL for browsers that open `GET /graphql`.

use actix_web::HttpResponse;
use async_graphql::http::GraphiQLSource;

/// The GraphiQL page, which sends its requests to `endpoint`.
pub fn page(endpoint: &str) -> HttpResponse {
    let html = GraphiQLSource::build()
        .endpoint(endpoint)
        .title("Headway GraphiQL")
        .finish();
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}
