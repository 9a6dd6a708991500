//! Batched loading: every lookup by id or by parent made while resolving one level of a
//! query becomes one SQL statement, so the statement count of a list query does not grow
//! with the data.

use super::error::{ApiError, store_failure};
use async_graphql::dataloader::{DataLoader, Loader};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use headway_domain::ids::{
    CheckInId, CommentId, CycleId, KeyResultId, KpiId, KpiMeasurementId, MembershipId, ObjectiveId,
    OrganizationId, TeamId, UserId,
};
use headway_domain::model::{
    CheckIn, Comment, Cycle, KeyResult, Kpi, KpiMeasurement, Membership, Objective, Team, User,
};
use headway_persistence::Store;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

/// The loaders of one request, scoped to its organization.
pub struct Loaders {
    store: Store,
    organization_id: Option<OrganizationId>,
}

impl Loaders {
    pub fn new(store: Store, organization_id: Option<OrganizationId>) -> Self {
        Self {
            store,
            organization_id,
        }
    }
}

/// The active key results of an objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyResultsOf(pub ObjectiveId);

/// The unarchived child objectives of an objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildObjectivesOf(pub ObjectiveId);

/// The active child teams of a team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildTeamsOf(pub TeamId);

/// The unarchived child cycles of a cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildCyclesOf(pub CycleId);

/// The members of a team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MembersOf(pub TeamId);

/// The teams a user belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TeamsOf(pub UserId);

/// The key results that follow a KPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyResultsFollowing(pub KpiId);

/// Groups `items` by `key`, with an empty group for every requested key.
fn group<K: Hash + Eq + Copy, V>(
    keys: &[K],
    items: Vec<V>,
    key: impl Fn(&V) -> K,
) -> HashMap<K, Vec<V>> {
    let mut groups: HashMap<K, Vec<V>> = keys.iter().map(|key| (*key, Vec::new())).collect();
    for item in items {
        groups.entry(key(&item)).or_default().push(item);
    }
    groups
}

macro_rules! by_id {
    ($id:ty => $value:ty, $method:ident) => {
        impl async_graphql::dataloader::Loader<$id> for Loaders {
            type Value = $value;
            type Error = ApiError;

            async fn load(&self, keys: &[$id]) -> Result<HashMap<$id, $value>, ApiError> {
                let Some(organization_id) = self.organization_id else {
                    return Ok(HashMap::new());
                };
                let rows = self
                    .store
                    .$method(organization_id, keys)
                    .await
                    .map_err(store_failure)?;
                Ok(rows.into_iter().map(|row| (row.id, row)).collect())
            }
        }
    };
}

by_id!(UserId => User, users_by_ids);
by_id!(MembershipId => Membership, memberships_by_ids);
by_id!(TeamId => Team, teams_by_ids);
by_id!(CycleId => Cycle, cycles_by_ids);
by_id!(ObjectiveId => Objective, objectives_by_ids);
by_id!(KeyResultId => KeyResult, key_results_by_ids);
by_id!(CheckInId => CheckIn, check_ins_by_ids);
by_id!(KpiId => Kpi, kpis_by_ids);
by_id!(KpiMeasurementId => KpiMeasurement, measurements_by_ids);
by_id!(CommentId => Comment, comments_by_ids);

macro_rules! by_parent {
    ($key:ident($id:ty) => $value:ty, |$store:ident, $organization:ident, $ids:ident| $load:expr, |$row:ident| $parent:expr) => {
        impl async_graphql::dataloader::Loader<$key> for Loaders {
            type Value = Vec<$value>;
            type Error = ApiError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Vec<$value>>, ApiError> {
                let Some($organization) = self.organization_id else {
                    return Ok(HashMap::new());
                };
                let $store = &self.store;
                let $ids: Vec<$id> = keys.iter().map(|key| key.0).collect();
                let rows = $load.await.map_err(store_failure)?;
                Ok(group(keys, rows, |$row: &$value| $parent))
            }
        }
    };
}

by_parent!(
    KeyResultsOf(ObjectiveId) => KeyResult,
    |store, organization_id, ids| store.key_results_of_objectives(organization_id, &ids, false),
    |row| KeyResultsOf(row.objective_id)
);
by_parent!(
    ChildObjectivesOf(ObjectiveId) => Objective,
    |store, organization_id, ids| store.child_objectives(organization_id, &ids),
    |row| ChildObjectivesOf(row.parent_id.unwrap_or(row.id))
);
by_parent!(
    ChildTeamsOf(TeamId) => Team,
    |store, organization_id, ids| store.child_teams(organization_id, &ids),
    |row| ChildTeamsOf(row.parent_id.unwrap_or(row.id))
);
by_parent!(
    ChildCyclesOf(CycleId) => Cycle,
    |store, organization_id, ids| store.child_cycles(organization_id, &ids),
    |row| ChildCyclesOf(row.parent_id.unwrap_or(row.id))
);
by_parent!(
    KeyResultsFollowing(KpiId) => KeyResult,
    |store, organization_id, ids| store.key_results_of_kpis(organization_id, &ids),
    |row| KeyResultsFollowing(row.kpi_id.unwrap_or_else(|| KpiId::from(uuid::Uuid::nil())))
);

