//! The alert story: what an alert's evidence says, shaped for the alert page.
//!
//! The page shows entity buttons (devices, accounts, mailboxes, addresses, files …) and a
//! process tree assembled from the process evidence of this alert and of the other alerts
//! that share a process with it. Both are derived from the stored Graph documents, so any
//! product that sends Graph-shaped evidence gets a story without extra mapping. Everything
//! here is pure: the page handler fetches, this module shapes.
use rampart_domain::alert::AlertRecord;
use rampart_domain::entity::{normalise, EntityKind};
use rampart_domain::timestamp::Timestamp;
use rampart_domain::vocab::Severity;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Evidence fields that are not facts worth a row.
const SKIP_FACTS: &[&str] = &["@odata.type", "tags"];
/// Most fact rows shown for one entity.
const MAX_FACTS: usize = 40;
/// Most nodes a story shows; the rest are counted, not drawn.
pub const MAX_NODES: usize = 500;

/// One entity an alert names: a button on the alert page and a details pane.
#[derive(Debug, Clone)]
pub struct Entity {
    pub kind: EntityKind,
    /// How the product spelled it (what the button says).
    pub label: String,
    /// The normalised value that the entity index and the entity page use.
    pub key: String,
    pub roles: Vec<String>,
    pub verdict: String,
    /// Flattened evidence fields, for the details pane.
    pub facts: Vec<(String, String)>,
}

impl Entity {
    pub fn kind_label(&self) -> &'static str {
        kind_label(self.kind)
    }
}

/// The heading for entities of `kind`.
pub fn kind_label(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Device => "Device",
        EntityKind::User => "User",
        EntityKind::Mailbox => "Mailbox",
        EntityKind::Ip => "IP address",
        EntityKind::Url => "URL",
        EntityKind::Domain => "Domain",
        EntityKind::FileSha256 | EntityKind::FileSha1 | EntityKind::FileMd5 => "File",
        EntityKind::FileName => "File",
        EntityKind::Process => "Process",
        EntityKind::CloudApp => "Cloud app",
        EntityKind::RegistryKey => "Registry key",
        EntityKind::SecurityGroup => "Security group",
        EntityKind::MailMessage => "E-mail message",
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::trim).filter(|s| !s.is_empty())
}

fn evidence_kind(ev: &Value) -> &str {
    let t = ev.get("@odata.type").and_then(Value::as_str).unwrap_or("");
    t.strip_prefix("#microsoft.graph.security.").unwrap_or(t)
}

/// The evidence array of a rendered alert document.
pub fn evidence(doc: &Value) -> &[Value] {
    doc.get("evidence")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|i| match i {
                    Value::Object(o) => {
                        Some(o.values().filter_map(scalar).collect::<Vec<_>>().join(" "))
                    }
                    other => scalar(other),
                })
                .filter(|s| !s.is_empty())
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        Value::Object(_) => None,
    }
}

