//! The GraphQL schema: types, resolvers, loaders and the conventions they share.

pub mod connection;
pub mod context;
pub mod error;
pub mod ids;
pub mod limits;
pub mod loaders;
pub mod mutations;
pub mod objects;
pub mod prefetch;
pub mod query;
pub mod scalars;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use headway_persistence::Store;

pub type AppSchema = Schema<query::QueryRoot, mutations::MutationRoot, EmptySubscription>;

/// Limits that every request is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchemaLimits {
    pub query: limits::QueryLimits,
    /// Whether clients may introspect the schema.
    pub introspection: bool,
}

fn builder() -> SchemaBuilder<query::QueryRoot, mutations::MutationRoot, EmptySubscription> {
    Schema::build(
        query::QueryRoot,
        mutations::MutationRoot::default(),
        EmptySubscription,
    )
}

/// Builds the schema with its shared data.
pub fn build_schema(store: Store, limits: SchemaLimits) -> AppSchema {
    let mut builder = builder()
        .data(store)
        .extension(limits::Limits(limits.query))
        .limit_recursive_depth(64)
        .limit_directives(16);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
