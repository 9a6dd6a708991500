//! The GraphQL schema: types, resolvers, loaders and the conventions they share.

pub mod connection;
pub mod context;
pub mod error;
pub mod guard;
pub mod ids;
pub mod insights;
pub mod limits;
pub mod loaders;
pub mod mutations;
pub mod objects;
pub mod observe;
pub mod prefetch;
pub mod query;
pub mod scalars;
pub mod subscription;

use async_graphql::{Schema, SchemaBuilder};
use headway_persistence::Store;
use std::sync::Arc;

pub type AppSchema =
    Schema<query::QueryRoot, mutations::MutationRoot, subscription::SubscriptionRoot>;

/// Limits that every request is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchemaLimits {
    pub query: limits::QueryLimits,
    /// Whether clients may introspect the schema.
    pub introspection: bool,
    /// Whether error messages suggest similar field names.
    pub suggestions: bool,
}

fn builder()
-> SchemaBuilder<query::QueryRoot, mutations::MutationRoot, subscription::SubscriptionRoot> {
    Schema::build(
        query::QueryRoot::default(),
        mutations::MutationRoot::default(),
        subscription::SubscriptionRoot,
    )
}

/// Builds the schema with its shared data.
pub fn build_schema(
    store: Store,
    hub: Arc<crate::live::EventHub>,
    webhooks: Arc<crate::webhooks::Sender>,
    limits: SchemaLimits,
    metrics: Arc<crate::metrics::Metrics>,
) -> AppSchema {
    let mut builder = builder()
        .data(store)
        .data(hub)
        .data(webhooks)
        .extension(observe::RequestHooks {
            metrics,
            limits: limits.query,
        })
        .limit_recursive_depth(64)
        .limit_directives(16);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if !limits.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
