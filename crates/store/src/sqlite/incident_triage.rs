//! Changing incidents on SQLite: triage (with resolution cascading to alerts), manual merge,
//! link and unlink, and the full re-correlation.
use super::alerts::append_history;
use super::correlation::{self, Engine, Reuse};
use super::incidents::incident_event;
use super::incidents::{self, rollup};
use super::keys::StoredKeys;
use super::triage::{beyond, by_id, out_of_scope, record_by_id};
use super::Lent;
use crate::error::StoreError;
use crate::incidents::CorrelateSummary;
use rampart_domain::access::Grant;
use rampart_domain::correlate::{AlertIn, CorrelationConfig, Openness};
use rampart_domain::history::{HistoryEvent, TargetKind};
use rampart_domain::incident::{IncidentChange, IncidentRecord, IncidentStatus};
use rampart_domain::timestamp::Timestamp;
use rampart_domain::triage::AlertChange;
use rampart_domain::vocab::AlertStatus;
use rampart_domain::DomainError;
use rusqlite::{params, Connection, OptionalExtension};

fn changed(
    target: &str,
    grant: &Grant,
    now: Timestamp,
    field: &str,
    old: Option<String>,
    new: Option<String>,
) -> HistoryEvent {
    HistoryEvent {
        seq: 0,
        target_id: target.into(),
        at: now,
        actor: grant.actor(),
        action: "changed".into(),
        field: Some(field.into()),
        old_value: old,
        new_value: new,
        text: None,
    }
}

/// The incident, checked to exist and be reachable by the grant (every source of its
/// alerts).
fn reachable(
    conn: &Connection,
    grant: &Grant,
    id: &str,
    field: &'static str,
) -> Result<IncidentRecord, StoreError> {
    let rec = incidents::record(conn, id)?.ok_or_else(|| StoreError::Invalid {
        field,
        msg: format!("no incident {id:?}"),
    })?;
    within(grant, &rec)?;
    Ok(rec)
}

/// Incident `id`, which must exist (404) and be within the grant.
fn managed(conn: &Connection, grant: &Grant, id: &str) -> Result<IncidentRecord, StoreError> {
    let rec = incidents::record(conn, id)?.ok_or(StoreError::NotFound)?;
    within(grant, &rec)?;
    Ok(rec)
}

/// A 403 unless the grant reaches every source of the incident's alerts.
fn within(grant: &Grant, rec: &IncidentRecord) -> Result<(), StoreError> {
    match rec.service_sources.iter().find(|s| !grant.covers(s)) {
        Some(s) => Err(beyond(
            grant,
            &format!("incident {} holds alerts from it", rec.id),
            s,
        )),
        None => Ok(()),
    }
}

fn not_redirected(rec: &IncidentRecord, field: &'static str) -> Result<(), StoreError> {
    if rec.status == IncidentStatus::Redirected {
        return Err(StoreError::Invalid {
            field,
            msg: format!(
                "incident {} was merged into {}; use that one",
                rec.id,
                rec.redirect_incident_id
                    .as_deref()
                    .unwrap_or("another incident")
            ),
        });
    }
    Ok(())
}

