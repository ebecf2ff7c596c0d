//! SQL for incidents on SQLite: creation, roll-ups, merges, manual links, the queue, reads
//! and triage.
use super::alerts::{append_event, arg, event, row_record, Arg, RECORD_COLS};
use super::keys::StoredKeys;
use crate::error::StoreError;
use crate::incidents::{IncidentDetail, IncidentPage, IncidentQuery};
use rampart_domain::alert::AlertRecord;
use rampart_domain::correlate::Reason;
use rampart_domain::history::TargetKind;
use rampart_domain::history::{Actor, HistoryEvent};
use rampart_domain::incident::{display_name, IncidentRecord, IncidentStatus};
use rampart_domain::timestamp::Timestamp;
use rampart_domain::vocab::{Classification, Determination, Severity};
use rusqlite::{params, Connection, OptionalExtension, Row, Statement};
use std::collections::{BTreeSet, HashMap};

/// Appends an event to an incident's history.
pub(crate) fn incident_event(conn: &Connection, e: &HistoryEvent) -> Result<(), StoreError> {
    append_event(conn, TargetKind::Incident, e)
}

/// Creates an incident seeded from its first alert (no-op if it exists).
pub(crate) fn create(
    conn: &Connection,
    id: &str,
    first: &AlertRecord,
    now: Timestamp,
) -> Result<(), StoreError> {
    insert(conn, id, &Rolled::seed(first), now)
}

/// Inserts an incident with its roll-up ([`Bound::values`]). No "created" history
/// row: like an alert's, it is synthesised from createdDateTime on read, which saves a write
/// per new incident at ingest.
const INSERT_ROLLED: &str =
    "INSERT OR IGNORE INTO incidents (id, alert_count, severity, sources, categories, display_name,
        first_activity, last_activity, created, last_update, active_count, status)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11, ?10, 'active')";

fn insert(conn: &Connection, id: &str, r: &Rolled, now: Timestamp) -> Result<(), StoreError> {
    put_fresh(
        &mut *conn.prepare_cached(INSERT_ROLLED)?,
        id,
        r,
        now.micros(),
        now.micros(),
    )
}

/// What new links owe an incident's roll-up, summed over a batch (the few columns a
/// roll-up reads, not a copy of each alert).
#[derive(Debug, Clone)]
struct Owed {
    count: i64,
    /// How many of them are not resolved.
    active: i64,
    /// Highest severity among the unresolved alerts, and among all of them.
    severity_active: i64,
    severity_any: i64,
    sources: Vec<String>,
    categories: Vec<String>,
    first: i64,
    last: i64,
    /// When the latest of them linked: the incident's last update.
    at: i64,
}

impl Default for Owed {
    fn default() -> Self {
        Owed {
            count: 0,
            active: 0,
            severity_active: 0,
            severity_any: 0,
            sources: Vec::new(),
            categories: Vec::new(),
            first: i64::MAX,
            last: i64::MIN,
            at: i64::MIN,
        }
    }
}

impl From<Rolled> for Owed {
    /// A whole incident's roll-up as owed to the incident that absorbs it.
    fn from(r: Rolled) -> Owed {
        Owed {
            count: r.count,
            active: r.active,
            // Its stored severity is its active alerts' while it has any, else all of them.
            severity_active: if r.active > 0 { r.severity } else { 0 },
            severity_any: r.severity,
            sources: r.sources,
            categories: r.categories,
            first: r.first,
            last: r.last,
            at: i64::MIN,
        }
    }
}

impl Owed {
    fn add(&mut self, a: &AlertRecord, at: Timestamp) {
        self.at = self.at.max(at.micros());
        self.count += 1;
        if a.status != rampart_domain::vocab::AlertStatus::Resolved {
            self.active += 1;
            self.severity_active = self.severity_active.max(a.severity.rank());
        }
        self.severity_any = self.severity_any.max(a.severity.rank());
        // Copied only when new to the batch's sum: most links repeat a source.
        if !self.sources.contains(&a.service_source) {
            self.sources.push(a.service_source.clone());
        }
        if let Some(c) = a
            .category
            .as_ref()
            .filter(|c| !self.categories.contains(*c))
        {
            self.categories.push(c.clone());
        }
        self.first = self.first.min(a.first_activity.micros());
        self.last = self.last.max(a.last_activity.micros());
    }

    fn absorb(&mut self, o: Owed) {
        self.count += o.count;
        self.active += o.active;
        self.severity_active = self.severity_active.max(o.severity_active);
        self.severity_any = self.severity_any.max(o.severity_any);
        union_into(&mut self.sources, o.sources);
        union_into(&mut self.categories, o.categories);
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.at = self.at.max(o.at);
    }

