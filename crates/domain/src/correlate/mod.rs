//! Correlation: which incident a new alert belongs to, and why.
//!
//! A pure, in-memory engine over the alerts of a sliding window. The store feeds it each new
//! alert's entity keys in ingest order and persists the [`Effect`]s it returns; the same
//! engine rebuilds every automatic incident from stored alerts (`rampart correlate`). Rules:
//!
//! - A new alert joins an open incident that another alert reached through a shared *strong*
//!   entity (device, account, mailbox, file hash, IP, URL, domain, process, mail message)
//!   seen within the window of the new alert's activity. Several such incidents are merged
//!   into the oldest; the others become `redirected`.
//! - Weak and common entities never glue. An entity is *common* once alerts mentioning it in
//!   the window involve more than `max_prevalence` distinct hosts (for a device: distinct
//!   accounts), or when the operator allow-lists it. Because the first few sightings of a
//!   common entity cannot be told from an attack spreading, links made *only* through an
//!   entity are undone when it turns common: those alerts move to incidents of their own.
//! - Processes and mail messages are unique by construction (device + pid + creation time;
//!   message id) and are never common.
//! - Resolved and redirected incidents take no new alerts: a new alert that would have
//!   joined a resolved incident starts a new one, so a closed case stays closed.
//! - Manual links are sticky: nothing here moves an alert an analyst placed.
use crate::entity::{value_digest, EntityKey, EntityKind};
use crate::timestamp::{Timestamp, DAY_MICROS};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

mod slab;
use slab::{Ref, Slab};

/// The engine's maps: hashed with foldhash (randomly seeded per process, so producers cannot
/// precompute colliding entity values) rather than SipHash, which was 7 % of a full rebuild.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Correlation settings (`[correlation]` in `rampart.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelationConfig {
    /// Group alerts into incidents at ingest (on by default).
    pub enabled: bool,
    /// How far apart (hours) two alerts' activity may be and still correlate.
    pub window_hours: i64,
    /// An entity seen with more distinct hosts (or, for a host, accounts) than this within
    /// the window is common and never a correlation key.
    pub max_prevalence: usize,
    /// Entities that never correlate, as `kind:value` (e.g. `ip:10.0.0.53`,
    /// `user:svc-scanner`), normalised like the entity index.
    pub allow_list: Vec<String>,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        CorrelationConfig {
            enabled: true,
            window_hours: 24,
            max_prevalence: 5,
            allow_list: Vec::new(),
        }
    }
}

impl CorrelationConfig {
    /// The window in microseconds.
    pub fn window_micros(&self) -> i64 {
        self.window_hours.saturating_mul(DAY_MICROS / 24)
    }

    /// The allow-list as entity keys; an entry that does not parse is an error naming it.
    pub fn allow_keys(&self) -> Result<BTreeSet<EntityKey>, crate::DomainError> {
        self.allow_list
            .iter()
            .map(|e| {
                let (kind, value) = e.split_once(':').ok_or_else(|| {
                    crate::DomainError::invalid(
                        "correlation.allow_list",
                        format!("{e:?}: expected kind:value, e.g. ip:10.0.0.53"),
                    )
                })?;
                let kind = EntityKind::parse_loose(kind).ok_or_else(|| {
                    crate::DomainError::invalid(
                        "correlation.allow_list",
                        format!(
                            "{e:?}: unknown kind; expected one of {}",
                            EntityKind::expected()
                        ),
                    )
                })?;
                let value = crate::entity::normalise(kind, value).ok_or_else(|| {
                    crate::DomainError::invalid(
                        "correlation.allow_list",
                        format!("{e:?}: empty value"),
                    )
                })?;
                Ok(EntityKey { kind, value })
            })
            .collect()
    }
}

/// Entity kinds that can glue alerts together.
pub const STRONG_KINDS: &[EntityKind] = &[
    EntityKind::Device,
    EntityKind::User,
    EntityKind::Mailbox,
    EntityKind::Ip,
    EntityKind::Url,
    EntityKind::Domain,
    EntityKind::FileSha256,
    EntityKind::FileSha1,
    EntityKind::FileMd5,
    EntityKind::Process,
    EntityKind::MailMessage,
];

/// Values that name no one in particular, so they never link alerts and are not counted as
/// a host's accounts: the built-in service accounts every Windows machine runs as
/// (`NT AUTHORITY\SYSTEM` and its SID, LOCAL and NETWORK SERVICE, anonymous), and addresses
/// every host has (loopback, unspecified, link-local). Until five hosts had been seen with
/// one of them, it glued unrelated machines together. `value` is normalised
/// ([`crate::entity::normalise`]).
pub fn is_generic(kind: EntityKind, value: &str) -> bool {
    match kind {
        EntityKind::User => matches!(
            value,
            "system"
                | "localsystem"
                | "local system"
                | "local service"
                | "localservice"
                | "network service"
                | "networkservice"
                | "anonymous logon"
                | "s-1-5-18"
                | "s-1-5-19"
                | "s-1-5-20"
                | "s-1-5-7"
        ),
        // Normalised addresses are in canonical form, so only these beginnings can be
        // host-local: most addresses are told apart without parsing them.
        EntityKind::Ip => {
            [
                "127.", "169.254.", "0.0.0.0", "::", "fe8", "fe9", "fea", "feb",
            ]
            .iter()
            .any(|p| value.starts_with(p))
                && value.parse::<std::net::IpAddr>().is_ok_and(|ip| match ip {
                    std::net::IpAddr::V4(v4) => {
                        v4.is_loopback() || v4.is_unspecified() || v4.is_link_local()
                    }
                    std::net::IpAddr::V6(v6) => {
                        v6.is_loopback() || v6.is_unspecified() || v6.is_unicast_link_local()
                    }
                })
        }
        _ => false,
    }
}

