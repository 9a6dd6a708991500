//! Support for Headway's integration tests: a fresh database and a real server per test.
//!
//! Tests run on SQLite by default. With `HEADWAY_TEST_DATABASE_URL` set (a PostgreSQL URL
//! such as `postgres://postgres@127.0.0.1:5432/test`) every test creates its own database
//! there instead, and fails, rather than skips, when PostgreSQL does not answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod collector;
pub mod database;
pub mod metrics;
pub mod postgres;
pub mod receiver;
pub mod replica;
pub mod server;
pub mod ws;

pub use database::TestDatabase;
pub use server::{Session, TestServer};