    fn apply(self, r: &mut Rolled) {
        // The highest of the active alerts; an incident whose alerts are all resolved shows
        // theirs, until an active alert joins and its severity replaces theirs.
        r.severity = if r.active > 0 {
            r.severity.max(self.severity_active)
        } else if self.active > 0 {
            self.severity_active
        } else if r.count == 0 {
            // Emptied: what it showed described alerts it no longer holds.
            self.severity_any
        } else {
            r.severity.max(self.severity_any)
        };
        r.active += self.active;
        union_into(&mut r.sources, self.sources);
        union_into(&mut r.categories, self.categories);
        r.first = r.first.min(self.first);
        r.last = r.last.max(self.last);
        r.count += self.count;
        if r.count > 1 {
            r.name = display_name(r.count, &r.name, &r.categories);
        }
    }
}

/// Maps by incident id, hashed with foldhash: SipHash of every id a batch creates or links
/// was a twentieth of writing new incidents. (Ids are minted here, not sent by producers,
/// and the hasher is seeded per process all the same.)
type ById<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// Roll-ups owed to incidents: cheap increments for new links, full recomputation for
/// incidents that merges or splits reshaped.
///
/// Incidents opened by ingest are held here and inserted once, with everything linked to
/// them since, instead of inserted and then read back and updated. One a merge absorbs
/// first is inserted already redirected; one a split or re-send reshapes is inserted early
/// so that its recomputation finds the row.
///
/// With correlation on, the engine keeps what ingest owes across batches and writes it
/// together at most [`SETTLE_AFTER`] later ([`Rollups::end_batch`]): in a backfill most
/// incidents a batch links were opened or linked a few batches before, and each write of
/// an incident is a read, an update and a move in the queue index. Incident rows therefore
/// lag the alerts by up to that long; everything that reads or writes them settles first
/// (`settle.rs`), and `rollups_settled` lets a process that stopped without settling be
/// mended by the next ([`recover`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Rollups {
    /// In creation order (ids are time-ordered, so rows go in at the table's end), with
    /// when they were opened; `None` once written early.
    fresh: Vec<Option<(String, Rolled, i64)>>,
    /// Where each unwritten fresh incident is in `fresh`.
    fresh_at: ById<usize>,
    adds: ById<Owed>,
    full: BTreeSet<String>,
    /// When the oldest roll-up still owed was first owed.
    since: Option<std::time::Instant>,
}

/// How long ingest may owe roll-ups: a reader that does not settle (another process, a
/// backup) sees incident rows at most this much behind their alerts.
pub(crate) const SETTLE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Most incidents ingest may owe roll-ups to, whatever their age, to bound the memory held
/// and the length of the write that settles them.
const SETTLE_AT: usize = 100_000;

impl Rollups {
    /// A new incident whose first alert is `first`.
    pub(crate) fn create(&mut self, id: &str, first: &AlertRecord, now: Timestamp) {
        self.fresh_at.insert(id.to_string(), self.fresh.len());
        self.fresh
            .push(Some((id.to_string(), Rolled::seed(first), now.micros())));
    }
    pub(crate) fn linked(&mut self, incident: &str, rec: &AlertRecord, now: Timestamp) {
        match self.adds.get_mut(incident) {
            Some(o) => o.add(rec, now),
            None => {
                let mut o = Owed::default();
                o.add(rec, now);
                self.adds.insert(incident.to_string(), o);
            }
        }
    }
    pub(crate) fn full(&mut self, incident: &str) {
        self.full.insert(incident.to_string());
    }
    /// An alert of `incident` was re-sent: its severity, category or activity may have
    /// moved either way, so the roll-up is recomputed from the alert rows, not incremented.
    pub(crate) fn resent(&mut self, incident: Option<&str>) {
        if let Some(i) = incident {
            self.full(i);
        }
    }
    /// `from` is being merged into `into`: `from`'s stored roll-up, and what the batch owed
    /// it, are now owed to `into`. Call before the merge's SQL empties `from`'s row.
    ///
    /// `into`'s row is written once, at the flush: the alert that bridged the two links to
    /// it, so the flush updates it anyway, and combining the rows at the merge read and
    /// wrote it a second time (a tenth of a merge's cost in a backfill).
    pub(crate) fn merged(
        &mut self,
        conn: &Connection,
        from: &str,
        into: &str,
    ) -> Result<(), StoreError> {
        let stored = rolled(conn, from)?.map(|(_, r)| Owed::from(r));
        let owed = self.adds.remove(from);
        if stored.is_some() || owed.is_some() {
            // The survivor's sources and categories come first (its row's, then what it is
            // owed), then those the absorbed incident brings: the same order whether or not
            // the survivor's debts were written before the merge.
            let to = self.adds.entry(into.to_string()).or_default();
            to.absorb(stored.unwrap_or_default());
            if let Some(o) = owed {
                to.absorb(o);
            }
        }
        if self.full.remove(from) {
            self.full.insert(into.to_string());
        }
        Ok(())
    }

