//! Correlation on SQLite: the writer thread keeps a [`Correlator`] warmed with the current
//! window, places each new alert, and persists the effects in the ingest transaction.
use super::incidents::{self, Rollups};
use super::keys::StoredKeys;
use super::names::{self, Name};
use crate::error::StoreError;
use rampart_domain::alert::AlertRecord;
use rampart_domain::correlate::{
    shared_reasons, AlertIn, CorrelationConfig, Correlator, Effect, Effects, Openness, Reason, Via,
    RULE_SHARED_ENTITY,
};
use rampart_domain::entity::{EntityKey, EntityKind};
use rampart_domain::history::{Actor, ActorKind, HistoryEvent};
use rampart_domain::timestamp::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeSet;

/// Fewest placements between two prunes of the engine's memory.
const PRUNE_EVERY: u64 = 10_000;

/// Placements before the next prune, for an engine that holds `tracked` alerts. A prune
/// walks everything the engine holds, so with a fixed interval a window of a million alerts
/// (a busy day's live feed) would be walked every 10,000 alerts: the interval grows with the
/// engine instead, which keeps pruning's cost per alert constant and lets the engine hold at
/// most a quarter more than its window.
fn prune_after(tracked: usize) -> u64 {
    PRUNE_EVERY.max(u64::try_from(tracked / 4).unwrap_or(u64::MAX))
}

/// The engine with what it needs to run inside the writer.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) corr: Correlator,
    newest: Timestamp,
    /// Placements since the last prune.
    placed: u64,
    /// The roll-ups ingest owes incidents (see [`Rollups`]): kept with the engine because
    /// they describe what it decided, and forgotten with it when a write fails, which
    /// [`super::incidents::recover`] then mends from the stored alerts.
    pub(crate) owed: Rollups,
}

/// The correlation actor in history events.
pub(crate) fn actor() -> Actor {
    Actor {
        kind: ActorKind::Correlation,
        name: "correlation".into(),
    }
}

/// A fresh incident id. UUIDv7 is time-ordered, so new ids land at the end of the
/// incident-id indexes instead of at random pages (measured: random v4 ids made the
/// `alerts.incident_id` index the most expensive part of correlating at ingest).
pub(crate) fn new_incident_id() -> String {
    incident_id_of(uuid::Uuid::now_v7().as_u128())
}

/// `inc-` and the 128 bits in 26 characters of Crockford's base32. Its alphabet is in ASCII
/// order, so the text sorts as the number does and new ids still land at the end of the
/// indexes; 30 bytes against 40 for the hyphenated UUID, in every index entry, row and
/// history event that names an incident.
fn incident_id_of(bits: u128) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut id = String::with_capacity(30);
    id.push_str("inc-");
    for i in (0..26).rev() {
        let digit = (bits >> (i * 5)) & 31;
        id.push(char::from(ALPHABET[digit as usize]));
    }
    id
}

/// A link reason as `alerts.link_reasons` holds it: `[kind code, value]`, with the rule as a
/// third element unless it is [`RULE_SHARED_ENTITY`], and without the alert's id (the row
/// has it). As full objects the reasons were about a fifth of a linked alert's row, most of
/// it the alert's own id repeated. Rows written before hold the full objects, which still
/// read.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum StoredReason {
    Shared(i64, String),
    Ruled(i64, String, String),
    Full(Reason),
}

/// Serialises an alert's link reasons for `alerts.link_reasons` (`None` for none).
pub(crate) fn reasons_json(reasons: &[Reason]) -> Option<String> {
    if reasons.is_empty() {
        return None;
    }
    let stored: Vec<StoredReason> = reasons
        .iter()
        .map(|r| {
            if r.rule == RULE_SHARED_ENTITY {
                StoredReason::Shared(r.kind.code(), r.value.clone())
            } else {
                StoredReason::Ruled(r.kind.code(), r.value.clone(), r.rule.clone())
            }
        })
        .collect();
    serde_json::to_string(&stored).ok()
}

/// [`reasons_json`] of the reasons an engine's `via` stands for (the alert's `keys` at those
/// positions), written straight from the keys: identical text, without a [`Reason`] each.
pub(crate) fn via_json(keys: &[EntityKey], via: &[u32]) -> Option<String> {
    if via.is_empty() {
        return None;
    }
    let shared: Vec<(i64, &str)> = via
        .iter()
        .filter_map(|&i| keys.get(i as usize))
        .map(|k| (k.kind.code(), k.value.as_str()))
        .collect();
    serde_json::to_string(&shared).ok()
}

