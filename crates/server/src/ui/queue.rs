//! The alerts queue page (`/alerts`): the API's queue query, a filter pane whose state lives
//! in the URL, keyset paging, and row selection for the manage pane.
use super::view::{self, enc, AlertRow, Chrome, ManageChoices, Opt, ALERT_STATUSES};
use super::{html, PageResult, Viewer};
use crate::api::alerts::{build_query, limit_to_scope, ListParams};
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use rampart_domain::access::Permission;
use rampart_domain::timestamp::DAY_MICROS;
use rampart_domain::vocab::{Classification, Determination, INVESTIGATION_STATES, SERVICE_SOURCES};
use rampart_store::query::MAX_PAGE_SIZE;
use rampart_store::AlertPage;

/// The queue's filter parameters, as the URL carries them. Multi-valued filters repeat
/// (`severity=high&severity=medium`, what a checkbox form sends) or use commas (the API's
/// spelling); both work.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub severity: Vec<String>,
    pub status: Vec<String>,
    pub service_source: Vec<String>,
    pub investigation_state: Vec<String>,
    pub entity: String,
    pub tag: String,
    pub assigned_to: String,
    pub q: String,
    /// `1d`, `7d`, `30d` (default), `180d`, `all`.
    pub period: String,
    pub sort: String,
    pub order: String,
    pub cursor: String,
    /// Set by the filter form, whose unticked status boxes mean "any status" rather than
    /// the default view.
    pub status_shown: bool,
}

/// Longest query string a page accepts; longer ones are an error, not a truncation.
const MAX_QUERY: usize = 16 * 1024;

pub const PERIODS: &[(&str, &str, i64)] = &[
    ("1d", "Last day", 1),
    ("7d", "Last 7 days", 7),
    ("30d", "Last 30 days", 30),
    ("180d", "Last 6 months", 180),
    ("all", "Any time", 0),
];

/// A page's query string as (key, value) pairs, repeated keys kept (checkbox forms repeat
/// them), within [`MAX_QUERY`].
pub fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let raw = raw.unwrap_or("");
    if raw.len() > MAX_QUERY {
        return Err(ApiError::bad("query", "the address is too long"));
    }
    serde_urlencoded::from_str(raw)
        .map_err(|e| ApiError::bad("query", format!("unreadable address: {e}")))
}

fn split(v: &str, into: &mut Vec<String>) {
    for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !into.iter().any(|x| x == p) {
            into.push(p.to_string());
        }
    }
}

impl Filters {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let pairs = query_pairs(raw)?;
        let mut f = Filters::default();
        for (k, v) in pairs {
            match k.as_str() {
                "severity" => split(&v, &mut f.severity),
                "status" => split(&v, &mut f.status),
                "serviceSource" => split(&v, &mut f.service_source),
                "investigationState" => split(&v, &mut f.investigation_state),
                "entity" => f.entity = v.trim().to_string(),
                "tag" => f.tag = v.trim().to_string(),
                "assignedTo" => f.assigned_to = v.trim().to_string(),
                "q" => f.q = v,
                "period" => f.period = v,
                "sort" => f.sort = v,
                "order" => f.order = v,
                "cursor" => f.cursor = v,
                "statusShown" => f.status_shown = true,
                // Unknown parameters (tracking junk, old links) are ignored, not fatal.
                _ => {}
            }
        }
        Ok(f)
    }

    fn list(v: &[String]) -> Option<String> {
        (!v.is_empty()).then(|| v.join(","))
    }

    fn opt(v: &str) -> Option<String> {
        (!v.trim().is_empty()).then(|| v.to_string())
    }

    /// The API's parameters for these filters; `now_rfc` anchors the period.
    pub fn to_params(
        &self,
        now: rampart_domain::timestamp::Timestamp,
    ) -> Result<ListParams, ApiError> {
        let since = match self.period.as_str() {
            "" | "30d" => None,
            p => match PERIODS.iter().find(|(k, _, _)| *k == p) {
                Some((_, _, 0)) => Some("0001-01-01T00:00:00Z".to_string()),
                Some((_, _, days)) => Some(now.plus_micros(-days * DAY_MICROS).to_rfc3339()),
                None => {
                    return Err(ApiError::bad(
                        "period",
                        format!("period: unknown value {p:?}"),
                    ))
                }
            },
        };
        Ok(ListParams {
            severity: Self::list(&self.severity),
            status: match Self::list(&self.status) {
                None if self.status_shown => Some("any".into()),
                s => s,
            },
            service_source: Self::list(&self.service_source),
            detection_source: None,
            entity: Self::opt(&self.entity),
            investigation_state: Self::list(&self.investigation_state),
            tag: Self::opt(&self.tag),
            assigned_to: Self::opt(&self.assigned_to),
            category: None,
            q: Self::opt(&self.q),
            since,
            until: None,
            sort: Self::opt(&self.sort),
            order: Self::opt(&self.order),
            page_size: None,
            cursor: Self::opt(&self.cursor),
        })
    }

    /// The query string for these filters (without the cursor), for links and paging.
    pub fn query_string(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut add = |k: &str, v: &str| {
            if !v.is_empty() {
                parts.push(format!("{k}={}", enc(v)));
            }
        };
        for (k, vs) in [
            ("severity", &self.severity),
            ("status", &self.status),
            ("serviceSource", &self.service_source),
            ("investigationState", &self.investigation_state),
        ] {
            for v in vs {
                add(k, v);
            }
        }
        if self.status_shown && self.status.is_empty() {
            add("status", "any");
        }
        add("entity", &self.entity);
        add("tag", &self.tag);
        add("assignedTo", &self.assigned_to);
        add("q", &self.q);
        add("period", &self.period);
        add("sort", &self.sort);
        add("order", &self.order);
        parts.join("&")
    }

    fn sort_href(&self, key: &str) -> String {
        let mut f = self.clone();
        f.cursor.clear();
        let current = if f.sort.is_empty() {
            "lastActivity"
        } else {
            f.sort.as_str()
        };
        f.order = if current == key && f.order != "asc" {
            "asc".into()
        } else {
            "desc".into()
        };
        f.sort = key.into();
        format!("/alerts?{}", f.query_string())
    }
}