    /// Merges `from` into `into` if ingest opened `from` and has not written it yet:
    /// its roll-up, with what it is owed, is owed to `into`, and its row is written once,
    /// already redirected (as [`merge`] would leave it), instead of inserted, read back
    /// and emptied. Returns whether it was; the caller then moves its alerts ([`absorb`]).
    pub(crate) fn merge_unwritten(
        &mut self,
        conn: &Connection,
        from: &str,
        into: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(at) = self.fresh_at.remove(from) else {
            return Ok(false);
        };
        let Some((id, r, created)) = self.fresh.get_mut(at).and_then(Option::take) else {
            return Ok(false);
        };
        let FreshRow { r, .. } = self.finish_fresh(id, r, created);
        conn.prepare_cached(
            "INSERT INTO incidents (id, alert_count, severity, sources, categories, display_name,
                first_activity, last_activity, created, last_update, active_count, status,
                redirect_id, version)
             VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, 'redirected', ?10, 2)",
        )?
        .execute(params![
            from,
            r.severity,
            to_json(&r.sources),
            to_json(&r.categories),
            r.name,
            r.first,
            r.last,
            created,
            now.micros(),
            into
        ])?;
        // As in `merged`: the survivor's own first, then what the absorbed one brings.
        self.adds
            .entry(into.to_string())
            .or_default()
            .absorb(Owed::from(r));
        if self.full.remove(from) {
            self.full.insert(into.to_string());
        }
        Ok(true)
    }

    /// Inserts incident `id` now if ingest opened it and has not written it yet, so that
    /// a recomputation of its roll-up from its alerts finds its row. The rest stay for
    /// [`Rollups::flush`].
    fn write_fresh(&mut self, conn: &Connection, id: &str) -> Result<(), StoreError> {
        let Some(at) = self.fresh_at.remove(id) else {
            return Ok(());
        };
        if let Some((id, r, created)) = self.fresh.get_mut(at).and_then(Option::take) {
            let f = self.finish_fresh(id, r, created);
            put_fresh(
                &mut *conn.prepare_cached(INSERT_ROLLED)?,
                &f.id,
                &f.r,
                f.created,
                f.updated,
            )?;
        }
        Ok(())
    }

    /// A fresh incident's row with everything linked to it since it was opened; its last
    /// update is when the latest of those alerts linked.
    fn finish_fresh(&mut self, id: String, mut r: Rolled, created: i64) -> FreshRow {
        let mut updated = created;
        if let Some(o) = self.adds.remove(&id) {
            updated = updated.max(o.at);
            o.apply(&mut r);
        }
        FreshRow {
            id,
            r,
            created,
            updated,
        }
    }

    /// Whether nothing is owed.
    pub(crate) fn is_empty(&self) -> bool {
        self.fresh_at.is_empty() && self.adds.is_empty() && self.full.is_empty()
    }

    /// Ends an ingest batch that keeps owing: recomputes the incidents the batch reshaped
    /// (their alerts are all stored, so what was owed them is in the result) and writes
    /// everything once the oldest debt is [`SETTLE_AFTER`] old or [`SETTLE_AT`] incidents
    /// are owed.
    pub(crate) fn end_batch(
        &mut self,
        conn: &Connection,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() >= SETTLE_AFTER || self.fresh_at.len() + self.adds.len() >= SETTLE_AT {
            return self.flush(conn, now);
        }
        for id in std::mem::take(&mut self.full) {
            self.write_fresh(conn, &id)?;
            self.adds.remove(&id);
            rollup(conn, &id, now)?;
        }
        if self.is_empty() {
            self.since = None;
        }
        Ok(())
    }

    /// Writes every roll-up owed, and records that every stored alert's roll-ups are
    /// written. Each statement is taken from the cache once for the whole loop: looking it
    /// up by its text for every row was a twentieth of the flush. The maps keep their room
    /// for the next debts.
    pub(crate) fn flush(&mut self, conn: &Connection, now: Timestamp) -> Result<(), StoreError> {
        let fresh: Vec<(String, Rolled, i64)> = self.fresh.drain(..).flatten().collect();
        self.fresh_at.clear();
        let rows: Vec<FreshRow> = fresh
            .into_iter()
            .map(|(id, r, created)| self.finish_fresh(id, r, created))
            .collect();
        insert_fresh_rows(conn, &rows)?;
        // In id order: ids are time-ordered (UUIDv7), so the rows come in rowid order and
        // each page of the table is visited once, not at random.
        let mut adds: Vec<(String, Owed)> = self.adds.drain().collect();
        adds.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let (mut read, mut write) = (
            conn.prepare_cached(ROLLED)?,
            conn.prepare_cached(UPDATE_ROLLED_BY_RID)?,
        );
        for (id, owed) in adds {
            if self.full.contains(&id) {
                continue;
            }
            let Some((rid, mut r)) = rolled_by(&mut read, &id)? else {
                continue;
            };
            // Updated when its latest alert linked, not when the debt was written.
            let at = Timestamp::from_micros(owed.at);
            owed.apply(&mut r);
            put_rolled(&mut write, &rid, &r, at)?;
        }
        for id in std::mem::take(&mut self.full) {
            rollup(conn, &id, now)?;
        }
        self.since = None;
        conn.prepare_cached(
            "UPDATE rollups_settled SET through_rid = (SELECT coalesce(max(rid), 0) FROM alerts)",
        )?
        .execute([])?;
        Ok(())
    }
}

