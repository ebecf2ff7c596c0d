//! Proptest strategies for the differential test "SQL returns exactly what `eval` returns".
//!
//! Queries and alerts draw from one small shared vocabulary (titles, tags, device and user
//! spellings, times near [`ARB_NOW`]), so that random queries actually hit random alerts and the
//! tricky cases meet often: spelling variants that normalise together (`WS-1` vs
//! `ws-1.corp.local`), case differences that must not match (tags, titles), unset optional
//! fields under negation, boundary times, NUL and non-ASCII characters in titles (the Kelvin
//! sign folds to `k` under Unicode lower-casing but not under ASCII folding).
use crate::alert::AlertRecord;
use crate::entity::{normalise, EntityKey, EntityKind, ImpactedAsset};
use crate::timestamp::Timestamp;
use crate::vocab::{allowed_determinations, AlertStatus, Classification, Determination, Severity};
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::BTreeSet;

/// The "now" that generated alerts' times cluster around: 2026-06-01T12:00:00Z. Evaluate and
/// compile generated queries with this.
pub const ARB_NOW: Timestamp = Timestamp::from_secs(1_780_315_200);

/// Seconds before [`ARB_NOW`] that alert times and query times both use, so boundaries meet.
const OFFSETS: &[(i64, &str)] = &[
    (0, "now"),
    (45, "now-45s"),
    (30 * 60, "now-30m"),
    (12 * 3600, "now-12h"),
    (86_400, "now-1d"),
    (7 * 86_400, "now-7d"),
    (14 * 86_400, "now-2w"),
    (30 * 86_400, "now-30d"),
];

const TITLE_WORDS: &[&str] = &[
    "Mimikatz",
    "credential",
    "dump",
    "Suspicious",
    "PowerShell",
    "ransomware",
    "login",
    "café",
    "\u{212A}erberos",
    "kerberos",
];

/// Whole titles, for `title:` equality to hit.
const TITLES: &[&str] = &[
    "Mimikatz credential dump",
    "Suspicious PowerShell login",
    "mimikatz credential dump",
    "Ransomware \"encrypted\" files",
    "C:\\Windows\\evil.exe, launched",
];

/// Free-text needles: whole words, fragments, different case, non-ASCII, NUL.
const NEEDLES: &[&str] = &[
    "mimikatz",
    "MIMI",
    "credential dump",
    "dump",
    "shell",
    "café",
    "CAFÉ",
    "k",
    "K",
    "\u{212A}",
    "kerberos",
    "\0",
    "\"encrypted\"",
    "evil.exe,",
    "-",
    "OR",
];

const TAGS: &[&str] = &[
    "benign",
    "Benign",
    "needs review",
    "vip",
    "a,b",
    "quote\"d",
    "back\\slash",
    "ünï",
];

const SERVICE_SOURCES: &[&str] = &[
    "microsoftDefenderForEndpoint",
    "microsoftDefenderForIdentity",
    "microsoftDefenderForOffice365",
    "customSource",
];
/// Query spellings: aliases and Graph values in any case map onto the stored Graph value;
/// unknown sources compare exactly.
const SOURCE_QUERIES: &[&str] = &[
    "endpoint",
    "identity",
    "email",
    "microsoftDefenderForEndpoint",
    "customSource",
    "CustomSource",
    "xdr",
];
const DETECTION_SOURCES: &[&str] = &["antivirus", "Antivirus", "customDetection", "edr"];
const CATEGORIES: &[&str] = &[
    "CredentialAccess",
    "credentialaccess",
    "Execution",
    "Initial Access",
];
const INVESTIGATION_STATES: &[&str] = &["running", "benign", "queued", "Running"];
const ASSIGNEES: &[&str] = &["alice@corp.com", "CORP\\alice", "Bob Smith", "bob"];
const IDS: &[&str] = &["arb-0", "arb-1", "arb-2", "arb-3", "arb-4", "arb-5"];
const PROVIDER_IDS: &[&str] = &["p-1", "P-1", "p-2"];
const INCIDENT_IDS: &[&str] = &["1", "2", "17"];