/// Flattens an evidence object into `(field, value)` rows, nested objects as `a.b`.
pub fn facts(ev: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, o: &Map<String, Value>, out: &mut Vec<(String, String)>) {
        for (k, v) in o {
            if SKIP_FACTS.contains(&k.as_str()) || out.len() >= MAX_FACTS {
                continue;
            }
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(inner) => walk(&name, inner, out),
                other => {
                    if let Some(s) = scalar(other) {
                        out.push((name, s));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    if let Value::Object(o) = ev {
        walk("", o, &mut out);
    }
    // Read as words, times as the page shows them: `userAccount.accountName` broke mid-word
    // in the narrow pane, and stored times carried their microseconds and offset.
    out.into_iter()
        .map(|(k, v)| {
            let label = k
                .split('.')
                .map(super::view::words)
                .collect::<Vec<_>>()
                .join(" › ");
            let value = rampart_domain::timestamp::Timestamp::parse_rfc3339(&v)
                .map_or(v, super::view::when);
            (label, value)
        })
        .collect()
}

/// The entity one evidence item names, if it names one a button can stand for.
fn entity_of(ev: &Value) -> Option<(EntityKind, String, Option<String>)> {
    let s = |path: &[&str]| str_at(ev, path).map(str::to_string);
    let user = |base: &str| {
        let upn = s(&[base, "userPrincipalName"]);
        let name = s(&[base, "accountName"]);
        let domain = s(&[base, "domainName"]);
        let label = match (&domain, &name) {
            (Some(d), Some(n)) => Some(format!("{d}\\{n}")),
            _ => name.clone().or(upn.clone()),
        };
        let key_src = name.or(upn).or(s(&[base, "userSid"]));
        label
            .zip(key_src)
            .map(|(l, k)| (EntityKind::User, l, Some(k)))
    };
    match evidence_kind(ev) {
        "deviceEvidence" => {
            let name = s(&["deviceDnsName"]).or(s(&["hostName"]))?;
            Some((EntityKind::Device, name, None))
        }
        "userEvidence" => user("userAccount"),
        "mailboxEvidence" => s(&["primaryAddress"]).map(|a| (EntityKind::Mailbox, a, None)),
        "ipEvidence" => s(&["ipAddress"]).map(|a| (EntityKind::Ip, a, None)),
        "urlEvidence" => s(&["url"]).map(|a| (EntityKind::Url, a, None)),
        "dnsEvidence" => s(&["domainName"]).map(|a| (EntityKind::Domain, a, None)),
        "fileEvidence" => {
            let name = s(&["fileDetails", "fileName"]);
            match s(&["fileDetails", "sha256"]) {
                Some(sha) => Some((
                    EntityKind::FileSha256,
                    name.unwrap_or(sha.clone()),
                    Some(sha),
                )),
                None => name.map(|n| (EntityKind::FileName, n, None)),
            }
        }
        "cloudApplicationEvidence" | "oauthApplicationEvidence" => {
            s(&["displayName"]).map(|a| (EntityKind::CloudApp, a, None))
        }
        "securityGroupEvidence" => {
            s(&["displayName"]).map(|a| (EntityKind::SecurityGroup, a, None))
        }
        "registryKeyEvidence" | "registryValueEvidence" => {
            let key = s(&["registryKey"])?;
            let full = match s(&["registryHive"]) {
                Some(h) => format!("{h}\\{key}"),
                None => key,
            };
            Some((EntityKind::RegistryKey, full, None))
        }
        "analyzedMessageEvidence" => {
            let id = s(&["networkMessageId"]).or(s(&["internetMessageId"]))?;
            let label = s(&["subject"]).unwrap_or(id.clone());
            Some((EntityKind::MailMessage, label, Some(id)))
        }
        _ => None,
    }
}

/// The entities an alert's evidence names, one per (kind, normalised value), in evidence
/// order. Roles of repeated mentions are merged.
pub fn entities(doc: &Value) -> Vec<Entity> {
    let mut out: Vec<Entity> = Vec::new();
    for ev in evidence(doc) {
        let Some((kind, label, key_src)) = entity_of(ev) else {
            continue;
        };
        let Some(key) = normalise(kind, key_src.as_deref().unwrap_or(&label)) else {
            continue;
        };
        let roles: Vec<String> = ev
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(scalar).collect())
            .unwrap_or_default();
        if let Some(e) = out.iter_mut().find(|e| e.kind == kind && e.key == key) {
            for r in roles {
                if !e.roles.contains(&r) {
                    e.roles.push(r);
                }
            }
            continue;
        }
        out.push(Entity {
            kind,
            label,
            key,
            roles,
            verdict: str_at(ev, &["verdict"]).unwrap_or("unknown").to_string(),
            facts: facts(ev),
        });
    }
    out
}

/// Where an alert on the tree sits relative to the alert in focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Focus,
    Before,
    After,
}

/// An alert shown on a process-tree node.
#[derive(Debug, Clone)]
pub struct AlertMark {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub at: Timestamp,
    pub relation: Relation,
}

/// Something an alert saw next to a process: a file, an address, a URL.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub kind: &'static str,
    pub text: String,
}

/// One process in the story.
#[derive(Debug, Clone, Default)]
pub struct ProcNode {
    pub key: String,
    pub pid: Option<i64>,
    pub image: String,
    pub path: String,
    pub command_line: String,
    pub created: Option<Timestamp>,
    pub user: String,
    pub sha256: String,
    pub verdict: String,
    pub alerts: Vec<AlertMark>,
    pub leaves: Vec<Leaf>,
    children: Vec<usize>,
    parent: Option<usize>,
    /// Known only as some process's parent.
    pub inferred: bool,
}

impl ProcNode {
    pub fn has_focus(&self) -> bool {
        self.alerts.iter().any(|a| a.relation == Relation::Focus)
    }
}

/// A step of a depth-first walk: a node opens, its children follow, then it closes. The
/// template turns this into nested, collapsible lists without recursion.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    pub node: Option<&'a ProcNode>,
    pub depth: usize,
    pub has_children: bool,
    /// The node's subtree holds the alert in focus (rendered expanded).
    pub open: bool,
}

