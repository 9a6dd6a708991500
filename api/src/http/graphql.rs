//! `POST /graphql` and `GET /graphql` per GraphQL over HTTP.
//!
//! The response is `application/graphql-response+json` or `application/json` by the
//! request's `Accept` header. Under `application/graphql-response+json`, a document that
//! does not parse or validate gets status 400; under `application/json` every well-formed
//! request gets 200, as the specification asks.

use super::AppState;
use super::negotiation::{self, ResponseType};
use crate::auth;
use crate::graphql::context::{Principal, RequestState};
use crate::graphql::error::{ApiError, ErrorKind};
use crate::graphql::loaders::{Loaders, RequestLoaders};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, BatchResponse, Request, Response};
use futures::StreamExt;
use serde_json::json;

/// Reads a header as text; headers that are not visible ASCII count as missing.
fn header_text<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

/// The request id that the request middleware assigned; a new one when it did not run.
pub fn request_id(request: &HttpRequest) -> String {
    use actix_web::HttpMessage as _;
    request
        .extensions()
        .get::<super::observe::RequestId>()
        .map_or_else(
            || uuid::Uuid::now_v7().simple().to_string(),
            |id| id.0.clone(),
        )
}

/// A response with only errors, for requests that never reach execution.
pub fn error_response(
    response_type: ResponseType,
    status: StatusCode,
    kind: ErrorKind,
    message: &str,
    request_id: &str,
) -> HttpResponse {
    let body = json!({
        "errors": [{
            "message": message,
            "extensions": { "code": kind.code(), "requestId": request_id },
        }]
    });
    HttpResponse::build(status)
        .content_type(response_type.content_type())
        .insert_header(("x-request-id", request_id))
        .body(body.to_string())
}

/// Builds the `BAD_USER_INPUT` response for a request over a limit, with the limit's name
/// and value in the extensions as the query limits carry them.
fn limit_response(
    response_type: ResponseType,
    status: StatusCode,
    message: &str,
    (limit, value): (&str, usize),
    request_id: &str,
) -> HttpResponse {
    let mut error = crate::graphql::limits::limit_error(message.to_owned(), limit, value);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("requestId", request_id);
    HttpResponse::build(status)
        .content_type(response_type.content_type())
        .insert_header(("x-request-id", request_id))
        .body(json!({ "errors": [error] }).to_string())
}

pub(crate) fn api_error_response(
    response_type: ResponseType,
    error: &ApiError,
    request_id: &str,
) -> HttpResponse {
    let status = match error.kind {
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::BadUserInput => StatusCode::BAD_REQUEST,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Timeout | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::EventsExpired => StatusCode::GONE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut response = error_response(
        response_type,
        status,
        error.kind,
        &error.message,
        request_id,
    );
    if error.kind == ErrorKind::Unauthenticated {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// Whether a response carries only request errors: the document did not parse or validate,
/// or named an operation it does not hold. Such errors have no path and no data exists.
fn is_request_error(response: &Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

fn tag_errors(response: &mut Response, request_id: &str) {
    crate::graphql::error::tag_errors(&mut response.errors, request_id);
}

fn graphql_response(
    response_type: ResponseType,
    mut response: BatchResponse,
    request_id: &str,
) -> HttpResponse {
    let status = match &mut response {
        BatchResponse::Single(single) => {
            tag_errors(single, request_id);
            if response_type == ResponseType::GraphqlResponseJson && is_request_error(single) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            }
        }
        BatchResponse::Batch(responses) => {
            for single in responses.iter_mut() {
                tag_errors(single, request_id);
            }
            StatusCode::OK
        }
    };
    // A request that never reached execution carries no data entry at all. Every other
    // response is written straight to text, because building a `serde_json::Value` first
    // doubles the cost of serializing a large result.
    let body = match &response {
        BatchResponse::Single(single) if is_request_error(single) => serde_json::to_value(single)
            .map(|mut body| {
                if let Some(object) = body.as_object_mut() {
                    object.remove("data");
                }
                body.to_string()
            }),
        _ => serde_json::to_string(&response),
    };
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type(response_type.content_type())
            .insert_header(("x-request-id", request_id))
            .body(body),
        Err(error) => {
            let error = crate::graphql::error::internal(&error);
            api_error_response(response_type, &error, request_id)
        }
    }
}

/// Whether the content type names JSON; parameters such as `charset=utf-8` are allowed.
fn is_json_content(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .is_some_and(|essence| essence.eq_ignore_ascii_case("application/json"))
}

/// Reads the body up to the limit; `None` when it is larger.
async fn read_body(
    mut payload: web::Payload,
    limit: usize,
) -> Result<Option<web::BytesMut>, actix_web::error::PayloadError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// `POST /graphql`.
pub async fn post(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let request_id = request_id(&request);
    let Some(response_type) = negotiation::choose(header_text(&request, "accept")) else {
        return error_response(
            ResponseType::Json,
            StatusCode::NOT_ACCEPTABLE,
            ErrorKind::BadUserInput,
            "the Accept header allows neither application/graphql-response+json nor application/json",
            &request_id,
        );
    };
    if !is_json_content(header_text(&request, "content-type")) {
        return error_response(
            response_type,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::BadUserInput,
            "send the request body as application/json",
            &request_id,
        );
    }
    let limit = state.limits.max_body_bytes;
    let too_large = || {
        limit_response(
            response_type,
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request body exceeds the limit of {limit} bytes (HEADWAY_MAX_BODY_BYTES)"
            ),
            ("maxBodyBytes", limit),
            &request_id,
        )
    };
    let declared_length =
        header_text(&request, "content-length").and_then(|length| length.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > limit) {
        return too_large();
    }
    let body = match read_body(payload, limit).await {
        Ok(Some(body)) => body,
        Ok(None) => return too_large(),
        Err(_) => {
            return error_response(
                response_type,
                StatusCode::BAD_REQUEST,
                ErrorKind::BadUserInput,
                "the request body could not be read",
                &request_id,
            );
        }
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            return error_response(
                response_type,
                StatusCode::BAD_REQUEST,
                ErrorKind::BadUserInput,
                &describe_invalid_body(&body, &error),
                &request_id,
            );
        }
    };
    execute(&request, state, response_type, batch, request_id).await
}

