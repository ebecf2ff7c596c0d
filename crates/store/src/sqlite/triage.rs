//! SQL for triage on SQLite: single and bulk manage-alert changes, comments, tag renames.
//! Each function runs inside the writer's transaction; the domain decides what a change
//! does ([`AlertChange::apply`]), this module only persists it with its history.
use super::alerts::{append_history, insert_tags, row_record, where_clause, RECORD_COLS};
use crate::access::{BulkFailure, BulkSummary, BulkTarget, Updated, MAX_BULK};
use crate::error::StoreError;
use rampart_domain::access::Grant;
use rampart_domain::alert::AlertRecord;
use rampart_domain::history::{Actor, HistoryEvent, TargetKind};
use rampart_domain::timestamp::Timestamp;
use rampart_domain::triage::{AlertChange, FieldChange};
use rusqlite::{params, Connection, OptionalExtension};

/// The alert record with this id.
pub(crate) fn record_by_id(conn: &Connection, id: &str) -> Result<Option<AlertRecord>, StoreError> {
    Ok(by_id(conn, id)?.map(|(_, r)| r))
}

/// The rowid and record of the alert with this id (on the writer connection).
pub(crate) fn by_id(conn: &Connection, id: &str) -> Result<Option<(i64, AlertRecord)>, StoreError> {
    static BY_ID: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let by_id = super::names::on_writer(super::names::Name::Id);
        format!("SELECT {RECORD_COLS} FROM alerts WHERE {by_id}")
    });
    Ok(conn
        .prepare_cached(&BY_ID)?
        .query_row([id], row_record)
        .optional()?)
}

/// The canonical username of an enabled user, or why not: assigning work to someone who
/// cannot log in would hide it.
pub(crate) fn assignee(conn: &Connection, name: &str) -> Result<String, StoreError> {
    let row: Option<(String, i64)> = conn
        .prepare_cached("SELECT username, disabled FROM users WHERE username = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        Some((u, 0)) => Ok(u),
        Some(_) => Err(StoreError::Invalid {
            field: "assignedTo",
            msg: format!("user {name:?} is disabled"),
        }),
        None => Err(StoreError::Invalid {
            field: "assignedTo",
            msg: format!("no user {name:?}"),
        }),
    }
}

/// Resolves the assignee once for a whole request.
fn resolve_change(conn: &Connection, change: &AlertChange) -> Result<AlertChange, StoreError> {
    let mut change = change.clone();
    if let Some(Some(who)) = &change.assigned_to {
        change.assigned_to = Some(Some(assignee(conn, who)?));
    }
    Ok(change)
}

fn field_event(id: &str, actor: &Actor, now: Timestamp, c: FieldChange) -> HistoryEvent {
    HistoryEvent {
        seq: 0,
        target_id: id.into(),
        at: now,
        actor: actor.clone(),
        action: "changed".into(),
        field: Some(c.field.into()),
        old_value: c.old,
        new_value: c.new,
        text: None,
    }
}

/// A comment event.
pub(crate) fn comment_event(id: &str, actor: &Actor, now: Timestamp, text: &str) -> HistoryEvent {
    HistoryEvent {
        seq: 0,
        target_id: id.into(),
        at: now,
        actor: actor.clone(),
        action: "comment".into(),
        field: None,
        old_value: None,
        new_value: None,
        text: Some(text.into()),
    }
}

/// Incidents whose roll-up a set of alert changes made stale; rolled up once at the end, so
/// resolving many alerts of one incident rescans it once, not once per alert.
pub(crate) type Stale = std::collections::BTreeSet<String>;

/// Rolls up every incident in `stale`.
pub(crate) fn roll_up(conn: &Connection, stale: &Stale, now: Timestamp) -> Result<(), StoreError> {
    for inc in stale {
        super::incidents::rollup(conn, inc, now)?;
    }
    Ok(())
}

