//! SQL for alerts on SQLite: ingest (insert or merge), read, the queue, history.
use super::docs::DocCodec;
use super::keys::StoredKeys;
use super::known::KnownNames;
use super::names::{self, Name};
use super::recent::RecentIndex;
use super::writer::Failure;
use crate::cursor::{Cursor, TEXT_KEY_PREFIX};
use crate::entity_index::{value_hash, ALERT_ID, PROVIDER_KEY};
use crate::error::StoreError;
use crate::filter::{compile, Placeholder, SqlParam};
use crate::query::{AlertPage, AlertQuery, SortKey, TOTAL_CAP};
use crate::{IngestOutcome, StoredAlert};
use rampart_domain::alert::{AlertRecord, NewAlert};
use rampart_domain::correlate::Effects;
use rampart_domain::document;
use rampart_domain::entity::{EntityKey, ImpactedAsset};
use rampart_domain::history::{Actor, ActorKind, HistoryEvent, TargetKind};
use rampart_domain::timestamp::Timestamp;
use rampart_domain::vocab::{AlertStatus, Classification, Determination, Severity};
use rusqlite::types::{ToSqlOutput, Value as SqlValue};
use rusqlite::{params, Connection, OptionalExtension, Row, ToSql};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, LazyLock};

/// A bound value of a compiled filter, with the in-memory part of the entity index resolved
/// (see [`bind`]).
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Value(SqlValue),
    Rids(Rc<Vec<SqlValue>>),
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Value(v) => ToSqlOutput::Borrowed(v.into()),
            Arg::Rids(r) => ToSqlOutput::Array(Rc::clone(r)),
        })
    }
}

/// A plain bound value among a filter's.
pub(crate) fn arg(v: impl Into<SqlValue>) -> Arg {
    Arg::Value(v.into())
}

/// Binds a compiled filter's parameters: entity lookups also get the alerts of the part of
/// the entity index held in memory. `staged`: the query runs on the writer, inside the
/// transaction, so what that transaction has ingested counts too.
pub(crate) fn bind(params: Vec<SqlParam>, recent: &RecentIndex, staged: bool) -> Vec<Arg> {
    params
        .into_iter()
        .map(|p| match p {
            SqlParam::Int(i) => arg(i),
            SqlParam::Text(t) => arg(t),
            SqlParam::RecentEntities { kind, hashes } => {
                Arg::Rids(Rc::new(recent.rids(kind, &hashes, staged)))
            }
        })
        .collect()
}

/// A new alert with its document already compressed.
pub(crate) struct Prepared {
    alert: NewAlert,
    body: Vec<u8>,
    /// Columns of the alert's row and its entity-index digests, worked out beside the
    /// writer (the one serial stage) so that it only binds them.
    provider_key: Option<String>,
    tags: String,
    impacted: String,
    keys: Vec<u8>,
    /// (kind code, value hash) of each entity key.
    digests: Vec<(i64, i64)>,
    /// The digests of the alert's id and provider key, which the entity index files it
    /// under when it is inserted (see `names.rs`).
    id_hash: i64,
    key_hash: Option<i64>,
    /// The digest of the service source, which the queue index holds (migration 0011).
    source_code: i64,
}

