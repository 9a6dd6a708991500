//! GraphQL output types. Each wraps a domain value; resolvers of related records go
//! through the request's loaders.

pub mod access;
pub mod comment;
pub mod cycle;
pub mod enums;
pub mod key_result;
pub mod kpi;
pub mod node;
pub mod objective;
pub mod organization;
pub mod team;
pub mod webhook;

use super::context::ContextExt;
use super::error::ApiError;
use super::loaders::Loaders;
use async_graphql::Context;
use async_graphql::dataloader::Loader;
use std::hash::Hash;

/// Loads one record through the request's loaders.
pub(crate) async fn load_one<K, V>(ctx: &Context<'_>, key: K) -> async_graphql::Result<Option<V>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
    Loaders: Loader<K, Value = V, Error = ApiError>,
{
    Ok(ctx.loader()?.load_one(key).await?)
}

/// Loads one record that must exist, such as the cycle of an objective.
pub(crate) async fn load_required<K, V>(ctx: &Context<'_>, key: K) -> async_graphql::Result<V>
where
    K: Send + Sync + Hash + Eq + Clone + std::fmt::Debug + 'static,
    V: Send + Sync + Clone + 'static,
    Loaders: Loader<K, Value = V, Error = ApiError>,
{
    match load_one(ctx, key.clone()).await? {
        Some(value) => Ok(value),
        None => {
            tracing::error!(key = ?key, "referenced record missing");
            Err(ApiError::internal().into())
        }
    }
}

/// Fails with `NOT_FOUND` on `argument` unless `id`, when given, names a record of the
/// organization. Records of other organizations fail like ids that never existed.
pub(crate) async fn require_existing<K, V>(
    ctx: &Context<'_>,
    argument: &str,
    what: &str,
    id: Option<K>,
) -> Result<(), ApiError>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
    Loaders: Loader<K, Value = V, Error = ApiError>,
{
    let Some(id) = id else {
        return Ok(());
    };
    match ctx.loader()?.load_one(id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(argument, what)),
    }
}

/// Loads a list of records by a parent key; an unknown parent has none.
pub(crate) async fn load_list<K, V>(ctx: &Context<'_>, key: K) -> async_graphql::Result<Vec<V>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
    Loaders: Loader<K, Value = Vec<V>, Error = ApiError>,
{
    Ok(load_one(ctx, key).await?.unwrap_or_default())
}
