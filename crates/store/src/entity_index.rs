//! How the entity index is keyed: `(part, kind, value digest, rid)`.
//!
//! **Digest.** The index stores a 64-bit digest of each normalised entity value instead of
//! the value itself. Entity filters only ever ask "which alerts name exactly this value", so
//! the text is not needed there (the alert row keeps it), and an index entry shrinks from
//! about 45 bytes to about 15. Ingest writes a dozen entries per alert at scattered
//! positions, so the index's size decides how many pages each commit rewrites (see
//! docs/benchmarks.md, "Ingest: the entity index holds digests").
//!
//! The digest is truncated SHA-256, not a fast non-cryptographic hash, because entity values
//! come from producers: with a weak hash an attacker could craft a value that collides with
//! someone else's device or user and make a hostile alert show up under it. With SHA-256
//! that is a 2^64 search. By accident, two values of one kind share a digest with a chance
//! of about 1 in 37 million among a million distinct values (about 3 % among a billion);
//! the effect would be extra alerts in that entity's filter, never lost ones.
//!
//! **Parts.** Rows are grouped by the alert's rowid into parts of 65,536 consecutive alerts,
//! and the part leads the key. A new alert's rows then land only in the newest part, so
//! however big the store grows, a commit dirties pages of one part-sized slice of the index
//! instead of pages all over it (on a 1M-alert store: see docs/benchmarks.md, "Ingest into a
//! big store"). A lookup pays one index seek per part: 16 on a million alerts. The parts in
//! use are listed in `entity_parts`, which the lookup walks.
//!
//! **Names.** The index also answers "which alert is this": each alert's id and provider key
//! are filed under two kinds of their own ([`ALERT_ID`], [`PROVIDER_KEY`]), outside the
//! entity kinds' codes. Unique B-trees on those columns took a random insert each per alert
//! and made up most of what a commit wrote to the WAL (docs/benchmarks.md, "Fourteenth
//! session"); here they cost two more rows of the newest part. A lookup by name checks the
//! alert's row afterwards, so a digest shared by two names only costs a row read.
//!
//! On SQLite the part being filled is not in the table at all but in memory
//! (`sqlite/recent.rs`), and is written to the table in key order when it is full: random
//! inserts into even one part rewrote most of its pages at every commit.

/// Alerts per part, as a shift of the rowid.
pub const PART_SHIFT: u32 = 16;

/// The FROM clause of a lookup in every part: `e` is a row of the index. One seek per part:
/// CROSS JOIN keeps the parts as the outer loop.
pub const IN_EVERY_PART: &str = "entity_parts p CROSS JOIN entities e WHERE e.part = p.part";

/// The kind an alert's own id is filed under (not an entity kind: those are 1–15).
pub const ALERT_ID: i64 = 1000;

/// The kind an alert's provider key (service source, U+001F, provider alert id) is filed
/// under.
pub const PROVIDER_KEY: i64 = 1001;

/// The index key of a normalised entity value. Stable across versions and backends: it is
/// stored, so changing it needs a migration.
pub fn value_hash(value: &str) -> i64 {
    rampart_domain::entity::value_digest(value)
}

#[cfg(test)]
mod tests {
    use super::value_hash;

    #[test]
    fn the_migration_uses_the_same_part_size() {
        let sql = include_str!("../migrations/sqlite/0006_entity_index.sql");
        assert!(sql.contains(&format!("SELECT rid >> {}, kind", super::PART_SHIFT)));
        assert_eq!(65_535 >> super::PART_SHIFT, 0);
        assert_eq!(65_536 >> super::PART_SHIFT, 1);
        let names = include_str!("../migrations/sqlite/0011_names_in_entity_index.sql");
        for (kind, col) in [
            (super::ALERT_ID, "id"),
            (super::PROVIDER_KEY, "provider_key"),
        ] {
            assert!(names.contains(&format!(
                "SELECT rid >> {}, {kind}, rampart_value_hash({col}), rid",
                super::PART_SHIFT
            )));
        }
    }

    #[test]
    fn name_kinds_are_no_entity_kind() {
        for k in rampart_domain::entity::EntityKind::ALL {
            assert!(k.code() < super::ALERT_ID && k.code() < super::PROVIDER_KEY);
        }
    }

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
