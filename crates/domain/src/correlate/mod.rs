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

/// Correlation settings (`[correlation]` in `rampart.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelationConfig {
    /// Group alerts into incidents at ingest (on by default).
    pub enabled: bool,
    /// How far apart (hours) two alerts' activity may be and still correlate.
    pub window_hours: i64,
    /// An entity seen with more distinct hosts (or, for a host, accounts) than this in the
    /// window is common and never a correlation key.
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

#[derive(Debug, Clone)]
struct KeyState {
    /// Incidents this key was seen in, with the latest activity there and how many of the
    /// incident's alerts carry the key.
    incidents: Vec<(String, Timestamp, u32)>,
    /// Distinct counterpart assets with when they were last seen (capped).
    assets: Vec<(String, Timestamp)>,
    common: bool,
    /// Alerts linked only through this key.
    sole: Vec<String>,
}

#[derive(Debug, Clone)]
struct AlertState {
    incident: String,
    manual: bool,
    /// The keys that linked it (empty for the alert that opened the incident).
    reasons: Vec<EntityKey>,
    /// Its correlating keys and activity, to move its sightings when it is split off.
    keys: Vec<EntityKey>,
    at: Timestamp,
}

#[derive(Debug, Clone)]
struct IncidentState {
    open: Openness,
    redirect: Option<String>,
    /// Creation order, to pick the survivor of a merge deterministically.
    order: u64,
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
    keys: HashMap<EntityKey, KeyState>,
    alerts: HashMap<String, AlertState>,
    incidents: HashMap<String, IncidentState>,
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

impl Correlator {
    /// An empty engine.
    pub fn new(cfg: &CorrelationConfig, allow: BTreeSet<EntityKey>) -> Self {
        Correlator {
            window: cfg.window_micros(),
            max_prevalence: cfg.max_prevalence,
            allow,
            keys: HashMap::new(),
            alerts: HashMap::new(),
            incidents: HashMap::new(),
            order: 0,
        }
    }

    fn within(&self, a: Timestamp, b: Timestamp) -> bool {
        (a.micros() - b.micros()).abs() <= self.window
    }

    /// Follows redirects to the surviving incident.
    pub fn survivor<'a>(&'a self, mut id: &'a str) -> &'a str {
        for _ in 0..64 {
            match self.incidents.get(id).and_then(|i| i.redirect.as_deref()) {
                Some(next) => id = next,
                None => break,
            }
        }
        id
    }

    /// Registers a stored incident (when warming the engine from the store).
    pub fn restore_incident(&mut self, id: &str, open: Openness, redirect: Option<&str>) {
        self.order += 1;
        self.incidents.insert(
            id.to_string(),
            IncidentState {
                open,
                redirect: redirect.map(str::to_string),
                order: self.order,
            },
        );
    }

    /// Registers a stored alert's placement (when warming the engine from the store).
    pub fn restore_alert(
        &mut self,
        a: AlertIn<'_>,
        incident: &str,
        manual: bool,
        reasons: Vec<EntityKey>,
    ) {
        self.observe(a, incident, &reasons, manual);
    }

    /// Tells the engine an incident's status changed (resolved, reopened).
    pub fn set_openness(&mut self, id: &str, open: Openness) {
        if let Some(i) = self.incidents.get_mut(id) {
            i.open = open;
        }
    }

    /// Records a manual link so correlation never moves the alert again.
    pub fn pin(&mut self, alert: &str, incident: &str) {
        if let Some(st) = self.alerts.get(alert).cloned() {
            self.move_sightings(&st.keys, &st.incident, incident, st.at);
        }
        if let Some(st) = self.alerts.get_mut(alert) {
            st.incident = incident.to_string();
            st.manual = true;
            st.reasons.clear();
        }
    }

    /// Moves one alert's sightings from one incident to another.
    fn move_sightings(&mut self, keys: &[EntityKey], from: &str, to: &str, at: Timestamp) {
        for key in keys {
            let Some(st) = self.keys.get_mut(key) else {
                continue;
            };
            if let Some(pos) = st.incidents.iter().position(|(i, _, _)| i == from) {
                if let Some(e) = st.incidents.get_mut(pos) {
                    e.2 = e.2.saturating_sub(1);
                    if e.2 == 0 {
                        st.incidents.remove(pos);
                    }
                }
            }
            match st.incidents.iter_mut().find(|(i, _, _)| i == to) {
                Some(e) => {
                    e.1 = e.1.max(at);
                    e.2 += 1;
                }
                None => st.incidents.push((to.to_string(), at, 1)),
            }
        }
    }

    /// Records a manual merge.
    pub fn redirect(&mut self, from: &str, into: &str) {
        if let Some(i) = self.incidents.get_mut(from) {
            i.open = Openness::Redirected;
            i.redirect = Some(into.to_string());
        }
    }

    fn correlating<'s, 'k: 's>(
        &'s self,
        keys: &'k [EntityKey],
    ) -> impl Iterator<Item = &'k EntityKey> + 's {
        keys.iter()
            .filter(|k| STRONG_KINDS.contains(&k.kind) && !self.allow.contains(*k))
    }