/// Compresses documents and encodes the row's JSON columns (runs on a blocking thread, not
/// the writer).
pub(crate) fn prepare(docs: &DocCodec, batch: Vec<NewAlert>) -> Result<Vec<Prepared>, StoreError> {
    batch
        .into_iter()
        .map(|alert| {
            let r = &alert.record;
            let provider_key = provider_key(r);
            Ok(Prepared {
                body: docs.compress(&alert.document)?,
                id_hash: value_hash(&r.id),
                source_code: value_hash(&r.service_source),
                key_hash: provider_key.as_deref().map(value_hash),
                provider_key,
                tags: json(&r.tags),
                impacted: json(&r.impacted_assets),
                keys: super::keys::encode(&alert.entities),
                digests: alert
                    .entities
                    .iter()
                    .map(|e| (e.kind.code(), value_hash(&e.value)))
                    .collect(),
                alert,
            })
        })
        .collect()
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn provider_key(r: &AlertRecord) -> Option<String> {
    r.provider_alert_id
        .as_ref()
        .map(|p| format!("{}\u{1f}{p}", r.service_source))
}

/// Batches with at least this many new alerts are correlated on a thread beside the writer.
const DECIDE_ASIDE_FROM: usize = 64;

/// What a batch item is, decided before anything of the batch is written.
enum Seen {
    New,
    /// Stored before this batch: (rowid, stored alert).
    Stored(i64, Box<StoredAlert>),
    /// Shares its id or provider key with an earlier alert of this batch, so it is looked up
    /// again at its turn: it updates that alert as the batch left it.
    EarlierInBatch,
}

/// Stores a batch inside the writer's transaction.
///
/// Correlation decides each new alert's incident on a thread of its own while this one
/// classifies and inserts: the decisions need no SQL, and they reach the writer through a
/// channel in batch order. The engine is handed over before classification, and each alert
/// found new goes to it at once, so deciding starts while the writer still probes the store
/// (handed over after, the writer waited about 3 ms a batch for the first decision, 5 % of
/// a bench run). Correlation then costs the writer only the SQL of its effects.
///
/// Entity-index rows of the whole batch go last, sorted by key, to the in-memory part of the
/// index (`recent`), which writes them to the table a part at a time.
pub(crate) fn ingest(
    at: &Stores<'_>,
    mut batch: Vec<Prepared>,
    actor: &Actor,
    now: Timestamp,
    correlation: Option<(&mut super::correlation::Engine, Digests)>,
) -> Result<Vec<IngestOutcome>, Failure> {
    // Shared with the thread that decides correlation.
    let keys_of: Arc<Vec<Vec<EntityKey>>> = Arc::new(
        batch
            .iter_mut()
            .map(|p| std::mem::take(&mut p.alert.entities))
            .collect(),
    );
    let (tx, rx) = crossbeam_channel::unbounded();
    // What the engine owes from earlier batches stays with the writer while the engine
    // decides beside it; it goes back with the engine at the end.
    let mut correlation = correlation;
    let owed = correlation
        .as_mut()
        .map(|(e, _)| std::mem::take(&mut e.owed));
    let mut decider =
        correlation.map(|(e, d)| Decider::start(e, &keys_of, Arc::new(d), batch.len(), tx));
    let mut seen = Vec::with_capacity(batch.len());
    // The ids and provider keys of the batch's alerts so far, as they will be found when
    // the batch is written (a new alert's own, a stored alert's stored ones), with the
    // service source their alert has. A re-send that would change it is refused here,
    // before the batch's first change (the writer runs this job without a savepoint).
    // Names that no alert will carry (a re-send's own id when it matched a stored alert
    // by provider key, say) stay out: a later item must not wait for an alert that is
    // never written.
    let mut in_batch: HashMap<String, String> = HashMap::new();
    let Stores {
        conn, known, docs, ..
    } = *at;
    for (i, p) in batch.iter().enumerate() {
        let r = &p.alert.record;
        let key = p.provider_key.clone();
        let earlier = in_batch
            .get(&r.id)
            .or_else(|| key.as_ref().and_then(|k| in_batch.get(k)));
        let stored = if earlier.is_some() || known.surely_new(p.id_hash, p.key_hash) {
            None
        } else {
            find_existing(conn, docs, &r.id, key.as_deref())?
        };
        seen.push(if let Some(source) = earlier {
            same_source(&r.id, source, &r.service_source).map_err(Failure::Refused)?;
            Seen::EarlierInBatch
        } else if let Some((rid, old)) = stored {
            let o = &old.record;
            // An identical retry changes nothing, whatever it says.
            if old.document != p.alert.document {
                same_source(&o.id, &o.service_source, &r.service_source)
                    .map_err(Failure::Refused)?;
            }
            // A later repeat must see this re-send merged in, so it looks again at its turn.
            remember(&mut in_batch, &o.id, provider_key(o), &o.service_source);
            Seen::Stored(rid, Box::new(old))
        } else {
            if let Some(d) = decider.as_mut() {
                d.push((r.id.clone(), r.last_activity, i));
            }
            remember(&mut in_batch, &r.id, key, &r.service_source);
            Seen::New
        });
    }
    let cx = Writing {
        at: *at,
        entities: &keys_of,
        actor,
        now,
    };
    let out = ingest_classified(&cx, batch, seen, decider, &rx, owed.unwrap_or_default());
    super::discard::later(keys_of);
    Ok(out?)
}

/// Records the names a batch's alert will be found by when the batch is written, with its
/// service source (see [`ingest`]).
fn remember(
    in_batch: &mut HashMap<String, String>,
    id: &str,
    provider_key: Option<String>,
    source: &str,
) {
    in_batch.insert(id.to_string(), source.to_string());
    if let Some(k) = provider_key {
        in_batch.insert(k, source.to_string());
    }
}

/// A re-send may not move an alert to another service source: otherwise a producer
/// allowed one source could move another source's alert into its own (out of the e-mail
/// team's queue, say) by re-sending its id.
fn same_source(id: &str, stored: &str, sent: &str) -> Result<(), StoreError> {
    if stored == sent {
        return Ok(());
    }
    Err(StoreError::Invalid {
        field: "serviceSource",
        // Without naming the stored source: a producer limited to one source learns no more
        // about another source's alerts than that the id is taken.
        msg: format!("alert {id} exists under another service source; a re-send cannot change it"),
    })
}

/// Where ingest writes: the writer's connection and what is kept beside it in memory.
#[derive(Clone, Copy)]
pub(crate) struct Stores<'a> {
    pub(crate) conn: &'a Connection,
    /// The entity index's newest part (`recent.rs`).
    pub(crate) recent: &'a RecentIndex,
    /// The names stored alerts may have (`known.rs`).
    pub(crate) known: &'a KnownNames,
    pub(crate) docs: &'a DocCodec,
}

