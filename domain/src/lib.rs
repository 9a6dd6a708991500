//! Headway's business rules, free of IO.
//!
//! - [`ids`]: typed UUIDv7 identifiers for every record.
//! - [`access`]: API tokens, their scopes, and the audit log's entries.
//! - [`error`]: the validation error that names the offending input field.
//! - [`values`]: validating newtypes (titles, weights, metric values, confidence, time zones).
//! - [`model`]: organizations, users, teams, cycles, objectives, key results, check-ins,
//!   KPIs, measurements and comments as plain values.
//! - [`progress`]: key-result progress, weighted rollup, expected progress, pace status,
//!   staleness, milestones and scoring.
//! - [`insights`]: which key results need attention, and progress replayed day by day.
//! - [`kpi`]: KPI thresholds and health.
//! - [`alignment`]: the acyclic parent/child rule between objectives.
//! - [`rules`]: checks that span several records (check-in admission, limits).
//! - [`series`]: KPI measurements grouped by calendar interval and aggregated.
//! - [`events`]: the events that the outbox stores and subscribers receive.
//! - [`webhooks`]: webhook event types, target address rules and the retry policy.
//! - [`clock`]: the injected source of "now".

pub mod access;
pub mod alignment;
pub mod clock;
pub mod error;
pub mod events;
pub mod ids;
pub mod insights;
pub mod kpi;
pub mod model;
pub mod progress;
pub mod rules;
pub mod series;
pub mod values;
pub mod webhooks;

pub use error::{ErrorCode, ValidationError};

#[cfg(test)]
pub(crate) mod test_support {
    use rust_decimal::Decimal;

    /// Parses a decimal literal in tests.
    pub(crate) fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }
}
