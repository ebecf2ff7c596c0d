//! The stored producer document and how it meets triage state.
//!
//! Rampart keeps the producer's Graph document verbatim and the triage state (status,
//! assignment, classification, tags, incident, version) in the record. Reading an alert lays
//! the record over the document, so analysts' decisions win and producer fields Rampart does
//! not understand still come back unchanged.
use crate::alert::AlertRecord;
use crate::timestamp::Timestamp;
use serde_json::{Map, Value};

fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// The alert as the API returns it: the document with the record's fields laid over it.
pub fn render(record: &AlertRecord, document: &[u8]) -> Value {
    let mut obj = match serde_json::from_slice::<Value>(document) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let r = record;
    obj.insert("id".into(), Value::String(r.id.clone()));
    if let Some(p) = &r.provider_alert_id {
        obj.insert("providerAlertId".into(), Value::String(p.clone()));
    }
    obj.insert("incidentId".into(), opt(r.incident_id.as_deref()));
    obj.insert("title".into(), Value::String(r.title.clone()));
    obj.insert("severity".into(), Value::String(r.severity.as_str().into()));
    obj.insert("status".into(), Value::String(r.status.as_str().into()));
    obj.insert(
        "classification".into(),
        Value::String(r.classification.as_str().into()),
    );
    obj.insert(
        "determination".into(),
        Value::String(r.determination.as_str().into()),
    );
    obj.insert(
        "serviceSource".into(),
        Value::String(r.service_source.clone()),
    );
    obj.insert(
        "detectionSource".into(),
        Value::String(r.detection_source.clone()),
    );
    obj.insert("assignedTo".into(), opt(r.assigned_to.as_deref()));
    obj.insert(
        "tags".into(),
        Value::Array(r.tags.iter().map(|t| Value::String(t.clone())).collect()),
    );
    // Producer timestamps keep their original text (7-digit fractions) unless Rampart owns them.
    for (key, ts) in [
        ("createdDateTime", r.created),
        ("firstActivityDateTime", r.first_activity),
        ("lastActivityDateTime", r.last_activity),
    ] {
        let keep = obj
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| Timestamp::parse_rfc3339(s).ok())
            == Some(ts);
        if !keep {
            obj.insert(key.into(), Value::String(ts.to_rfc3339()));
        }
    }
    if r.version > 1 || !obj.contains_key("lastUpdateDateTime") {
        obj.insert(
            "lastUpdateDateTime".into(),
            Value::String(r.last_update.to_rfc3339()),
        );
    }
    obj.insert(
        "resolvedDateTime".into(),
        r.resolved
            .map_or(Value::Null, |t| Value::String(t.to_rfc3339())),
    );
    obj.insert("version".into(), Value::from(r.version));
    Value::Object(obj)
}

fn time_of(v: Option<&Value>) -> Option<Timestamp> {
    v.and_then(Value::as_str)
        .and_then(|s| Timestamp::parse_rfc3339(s).ok())
}

/// Merges a re-sent document into the stored one: the newer document wins field by field,
/// evidence is the union (nothing an analyst already saw disappears), and the activity
/// window widens to cover both.
pub fn merge(old: &[u8], new: &[u8]) -> Vec<u8> {
    let (Ok(Value::Object(old)), Ok(Value::Object(mut merged))) = (
        serde_json::from_slice::<Value>(old),
        serde_json::from_slice::<Value>(new),
    ) else {
        return new.to_vec();
    };
    let mut evidence: Vec<Value> = match old.get("evidence") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    if let Some(Value::Array(fresh)) = merged.get("evidence") {
        for item in fresh {
            if !evidence.contains(item) {
                evidence.push(item.clone());
            }
        }
    }
    if !evidence.is_empty() {
        merged.insert("evidence".into(), Value::Array(evidence));
    }
    for (key, earliest) in [
        ("firstActivityDateTime", true),
        ("lastActivityDateTime", false),
    ] {
        let (o, n) = (time_of(old.get(key)), time_of(merged.get(key)));
        let old_wins = match (o, n) {
            (Some(o), Some(n)) => (earliest && o < n) || (!earliest && o > n),
            (Some(_), None) => true,
            _ => false,
        };
        if old_wins {
            if let Some(v) = old.get(key) {
                merged.insert(key.into(), v.clone());
            }
        }
    }
    serde_json::to_vec(&Value::Object(merged)).unwrap_or_else(|_| new.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_unions_evidence_and_widens_window() {
        let old = br#"{"title":"a","firstActivityDateTime":"2026-01-01T00:00:00.1234567Z","lastActivityDateTime":"2026-01-02T00:00:00Z","evidence":[{"k":1}]}"#;
        let new = br#"{"title":"b","firstActivityDateTime":"2026-01-01T05:00:00Z","lastActivityDateTime":"2026-01-03T00:00:00Z","evidence":[{"k":1},{"k":2}]}"#;
        let m: Value = serde_json::from_slice(&merge(old, new)).unwrap();
        assert_eq!(m["title"], "b");
        assert_eq!(m["evidence"].as_array().unwrap().len(), 2);
        assert_eq!(m["firstActivityDateTime"], "2026-01-01T00:00:00.1234567Z");
        assert_eq!(m["lastActivityDateTime"], "2026-01-03T00:00:00Z");
    }
}