/// What every step of writing one batch needs.
struct Writing<'a> {
    at: Stores<'a>,
    /// The alerts' keys, in batch order.
    entities: &'a Arc<Vec<Vec<EntityKey>>>,
    actor: &'a Actor,
    now: Timestamp,
}

/// The digests of a batch's entity values, which `prepare` worked out for the entity
/// index, for the correlation engine: one list for the batch, with where each alert's
/// begin. Gathered beside the writer, like the rest of [`Prepared`].
pub(crate) struct Digests {
    all: Vec<i64>,
    starts: Vec<usize>,
}

impl Digests {
    pub(crate) fn of(batch: &[Prepared]) -> Digests {
        let mut all = Vec::with_capacity(batch.iter().map(|p| p.digests.len()).sum());
        let mut starts = Vec::with_capacity(batch.len() + 1);
        for p in batch {
            starts.push(all.len());
            all.extend(p.digests.iter().map(|(_, d)| *d));
        }
        starts.push(all.len());
        Digests { all, starts }
    }

    /// The digests of the `i`th alert's keys.
    fn of_alert(&self, i: usize) -> Option<&[i64]> {
        let (from, to) = (*self.starts.get(i)?, *self.starts.get(i + 1)?);
        self.all.get(from..to)
    }
}

/// A new alert for the engine: its id, activity and place in the batch.
type Work = (String, Timestamp, usize);

/// Correlation's side of one batch: where the engine is while the batch is written.
enum Decider<'e> {
    /// Handing off costs more than deciding a few alerts takes: they are decided here, once
    /// the batch is classified.
    Here {
        engine: &'e mut super::correlation::Engine,
        digests: Arc<Digests>,
        work: Vec<Work>,
        tx: crossbeam_channel::Sender<Effects>,
    },
    /// The engine is on the aside thread, fed each new alert as classification finds it,
    /// and comes back after its last decision. If writing fails first, the decisions'
    /// receiver goes, the thread stops, and the engine is dropped there: a failed job
    /// forgets the engine anyway (`with_engine`).
    Aside {
        engine: &'e mut super::correlation::Engine,
        work: crossbeam_channel::Sender<Work>,
        back: crossbeam_channel::Receiver<super::correlation::Engine>,
    },
}

impl<'e> Decider<'e> {
    fn start(
        engine: &'e mut super::correlation::Engine,
        keys: &Arc<Vec<Vec<EntityKey>>>,
        digests: Arc<Digests>,
        batch: usize,
        tx: crossbeam_channel::Sender<Effects>,
    ) -> Decider<'e> {
        if batch < DECIDE_ASIDE_FROM || !super::aside::available() {
            return Decider::Here {
                engine,
                digests,
                work: Vec::new(),
                tx,
            };
        }
        let mut deciding = std::mem::replace(engine, super::correlation::Engine::vacant());
        let keys = Arc::clone(keys);
        let (work, work_rx) = crossbeam_channel::unbounded::<Work>();
        let (back_tx, back) = crossbeam_channel::bounded(1);
        super::aside::run(move || {
            decide_all(&mut deciding, &keys, &digests, work_rx, &tx);
            drop(tx);
            let _ = back_tx.send(deciding);
        });
        Decider::Aside { engine, work, back }
    }

    fn push(&mut self, w: Work) {
        match self {
            Decider::Here { work, .. } => work.push(w),
            // The thread stops early only when the writer has failed.
            Decider::Aside { work, .. } => {
                let _ = work.send(w);
            }
        }
    }
}