/// A checkbox in the filter pane.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// Severities the filter panes offer.
pub const SEVERITIES: &[(&str, &str)] = &[
    ("high", "High"),
    ("medium", "Medium"),
    ("low", "Low"),
    ("informational", "Informational"),
];

/// Checkboxes for `options`, ticked where `chosen` names them.
pub fn checks(name: &'static str, options: &[(&str, &str)], chosen: &[String]) -> Vec<Check> {
    options
        .iter()
        .map(|(v, l)| Check {
            name,
            value: (*v).to_string(),
            label: (*l).to_string(),
            checked: chosen.iter().any(|c| c.eq_ignore_ascii_case(v)),
        })
        .collect()
}

/// A sortable column header.
#[derive(Debug, Clone)]
pub struct SortLink {
    pub label: &'static str,
    pub href: String,
    /// `ascending`, `descending` or `none` (aria-sort).
    pub aria: &'static str,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct QueuePage {
    chrome: Chrome,
    filters: Filters,
    severities: Vec<Check>,
    statuses: Vec<Check>,
    sources: Vec<Check>,
    states: Vec<Check>,
    periods: Vec<Opt>,
    rows: Vec<AlertRow>,
    /// "1–50 of 10,000+".
    summary: String,
    next_href: String,
    first_href: String,
    is_later_page: bool,
    error_field: String,
    error: String,
    can_manage: bool,
    manage: ManageChoices,
    manage_single: bool,
    manage_title: &'static str,
    sort_title: SortLink,
    sort_severity: SortLink,
    sort_first: SortLink,
    sort_last: SortLink,
    /// The API listing of this view's alerts, for selecting every one that matches (empty
    /// when the view has an error or nothing beyond this page to select).
    matching_href: String,
    /// How many match, as the selection link says it.
    matching_label: String,
}

/// Most alerts "select all that match" gathers: one bulk update's limit.
const MATCHING_MAX: u64 = rampart_store::access::MAX_BULK as u64;

/// The API query (`/api/v1/alerts?…`) that lists what a view with these parameters lists.
/// Selecting every matching alert pages through it, so the selection is exactly the queue's,
/// rather than the filters restated as a condition that could drift from it.
fn api_list_href(p: &ListParams) -> String {
    let mut parts = vec![format!("pageSize={MAX_PAGE_SIZE}")];
    for (k, v) in [
        ("severity", &p.severity),
        ("status", &p.status),
        ("serviceSource", &p.service_source),
        ("detectionSource", &p.detection_source),
        ("entity", &p.entity),
        ("investigationState", &p.investigation_state),
        ("tag", &p.tag),
        ("assignedTo", &p.assigned_to),
        ("category", &p.category),
        ("q", &p.q),
        ("since", &p.since),
        ("until", &p.until),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}={}", enc(v)));
        }
    }
    format!("/api/v1/alerts?{}", parts.join("&"))
}

