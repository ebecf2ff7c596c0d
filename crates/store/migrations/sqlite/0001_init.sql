-- Alerts: one row per alert. Triage state and query keys are columns; the producer's
-- document is kept verbatim, zstd-compressed, in `body`.
CREATE TABLE alerts (
    rid                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    provider_key        TEXT UNIQUE,          -- serviceSource || x'1f' || providerAlertId
    provider_alert_id   TEXT,
    incident_id         TEXT,
    title               TEXT NOT NULL,
    category            TEXT,
    severity            INTEGER NOT NULL,     -- Severity::rank
    status              TEXT NOT NULL,
    classification      TEXT NOT NULL,
    determination       TEXT NOT NULL,
    service_source      TEXT NOT NULL,
    detection_source    TEXT NOT NULL,
    investigation_state TEXT,
    assigned_to         TEXT,
    first_activity      INTEGER NOT NULL,     -- microseconds since the epoch
    last_activity       INTEGER NOT NULL,
    created             INTEGER NOT NULL,
    last_update         INTEGER NOT NULL,
    resolved            INTEGER,
    version             INTEGER NOT NULL,
    tags                TEXT NOT NULL,        -- JSON array, mirrored in alert_tags
    impacted            TEXT NOT NULL,        -- JSON array of {kind,name}
    body                BLOB NOT NULL
);
-- Queue sort keys; SQLite appends rid to every index, which is the keyset tiebreak.
CREATE INDEX alerts_last_activity ON alerts (last_activity);
CREATE INDEX alerts_first_activity ON alerts (first_activity);
CREATE INDEX alerts_severity ON alerts (severity);
CREATE INDEX alerts_incident ON alerts (incident_id) WHERE incident_id IS NOT NULL;

CREATE TABLE alert_tags (
    rid INTEGER NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (tag, rid)
) WITHOUT ROWID;
CREATE INDEX alert_tags_rid ON alert_tags (rid);

-- The entity index: (kind, normalised value) -> alerts. Lean on purpose: ingest writes
-- several of these per alert.
CREATE TABLE entities (
    kind  INTEGER NOT NULL,
    value TEXT NOT NULL,
    rid   INTEGER NOT NULL,
    PRIMARY KEY (kind, value, rid)
) WITHOUT ROWID;

-- Append-only audit trail. No API updates or deletes rows here.
CREATE TABLE history (
    seq        INTEGER PRIMARY KEY,
    target_id  TEXT NOT NULL,
    at         INTEGER NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    field      TEXT,
    old_value  TEXT,
    new_value  TEXT,
    text       TEXT
);
CREATE INDEX history_target ON history (target_id, seq);
CREATE TRIGGER history_no_update BEFORE UPDATE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER history_no_delete BEFORE DELETE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