/// Reads `alerts.link_reasons` of alert `alert_id`.
pub(crate) fn reasons_from(json: &str, alert_id: &str) -> Vec<Reason> {
    let stored: Vec<StoredReason> = serde_json::from_str(json).unwrap_or_default();
    stored
        .into_iter()
        .filter_map(|s| {
            let (code, value, rule) = match s {
                StoredReason::Full(r) => return Some(r),
                StoredReason::Shared(c, v) => (c, v, RULE_SHARED_ENTITY.to_string()),
                StoredReason::Ruled(c, v, r) => (c, v, r),
            };
            Some(Reason {
                alert_id: alert_id.to_string(),
                kind: EntityKind::from_code(code)?,
                value,
                rule,
            })
        })
        .collect()
}

impl Engine {
    /// Warms an engine with the stored alerts of the newest window, so a restarted server
    /// correlates exactly as a running one would.
    pub(crate) fn load(conn: &Connection, cfg: &CorrelationConfig) -> Result<Engine, StoreError> {
        let allow = cfg.allow_keys()?;
        // What an engine forgotten with debts, or a process stopped without settling,
        // owed: the window's incidents are read below.
        let now = rampart_domain::clock::Clock::now(&rampart_domain::clock::SystemClock);
        incidents::recover(conn, now)?;
        let mut corr = Correlator::new(cfg, allow);
        // Ingest refuses alerts dated more than an hour ahead of the clock; one stored
        // before it did must not carry the window past every real alert.
        let latest = now.plus_micros(rampart_domain::alert::MAX_AHEAD_MICROS);
        let newest: Option<i64> = conn.query_row(
            "SELECT max(last_activity) FROM alerts WHERE last_activity <= ?1",
            [latest.micros()],
            |r| r.get(0),
        )?;
        let newest = Timestamp::from_micros(newest.unwrap_or(0));
        let cut = newest.micros() - cfg.window_micros();
        // Incidents without alerts are not read either: no alert names them.
        // Redirected incidents are not read: a merge moves their alerts to the survivor, so
        // no alert in the window names one, and keeping every merge ever made would grow
        // the engine for the life of the store (47,931 on the 1M bench store).
        // The incidents active in the window are those its alerts name (an incident's last
        // activity is its latest alert's): found through `alerts_queue` and the id index,
        // as no index on incidents serves last activity. Registered in creation order as a
        // running engine saw it (by the time of the batch that opened them, then by id:
        // ids are minted in order), which breaks ties between merge candidates of equal
        // size. Not in row order: ingest writes new incidents up to a second after it
        // opens them, and a split's or a merge's at once.
        let mut stmt = conn.prepare(
            "SELECT created, id, status, redirect_id, alert_count FROM incidents
             WHERE id IN (SELECT incident_id FROM alerts WHERE last_activity >= ?1 AND incident_id IS NOT NULL)
               AND alert_count > 0 AND status != 'redirected'",
        )?;
        let mut open: Vec<(i64, String, String, Option<String>, i64)> = stmt
            .query_map([cut], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        open.sort_unstable_by(|(c, id, ..), (d, other, ..)| (c, id).cmp(&(d, other)));
        for (_, id, status, redirect, _) in &open {
            corr.restore_incident(id, openness(status), redirect.as_deref());
        }
        let mut stmt = conn.prepare(
            "SELECT id, last_activity, incident_id, link_manual, keys FROM alerts
             WHERE last_activity >= ?1 AND incident_id IS NOT NULL ORDER BY last_activity, rid",
        )?;
        let rows = stmt.query_map([cut], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)? != 0,
                r.get::<_, StoredKeys>(4)?.0,
            ))
        })?;
        for row in rows {
            let (id, at, incident, manual, keys) = row?;
            let at = Timestamp::from_micros(at);
            corr.restore_alert(
                AlertIn {
                    id: &id,
                    at,
                    keys: &keys,
                    digests: None,
                },
                &incident,
                manual,
            );
        }
        // Their alerts older than the window still count when a merge picks its survivor.
        for (_, id, _, _, count) in &open {
            corr.restore_size(id, usize::try_from(*count).unwrap_or(0));
        }
        Ok(Engine {
            corr,
            newest,
            placed: 0,
            owed: Rollups::default(),
        })
    }

    /// An engine over nothing, for a full rebuild.
    pub(crate) fn empty(cfg: &CorrelationConfig) -> Result<Engine, StoreError> {
        Ok(Engine {
            corr: Correlator::new(cfg, cfg.allow_keys()?),
            newest: Timestamp::from_micros(0),
            placed: 0,
            owed: Rollups::default(),
        })
    }

    /// A stand-in that holds nothing, for the slot while the engine is on another thread.
    /// Cheap: empty tables allocate nothing.
    pub(crate) fn vacant() -> Engine {
        Engine {
            corr: Correlator::new(&CorrelationConfig::default(), BTreeSet::new()),
            newest: Timestamp::from_micros(0),
            placed: 0,
            owed: Rollups::default(),
        }
    }

    /// Decides where one new alert goes (pure: no SQL, so it can run beside the writer's
    /// inserts, see `alerts::ingest`). `mint` names new incidents.
    pub(crate) fn decide(
        &mut self,
        id: &str,
        at: Timestamp,
        keys: &[EntityKey],
        digests: Option<&[i64]>,
        mint: &mut dyn FnMut() -> String,
    ) -> Effects {
        self.newest = self.newest.max(at);
        self.placed += 1;
        self.corr.place(
            AlertIn {
                id,
                at,
                keys,
                digests,
            },
            mint,
        )
    }

    /// Prunes the engine's memory once enough alerts were placed since the last prune.
    /// Called between batches, after the last decision, not inside [`Engine::decide`]: a
    /// prune walks everything the engine holds (milliseconds), and in the middle of a batch
    /// the writer waited for it.
    pub(crate) fn prune_if_due(&mut self) {
        if self.placed >= prune_after(self.corr.tracked_alerts()) {
            self.corr.prune(self.newest);
            self.placed = 0;
        }
    }

    /// Decides what a re-send that names `keys` (all its keys now) changes, see
    /// [`Correlator::resend`].
    pub(crate) fn resend(
        &mut self,
        id: &str,
        at: Timestamp,
        keys: &[EntityKey],
        mint: &mut dyn FnMut() -> String,
    ) -> Effects {
        self.newest = self.newest.max(at);
        self.corr.resend(
            AlertIn {
                id,
                at,
                keys,
                digests: None,
            },
            mint,
        )
    }
}