/// The rule that made a link, as shown on the incident page.
pub const RULE_SHARED_ENTITY: &str = "sharedEntity";

/// The rule of an alert placed by hand (linked, unlinked or merged by an analyst): its
/// reason names no entity.
pub const RULE_MANUAL: &str = "manual";

/// Why an alert is in its incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    pub alert_id: String,
    /// Entity kind (`device`, `user`, `ip`, …).
    pub kind: EntityKind,
    pub value: String,
    /// `sharedEntity`, `manual`, or `merged`.
    pub rule: String,
}

/// Why an alert joined its incident ([`Effect::Link`]): the positions, in the keys it was
/// placed with, of the entities it linked through, each entity once, in entity order; empty
/// for the first alert of an incident. Positions, not [`Reason`]s: the caller holds the
/// keys, and building a reason's three strings for every link, then freeing them on the
/// writer thread, was a tenth of the engine's thread.
pub type Via = SmallVec<[u32; 2]>;

/// What one decision asks of the store, in order: inline for the usual one or two (a new
/// incident and the link), so a decision needs no list on the heap. (Measured against a
/// `Vec`: no difference beyond noise; kept because it costs nothing.)
pub type Effects = SmallVec<[Effect; 2]>;

/// What the store must do after a decision. Ids are the engine's own (shared, not copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Create incident `id`.
    NewIncident { id: Arc<str> },
    /// Put the alert being placed (or re-sent) in `incident` because of the keys `via`
    /// names ([`shared_reasons`]). Always the last effect. The alert is not named: every
    /// caller knows which alert it placed.
    Link { incident: Arc<str>, via: Via },
    /// Move every alert of `from` into `into`; `from` becomes redirected.
    Merge {
        from: Arc<str>,
        into: Arc<str>,
        via: Reason,
    },
    /// Move `alert` out into the new incident `incident`: its only link went through an
    /// entity that turned out to be common.
    Split {
        alert: Arc<str>,
        incident: Arc<str>,
        entity: EntityKey,
    },
}

/// The reasons an [`Effect::Link`]'s `via` stands for: alert `alert_id`, placed with `keys`,
/// shares each of those entities with its incident.
pub fn shared_reasons(alert_id: &str, keys: &[EntityKey], via: &[u32]) -> Vec<Reason> {
    via.iter()
        .filter_map(|&i| keys.get(i as usize))
        .map(|k| Reason {
            alert_id: alert_id.to_string(),
            kind: k.kind,
            value: k.value.clone(),
            rule: RULE_SHARED_ENTITY.into(),
        })
        .collect()
}

/// Incident status as correlation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Openness {
    Open,
    Resolved,
    Redirected,
}

/// Where a key was seen: an incident, the latest activity there, and how many of the
/// incident's alerts carry the key.
#[derive(Debug, Clone, Copy)]
struct Sighting {
    incident: Ref,
    last: Timestamp,
    count: u32,
}

/// A key as the engine holds it: no text, its kind and its value's digest. Two values are
/// one key when those match, as in the entity index: to pass a value off as someone else's
/// device or account a producer needs a second preimage of 64 bits of SHA-256 (2^64
/// tries), and among a million distinct values the chance that any two share a digest is
/// about 3 in 100 million. Copying each new key's text into the engine was a sixth of its
/// thread, and a second hash of the text to tell digests apart cost nearly as much. What
/// needs the text (link reasons, splits) takes it from the alert being placed, which names
/// every key it links through.
#[derive(Debug, Clone)]
struct KeyState {
    kind: EntityKind,
    digest: i64,
    /// Inline for one: most keys are seen in one incident, and a heap allocation for each
    /// new key's first sighting was a fifth of the engine's time.
    incidents: SmallVec<[Sighting; 1]>,
    /// Distinct counterpart assets (hashed values) with when they were last seen (capped).
    assets: SmallVec<[(u64, Timestamp); 1]>,
    common: bool,
}

#[derive(Debug, Clone)]
struct AlertState {
    id: Arc<str>,
    incident: Ref,
    manual: bool,
    /// Its correlating keys and activity.
    keys: Vec<Ref>,
    at: Timestamp,
}

#[derive(Debug, Clone)]
struct IncidentState {
    id: Arc<str>,
    open: Openness,
    /// The incident this one was merged into; the id is kept because the survivor may be
    /// pruned before the redirect is (callers still ask where a merged incident went).
    redirect: Option<(Ref, Arc<str>)>,
    /// Creation order, to break ties when choosing the survivor of a merge.
    order: u64,
    /// Alerts currently in it (as far as the window reaches).
    members: Vec<Ref>,
    /// Its alerts the engine no longer holds (pruned, or older than the window it was
    /// loaded with): counted when choosing the survivor of a merge, which goes to the
    /// incident with the most alerts, not the most remembered ones.
    forgotten: usize,
}

/// One alert as the engine needs it.
#[derive(Debug, Clone, Copy)]
pub struct AlertIn<'a> {
    pub id: &'a str,
    /// The alert's last activity: what the window is measured from.
    pub at: Timestamp,
    pub keys: &'a [EntityKey],
    /// The [`value_digest`] of each key's value, in `keys`' order, when the caller has
    /// them already (ingest computes them for the entity index): hashing each key's text
    /// again was a third of interning an alert's keys. `None`, or a list that does not
    /// match `keys`, and the engine computes them.
    pub digests: Option<&'a [i64]>,
}