/// [`ingest`] once each alert is classified.
fn ingest_classified(
    cx: &Writing<'_>,
    batch: Vec<Prepared>,
    seen: Vec<Seen>,
    decider: Option<Decider<'_>>,
    rx: &crossbeam_channel::Receiver<Effects>,
    mut owed: super::incidents::Rollups,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let (conn, entities, now) = (cx.at.conn, cx.entities, cx.now);
    let Some(decider) = decider else {
        // Without correlation only re-sends owe roll-ups, and they are written at once.
        let (out, _) = write_batch(cx, batch, seen, None, &mut owed)?;
        owed.flush(conn, now)?;
        return Ok(out);
    };
    let rollups = &mut owed;
    let (engine, (out, resent)) = match decider {
        Decider::Here {
            engine,
            digests,
            work,
            tx,
        } => {
            decide_all(engine, entities, &digests, work, &tx);
            drop(tx);
            (engine, write_batch(cx, batch, seen, Some(rx), rollups)?)
        }
        Decider::Aside { engine, work, back } => {
            // Every new alert is queued: the thread can finish.
            drop(work);
            let written = write_batch(cx, batch, seen, Some(rx), rollups)?;
            *engine = back.recv().map_err(|_| {
                StoreError::Unavailable("correlation stopped before the batch ended".into())
            })?;
            (engine, written)
        }
    };
    // Re-sends are decided after the batch's new alerts, once the engine is back.
    let mut mint = super::correlation::new_incident_id;
    for r in resent {
        let effects = engine.resend(&r.id, r.at, &r.keys, &mut mint);
        super::correlation::apply_resend(conn, &r.id, &r.keys, effects, now, rollups)?;
    }
    owed.end_batch(conn, now)?;
    engine.owed = owed;
    Ok(out)
}

/// Decides each new alert's incident, in batch order, sending the effects to the writer.
fn decide_all(
    engine: &mut super::correlation::Engine,
    entities: &[Vec<EntityKey>],
    digests: &Digests,
    work: impl IntoIterator<Item = Work>,
    tx: &crossbeam_channel::Sender<Effects>,
) {
    let mut mint = super::correlation::new_incident_id;
    for (id, at, i) in work {
        let keys = entities.get(i).map_or(&[][..], Vec::as_slice);
        let decided = engine.decide(&id, at, keys, digests.of_alert(i), &mut mint);
        // The writer stops receiving if it fails; then so does this.
        if tx.send(decided).is_err() {
            return;
        }
    }
    // The writer has every decision now and needs the engine back only after its inserts.
    engine.prune_if_due();
}

/// A re-send the correlation engine has to see: the alert, its activity and every key it
/// names now.
struct Resent {
    id: String,
    at: Timestamp,
    keys: Vec<EntityKey>,
}

/// Writes a classified batch; `decisions` delivers correlation's effects for each new alert,
/// in order. Returns the outcomes and the re-sends that changed an alert, for correlation.
/// The roll-ups owed stay in `rollups` for the caller to flush.
fn write_batch(
    cx: &Writing<'_>,
    batch: Vec<Prepared>,
    seen: Vec<Seen>,
    decisions: Option<&crossbeam_channel::Receiver<Effects>>,
    rollups: &mut super::incidents::Rollups,
) -> Result<(Vec<IngestOutcome>, Vec<Resent>), StoreError> {
    let (conn, entities, now) = (cx.at.conn, cx.entities, cx.now);
    let mut out = Vec::with_capacity(batch.len());
    let mut resent = Vec::new();
    let mut spent = Vec::with_capacity(batch.len());
    let mut pending: Vec<(i64, i64, i64, i64)> =
        Vec::with_capacity(batch.iter().map(|p| p.digests.len() + 2).sum());
    let mut newest = None;
    for ((mut p, seen), entities) in batch.into_iter().zip(seen).zip(entities.iter()) {
        let digests = std::mem::take(&mut p.digests);
        let rid = match seen {
            Seen::New => {
                out.push(IngestOutcome::Created);
                let mut reasons = None;
                if let Some(rx) = decisions {
                    let effects = rx.recv().map_err(|_| {
                        StoreError::Unavailable("correlation stopped before the batch".into())
                    })?;
                    let (incident, via) =
                        super::correlation::apply(conn, &p.alert.record, effects, now, rollups)?;
                    p.alert.record.incident_id = Some(incident.to_string());
                    reasons = super::correlation::via_json(entities, &via);
                }
                let rid = insert(conn, &p, reasons.as_deref())?;
                cx.at.known.stage(p.id_hash, p.key_hash);
                let part = cx.at.recent.part_of(rid);
                pending.push((part, ALERT_ID, p.id_hash, rid));
                cx.at.recent.stage_name(ALERT_ID, p.id_hash, rid);
                if let Some(h) = p.key_hash {
                    pending.push((part, PROVIDER_KEY, h, rid));
                    cx.at.recent.stage_name(PROVIDER_KEY, h, rid);
                }
                newest = Some(rid);
                spent.push(p);
                rid
            }
            seen => {
                out.push(IngestOutcome::Updated);
                let (rid, old) = match seen {
                    Seen::Stored(rid, old) => (rid, *old),
                    // A repeat within the batch: read it as the batch has left it.
                    _ => find_existing(
                        conn,
                        cx.at.docs,
                        &p.alert.record.id,
                        p.provider_key.as_deref(),
                    )?
                    .ok_or_else(|| {
                        StoreError::Unavailable("an alert of this batch went missing".into())
                    })?,
                };
                let incident = old.record.incident_id.clone();
                if let Some(r) = merge_into(cx, rid, old, p, entities)? {
                    rollups.resent(incident.as_deref());
                    if incident.is_some() && decisions.is_some() {
                        resent.push(r);
                    }
                }
                rid
            }
        };
        let part = cx.at.recent.part_of(rid);
        pending.extend(
            digests
                .into_iter()
                .map(|(kind, hash)| (part, kind, hash, rid)),
        );
    }
    pending.sort_unstable();
    pending.dedup();
    cx.at.recent.add(conn, &pending, newest)?;
    super::discard::later(spent);
    Ok((out, resent))
}

