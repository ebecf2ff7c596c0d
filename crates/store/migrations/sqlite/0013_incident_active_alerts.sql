-- How many of an incident's alerts are not resolved. An incident's severity is the highest
-- of those alerts, or, once every alert is resolved, the highest of all of them; ingest
-- raises it link by link without reading the alerts, and without this count it could not
-- tell a still-active incident whose alerts were all resolved from one with active alerts:
-- a new lower alert joining the first kept the resolved alerts' severity.
ALTER TABLE incidents ADD COLUMN active_count INTEGER NOT NULL DEFAULT 0;
UPDATE incidents SET active_count = (
    SELECT count(*) FROM alerts WHERE alerts.incident_id = incidents.id AND alerts.status != 'resolved'
) WHERE alert_count > 0;
