//! The newest part of the entity index, held in memory.
//!
//! Each alert adds about fourteen entity rows, keyed by a digest, so they land at random
//! places in the newest part of the index, and nearly every commit rewrote most of that
//! part's pages: the index was the largest writer to the WAL and its inserts a fifth of the
//! writer thread's time (docs/benchmarks.md, "Seventh session"). Here the rows of the part
//! being filled stay in memory as sorted runs. When the first alert of the next part arrives,
//! the full part is written to the `entities` table in key order, in that same transaction,
//! so each of its pages is written once.
//!
//! Nothing new is stored for this: the rows in memory are the digests of the `keys` column of
//! the part's alerts and of their names (id and provider key, see `entity_index.rs`), so
//! opening the store rebuilds them from those rows ([`RecentIndex::load`]).
//!
//! Readers ask this index as well as the table ([`RecentIndex::rids`], bound as an array
//! parameter, see `filter.rs`). Ingest stages its rows while its transaction is open and
//! publishes them only after COMMIT, before it replies; a failed job or transaction drops what
//! it staged. A reader binds the index's matches before its statement takes its snapshot,
//! and a seal is published only after it commits. So a reader that still saw a part in
//! memory may read the table before or after the seal, and one that no longer sees the part
//! reads the table after the seal: either way it finds the part's rows.
//!
//! One gap is accepted: a reader that binds between a COMMIT and its publication (a few
//! microseconds) sees the new alerts' rows but not their entity rows, so an entity filter
//! run at that instant misses them. The writer replies only after publishing, so a producer
//! or analyst always sees their own writes. Runs are merged under the write lock, which
//! holds readers up for a few milliseconds near the end of a part.
use crate::entity_index::{value_hash, ALERT_ID, PROVIDER_KEY};
use crate::error::StoreError;
use rusqlite::types::Value;
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, RwLock};

/// One row: sorted by kind, digest, then the alert's offset in the part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    kind: u16,
    hash: i64,
    off: u32,
}

/// A part's rows, as sorted runs: a new run per commit, merged so that there are only about
/// log₂(rows) of them.
#[derive(Debug, Default)]
struct Part {
    part: i64,
    runs: Vec<Vec<Entry>>,
}

impl Part {
    fn push(&mut self, mut run: Vec<Entry>) {
        if run.is_empty() {
            return;
        }
        // A commit's rows arrive as one sorted run per batch: the stable sort merges runs
        // it finds instead of sorting from scratch.
        run.sort();
        run.dedup();
        self.runs.push(run);
        while let [.., a, b] = &self.runs[..] {
            if a.len() > 2 * b.len() {
                break;
            }
            let (Some(b), Some(a)) = (self.runs.pop(), self.runs.pop()) else {
                break;
            };
            self.runs.push(merge(a, b));
        }
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.runs.iter().flatten()
    }

    fn find(&self, kind: u16, hash: i64, base: i64, out: &mut Vec<i64>) {
        for run in &self.runs {
            let from = run.partition_point(|e| (e.kind, e.hash) < (kind, hash));
            out.extend(
                run[from..]
                    .iter()
                    .take_while(|e| e.kind == kind && e.hash == hash)
                    .map(|e| base + i64::from(e.off)),
            );
        }
    }
}

fn merge(a: Vec<Entry>, b: Vec<Entry>) -> Vec<Entry> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x <= y => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(e) if out.last() != Some(&e) => out.push(e),
            Some(_) => {}
            None => return out,
        }
    }
}

/// What the writer's open transaction has added.
#[derive(Debug, Default)]
struct Staged {
    /// (part, kind, digest, rid), in the order written: sorted runs, one per batch.
    rows: Vec<(i64, i64, i64, i64)>,
    /// Where each run of `rows` starts, so that a lookup by name searches instead of
    /// scanning every row the transaction staged.
    runs: Vec<usize>,
    /// The names of each alert inserted, by (kind, digest), at once: a batch stages its rows
    /// only when it is done, and an alert may be looked up by name before that (a
    /// correlation split of an alert inserted earlier in the batch). The same rows reach
    /// `rows` with the batch's. A map: a transaction can stage tens of thousands of names,
    /// and each alert the filter of stored names is unsure of looks up two.
    named: HashMap<(i64, i64), Vec<i64>>,
    /// The keys of `named` in the order staged, so that a rewind can take back a job's.
    names: Vec<(i64, i64)>,
    /// The part the transaction moved on to, once it sealed the one before.
    current: Option<i64>,
}

impl Staged {
    /// Adds the rowids of staged rows filed under (kind, digest) to `out`.
    fn find(&self, kind: i64, hash: i64, out: &mut Vec<i64>) {
        if let Some(rids) = self.named.get(&(kind, hash)) {
            out.extend(rids);
        }
        let ends = self.runs.iter().skip(1).copied().chain([self.rows.len()]);
        for (start, end) in self.runs.iter().copied().zip(ends) {
            // A run holds one part's rows, sorted.
            let run = &self.rows[start..end];
            let from = run.partition_point(|r| (r.1, r.2) < (kind, hash));
            out.extend(
                run[from..]
                    .iter()
                    .take_while(|r| r.1 == kind && r.2 == hash)
                    .map(|r| r.3),
            );
        }
    }
}