impl AlertIn<'_> {
    /// The digests of its keys' values: the caller's, or computed here. Only strong keys'
    /// are ever read (interning and counterparts take nothing else), so the others are not
    /// computed: SHA-256 of every key was a tenth of a rebuild.
    fn digests(&self) -> std::borrow::Cow<'_, [i64]> {
        match self.digests {
            Some(d) if d.len() == self.keys.len() => std::borrow::Cow::Borrowed(d),
            _ => self
                .keys
                .iter()
                .map(|k| {
                    if STRONG_KINDS.contains(&k.kind) {
                        value_digest(&k.value)
                    } else {
                        0
                    }
                })
                .collect(),
        }
    }
}

/// Where a key goes in the engine's key table: its kind and its value's digest, hashed with
/// the engine's random seed. The digest alone would do as a hash, but the table picks
/// buckets by its low bits, and a producer could grind values whose digests share them
/// (about 2^20 tries each) to pile keys into one probe chain; seeded, it cannot.
fn key_hash(hasher: &foldhash::fast::RandomState, kind: EntityKind, digest: i64) -> u64 {
    hasher.hash_one((kind.code(), digest))
}

/// The correlation engine.
///
/// Alerts, keys and incidents live in slabs and refer to each other by handle; the id maps
/// are consulted once per string an alert brings. Owned strings for every sighting and
/// membership made placing an alert allocation-bound and the engine most of the server's
/// memory.
#[derive(Debug, Clone)]
pub struct Correlator {
    window: i64,
    max_prevalence: usize,
    allow: BTreeSet<EntityKey>,
    /// Key → handle, by the key's hash ([`key_hash`]) with the handle. The hash is kept
    /// beside the handle so a probe compares it in the table and reads a key's state (a
    /// cache miss) only when the hashes match.
    key_ix: hashbrown::HashTable<(u64, Ref)>,
    /// Seeds [`key_hash`] (randomly, like the maps).
    key_hasher: foldhash::fast::RandomState,
    keys: Slab<KeyState>,
    alert_ix: Map<Arc<str>, Ref>,
    alerts: Slab<AlertState>,
    incident_ix: Map<Arc<str>, Ref>,
    incidents: Slab<IncidentState>,
    order: u64,
}

/// Most counterpart assets remembered per key (beyond the threshold nothing changes).
fn asset_cap(k: usize) -> usize {
    k + 1
}

/// Stands in for a key the engine no longer holds (never expected: an alert in the window
/// keeps its keys alive).
fn blank_key() -> EntityKey {
    EntityKey {
        kind: EntityKind::Device,
        value: String::new(),
    }
}

fn never_common(kind: EntityKind) -> bool {
    matches!(kind, EntityKind::Process | EntityKind::MailMessage)
}

/// An alert's candidate counterpart assets by their values' digests: the accounts, hosts
/// and mailboxes it names.
/// Inline: an alert names one or two of each, and three allocations per alert were a
/// twentieth of the engine's thread.
struct Counterparts {
    users: SmallVec<[u64; 2]>,
    devices: SmallVec<[u64; 2]>,
    mailboxes: SmallVec<[u64; 2]>,
}

impl Counterparts {
    fn of(keys: &[EntityKey], digests: &[i64]) -> Self {
        // One account is one counterpart: an alert that names it by name and by SID brings
        // two keys, so its SIDs count only when it names no account by name. Built-in
        // accounts count not at all ([`is_generic`]). Counting every spelling made a host
        // seen with one real user and SYSTEM common after a few alerts.
        let named = keys.iter().any(|e| {
            e.kind == EntityKind::User
                && !crate::entity::is_sid(&e.value)
                && !is_generic(e.kind, &e.value)
        });
        #[allow(clippy::cast_sign_loss)]
        let pick = |k: EntityKind| -> SmallVec<[u64; 2]> {
            keys.iter()
                .zip(digests)
                .filter(|(e, _)| e.kind == k && !is_generic(e.kind, &e.value))
                .filter(|(e, _)| {
                    !(named && e.kind == EntityKind::User && crate::entity::is_sid(&e.value))
                })
                .map(|(_, d)| *d as u64)
                .collect()
        };
        Counterparts {
            users: pick(EntityKind::User),
            devices: pick(EntityKind::Device),
            mailboxes: pick(EntityKind::Mailbox),
        }
    }

    /// The assets a key's prevalence is counted in: accounts for a host, hosts for the rest
    /// (mailboxes, then accounts, when an alert names no host).
    fn for_kind(&self, kind: EntityKind) -> &[u64] {
        if kind == EntityKind::Device {
            return &self.users;
        }
        for (k, v) in [
            (EntityKind::Device, &self.devices),
            (EntityKind::Mailbox, &self.mailboxes),
            (EntityKind::User, &self.users),
        ] {
            if k != kind && !v.is_empty() {
                return v;
            }
        }
        &[]
    }
}

/// Follows redirects to the surviving incident (bounded: merges never form cycles, but
/// stored data is not trusted). `None` if `r` itself is gone; a redirect to a pruned
/// incident stops at the redirected one, which takes no alerts.
fn survivor_of(incidents: &Slab<IncidentState>, mut r: Ref) -> Option<Ref> {
    incidents.get(r)?;
    for _ in 0..64 {
        match incidents.get(r).and_then(|i| i.redirect.as_ref()) {
            Some((next, _)) if incidents.contains(*next) => r = *next,
            _ => break,
        }
    }
    Some(r)
}

/// An alert's keys as [`Correlator::intern`] found them: the handles, and which of the
/// alert's keys each came from (the engine keeps no key text, see [`KeyState`]).
struct Interned<'k> {
    refs: Vec<Ref>,
    from: SmallVec<[usize; 8]>,
    keys: &'k [EntityKey],
    /// How many of the alert's keys were left out as common.
    common: usize,
}

