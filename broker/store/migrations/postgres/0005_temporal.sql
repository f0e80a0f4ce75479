-- Entity history for the NGSI-LD temporal API: one row per temporal entity and one per
-- attribute instance. Core writes (API and ingest) add instances in their own transaction;
-- the temporal API adds, patches and deletes them. Times are Unix seconds.
CREATE TABLE temporal_entities (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    doc         bytea NOT NULL,
    created_at  double precision NOT NULL,
    modified_at double precision NOT NULL
);
CREATE INDEX temporal_entities_type ON temporal_entities (type, id);

CREATE TABLE temporal_instances (
    seq         bigserial PRIMARY KEY,
    instance_id text NOT NULL,
    entity_id   text NOT NULL,
    attr        text NOT NULL,
    dataset_id  text NOT NULL DEFAULT '',
    entity_type text NOT NULL,
    observed_at double precision,
    created_at  double precision NOT NULL,
    modified_at double precision NOT NULL,
    deleted_at  double precision,
    doc         bytea NOT NULL
);
CREATE INDEX temporal_instances_attr ON temporal_instances (entity_id, attr, observed_at);
CREATE INDEX temporal_instances_age ON temporal_instances (created_at);
