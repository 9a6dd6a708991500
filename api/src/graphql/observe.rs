//! The schema's one extension, which runs every per-request hook. It checks the query
//! limits and the scope guard for tokens without the read scope. It also gives every
//! operation a span and metrics: its name and type, the organization and kind of
//! principal it ran for, its duration, and the codes of its errors.
//!
//! One extension rather than several, because async-graphql runs every extension's field
//! hook for every resolved field, and each call allocates.

use super::context::RequestState;
use super::ids::Typed as _;
use super::limits::QueryLimits;
use crate::metrics::{Metrics, OperationLabels};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextValidation,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use opentelemetry::trace::TraceContextExt as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The extension factory; one extension instance serves one request.
pub struct RequestHooks {
    pub metrics: Arc<Metrics>,
    pub limits: QueryLimits,
}

impl ExtensionFactory for RequestHooks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ObserveRequest {
            metrics: self.metrics.clone(),
            limits: self.limits,
            seen: Mutex::default(),
        })
    }
}

#[derive(Default)]
struct Seen {
    name: Option<String>,
    kind: Option<OperationType>,
    /// The span of the whole request, when the request hook made one.
    span: Option<Span>,
}

struct ObserveRequest {
    metrics: Arc<Metrics>,
    limits: QueryLimits,
    seen: Mutex<Seen>,
}

fn type_label(kind: Option<OperationType>) -> &'static str {
    match kind {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "unknown",
    }
}

fn operation_span() -> Span {
    tracing::info_span!(
        "graphql.operation",
        otel.name = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        graphql.operation.name = tracing::field::Empty,
        graphql.operation.type = tracing::field::Empty,
        graphql.error.codes = tracing::field::Empty,
        headway.organization_id = tracing::field::Empty,
        headway.principal_kind = tracing::field::Empty,
    )
}

/// Collects the error codes of a response, as clients see them.
fn error_codes(response: &Response) -> Vec<String> {
    response.errors.iter().map(super::error::code_of).collect()
}

impl ObserveRequest {
    /// Notes the type of the operation that runs, and its name when the request named none.
    fn record_kind(&self, document: &ExecutableDocument) {
        let mut seen = self.seen();
        let selected = match &document.operations {
            DocumentOperations::Single(operation) => Some((None, operation.node.ty)),
            DocumentOperations::Multiple(operations) => match &seen.name {
                Some(name) => operations
                    .get(name.as_str())
                    .map(|operation| (None, operation.node.ty)),
                None if operations.len() == 1 => operations
                    .iter()
                    .next()
                    .map(|(name, operation)| (Some(name.to_string()), operation.node.ty)),
                None => None,
            },
        };
        if let Some((name, kind)) = selected {
            seen.kind = Some(kind);
            if seen.name.is_none() {
                seen.name = name;
            }
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records who the operation runs for on its span.
    fn record_principal(span: &Span, ctx: &ExtensionContext<'_>) {
        if let Some(state) = ctx.data_opt::<RequestState>() {
            span.record("headway.principal_kind", state.principal.kind());
            if let Some(organization) = state.principal.organization_id() {
                span.record("headway.organization_id", organization.to_global().as_str());
            }
        }
    }

    /// Records the outcome on the span and in the metrics.
    fn finish(&self, span: &Span, response: &Response, started: Instant) {
        let (name, kind) = {
            let seen = self.seen();
            (seen.name.clone(), seen.kind)
        };
        let kind = type_label(kind);
        let codes = error_codes(response);
        let label = self.metrics.operation_label(name.as_deref());
        span.record("graphql.operation.type", kind);
        // The exported span started before its type was known, so it is renamed.
        let name_text = format!("{kind} {label}");
        span.context().span().update_name(name_text.clone());
        span.record("otel.name", name_text);
        if let Some(name) = &name {
            span.record("graphql.operation.name", name.as_str());
        }
        if !codes.is_empty() {
            let mut distinct = codes.clone();
            distinct.sort();
            distinct.dedup();
            span.record("graphql.error.codes", distinct.join(","));
            span.record("otel.status_code", "ERROR");
        }
        let labels = OperationLabels {
            operation: label,
            r#type: kind.to_owned(),
            outcome: if codes.is_empty() { "ok" } else { "error" }.to_owned(),
        };
        // Over WebSocket, the connection counts the codes of every error it sends, including
        // errors that reach no hook, such as a subscription's errors and rejected documents.
        let over_http = self.seen().span.is_some();
        let counted: &[String] = if over_http { &codes } else { &[] };
        self.metrics
            .record_operation(&labels, started.elapsed(), counted);
    }
}

#[async_trait::async_trait]
impl Extension for ObserveRequest {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let span = operation_span();
        self.seen().span = Some(span.clone());
        let started = Instant::now();
        let response = next.run(ctx).instrument(span.clone()).await;
        self.finish(&span, &response, started);
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.seen().name.clone_from(&request.operation_name);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        self.record_kind(&document);
        self.limits.check_document(&document)?;
        super::guard::check(ctx, &document)?;
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        self.limits
            .check_complexity(result.complexity)
            .map_err(|error| vec![error])?;
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let (span, kind) = {
            let seen = self.seen();
            (seen.span.clone(), seen.kind)
        };
        // A subscription runs this hook for every event it delivers. The WebSocket connection
        // counts it once, and its events run inside the connection's span.
        if kind == Some(OperationType::Subscription) {
            return next.run(ctx, operation_name).await;
        }
        match span {
            Some(span) => {
                Self::record_principal(&span, ctx);
                next.run(ctx, operation_name).await
            }
            // Queries and mutations over WebSocket run without the request hook.
            None => {
                let span = operation_span();
                Self::record_principal(&span, ctx);
                let started = Instant::now();
                let response = next.run(ctx, operation_name).instrument(span.clone()).await;
                self.finish(&span, &response, started);
                response
            }
        }
    }
}