/// Recomputes the roll-ups of the incidents of every alert stored after the last
/// [`Rollups::flush`], creating the rows of incidents that were never written, and records
/// them settled. For what a process owed when it stopped without settling (a crash) or
/// when it forgot its engine (a failed write): every debt belongs to such an alert, whose
/// incident is recomputed from its rows, so nothing is lost or counted twice. Cheap when
/// nothing is owed (two lookups); returns how many incidents it mended.
pub(crate) fn recover(conn: &Connection, now: Timestamp) -> Result<usize, StoreError> {
    let (through, newest): (i64, i64) = conn.query_row(
        "SELECT through_rid, (SELECT coalesce(max(rid), 0) FROM alerts) FROM rollups_settled",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if newest <= through {
        return Ok(0);
    }
    let ids: std::collections::HashSet<String> = conn
        .prepare(
            "SELECT DISTINCT incident_id FROM alerts WHERE rid > ?1 AND incident_id IS NOT NULL",
        )?
        .query_map([through], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut seed = conn.prepare(
        "INSERT OR IGNORE INTO incidents (id, display_name, severity, status, first_activity,
            last_activity, created, last_update)
         VALUES (?1, '', 0, 'active', 0, 0,
            coalesce((SELECT min(created) FROM alerts WHERE incident_id = ?1), ?2), ?2)",
    )?;
    for id in &ids {
        seed.execute(params![id, now.micros()])?;
    }
    rollup_many(conn, &ids, now)?;
    conn.execute("UPDATE rollups_settled SET through_rid = ?1", [newest])?;
    Ok(ids.len())
}

fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// An incident's rolled-up columns.
#[derive(Debug, Clone)]
struct Rolled {
    count: i64,
    /// How many of its alerts are not resolved: whether `severity` is theirs or all alerts'.
    active: i64,
    severity: i64,
    sources: Vec<String>,
    categories: Vec<String>,
    name: String,
    first: i64,
    last: i64,
}

impl Rolled {
    fn seed(first: &AlertRecord) -> Rolled {
        Rolled {
            count: 1,
            active: i64::from(first.status != rampart_domain::vocab::AlertStatus::Resolved),
            severity: first.severity.rank(),
            sources: vec![first.service_source.clone()],
            categories: first.category.iter().cloned().collect(),
            name: first.title.clone(),
            first: first.first_activity.micros(),
            last: first.last_activity.micros(),
        }
    }
}

/// An incident's roll-up with its rowid, which the update that follows uses: by id it
/// would look the row up through the id index a second time.
fn rolled(conn: &Connection, id: &str) -> Result<Option<(i64, Rolled)>, StoreError> {
    rolled_by(&mut *conn.prepare_cached(ROLLED)?, id)
}

const ROLLED: &str = "SELECT rid, alert_count, severity, sources, categories, display_name, first_activity, last_activity, active_count FROM incidents WHERE id = ?1";

/// [`rolled`] with the statement prepared from [`ROLLED`].
fn rolled_by(stmt: &mut Statement<'_>, id: &str) -> Result<Option<(i64, Rolled)>, StoreError> {
    Ok(stmt
        .query_row([id], |r| {
            Ok((
                r.get(0)?,
                Rolled {
                    count: r.get(1)?,
                    active: r.get(8)?,
                    severity: r.get(2)?,
                    sources: json_list(&r.get::<_, String>(3)?),
                    categories: json_list(&r.get::<_, String>(4)?),
                    name: r.get(5)?,
                    first: r.get(6)?,
                    last: r.get(7)?,
                },
            ))
        })
        .optional()?)
}

/// Updates an incident's roll-up ([`Bound::values`], the first ten), by rowid (the flush, which
/// has just read the row) or by id.
macro_rules! update_rolled {
    ($key:literal) => {
        concat!(
            "UPDATE incidents SET alert_count = ?2, severity = ?3, sources = ?4, categories = ?5, ",
            "display_name = ?6, first_activity = ?7, last_activity = ?8, last_update = ?9, ",
            "active_count = ?10 WHERE ",
            $key,
            " = ?1"
        )
    };
}
const UPDATE_ROLLED_BY_RID: &str = update_rolled!("rid");

fn write_rolled(conn: &Connection, id: &str, r: &Rolled, now: Timestamp) -> Result<(), StoreError> {
    put_rolled(
        &mut *conn.prepare_cached(update_rolled!("id"))?,
        &id,
        r,
        now,
    )
}

/// An incident's rolled-up columns as a statement binds them, with the JSON lists encoded.
struct Bound<'a> {
    r: &'a Rolled,
    sources: String,
    categories: String,
}