/// Writes a changed record's triage columns, its tag rows and one history line per field.
fn persist(
    conn: &Connection,
    rid: i64,
    rec: &AlertRecord,
    changes: Vec<FieldChange>,
    actor: &Actor,
    now: Timestamp,
    stale: &mut Stale,
) -> Result<(), StoreError> {
    let tags_changed = changes.iter().any(|c| c.field == "tags");
    conn.prepare_cached(
        "UPDATE alerts SET status = ?2, classification = ?3, determination = ?4, assigned_to = ?5,
            resolved = ?6, tags = ?7, last_update = ?8, version = ?9 WHERE rid = ?1",
    )?
    .execute(params![
        rid,
        rec.status.as_str(),
        rec.classification.as_str(),
        rec.determination.as_str(),
        rec.assigned_to,
        rec.resolved.map(Timestamp::micros),
        serde_json::to_string(&rec.tags).unwrap_or_else(|_| "[]".into()),
        rec.last_update.micros(),
        rec.version,
    ])?;
    if tags_changed {
        conn.prepare_cached("DELETE FROM alert_tags WHERE rid = ?1")?
            .execute([rid])?;
        insert_tags(conn, rid, &rec.tags)?;
    }
    // A resolved alert no longer counts towards its incident's severity.
    if let (Some(inc), true) = (
        &rec.incident_id,
        changes.iter().any(|c| c.field == "status"),
    ) {
        stale.insert(inc.clone());
    }
    for c in changes {
        append_history(conn, &field_event(&rec.id, actor, now, c))?;
    }
    Ok(())
}

/// The 403 for a write to an alert the grant does not reach.
pub(crate) fn out_of_scope(grant: &Grant, rec: &AlertRecord) -> StoreError {
    beyond(
        grant,
        &format!("alert {} is from it", rec.id),
        &rec.service_source,
    )
}

/// The 403 for a write whose grant does not reach `source`, naming the permission and the
/// source as the HTTP edge's 403s do; `what` says what ties the request to that source.
pub(crate) fn beyond(grant: &Grant, what: &str, source: &str) -> StoreError {
    StoreError::Forbidden(format!(
        "permission {} required for service source {source}: {what}",
        grant.permission().as_str()
    ))
}

pub(crate) fn update_alert(
    conn: &Connection,
    grant: &Grant,
    id: &str,
    change: &AlertChange,
    expected: i64,
    now: Timestamp,
) -> Result<Updated, StoreError> {
    let mut stale = Stale::new();
    let u = change_alert(conn, grant, id, change, expected, now, &mut stale)?;
    roll_up(conn, &stale, now)?;
    Ok(u)
}

/// [`update_alert`] without the incident roll-up, which the caller owes for `stale`.
pub(crate) fn change_alert(
    conn: &Connection,
    grant: &Grant,
    id: &str,
    change: &AlertChange,
    expected: i64,
    now: Timestamp,
    stale: &mut Stale,
) -> Result<Updated, StoreError> {
    let (rid, mut rec) = by_id(conn, id)?.ok_or(StoreError::NotFound)?;
    if !grant.covers(&rec.service_source) {
        return Err(out_of_scope(grant, &rec));
    }
    if rec.version != expected {
        return Err(StoreError::Stale {
            current: rec.version,
        });
    }
    let change = resolve_change(conn, change)?;
    let changes = change.apply(&mut rec, now)?;
    if changes.is_empty() {
        return Ok(Updated {
            record: rec,
            changed: false,
        });
    }
    rec.version += 1;
    persist(conn, rid, &rec, changes, &grant.actor(), now, stale)?;
    Ok(Updated {
        record: rec,
        changed: true,
    })
}

pub(crate) fn add_comment(
    conn: &Connection,
    grant: &Grant,
    id: &str,
    text: &str,
    now: Timestamp,
) -> Result<HistoryEvent, StoreError> {
    let (_, rec) = by_id(conn, id)?.ok_or(StoreError::NotFound)?;
    if !grant.covers(&rec.service_source) {
        return Err(out_of_scope(grant, &rec));
    }
    record_comment(conn, TargetKind::Alert, id, grant, text, now)
}