/// Persists what [`Engine::decide`] chose for `rec` (before the alert row is inserted):
/// merges, splits, roll-ups owed. Returns its incident and what it linked through.
pub(crate) fn apply(
    conn: &Connection,
    rec: &AlertRecord,
    effects: Effects,
    now: Timestamp,
    rollups: &mut Rollups,
) -> Result<(std::sync::Arc<str>, Via), StoreError> {
    let mut fresh: Vec<std::sync::Arc<str>> = Vec::new();
    let mut linked = None;
    for e in effects {
        match e {
            Effect::NewIncident { id } => fresh.push(id),
            Effect::Link { incident, via } => {
                // A new incident starts out rolled up from its first alert; an existing
                // one is owed an increment until the debts are written.
                if fresh.contains(&incident) {
                    rollups.create(&incident, rec, now);
                } else {
                    rollups.linked(&incident, rec, now);
                }
                linked = Some((incident, via));
            }
            other => {
                // A split writes the incident it opens (its row must hold the alerts it
                // moves), so a link to it is owed as to any written incident.
                if let Effect::Split { incident, .. } = &other {
                    fresh.retain(|f| f != incident);
                }
                reshape(conn, other, now, rollups)?;
            }
        }
    }
    linked.ok_or_else(|| StoreError::Unavailable("correlation placed no alert".into()))
}

