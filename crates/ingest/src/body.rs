//! Request bodies → alerts: a JSON object or array (atomic), or NDJSON (per line).
use crate::error::{IngestError, Location};
use crate::graph::normalise_alert;
use crate::json::Node;
use rampart_domain::alert::{NewAlert, MAX_ALERT_BYTES};
use rampart_domain::ids::PrefixRegistry;
use rampart_domain::timestamp::Timestamp;
use serde_json::value::RawValue;

/// Largest request body (32 MiB): beyond this the HTTP layer answers 413.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The alerts of a JSON body.
pub type Parsed = Vec<NewAlert>;

/// One NDJSON line's outcome.
#[derive(Debug)]
pub struct BulkLine {
    /// One-based line number.
    pub line: usize,
    pub result: Result<NewAlert, IngestError>,
}

fn one(bytes: &[u8], prefixes: &PrefixRegistry, now: Timestamp) -> Result<NewAlert, IngestError> {
    if bytes.len() > MAX_ALERT_BYTES {
        return Err(IngestError::TooLarge {
            location: Location::Body,
            msg: format!(
                "alert is {} bytes; the limit is {MAX_ALERT_BYTES}",
                bytes.len()
            ),
        });
    }
    let node = Node::parse(bytes).map_err(|msg| IngestError::Json {
        location: Location::Body,
        msg,
    })?;
    normalise_alert(bytes, &node, prefixes, now)
}

/// Parses a JSON body holding one alert object or an array of them. Atomic: the first bad
/// item fails the whole body, naming its index.
pub fn parse_json_body(
    bytes: &[u8],
    prefixes: &PrefixRegistry,
    now: Timestamp,
) -> Result<Parsed, IngestError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(IngestError::TooLarge {
            location: Location::Body,
            msg: format!(
                "body is {} bytes; the limit is {MAX_BODY_BYTES}",
                bytes.len()
            ),
        });
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let items: Vec<&RawValue> =
            serde_json::from_slice(bytes).map_err(|e| IngestError::Json {
                location: Location::Body,
                msg: e.to_string(),
            })?;
        items
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                one(raw.get().as_bytes(), prefixes, now).map_err(|e| e.at(Location::Item(i)))
            })
            .collect()
    } else {
        one(bytes, prefixes, now).map(|a| vec![a])
    }
}

/// Parses an NDJSON body: one alert per line, blank lines skipped. Each line is judged on its
/// own so the caller can choose atomic or per-line semantics.
pub fn parse_bulk(bytes: &[u8], prefixes: &PrefixRegistry, now: Timestamp) -> Vec<BulkLine> {
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let loc = Location::Line(i + 1);
        out.push(BulkLine {
            line: i + 1,
            result: one(line, prefixes, now).map_err(|e| e.at(loc)),
        });
    }
    out
}
