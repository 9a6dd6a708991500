//! Wraps every HTTP request: gives it a request id, a span that continues the caller's
//! trace, an `X-Request-Id` response header, and a count in the metrics.

use super::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, web};
use std::time::Instant;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The header that carries the request id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served, kept in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Returns the client's `X-Request-Id` when it is short and plain, else a new id.
fn request_id(request: &ServiceRequest) -> String {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .filter(|id| {
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(|| uuid::Uuid::now_v7().simple().to_string(), str::to_owned)
}

/// Wraps one request. Install it with `actix_web::middleware::from_fn(observe::request)`.
pub async fn request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(&request);
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = match request.method().as_str() {
        known @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => known,
        _ => "other",
    }
    .to_owned();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        url.path = %request.path(),
        http.response.status_code = tracing::field::Empty,
        request_id = %id,
    );
    // A missing or malformed `traceparent` leaves the span as the root of a new trace.
    let _ = span.set_parent(crate::telemetry::remote_context(request.headers()));
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let started = Instant::now();
    let outcome = next.call(request).instrument(span.clone()).await;
    let status = match &outcome {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    span.in_scope(|| {
        let elapsed_ms = started.elapsed().as_secs_f64() * 1_000.0;
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), elapsed_ms, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), elapsed_ms, "request finished");
        }
    });
    if let Some(state) = state {
        state
            .metrics
            .http_requests
            .get_or_create(&crate::metrics::HttpLabels {
                method,
                route,
                status: status.as_u16().to_string(),
            })
            .inc();
    }
    let mut response = outcome?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}