impl Interned<'_> {
    /// Where the key behind handle `r` is among the alert's keys.
    fn position(&self, r: Ref) -> Option<usize> {
        self.refs
            .iter()
            .position(|x| *x == r)
            .and_then(|i| self.from.get(i))
            .copied()
    }

    /// The key behind handle `r`, which must be one of this alert's.
    fn key(&self, r: Ref) -> EntityKey {
        self.position(r)
            .and_then(|i| self.keys.get(i))
            .cloned()
            .unwrap_or_else(blank_key)
    }
}

/// Where the keys in `found` are among the alert's, each key once, in key order.
fn via(found: &[(Ref, Ref)], interned: &Interned<'_>) -> Via {
    let keys = interned.keys;
    let mut at: Via = found
        .iter()
        .filter_map(|(_, k)| interned.position(*k))
        .filter_map(|i| u32::try_from(i).ok())
        .collect();
    let key = |i: &u32| keys.get(*i as usize);
    at.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
    at.dedup_by(|a, b| key(a) == key(b));
    at
}

/// Union-find over member indexes, for splitting an incident into its linked parts.
struct Parts(Vec<usize>);

impl Parts {
    fn find(&mut self, mut i: usize) -> usize {
        while let Some(&p) = self.0.get(i) {
            if p == i {
                break;
            }
            let gp = self.0.get(p).copied().unwrap_or(p);
            if let Some(slot) = self.0.get_mut(i) {
                *slot = gp;
            }
            i = p;
        }
        i
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if let Some(slot) = self.0.get_mut(ra.max(rb)) {
            *slot = ra.min(rb);
        }
    }
}

impl Correlator {
    /// An empty engine.
    pub fn new(cfg: &CorrelationConfig, allow: BTreeSet<EntityKey>) -> Self {
        Correlator {
            window: cfg.window_micros(),
            max_prevalence: cfg.max_prevalence,
            allow,
            key_ix: hashbrown::HashTable::new(),
            key_hasher: foldhash::fast::RandomState::default(),
            keys: Slab::default(),
            alert_ix: Map::default(),
            alerts: Slab::default(),
            incident_ix: Map::default(),
            incidents: Slab::default(),
            order: 0,
        }
    }

    fn within(&self, a: Timestamp, b: Timestamp) -> bool {
        (a.micros() - b.micros()).abs() <= self.window
    }

    /// Follows redirects to the surviving incident.
    pub fn survivor<'a>(&'a self, id: &'a str) -> &'a str {
        let Some(last) = self
            .incident_ix
            .get(id)
            .and_then(|r| survivor_of(&self.incidents, *r))
            .and_then(|r| self.incidents.get(r))
        else {
            return id;
        };
        match &last.redirect {
            // The survivor was pruned: only its id is left.
            Some((next, gone)) if !self.incidents.contains(*next) => gone,
            _ => &last.id,
        }
    }

    fn incident_id(&self, r: Ref) -> Arc<str> {
        self.incidents
            .get(r)
            .map_or_else(|| Arc::from(""), |i| Arc::clone(&i.id))
    }

    fn is_open(&self, r: Ref) -> bool {
        self.incidents
            .get(r)
            .is_some_and(|i| i.open == Openness::Open)
    }

    /// The incident called `id`, registered with `open` if the engine does not hold it yet.
    fn add_incident(&mut self, id: &str, open: Openness) -> Ref {
        self.order += 1;
        if let Some(r) = self.incident_ix.get(id) {
            return *r;
        }
        let id: Arc<str> = Arc::from(id);
        let r = self.incidents.insert(IncidentState {
            id: Arc::clone(&id),
            open,
            redirect: None,
            order: self.order,
            members: Vec::new(),
            forgotten: 0,
        });
        self.incident_ix.insert(id, r);
        r
    }

    fn set_redirect(&mut self, from: Ref, into: Ref) {
        let Some(into_id) = self.incidents.get(into).map(|i| Arc::clone(&i.id)) else {
            return;
        };
        let moved = match self.incidents.get_mut(from) {
            Some(i) => {
                i.open = Openness::Redirected;
                i.redirect = Some((into, into_id));
                std::mem::take(&mut i.members)
            }
            None => Vec::new(),
        };
        let forgotten = self
            .incidents
            .get_mut(from)
            .map_or(0, |i| std::mem::take(&mut i.forgotten));
        for m in &moved {
            if let Some(st) = self.alerts.get_mut(*m) {
                st.incident = into;
            }
        }
        if let Some(i) = self.incidents.get_mut(into) {
            i.members.extend(moved);
            i.forgotten += forgotten;
        }
        // Key sightings keep naming `from`; lookups follow the redirect to `into`.
    }

    /// Registers a stored incident (when warming the engine from the store).
    pub fn restore_incident(&mut self, id: &str, open: Openness, redirect: Option<&str>) {
        let r = self.add_incident(id, open);
        if let Some(i) = self.incidents.get_mut(r) {
            i.open = open;
        }
        if let Some(into) = redirect {
            // The survivor of a stored merge is registered as closed unless the store says
            // otherwise: what the engine does not hold takes no alerts.
            let into = self.add_incident(into, Openness::Resolved);
            self.set_redirect(r, into);
        }
    }

    /// The state of the incident with this id, if the engine holds it.
    fn incident_named(&mut self, id: &str) -> Option<&mut IncidentState> {
        let r = self.incident_ix.get(id).copied()?;
        self.incidents.get_mut(r)
    }

    /// Tells the engine how many alerts a stored incident holds in all, after its alerts of
    /// the window were restored: the rest count as forgotten.
    pub fn restore_size(&mut self, id: &str, stored_alerts: usize) {
        if let Some(i) = self.incident_named(id) {
            i.forgotten = stored_alerts.saturating_sub(i.members.len());
        }
    }