    /// Updates prevalence with this alert; returns keys that just turned common.
    fn count(&mut self, a: AlertIn<'_>) -> Vec<EntityKey> {
        let mut turned = Vec::new();
        let keys: Vec<EntityKey> = self.correlating(a.keys).cloned().collect();
        for key in keys {
            if never_common(key.kind) {
                continue;
            }
            let cps: Vec<String> = counterparts(key.kind, a.keys)
                .into_iter()
                .map(str::to_string)
                .collect();
            let (window, cap, max) = (
                self.window,
                asset_cap(self.max_prevalence),
                self.max_prevalence,
            );
            let st = self.keys.entry(key.clone()).or_insert_with(|| KeyState {
                incidents: Vec::new(),
                assets: Vec::new(),
                common: false,
                sole: Vec::new(),
            });
            if st.common {
                continue;
            }
            st.assets
                .retain(|(_, t)| (a.at.micros() - t.micros()).abs() <= window);
            for c in cps {
                if let Some(e) = st.assets.iter_mut().find(|(v, _)| *v == c) {
                    e.1 = e.1.max(a.at);
                } else if st.assets.len() < cap {
                    st.assets.push((c, a.at));
                }
            }
            if st.assets.len() > max {
                st.common = true;
                turned.push(key);
            }
        }
        turned
    }

    fn observe(&mut self, a: AlertIn<'_>, incident: &str, reasons: &[EntityKey], manual: bool) {
        let keys: Vec<EntityKey> = self.correlating(a.keys).cloned().collect();
        for key in keys.iter().cloned() {
            let st = self.keys.entry(key).or_insert_with(|| KeyState {
                incidents: Vec::new(),
                assets: Vec::new(),
                common: false,
                sole: Vec::new(),
            });
            match st.incidents.iter_mut().find(|(i, _, _)| i == incident) {
                Some(e) => {
                    e.1 = e.1.max(a.at);
                    e.2 += 1;
                }
                None => st.incidents.push((incident.to_string(), a.at, 1)),
            }
        }
        if let [only] = reasons {
            if let Some(st) = self.keys.get_mut(only) {
                st.sole.push(a.id.to_string());
            }
        }
        self.alerts.insert(
            a.id.to_string(),
            AlertState {
                incident: incident.to_string(),
                manual,
                reasons: reasons.to_vec(),
                keys,
                at: a.at,
            },
        );
    }

    /// Places a new alert. `new_id` mints incident ids. Returns the effects in order.
    pub fn place(&mut self, a: AlertIn<'_>, new_id: &mut dyn FnMut() -> String) -> Vec<Effect> {
        let mut effects = Vec::new();
        // Prevalence first, so this alert counts towards making an entity common.
        for key in self.count(a) {
            let sole = self
                .keys
                .get_mut(&key)
                .map(|s| std::mem::take(&mut s.sole))
                .unwrap_or_default();
            for alert in sole {
                let Some(st) = self.alerts.get(&alert).cloned() else {
                    continue;
                };
                if st.manual || st.reasons.as_slice() != std::slice::from_ref(&key) {
                    continue;
                }
                let id = new_id();
                self.order += 1;
                self.incidents.insert(
                    id.clone(),
                    IncidentState {
                        open: Openness::Open,
                        redirect: None,
                        order: self.order,
                    },
                );
                self.move_sightings(&st.keys, &st.incident, &id, st.at);
                if let Some(st) = self.alerts.get_mut(&alert) {
                    st.incident = id.clone();
                    st.reasons.clear();
                }
                effects.push(Effect::NewIncident { id: id.clone() });
                effects.push(Effect::Split {
                    alert,
                    incident: id,
                    entity: key.clone(),
                });
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
                let s = self.survivor(inc).to_string();
                let open = self.incidents.get(&s).map(|i| i.open);
                if open == Some(Openness::Open) && !found.iter().any(|(i, k)| *i == s && k == key) {
                    found.push((s, key.clone()));
                }
            }
        }
        let mut targets: Vec<String> = Vec::new();
        for (inc, _) in &found {
            if !targets.contains(inc) {
                targets.push(inc.clone());
            }
        }
        targets.sort_by_key(|i| self.incidents.get(i).map_or(u64::MAX, |s| s.order));
        let incident = match targets.first() {
            Some(t) => t.clone(),
            None => {
                let id = new_id();
                self.order += 1;
                self.incidents.insert(
                    id.clone(),
                    IncidentState {
                        open: Openness::Open,
                        redirect: None,
                        order: self.order,
                    },
                );
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
        self.observe(a, &incident, &reason_keys, false);
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
        let live: std::collections::HashSet<&str> =
            alerts.values().map(|a| a.incident.as_str()).collect();
        self.incidents
            .retain(|id, i| live.contains(id.as_str()) || i.redirect.is_some());
    }

    /// How many alerts the engine tracks (for memory reports).
    pub fn tracked_alerts(&self) -> usize {
        self.alerts.len()
    }
}

#[cfg(test)]
mod tests;