/// The process tree of a story.
#[derive(Debug, Default)]
pub struct Story {
    nodes: Vec<ProcNode>,
    roots: Vec<usize>,
    /// Nodes left out beyond [`MAX_NODES`].
    pub truncated: usize,
}

fn process_key(device: &str, pid: i64, created: Option<Timestamp>) -> String {
    match created {
        Some(c) => format!("{device}|{pid}|{}", c.micros()),
        None => format!("{device}|{pid}|?"),
    }
}

fn time_at(v: &Value, field: &str) -> Option<Timestamp> {
    v.get(field)
        .and_then(Value::as_str)
        .and_then(|s| Timestamp::parse_rfc3339(s).ok())
}

impl Story {
    /// Builds the tree from `alerts` (record and rendered document); `focus` is the alert
    /// the page is about.
    pub fn build(focus: &AlertRecord, alerts: &[(AlertRecord, Value)]) -> Story {
        let mut st = Story::default();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (rec, doc) in alerts {
            let relation = if rec.id == focus.id {
                Relation::Focus
            } else if (rec.first_activity, &rec.id) < (focus.first_activity, &focus.id) {
                Relation::Before
            } else {
                Relation::After
            };
            let mut mine: Vec<usize> = Vec::new();
            for ev in evidence(doc) {
                if evidence_kind(ev) != "processEvidence" {
                    continue;
                }
                let Some(pid) = ev.get("processId").and_then(Value::as_i64) else {
                    continue;
                };
                let device = str_at(ev, &["mdeDeviceId"]).unwrap_or("");
                let created = time_at(ev, "processCreationDateTime");
                let key = process_key(device, pid, created);
                let Some(i) = st.node(&mut index, key) else {
                    continue;
                };
                {
                    let n = &mut st.nodes[i];
                    n.inferred = false;
                    n.pid = Some(pid);
                    n.created = created;
                    n.image = str_at(ev, &["imageFile", "fileName"])
                        .unwrap_or("(unknown image)")
                        .to_string();
                    n.path = str_at(ev, &["imageFile", "filePath"])
                        .unwrap_or("")
                        .to_string();
                    n.sha256 = str_at(ev, &["imageFile", "sha256"])
                        .unwrap_or("")
                        .to_string();
                    n.command_line = str_at(ev, &["processCommandLine"])
                        .unwrap_or("")
                        .to_string();
                    n.user = match (
                        str_at(ev, &["userAccount", "domainName"]),
                        str_at(ev, &["userAccount", "accountName"]),
                    ) {
                        (Some(d), Some(a)) => format!("{d}\\{a}"),
                        (None, Some(a)) => a.to_string(),
                        _ => String::new(),
                    };
                    let verdict = str_at(ev, &["verdict"]).unwrap_or("");
                    if n.verdict.is_empty() || verdict == "malicious" {
                        n.verdict = verdict.to_string();
                    }
                }
                mine.push(i);
                if let Some(ppid) = ev.get("parentProcessId").and_then(Value::as_i64) {
                    let pkey =
                        process_key(device, ppid, time_at(ev, "parentProcessCreationDateTime"));
                    if let Some(p) = st.node(&mut index, pkey) {
                        if st.nodes[p].inferred {
                            let pn = &mut st.nodes[p];
                            pn.pid = Some(ppid);
                            pn.created = time_at(ev, "parentProcessCreationDateTime");
                            pn.image = str_at(ev, &["parentProcessImageFile", "fileName"])
                                .unwrap_or("(unknown image)")
                                .to_string();
                            pn.path = str_at(ev, &["parentProcessImageFile", "filePath"])
                                .unwrap_or("")
                                .to_string();
                        }
                        if p != i && st.nodes[i].parent.is_none() && !st.is_ancestor(i, p) {
                            st.nodes[i].parent = Some(p);
                            st.nodes[p].children.push(i);
                        }
                    }
                }
            }
            // The alert is drawn on its deepest processes: those with no child of its own.
            let leaves: Vec<usize> = mine
                .iter()
                .copied()
                .filter(|&i| !st.nodes[i].children.iter().any(|c| mine.contains(c)))
                .collect();
            let mark = AlertMark {
                id: rec.id.clone(),
                title: rec.title.clone(),
                severity: rec.severity,
                at: rec.first_activity,
                relation,
            };
            let mut seen = Vec::new();
            for &i in &leaves {
                if !seen.contains(&i) {
                    seen.push(i);
                    st.nodes[i].alerts.push(mark.clone());
                }
            }
            // Files and addresses the alert saw hang under its newest process.
            if let Some(&last) = leaves
                .iter()
                .max_by_key(|&&i| (st.nodes[i].created, std::cmp::Reverse(i)))
            {
                for ev in evidence(doc) {
                    let leaf = match evidence_kind(ev) {
                        "fileEvidence" => str_at(ev, &["fileDetails", "fileName"]).map(|n| {
                            let path = str_at(ev, &["fileDetails", "filePath"]).unwrap_or("");
                            Leaf {
                                kind: "File",
                                text: if path.is_empty() {
                                    n.to_string()
                                } else {
                                    format!("{path}\\{n}")
                                },
                            }
                        }),
                        "ipEvidence" => str_at(ev, &["ipAddress"]).map(|a| Leaf {
                            kind: "Connection",
                            text: a.to_string(),
                        }),
                        "urlEvidence" => str_at(ev, &["url"]).map(|a| Leaf {
                            kind: "URL",
                            text: a.to_string(),
                        }),
                        _ => None,
                    };
                    if let Some(l) = leaf {
                        let n = &mut st.nodes[last];
                        if !n
                            .leaves
                            .iter()
                            .any(|x| x.kind == l.kind && x.text == l.text)
                        {
                            n.leaves.push(l);
                        }
                    }
                }
            }
        }
        st.roots = (0..st.nodes.len())
            .filter(|&i| st.nodes[i].parent.is_none())
            .collect();
        let by_time = |nodes: &[ProcNode], v: &mut Vec<usize>| {
            v.sort_by_key(|&i| (nodes[i].created, nodes[i].pid, i));
        };
        let mut roots = std::mem::take(&mut st.roots);
        by_time(&st.nodes, &mut roots);
        st.roots = roots;
        for i in 0..st.nodes.len() {
            let mut c = std::mem::take(&mut st.nodes[i].children);
            by_time(&st.nodes, &mut c);
            st.nodes[i].children = c;
        }
        st
    }

