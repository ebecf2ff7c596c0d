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
use crate::entity::{EntityKey, EntityKind};
use crate::timestamp::{Timestamp, DAY_MICROS};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

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

/// The rule that made a link, as shown on the incident page.
pub const RULE_SHARED_ENTITY: &str = "sharedEntity";

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

/// What the store must do after a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Create incident `id`.
    NewIncident { id: String },
    /// Put `alert` in `incident` for `reasons` (empty for the first alert of an incident).
    Link {
        alert: String,
        incident: String,
        reasons: Vec<Reason>,
    },
    /// Move every alert of `from` into `into`; `from` becomes redirected.
    Merge {
        from: String,
        into: String,
        via: Reason,
    },
    /// Move `alert` out into the new incident `incident`: its only link went through an
    /// entity that turned out to be common.
    Split {
        alert: String,
        incident: String,
        entity: EntityKey,
    },
}

/// Incident status as correlation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Openness {
    Open,
    Resolved,
    Redirected,
}

#[derive(Debug, Clone, Default)]
struct KeyState {
    /// Incidents this key was seen in, with the latest activity there and how many of the
    /// incident's alerts carry the key.
    incidents: Vec<(String, Timestamp, u32)>,
    /// Distinct counterpart assets with when they were last seen (capped).
    assets: Vec<(String, Timestamp)>,
    common: bool,
}

#[derive(Debug, Clone)]
struct AlertState {
    incident: String,
    manual: bool,
    /// Its correlating keys and activity.
    keys: Vec<EntityKey>,
    at: Timestamp,
}

#[derive(Debug, Clone)]
struct IncidentState {
    open: Openness,
    redirect: Option<String>,
    /// Creation order, to break ties when choosing the survivor of a merge.
    order: u64,
    /// Alerts currently in it (as far as the window reaches).
    members: Vec<String>,
}

/// One alert as the engine needs it.
#[derive(Debug, Clone, Copy)]
pub struct AlertIn<'a> {
    pub id: &'a str,
    /// The alert's last activity: what the window is measured from.
    pub at: Timestamp,
    pub keys: &'a [EntityKey],
}

/// The correlation engine.
#[derive(Debug, Clone)]
pub struct Correlator {
    window: i64,
    max_prevalence: usize,
    allow: BTreeSet<EntityKey>,
    keys: Map<EntityKey, KeyState>,
    alerts: Map<String, AlertState>,
    incidents: Map<String, IncidentState>,
    order: u64,
}

/// Most counterpart assets remembered per key (beyond the threshold nothing changes).
fn asset_cap(k: usize) -> usize {
    k + 1
}

fn never_common(kind: EntityKind) -> bool {
    matches!(kind, EntityKind::Process | EntityKind::MailMessage)
}

/// The assets a key's prevalence is counted in: accounts for a host, hosts for the rest
/// (mailboxes, then accounts, when an alert names no host).
fn counterparts(kind: EntityKind, keys: &[EntityKey]) -> Vec<&str> {
    let pick = |k: EntityKind| -> Vec<&str> {
        keys.iter()
            .filter(|e| e.kind == k)
            .map(|e| e.value.as_str())
            .collect()
    };
    if kind == EntityKind::Device {
        return pick(EntityKind::User);
    }
    for k in [EntityKind::Device, EntityKind::Mailbox, EntityKind::User] {
        if k == kind {
            continue;
        }
        let v = pick(k);
        if !v.is_empty() {
            return v;
        }
    }
    Vec::new()
}