/// The stored alert with this id, or else with this provider key (see [`provider_key`]).
fn find_existing(
    conn: &Connection,
    docs: &DocCodec,
    id: &str,
    provider_key: Option<&str>,
) -> Result<Option<(i64, StoredAlert)>, StoreError> {
    let mut found = conn
        .prepare_cached(&BY_ID_ON_WRITER)?
        .query_row([id], row_with_body)
        .optional()?;
    if found.is_none() {
        if let Some(key) = provider_key {
            found = conn
                .prepare_cached(&BY_KEY_ON_WRITER)?
                .query_row([&key], row_with_body)
                .optional()?;
        }
    }
    found
        .map(|(rid, record, body, keys)| Ok((rid, stored(conn, docs, record, &body, keys)?)))
        .transpose()
}

fn insert(conn: &Connection, p: &Prepared, link_reasons: Option<&str>) -> Result<i64, StoreError> {
    let r = &p.alert.record;
    conn.prepare_cached(
        "INSERT INTO alerts (id, provider_key, provider_alert_id, incident_id, title, category, severity, status,
            classification, determination, service_source, detection_source, investigation_state, assigned_to,
            first_activity, last_activity, created, last_update, resolved, version, tags, impacted, keys,
            link_reasons, source_code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
    )?
    .execute(params![
        r.id,
        p.provider_key,
        r.provider_alert_id,
        r.incident_id,
        r.title,
        r.category,
        r.severity.rank(),
        r.status.as_str(),
        r.classification.as_str(),
        r.determination.as_str(),
        r.service_source,
        r.detection_source,
        r.investigation_state,
        r.assigned_to,
        r.first_activity.micros(),
        r.last_activity.micros(),
        r.created.micros(),
        r.last_update.micros(),
        r.resolved.map(Timestamp::micros),
        r.version,
        p.tags,
        p.impacted,
        p.keys,
        link_reasons,
        p.source_code,
    ])?;
    let rid = conn.last_insert_rowid();
    conn.prepare_cached("INSERT INTO alert_docs (rid, body) VALUES (?1, ?2)")?
        .execute(params![rid, p.body])?;
    insert_tags(conn, rid, &r.tags)?;
    Ok(rid)
}

pub(crate) fn insert_tags(conn: &Connection, rid: i64, tags: &[String]) -> Result<(), StoreError> {
    let mut stmt =
        conn.prepare_cached("INSERT OR IGNORE INTO alert_tags (rid, tag) VALUES (?1, ?2)")?;
    for t in tags {
        stmt.execute(params![rid, t])?;
    }
    Ok(())
}

