//! Database migrations for Headway, written once for PostgreSQL and SQLite.
//!
//! Decimal quantities are stored as text in both databases: SQLite has no exact decimal
//! type, and sea-orm would read one back through `f64`.

pub use sea_orm_migration::prelude::*;

mod m20261204_000001_core;
mod m20261205_000002_access;
mod m20261206_000003_webhooks;
mod m20261207_000004_practice;
mod m20261208_000005_webhook_secret_rotation;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261204_000001_core::Migration),
            Box::new(m20261205_000002_access::Migration),
            Box::new(m20261206_000003_webhooks::Migration),
            Box::new(m20261207_000004_practice::Migration),
            Box::new(m20261208_000005_webhook_secret_rotation::Migration),
        ]
    }
}