impl<'a> Bound<'a> {
    fn of(r: &'a Rolled) -> Bound<'a> {
        Bound {
            r,
            sources: to_json(&r.sources),
            categories: to_json(&r.categories),
        }
    }

    /// `?1`–`?11`: `key` (id or rowid), count, severity, sources, categories, name, first
    /// and last activity, `at` (created, or last update for an update), active count,
    /// `updated` (last update of an insert). An update binds the first ten.
    fn values<'b>(
        &'b self,
        key: &'b dyn rusqlite::ToSql,
        at: &'b i64,
        updated: &'b i64,
    ) -> [&'b dyn rusqlite::ToSql; 11] {
        let r = self.r;
        [
            key,
            &r.count,
            &r.severity,
            &self.sources,
            &self.categories,
            &r.name,
            &r.first,
            &r.last,
            at,
            &r.active,
            updated,
        ]
    }
}

/// Runs an update prepared from [`update_rolled!`] with an incident's rolled-up columns,
/// `key` its id or rowid and `now` its last update.
fn put_rolled(
    stmt: &mut Statement<'_>,
    key: &dyn rusqlite::ToSql,
    r: &Rolled,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (b, at) = (Bound::of(r), now.micros());
    stmt.execute(&b.values(key, &at, &at)[..10])?;
    Ok(())
}

/// A new incident's row as [`insert_fresh_rows`] writes it.
struct FreshRow {
    id: String,
    r: Rolled,
    created: i64,
    updated: i64,
}

/// New incidents per `INSERT` statement when many are written at once.
const FRESH_PER_INSERT: usize = 32;

/// [`INSERT_ROLLED`] for [`FRESH_PER_INSERT`] rows.
static INSERT_MANY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active')";
    format!(
        "INSERT OR IGNORE INTO incidents (id, alert_count, severity, sources, categories,
            display_name, first_activity, last_activity, created, active_count, last_update, status)
         VALUES {}",
        vec![row; FRESH_PER_INSERT].join(", ")
    )
});

/// Inserts new incidents in creation order, [`FRESH_PER_INSERT`] to a statement: a
/// backfill opens about one incident for every two alerts, and one statement each spent
/// as much on running a statement as on the rows.
fn insert_fresh_rows(conn: &Connection, rows: &[FreshRow]) -> Result<(), StoreError> {
    let mut chunks = rows.chunks_exact(FRESH_PER_INSERT);
    if chunks.len() > 0 {
        let mut many = conn.prepare_cached(&INSERT_MANY)?;
        for chunk in chunks.by_ref() {
            let bound: Vec<Bound<'_>> = chunk.iter().map(|f| Bound::of(&f.r)).collect();
            let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(chunk.len() * 11);
            for (f, b) in chunk.iter().zip(&bound) {
                values.extend(b.values(&f.id, &f.created, &f.updated));
            }
            many.execute(values.as_slice())?;
        }
    }
    let mut one = conn.prepare_cached(INSERT_ROLLED)?;
    for f in chunks.remainder() {
        put_fresh(&mut one, &f.id, &f.r, f.created, f.updated)?;
    }
    Ok(())
}

/// Runs [`INSERT_ROLLED`] with an incident's rolled-up columns, when it was opened
/// (`created`) and when its latest alert linked (`updated`).
fn put_fresh(
    stmt: &mut Statement<'_>,
    id: &str,
    r: &Rolled,
    created: i64,
    updated: i64,
) -> Result<(), StoreError> {
    stmt.execute(Bound::of(r).values(&id, &created, &updated))?;
    Ok(())
}

fn union_into(into: &mut Vec<String>, more: impl IntoIterator<Item = String>) {
    for m in more {
        if !into.contains(&m) {
            into.push(m);
        }
    }
}

/// An incident's roll-up recomputed from its alerts' rows, in one pass over them.
#[derive(Debug)]
struct Tally {
    count: i64,
    active: i64,
    severity_active: Option<i64>,
    severity_any: Option<i64>,
    sources: BTreeSet<String>,
    /// Each category with the earliest activity of an alert in it.
    categories: HashMap<String, i64>,
    /// The earliest alert's (first activity, rid) and title: the incident's name.
    title: Option<(i64, i64, String)>,
    first: i64,
    last: i64,
}

/// The alert columns a roll-up reads, in [`Tally::add`]'s order.
const TALLY_COLS: &str =
    "incident_id, severity, status, service_source, category, first_activity, last_activity, rid, title";

impl Default for Tally {
    fn default() -> Self {
        Tally {
            count: 0,
            active: 0,
            severity_active: None,
            severity_any: None,
            sources: BTreeSet::new(),
            categories: HashMap::new(),
            title: None,
            first: i64::MAX,
            last: i64::MIN,
        }
    }
}