/// A re-send: producer fields from the new document, triage fields (status, assignment,
/// classification, tags, incident) stay as analysts left them, the activity window widens,
/// evidence and entities are unions. Returns what correlation needs to see of the alert now,
/// or `None` if the re-send changed nothing.
fn merge_into(
    cx: &Writing<'_>,
    rid: i64,
    old: StoredAlert,
    p: Prepared,
    keys: &[EntityKey],
) -> Result<Option<Resent>, StoreError> {
    let (conn, actor, now) = (cx.at.conn, cx.actor, cx.now);
    if old.document == p.alert.document {
        // The exact same document again (a producer retry): nothing changed, so no new
        // version that would make an analyst's pending update stale.
        return Ok(None);
    }
    let o = old.record;
    let n = p.alert.record;
    // Checked when the batch was classified; here as a guard.
    same_source(&o.id, &o.service_source, &n.service_source)?;
    let doc = document::merge(&old.document, &p.alert.document);
    let body = cx.at.docs.compress(&doc)?;
    let mut impacted = o.impacted_assets.clone();
    for a in n.impacted_assets {
        if !impacted.contains(&a) {
            impacted.push(a);
        }
    }
    let first = o.first_activity.min(n.first_activity);
    let last = o.last_activity.max(n.last_activity);
    let all_keys = merged_keys(&old.entities, keys);
    conn.prepare_cached(
        "UPDATE alerts SET title = ?2, category = ?3, severity = ?4, service_source = ?5, detection_source = ?6,
            investigation_state = ?7, first_activity = ?8, last_activity = ?9, last_update = ?10,
            version = version + 1, impacted = ?11,
            keys = CASE WHEN keys IS NULL THEN NULL ELSE ?12 END, source_code = ?13 WHERE rid = ?1",
    )?
    .execute(params![
        rid,
        n.title,
        n.category,
        n.severity.rank(),
        n.service_source,
        n.detection_source,
        n.investigation_state,
        first.micros(),
        last.micros(),
        now.micros(),
        json(&impacted),
        super::keys::encode(&all_keys),
        p.source_code,
    ])?;
    conn.prepare_cached("UPDATE alert_docs SET body = ?2 WHERE rid = ?1")?
        .execute(params![rid, body])?;
    let (field, old_v, new_v) = if last != o.last_activity {
        (
            "lastActivityDateTime",
            Some(o.last_activity.to_rfc3339()),
            Some(last.to_rfc3339()),
        )
    } else {
        ("evidence", None, None)
    };
    append_history(
        conn,
        &HistoryEvent {
            seq: 0,
            target_id: o.id.clone(),
            at: now,
            actor: actor.clone(),
            action: "resent".into(),
            field: Some(field.into()),
            old_value: old_v,
            new_value: new_v,
            text: None,
        },
    )?;
    Ok(Some(Resent {
        id: o.id,
        at: last,
        keys: all_keys,
    }))
}

fn merged_keys(old: &[EntityKey], new: &[EntityKey]) -> Vec<EntityKey> {
    let mut all: Vec<EntityKey> = old.iter().chain(new).cloned().collect();
    all.sort();
    all.dedup();
    all
}

/// A history event with no field change.
pub(crate) fn event(target: &str, actor: &Actor, now: Timestamp, action: &str) -> HistoryEvent {
    HistoryEvent {
        seq: 0,
        target_id: target.into(),
        at: now,
        actor: actor.clone(),
        action: action.into(),
        field: None,
        old_value: None,
        new_value: None,
        text: None,
    }
}

/// Appends one event to an alert's history.
pub(crate) fn append_history(conn: &Connection, e: &HistoryEvent) -> Result<(), StoreError> {
    append_event(conn, TargetKind::Alert, e)
}

/// Appends one audit event about a target of `kind`.
pub(crate) fn append_event(
    conn: &Connection,
    kind: TargetKind,
    e: &HistoryEvent,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO history (target_id, at, actor_kind, actor_name, action, field, old_value, new_value, text, kind)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        e.target_id,
        e.at.micros(),
        e.actor.kind.as_str(),
        e.actor.name,
        e.action,
        e.field,
        e.old_value,
        e.new_value,
        e.text,
        kind.as_str(),
    ])?;
    Ok(())
}

pub(crate) const RECORD_COLS: &str = "rid, id, provider_alert_id, incident_id, title, category, severity, status, \
    classification, determination, service_source, detection_source, investigation_state, assigned_to, \
    first_activity, last_activity, created, last_update, resolved, version, tags, impacted";

/// Reads a row selected with [`RECORD_COLS`] (rid first).
pub(crate) fn row_record(row: &Row<'_>) -> rusqlite::Result<(i64, AlertRecord)> {
    let tags: String = row.get(20)?;
    let impacted: String = row.get(21)?;
    let status: String = row.get(7)?;
    let class: String = row.get(8)?;
    let det: String = row.get(9)?;
    let record = AlertRecord {
        id: row.get(1)?,
        provider_alert_id: row.get(2)?,
        incident_id: row.get(3)?,
        title: row.get(4)?,
        category: row.get(5)?,
        severity: Severity::from_rank(row.get(6)?),
        status: AlertStatus::parse(&status).unwrap_or(AlertStatus::New),
        classification: Classification::parse(&class).unwrap_or(Classification::Unknown),
        determination: Determination::parse(&det).unwrap_or(Determination::Unknown),
        service_source: row.get(10)?,
        detection_source: row.get(11)?,
        investigation_state: row.get(12)?,
        assigned_to: row.get(13)?,
        first_activity: Timestamp::from_micros(row.get(14)?),
        last_activity: Timestamp::from_micros(row.get(15)?),
        created: Timestamp::from_micros(row.get(16)?),
        last_update: Timestamp::from_micros(row.get(17)?),
        resolved: row.get::<_, Option<i64>>(18)?.map(Timestamp::from_micros),
        version: row.get(19)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        impacted_assets: serde_json::from_str::<Vec<ImpactedAsset>>(&impacted).unwrap_or_default(),
    };
    Ok((row.get(0)?, record))
}