    /// Registers a stored alert's placement (when warming the engine from the store).
    pub fn restore_alert(&mut self, a: AlertIn<'_>, incident: &str, manual: bool) {
        let inc = self.add_incident(incident, Openness::Open);
        let digests = a.digests();
        let interned = self.intern(a.keys, &digests);
        let counterparts = Counterparts::of(a.keys, &digests);
        let _ = self.count(a.at, &interned.refs, &counterparts);
        self.observe(a, interned.refs, inc, manual);
    }

    /// Tells the engine an incident's status changed (resolved, reopened).
    pub fn set_openness(&mut self, id: &str, open: Openness) {
        if let Some(i) = self.incident_named(id) {
            i.open = open;
        }
    }

    /// Records a manual link so correlation never moves the alert again.
    pub fn pin(&mut self, alert: &str, incident: &str) {
        let inc = self.add_incident(incident, Openness::Open);
        if let Some(a) = self.alert_ix.get(alert).copied() {
            self.move_alert(a, inc);
            if let Some(st) = self.alerts.get_mut(a) {
                st.manual = true;
            }
        }
    }

    /// Records a merge (made by hand or by the store).
    pub fn redirect(&mut self, from: &str, into: &str) {
        let Some(from) = self.incident_ix.get(from).copied() else {
            return;
        };
        // An incident the engine does not hold is outside the window or closed: it takes
        // no new alerts until the store reports it open.
        let into = self.add_incident(into, Openness::Resolved);
        self.set_redirect(from, into);
    }

    /// Moves one alert (membership and key sightings) to another incident.
    fn move_alert(&mut self, alert: Ref, to: Ref) {
        let Some(st) = self.alerts.get_mut(alert) else {
            return;
        };
        if st.incident == to {
            return;
        }
        let (from, at) = (st.incident, st.at);
        st.incident = to;
        let keys = std::mem::take(&mut st.keys);
        if let Some(i) = self.incidents.get_mut(from) {
            i.members.retain(|m| *m != alert);
        }
        if let Some(i) = self.incidents.get_mut(to) {
            i.members.push(alert);
        }
        for &key in &keys {
            let Some(ks) = self.keys.get_mut(key) else {
                continue;
            };
            if ks.common {
                continue;
            }
            let incidents = &self.incidents;
            if let Some(pos) = ks
                .incidents
                .iter()
                .position(|s| survivor_of(incidents, s.incident) == Some(from))
            {
                if let Some(s) = ks.incidents.get_mut(pos) {
                    s.count = s.count.saturating_sub(1);
                    if s.count == 0 {
                        ks.incidents.remove(pos);
                    }
                }
            }
            match ks.incidents.iter_mut().find(|s| s.incident == to) {
                Some(s) => {
                    s.last = s.last.max(at);
                    s.count += 1;
                }
                None => ks.incidents.push(Sighting {
                    incident: to,
                    last: at,
                    count: 1,
                }),
            }
        }
        if let Some(st) = self.alerts.get_mut(alert) {
            st.keys = keys;
        }
    }