pub(crate) fn update(
    conn: &Connection,
    engine: Option<&mut Lent<'_>>,
    grant: &Grant,
    id: &str,
    change: &IncidentChange,
    expected: i64,
    now: Timestamp,
) -> Result<IncidentRecord, StoreError> {
    let mut rec = managed(conn, grant, id)?;
    if rec.version != expected {
        return Err(StoreError::Stale {
            current: rec.version,
        });
    }
    let mut change = change.clone();
    if let Some(Some(who)) = &change.assigned_to {
        change.assigned_to = Some(Some(super::triage::assignee(conn, who)?));
    }
    let changes = change.apply(&mut rec, now)?;
    if changes.is_empty() {
        return Ok(rec);
    }
    rec.version += 1;
    conn.execute(
        "UPDATE incidents SET status = ?2, classification = ?3, determination = ?4, assigned_to = ?5, tags = ?6,
            resolved = ?7, last_update = ?8, version = ?9 WHERE id = ?1",
        params![
            id,
            rec.status.as_str(),
            rec.classification.as_str(),
            rec.determination.as_str(),
            rec.assigned_to,
            serde_json::to_string(&rec.tags).unwrap_or_else(|_| "[]".into()),
            rec.resolved.map(Timestamp::micros),
            now.micros(),
            rec.version
        ],
    )?;
    for c in changes {
        incident_event(conn, &changed(id, grant, now, c.field, c.old, c.new))?;
    }
    // Resolving the incident resolves its open alerts, with the incident's verdict.
    if change.status == Some(IncidentStatus::Resolved) {
        let alert_change = AlertChange {
            status: Some(AlertStatus::Resolved),
            classification: change.classification,
            determination: change.determination,
            ..Default::default()
        };
        let ids: Vec<String> = conn
            .prepare("SELECT id FROM alerts WHERE incident_id = ?1 AND status != 'resolved'")?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        // Every alert is in this incident: one roll-up at the end serves them all.
        let mut stale = super::triage::Stale::new();
        for a in ids {
            let expected = record_by_id(conn, &a)?.ok_or(StoreError::NotFound)?.version;
            super::triage::change_alert(conn, grant, &a, &alert_change, expected, now, &mut stale)
                .map_err(|e| match e {
                    // Say which alert the incident's verdict does not fit.
                    StoreError::Domain(d) => StoreError::Domain(DomainError::invalid(
                        match &d {
                            DomainError::Invalid { field, .. } => field.clone(),
                            DomainError::Query { .. } => "q".into(),
                            DomainError::Pairing { .. } => "determination".into(),
                        },
                        format!("alert {a} of this incident: {d}"),
                    )),
                    other => other,
                })?;
        }
        rollup(conn, id, now)?;
    }
    if let Some(e) = engine {
        let open = if rec.status == IncidentStatus::Resolved {
            Openness::Resolved
        } else {
            Openness::Open
        };
        e.get().corr.set_openness(id, open);
    }
    incidents::record(conn, id)?.ok_or(StoreError::NotFound)
}

/// Adds a comment to incident `id`'s history: it must exist, be within the grant, and not
/// have been merged (its history is shown with the survivor's, so a comment there would
/// land under an incident nobody manages any more).
pub(crate) fn comment(
    conn: &Connection,
    grant: &Grant,
    id: &str,
    text: &str,
    now: Timestamp,
) -> Result<HistoryEvent, StoreError> {
    let rec = managed(conn, grant, id)?;
    not_redirected(&rec, "id")?;
    super::triage::record_comment(conn, TargetKind::Incident, id, grant, text, now)
}