impl Tally {
    /// Adds one row selected with [`TALLY_COLS`].
    fn add(&mut self, r: &Row<'_>) -> rusqlite::Result<()> {
        let severity: i64 = r.get(1)?;
        let status = r.get_ref(2)?.as_str()?;
        let source = r.get_ref(3)?.as_str()?;
        let category = r.get_ref(4)?.as_str_or_null()?;
        let (first, last, rid): (i64, i64, i64) = (r.get(5)?, r.get(6)?, r.get(7)?);
        self.count += 1;
        if status != "resolved" {
            self.active += 1;
            self.severity_active = self.severity_active.max(Some(severity));
        }
        self.severity_any = self.severity_any.max(Some(severity));
        if !self.sources.contains(source) {
            self.sources.insert(source.to_string());
        }
        if let Some(c) = category {
            match self.categories.get_mut(c) {
                Some(at) => *at = (*at).min(first),
                None => {
                    self.categories.insert(c.to_string(), first);
                }
            }
        }
        if self
            .title
            .as_ref()
            .is_none_or(|(f, id, _)| (first, rid) < (*f, *id))
        {
            self.title = Some((first, rid, r.get_ref(8)?.as_str()?.to_string()));
        }
        self.first = self.first.min(first);
        self.last = self.last.max(last);
        Ok(())
    }

    fn write(self, conn: &Connection, id: &str, now: Timestamp) -> Result<(), StoreError> {
        if self.count == 0 {
            // Cached: a rebuild empties hundreds of thousands of incidents this way.
            // Sources and categories describe the alerts it holds: none now. (They also
            // decide who may see it.) Its name and severity stay, for whoever follows a
            // link to it.
            conn.prepare_cached(
                "UPDATE incidents SET alert_count = 0, active_count = 0, sources = '[]',
                    categories = '[]', last_update = ?2 WHERE id = ?1",
            )?
            .execute(params![id, now.micros()])?;
            return Ok(());
        }
        let mut cats: Vec<(String, i64)> = self.categories.into_iter().collect();
        cats.sort_by(|(a, x), (b, y)| x.cmp(y).then_with(|| a.cmp(b)));
        let cats: Vec<String> = cats.into_iter().map(|(c, _)| c).collect();
        let title = self.title.map(|(_, _, t)| t).unwrap_or_default();
        write_rolled(
            conn,
            id,
            &Rolled {
                count: self.count,
                active: self.active,
                severity: self.severity_active.or(self.severity_any).unwrap_or(0),
                sources: self.sources.into_iter().collect(),
                name: display_name(self.count, &title, &cats),
                categories: cats,
                first: self.first,
                last: self.last,
            },
            now,
        )
    }
}

/// Recomputes an incident's roll-up from its alerts.
pub(crate) fn rollup(conn: &Connection, id: &str, now: Timestamp) -> Result<(), StoreError> {
    let mut tally = Tally::default();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TALLY_COLS} FROM alerts WHERE incident_id = ?1"
    ))?;
    let mut rows = stmt.query([id])?;
    while let Some(r) = rows.next()? {
        tally.add(r)?;
    }
    tally.write(conn, id, now)
}

/// Above this many incidents, [`rollup_many`] reads the whole alerts table once instead of
/// each incident's alerts through the index: after a rebuild moves most alerts, the
/// per-incident reads fetch nearly every row, scattered, several times.
const SCAN_ABOVE: usize = 20_000;

/// Recomputes the roll-ups of many incidents.
pub(crate) fn rollup_many(
    conn: &Connection,
    ids: &std::collections::HashSet<String>,
    now: Timestamp,
) -> Result<(), StoreError> {
    if ids.len() <= SCAN_ABOVE {
        let mut ids: Vec<&String> = ids.iter().collect();
        ids.sort_unstable();
        for id in ids {
            rollup(conn, id, now)?;
        }
        return Ok(());
    }
    let mut tallies: HashMap<&str, Tally> =
        ids.iter().map(|i| (i.as_str(), Tally::default())).collect();
    let mut stmt = conn.prepare(&format!(
        // NOT INDEXED: one pass in storage order, not a walk of the incident index that
        // fetches each row from a random page.
        "SELECT {TALLY_COLS} FROM alerts NOT INDEXED WHERE incident_id IS NOT NULL"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let Ok(id) = r.get_ref(0)?.as_str() else {
            continue;
        };
        if let Some(t) = tallies.get_mut(id) {
            t.add(r)?;
        }
    }
    drop(rows);
    drop(stmt);
    // In id order, as the per-incident path writes them.
    let mut tallies: Vec<(&str, Tally)> = tallies.into_iter().collect();
    tallies.sort_unstable_by_key(|(id, _)| *id);
    for (id, t) in tallies {
        t.write(conn, id, now)?;
    }
    Ok(())
}

/// Moves every alert of `from` into `into`; `from` becomes redirected. Both histories say so.
pub(crate) fn merge(
    conn: &Connection,
    from: &str,
    into: &str,
    actor: &Actor,
    via: Option<&Reason>,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE incidents SET status = 'redirected', redirect_id = ?2, alert_count = 0, active_count = 0, last_update = ?3, version = version + 1 WHERE id = ?1",
    )?
    .execute(params![from, into, now.micros()])?;
    absorb(conn, from, into, actor, via, now)
}