/// Raw entity spellings per kind; several normalise to the same key.
fn entity_vocab(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        EntityKind::Device => &["WS-1", "ws-1.corp.local", "ws-2", "DC01.corp.local", "dc01"],
        EntityKind::User => &[
            "CORP\\alice",
            "alice@corp.com",
            "Alice",
            "bob",
            "S-1-5-21-1-2-3-1001",
        ],
        EntityKind::Ip => &["10.0.0.1", "2001:DB8::1", "2001:db8:0:0::1", "10.0.0.2"],
        EntityKind::FileSha256 => &[
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ],
        EntityKind::FileName => &["mimikatz.exe", "Mimikatz.EXE", "a b.txt"],
        EntityKind::Mailbox => &["alice@corp.com", "Alice@Corp.com", "bob@corp.com"],
        EntityKind::Url => &["http://evil.example/x", "HTTP://Evil.example/x"],
        EntityKind::Domain => &["evil.example", "EVIL.example", "good.example"],
        _ => &["x", "X", "y,z"],
    }
}

/// Entity kinds, weighted towards the few the vocabulary has several spellings for.
fn arb_kind() -> impl Strategy<Value = EntityKind> {
    prop_oneof![
        2 => select(&[EntityKind::Device, EntityKind::User, EntityKind::Ip, EntityKind::Mailbox][..]),
        1 => select(EntityKind::ALL),
    ]
}

/// Changes the ASCII case of `s`: 0 as is, 1 lower, 2 upper, otherwise alternating.
fn recase(s: &str, mode: u8) -> String {
    match mode {
        0 => s.to_string(),
        1 => s.to_ascii_lowercase(),
        2 => s.to_ascii_uppercase(),
        _ => s
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
    }
}

fn cased(xs: &'static [&'static str]) -> impl Strategy<Value = String> {
    (select(xs), 0..4u8).prop_map(|(s, m)| recase(s, m))
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A value after an operator, bare when the grammar allows and `bare` asks for it.
fn value_text(s: &str, bare: bool) -> String {
    let safe = !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c == ',' || c == '"');
    if bare && safe {
        s.to_string()
    } else {
        quote(s)
    }
}

/// A free-text term, bare when it cannot be mistaken for anything else.
fn text_term(s: &str, bare: bool) -> String {
    let safe = !s.is_empty()
        && !s.starts_with('-')
        && !["OR", "AND", "NOT"].contains(&s)
        && !s
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ':' | '<' | '>' | '=' | '"'));
    if bare && safe {
        s.to_string()
    } else {
        quote(s)
    }
}

/// `name:v1,v2` with 1–3 values from `values`, each bare or quoted at random.
fn list_term(
    names: &'static [&'static str],
    values: impl Strategy<Value = String>,
) -> impl Strategy<Value = String> {
    (
        cased(names),
        proptest::collection::vec((values, any::<bool>()), 1..4),
    )
        .prop_map(|(name, vs)| {
            let vs: Vec<String> = vs.iter().map(|(v, bare)| value_text(v, *bare)).collect();
            format!("{name}:{}", vs.join(","))
        })
}

fn plain(xs: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(xs).prop_map(str::to_string)
}

fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        select(OFFSETS).prop_map(|(_, rel)| rel.to_string()),
        (select(OFFSETS), any::<bool>()).prop_map(|((secs, _), short)| {
            let full = ARB_NOW.plus_micros(-secs * 1_000_000).to_rfc3339();
            if short {
                // Whole seconds: `2026-06-01T12:00:00Z`.
                format!("{}Z", full.get(..19).unwrap_or(&full))
            } else {
                full
            }
        }),
        Just("NOW-1d".to_string()),
        Just("now-720h".to_string()),
    ]
}

fn op_text() -> impl Strategy<Value = &'static str> {
    select(&[":", "<", "<=", ">", ">="][..])
}

fn ordered_term(
    names: &'static [&'static str],
    values: impl Strategy<Value = String> + 'static,
) -> impl Strategy<Value = String> {
    let values = values.boxed();
    prop_oneof![
        list_term(names, values.clone()),
        (cased(names), op_text(), values).prop_map(|(n, op, v)| format!("{n}{op}{v}")),
    ]
}

