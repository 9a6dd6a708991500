//! Opening the database and applying migrations.

use headway_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, TransactionTrait,
};
use std::time::Duration;

/// The database products Headway runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    Postgres,
    Sqlite,
}

impl DatabaseKind {
    /// Tells the kind from a connection URL; `None` for an unsupported scheme.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }
}

/// How long a SQLite write waits for another connection's write lock before it fails.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a connection pool of at most `max_connections` to `url`. A call that finds no
/// free connection within `acquire_timeout`, as while the database is down, fails.
///
/// SQLite files are created when missing and run in WAL mode, so readers never wait for
/// the single writer.
pub async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
        });
    Database::connect(options).await
}

/// The key of Headway's migration lock among PostgreSQL advisory locks: "HEADWAY" in ASCII.
const MIGRATION_LOCK_KEY: i64 = 0x0048_4541_4457_4159;

/// Applies pending migrations.
///
/// On PostgreSQL the migrations run in one transaction that holds an advisory lock, so
/// replicas that start together migrate one after the other.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    // A newer build may have applied migrations that this one does not know, as during a
    // rolling upgrade. The migrator rejects such a database, so a build whose own
    // migrations are all applied leaves it alone.
    if migrations_current(db).await.unwrap_or(false) {
        return Ok(());
    }
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let transaction = db.begin().await?;
            transaction
                .execute_unprepared(&format!(
                    "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
                ))
                .await?;
            Migrator::up(&transaction, None).await?;
            transaction.commit().await
        }
        _ => Migrator::up(db, None).await,
    }
}

/// Checks whether every migration of this build is applied. Migrations of a newer build that
/// ran first, as in a rolling upgrade, do not count against it.
pub async fn migrations_current(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations",
        ))
        .await?;
    let applied = rows
        .iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect::<Result<std::collections::HashSet<String>, DbErr>>()?;
    Ok(Migrator::migrations()
        .iter()
        .all(|migration| applied.contains(migration.name())))
}