type RowWithBody = (i64, AlertRecord, Vec<u8>, StoredKeys);

/// The select that [`row_with_body`] reads: the record, the document (kept in `alert_docs`
/// since migration 0004) and the entity keys, for the alert matching `cond`.
fn with_body(cond: &str) -> String {
    format!(
        "SELECT {RECORD_COLS}, d.body, keys FROM alerts JOIN alert_docs d USING (rid) WHERE {cond}"
    )
}

/// The lookups by name of [`find_existing`] and [`get`], built once.
static BY_ID_ON_WRITER: LazyLock<String> = LazyLock::new(|| with_body(&names::on_writer(Name::Id)));
static BY_KEY_ON_WRITER: LazyLock<String> =
    LazyLock::new(|| with_body(&names::on_writer(Name::ProviderKey)));
static BY_ID_ON_READER: LazyLock<String> = LazyLock::new(|| with_body(&names::on_reader(Name::Id)));

fn row_with_body(row: &Row<'_>) -> rusqlite::Result<RowWithBody> {
    let (rid, rec) = row_record(row)?;
    Ok((rid, rec, row.get(22)?, row.get(23)?))
}

/// One alert with its entities and document.
pub(crate) fn get(
    conn: &Connection,
    recent: &RecentIndex,
    docs: &DocCodec,
    id: &str,
) -> Result<Option<StoredAlert>, StoreError> {
    let newest = Arg::Rids(Rc::new(recent.rids(ALERT_ID, &[value_hash(id)], false)));
    conn.prepare_cached(&BY_ID_ON_READER)?
        .query_row(params![id, newest], row_with_body)
        .optional()?
        .map(|(_, record, body, keys)| stored(conn, docs, record, &body, keys))
        .transpose()
}

/// Every alert row carries its keys since migration 0006 filled in the older ones.
fn stored(
    conn: &Connection,
    docs: &DocCodec,
    record: AlertRecord,
    body: &[u8],
    keys: StoredKeys,
) -> Result<StoredAlert, StoreError> {
    Ok(StoredAlert {
        record,
        entities: keys.0,
        document: docs.decompress(conn, body)?,
    })
}

fn sort_column(sort: SortKey) -> &'static str {
    match sort {
        SortKey::LastActivity => "last_activity",
        SortKey::FirstActivity => "first_activity",
        SortKey::Severity => "severity",
        SortKey::Title => "title",
    }
}

/// WHERE clause and parameters for the query's filters (without the keyset bound).
pub(crate) fn where_clause(
    q: &AlertQuery,
    recent: &RecentIndex,
    staged: bool,
) -> (String, Vec<Arg>) {
    let f = compile(&q.condition, q.now, Placeholder::Question, 1);
    let mut sql = format!("({})", f.sql);
    let mut params = bind(f.params, recent, staged);
    if let Some(s) = q.since {
        sql.push_str(" AND last_activity >= ?");
        params.push(arg(s.micros()));
    }
    if let Some(u) = q.until {
        sql.push_str(" AND last_activity < ?");
        params.push(arg(u.micros()));
    }
    if let Some(allowed) = &q.allowed_sources {
        if allowed.is_empty() {
            sql.push_str(" AND 0");
        } else {
            // The digest first, so the queue index answers it (see `filter.rs`).
            let marks = vec!["?"; allowed.len()].join(",");
            sql.push_str(&format!(
                " AND source_code IN ({marks}) AND service_source IN ({marks})"
            ));
            params.extend(allowed.iter().map(|s| arg(value_hash(s))));
            params.extend(allowed.iter().map(|s| arg(s.clone())));
        }
    }
    if !q.denied_sources.is_empty() {
        // The digest alone, so the queue index answers it: a source sharing a denied
        // source's digest would be hidden too, never shown.
        sql.push_str(&format!(
            " AND source_code NOT IN ({})",
            vec!["?"; q.denied_sources.len()].join(",")
        ));
        params.extend(q.denied_sources.iter().map(|s| arg(value_hash(s))));
    }
    (sql, params)
}