fn enum_names<T: Copy + 'static>(all: &'static [T], f: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| f(*v)).collect()
}

fn enum_value<T: Copy + 'static>(
    all: &'static [T],
    f: fn(T) -> &'static str,
) -> impl Strategy<Value = String> {
    (select(enum_names(all, f)), 0..4u8).prop_map(|(s, m)| recase(s, m))
}

fn entity_term() -> impl Strategy<Value = String> {
    (arb_kind(), 0..4u8).prop_flat_map(|(kind, mode)| {
        let name = recase(&format!("entity.{}", kind.as_str()), mode);
        proptest::collection::vec((select(entity_vocab(kind)), any::<bool>()), 1..4).prop_map(
            move |vs| {
                let vs: Vec<String> = vs.iter().map(|(v, bare)| value_text(v, *bare)).collect();
                format!("{name}:{}", vs.join(","))
            },
        )
    })
}

fn positive_term() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (select(NEEDLES), 0..4u8, any::<bool>())
            .prop_map(|(s, m, bare)| text_term(&recase(s, m), bare)),
        2 => ordered_term(&["severity", "SEVERITY"], enum_value(Severity::ALL, Severity::as_str)),
        1 => list_term(&["status"], enum_value(AlertStatus::ALL, AlertStatus::as_str)),
        1 => list_term(&["classification"], enum_value(Classification::ALL, Classification::as_str)),
        1 => list_term(&["determination"], enum_value(Determination::ALL, Determination::as_str)),
        2 => list_term(&["source", "serviceSource"], cased(SOURCE_QUERIES)),
        1 => list_term(&["detectionSource"], plain(DETECTION_SOURCES)),
        1 => list_term(&["category"], plain(CATEGORIES)),
        1 => list_term(&["investigationState"], plain(INVESTIGATION_STATES)),
        2 => list_term(&["assignedTo", "assignee"], plain(ASSIGNEES)),
        2 => list_term(&["tag", "tags"], plain(TAGS)),
        1 => list_term(&["title"], plain(TITLES)),
        1 => list_term(&["id"], plain(IDS)),
        1 => list_term(&["providerAlertId"], plain(PROVIDER_IDS)),
        1 => list_term(&["incidentId"], plain(INCIDENT_IDS)),
        3 => ordered_term(
            &[
                "firstActivity",
                "firstActivityDateTime",
                "lastActivity",
                "lastActivityDateTime",
                "created",
                "createdDateTime",
                "lastUpdate",
                "lastUpdateDateTime",
            ],
            time_text(),
        ),
        3 => entity_term(),
    ]
}

/// Random valid query strings over every field, operator, alias, negation, lists, quoting and
/// free text, drawn from the same vocabulary as [`arb_alert`].
pub fn arb_condition() -> impl Strategy<Value = String> {
    let term = (prop::bool::weighted(0.3), positive_term()).prop_map(|(neg, t)| {
        if neg {
            format!("-{t}")
        } else {
            t
        }
    });
    let sep = select(&[" ", " ", "  ", "\t", " \n "][..]);
    (
        proptest::collection::vec((term, sep), 0..6),
        select(&["", " "][..]),
    )
        .prop_map(|(terms, lead)| {
            let mut out = lead.to_string();
            for (i, (t, sep)) in terms.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                out.push_str(t);
            }
            out
        })
}

/// A time near [`ARB_NOW`]: exactly on a query boundary, a microsecond either side, or nearby.
fn arb_time() -> impl Strategy<Value = Timestamp> {
    (
        select(OFFSETS),
        prop_oneof![
            3 => Just(0i64),
            1 => Just(-1i64),
            1 => Just(1i64),
            2 => -3_600_000_000i64..3_600_000_000,
        ],
    )
        .prop_map(|((secs, _), jitter)| ARB_NOW.plus_micros(-secs * 1_000_000 + jitter))
}

