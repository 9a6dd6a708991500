//! Logs and traces.
//!
//! Logs go to standard error as text or JSON lines, filtered by `RUST_LOG`. Lines written
//! while a request is served carry its request id, because the request's span contains it.
//!
//! Traces go to an OpenTelemetry collector over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES` and the other standard `OTEL_*` variables apply. Incoming W3C
//! `traceparent` headers make a request's spans children of the caller's span.

use crate::config::LogFormat;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The log filter when `RUST_LOG` is not set.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// Filter of the trace exporter: Headway's spans with the database statement spans, but
/// neither the HTTP clients' own spans nor statement log lines.
const TRACE_FILTER: &str = "info,sqlx=warn,hyper=warn,hyper_util=warn,reqwest=warn,h2=warn";

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
const SERVICE_NAME: &str = "headway";

/// How long shutting down waits for the exporter to send the last spans.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The installed log and trace pipeline; [`Telemetry::shutdown`] sends the spans still
/// buffered.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global subscriber. Logs that fail to install (a subscriber exists
    /// already, as in tests) are left as they are.
    pub fn init(format: LogFormat) -> Self {
        let log_filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
        let logs = match format {
            LogFormat::Text => tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(log_filter)
                .boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr)
                .with_current_span(false)
                .with_span_list(true)
                .with_filter(log_filter)
                .boxed(),
        };
        let (provider, trace_error) = match exporter_configured() {
            true => match tracer_provider() {
                Ok(provider) => (Some(provider), None),
                Err(error) => (None, Some(error)),
            },
            false => (None, None),
        };
        let traces = provider.as_ref().map(|provider| {
            // Background polls read the database every second; their statements alone,
            // outside any request or relay span, would fill the trace backend with noise.
            let within_work = tracing_subscriber::filter::dynamic_filter_fn(|metadata, context| {
                !(metadata.is_span()
                    && metadata.target().starts_with("sea_orm")
                    && context.lookup_current().is_none())
            });
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("headway"))
                .with_location(false)
                .with_threads(false)
                .with_filter(EnvFilter::new(TRACE_FILTER).and(within_work))
        });
        let installed = tracing_subscriber::registry()
            .with(logs)
            .with(traces)
            .try_init()
            .is_ok();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        if let Some(error) = trace_error {
            tracing::error!(%error, "failed to set up the OTLP trace exporter; traces are off");
        }
        if !installed {
            return Self::default();
        }
        if provider.is_some() {
            tracing::info!("exporting traces over OTLP");
        }
        Self { provider }
    }

    /// Sends the spans still buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
        {
            tracing::warn!(%error, "failed to send the last spans to the collector");
        }
    }
}

/// Checks whether the standard variables request an OTLP exporter.
fn exporter_configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|value| value.trim() == "true")
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|value| value.trim() == "none");
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

fn tracer_provider() -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    let detected = opentelemetry_sdk::Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::new("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if !named {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// Reads propagation headers from an actix request.
struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .map(actix_web::http::header::HeaderName::as_str)
            .collect()
    }
}

/// Extracts the caller's trace context from `traceparent` and `tracestate`. The context is
/// empty when they are missing or malformed.
pub fn remote_context(headers: &actix_web::http::header::HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&Headers(headers))
}