/// [`merge`] of an incident whose row is already redirected: moves its alerts and writes
/// both histories.
pub(crate) fn absorb(
    conn: &Connection,
    from: &str,
    into: &str,
    actor: &Actor,
    via: Option<&Reason>,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE alerts SET incident_id = ?2 WHERE incident_id = ?1")?
        .execute(params![from, into])?;
    let why = via.map(|r| {
        format!(
            // The key is the one the alert shares with the absorbed incident; it reached
            // the survivor through its own ("with both" was not always true).
            "alert {} shares {}:{} with the absorbed incident",
            r.alert_id, r.kind, r.value
        )
    });
    incident_event(
        conn,
        &HistoryEvent {
            field: Some("status".into()),
            new_value: Some(format!("redirected to {into}")),
            text: why.clone(),
            ..event(from, actor, now, "merged")
        },
    )?;
    incident_event(
        conn,
        &HistoryEvent {
            field: Some("alerts".into()),
            old_value: Some(from.into()),
            text: why,
            ..event(into, actor, now, "absorbed")
        },
    )?;
    Ok(())
}

const INCIDENT_COLS: &str = "id, display_name, severity, status, classification, determination, assigned_to, tags, \
    redirect_id, alert_count, sources, categories, first_activity, last_activity, created, last_update, resolved, version, rid";

fn row_incident(r: &Row<'_>) -> rusqlite::Result<(IncidentRecord, i64)> {
    let status: String = r.get(3)?;
    let class: String = r.get(4)?;
    let det: String = r.get(5)?;
    Ok((
        IncidentRecord {
            id: r.get(0)?,
            display_name: r.get(1)?,
            severity: Severity::from_rank(r.get(2)?),
            status: IncidentStatus::parse(&status).unwrap_or(IncidentStatus::Active),
            classification: Classification::parse(&class).unwrap_or(Classification::Unknown),
            determination: Determination::parse(&det).unwrap_or(Determination::Unknown),
            assigned_to: r.get(6)?,
            tags: json_list(&r.get::<_, String>(7)?),
            redirect_incident_id: r.get(8)?,
            alert_count: r.get(9)?,
            service_sources: json_list(&r.get::<_, String>(10)?),
            categories: json_list(&r.get::<_, String>(11)?),
            first_activity: Timestamp::from_micros(r.get(12)?),
            last_activity: Timestamp::from_micros(r.get(13)?),
            created: Timestamp::from_micros(r.get(14)?),
            last_update: Timestamp::from_micros(r.get(15)?),
            resolved: r.get::<_, Option<i64>>(16)?.map(Timestamp::from_micros),
            version: r.get(17)?,
        },
        r.get(18)?,
    ))
}

/// One incident record. A merged incident names the incident that holds its alerts now.
pub(crate) fn record(conn: &Connection, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
    let Some((mut rec, _)) = conn
        .prepare_cached(&format!(
            "SELECT {INCIDENT_COLS} FROM incidents WHERE id = ?1"
        ))?
        .query_row([id], row_incident)
        .optional()?
    else {
        return Ok(None);
    };
    if let Some(next) = rec.redirect_incident_id.take() {
        rec.redirect_incident_id = Some(survivor(conn, next)?);
    }
    Ok(Some(rec))
}

/// The end of a chain of redirects that starts at `id`. Merging an incident that had
/// absorbed others leaves theirs pointing at it (P → Q, then Q → R); followed here, when
/// read, so that merges (a twentieth of a backfill's placements) write nothing more.
/// Bounded: merges refuse cycles, but stored data is not trusted.
fn survivor(conn: &Connection, id: String) -> Result<String, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT redirect_id FROM incidents WHERE id = ?1")?;
    let mut at = id;
    for _ in 0..64 {
        match stmt
            .query_row([&at], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten()
        {
            Some(next) if next != at => at = next,
            _ => break,
        }
    }
    Ok(at)
}

/// Most alerts listed on one incident page.
pub const MAX_INCIDENT_ALERTS: usize = 1000;

/// An incident with its alerts, entities and correlation reasons.
pub(crate) fn detail(conn: &Connection, id: &str) -> Result<Option<IncidentDetail>, StoreError> {
    let Some(incident) = record(conn, id)? else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {RECORD_COLS}, link_reasons, link_manual, keys FROM alerts WHERE incident_id = ?1 ORDER BY first_activity, rid LIMIT {MAX_INCIDENT_ALERTS}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([id], |r| {
        let (_, rec) = row_record(r)?;
        Ok((
            rec,
            r.get::<_, Option<String>>(22)?,
            r.get::<_, i64>(23)? != 0,
            r.get::<_, StoredKeys>(24)?,
        ))
    })?;
    let mut alerts = Vec::new();
    let mut reasons = Vec::new();
    let mut entities = BTreeSet::new();
    for row in rows {
        let (rec, why, manual, keys) = row?;
        if manual {
            reasons.push(Reason {
                alert_id: rec.id.clone(),
                kind: rampart_domain::entity::EntityKind::Device,
                value: String::new(),
                rule: rampart_domain::correlate::RULE_MANUAL.into(),
            });
        } else if let Some(w) = why {
            reasons.extend(super::correlation::reasons_from(&w, &rec.id));
        }
        entities.extend(keys.0);
        alerts.push(rec);
    }
    Ok(Some(IncidentDetail {
        incident,
        alerts,
        reasons,
        entities: entities.into_iter().collect(),
    }))
}

