-- Producer documents move out of the alerts table. An alert row was 2–4 KB, nearly all of it
-- the compressed document, so every queue filter, capped count and incident move read or
-- rewrote kilobytes per alert. Now the row holds only what queries look at (a few hundred
-- bytes), and the document is read only when one alert is opened.
CREATE TABLE alert_docs (
    rid  INTEGER PRIMARY KEY,   -- alerts.rid
    body BLOB NOT NULL          -- zstd-compressed producer document
);
INSERT INTO alert_docs (rid, body) SELECT rid, body FROM alerts;
ALTER TABLE alerts DROP COLUMN body;
