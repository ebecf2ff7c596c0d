//! The HTTP suite: one binary, the real router on 127.0.0.1:0, a real SQLite file per test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod access;
mod authz_matrix;
mod bad_input;
mod incidents;
mod ingest;
mod openapi;
mod queue;
mod support;
mod triage;
mod ui;