/// Where a job's staging began, to drop it again if the job fails.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    rows: usize,
    runs: usize,
    names: usize,
    current: Option<i64>,
}

/// The in-memory part of the entity index (see the module docs).
#[derive(Debug)]
pub(crate) struct RecentIndex {
    shift: u32,
    /// Committed rows of the part being filled.
    part: RwLock<Part>,
    staged: Mutex<Staged>,
}

impl RecentIndex {
    /// Rebuilds the rows of the newest part from its alerts' `keys`.
    pub(crate) fn load(conn: &Connection, shift: u32) -> Result<RecentIndex, StoreError> {
        let max: Option<i64> = conn.query_row("SELECT max(rid) FROM alerts", [], |r| r.get(0))?;
        let part = max.unwrap_or(0) >> shift;
        let base = part << shift;
        let mut stmt =
            conn.prepare("SELECT rid, keys, id, provider_key FROM alerts WHERE rid >= ?1")?;
        let mut rows = stmt.query([base])?;
        let mut run = Vec::new();
        while let Some(row) = rows.next()? {
            let rid: i64 = row.get(0)?;
            let keys: super::keys::StoredKeys = row.get(1)?;
            let id: String = row.get(2)?;
            let provider_key: Option<String> = row.get(3)?;
            let entities = keys.0.iter().map(|k| (k.kind.code(), &*k.value));
            let names = std::iter::once((ALERT_ID, id.as_str()))
                .chain(provider_key.as_deref().map(|k| (PROVIDER_KEY, k)));
            for (kind, value) in entities.chain(names) {
                if let Some(e) = entry(kind, value_hash(value), rid, base) {
                    run.push(e);
                }
            }
        }
        let mut p = Part {
            part,
            runs: Vec::new(),
        };
        p.push(run);
        Ok(RecentIndex {
            shift,
            part: RwLock::new(p),
            staged: Mutex::new(Staged::default()),
        })
    }

    /// Reads the newest part again from its alerts' `keys` and drops what is staged: another
    /// process may have written alerts since this one opened the store (see `claim.rs`).
    /// Runs on the writer thread, before this process stages anything.
    pub(crate) fn reload(&self, conn: &Connection) -> Result<(), StoreError> {
        let fresh = RecentIndex::load(conn, self.shift)?;
        let part = fresh.part.into_inner().unwrap_or_else(|e| e.into_inner());
        *self.part.write().unwrap_or_else(|e| e.into_inner()) = part;
        *self.staged() = Staged::default();
        Ok(())
    }

    /// The part an alert's rows belong to.
    pub(crate) fn part_of(&self, rid: i64) -> i64 {
        rid >> self.shift
    }

    fn staged(&self) -> MutexGuard<'_, Staged> {
        self.staged.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn published(&self) -> std::sync::RwLockReadGuard<'_, Part> {
        self.part.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a batch's entity rows, (part, kind, digest, rid) sorted: rows of older parts (a
    /// re-send that names new entities) go to the table at once; rows of the part being
    /// filled are staged. `newest` is the highest rowid the batch inserted: once it is in a
    /// newer part, the part being filled is sealed, even by alerts that name no entity
    /// (opening rebuilds only the part of the highest rowid).
    pub(crate) fn add(
        &self,
        conn: &Connection,
        rows: &[(i64, i64, i64, i64)],
        newest: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut st = self.staged();
        let current = st.current.unwrap_or_else(|| self.published().part);
        let split = rows.partition_point(|r| r.0 < current);
        write(conn, &rows[..split])?;
        let newer = &rows[split..];
        let reached = newest.map(|rid| self.part_of(rid));
        let Some(last) = newer.last().map(|r| r.0).max(reached) else {
            return Ok(());
        };
        if last > current {
            // Seal every part before `last`: what is in memory and what this batch adds.
            let mut seal: Vec<(i64, i64, i64, i64)> = st
                .rows
                .iter()
                .copied()
                .filter(|r| r.0 >= current && r.0 < last)
                .collect();
            let p = self.published();
            if p.part == current {
                let base = p.part << self.shift;
                seal.extend(
                    p.entries()
                        .map(|e| (p.part, i64::from(e.kind), e.hash, base + i64::from(e.off))),
                );
            }
            drop(p);
            seal.extend(newer.iter().copied().filter(|r| r.0 < last));
            // Sorted runs end to end (the part's, the staged batches', this batch's): the
            // stable sort merges them, where an unstable sort redid the whole part, 8 % of
            // the writer's time in a bench ingest.
            seal.sort();
            seal.dedup();
            let started = std::time::Instant::now();
            write(conn, &seal)?;
            tracing::debug!(
                part = current,
                rows = seal.len(),
                ms = started.elapsed().as_millis() as u64,
                "entity-index part written to the table"
            );
            st.current = Some(last);
        }
        let start = st.rows.len();
        st.rows
            .extend(newer.iter().copied().filter(|r| r.0 == last));
        if st.rows.len() > start {
            st.runs.push(start);
        }
        Ok(())
    }

