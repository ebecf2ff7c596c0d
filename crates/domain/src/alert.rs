//! The alert as Rampart indexes and triages it.
//!
//! The producer's document (Graph alerts_v2 JSON, evidence and all) is stored verbatim beside
//! this record; the record holds what is queried, sorted and changed by triage. On read, the
//! record's triage fields override the document's, so an analyst's decision always wins.
use crate::entity::{EntityKey, ImpactedAsset};
use crate::timestamp::Timestamp;
use crate::vocab::{AlertStatus, Classification, Determination, Severity};
use serde::{Deserialize, Serialize};

/// How far ahead of the server's clock an alert's times may be. Correlation's window runs
/// behind the newest alert it has seen, so one alert dated years ahead would make it forget
/// every real one; producers' clocks are off by seconds, and a local time sent as UTC by
/// hours, which is an error to report, not to store.
pub const MAX_AHEAD_MICROS: i64 = 3_600_000_000;

/// Longest title accepted (64 KiB, the ingest contract).
pub const MAX_TITLE_BYTES: usize = 64 * 1024;
/// Largest single alert document (1 MiB).
pub const MAX_ALERT_BYTES: usize = 1024 * 1024;
/// Most evidence items in one alert.
pub const MAX_EVIDENCE: usize = 10_000;
/// Most system tags in one alert.
pub const MAX_SYSTEM_TAGS: usize = 10_000;

/// The indexed, triaged view of one alert: a queue row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRecord {
    pub id: String,
    pub provider_alert_id: Option<String>,
    pub incident_id: Option<String>,
    pub title: String,
    pub category: Option<String>,
    pub severity: Severity,
    pub status: AlertStatus,
    pub classification: Classification,
    pub determination: Determination,
    pub service_source: String,
    pub detection_source: String,
    pub investigation_state: Option<String>,
    pub assigned_to: Option<String>,
    pub tags: Vec<String>,
    #[serde(rename = "firstActivityDateTime")]
    pub first_activity: Timestamp,
    #[serde(rename = "lastActivityDateTime")]
    pub last_activity: Timestamp,
    #[serde(rename = "createdDateTime")]
    pub created: Timestamp,
    #[serde(rename = "lastUpdateDateTime")]
    pub last_update: Timestamp,
    #[serde(rename = "resolvedDateTime")]
    pub resolved: Option<Timestamp>,
    /// Optimistic-concurrency version: bumped by every change.
    pub version: i64,
    /// Devices, users and mailboxes named by the evidence, as the product spelled them.
    pub impacted_assets: Vec<ImpactedAsset>,
}

/// A record plus its entity keys: everything the condition language can look at.
#[derive(Debug, Clone, Copy)]
pub struct AlertFacts<'a> {
    pub record: &'a AlertRecord,
    pub entities: &'a [EntityKey],
}

/// A normalised alert ready to store: the record, its entity keys and the producer document.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub record: AlertRecord,
    pub entities: Vec<EntityKey>,
    /// The producer's JSON document, byte for byte as accepted.
    pub document: bytes::Bytes,
}