/// Persists what [`Engine::resend`] chose for the stored alert `alert`, which now names
/// `keys` (after its row took the re-send): merges and splits, and the new reasons added to
/// the alert's own. Its incident's roll-up is already owed in full (see
/// [`Rollups::resent`]).
pub(crate) fn apply_resend(
    conn: &Connection,
    alert: &str,
    keys: &[EntityKey],
    effects: Effects,
    now: Timestamp,
    rollups: &mut Rollups,
) -> Result<(), StoreError> {
    for e in effects {
        match e {
            // Incidents that splits open are created by the split itself.
            Effect::NewIncident { .. } => {}
            Effect::Link { via, .. } => {
                if via.is_empty() {
                    continue;
                }
                let reasons = shared_reasons(alert, keys, &via);
                static REASONS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    let by_id = names::on_writer(Name::Id);
                    format!("SELECT rid, link_reasons FROM alerts WHERE {by_id}")
                });
                let Some((rid, stored)) = conn
                    .prepare_cached(&REASONS)?
                    .query_row([alert], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
                    })
                    .optional()?
                else {
                    return Err(StoreError::NotFound);
                };
                let mut all: Vec<Reason> =
                    stored.map(|s| reasons_from(&s, alert)).unwrap_or_default();
                for r in reasons {
                    if !all.contains(&r) {
                        all.push(r);
                    }
                }
                conn.prepare_cached("UPDATE alerts SET link_reasons = ?2 WHERE rid = ?1")?
                    .execute(params![rid, reasons_json(&all)])?;
            }
            other => reshape(conn, other, now, rollups)?,
        }
    }
    Ok(())
}

/// Persists a merge or a split.
fn reshape(
    conn: &Connection,
    effect: Effect,
    now: Timestamp,
    rollups: &mut Rollups,
) -> Result<(), StoreError> {
    match effect {
        Effect::Merge { from, into, via } => {
            // `into`'s row is written at the flush with everything it absorbed.
            if rollups.merge_unwritten(conn, &from, &into, now)? {
                incidents::absorb(conn, &from, &into, &actor(), Some(&via), now)?;
            } else {
                rollups.merged(conn, &from, &into)?;
                incidents::merge(conn, &from, &into, &actor(), Some(&via), now)?;
            }
        }
        Effect::Split {
            alert,
            incident,
            entity,
        } => {
            // The split's new incident is written by the split; the old one, if this batch
            // opened it, is written at the end and then recomputed (`Rollups::full`).
            split(conn, &alert, &incident, &entity, now, rollups)?;
        }
        Effect::NewIncident { .. } | Effect::Link { .. } => {}
    }
    Ok(())
}

fn openness(status: &str) -> Openness {
    match status {
        "resolved" => Openness::Resolved,
        "redirected" => Openness::Redirected,
        _ => Openness::Open,
    }
}

/// Moves an alert out of its incident into a new one because its only link went through an
/// entity that turned out to be common.
fn split(
    conn: &Connection,
    alert: &str,
    incident: &str,
    entity: &EntityKey,
    now: Timestamp,
    rollups: &mut Rollups,
) -> Result<(), StoreError> {
    // Cached statements: a live feed splits often (5,276 alerts per 100,000 in the
    // in-order bench, as keys turn common), and preparing each time was half a split's cost.
    let (rid, rec) = super::triage::by_id(conn, alert)?.ok_or(StoreError::NotFound)?;
    let old = rec.incident_id.clone();
    incidents::create(conn, incident, &rec, now)?;
    conn.prepare_cached("UPDATE alerts SET incident_id = ?2, link_reasons = NULL WHERE rid = ?1")?
        .execute(params![rid, incident])?;
    super::alerts::append_history(
        conn,
        &HistoryEvent {
            seq: 0,
            target_id: alert.into(),
            at: now,
            actor: actor(),
            action: "unlinked".into(),
            field: Some("incidentId".into()),
            old_value: old.clone(),
            new_value: Some(incident.into()),
            text: Some(format!(
                "{}:{} turned out to be common (seen on many hosts), so it no longer links alerts",
                entity.kind, entity.value
            )),
        },
    )?;
    if let Some(o) = old {
        rollups.full(&o);
    }
    rollups.full(incident);
    Ok(())
}

/// Which incident ids the rebuild may reuse, so that a rebuild with unchanged settings keeps
/// every id (and the triage attached to it) and rewrites no alert row.
///
/// Reuse happens twice. While placing, the first alert that needs a new incident takes the
/// id its incident had before, if no other alert took it yet. That alone follows the alert,
/// not the group: when a chain of incidents later merges or splits, the group that ends up
/// with most of an old incident's alerts often carries another id, and would move every
/// run. So once every alert is placed, [`Reuse::settle`] relabels the groups.
#[derive(Debug, Default)]
pub(crate) struct Reuse {
    claimed: BTreeSet<String>,
}