impl async_graphql::dataloader::Loader<MembersOf> for Loaders {
    type Value = Vec<UserId>;
    type Error = ApiError;

    async fn load(&self, keys: &[MembersOf]) -> Result<HashMap<MembersOf, Vec<UserId>>, ApiError> {
        let Some(organization_id) = self.organization_id else {
            return Ok(HashMap::new());
        };
        let ids: Vec<TeamId> = keys.iter().map(|key| key.0).collect();
        let pairs = self
            .store
            .team_members(organization_id, &ids)
            .await
            .map_err(store_failure)?;
        let grouped = group(keys, pairs, |(team, _)| MembersOf(*team));
        Ok(grouped
            .into_iter()
            .map(|(key, pairs)| (key, pairs.into_iter().map(|(_, user)| user).collect()))
            .collect())
    }
}

impl async_graphql::dataloader::Loader<TeamsOf> for Loaders {
    type Value = Vec<TeamId>;
    type Error = ApiError;

    async fn load(&self, keys: &[TeamsOf]) -> Result<HashMap<TeamsOf, Vec<TeamId>>, ApiError> {
        let Some(organization_id) = self.organization_id else {
            return Ok(HashMap::new());
        };
        let ids: Vec<UserId> = keys.iter().map(|key| key.0).collect();
        let pairs = self
            .store
            .teams_of_users(organization_id, &ids)
            .await
            .map_err(store_failure)?;
        let grouped = group(keys, pairs, |(user, _)| TeamsOf(*user));
        Ok(grouped
            .into_iter()
            .map(|(key, pairs)| (key, pairs.into_iter().map(|(_, team)| team).collect()))
            .collect())
    }
}

type SharedLoad<V> = Shared<BoxFuture<'static, Result<Option<V>, ApiError>>>;

/// The loaders of one request with a memo in front of them.
///
/// The memo remembers every load, finished or still running, so that a key asked for again
/// while its batch is in flight joins that batch instead of starting another one. That
/// keeps the number of statements of a query independent of timing. Mutations run without
/// the memo, because they change the records it would hold.
pub struct RequestLoaders {
    loader: Arc<DataLoader<Loaders>>,
    memo: Option<Mutex<HashMap<TypeId, Box<dyn Any + Send>>>>,
}

impl RequestLoaders {
    pub fn new(loaders: Loaders, memoize: bool) -> Self {
        Self {
            loader: Arc::new(DataLoader::new(loaders, tokio::spawn)),
            memo: memoize.then(|| Mutex::new(HashMap::new())),
        }
    }

    /// Loads the value of `key`, joining an earlier load of the same key.
    pub async fn load_one<K, V>(&self, key: K) -> Result<Option<V>, ApiError>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        V: Send + Sync + Clone + 'static,
        Loaders: Loader<K, Value = V, Error = ApiError>,
    {
        let Some(memo) = &self.memo else {
            return self.loader.load_one(key).await;
        };
        let load = {
            let mut memo = memo.lock().unwrap_or_else(PoisonError::into_inner);
            let typed = memo
                .entry(TypeId::of::<(K, V)>())
                .or_insert_with(|| Box::new(HashMap::<K, SharedLoad<V>>::new()));
            match typed.downcast_mut::<HashMap<K, SharedLoad<V>>>() {
                Some(typed) => typed
                    .entry(key.clone())
                    .or_insert_with(|| {
                        let loader = self.loader.clone();
                        async move { loader.load_one(key).await }.boxed().shared()
                    })
                    .clone(),
                None => {
                    let loader = self.loader.clone();
                    async move { loader.load_one(key).await }.boxed().shared()
                }
            }
        };
        load.await
    }

    /// Remembers values that a query read in bulk, so that lookups by id need no statement.
    pub fn remember<K, V>(&self, values: impl IntoIterator<Item = (K, V)>)
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        V: Send + Sync + Clone + 'static,
    {
        let Some(memo) = &self.memo else {
            return;
        };
        let mut memo = memo.lock().unwrap_or_else(PoisonError::into_inner);
        let typed = memo
            .entry(TypeId::of::<(K, V)>())
            .or_insert_with(|| Box::new(HashMap::<K, SharedLoad<V>>::new()));
        if let Some(typed) = typed.downcast_mut::<HashMap<K, SharedLoad<V>>>() {
            for (key, value) in values {
                let ready: BoxFuture<'static, Result<Option<V>, ApiError>> =
                    futures::future::ready(Ok(Some(value))).boxed();
                typed.entry(key).or_insert_with(|| ready.shared());
            }
        }
    }
}
