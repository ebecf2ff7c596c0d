//! The audit trail: append-only events for every change, by whoever made it. Comments are
//! history events with text.
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// `user`, `token`, `rule`, `correlation`, `producer` or `system`.
    pub kind: ActorKind,
    /// The user name, token name, rule id … (never a secret).
    pub name: String,
}

crate::vocab::vocab_enum!(
    /// Kinds of actor.
    ActorKind {
        User = "user",
        Token = "token",
        Rule = "rule",
        Correlation = "correlation",
        Producer = "producer",
        System = "system",
    }
);

impl Actor {
    /// The ingest pipeline acting for a producer.
    pub fn producer(name: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::Producer,
            name: name.into(),
        }
    }
    /// Rampart itself.
    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            name: "rampart".into(),
        }
    }
}

crate::vocab::vocab_enum!(
    /// What a history event is about. Stored beside the target id so a producer-chosen alert
    /// id can never read another kind's events (an alert named `auth` is still an alert).
    TargetKind {
        Alert = "alert",
        Incident = "incident",
        User = "user",
        Token = "token",
        Role = "role",
        Auth = "auth",
    }
);

impl TargetKind {
    /// Kinds the access audit log shows (`GET /api/v1/audit`); alert and incident history
    /// is read where its own permission checks apply.
    pub const ACCESS: &'static [TargetKind] = &[
        TargetKind::User,
        TargetKind::Token,
        TargetKind::Role,
        TargetKind::Auth,
    ];
}

/// One audit event on one alert or incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    /// Monotonic sequence number (store-assigned; 0 before storing).
    pub seq: i64,
    /// The alert or incident id.
    pub target_id: String,
    pub at: Timestamp,
    pub actor: Actor,
    /// `created`, `updated`, `changed`, `comment`, …
    pub action: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// Comment text, for `comment` events.
    pub text: Option<String>,
}