    /// Stages an inserted alert's name at once (see `Staged::named`).
    pub(crate) fn stage_name(&self, kind: i64, hash: i64, rid: i64) {
        let mut st = self.staged();
        st.names.push((kind, hash));
        st.named.entry((kind, hash)).or_default().push(rid);
    }

    /// Where the next job's staging begins.
    pub(crate) fn mark(&self) -> Mark {
        let st = self.staged();
        Mark {
            rows: st.rows.len(),
            runs: st.runs.len(),
            names: st.names.len(),
            current: st.current,
        }
    }

    /// Drops what a failed job staged (its SQL was rolled back with it).
    pub(crate) fn rewind(&self, m: Mark) {
        let mut st = self.staged();
        st.rows.truncate(m.rows);
        st.runs.truncate(m.runs);
        let keep = m.names.min(st.names.len());
        for (kind, hash) in st.names.split_off(keep) {
            if let Some(rids) = st.named.get_mut(&(kind, hash)) {
                rids.pop();
                if rids.is_empty() {
                    st.named.remove(&(kind, hash));
                }
            }
        }
        st.current = m.current;
    }

    /// The transaction failed: drop everything it staged.
    pub(crate) fn rolled_back(&self) {
        *self.staged() = Staged::default();
    }

    /// The transaction committed: its rows become visible to readers.
    pub(crate) fn committed(&self) {
        let st = std::mem::take(&mut *self.staged());
        let mut newest = self.part.write().unwrap_or_else(|e| e.into_inner());
        if let Some(next) = st.current {
            // The part before is in the table now (see the module docs).
            *newest = Part {
                part: next,
                runs: Vec::new(),
            };
        }
        let base = newest.part << self.shift;
        let run = st
            .rows
            .iter()
            .filter(|r| r.0 == newest.part)
            .filter_map(|r| entry(r.1, r.2, r.3, base))
            .collect();
        newest.push(run);
    }

    /// Sorted runs held.
    #[cfg(test)]
    pub(crate) fn runs(&self) -> usize {
        self.published().runs.len()
    }

    /// Rows of the alerts that name any of `hashes` (of entity kind `kind`), as an array
    /// parameter. `staged`: also the writer's open transaction (for queries on the writer).
    pub(crate) fn rids(&self, kind: i64, hashes: &[i64], staged: bool) -> Vec<Value> {
        let mut out = Vec::new();
        if let Ok(k) = u16::try_from(kind) {
            let p = self.published();
            let base = p.part << self.shift;
            for h in hashes {
                p.find(k, *h, base, &mut out);
            }
        }
        if staged {
            let st = self.staged();
            for h in hashes {
                st.find(kind, *h, &mut out);
            }
        }
        out.sort_unstable();
        out.dedup();
        out.into_iter().map(Value::Integer).collect()
    }

    /// [`RecentIndex::rids`] of one digest, staged rows included, as a JSON array: what the
    /// writer connection's `rampart_newest_rids(kind, digest)` returns (see `names.rs`).
    pub(crate) fn rids_json(&self, kind: i64, hash: i64) -> String {
        let rids = self.rids(kind, &[hash], true);
        let mut out = String::from("[");
        for (i, v) in rids.iter().enumerate() {
            if let Value::Integer(r) = v {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&r.to_string());
            }
        }
        out.push(']');
        out
    }
}

fn entry(kind: i64, hash: i64, rid: i64, base: i64) -> Option<Entry> {
    Some(Entry {
        kind: u16::try_from(kind).ok()?,
        hash,
        off: u32::try_from(rid - base).ok()?,
    })
}

/// Rows per INSERT statement when writing to the table: a seal writes about 900,000 rows,
/// and per-statement work (binding, stepping, resetting) was a third of its time.
const ROWS_PER_INSERT: usize = 128;

/// Inserts sorted (part, kind, digest, rid) rows into the table, registering their parts.
fn write(conn: &Connection, rows: &[(i64, i64, i64, i64)]) -> Result<(), StoreError> {
    let mut part_stmt =
        conn.prepare_cached("INSERT OR IGNORE INTO entity_parts (part) VALUES (?1)")?;
    let mut last_part = None;
    for (part, ..) in rows {
        if last_part != Some(*part) {
            part_stmt.execute([part])?;
            last_part = Some(*part);
        }
    }
    let insert = |n: usize| {
        conn.prepare_cached(&format!(
            "INSERT OR IGNORE INTO entities (part, kind, value_hash, rid) VALUES {}",
            vec!["(?, ?, ?, ?)"; n].join(", ")
        ))
    };
    let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
    for chunk in &mut chunks {
        let values = chunk.iter().flat_map(|(p, k, h, r)| [*p, *k, *h, *r]);
        insert(ROWS_PER_INSERT)?.execute(rusqlite::params_from_iter(values))?;
    }
    // The rest one by one: one statement per length would crowd the statement cache.
    let mut one = insert(1)?;
    for (p, k, h, r) in chunks.remainder() {
        one.execute([p, k, h, r])?;
    }
    Ok(())
}
