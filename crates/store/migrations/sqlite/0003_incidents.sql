-- Incidents: groups of alerts built by correlation or by hand. Rolled-up fields (severity,
-- activity window, counts, sources, categories) are kept current by the store.
CREATE TABLE incidents (
    rid            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    severity       INTEGER NOT NULL,       -- highest of its unresolved alerts (Severity::rank)
    status         TEXT NOT NULL,          -- active, inProgress, resolved, redirected
    classification TEXT NOT NULL DEFAULT 'unknown',
    determination  TEXT NOT NULL DEFAULT 'unknown',
    assigned_to    TEXT,
    tags           TEXT NOT NULL DEFAULT '[]',
    redirect_id    TEXT,                   -- the survivor, when redirected
    alert_count    INTEGER NOT NULL DEFAULT 0,
    sources        TEXT NOT NULL DEFAULT '[]',  -- JSON: distinct service sources of its alerts
    categories     TEXT NOT NULL DEFAULT '[]',  -- JSON: distinct alert categories
    first_activity INTEGER NOT NULL,
    last_activity  INTEGER NOT NULL,
    created        INTEGER NOT NULL,
    last_update    INTEGER NOT NULL,
    resolved       INTEGER,
    version        INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX incidents_last_activity ON incidents (last_activity);

-- How an alert came to be in its incident: by hand (sticky) or by correlation, and why.
ALTER TABLE alerts ADD COLUMN link_manual INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN link_reasons TEXT;   -- JSON array of correlation reasons
-- The alert's entity keys, [[kind code, value], …]: read with the alert and by re-correlation
-- without a scan of the entity index.
ALTER TABLE alerts ADD COLUMN keys TEXT;