    /// The alert's correlating keys (strong, not allow-listed, not common) as handles, in the
    /// order the alert names them, each once; keys new to the engine get a state. `digests`
    /// are [`AlertIn::digests`], one per key.
    fn intern<'k>(&mut self, keys: &'k [EntityKey], digests: &[i64]) -> Interned<'k> {
        let mut out = Interned {
            refs: Vec::with_capacity(keys.len()),
            from: SmallVec::new(),
            keys,
            common: 0,
        };
        for (i, (k, &digest)) in keys.iter().zip(digests).enumerate() {
            if !STRONG_KINDS.contains(&k.kind)
                || self.allow.contains(k)
                || is_generic(k.kind, &k.value)
            {
                continue;
            }
            // Digests are the caller's to get right (they are not checked in release
            // builds: that would cost what they save); a wrong one files the key where
            // lookups by its true digest do not look.
            debug_assert_eq!(digest, value_digest(&k.value), "digest of {k:?}");
            let hash = key_hash(&self.key_hasher, k.kind, digest);
            let keys = &self.keys;
            let found = self
                .key_ix
                .find(hash, |(h, r)| {
                    *h == hash
                        && keys
                            .get(*r)
                            .is_some_and(|s| s.kind == k.kind && s.digest == digest)
                })
                .map(|(_, r)| *r);
            let r = match found {
                // A common key links nothing and stays common (see `count`): every step
                // that walks the alert's keys would only read its state to skip it, a
                // cache miss each, and most keys an alert names turn common soon.
                Some(r) if self.is_common(r) => {
                    out.common += 1;
                    continue;
                }
                Some(r) => r,
                None => {
                    let r = self.keys.insert(KeyState {
                        kind: k.kind,
                        digest,
                        incidents: SmallVec::new(),
                        assets: SmallVec::new(),
                        common: false,
                    });
                    self.key_ix.insert_unique(hash, (hash, r), |(h, _)| *h);
                    r
                }
            };
            if !out.refs.contains(&r) {
                out.refs.push(r);
                out.from.push(i);
            }
        }
        out
    }

    fn is_common(&self, k: Ref) -> bool {
        self.keys.get(k).is_some_and(|s| s.common)
    }

    /// Updates prevalence with this alert; returns keys that just turned common.
    fn count(&mut self, at: Timestamp, refs: &[Ref], counterparts: &Counterparts) -> Vec<Ref> {
        let mut turned = Vec::new();
        // Prevalence counts the hosts seen with the key in the engine's memory (the window
        // behind the newest alert, see `prune`), not around each alert: producers deliver
        // out of order, and a per-alert window would forget hosts as fast as it learns them.
        let (cap, max) = (asset_cap(self.max_prevalence), self.max_prevalence);
        for &r in refs {
            let Some(st) = self.keys.get_mut(r) else {
                continue;
            };
            if st.common || never_common(st.kind) {
                continue;
            }
            for &c in counterparts.for_kind(st.kind) {
                if let Some(e) = st.assets.iter_mut().find(|(v, _)| *v == c) {
                    e.1 = e.1.max(at);
                } else if st.assets.len() < cap {
                    st.assets.push((c, at));
                }
            }
            if st.assets.len() > max {
                st.common = true;
                turned.push(r);
            }
        }
        turned
    }

    /// Records the alert's placement.
    fn observe(&mut self, a: AlertIn<'_>, refs: Vec<Ref>, incident: Ref, manual: bool) {
        if let Some(old) = self.alert_ix.get(a.id).copied() {
            // Seen again (a re-warm): the new placement replaces the old membership.
            if let Some(prev) = self.alerts.get(old).map(|s| s.incident) {
                if let Some(i) = self.incidents.get_mut(prev) {
                    i.members.retain(|m| *m != old);
                }
            }
            self.alerts.remove(old);
        }
        for &key in &refs {
            self.sight(key, incident, a.at);
        }
        let id: Arc<str> = Arc::from(a.id);
        let r = self.alerts.insert(AlertState {
            id: Arc::clone(&id),
            incident,
            manual,
            keys: refs,
            at: a.at,
        });
        self.alert_ix.insert(id, r);
        if let Some(i) = self.incidents.get_mut(incident) {
            i.members.push(r);
        }
    }

    /// Re-splits an incident into the parts its members still link through keys that are
    /// not common; the largest part keeps the incident, each other part gets a new one.
    fn resplit(
        &mut self,
        incident: Ref,
        entity: &EntityKey,
        new_id: &mut dyn FnMut() -> String,
        effects: &mut Effects,
    ) {
        let Some(inc) = self.incidents.get(incident) else {
            return;
        };
        let members: Vec<Ref> = inc.members.clone();
        if members.len() < 2 {
            return;
        }
        let mut parts = Parts((0..members.len()).collect());
        // Members that share a key are linked: sorted (key, member) pairs put them side by
        // side. A live feed resplits thousands of incidents, mostly to find them whole, and
        // a map per call was half of that.
        // Each pair packed in a u64, key slot above member index, so the sort compares
        // integers (sorting tuples of handles was most of a resplit). Live keys have
        // distinct slots; an incident of four billion members does not fit in memory.
        let pack = |k: Ref, i: usize| {
            (u64::from(k.slot()) << 32) | u64::from(u32::try_from(i).unwrap_or(u32::MAX))
        };
        let mut with_key: Vec<u64> = Vec::new();
        let mut manual_root = None;
        for (i, m) in members.iter().enumerate() {
            let Some(st) = self.alerts.get(*m) else {
                continue;
            };
            if st.manual {
                // Pinned alerts stay together with the incident, whatever their keys.
                match manual_root {
                    Some(r) => parts.union(r, i),
                    None => manual_root = Some(i),
                }
            }
            with_key.extend(
                st.keys
                    .iter()
                    .filter(|k| !self.is_common(**k))
                    .map(|&k| pack(k, i)),
            );
        }
        with_key.sort_unstable();
        for pair in with_key.windows(2) {
            if let [a, b] = pair {
                if a >> 32 == b >> 32 {
                    parts.union((a & 0xFFFF_FFFF) as usize, (b & 0xFFFF_FFFF) as usize);
                }
            }
        }
        // Most resplits find the incident whole: then there is nothing to group.
        let first = parts.find(0);
        if (1..members.len()).all(|i| parts.find(i) == first) {
            return;
        }
        // (root, member) in root order: each run is one linked part.
        let mut rooted: Vec<(usize, usize)> =
            (0..members.len()).map(|i| (parts.find(i), i)).collect();
        rooted.sort_unstable();
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (r, i) in rooted {
            match groups.last_mut() {
                Some((last, g)) if *last == r => g.push(i),
                _ => groups.push((r, vec![i])),
            }
        }
        if groups.len() < 2 {
            return;
        }
        let keep = manual_root.map(|r| parts.find(r)).or_else(|| {
            groups
                .iter()
                .max_by_key(|(r, g)| (g.len(), std::cmp::Reverse(*r)))
                .map(|(r, _)| *r)
        });
        // Already in root order.
        let others: Vec<(usize, Vec<usize>)> = groups
            .into_iter()
            .filter(|(r, _)| Some(*r) != keep)
            .collect();
        for (_, group) in others {
            let to = self.add_incident(&new_id(), Openness::Open);
            let id = self.incident_id(to);
            effects.push(Effect::NewIncident {
                id: Arc::clone(&id),
            });
            for i in group {
                let Some(&alert) = members.get(i) else {
                    continue;
                };
                self.move_alert(alert, to);
                effects.push(Effect::Split {
                    alert: self
                        .alerts
                        .get(alert)
                        .map_or_else(|| Arc::from(""), |s| Arc::clone(&s.id)),
                    incident: Arc::clone(&id),
                    entity: entity.clone(),
                });
            }
        }
    }

    /// Places a new alert. `new_id` mints incident ids. Returns the effects in order.
    pub fn place(&mut self, a: AlertIn<'_>, new_id: &mut dyn FnMut() -> String) -> Effects {
        let mut effects = Effects::new();
        let digests = a.digests();
        let interned = self.intern(a.keys, &digests);
        self.prevail(a.at, &digests, &interned, new_id, &mut effects);
        let found = self.reached(a.at, &interned.refs, None);
        let incident = match self.merge_targets(a.id, None, &found, &interned, &mut effects) {
            Some(t) => t,
            None => {
                let r = self.add_incident(&new_id(), Openness::Open);
                effects.push(Effect::NewIncident {
                    id: self.incident_id(r),
                });
                r
            }
        };
        let via = via(&found, &interned);
        let incident_id = self.incident_id(incident);
        self.observe(a, interned.refs, incident, false);
        effects.push(Effect::Link {
            incident: incident_id,
            via,
        });
        effects
    }

    /// A stored alert was sent again, naming keys it did not name before: it links through
    /// them as a new alert would, so a producer that learns more about an alert (a second
    /// device, the account behind a sign-in) grows its incident at ingest, not only at the
    /// next rebuild.
    ///
    /// The alert stays where it is. Its incident takes in the open incidents the new keys
    /// reach within the window (the largest survives, as in [`Correlator::place`]), and the
    /// result ends in a [`Effect::Link`] naming the alert's incident and the new reasons. An
    /// alert placed by hand, or in an incident that is no longer open, only lends the new
    /// keys to its incident for later alerts: a closed case stays closed, a manual link
    /// stays put. An alert the engine no longer holds (older than the window) changes
    /// nothing.
    pub fn resend(&mut self, a: AlertIn<'_>, new_id: &mut dyn FnMut() -> String) -> Effects {
        let mut effects = Effects::new();
        let Some(alert) = self.alert_ix.get(a.id).copied() else {
            return effects;
        };
        let digests = a.digests();
        let interned = self.intern(a.keys, &digests);
        let refs = &interned.refs;
        let Some((held, manual, before)) =
            self.alerts.get(alert).map(|s| (s.incident, s.manual, s.at))
        else {
            return effects;
        };
        let fresh: Vec<Ref> = {
            let known = self
                .alerts
                .get(alert)
                .map_or(&[][..], |s| s.keys.as_slice());
            refs.iter()
                .copied()
                .filter(|r| !known.contains(r))
                .collect()
        };
        let at = before.max(a.at);
        // The engine keeps no common keys per alert, so one the alert names may be new to
        // it, and its counterparts still count towards the other keys' prevalence (an
        // account already common makes the host beside it more prevalent): only an alert
        // that names no common key is known unchanged. Counting again what was counted is
        // harmless.
        if fresh.is_empty() && at <= before && interned.common == 0 {
            return effects;
        }
        // Every key counts the counterparts the alert now names (a new account makes its
        // host more prevalent, too).
        self.prevail(at, &digests, &interned, new_id, &mut effects);
        // A split above may have moved the alert itself.
        let own = self.alerts.get(alert).map_or(held, |s| s.incident);
        let own = survivor_of(&self.incidents, own).unwrap_or(own);
        let mut linked = Via::new();
        if !manual && self.is_open(own) {
            let found = self.reached(at, &fresh, Some(own));
            self.merge_targets(a.id, Some(own), &found, &interned, &mut effects);
            linked = via(&found, &interned);
        }
        let own = self.alerts.get(alert).map_or(own, |s| s.incident);
        let own = survivor_of(&self.incidents, own).unwrap_or(own);
        for &key in &fresh {
            self.sight(key, own, at);
        }
        if at > before {
            // Keys it named before stay sighted in its incident; the window runs from its
            // new activity.
            for &key in refs {
                if let Some(s) = self
                    .keys
                    .get_mut(key)
                    .and_then(|k| k.incidents.iter_mut().find(|s| s.incident == own))
                {
                    s.last = s.last.max(at);
                }
            }
        }
        if let Some(st) = self.alerts.get_mut(alert) {
            st.keys.extend(fresh);
            st.at = at;
        }
        effects.push(Effect::Link {
            incident: self.incident_id(own),
            via: linked,
        });
        effects
    }

    /// Counts this alert towards each key's prevalence (`keys` names its counterpart
    /// assets); incidents that only held together through a key that turns common fall
    /// apart.
    fn prevail(
        &mut self,
        at: Timestamp,
        digests: &[i64],
        interned: &Interned<'_>,
        new_id: &mut dyn FnMut() -> String,
        effects: &mut Effects,
    ) {
        let counterparts = Counterparts::of(interned.keys, digests);
        for key in self.count(at, &interned.refs, &counterparts) {
            let mut affected: Vec<Ref> = self
                .keys
                .get(key)
                .map(|s| {
                    s.incidents
                        .iter()
                        .filter_map(|s| survivor_of(&self.incidents, s.incident))
                        .collect()
                })
                .unwrap_or_default();
            // By id, so that splits (and the ids they mint) come in the same order on every
            // run and backend.
            affected.sort_by_cached_key(|x| self.incident_id(*x));
            affected.dedup();
            if let Some(st) = self.keys.get_mut(key) {
                st.incidents = SmallVec::new();
            }
            let entity = interned.key(key);
            for inc in affected {
                self.resplit(inc, &entity, new_id, effects);
            }
        }
    }

    /// The open incidents (other than `except`) that `refs` reach through keys that are not
    /// common, within the window of `at`, as (incident, key).
    fn reached(&self, at: Timestamp, refs: &[Ref], except: Option<Ref>) -> Vec<(Ref, Ref)> {
        let mut found: Vec<(Ref, Ref)> = Vec::new();
        for &key in refs {
            let Some(st) = self.keys.get(key) else {
                continue;
            };
            if st.common {
                continue;
            }
            for s in &st.incidents {
                if !self.within(at, s.last) {
                    continue;
                }
                let Some(sv) = survivor_of(&self.incidents, s.incident) else {
                    continue;
                };
                if Some(sv) != except && self.is_open(sv) && !found.contains(&(sv, key)) {
                    found.push((sv, key));
                }
            }
        }
        found
    }

    /// Merges `own` (the alert's incident, if it has one) and the incidents in `found` into
    /// one: the largest survives (the fewest alerts move), ties go to the oldest. `found`
    /// says through which key alert `alert_id` reached each. Returns the survivor, or `None`
    /// when there is nothing to merge.
    fn merge_targets(
        &mut self,
        alert_id: &str,
        own: Option<Ref>,
        found: &[(Ref, Ref)],
        interned: &Interned<'_>,
        effects: &mut Effects,
    ) -> Option<Ref> {
        let mut targets: Vec<Ref> = own.into_iter().collect();
        for (inc, _) in found {
            if !targets.contains(inc) {
                targets.push(*inc);
            }
        }
        targets.sort_by_key(|i| {
            self.incidents.get(*i).map_or((0, u64::MAX), |s| {
                (usize::MAX - (s.members.len() + s.forgotten), s.order)
            })
        });
        let incident = *targets.first()?;
        let incident_id = self.incident_id(incident);
        for &other in targets.iter().skip(1) {
            // An incident holding alerts an analyst placed by hand is merged only by hand:
            // absorbing it would move those alerts, which correlation never does. (An
            // alert unlinked into an incident of its own went straight back with the next
            // alert that reached both.)
            if self.holds_manual(other) {
                continue;
            }
            // An incident the alert did not reach (its own, on a re-send) shares with the
            // survivor the key through which the alert reached the survivor.
            let via = found
                .iter()
                .find(|(i, _)| *i == other)
                .or_else(|| found.iter().find(|(i, _)| *i == incident))
                .map_or_else(blank_key, |(_, k)| interned.key(*k));
            let from = self.incident_id(other);
            self.set_redirect(other, incident);
            effects.push(Effect::Merge {
                from,
                into: incident_id.clone(),
                via: Reason {
                    alert_id: alert_id.to_string(),
                    kind: via.kind,
                    value: via.value,
                    rule: "merged".into(),
                },
            });
        }
        Some(incident)
    }

    /// Whether an analyst placed any of the incident's alerts by hand.
    fn holds_manual(&self, incident: Ref) -> bool {
        self.incidents.get(incident).is_some_and(|i| {
            i.members
                .iter()
                .any(|m| self.alerts.get(*m).is_some_and(|a| a.manual))
        })
    }

    /// Records that `key` was seen in `incident` at `at` (not for a common key: it never
    /// links again, so a DNS server named by every alert would collect one entry per
    /// incident, and each lookup would scan them all).
    fn sight(&mut self, key: Ref, incident: Ref, at: Timestamp) {
        let Some(st) = self.keys.get_mut(key) else {
            return;
        };
        if st.common {
            return;
        }
        match st.incidents.iter_mut().find(|s| s.incident == incident) {
            Some(s) => {
                s.last = s.last.max(at);
                s.count += 1;
            }
            None => st.incidents.push(Sighting {
                incident,
                last: at,
                count: 1,
            }),
        }
    }

    /// Forgets what can no longer correlate with alerts at or after `horizon` (older than one
    /// window before it), so the engine's memory follows the window, not the store.
    pub fn prune(&mut self, horizon: Timestamp) {
        let cut = horizon.micros() - self.window;
        self.alerts.retain(|a| a.at.micros() >= cut);
        let alerts = &self.alerts;
        self.alert_ix.retain(|_, r| alerts.contains(*r));
        self.keys.retain(|k| {
            k.incidents.retain(|s| s.last.micros() >= cut);
            k.assets.retain(|(_, t)| t.micros() >= cut);
            k.common || !k.incidents.is_empty() || !k.assets.is_empty()
        });
        let keys = &self.keys;
        self.key_ix.retain(|(_, r)| keys.contains(*r));
        self.incidents.retain(|i| {
            let before = i.members.len();
            i.members.retain(|m| alerts.contains(*m));
            i.forgotten += before - i.members.len();
            !i.members.is_empty() || i.redirect.is_some()
        });
        let incidents = &self.incidents;
        self.incident_ix.retain(|_, r| incidents.contains(*r));
    }

    /// How many alerts the engine tracks (for memory reports).
    pub fn tracked_alerts(&self) -> usize {
        self.alerts.len()
    }
}

