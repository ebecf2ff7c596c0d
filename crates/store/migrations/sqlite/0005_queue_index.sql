-- The queue's common filters, answered from the index: the default view (status, the last
-- 30 days by last activity) and its usual narrowing (severity, service source) are checked
-- on index entries, so only matching rows are read, and the capped total reads no rows.
CREATE INDEX alerts_queue ON alerts (last_activity, status, severity, service_source);