pub(crate) fn merge(
    conn: &Connection,
    engine: Option<&mut Lent<'_>>,
    grant: &Grant,
    from: &str,
    into: &str,
    now: Timestamp,
) -> Result<IncidentRecord, StoreError> {
    if from == into {
        return Err(StoreError::Invalid {
            field: "into",
            msg: "an incident cannot be merged into itself".into(),
        });
    }
    let f = incidents::record(conn, from)?.ok_or(StoreError::NotFound)?;
    not_redirected(&f, "id")?;
    within(grant, &f)?;
    let t = reachable(conn, grant, into, "into")?;
    not_redirected(&t, "into")?;
    // A merge by hand is an analyst's decision: its alerts become manual links, so a
    // re-correlation does not take it apart. Each moved alert says so in its own history,
    // as a link by hand does, and gets a new version.
    let moved: Vec<String> = conn
        .prepare("SELECT id FROM alerts WHERE incident_id = ?1")?
        .query_map([from], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    conn.execute(
        "UPDATE alerts SET link_manual = 1, version = version + 1, last_update = ?2 WHERE incident_id = ?1",
        params![from, now.micros()],
    )?;
    for alert in &moved {
        append_history(
            conn,
            &HistoryEvent {
                action: "linked".into(),
                text: Some(format!("incident {from} was merged into {into}")),
                ..changed(
                    alert,
                    grant,
                    now,
                    "incidentId",
                    Some(from.to_string()),
                    Some(into.to_string()),
                )
            },
        )?;
    }
    incidents::merge(conn, from, into, &grant.actor(), None, now)?;
    rollup(conn, into, now)?;
    if let Some(e) = engine {
        e.get().corr.redirect(from, into);
    }
    incidents::record(conn, into)?.ok_or(StoreError::NotFound)
}

fn move_alert(
    conn: &Connection,
    engine: Option<&mut Lent<'_>>,
    grant: &Grant,
    alert: &str,
    to: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (rid, rec) = by_id(conn, alert)?.ok_or(StoreError::NotFound)?;
    if !grant.covers(&rec.service_source) {
        return Err(out_of_scope(grant, &rec));
    }
    conn.execute(
        "UPDATE alerts SET incident_id = ?2, link_manual = 1, link_reasons = NULL, version = version + 1, last_update = ?3 WHERE rid = ?1",
        params![rid, to, now.micros()],
    )?;
    append_history(
        conn,
        &HistoryEvent {
            action: "linked".into(),
            ..changed(
                alert,
                grant,
                now,
                "incidentId",
                rec.incident_id.clone(),
                Some(to.into()),
            )
        },
    )?;
    incident_event(
        conn,
        &HistoryEvent {
            action: "alertLinked".into(),
            ..changed(to, grant, now, "alerts", None, Some(alert.into()))
        },
    )?;
    if let Some(old) = &rec.incident_id {
        incident_event(
            conn,
            &HistoryEvent {
                action: "alertUnlinked".into(),
                ..changed(old, grant, now, "alerts", Some(alert.into()), None)
            },
        )?;
        rollup(conn, old, now)?;
    }
    rollup(conn, to, now)?;
    if let Some(e) = engine {
        e.get().corr.pin(alert, to);
    }
    Ok(())
}

pub(crate) fn link(
    conn: &Connection,
    engine: Option<&mut Lent<'_>>,
    grant: &Grant,
    alert: &str,
    incident: &str,
    now: Timestamp,
) -> Result<IncidentRecord, StoreError> {
    let t = reachable(conn, grant, incident, "incidentId")?;
    not_redirected(&t, "incidentId")?;
    let (rid, rec) = by_id(conn, alert)?.ok_or(StoreError::NotFound)?;
    if rec.incident_id.as_deref() == Some(incident) {
        conn.execute("UPDATE alerts SET link_manual = 1 WHERE rid = ?1", [rid])?;
        if let Some(e) = engine {
            e.get().corr.pin(alert, incident);
        }
        return Ok(t);
    }
    move_alert(conn, engine, grant, alert, incident, now)?;
    incidents::record(conn, incident)?.ok_or(StoreError::NotFound)
}

pub(crate) fn unlink(
    conn: &Connection,
    engine: Option<&mut Lent<'_>>,
    grant: &Grant,
    alert: &str,
    now: Timestamp,
) -> Result<IncidentRecord, StoreError> {
    let rec = record_by_id(conn, alert)?.ok_or(StoreError::NotFound)?;
    // Already alone in its incident (unlinked before, say): nothing to move, and a second
    // unlink made a new incident each time and left the last one empty. It is pinned where
    // it is, as an unlink would have left it.
    if let Some(own) = rec.incident_id.as_deref() {
        let alone = incidents::record(conn, own)?
            .is_some_and(|i| i.alert_count == 1 && i.status != IncidentStatus::Redirected);
        if alone {
            let own = own.to_string();
            return link(conn, engine, grant, alert, &own, now);
        }
    }
    let id = correlation::new_incident_id();
    incidents::create(conn, &id, &rec, now)?;
    if let Some(e) = engine {
        e.get().corr.restore_incident(&id, Openness::Open, None);
        move_alert(conn, Some(e), grant, alert, &id, now)?;
    } else {
        move_alert(conn, None, grant, alert, &id, now)?;
    }
    incidents::record(conn, &id)?.ok_or(StoreError::NotFound)
}

/// Reads the database file through a memory map while a rebuild runs.
///
/// The rebuild reads every alert in activity order, which on a store filled out of order is
/// a random page per row; through the page cache each is a system call and a copy. Writes
/// still go through the WAL. The map is dropped afterwards, so a serving process keeps its
/// small, predictable memory.
struct MappedReads<'c>(&'c Connection);

