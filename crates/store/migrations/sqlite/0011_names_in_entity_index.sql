-- Alert ids and provider keys are found through the entity index (two kinds of their own,
-- 1000 and 1001: see crates/store/src/entity_index.rs), no longer through unique indexes on
-- the alerts table. Those indexes took a random insert each per alert, and a commit rewrote
-- most of their pages. The writer keeps both names unique: it looks every alert up before
-- inserting it (crates/store/src/sqlite/alerts.rs).
--
-- The queue index checks the service source as a digest (`source_code`, the entity index's
-- digest of `service_source`) instead of the text: its entries were about 50 bytes, half of
-- them the source's name, and in a backfill (alerts out of time order) its inserts are
-- random too. A service-source filter compares the digest (crates/store/src/filter.rs).
--
-- SQLite cannot drop a column's UNIQUE constraint, so the table is built again. Every
-- alert's names go to the table here, the newest part's too: the copy in memory that
-- opening builds from the rows adds nothing a lookup would miss.
CREATE TABLE alerts_unnamed (
    rid                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL,
    provider_key        TEXT,                 -- serviceSource || x'1f' || providerAlertId
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
    link_manual         INTEGER NOT NULL DEFAULT 0,
    link_reasons        TEXT,
    keys                TEXT,                 -- entity keys: binary (src/sqlite/keys.rs), JSON in older rows
    source_code         INTEGER NOT NULL DEFAULT 0  -- rampart_value_hash(service_source)
);
INSERT INTO alerts_unnamed (rid, id, provider_key, provider_alert_id, incident_id, title,
        category, severity, status, classification, determination, service_source,
        detection_source, investigation_state, assigned_to, first_activity, last_activity,
        created, last_update, resolved, version, tags, impacted, link_manual, link_reasons, keys,
        source_code)
    SELECT rid, id, provider_key, provider_alert_id, incident_id, title, category, severity,
        status, classification, determination, service_source, detection_source,
        investigation_state, assigned_to, first_activity, last_activity, created, last_update,
        resolved, version, tags, impacted, link_manual, link_reasons, keys,
        rampart_value_hash(service_source)
    FROM alerts ORDER BY rid;
DROP TABLE alerts;
ALTER TABLE alerts_unnamed RENAME TO alerts;
CREATE INDEX alerts_queue ON alerts (last_activity, status, severity, source_code);
CREATE INDEX alerts_first_activity ON alerts (first_activity);
CREATE INDEX alerts_severity ON alerts (severity);
CREATE INDEX alerts_incident ON alerts (incident_id) WHERE incident_id IS NOT NULL;

INSERT OR IGNORE INTO entities (part, kind, value_hash, rid)
    SELECT rid >> 16, 1000, rampart_value_hash(id), rid FROM alerts;
INSERT OR IGNORE INTO entities (part, kind, value_hash, rid)
    SELECT rid >> 16, 1001, rampart_value_hash(provider_key), rid FROM alerts
    WHERE provider_key IS NOT NULL;
INSERT OR IGNORE INTO entity_parts (part) SELECT DISTINCT rid >> 16 FROM alerts;
