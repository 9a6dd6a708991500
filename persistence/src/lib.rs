//! Headway's storage on sea-orm, for PostgreSQL and SQLite.
//!
//! - [`Store`] is the one entry point. Every read takes the organization it reads from, and
//!   every write takes an [`Actor`], which carries the organization; no call reaches rows of
//!   another organization.
//! - Every write runs in one transaction that first locks its organization's row. That
//!   serializes the writes of one organization, so rollups never lose an update, and it
//!   numbers the organization's events gap-free in commit order (the outbox).
//! - [`entities`] are the table rows; [`convert`] maps them to domain values.

pub mod api_tokens;
pub mod audit;
mod bulk;
mod check_ins;
mod comments;
pub mod connect;
mod convert;
mod cycles;
pub mod entities;
mod error;
mod events;
mod idempotency;
mod key_results;
mod kpis;
mod objectives;
mod organizations;
mod page;
pub mod practice;
mod rollup;
mod scoped;
mod teams;
mod tx;
mod users;
pub mod webhooks;

pub use api_tokens::{AuditFilter, NewApiToken};
pub use check_ins::{CheckInOutcome, NewCheckIn};
pub use comments::{CommentChanges, NewComment};
pub use connect::{DatabaseKind, connect, migrate};
pub use cycles::{CycleChanges, NewCycle};
pub use error::StoreError;
pub use key_results::{KeyResultChanges, KeyResultOutcome, NewKeyResult};
pub use kpis::{KpiChanges, MeasurementOutcome, NewKpi, NewMeasurement};
pub use objectives::{NewObjective, ObjectiveChanges, ObjectiveFilter, ObjectiveOutcome};
pub use organizations::{NewOrganization, OrganizationChanges};
pub use page::{Page, PageRequest, SortCursor};
pub use teams::{NewTeam, TeamChanges};
pub use users::{NewMember, UserClaims};

use headway_domain::clock::Clock;
use headway_domain::ids::{ApiTokenId, OrganizationId, UserId};
use headway_domain::values::ExternalKey;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// How a batch item names its record: by id, or by the external key an integration gave it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RecordRef<I> {
    Id(I),
    ExternalKey(ExternalKey),
}

/// Who performs a write, and in which organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub organization_id: OrganizationId,
    /// The signed-in user, when a person acts.
    pub user_id: Option<UserId>,
    /// The API token, when an integration acts.
    pub api_token_id: Option<ApiTokenId>,
}

impl Actor {
    pub const fn user(organization_id: OrganizationId, user_id: UserId) -> Self {
        Self {
            organization_id,
            user_id: Some(user_id),
            api_token_id: None,
        }
    }
}

/// A callback run after a transaction with new events commits, with those events in sequence
/// order. The event relay uses it to publish without polling.
pub type CommitHook = Arc<dyn Fn(&[headway_domain::events::Event]) + Send + Sync>;

/// Storage of every record, scoped by organization.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    commit_hook: Option<CommitHook>,
    /// Write transactions waiting for a pooled connection.
    waiting: Arc<std::sync::atomic::AtomicI64>,
}

/// The database pool's connections at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections lent out to a statement or transaction.
    pub in_use: u64,
    /// Open connections that wait in the pool.
    pub idle: u64,
    /// Maximum number of connections the pool opens.
    pub max: u64,
    /// Write transactions waiting for a connection.
    pub waiting: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            clock,
            commit_hook: None,
            waiting: Arc::default(),
        }
    }

    /// Counts the pooled connections in use and idle, and the transactions waiting for one.
    pub fn pool_status(&self) -> PoolStatus {
        let (size, idle, max) = match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            sea_orm::DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => (0, 0, 0),
        };
        let idle = u64::try_from(idle).unwrap_or(u64::MAX);
        PoolStatus {
            in_use: u64::from(size).saturating_sub(idle),
            idle,
            max: u64::from(max),
            waiting: u64::try_from(self.waiting.load(std::sync::atomic::Ordering::Relaxed))
                .unwrap_or(0),
        }
    }

    /// Returns the store with a hook that runs after every commit that wrote events.
    pub fn with_commit_hook(mut self, hook: CommitHook) -> Self {
        self.commit_hook = Some(hook);
        self
    }

    /// Sets the hook that runs after every commit that wrote events.
    pub fn set_commit_hook(&mut self, hook: CommitHook) {
        self.commit_hook = Some(hook);
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The current time at the precision that both databases store (microseconds).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        convert::storable_instant(self.clock.now())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(StoreError::from)
    }
}
