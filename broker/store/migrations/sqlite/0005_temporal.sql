-- Entity history for the NGSI-LD temporal API: one row per temporal entity and one per
-- attribute instance. Core writes (API and ingest) add instances in their own transaction;
-- the temporal API adds, patches and deletes them. Times are Unix seconds (REAL).
CREATE TABLE temporal_entities (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,       -- the first type name (index, all types are in doc)
    doc         BLOB NOT NULL,       -- {"type": ..., "scope": ...} as last written
    created_at  REAL NOT NULL,
    modified_at REAL NOT NULL
);
CREATE INDEX temporal_entities_type ON temporal_entities (type, id);

CREATE TABLE temporal_instances (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,       -- random, unique per (entity, attribute)
    entity_id   TEXT NOT NULL,
    attr        TEXT NOT NULL,
    dataset_id  TEXT NOT NULL DEFAULT '',
    entity_type TEXT NOT NULL,       -- for retention by type
    observed_at REAL,
    created_at  REAL NOT NULL,
    modified_at REAL NOT NULL,
    deleted_at  REAL,
    doc         BLOB NOT NULL        -- the instance without instanceId and system times
);
CREATE INDEX temporal_instances_attr ON temporal_instances (entity_id, attr, observed_at);
CREATE INDEX temporal_instances_age ON temporal_instances (created_at);