impl Reuse {
    pub(crate) fn mint(&mut self, previous: Option<&str>) -> String {
        match previous {
            Some(p) if self.claimed.insert(p.to_string()) => p.to_string(),
            _ => {
                let id = new_incident_id();
                self.claimed.insert(id.clone());
                id
            }
        }
    }

    /// Relabels the rebuilt groups in `final_of` (alert id → incident id): each group takes
    /// the previous incident id (`previous`: alert id → incident before the rebuild) that
    /// most of its alerts share, largest shares first, each id at most once. Incidents in
    /// `pinned` (resolved, or holding manual links) hold alerts the rebuild did not place:
    /// alerts placed into one stay there, and a group whose largest share came from one
    /// joins it, so an incident with a manual link keeps its own alerts (and its triage
    /// stays with them). A group left without a previous id keeps its own, or gets a new
    /// one if another group took it. Ties go to the smaller id, so the outcome does not
    /// depend on hash order.
    pub(crate) fn settle(
        final_of: &mut std::collections::HashMap<String, String>,
        previous: &std::collections::HashMap<&str, &str>,
        pinned: &std::collections::HashSet<String>,
    ) {
        use std::collections::{BTreeSet, HashMap, HashSet};
        let mut votes: HashMap<(&str, &str), u64> = HashMap::new();
        for (alert, to) in final_of.iter() {
            if pinned.contains(to) {
                continue;
            }
            if let Some(prev) = previous.get(alert.as_str()) {
                *votes.entry((to.as_str(), prev)).or_default() += 1;
            }
        }
        let mut ranked: Vec<((&str, &str), u64)> = votes.into_iter().collect();
        ranked.sort_unstable_by(|(a, n), (b, m)| m.cmp(n).then(a.cmp(b)));
        let mut label: HashMap<&str, String> = HashMap::new();
        // Pinned incidents are taken by nobody yet: one group may still join each.
        let mut taken: HashSet<&str> = HashSet::new();
        for ((to, prev), _) in ranked {
            if !label.contains_key(to) && taken.insert(prev) {
                label.insert(to, prev.to_string());
            }
        }
        taken.extend(pinned.iter().map(String::as_str));
        let groups: BTreeSet<&str> = final_of
            .values()
            .map(String::as_str)
            .filter(|g| !pinned.contains(*g))
            .collect();
        for g in groups {
            if !label.contains_key(g) {
                let own = if taken.insert(g) {
                    g.to_string()
                } else {
                    new_incident_id()
                };
                label.insert(g, own);
            }
        }
        let label: HashMap<String, String> = label
            .into_iter()
            .filter(|(g, l)| g != l)
            .map(|(g, l)| (g.to_string(), l))
            .collect();
        for to in final_of.values_mut() {
            if let Some(l) = label.get(to.as_str()) {
                to.clone_from(l);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::Reuse;
    use std::collections::{HashMap, HashSet};

    fn run(groups: &[(&str, &str, &str)], pinned: &[&str]) -> HashMap<String, String> {
        let mut final_of: HashMap<String, String> = groups
            .iter()
            .map(|(a, to, _)| (a.to_string(), to.to_string()))
            .collect();
        let previous: HashMap<&str, &str> = groups.iter().map(|(a, _, p)| (*a, *p)).collect();
        let pinned: HashSet<String> = pinned.iter().map(|p| p.to_string()).collect();
        Reuse::settle(&mut final_of, &previous, &pinned);
        final_of
    }

    /// Pruning waits longer as the engine grows, never less than the fixed interval.
    #[test]
    fn the_prune_interval_grows_with_the_engine() {
        use super::{prune_after, PRUNE_EVERY};
        assert_eq!(prune_after(0), PRUNE_EVERY);
        assert_eq!(prune_after(40_000), PRUNE_EVERY);
        assert_eq!(prune_after(1_000_000), 250_000);
    }

    /// Incident ids sort as the numbers they encode (so new ones append to the indexes).
    #[test]
    fn incident_ids_are_short_and_sort_as_their_bits() {
        use super::incident_id_of;
        assert_eq!(incident_id_of(0), "inc-00000000000000000000000000");
        assert_eq!(incident_id_of(u128::MAX), "inc-7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
        let samples = [
            1u128,
            31,
            32,
            1 << 64,
            (1 << 64) + 1,
            u128::MAX / 3,
            u128::MAX - 1,
        ];
        for a in samples {
            for b in samples {
                assert_eq!(
                    a.cmp(&b),
                    incident_id_of(a).cmp(&incident_id_of(b)),
                    "{a} {b}"
                );
            }
        }
        assert_eq!(super::new_incident_id().len(), 30);
    }

    /// Link reasons are stored without the alert's id and read back whole; rows written
    /// before, with full objects, read as they did.
    #[test]
    fn link_reasons_round_trip_compactly_and_old_rows_still_read() {
        use super::{reasons_from, reasons_json};
        use rampart_domain::correlate::Reason;
        use rampart_domain::entity::{EntityKey, EntityKind};
        let reason = |kind, value: &str, rule: &str| Reason {
            alert_id: "da-1".into(),
            kind,
            value: value.into(),
            rule: rule.into(),
        };
        let reasons = vec![
            reason(EntityKind::Device, "ws-033", "sharedEntity"),
            reason(EntityKind::User, "lena \"the\" admin", "merged"),
        ];
        let json = reasons_json(&reasons).unwrap();
        assert!(!json.contains("da-1"), "{json}");
        assert!(
            json.len() < serde_json::to_string(&reasons).unwrap().len() / 2,
            "{json}"
        );
        assert_eq!(reasons_from(&json, "da-1"), reasons);
        assert_eq!(reasons_json(&[]), None);
        let old = r#"[{"alertId":"da-1","kind":"ip","value":"10.0.0.5","rule":"sharedEntity"}]"#;
        assert_eq!(
            reasons_from(old, "da-1"),
            vec![reason(EntityKind::Ip, "10.0.0.5", "sharedEntity")]
        );
        assert!(reasons_from("not json", "da-1").is_empty());
        // Ingest writes the engine's positions straight from the alert's keys: the same
        // text as through whole reasons.
        let keys = [
            EntityKey {
                kind: EntityKind::Device,
                value: "ws-033".into(),
            },
            EntityKey {
                kind: EntityKind::User,
                value: "lena \"the\" admin".into(),
            },
            EntityKey {
                kind: EntityKind::Ip,
                value: "10.0.0.5".into(),
            },
        ];
        let via = [2, 0];
        let shared = rampart_domain::correlate::shared_reasons("da-1", &keys, &via);
        assert_eq!(super::via_json(&keys, &via), reasons_json(&shared));
        assert_eq!(
            reasons_from(&super::via_json(&keys, &via).unwrap(), "da-1"),
            shared
        );
        assert_eq!(super::via_json(&keys, &[]), None);
    }

    /// A split left the old id on the smaller part: the larger part takes it back, the
    /// smaller one gets a new id, so the fewest alerts move.
    #[test]
    fn the_larger_share_keeps_the_old_id() {
        let out = run(
            &[
                ("a1", "P", "P"),
                ("a2", "N", "P"),
                ("a3", "N", "P"),
                ("a4", "Q", "Q"),
            ],
            &[],
        );
        assert_eq!(out["a2"], "P");
        assert_eq!(out["a3"], "P");
        assert_eq!(out["a4"], "Q");
        assert!(out["a1"] != "P" && out["a1"] != "Q" && out["a1"] != "N");
    }

    /// An incident kept as it is (resolved, or holding a manual link) keeps its id and the
    /// alerts placed into it; a group whose largest share came from it joins it, so the
    /// analyst's incident keeps its own alerts; a second group from it gets an id of its own.
    #[test]
    fn a_group_from_a_pinned_incident_joins_it() {
        let out = run(
            &[
                ("a1", "M", "M"),
                ("a2", "N", "M"),
                ("a3", "N", "M"),
                ("a4", "P", "Q"),
                ("a5", "R", "M"),
            ],
            &["M", "P"],
        );
        assert_eq!(out["a1"], "M");
        assert_eq!(out["a2"], "M");
        assert_eq!(out["a3"], "M");
        assert_eq!(out["a4"], "P", "a pinned incident is never relabelled");
        assert!(out["a5"] != "M" && out["a5"] != "P", "{}", out["a5"]);
    }
}