fn arb_title() -> impl Strategy<Value = String> {
    let composed = (
        proptest::collection::vec((select(TITLE_WORDS), 0..4u8), 1..5),
        prop_oneof![
            4 => Just(""),
            1 => Just("\0"),
            1 => Just("É"),
            1 => Just("\u{212A}"),
            1 => Just("İ"),
        ],
        any::<prop::sample::Index>(),
    )
        .prop_map(|(words, odd, at)| {
            let mut words: Vec<String> = words.iter().map(|(w, m)| recase(w, *m)).collect();
            if !odd.is_empty() {
                let i = at.index(words.len() + 1);
                words.insert(i, odd.to_string());
            }
            words.join(" ")
        });
    prop_oneof![2 => plain(TITLES), 3 => composed]
}

fn opt(xs: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(0.6, plain(xs))
}

/// An alert record and its entity keys from the same vocabulary as [`arb_condition`]. Tags
/// and entity keys are distinct (as the store's primary keys require) and the
/// classification/determination pair is one the product allows. Ids come from a small set;
/// use [`arb_alerts`] when the ids must be distinct.
pub fn arb_alert() -> impl Strategy<Value = (AlertRecord, Vec<EntityKey>)> {
    let ids = (plain(IDS), opt(PROVIDER_IDS), opt(INCIDENT_IDS));
    let texts = (
        arb_title(),
        opt(CATEGORIES),
        plain(SERVICE_SOURCES),
        plain(DETECTION_SOURCES),
        opt(INVESTIGATION_STATES),
        opt(ASSIGNEES),
        proptest::collection::btree_set(plain(TAGS), 0..4),
    );
    let verdict = (
        select(Severity::ALL),
        select(AlertStatus::ALL),
        select(Classification::ALL),
        any::<prop::sample::Index>(),
    );
    let times = (arb_time(), arb_time(), arb_time(), arb_time());
    let entities = proptest::collection::vec(
        arb_kind().prop_flat_map(|k| (Just(k), select(entity_vocab(k)))),
        0..6,
    );
    (ids, texts, verdict, times, entities).prop_map(
        |(
            (id, provider_alert_id, incident_id),
            (
                title,
                category,
                service_source,
                detection_source,
                investigation_state,
                assigned_to,
                tags,
            ),
            (severity, status, classification, det_index),
            (t1, t2, t3, t4),
            raw_entities,
        )| {
            let allowed = allowed_determinations(classification);
            let determination = allowed
                .get(det_index.index(allowed.len().max(1)))
                .copied()
                .unwrap_or(Determination::Unknown);
            let keys: BTreeSet<EntityKey> = raw_entities
                .iter()
                .filter_map(|(kind, raw)| {
                    normalise(*kind, raw).map(|value| EntityKey { kind: *kind, value })
                })
                .collect();
            let impacted_assets = raw_entities
                .iter()
                .filter(|(kind, _)| kind.is_asset())
                .map(|(kind, raw)| ImpactedAsset {
                    kind: *kind,
                    name: (*raw).to_string(),
                })
                .collect();
            let last_update = t3.max(t4);
            let record = AlertRecord {
                id,
                provider_alert_id,
                incident_id,
                title,
                category,
                severity,
                status,
                classification,
                determination,
                service_source,
                detection_source,
                investigation_state,
                assigned_to,
                tags: tags.into_iter().collect(),
                first_activity: t1.min(t2),
                last_activity: t1.max(t2),
                created: t3.min(t4),
                last_update,
                resolved: (status == AlertStatus::Resolved).then_some(last_update),
                version: 1,
                impacted_assets,
            };
            (record, keys.into_iter().collect())
        },
    )
}

/// Up to `max` alerts with distinct ids `arb-0`, `arb-1`, … (the first few are the ids
/// [`arb_condition`] asks for), for loading into a store.
pub fn arb_alerts(max: usize) -> impl Strategy<Value = Vec<(AlertRecord, Vec<EntityKey>)>> {
    proptest::collection::vec(arb_alert(), 0..=max).prop_map(|mut alerts| {
        for (i, (record, _)) in alerts.iter_mut().enumerate() {
            record.id = format!("arb-{i}");
        }
        alerts
    })
}
