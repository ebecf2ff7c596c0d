-- Ingest owes incident roll-ups (alert count, severity, activity, sources, categories) in
-- memory for up to a second and writes them together, so an incident linked in several
-- batches is rewritten once. Every alert up to `through_rid` has its roll-ups written; a
-- process that stopped without writing the rest (a crash) leaves later alerts above it,
-- and the next process recomputes those alerts' incidents from their rows.
CREATE TABLE IF NOT EXISTS rollups_settled (
    one         INTEGER PRIMARY KEY CHECK (one = 1),
    through_rid INTEGER NOT NULL
);
INSERT OR IGNORE INTO rollups_settled (one, through_rid) VALUES (1, coalesce((SELECT max(rid) FROM alerts), 0));