impl<'c> MappedReads<'c> {
    const SIZE: i64 = 1 << 40;

    fn start(conn: &'c Connection) -> Result<MappedReads<'c>, StoreError> {
        conn.pragma_update(None, "mmap_size", Self::SIZE)?;
        Ok(MappedReads(conn))
    }
}

impl Drop for MappedReads<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.pragma_update(None, "mmap_size", 0) {
            tracing::warn!(error = %e, "could not unmap the database after a rebuild");
        }
    }
}

/// The `alerts.incident_id` index, set aside while a rebuild rewrites most of it.
///
/// Each moved alert deletes one entry of that index and inserts another, both at random
/// places: once the index outgrows the page cache, every page is spilled to the WAL and read
/// back many times over (a third of the first rebuild of the 1M bench store). Building it
/// again afterwards is one sort.
struct IncidentIndex(Option<String>);

impl IncidentIndex {
    fn suspend_if_most_move(
        conn: &Connection,
        moving: usize,
        placed: usize,
    ) -> Result<IncidentIndex, StoreError> {
        if moving < 10_000 || moving * 4 < placed {
            return Ok(IncidentIndex(None));
        }
        // The definition comes from the schema itself, so it cannot drift from the
        // migrations.
        let sql: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'alerts_incident'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if sql.is_some() {
            conn.execute_batch("DROP INDEX alerts_incident")?;
        }
        Ok(IncidentIndex(sql))
    }

    fn restore(self, conn: &Connection) -> Result<(), StoreError> {
        if let Some(sql) = self.0 {
            conn.execute_batch(&sql)?;
        }
        Ok(())
    }
}

/// One alert's placement during a rebuild.
struct Placement {
    rid: i64,
    id: String,
    prev: Option<String>,
    /// As the engine holds it (shared, not copied per alert).
    to: std::sync::Arc<str>,
    reasons: Option<String>,
    reasons_changed: bool,
}

