//! The entity index stores a 64-bit digest of each normalised entity value instead of the
//! value itself. Entity filters only ever ask "which alerts name exactly this value", so the
//! text is not needed there (the alert row keeps it), and an index entry shrinks from about
//! 45 bytes to about 15. Ingest writes a dozen such entries per alert at scattered positions,
//! so the index's size is what decides how many pages each commit rewrites: see
//! docs/benchmarks.md, "Ingest: a smaller entity index".
//!
//! The digest is SHA-256 rather than a fast non-cryptographic hash because entity values come
//! from producers: with a hash an attacker can collide at will, a crafted value could make a
//! hostile alert appear under someone else's device or user. Truncated SHA-256 makes that a
//! 2^64 search, and an accidental collision among a billion distinct values has a chance of
//! about one in 37 million.
use sha2::{Digest, Sha256};

/// The index key of a normalised entity value. Stable across versions and backends: it is
/// stored, so changing it needs a migration.
pub fn value_hash(value: &str) -> i64 {
    let d = Sha256::digest(value.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::value_hash;

    #[test]
    fn is_stable_and_distinguishes_values() {
        // Pinned: stored stores depend on this exact value.
        assert_eq!(value_hash("ws-1"), value_hash("ws-1"));
        assert_ne!(value_hash("ws-1"), value_hash("ws-2"));
        assert_ne!(value_hash(""), value_hash(" "));
        assert_eq!(
            value_hash("abc"),
            i64::from_be_bytes([0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea])
        );
    }
}
