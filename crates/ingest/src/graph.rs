//! The Graph security alert (alerts_v2) shape → domain alert.
//!
//! Types follow Graph strictly: a value of the wrong JSON type is rejected, never coerced.
//! Closed enums must be members; evolvable vocabularies (sources, evidence types, roles,
//! verdicts) are kept as given. Unknown fields are neither checked nor lost: the document is
//! stored verbatim.
use crate::error::IngestError;
use crate::json::Node;
use rampart_domain::alert::{
    AlertRecord, NewAlert, MAX_AHEAD_MICROS, MAX_EVIDENCE, MAX_SYSTEM_TAGS, MAX_TITLE_BYTES,
};
use rampart_domain::entity::{normalise, url_host, EntityKey, EntityKind, ImpactedAsset};
use rampart_domain::ids::{check_alert_id, check_id, PrefixRegistry};
use rampart_domain::timestamp::Timestamp;
use rampart_domain::triage::{check_tag, MAX_TAGS};
use rampart_domain::vocab::{check_pairing, AlertStatus, Classification, Determination, Severity};
use std::fmt::Display;

/// Most impacted assets kept on the queue row (the entity index holds them all).
const MAX_IMPACTED: usize = 8;

type Result<T> = std::result::Result<T, IngestError>;

/// One key/value of a JSON object.
type Field<'a> = (std::borrow::Cow<'a, str>, Node<'a>);

/// `parent.name`: a field's path, written out only when an error names it. Formatting the
/// path of every field read was a third of extracting an alert's entities.
#[derive(Clone, Copy)]
struct At<'a, P>(P, &'a str);

impl<P: Display> Display for At<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// `parent[index]`, written out only when an error names it.
#[derive(Clone, Copy)]
struct Idx<P>(P, usize);

impl<P: Display> Display for Idx<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.0, self.1)
    }
}

fn wrong_type(field: impl Display, expected: &str, got: &Node<'_>) -> IngestError {
    IngestError::field_err(
        field.to_string(),
        format!("expected {expected}, got {}", got.type_name()),
    )
}

fn opt_str<'n>(field: impl Display, v: &'n Node<'_>) -> Result<Option<&'n str>> {
    match v {
        Node::Null => Ok(None),
        Node::Str(s) => Ok(Some(s)),
        other => Err(wrong_type(field, "a string", other)),
    }
}

fn opt_time(field: impl Display + Copy, v: &Node<'_>) -> Result<Option<Timestamp>> {
    match opt_str(field, v)? {
        None => Ok(None),
        Some(s) => Timestamp::parse_rfc3339(s)
            .map(Some)
            .map_err(|e| IngestError::field_err(field.to_string(), e)),
    }
}

fn str_array<'n>(field: impl Display + Copy, v: &'n Node<'_>, max: usize) -> Result<Vec<&'n str>> {
    match v {
        Node::Null => Ok(Vec::new()),
        Node::Arr(items) => {
            if items.len() > max {
                return Err(IngestError::field_err(
                    field.to_string(),
                    format!("more than {max} items"),
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, n)| match n {
                    Node::Str(s) => Ok(s.as_ref()),
                    other => Err(wrong_type(Idx(field, i), "a string", other)),
                })
                .collect()
        }
        other => Err(wrong_type(field, "an array of strings", other)),
    }
}

fn member<T>(
    field: impl Display + Copy,
    v: &Node<'_>,
    parse: fn(&str) -> Option<T>,
    expected: fn() -> String,
) -> Result<Option<T>> {
    match opt_str(field, v)? {
        None => Ok(None),
        Some(s) => parse(s).map(Some).ok_or_else(|| {
            IngestError::field_err(
                field.to_string(),
                format!("unknown value {s:?}; expected one of {}", expected()),
            )
        }),
    }
}

fn int64(field: impl Display, v: &Node<'_>) -> Result<()> {
    match v {
        Node::Null | Node::Int(_) => Ok(()),
        Node::UInt(_) => Err(IngestError::field_err(
            field.to_string(),
            "out of Int64 range",
        )),
        other => Err(wrong_type(field, "an integer", other)),
    }
}

fn int32(field: impl Display, v: &Node<'_>) -> Result<()> {
    match v {
        Node::Null => Ok(()),
        Node::Int(i) if i32::try_from(*i).is_ok() => Ok(()),
        Node::Int(_) | Node::UInt(_) => Err(IngestError::field_err(
            field.to_string(),
            "out of Int32 range",
        )),
        other => Err(wrong_type(field, "an integer", other)),
    }
}

fn object_fields<'n, 'a>(field: impl Display, v: &'n Node<'a>) -> Result<Option<&'n [Field<'a>]>> {
    match v {
        Node::Null => Ok(None),
        Node::Obj(f) => Ok(Some(f)),
        other => Err(wrong_type(field, "an object", other)),
    }
}

