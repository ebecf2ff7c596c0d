//! Rampart's domain: the alert and incident model, the Graph-compatible vocabulary, entity
//! identity, the condition language, access control and the clock.
//!
//! Everything here is pure: no I/O, no async, no database or HTTP types, so the store, the
//! ingest pipeline and the server all agree on one meaning of every field and rule.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod access;
pub mod alert;
pub mod clock;
pub mod condition;
pub mod correlate;
pub mod document;
pub mod entity;
pub mod error;
pub mod history;
pub mod ids;
pub mod incident;
pub mod machine;
pub mod text;
pub mod timestamp;
pub mod triage;
pub mod user;
pub mod vocab;

pub use error::DomainError;
