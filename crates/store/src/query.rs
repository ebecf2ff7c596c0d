//! The alerts-queue query: filters as one condition, a time window, a sort, keyset paging.
use crate::cursor::Cursor;
use rampart_domain::alert::AlertRecord;
use rampart_domain::condition::Condition;
use rampart_domain::timestamp::Timestamp;
use serde::Serialize;

/// Exact totals are counted up to this many matches; beyond it the total is "more than".
pub const TOTAL_CAP: u64 = 10_000;

/// Largest page.
pub const MAX_PAGE_SIZE: usize = 500;

/// Sortable queue columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    LastActivity,
    FirstActivity,
    Severity,
    Title,
}

impl SortKey {
    /// Public name, as in `?sort=`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SortKey::LastActivity => "lastActivity",
            SortKey::FirstActivity => "firstActivity",
            SortKey::Severity => "severity",
            SortKey::Title => "title",
        }
    }
    /// Parses a public name (case-insensitive; `…DateTime` spellings too).
    pub fn parse(s: &str) -> Option<SortKey> {
        match s.to_ascii_lowercase().as_str() {
            "lastactivity" | "lastactivitydatetime" => Some(SortKey::LastActivity),
            "firstactivity" | "firstactivitydatetime" => Some(SortKey::FirstActivity),
            "severity" => Some(SortKey::Severity),
            "title" => Some(SortKey::Title),
            _ => None,
        }
    }
    /// Whether the key is text (else integer).
    pub const fn is_text(self) -> bool {
        matches!(self, SortKey::Title)
    }
}

/// One queue request.
#[derive(Debug, Clone)]
pub struct AlertQuery {
    /// Filters (search box and filter pane, combined).
    pub condition: Condition,
    /// Lower bound on lastActivity (inclusive).
    pub since: Option<Timestamp>,
    /// Upper bound on lastActivity (exclusive).
    pub until: Option<Timestamp>,
    pub sort: SortKey,
    pub desc: bool,
    pub page_size: usize,
    pub cursor: Option<Cursor>,
    /// For relative times in the condition.
    pub now: Timestamp,
    /// When set, only alerts from these service sources are visible (role limits).
    pub allowed_sources: Option<Vec<String>>,
    /// Service sources never visible to this caller (e.g. e-mail without `email.read`).
    pub denied_sources: Vec<String>,
}

/// One page of the queue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertPage {
    pub items: Vec<AlertRecord>,
    pub next_cursor: Option<String>,
    /// Exact when `total_is_exact`; otherwise a lower bound (the cap).
    pub total: u64,
    pub total_is_exact: bool,
}