#[cfg(test)]
impl Correlator {
    /// Panics unless the slabs and the id maps agree: every alert is a member of its
    /// incident and nowhere else, every member is an alert placed there, and each map
    /// names exactly the live entries.
    fn check_invariants(&self) {
        assert_eq!(self.alert_ix.len(), self.alerts.len(), "alert map");
        assert_eq!(self.key_ix.len(), self.keys.len(), "key map");
        assert_eq!(self.incident_ix.len(), self.incidents.len(), "incident map");
        for (r, a) in self.alerts.iter() {
            assert_eq!(self.alert_ix.get(a.id.as_ref()), Some(&r), "alert {}", a.id);
            if let Some(i) = self.incidents.get(a.incident) {
                assert_eq!(
                    i.members.iter().filter(|m| **m == r).count(),
                    1,
                    "alert {} is a member of its incident {} once",
                    a.id,
                    i.id
                );
            }
        }
        for (r, i) in self.incidents.iter() {
            assert_eq!(
                self.incident_ix.get(i.id.as_ref()),
                Some(&r),
                "incident {}",
                i.id
            );
            for m in &i.members {
                let a = self.alerts.get(*m).expect("members are live alerts");
                assert_eq!(
                    a.incident, r,
                    "member {} of {} points elsewhere",
                    a.id, i.id
                );
            }
            if i.redirect.is_some() {
                assert!(i.members.is_empty(), "redirected {} keeps no members", i.id);
            }
        }
        for (r, k) in self.keys.iter() {
            let hash = key_hash(&self.key_hasher, k.kind, k.digest);
            let found = self.key_ix.find(hash, |(_, x)| *x == r);
            assert_eq!(found, Some(&(hash, r)), "key {:?} under its digest", k.kind);
            if k.common {
                assert!(
                    k.incidents.is_empty(),
                    "common {:?} keeps no sightings",
                    k.kind
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