/// Appends a comment by the grant's actor to the history of target `id` of `kind`, and
/// returns it with its sequence number.
pub(crate) fn record_comment(
    conn: &Connection,
    kind: TargetKind,
    id: &str,
    grant: &Grant,
    text: &str,
    now: Timestamp,
) -> Result<HistoryEvent, StoreError> {
    let e = comment_event(id, &grant.actor(), now, text);
    super::alerts::append_event(conn, kind, &e)?;
    Ok(HistoryEvent {
        seq: conn.last_insert_rowid(),
        ..e
    })
}

pub(crate) fn bulk_update(
    conn: &Connection,
    recent: &super::recent::RecentIndex,
    grant: &Grant,
    target: &BulkTarget,
    change: &AlertChange,
    comment: Option<&str>,
    now: Timestamp,
) -> Result<BulkSummary, StoreError> {
    let mut summary = BulkSummary::default();
    let rows: Vec<(i64, AlertRecord)> = match target {
        BulkTarget::Ids(ids) => {
            let mut seen = std::collections::HashSet::new();
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids.iter().filter(|id| seen.insert(id.as_str())) {
                match by_id(conn, id)? {
                    Some(r) => rows.push(r),
                    None => summary.not_found.push(id.clone()),
                }
            }
            rows
        }
        BulkTarget::Query(q) => {
            let (filter, params) = where_clause(q, recent, true);
            let sql = format!(
                "SELECT {RECORD_COLS} FROM alerts WHERE {filter} ORDER BY rid LIMIT {}",
                MAX_BULK + 1
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), row_record)?;
            let rows = rows.collect::<Result<Vec<_>, _>>()?;
            if rows.len() > MAX_BULK {
                return Err(StoreError::Invalid {
                    field: "q",
                    msg: format!(
                        "the condition matches more than {MAX_BULK} alerts; narrow it down"
                    ),
                });
            }
            rows
        }
    };
    summary.matched = rows.len() + summary.not_found.len();
    let change = resolve_change(conn, change)?;
    let actor = grant.actor();
    let mut stale = Stale::new();
    for (rid, mut rec) in rows {
        if !grant.covers(&rec.service_source) {
            summary.forbidden.push(rec.id);
            continue;
        }
        let changes = match change.apply(&mut rec, now) {
            Ok(c) => c,
            Err(e) => {
                summary.failed.push(BulkFailure {
                    id: rec.id,
                    error: e.to_string(),
                });
                continue;
            }
        };
        if changes.is_empty() {
            summary.unchanged += 1;
        } else {
            rec.version += 1;
            persist(conn, rid, &rec, changes, &actor, now, &mut stale)?;
            summary.changed += 1;
        }
        if let Some(text) = comment {
            append_history(conn, &comment_event(&rec.id, &actor, now, text))?;
        }
    }
    roll_up(conn, &stale, now)?;
    Ok(summary)
}

pub(crate) fn rename_tag(
    conn: &Connection,
    grant: &Grant,
    from: &str,
    to: &str,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let sql = format!(
        "SELECT {RECORD_COLS} FROM alerts WHERE rid IN (SELECT rid FROM alert_tags WHERE tag = ?1)"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([from], row_record)?
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((_, rec)) = rows.iter().find(|(_, r)| !grant.covers(&r.service_source)) {
        return Err(out_of_scope(grant, rec));
    }
    let actor = grant.actor();
    let mut stale = Stale::new();
    let mut n = 0;
    for (rid, mut rec) in rows {
        let mut tags: Vec<String> = rec
            .tags
            .iter()
            .map(|t| if t == from { to.to_string() } else { t.clone() })
            .collect();
        let mut seen = std::collections::HashSet::new();
        tags.retain(|t| seen.insert(t.clone()));
        // Only `from` and `to` were validated: a producer's odd tags must not block the
        // rename of the others.
        if tags == rec.tags {
            continue;
        }
        let changes = vec![FieldChange {
            field: "tags",
            old: Some(rec.tags.join(", ")),
            new: Some(tags.join(", ")),
        }];
        rec.tags = tags;
        rec.last_update = now;
        if !changes.is_empty() {
            rec.version += 1;
            persist(conn, rid, &rec, changes, &actor, now, &mut stale)?;
            n += 1;
        }
    }
    roll_up(conn, &stale, now)?;
    Ok(n)
}