/// Re-places every automatic link of alerts active since `since`, in activity order, with a
/// fresh engine; reuses incident ids where it can; keeps manual links. Returns the warmed
/// engine for the writer to keep.
pub(crate) fn correlate_all(
    conn: &Connection,
    cfg: &CorrelationConfig,
    since: Timestamp,
    now: Timestamp,
) -> Result<(CorrelateSummary, Engine), StoreError> {
    let _mapped = MappedReads::start(conn)?;
    let mut engine = Engine::empty(cfg)?;
    let mut summary = CorrelateSummary::default();
    // Incidents an analyst resolved or merged stay as they are; their alerts keep them.
    // Resolved incidents are few; knowing them up front spares a join per alert.
    let resolved: std::collections::HashSet<String> = conn
        .prepare("SELECT id FROM incidents WHERE status = 'resolved'")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    let mut reuse = Reuse::default();
    let mut stmt = conn.prepare(
        "SELECT rid, id, last_activity, incident_id, link_manual, keys, link_reasons
         FROM alerts WHERE last_activity >= ?1 ORDER BY last_activity, rid",
    )?;
    let rows = stmt.query_map([since.micros()], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, i64>(4)? != 0,
            r.get::<_, StoredKeys>(5)?.0,
            r.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut placements: Vec<Placement> = Vec::new();
    let mut placed: u64 = 0;
    let mut splits = Vec::new();
    let mut pinned = std::collections::HashSet::new();
    for row in rows {
        let (rid, id, at, incident, manual, keys, old_reasons) = row?;
        let at = Timestamp::from_micros(at);
        let closed = incident.as_ref().is_some_and(|i| resolved.contains(i));
        if let (Some(inc), true) = (&incident, manual || closed) {
            pinned.insert(inc.clone());
            engine.corr.restore_incident(
                inc,
                if closed {
                    Openness::Resolved
                } else {
                    Openness::Open
                },
                None,
            );
            engine.corr.restore_alert(
                AlertIn {
                    id: &id,
                    at,
                    keys: &keys,
                    digests: None,
                },
                inc,
                true,
            );
            continue;
        }
        summary.alerts += 1;
        let prev = incident.clone();
        let mut mint = || reuse.mint(prev.as_deref());
        let effects = engine.corr.place(
            AlertIn {
                id: &id,
                at,
                keys: &keys,
                digests: None,
            },
            &mut mint,
        );
        placed += 1;
        // Less often than at ingest: each prune walks the whole window, and a rebuild
        // places a million alerts in a minute.
        if placed.is_multiple_of(50_000) {
            engine.corr.prune(at);
        }
        for e in effects {
            match e {
                rampart_domain::correlate::Effect::Link { incident: to, via } => {
                    let reasons = correlation::via_json(&keys, &via);
                    let changed = reasons != old_reasons;
                    placements.push(Placement {
                        rid,
                        id: id.clone(),
                        prev: incident.clone(),
                        to,
                        reasons,
                        reasons_changed: changed,
                    });
                }
                rampart_domain::correlate::Effect::Split {
                    alert,
                    incident: to,
                    ..
                } => splits.push((alert, to)),
                rampart_domain::correlate::Effect::Merge { .. }
                | rampart_domain::correlate::Effect::NewIncident { .. } => {}
            }
        }
    }
    drop(stmt);
    // Final placement per alert: later splits override the first link.
    let mut final_of: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for p in &placements {
        final_of.insert(p.id.clone(), engine.corr.survivor(&p.to).to_string());
    }
    for (id, to) in splits {
        final_of.insert(id.to_string(), to.to_string());
    }
    let previous: std::collections::HashMap<&str, &str> = placements
        .iter()
        .filter_map(|p| p.prev.as_deref().map(|prev| (p.id.as_str(), prev)))
        .collect();
    Reuse::settle(&mut final_of, &previous, &pinned);
    drop(previous);
    let moving = placements
        .iter()
        .filter(|p| p.prev.as_deref() != final_of.get(&p.id).map(String::as_str))
        .count();
    let index = IncidentIndex::suspend_if_most_move(conn, moving, placements.len())?;
    let mut touched = std::collections::HashSet::new();
    let mut ensured = std::collections::HashSet::new();
    let mut upd = conn
        .prepare_cached("UPDATE alerts SET incident_id = ?2, link_reasons = ?3 WHERE rid = ?1")?;
    let mut ensure = conn.prepare_cached(
        "INSERT OR IGNORE INTO incidents (id, display_name, severity, status, first_activity, last_activity, created, last_update)
         VALUES (?1, '', 0, 'active', 0, 0, ?2, ?2)",
    )?;
    // Only rows whose placement or reasons changed are written, and only incidents that
    // gained or lost alerts are rolled up again. Rows are written in storage order: placing
    // goes by activity, which is scattered over the table, and a page cache far smaller than
    // the table would spill and re-write each page once per alert on it.
    placements.sort_unstable_by_key(|p| p.rid);
    for Placement {
        rid,
        id,
        prev,
        reasons,
        reasons_changed,
        ..
    } in placements
    {
        let to = final_of.get(&id).cloned().unwrap_or_default();
        let moved = prev.as_deref() != Some(to.as_str());
        if moved {
            if !ensured.contains(&to) {
                ensure.execute(params![to, now.micros()])?;
                ensured.insert(to.clone());
            }
            summary.moved += 1;
            if let Some(p) = prev {
                touched.insert(p);
            }
            touched.insert(to.clone());
        }
        if moved || reasons_changed {
            upd.execute(params![rid, to, reasons])?;
        }
    }
    drop(upd);
    drop(ensure);
    index.restore(conn)?;
    incidents::rollup_many(conn, &touched, now)?;
    summary.incidents = conn
        .query_row(
            // A walk of `incidents_queue`, the incidents that hold alerts, checking each
            // one's last activity: cheap when a full rebuild leaves few (399 on the 1M bench
            // store, 5 ms), a read of every live incident after a narrow `--since` on a big
            // store. Counting the distinct incidents of the alerts active since then read
            // every alert row instead (3.4 s on that store).
            "SELECT count(*) FROM incidents WHERE alert_count > 0 AND last_activity >= ?1",
            [since.micros()],
            |r| r.get::<_, i64>(0),
        )?
        .try_into()
        .unwrap_or(0);
    Ok((summary, Engine::load(conn, cfg)?))
}