    fn node(&mut self, index: &mut HashMap<String, usize>, key: String) -> Option<usize> {
        if let Some(&i) = index.get(&key) {
            return Some(i);
        }
        if self.nodes.len() >= MAX_NODES {
            self.truncated += 1;
            return None;
        }
        let i = self.nodes.len();
        self.nodes.push(ProcNode {
            key: key.clone(),
            inferred: true,
            ..ProcNode::default()
        });
        index.insert(key, i);
        Some(i)
    }

    fn is_ancestor(&self, maybe: usize, of: usize) -> bool {
        let mut cur = Some(of);
        let mut hops = 0;
        while let Some(c) = cur {
            if c == maybe {
                return true;
            }
            hops += 1;
            if hops > self.nodes.len() {
                return true;
            }
            cur = self.nodes[c].parent;
        }
        false
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The alerts on the tree other than the focus, as (before, after) counts.
    pub fn neighbours(&self) -> (usize, usize) {
        let mut ids: BTreeMap<&str, Relation> = BTreeMap::new();
        for n in &self.nodes {
            for a in &n.alerts {
                ids.insert(&a.id, a.relation);
            }
        }
        let before = ids.values().filter(|r| **r == Relation::Before).count();
        let after = ids.values().filter(|r| **r == Relation::After).count();
        (before, after)
    }

    fn holds_focus(&self, i: usize) -> bool {
        let mut stack = vec![i];
        while let Some(n) = stack.pop() {
            if self.nodes[n].has_focus() {
                return true;
            }
            stack.extend(&self.nodes[n].children);
        }
        false
    }

    /// The depth-first walk, parents before children, siblings in time order.
    pub fn steps(&self) -> Vec<Step<'_>> {
        let mut out = Vec::with_capacity(self.nodes.len() * 2);
        // (node, depth, entering)
        let mut stack: Vec<(usize, usize, bool)> =
            self.roots.iter().rev().map(|&r| (r, 0, true)).collect();
        while let Some((i, depth, entering)) = stack.pop() {
            let n = &self.nodes[i];
            if entering {
                out.push(Step {
                    node: Some(n),
                    depth,
                    has_children: !n.children.is_empty(),
                    open: self.holds_focus(i),
                });
                stack.push((i, depth, false));
                for &c in n.children.iter().rev() {
                    stack.push((c, depth + 1, true));
                }
            } else {
                out.push(Step {
                    node: None,
                    depth,
                    has_children: !n.children.is_empty(),
                    open: false,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
