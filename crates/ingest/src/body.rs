//! Request bodies → alerts: a JSON object or array (atomic), or NDJSON (per line).
use crate::error::{IngestError, Location};
use crate::graph::normalise_alert;
use crate::json::Node;
use bytes::Bytes;
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

fn one(
    body: &Bytes,
    bytes: &[u8],
    prefixes: &PrefixRegistry,
    now: Timestamp,
) -> Result<NewAlert, IngestError> {
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
    normalise_alert(share(body, bytes), &node, prefixes, now)
}

/// `part` of `body` as a handle on the same buffer, not a copy: copying each 3.9 KB
/// document out of its request cost 1.5 µs per alert, most of it in page faults of fresh
/// allocator pages. A copy only if `part` lies outside `body`, which no caller does (where
/// `Bytes::slice_ref` would panic).
fn share(body: &Bytes, part: &[u8]) -> Bytes {
    let start = part.as_ptr().addr().wrapping_sub(body.as_ptr().addr());
    match start.checked_add(part.len()) {
        Some(end) if start <= body.len() && end <= body.len() => body.slice(start..end),
        _ => Bytes::copy_from_slice(part),
    }
}

/// Parses a JSON body holding one alert object or an array of them. Atomic: the first bad
/// item fails the whole body, naming its index.
pub fn parse_json_body(
    bytes: &Bytes,
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
                one(bytes, raw.get().as_bytes(), prefixes, now).map_err(|e| e.at(Location::Item(i)))
            })
            .collect()
    } else {
        one(bytes, bytes, prefixes, now).map(|a| vec![a])
    }
}

/// Bodies below this size are parsed on the calling thread alone.
const PARALLEL_FROM: usize = 256 * 1024;

/// Parses an NDJSON body: one alert per line, blank lines skipped. Each line is judged on its
/// own so the caller can choose atomic or per-line semantics.
///
/// A large body is cut at line boundaries into one piece per core (up to 4), parsed side by
/// side: a producer that sends one request at a time otherwise waited for one thread to
/// parse it while the other cores idled (+10 to +15 % alerts/s for one connection,
/// docs/benchmarks.md, "Ninth session").
pub fn parse_bulk(bytes: &Bytes, prefixes: &PrefixRegistry, now: Timestamp) -> Vec<BulkLine> {
    parse_bulk_on(bytes, rampart_domain::machine::cores(), prefixes, now)
}

/// [`parse_bulk`] on at most `threads` threads (the server passes 1 while other requests
/// are in flight: their parsing and the store's writer have the other cores).
pub fn parse_bulk_on(
    bytes: &Bytes,
    threads: usize,
    prefixes: &PrefixRegistry,
    now: Timestamp,
) -> Vec<BulkLine> {
    let n = if bytes.len() < PARALLEL_FROM {
        1
    } else {
        threads.clamp(1, 4)
    };
    parse_in(bytes, n, prefixes, now)
}

/// [`parse_bulk`] in `n` pieces.
fn parse_in(bytes: &Bytes, n: usize, prefixes: &PrefixRegistry, now: Timestamp) -> Vec<BulkLine> {
    let pieces = pieces(bytes, n);
    let Some(((first, first_no), rest)) = pieces.split_first() else {
        return Vec::new();
    };
    if rest.is_empty() {
        return parse_lines(bytes, first, *first_no, prefixes, now);
    }
    std::thread::scope(|s| {
        let others: Vec<_> = rest
            .iter()
            .map(|&(piece, no)| {
                // Without a thread (the system refused one), this thread parses it below.
                std::thread::Builder::new()
                    .spawn_scoped(s, move || parse_lines(bytes, piece, no, prefixes, now))
                    .map_err(|_| (piece, no))
            })
            .collect();
        let mut out = parse_lines(bytes, first, *first_no, prefixes, now);
        for other in others {
            match other.map(|h| h.join()) {
                Ok(Ok(lines)) => out.extend(lines),
                // Parsing does not panic on input (the fuzz and property tests hold it to
                // that); if it ever did, the request fails as it would have on one thread.
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err((piece, no)) => out.extend(parse_lines(bytes, piece, no, prefixes, now)),
            }
        }
        out
    })
}

/// Cuts `bytes` at newlines into at most `n` pieces of about equal size, each with the number
/// of lines before it.
fn pieces(bytes: &[u8], n: usize) -> Vec<(&[u8], usize)> {
    let n = n.max(1);
    let mut out = Vec::with_capacity(n);
    let (mut start, mut lines_before) = (0usize, 0usize);
    for k in 1..n {
        let target = (bytes.len() * k / n).max(start);
        let Some(cut) = bytes
            .get(target..)
            .and_then(|b| memchr::memchr(b'\n', b))
            .map(|p| target + p + 1)
        else {
            break;
        };
        let piece = bytes.get(start..cut).unwrap_or_default();
        out.push((piece, lines_before));
        lines_before += memchr::memchr_iter(b'\n', piece).count();
        start = cut;
    }
    out.push((bytes.get(start..).unwrap_or_default(), lines_before));
    out
}

/// Parses the lines of one piece of `body`; `before` lines precede it.
fn parse_lines(
    body: &Bytes,
    bytes: &[u8],
    before: usize,
    prefixes: &PrefixRegistry,
    now: Timestamp,
) -> Vec<BulkLine> {
    let mut out = Vec::new();
    for (i, raw) in lines(bytes).enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let no = before + i + 1;
        out.push(BulkLine {
            line: no,
            result: one(body, line, prefixes, now).map_err(|e| e.at(Location::Line(no))),
        });
    }
    out
}

/// The lines of `bytes` (without their `\n`), as `split` on `\n` gives them: the last one
/// may be empty. Found with SIMD: a byte-at-a-time scan of a bulk body cost 1.7 µs per
/// 3.9 KB alert, a twentieth of parsing it.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0usize;
    let mut ends = memchr::memchr_iter(b'\n', bytes);
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let end = ends.next().unwrap_or_else(|| {
            done = true;
            bytes.len()
        });
        let line = bytes.get(start..end).unwrap_or_default();
        start = end + 1;
        Some(line)
    })
}

#[cfg(test)]
mod tests;