/// A page of the queue, keyset-paginated on (sort key, rid).
pub(crate) fn list(
    conn: &Connection,
    recent: &RecentIndex,
    q: &AlertQuery,
) -> Result<AlertPage, StoreError> {
    let (filter, params) = where_clause(q, recent, false);
    let col = sort_column(q.sort);
    let dir = if q.desc { "DESC" } else { "ASC" };
    let cmp = if q.desc { "<" } else { ">" };
    let mut page_sql = format!("SELECT {RECORD_COLS}, {col} FROM alerts WHERE {filter}");
    let mut page_params = params.clone();
    if let Some(c) = &q.cursor {
        page_sql.push_str(&format!(" AND ({col}, rid) {cmp} (?, ?)"));
        let text = match (&c.t, c.p) {
            // A cut key: the row's whole key, unless the row no longer starts with it (a
            // re-send changed its title), when the page starts from the prefix.
            (Some(t), true) => Some(
                conn.prepare_cached(&format!("SELECT {col} FROM alerts WHERE rid = ?1"))?
                    .query_row([c.r], |r| r.get::<_, String>(0))
                    .optional()?
                    .filter(|whole| whole.starts_with(t.as_str()))
                    .unwrap_or_else(|| t.clone()),
            ),
            (t, _) => t.clone(),
        };
        page_params.push(arg(match (c.k, text) {
            (_, Some(t)) => SqlValue::Text(t),
            (Some(k), None) => SqlValue::Integer(k),
            (None, None) => SqlValue::Integer(0),
        }));
        page_params.push(arg(c.r));
    }
    let limit = q.page_size.max(1);
    page_sql.push_str(&format!(
        " ORDER BY {col} {dir}, rid {dir} LIMIT {}",
        limit + 1
    ));

    let mut stmt = conn.prepare_cached(&page_sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(page_params.iter()))?;
    let mut items = Vec::with_capacity(limit);
    let mut last_key: Option<(i64, SqlValue)> = None;
    let mut more = false;
    while let Some(row) = rows.next()? {
        if items.len() == limit {
            more = true;
            break;
        }
        let (rid, rec) = row_record(row)?;
        let key: SqlValue = row.get(22)?;
        last_key = Some((rid, key));
        items.push(rec);
    }
    let next_cursor = match (more, last_key) {
        (true, Some((rid, key))) => {
            let (k, t, p) = match key {
                SqlValue::Integer(i) => (Some(i), None, false),
                SqlValue::Text(mut s) => {
                    let cut = rampart_domain::text::cut_to(&mut s, TEXT_KEY_PREFIX);
                    (None, Some(s), cut)
                }
                _ => (Some(0), None, false),
            };
            Some(
                Cursor {
                    s: q.sort.as_str().into(),
                    d: q.desc,
                    k,
                    t,
                    r: rid,
                    p,
                }
                .encode(),
            )
        }
        _ => None,
    };

    let count_sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM alerts WHERE {filter} LIMIT {})",
        TOTAL_CAP + 1
    );
    let n: i64 = conn
        .prepare_cached(&count_sql)?
        .query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?;
    let n = u64::try_from(n).unwrap_or(0);
    Ok(AlertPage {
        items,
        next_cursor,
        total: n.min(TOTAL_CAP),
        total_is_exact: n <= TOTAL_CAP,
    })
}

/// The audit trail of one target, oldest first.
pub(crate) fn history(
    conn: &Connection,
    kind: TargetKind,
    target_id: &str,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, target_id, at, actor_kind, actor_name, action, field, old_value, new_value, text
         FROM history WHERE target_id = ?1 AND kind = ?2 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![target_id, kind.as_str()], row_history)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Reads a history row selected as `seq, target_id, at, actor_kind, actor_name, action, field,
/// old_value, new_value, text`.
pub(crate) fn row_history(r: &Row<'_>) -> rusqlite::Result<HistoryEvent> {
    let kind: String = r.get(3)?;
    Ok(HistoryEvent {
        seq: r.get(0)?,
        target_id: r.get(1)?,
        at: Timestamp::from_micros(r.get(2)?),
        actor: Actor {
            kind: ActorKind::parse(&kind).unwrap_or(ActorKind::System),
            name: r.get(4)?,
        },
        action: r.get(5)?,
        field: r.get(6)?,
        old_value: r.get(7)?,
        new_value: r.get(8)?,
        text: r.get(9)?,
    })
}