/// Explains why a body is no GraphQL request: invalid JSON, or the member of the request
/// object that has the wrong type. serde's own message for the request type names Rust
/// types, so it is not shown.
fn describe_invalid_body(body: &[u8], error: &serde_json::Error) -> String {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(_) => return format!("the body is not valid JSON: {error}"),
    };
    let problem = match &value {
        serde_json::Value::Array(items) if items.is_empty() => {
            "a batch must contain at least one request".to_owned()
        }
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| {
                request_object_problem(item).map(|problem| format!("request {index}: {problem}"))
            })
            .unwrap_or_else(|| "a request of the batch is invalid".to_owned()),
        single => request_object_problem(single)
            .unwrap_or_else(|| "the request object is invalid".to_owned()),
    };
    format!(
        "the body is not a GraphQL request: {problem}; send {{\"query\": string, \"variables\": object, \"operationName\": string}} or a list of such objects"
    )
}

/// Names the first member of a request object with the wrong type.
fn request_object_problem(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let Value::Object(members) = value else {
        return Some(format!("expected an object, got {}", json_type(value)));
    };
    let expect = |name: &str, allowed: &[&str]| -> Option<String> {
        let member = members.get(name)?;
        let kind = json_type(member);
        (!allowed.contains(&kind))
            .then(|| format!("{name} must be {}, not {kind}", allowed.join(" or ")))
    };
    match members.get("query") {
        None => return Some("query is missing".to_owned()),
        Some(query) if !query.is_string() => {
            return Some(format!("query must be a string, not {}", json_type(query)));
        }
        Some(_) => {}
    }
    expect("variables", &["an object", "null"])
        .or_else(|| expect("operationName", &["a string", "null"]))
        .or_else(|| expect("extensions", &["an object", "null"]))
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `GET /graphql`: WebSocket upgrades, GraphiQL for browsers, and queries in the URL for
/// everyone else.
pub async fn get(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    if crate::ws::is_upgrade(&request) {
        return crate::ws::upgrade(request, body, state).await;
    }
    let request_id = request_id(&request);
    let accept = header_text(&request, "accept");
    let has_query =
        web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string())
            .is_ok_and(|query| query.contains_key("query"));
    if !has_query && negotiation::wants_html(accept) {
        return super::graphiql::page("/graphql");
    }
    let Some(response_type) = negotiation::choose(accept) else {
        return error_response(
            ResponseType::Json,
            StatusCode::NOT_ACCEPTABLE,
            ErrorKind::BadUserInput,
            "the Accept header allows neither application/graphql-response+json nor application/json",
            &request_id,
        );
    };
    let single = match async_graphql::http::parse_query_string(request.query_string()) {
        Ok(single) => single,
        Err(error) => {
            return error_response(
                response_type,
                StatusCode::BAD_REQUEST,
                ErrorKind::BadUserInput,
                &format!("the query string is not a GraphQL request: {error}"),
                &request_id,
            );
        }
    };
    if !is_query_operation(&single) {
        let mut response = error_response(
            response_type,
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::BadUserInput,
            "only queries may be sent with GET; send mutations and subscriptions with POST",
            &request_id,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(
        &request,
        state,
        response_type,
        BatchRequest::Single(single),
        request_id,
    )
    .await
}

/// Whether the operation a request selects is a query. A document that does not parse
/// counts as a query here, so that execution reports the parse error.
fn is_query_operation(request: &Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return true;
    };
    let operation_type = match (&request.operation_name, document.operations) {
        (_, DocumentOperations::Single(operation)) => operation.node.ty,
        (Some(name), DocumentOperations::Multiple(operations)) => {
            match operations.get(name.as_str()) {
                Some(operation) => operation.node.ty,
                None => return true,
            }
        }
        // A single named operation runs without an operation name.
        (None, DocumentOperations::Multiple(operations)) if operations.len() == 1 => {
            match operations.values().next() {
                Some(operation) => operation.node.ty,
                None => return true,
            }
        }
        (None, DocumentOperations::Multiple(_)) => return true,
    };
    operation_type == OperationType::Query
}

async fn execute(
    request: &HttpRequest,
    state: web::Data<AppState>,
    response_type: ResponseType,
    batch: BatchRequest,
    request_id: String,
) -> HttpResponse {
    let operations = match &batch {
        BatchRequest::Single(_) => 1,
        BatchRequest::Batch(requests) => requests.len(),
    };
    let missing_query = match &batch {
        BatchRequest::Single(single) => single.query.trim().is_empty(),
        BatchRequest::Batch(requests) => {
            requests.iter().any(|single| single.query.trim().is_empty())
        }
    };
    if missing_query {
        return error_response(
            response_type,
            StatusCode::BAD_REQUEST,
            ErrorKind::BadUserInput,
            "the request has no query; send the GraphQL document in the \"query\" field",
            &request_id,
        );
    }
    let limit = state.limits.max_batch_operations;
    if operations > limit || operations == 0 {
        return limit_response(
            response_type,
            StatusCode::BAD_REQUEST,
            &format!(
                "the batch holds {operations} operations; send 1 to {limit} per request (HEADWAY_MAX_BATCH_OPERATIONS)"
            ),
            ("maxBatchOperations", limit),
            &request_id,
        );
    }

    let now = state.store.now();
    let credentials = match auth::credential_headers(request.headers()) {
        Ok(credentials) => credentials,
        Err(error) => return api_error_response(response_type, &error, &request_id),
    };
    let principal = match auth::authenticate(
        &state.authenticator,
        &state.store,
        credentials.authorization.as_deref(),
        credentials.organization.as_deref(),
        now,
    )
    .await
    {
        Ok(principal) => principal,
        Err(error) => return api_error_response(response_type, &error, &request_id),
    };

    let rate_key = principal.rate_key().unwrap_or_else(|| {
        let address = request
            .peer_addr()
            .map_or_else(|| "unknown".to_owned(), |address| address.ip().to_string());
        format!("address:{address}")
    });
    if let Err(limited) = state
        .rate_limiter
        .check(&rate_key, u32::try_from(operations).unwrap_or(u32::MAX))
        .await
    {
        let settings = state.rate_limiter.settings();
        let mut response = error_response(
            response_type,
            StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::RateLimited,
            &format!(
                "rate limit exceeded: {} requests per second with bursts of {} (HEADWAY_RATE_LIMIT_PER_SECOND, HEADWAY_RATE_LIMIT_BURST); retry after {} ms",
                settings.per_second,
                settings.burst,
                limited.retry_after.as_millis()
            ),
            &request_id,
        );
        let seconds =
            limited.retry_after.as_secs() + u64::from(limited.retry_after.subsec_nanos() > 0);
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }

    let timeout = state.limits.request_timeout;
    let work = run_batch(&state, batch, principal, &request_id, now);
    match tokio::time::timeout(timeout, work).await {
        Ok(response) => graphql_response(response_type, response, &request_id),
        Err(_) => error_response(
            response_type,
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Timeout,
            &format!(
                "the request took longer than {} ms and was stopped (HEADWAY_REQUEST_TIMEOUT_MS)",
                timeout.as_millis()
            ),
            &request_id,
        ),
    }
}

fn prepare(
    state: &AppState,
    request: Request,
    principal: Principal,
    request_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Request {
    // A mutation changes records that a memo may already hold, so only queries memoize.
    let loaders = RequestLoaders::new(
        Loaders::new(state.store.clone(), principal.organization_id()),
        is_query_operation(&request),
    );
    request
        .data(RequestState::new(principal, request_id.to_owned(), now))
        .data(loaders)
}

async fn run_batch(
    state: &AppState,
    batch: BatchRequest,
    principal: Principal,
    request_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> BatchResponse {
    match batch {
        BatchRequest::Single(single) => {
            let single = prepare(state, single, principal, request_id, now);
            BatchResponse::Single(state.schema.execute(single).await)
        }
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for single in requests {
                let single = prepare(state, single, principal.clone(), request_id, now);
                responses.push(state.schema.execute(single).await);
            }
            BatchResponse::Batch(responses)
        }
    }
}