/// A page of the incident queue, keyset-paginated on (last_update, rid) descending, through
/// `incidents_queue`.
pub(crate) fn list(
    conn: &Connection,
    recent: &super::recent::RecentIndex,
    q: &IncidentQuery,
) -> Result<IncidentPage, StoreError> {
    let mut sql = format!("SELECT {INCIDENT_COLS} FROM incidents WHERE alert_count > 0");
    let mut args: Vec<Arg> = Vec::new();
    if !q.statuses.is_empty() {
        sql.push_str(&format!(
            " AND status IN ({})",
            vec!["?"; q.statuses.len()].join(",")
        ));
        args.extend(q.statuses.iter().map(|s| arg(s.as_str().to_string())));
    }
    if !q.severities.is_empty() {
        sql.push_str(&format!(
            " AND severity IN ({})",
            vec!["?"; q.severities.len()].join(",")
        ));
        args.extend(q.severities.iter().map(|s| arg(s.rank())));
    }
    if let Some(a) = &q.assigned_to {
        sql.push_str(" AND assigned_to = ?");
        args.push(arg(a.clone()));
    }
    if let Some(t) = &q.tag {
        sql.push_str(" AND EXISTS (SELECT 1 FROM json_each(incidents.tags) j WHERE j.value = ?)");
        args.push(arg(t.clone()));
    }
    if let Some(s) = q.since {
        sql.push_str(" AND last_activity >= ?");
        args.push(arg(s.micros()));
    }
    if let Some(u) = q.until {
        sql.push_str(" AND last_activity < ?");
        args.push(arg(u.micros()));
    }
    if let Some(s) = q.updated_since {
        sql.push_str(" AND last_update >= ?");
        args.push(arg(s.micros()));
    }
    // Only incidents whose every alert source the caller reaches.
    if let Some(allowed) = &q.allowed_sources {
        sql.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM json_each(incidents.sources) j WHERE j.value NOT IN ({}))",
            vec!["?"; allowed.len()].join(",")
        ));
        args.extend(allowed.iter().map(|s| arg(s.clone())));
    }
    if !q.denied_sources.is_empty() {
        sql.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM json_each(incidents.sources) j WHERE j.value IN ({}))",
            vec!["?"; q.denied_sources.len()].join(",")
        ));
        args.extend(q.denied_sources.iter().map(|s| arg(s.clone())));
    }
    if !q.alerts.is_empty() {
        let f = crate::filter::compile(&q.alerts, q.now, crate::filter::Placeholder::Question, 1);
        // An entity term finds its few alerts through the entity index: collect their
        // incidents. Other conditions may match most alerts: walk each listed incident's
        // alerts (`alerts_incident`) and stop at the first match, so the page and the
        // capped count stop early instead of reading the whole alerts table first.
        let selective =
            q.alerts.terms.iter().any(|t| {
                !t.negated && matches!(t.pred, rampart_domain::condition::Pred::Entity(..))
            });
        sql.push_str(&if selective {
            format!(
                " AND id IN (SELECT incident_id FROM alerts WHERE incident_id IS NOT NULL AND ({}))",
                f.sql
            )
        } else {
            format!(
                " AND EXISTS (SELECT 1 FROM alerts WHERE alerts.incident_id = incidents.id AND ({}))",
                f.sql
            )
        });
        args.extend(super::alerts::bind(f.params, recent, false));
    }
    let count_sql = format!(
        "SELECT count(*) FROM ({sql} LIMIT {})",
        crate::TOTAL_CAP + 1
    );
    let count_args = args.clone();
    if let Some((k, r)) = q.after {
        sql.push_str(" AND (last_update, rid) < (?, ?)");
        args.push(arg(k));
        args.push(arg(r));
    }
    sql.push_str(&format!(
        " ORDER BY last_update DESC, rid DESC LIMIT {}",
        q.page_size + 1
    ));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), row_incident)?;
    let mut items = Vec::new();
    let mut next = None;
    for row in rows {
        let (rec, rid) = row?;
        if items.len() == q.page_size {
            if let Some(last) = items
                .last()
                .map(|(r, rid): &(IncidentRecord, i64)| (r.last_update.micros(), *rid))
            {
                next = Some(last);
            }
            break;
        }
        items.push((rec, rid));
    }
    // A first page that is not full is the whole answer: no second pass to count it (with
    // a filter on the alerts, each pass may read many alert rows).
    let n: i64 = if q.after.is_none() && next.is_none() {
        i64::try_from(items.len()).unwrap_or(i64::MAX)
    } else {
        conn.prepare_cached(&count_sql)?
            .query_row(rusqlite::params_from_iter(count_args), |r| r.get(0))?
    };
    let n = u64::try_from(n).unwrap_or(0);
    Ok(IncidentPage {
        items: items.into_iter().map(|(r, _)| r).collect(),
        next,
        total: n.min(crate::TOTAL_CAP),
        total_is_exact: n <= crate::TOTAL_CAP,
    })
}
