-- The entity index is keyed by (part, kind, value digest, rid): a 64-bit digest of each value
-- instead of the text (a third of the size), grouped into parts of 65,536 consecutive alerts
-- (part = rid >> 16) so that ingest writes into one part only. See
-- crates/store/src/entity_index.rs.
-- Alerts stored before schema 3 have no keys in their row yet; they get them from the old
-- index first, since after this migration the index no longer holds the values.
UPDATE alerts SET keys = (
    SELECT json_group_array(json_array(e.kind, e.value) ORDER BY e.kind, e.value)
    FROM entities e WHERE e.rid = alerts.rid
) WHERE keys IS NULL;

CREATE TABLE entities_keyed (
    part       INTEGER NOT NULL,  -- rid >> 16
    kind       INTEGER NOT NULL,
    value_hash INTEGER NOT NULL,  -- rampart_value_hash(normalised value)
    rid        INTEGER NOT NULL,
    PRIMARY KEY (part, kind, value_hash, rid)
) WITHOUT ROWID;
INSERT OR IGNORE INTO entities_keyed (part, kind, value_hash, rid)
    SELECT rid >> 16, kind, rampart_value_hash(value), rid FROM entities ORDER BY 1, 2, 3, 4;
DROP TABLE entities;
ALTER TABLE entities_keyed RENAME TO entities;

-- The parts in use, which an entity lookup walks (one index seek each).
CREATE TABLE entity_parts (part INTEGER PRIMARY KEY);
INSERT INTO entity_parts (part) SELECT DISTINCT part FROM entities;

-- alerts_queue (0005) starts with last_activity and serves every query this index did.
DROP INDEX alerts_last_activity;