/// A count with thousands separators, as both queues show their totals.
pub(super) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `GET /alerts`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let grant = viewer.caller.grant(Permission::AlertsRead, None)?;
    let now = state.clock.now();
    let filters = Filters::parse(raw.as_deref())?;
    let mut page = AlertPage {
        items: Vec::new(),
        next_cursor: None,
        total: 0,
        total_is_exact: true,
    };
    let (mut error_field, mut error) = (String::new(), String::new());
    let mut status = StatusCode::OK;
    // The view's API listing, for "select all that match", from the same parameters.
    let mut listing = String::new();
    match filters.to_params(now).and_then(|p| {
        listing = api_list_href(&p);
        build_query(p, now)
    }) {
        Ok(mut query) => {
            limit_to_scope(&mut query, &grant);
            page = state.store.list_alerts(&query).await?;
        }
        Err(ApiError::BadRequest { field, detail }) => {
            status = StatusCode::BAD_REQUEST;
            error_field = field.unwrap_or_default();
            error = detail;
        }
        Err(e) => return Err(e.into()),
    }
    let shown = page.items.len() as u64;
    let summary = if shown == 0 {
        "No alerts match".to_string()
    } else {
        format!(
            "{} alert{} shown of {}{}",
            shown,
            if shown == 1 { "" } else { "s" },
            thousands(page.total),
            if page.total_is_exact { "" } else { "+" }
        )
    };
    let base = filters.query_string();
    let next_href = page
        .next_cursor
        .as_deref()
        .map(|c| {
            let sep = if base.is_empty() { "" } else { "&" };
            format!("/alerts?{base}{sep}cursor={}", enc(c))
        })
        .unwrap_or_default();
    let beyond_page = page.next_cursor.is_some() || !filters.cursor.is_empty();
    let matching_href =
        if error.is_empty() && beyond_page && page.total_is_exact && page.total <= MATCHING_MAX {
            listing
        } else {
            String::new()
        };
    let status_default: Vec<String> = if filters.status.is_empty() && !filters.q.contains("status")
    {
        vec!["new".into(), "inProgress".into()]
    } else {
        filters.status.clone()
    };
    let sources: Vec<(&str, &str)> = SERVICE_SOURCES
        .iter()
        .take(4)
        .map(|(v, a, _)| (*v, *a))
        .collect();
    let source_labels: Vec<(&str, &str)> = sources
        .iter()
        .map(|(v, a)| {
            (
                *v,
                match *a {
                    "endpoint" => "Defender for Endpoint",
                    "identity" => "Defender for Identity",
                    "email" => "Defender for Office 365",
                    _ => "Defender for Cloud Apps",
                },
            )
        })
        .collect();
    let states: Vec<(&str, String)> = INVESTIGATION_STATES
        .iter()
        .map(|s| (*s, view::words(s)))
        .collect();
    let states_ref: Vec<(&str, &str)> = states.iter().map(|(v, l)| (*v, l.as_str())).collect();
    let period = if filters.period.is_empty() {
        "30d"
    } else {
        filters.period.as_str()
    };
    let sort_key = if filters.sort.is_empty() {
        "lastActivity"
    } else {
        filters.sort.as_str()
    };
    let link = |label: &'static str, key: &str| SortLink {
        label,
        href: filters.sort_href(key),
        aria: if sort_key == key {
            if filters.order == "asc" {
                "ascending"
            } else {
                "descending"
            }
        } else {
            "none"
        },
    };
    let users = if view::can_manage_alerts(&viewer) {
        view::assignable(&state).await
    } else {
        Vec::new()
    };
    let t = QueuePage {
        chrome: Chrome::new(&viewer, "alerts", "Alerts"),
        severities: checks("severity", SEVERITIES, &filters.severity),
        statuses: checks("status", ALERT_STATUSES, &status_default),
        sources: checks("serviceSource", &source_labels, &filters.service_source),
        states: checks(
            "investigationState",
            &states_ref,
            &filters.investigation_state,
        ),
        periods: PERIODS
            .iter()
            .map(|(k, l, _)| Opt {
                value: (*k).into(),
                label: (*l).into(),
                selected: *k == period,
                for_classes: String::new(),
            })
            .collect(),
        rows: page.items.iter().map(AlertRow::new).collect(),
        matching_href,
        matching_label: thousands(page.total),
        summary,
        next_href,
        first_href: format!("/alerts?{base}"),
        is_later_page: !filters.cursor.is_empty(),
        error_field,
        error,
        can_manage: view::can_manage_alerts(&viewer),
        manage: ManageChoices::new(
            ALERT_STATUSES,
            "",
            Classification::Unknown,
            Determination::Unknown,
            None,
            &users,
        ),
        manage_single: false,
        manage_title: "Manage alerts",
        sort_title: link("Alert name", "title"),
        sort_severity: link("Severity", "severity"),
        sort_first: link("First activity", "firstActivity"),
        sort_last: link("Last activity", "lastActivity"),
        filters,
    };
    Ok(html(status, t))
}
