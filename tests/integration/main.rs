//! Black-box tests of the headway server over HTTP, on SQLite or, with
//! `HEADWAY_TEST_DATABASE_URL` set, on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod auth;
mod bad_input;
mod consistency;
mod demo;
mod fixtures;
mod http;
mod ingest;
mod isolation;
mod live;
mod operations;
mod planning;
mod practice;
mod records;
mod replicas;
mod schema;
mod statements;
mod webhooks;
