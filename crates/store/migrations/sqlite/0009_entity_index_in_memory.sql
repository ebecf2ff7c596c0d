-- No change to the tables. From this version on, the part of the entity index being filled
-- is kept in memory and rebuilt from `alerts.keys` at opening (crates/store/src/sqlite/recent.rs):
-- its rows are not in `entities` until the next part begins. The version bump makes older
-- rampart refuse this database instead of serving entity filters that miss those alerts.
CREATE TABLE IF NOT EXISTS entity_parts (part INTEGER PRIMARY KEY);