/// Follows redirects (bounded: merges never form cycles, but stored data is not trusted).
fn survivor_in<'a>(incidents: &'a Map<String, IncidentState>, mut id: &'a str) -> &'a str {
    for _ in 0..64 {
        match incidents.get(id).and_then(|i| i.redirect.as_deref()) {
            Some(next) => id = next,
            None => break,
        }
    }
    id
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
            keys: Map::default(),
            alerts: Map::default(),
            incidents: Map::default(),
            order: 0,
        }
    }

    fn within(&self, a: Timestamp, b: Timestamp) -> bool {
        (a.micros() - b.micros()).abs() <= self.window
    }

    /// Follows redirects to the surviving incident.
    pub fn survivor<'a>(&'a self, id: &'a str) -> &'a str {
        survivor_in(&self.incidents, id)
    }

    fn add_incident(&mut self, id: &str, open: Openness, redirect: Option<&str>) {
        self.order += 1;
        let order = self.order;
        self.incidents
            .entry(id.to_string())
            .or_insert(IncidentState {
                open,
                redirect: redirect.map(str::to_string),
                order,
                members: Vec::new(),
            });
    }

    /// Registers a stored incident (when warming the engine from the store).
    pub fn restore_incident(&mut self, id: &str, open: Openness, redirect: Option<&str>) {
        self.add_incident(id, open, redirect);
        if let Some(i) = self.incidents.get_mut(id) {
            i.open = open;
            i.redirect = redirect.map(str::to_string);
        }
    }

    /// Registers a stored alert's placement (when warming the engine from the store).
    pub fn restore_alert(&mut self, a: AlertIn<'_>, incident: &str, manual: bool) {
        self.add_incident(incident, Openness::Open, None);
        let _ = self.count(a);
        self.observe(a, incident, manual);
    }

    /// Tells the engine an incident's status changed (resolved, reopened).
    pub fn set_openness(&mut self, id: &str, open: Openness) {
        if let Some(i) = self.incidents.get_mut(id) {
            i.open = open;
        }
    }

    /// Records a manual link so correlation never moves the alert again.
    pub fn pin(&mut self, alert: &str, incident: &str) {
        self.add_incident(incident, Openness::Open, None);
        self.move_alert(alert, incident);
        if let Some(st) = self.alerts.get_mut(alert) {
            st.manual = true;
        }
    }

    /// Records a merge (made by hand or by the store).
    pub fn redirect(&mut self, from: &str, into: &str) {
        let moved = match self.incidents.get_mut(from) {
            Some(i) => {
                i.open = Openness::Redirected;
                i.redirect = Some(into.to_string());
                std::mem::take(&mut i.members)
            }
            None => Vec::new(),
        };
        for m in &moved {
            if let Some(st) = self.alerts.get_mut(m) {
                st.incident = into.to_string();
            }
        }
        if let Some(i) = self.incidents.get_mut(into) {
            i.members.extend(moved);
        }
        // Key sightings keep naming `from`; lookups follow the redirect to `into`.
    }

    /// Moves one alert (membership and key sightings) to another incident.
    fn move_alert(&mut self, alert: &str, to: &str) {
        let Some(st) = self.alerts.get(alert).cloned() else {
            return;
        };
        if st.incident == to {
            return;
        }
        if let Some(i) = self.incidents.get_mut(&st.incident) {
            i.members.retain(|m| m != alert);
        }
        if let Some(i) = self.incidents.get_mut(to) {
            i.members.push(alert.to_string());
        }
        let incidents = &self.incidents;
        for key in &st.keys {
            let Some(ks) = self.keys.get_mut(key) else {
                continue;
            };
            if ks.common {
                continue;
            }
            if let Some(pos) = ks
                .incidents
                .iter()
                .position(|(i, _, _)| survivor_in(incidents, i) == st.incident)
            {
                if let Some(e) = ks.incidents.get_mut(pos) {
                    e.2 = e.2.saturating_sub(1);
                    if e.2 == 0 {
                        ks.incidents.remove(pos);
                    }
                }
            }
            match ks.incidents.iter_mut().find(|(i, _, _)| i == to) {
                Some(e) => {
                    e.1 = e.1.max(st.at);
                    e.2 += 1;
                }
                None => ks.incidents.push((to.to_string(), st.at, 1)),
            }
        }
        if let Some(s) = self.alerts.get_mut(alert) {
            s.incident = to.to_string();
        }
    }

    fn correlating<'s, 'k: 's>(
        &'s self,
        keys: &'k [EntityKey],
    ) -> impl Iterator<Item = &'k EntityKey> + 's {
        keys.iter()
            .filter(|k| STRONG_KINDS.contains(&k.kind) && !self.allow.contains(*k))
    }

    fn is_common(&self, k: &EntityKey) -> bool {
        self.keys.get(k).is_some_and(|s| s.common)
    }

    /// Updates prevalence with this alert; returns keys that just turned common.
    fn count(&mut self, a: AlertIn<'_>) -> Vec<EntityKey> {
        let mut turned = Vec::new();
        // Prevalence counts the hosts seen with the key in the engine's memory (the window
        // behind the newest alert, see `prune`), not around each alert: producers deliver
        // out of order, and a per-alert window would forget hosts as fast as it learns them.
        let (cap, max) = (asset_cap(self.max_prevalence), self.max_prevalence);
        for key in a.keys {
            if !STRONG_KINDS.contains(&key.kind)
                || never_common(key.kind)
                || self.allow.contains(key)
            {
                continue;
            }
            if !self.keys.contains_key(key) {
                self.keys.insert(key.clone(), KeyState::default());
            }
            let Some(st) = self.keys.get_mut(key) else {
                continue;
            };
            if st.common {
                continue;
            }
            for c in counterparts(key.kind, a.keys) {
                if let Some(e) = st.assets.iter_mut().find(|(v, _)| v == c) {
                    e.1 = e.1.max(a.at);
                } else if st.assets.len() < cap {
                    st.assets.push((c.to_string(), a.at));
                }
            }
            if st.assets.len() > max {
                st.common = true;
                turned.push(key.clone());
            }
        }
        turned
    }

    fn observe(&mut self, a: AlertIn<'_>, incident: &str, manual: bool) {
        let keys: Vec<EntityKey> = self.correlating(a.keys).cloned().collect();
        for key in &keys {
            if !self.keys.contains_key(key) {
                self.keys.insert(key.clone(), KeyState::default());
            }
            let Some(st) = self.keys.get_mut(key) else {
                continue;
            };
            // A common key never links again, so its sightings are not kept: a DNS server
            // named by every alert would otherwise collect one entry per incident, and each
            // lookup would scan them all.
            if st.common {
                continue;
            }
            match st.incidents.iter_mut().find(|(i, _, _)| i == incident) {
                Some(e) => {
                    e.1 = e.1.max(a.at);
                    e.2 += 1;
                }
                None => st.incidents.push((incident.to_string(), a.at, 1)),
            }
        }
        if let Some(i) = self.incidents.get_mut(incident) {
            i.members.push(a.id.to_string());
        }
        self.alerts.insert(
            a.id.to_string(),
            AlertState {
                incident: incident.to_string(),
                manual,
                keys,
                at: a.at,
            },
        );
    }

    /// Re-splits an incident into the parts its members still link through keys that are
    /// not common; the largest part keeps the incident, each other part gets a new one.
    fn resplit(
        &mut self,
        incident: &str,
        cause: &EntityKey,
        new_id: &mut dyn FnMut() -> String,
        effects: &mut Vec<Effect>,
    ) {
        let Some(inc) = self.incidents.get(incident) else {
            return;
        };
        let members: Vec<String> = inc.members.clone();
        if members.len() < 2 {
            return;
        }
        let mut parts = Parts((0..members.len()).collect());
        let mut first_with: HashMap<&EntityKey, usize> = HashMap::new();
        let mut manual_root = None;
        for (i, m) in members.iter().enumerate() {
            let Some(st) = self.alerts.get(m) else {
                continue;
            };
            if st.manual {
                // Pinned alerts stay together with the incident, whatever their keys.
                match manual_root {
                    Some(r) => parts.union(r, i),
                    None => manual_root = Some(i),
                }
            }
            for k in &st.keys {
                if self.is_common(k) {
                    continue;
                }
                match first_with.get(k) {
                    Some(&j) => parts.union(i, j),
                    None => {
                        first_with.insert(k, i);
                    }
                }
            }
        }
        let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
        for i in 0..members.len() {
            let r = parts.find(i);
            groups.entry(r).or_default().push(i);
        }
        if groups.len() < 2 {
            return;
        }
        let keep = manual_root.map(|r| parts.find(r)).or_else(|| {
            groups
                .iter()
                .max_by_key(|(r, g)| (g.len(), std::cmp::Reverse(**r)))
                .map(|(r, _)| *r)
        });
        let mut others: Vec<(usize, Vec<usize>)> = groups
            .into_iter()
            .filter(|(r, _)| Some(*r) != keep)
            .collect();
        others.sort_by_key(|(r, _)| *r);
        for (_, group) in others {
            let id = new_id();
            self.add_incident(&id, Openness::Open, None);
            effects.push(Effect::NewIncident { id: id.clone() });
            for i in group {
                let Some(alert) = members.get(i).cloned() else {
                    continue;
                };
                self.move_alert(&alert, &id);
                effects.push(Effect::Split {
                    alert,
                    incident: id.clone(),
                    entity: cause.clone(),
                });
            }
        }
    }

    /// Places a new alert. `new_id` mints incident ids. Returns the effects in order.
    pub fn place(&mut self, a: AlertIn<'_>, new_id: &mut dyn FnMut() -> String) -> Vec<Effect> {
        let mut effects = Vec::new();
        // Prevalence first, so this alert counts towards making an entity common; incidents
        // that only held together through an entity that turns common fall apart.
        for key in self.count(a) {
            let mut affected: Vec<String> = self
                .keys
                .get(&key)
                .map(|s| {
                    s.incidents
                        .iter()
                        .map(|(i, _, _)| self.survivor(i).to_string())
                        .collect()
                })
                .unwrap_or_default();
            affected.sort();
            affected.dedup();
            if let Some(st) = self.keys.get_mut(&key) {
                st.incidents = Vec::new();
            }
            for inc in affected {
                self.resplit(&inc, &key, new_id, &mut effects);
            }
        }
        // Candidate incidents through non-common keys within the window.
        let mut found: Vec<(String, EntityKey)> = Vec::new();
        for key in self.correlating(a.keys) {
            let Some(st) = self.keys.get(key) else {
                continue;
            };
            if st.common {
                continue;
            }
            for (inc, last, _) in &st.incidents {
                if !self.within(a.at, *last) {
                    continue;
                }
                let s = self.survivor(inc);
                let open = self.incidents.get(s).map(|i| i.open);
                if open == Some(Openness::Open) && !found.iter().any(|(i, k)| i == s && k == key) {
                    found.push((s.to_string(), key.clone()));
                }
            }
        }
        let mut targets: Vec<String> = Vec::new();
        for (inc, _) in &found {
            if !targets.contains(inc) {
                targets.push(inc.clone());
            }
        }
        // The largest incident survives a merge (the fewest alerts move); ties go to the
        // oldest.
        targets.sort_by_key(|i| {
            self.incidents
                .get(i)
                .map_or((0, u64::MAX), |s| (usize::MAX - s.members.len(), s.order))
        });
        let incident = match targets.first() {
            Some(t) => t.clone(),
            None => {
                let id = new_id();
                self.add_incident(&id, Openness::Open, None);
                effects.push(Effect::NewIncident { id: id.clone() });
                id
            }
        };
        for other in targets.iter().skip(1) {
            let via = found
                .iter()
                .find(|(i, _)| i == other)
                .map(|(_, k)| k.clone())
                .unwrap_or_else(|| EntityKey {
                    kind: EntityKind::Device,
                    value: String::new(),
                });
            self.redirect(other, &incident);
            effects.push(Effect::Merge {
                from: other.clone(),
                into: incident.clone(),
                via: Reason {
                    alert_id: a.id.to_string(),
                    kind: via.kind,
                    value: via.value,
                    rule: "merged".into(),
                },
            });
        }
        let mut reason_keys: Vec<EntityKey> = found.into_iter().map(|(_, k)| k).collect();
        reason_keys.sort();
        reason_keys.dedup();
        let reasons = reason_keys
            .iter()
            .map(|k| Reason {
                alert_id: a.id.to_string(),
                kind: k.kind,
                value: k.value.clone(),
                rule: RULE_SHARED_ENTITY.into(),
            })
            .collect();
        self.observe(a, &incident, false);
        effects.push(Effect::Link {
            alert: a.id.to_string(),
            incident,
            reasons,
        });
        effects
    }

    /// Forgets what can no longer correlate with alerts at or after `horizon` (older than one
    /// window before it), so the engine's memory follows the window, not the store.
    pub fn prune(&mut self, horizon: Timestamp) {
        let cut = horizon.micros() - self.window;
        self.alerts.retain(|_, a| a.at.micros() >= cut);
        self.keys.retain(|_, k| {
            k.incidents.retain(|(_, t, _)| t.micros() >= cut);
            k.assets.retain(|(_, t)| t.micros() >= cut);
            k.common || !k.incidents.is_empty() || !k.assets.is_empty()
        });
        let alerts = &self.alerts;
        for i in self.incidents.values_mut() {
            i.members.retain(|m| alerts.contains_key(m));
        }
        self.incidents
            .retain(|_, i| !i.members.is_empty() || i.redirect.is_some());
    }

    /// How many alerts the engine tracks (for memory reports).
    pub fn tracked_alerts(&self) -> usize {
        self.alerts.len()
    }
}

#[cfg(test)]
mod tests;