/// Normalises one Graph alert document. `doc` is the exact bytes `node` was parsed from;
/// `now` stands in for missing timestamps.
pub fn normalise_alert(
    doc: bytes::Bytes,
    node: &Node<'_>,
    prefixes: &PrefixRegistry,
    now: Timestamp,
) -> Result<NewAlert> {
    let Node::Obj(fields) = node else {
        return Err(IngestError::field_err(
            "(alert)",
            format!("expected an object, got {}", node.type_name()),
        ));
    };
    let mut id = None;
    let mut provider_id = None;
    let mut title = None;
    let mut severity = None;
    let mut status = None;
    let mut classification = None;
    let mut determination = None;
    let mut service_source = None;
    let mut detection_source = None;
    let mut category = None;
    let mut investigation_state = None;
    let mut assigned_to = None;
    let mut tags: Vec<String> = Vec::new();
    let (mut first, mut last, mut created, mut updated, mut resolved) =
        (None, None, None, None, None);
    let mut evidence: &[Node<'_>] = &[];

    for (key, v) in fields {
        let k = key.as_ref();
        match k {
            "id" => id = opt_str(k, v)?,
            "providerAlertId" => provider_id = opt_str(k, v)?,
            "title" => title = opt_str(k, v)?,
            "severity" => severity = member(k, v, Severity::parse, Severity::expected)?,
            "status" => status = member(k, v, AlertStatus::parse, AlertStatus::expected)?,
            "classification" => {
                classification = member(k, v, Classification::parse, Classification::expected)?
            }
            "determination" => {
                determination = member(k, v, Determination::parse, Determination::expected)?
            }
            "serviceSource" => service_source = opt_str(k, v)?,
            "detectionSource" => detection_source = opt_str(k, v)?,
            "category" => category = opt_str(k, v)?,
            "investigationState" => investigation_state = opt_str(k, v)?,
            "assignedTo" => assigned_to = opt_str(k, v)?,
            "description" | "detectorId" | "recommendedActions" | "providerUrl" | "alertWebUrl"
            | "incidentWebUrl" | "tenantId" | "threatDisplayName" | "threatFamilyName"
            | "actorDisplayName" | "alertPolicyId" | "productName" | "incidentId" => {
                opt_str(k, v)?;
            }
            "firstActivityDateTime" => first = opt_time(k, v)?,
            "lastActivityDateTime" => last = opt_time(k, v)?,
            "createdDateTime" => created = opt_time(k, v)?,
            "lastUpdateDateTime" => updated = opt_time(k, v)?,
            "resolvedDateTime" => resolved = opt_time(k, v)?,
            "mitreTechniques" => {
                str_array(k, v, MAX_SYSTEM_TAGS)?;
            }
            "systemTags" => {
                str_array(k, v, MAX_SYSTEM_TAGS)?;
            }
            "tags" => {
                tags = str_array(k, v, MAX_SYSTEM_TAGS)?
                    .into_iter()
                    .map(str::to_string)
                    .collect();
            }
            "evidence" => match v {
                Node::Null => {}
                Node::Arr(items) => {
                    if items.len() > MAX_EVIDENCE {
                        return Err(IngestError::field_err(
                            k,
                            format!("more than {MAX_EVIDENCE} items"),
                        ));
                    }
                    evidence = items;
                }
                other => return Err(wrong_type(k, "an array", other)),
            },
            "comments" => match v {
                Node::Null => {}
                Node::Arr(items) => {
                    for (i, c) in items.iter().enumerate() {
                        let f = Idx("comments", i);
                        let Some(cf) = object_fields(f, c)? else {
                            continue;
                        };
                        for (ck, cv) in cf {
                            match ck.as_ref() {
                                "comment" | "createdByDisplayName" => {
                                    opt_str(At(f, ck), cv)?;
                                }
                                "createdDateTime" => {
                                    opt_time(At(f, ck), cv)?;
                                }
                                _ => {}
                            }
                        }
                    }
                }
                other => return Err(wrong_type(k, "an array", other)),
            },
            _ => {}
        }
    }

    let id = id.map(|s| check_alert_id(s).map(|()| s)).transpose()?;
    let provider_id = provider_id
        .map(|s| check_id("providerAlertId", s).map(|()| s))
        .transpose()?;
    let title = title.ok_or_else(|| IngestError::field_err("title", "is required"))?;
    if title.is_empty() {
        return Err(IngestError::field_err("title", "must not be empty"));
    }
    if title.len() > MAX_TITLE_BYTES {
        return Err(IngestError::field_err(
            "title",
            format!("longer than {MAX_TITLE_BYTES} bytes"),
        ));
    }
    let severity = severity.ok_or_else(|| {
        IngestError::field_err(
            "severity",
            format!("is required; one of {}", Severity::expected()),
        )
    })?;
    let classification = classification.unwrap_or(Classification::Unknown);
    let determination = determination.unwrap_or(Determination::Unknown);
    check_pairing(classification, determination)?;
    // Known products are stored under their Graph spelling whatever case or alias the
    // producer used, so role limits and queue filters compare like with like.
    let service_source =
        rampart_domain::vocab::service_source_canonical(service_source.unwrap_or("unknown"));
    let detection_source = detection_source.unwrap_or("unknown").to_string();
    let id = match (id, provider_id) {
        (Some(id), _) => id.to_string(),
        (None, Some(p)) => prefixes.derive_id(&service_source, &detection_source, p),
        (None, None) => {
            return Err(IngestError::field_err(
                "id",
                "an alert needs `id` or `providerAlertId`",
            ))
        }
    };

    let mut entities = Vec::new();
    let mut impacted = Vec::new();
    for (i, ev) in evidence.iter().enumerate() {
        evidence_entities(i, ev, &mut entities, &mut impacted)?;
    }
    entities.sort();
    entities.dedup();
    let mut seen = std::collections::HashSet::new();
    impacted.retain(|a: &ImpactedAsset| seen.insert((a.kind, normalise(a.kind, &a.name))));
    impacted.truncate(MAX_IMPACTED);
    // The rules an analyst's tags follow: a tag ingest lets in that triage refuses could
    // never be removed or renamed.
    for (i, t) in tags.iter().enumerate() {
        check_tag(&format!("tags[{i}]"), t)?;
    }
    let mut uniq_tags = std::collections::BTreeSet::new();
    tags.retain(|t| uniq_tags.insert(t.clone()));
    if tags.len() > MAX_TAGS {
        return Err(IngestError::field_err(
            "tags",
            format!("an alert can carry at most {MAX_TAGS} tags"),
        ));
    }

    let latest = now.plus_micros(MAX_AHEAD_MICROS);
    for (field, t) in [
        ("createdDateTime", created),
        ("firstActivityDateTime", first),
        ("lastActivityDateTime", last),
        ("lastUpdateDateTime", updated),
        ("resolvedDateTime", resolved),
    ] {
        if t.is_some_and(|t| t > latest) {
            return Err(IngestError::field_err(
                field,
                format!(
                    "is more than an hour ahead of the server's clock ({})",
                    now.to_rfc3339()
                ),
            ));
        }
    }
    let created = created.unwrap_or(now);
    let first = first.unwrap_or(created);
    let last = last.unwrap_or(first).max(first);
    let status = status.unwrap_or(AlertStatus::New);
    let record = AlertRecord {
        id,
        provider_alert_id: provider_id.map(str::to_string),
        incident_id: None,
        title: title.to_string(),
        category: category.map(str::to_string),
        severity,
        status,
        classification,
        determination,
        service_source,
        detection_source,
        investigation_state: investigation_state.map(str::to_string),
        assigned_to: assigned_to.map(str::to_string),
        tags,
        first_activity: first,
        last_activity: last,
        created,
        last_update: updated.unwrap_or(now),
        resolved: if status == AlertStatus::Resolved {
            Some(resolved.unwrap_or(now))
        } else {
            None
        },
        version: 1,
        impacted_assets: impacted,
    };
    Ok(NewAlert {
        record,
        entities,
        document: doc,
    })
}

fn push_key(out: &mut Vec<EntityKey>, kind: EntityKind, raw: Option<&str>) {
    if let Some(value) = raw.and_then(|r| normalise(kind, r)) {
        out.push(EntityKey { kind, value });
    }
}

/// Checks the typed fields of one evidence item and collects its entity keys and assets.
fn evidence_entities(
    i: usize,
    ev: &Node<'_>,
    out: &mut Vec<EntityKey>,
    assets: &mut Vec<ImpactedAsset>,
) -> Result<()> {
    let path = Idx("evidence", i);
    let Node::Obj(fields) = ev else {
        return Err(wrong_type(path, "an object", ev));
    };
    let odata = match ev.get("@odata.type") {
        Some(v) => opt_str(At(path, "@odata.type"), v)?.unwrap_or(""),
        None => "",
    };
    let kind = odata
        .strip_prefix("#microsoft.graph.security.")
        .unwrap_or(odata);

    // Common evidence fields.
    for (k, v) in fields {
        match k.as_ref() {
            "createdDateTime" => {
                opt_time(At(path, k), v)?;
            }
            "verdict" | "remediationStatus" | "remediationStatusDetails" => {
                opt_str(At(path, k), v)?;
            }
            "roles" | "detailedRoles" | "tags" => {
                str_array(At(path, k), v, MAX_SYSTEM_TAGS)?;
            }
            _ => {}
        }
    }
    let get = |name: &str| ev.get(name).unwrap_or(&Node::Null);
    let s = |name: &'static str| -> Result<Option<&str>> { opt_str(At(path, name), get(name)) };

    match kind {
        "deviceEvidence" => {
            let dns = s("deviceDnsName")?;
            let host = s("hostName")?;
            // A blank DNS name is no name: fall back to the host name, as when it is absent.
            let name = dns.filter(|d| !d.trim().is_empty()).or(host);
            push_key(out, EntityKind::Device, name);
            s("mdeDeviceId")?;
            s("azureAdDeviceId")?;
            int32(At(path, "rbacGroupId"), get("rbacGroupId"))?;
            if let Some(n) = name {
                assets.push(ImpactedAsset {
                    kind: EntityKind::Device,
                    name: n.to_string(),
                });
            }
            if let Node::Arr(ips) = get("ipInterfaces") {
                for (j, ip) in ips.iter().enumerate() {
                    push_key(
                        out,
                        EntityKind::Ip,
                        opt_str(Idx(At(path, "ipInterfaces"), j), ip)?,
                    );
                }
            }
            if let Node::Arr(users) = get("loggedOnUsers") {
                for (j, u) in users.iter().enumerate() {
                    let uf = Idx(At(path, "loggedOnUsers"), j);
                    if let Some(fields) = object_fields(uf, u)? {
                        for (uk, uv) in fields {
                            if uk == "accountName" {
                                push_key(
                                    out,
                                    EntityKind::User,
                                    opt_str(At(uf, "accountName"), uv)?,
                                );
                            }
                        }
                    }
                }
            }
        }
        "userEvidence" => {
            user_account(
                At(path, "userAccount"),
                get("userAccount"),
                out,
                Some(assets),
            )?;
        }
        "mailboxEvidence" => {
            let addr = s("primaryAddress")?;
            push_key(out, EntityKind::Mailbox, addr);
            if let Some(a) = addr {
                assets.push(ImpactedAsset {
                    kind: EntityKind::Mailbox,
                    name: a.to_string(),
                });
            }
            user_account(At(path, "userAccount"), get("userAccount"), out, None)?;
        }
        "processEvidence" => {
            int64(At(path, "processId"), get("processId"))?;
            int64(At(path, "parentProcessId"), get("parentProcessId"))?;
            let created = opt_time(
                At(path, "processCreationDateTime"),
                get("processCreationDateTime"),
            )?;
            let parent_created = opt_time(
                At(path, "parentProcessCreationDateTime"),
                get("parentProcessCreationDateTime"),
            )?;
            s("processCommandLine")?;
            let device = s("mdeDeviceId")?;
            s("detectionStatus")?;
            file_details(At(path, "imageFile"), get("imageFile"), out)?;
            file_details(
                At(path, "parentProcessImageFile"),
                get("parentProcessImageFile"),
                out,
            )?;
            user_account(At(path, "userAccount"), get("userAccount"), out, None)?;
            if let (Some(dev), Node::Int(pid), Some(c)) = (device, get("processId"), created) {
                let key = format!("{dev}|{pid}|{}", c.micros());
                push_key(out, EntityKind::Process, Some(&key));
            }
            // The parent under the same identity, so an alert on a child process and one on
            // its parent share a key: process lineage links alerts.
            if let (Some(dev), Node::Int(ppid), Some(c)) =
                (device, get("parentProcessId"), parent_created)
            {
                let key = format!("{dev}|{ppid}|{}", c.micros());
                push_key(out, EntityKind::Process, Some(&key));
            }
        }
        "fileEvidence" => {
            file_details(At(path, "fileDetails"), get("fileDetails"), out)?;
            s("mdeDeviceId")?;
            s("detectionStatus")?;
        }
        "ipEvidence" => {
            push_key(out, EntityKind::Ip, s("ipAddress")?);
            s("countryLetterCode")?;
        }
        "urlEvidence" => {
            let url = s("url")?;
            push_key(out, EntityKind::Url, url);
            push_key(out, EntityKind::Domain, url.and_then(url_host).as_deref());
        }
        "dnsEvidence" => {
            push_key(out, EntityKind::Domain, s("domainName")?);
        }
        "cloudApplicationEvidence" => {
            push_key(out, EntityKind::CloudApp, s("displayName")?);
            int64(At(path, "appId"), get("appId"))?;
            s("instanceName")?;
        }
        "oauthApplicationEvidence" => {
            push_key(out, EntityKind::CloudApp, s("displayName")?);
        }
        "registryKeyEvidence" | "registryValueEvidence" => {
            let hive = s("registryHive")?;
            let key = s("registryKey")?;
            if kind == "registryValueEvidence" {
                s("registryValue")?;
                s("registryValueName")?;
                s("registryValueType")?;
            }
            if let Some(k) = key {
                let full = match hive {
                    Some(h) => format!("{h}\\{k}"),
                    None => k.to_string(),
                };
                push_key(out, EntityKind::RegistryKey, Some(&full));
            }
        }
        "securityGroupEvidence" => {
            push_key(out, EntityKind::SecurityGroup, s("displayName")?);
            push_key(out, EntityKind::SecurityGroup, s("securityGroupId")?);
        }
        "analyzedMessageEvidence" => {
            push_key(out, EntityKind::MailMessage, s("networkMessageId")?);
            push_key(out, EntityKind::MailMessage, s("internetMessageId")?);
            push_key(out, EntityKind::Mailbox, s("recipientEmailAddress")?);
            push_key(out, EntityKind::Ip, s("senderIp")?);
            s("subject")?;
            for sender in ["p1Sender", "p2Sender"] {
                if let Some(fields) = object_fields(At(path, sender), get(sender))? {
                    for (k, v) in fields {
                        if k == "emailAddress" {
                            push_key(
                                out,
                                EntityKind::Mailbox,
                                opt_str(At(At(path, sender), "emailAddress"), v)?,
                            );
                        }
                    }
                }
            }
        }
        // Unknown or missing types are kept opaque.
        _ => {}
    }
    Ok(())
}

fn user_account(
    path: impl Display + Copy,
    v: &Node<'_>,
    out: &mut Vec<EntityKey>,
    assets: Option<&mut Vec<ImpactedAsset>>,
) -> Result<()> {
    let Some(fields) = object_fields(path, v)? else {
        return Ok(());
    };
    let (mut name, mut domain, mut upn) = (None, None, None);
    for (k, val) in fields {
        let fk = At(path, k.as_ref());
        match k.as_ref() {
            "accountName" => name = opt_str(fk, val)?,
            "domainName" => domain = opt_str(fk, val)?,
            "userPrincipalName" => upn = opt_str(fk, val)?,
            "userSid" => push_key(out, EntityKind::User, opt_str(fk, val)?),
            "azureAdUserId" | "displayName" | "resourceAccessEvents" => {}
            _ => {}
        }
    }
    push_key(out, EntityKind::User, name);
    push_key(out, EntityKind::User, upn);
    if let Some(assets) = assets {
        let shown = match (domain, name, upn) {
            (Some(d), Some(n), _) => Some(format!("{d}\\{n}")),
            (None, Some(n), _) => Some(n.to_string()),
            (_, None, Some(u)) => Some(u.to_string()),
            _ => None,
        };
        if let Some(name) = shown {
            assets.push(ImpactedAsset {
                kind: EntityKind::User,
                name,
            });
        }
    }
    Ok(())
}

fn file_details(path: impl Display + Copy, v: &Node<'_>, out: &mut Vec<EntityKey>) -> Result<()> {
    let Some(fields) = object_fields(path, v)? else {
        return Ok(());
    };
    for (k, val) in fields {
        let fk = At(path, k.as_ref());
        match k.as_ref() {
            "fileName" => push_key(out, EntityKind::FileName, opt_str(fk, val)?),
            "sha256" => push_key(out, EntityKind::FileSha256, opt_str(fk, val)?),
            "sha1" => push_key(out, EntityKind::FileSha1, opt_str(fk, val)?),
            "md5" => push_key(out, EntityKind::FileMd5, opt_str(fk, val)?),
            "filePath" | "filePublisher" | "signer" | "issuer" => {
                opt_str(fk, val)?;
            }
            "fileSize" => int64(fk, val)?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
