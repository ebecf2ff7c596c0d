//! The `alerts.keys` column: an alert's entity keys, which correlation, the in-memory part
//! of the entity index (`recent.rs`) and the alert page read back.
//!
//! Written as a compact binary BLOB. As JSON (`[[1,"ws-1"],…]`) the keys were 500 bytes of
//! a 925-byte row in a bench ingest, more than half of what the row added to every commit,
//! and serialising them was a sixth of preparing an alert. File hashes, most of those bytes,
//! are lowercase hex, so they are stored as the bytes they spell. Rows written before hold
//! JSON text, which still reads.
//!
//! Layout: a version byte, then per key its kind code (one byte), a varint of
//! `stored length << 1 | hex`, and the value (packed two hex digits a byte when `hex`).
use rampart_domain::entity::{EntityKey, EntityKind};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};

const VERSION: u8 = 1;

/// An alert's keys, sorted and without repeats, for the column.
pub(crate) fn encode(keys: &[EntityKey]) -> Vec<u8> {
    let mut keys: Vec<&EntityKey> = keys.iter().collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::with_capacity(1 + keys.iter().map(|k| k.value.len() + 3).sum::<usize>());
    out.push(VERSION);
    for k in keys {
        // Kind codes are 1–15; a key that would not fit is left out rather than stored
        // wrong (it cannot happen with the kinds there are).
        let Ok(kind) = u8::try_from(k.kind.code()) else {
            continue;
        };
        out.push(kind);
        let v = k.value.as_bytes();
        if is_packable_hex(v) {
            varint(&mut out, ((v.len() / 2) << 1) | 1);
            out.extend(
                v.chunks_exact(2)
                    .map(|p| (nibble(p[0]) << 4) | nibble(p[1])),
            );
        } else {
            varint(&mut out, v.len() << 1);
            out.extend_from_slice(v);
        }
    }
    out
}

/// Lowercase hex of even length: decoding gives back exactly these characters.
fn is_packable_hex(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len().is_multiple_of(2)
        && v.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn nibble(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        _ => b - b'a' + 10,
    }
}

fn varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads the column: binary, JSON text from before, or NULL (no keys).
#[derive(Debug, Default)]
pub(crate) struct StoredKeys(pub(crate) Vec<EntityKey>);

impl FromSql for StoredKeys {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Null => Ok(StoredKeys::default()),
            ValueRef::Text(t) => Ok(StoredKeys(from_json(
                std::str::from_utf8(t).map_err(|e| FromSqlError::Other(Box::new(e)))?,
            ))),
            ValueRef::Blob(b) => decode(b)
                .map(StoredKeys)
                .ok_or_else(|| FromSqlError::Other("alerts.keys: unreadable keys".into())),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// The JSON text rows held before the binary form.
fn from_json(json: &str) -> Vec<EntityKey> {
    serde_json::from_str::<Vec<(i64, String)>>(json)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(c, value)| EntityKind::from_code(c).map(|kind| EntityKey { kind, value }))
        .collect()
}

fn decode(b: &[u8]) -> Option<Vec<EntityKey>> {
    let (&version, mut rest) = b.split_first()?;
    if version != VERSION {
        return None;
    }
    let mut out = Vec::new();
    while let Some((&kind, r)) = rest.split_first() {
        let (n, r) = read_varint(r)?;
        let (len, hex) = (n >> 1, n & 1 == 1);
        let value = r.get(..len)?;
        rest = &r[len..];
        let value = if hex {
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            let mut s = String::with_capacity(2 * len);
            for byte in value {
                s.push(char::from(DIGITS[usize::from(byte >> 4)]));
                s.push(char::from(DIGITS[usize::from(byte & 0xf)]));
            }
            s
        } else {
            String::from_utf8(value.to_vec()).ok()?
        };
        // A kind this version does not know is skipped, as the JSON form did.
        if let Some(kind) = EntityKind::from_code(i64::from(kind)) {
            out.push(EntityKey { kind, value });
        }
    }
    Some(out)
}

fn read_varint(b: &[u8]) -> Option<(usize, &[u8])> {
    let mut n = 0u64;
    for (i, &byte) in b.iter().enumerate().take(9) {
        n |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((usize::try_from(n).ok()?, &b[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn key(kind: EntityKind, v: &str) -> EntityKey {
        EntityKey {
            kind,
            value: v.into(),
        }
    }

    fn read(b: &[u8]) -> Vec<EntityKey> {
        StoredKeys::column_result(ValueRef::Blob(b)).unwrap().0
    }

    #[test]
    fn hashes_pack_to_half_and_everything_comes_back_sorted() {
        let sha = "10838fabd7bc7873cc17588787ec3d62dcf57a6a7d16e9f8515101e32e784c3c";
        let keys = vec![
            key(EntityKind::User, "corp\\kofi"),
            key(EntityKind::FileSha256, sha),
            key(EntityKind::Device, "ws-057"),
            key(EntityKind::Device, "ws-057"),
            // Not packed: odd length, upper case, empty.
            key(EntityKind::FileName, "abc"),
            key(EntityKind::FileMd5, "ABCD"),
            key(EntityKind::Url, ""),
        ];
        let b = encode(&keys);
        let mut want = keys.clone();
        want.sort();
        want.dedup();
        assert_eq!(read(&b), want);
        // The version, then kind + length + value: the hash in 32 bytes, the rest as is.
        assert_eq!(
            b.len(),
            1 + (2 + 6) + (2 + 9) + 2 + (2 + 32) + (2 + 4) + (2 + 3)
        );
    }

    #[test]
    fn json_rows_from_before_and_nulls_still_read() {
        let text = StoredKeys::column_result(ValueRef::Text(br#"[[1,"ws-1"],[99,"x"]]"#));
        assert_eq!(text.unwrap().0, vec![key(EntityKind::Device, "ws-1")]);
        assert!(StoredKeys::column_result(ValueRef::Null)
            .unwrap()
            .0
            .is_empty());
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        let good = encode(&[key(EntityKind::Device, "ws-1")]);
        for cut in 0..good.len() - 1 {
            let _ = StoredKeys::column_result(ValueRef::Blob(&good[..cut]));
        }
        assert!(StoredKeys::column_result(ValueRef::Blob(&[2, 1, 2, b'a'])).is_err());
        assert!(StoredKeys::column_result(ValueRef::Blob(&[1, 1, 0xff])).is_err());
    }

    proptest! {
        #[test]
        fn any_keys_round_trip(values in proptest::collection::vec((0usize..15, "[0-9a-fA-F]{0,70}|\\PC{0,20}"), 0..20)) {
            let keys: Vec<EntityKey> = values
                .iter()
                .map(|(k, v)| key(EntityKind::ALL[*k], v))
                .collect();
            let mut want = keys.clone();
            want.sort();
            want.dedup();
            prop_assert_eq!(read(&encode(&keys)), want);
        }
    }
}
