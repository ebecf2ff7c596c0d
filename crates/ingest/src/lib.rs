//! Rampart's ingest: turns producer input into domain alerts and hands them to the store.
//!
//! The "Ingest contract" of DESIGN.md lives here, once, for every path (HTTP single, JSON
//! array, NDJSON bulk, CLI file, later NATS): strict JSON (duplicate keys, lone surrogates,
//! depth, wrong types all rejected), the Graph alert shape, limits. What is accepted is stored
//! byte for byte as it arrived.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod body;
pub mod error;
pub mod graph;
pub mod json;

pub use body::{parse_bulk, parse_bulk_on, parse_json_body, BulkLine, Parsed};
pub use error::IngestError;
