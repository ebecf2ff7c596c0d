-- Every reader of incidents by time also asks for incidents that hold alerts (the queue,
-- the correlation engine's warm-up, the rebuild's summary), so incidents_live serves them
-- all. The full index only cost a random insert per new incident at ingest, and two more
-- entry moves per roll-up that changes an incident's last activity.
DROP INDEX IF EXISTS incidents_last_activity;
