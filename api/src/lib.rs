//! The `headway` server and command line.
//!
//! - [`cli`] parses the command line and runs commands; `main.rs` only calls it.
//! - [`config`] holds every `HEADWAY_*` setting with its flag and default.
//! - [`startup`] opens the store and builds the HTTP server; tests call it too.
//! - [`http`] serves `/graphql` (GraphQL over HTTP and GraphiQL) and the health checks.
//! - [`graphql`] is the schema: thin resolvers that authorize, convert input into domain
//!   values, call the store, and map the result.
//! - [`auth`] checks bearer tokens and provisions users.
//! - [`live`] delivers events to subscribers and relays them between replicas.
//! - [`ws`] serves GraphQL over WebSocket.
//! - [`telemetry`] writes logs and exports traces; [`metrics`] counts for Prometheus.
//! - [`demo`] seeds the demo organization.

pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod graphql;
pub mod http;
pub mod live;
pub mod metrics;
pub mod startup;
pub mod telemetry;
pub mod webhooks;
pub mod ws;
