-- Renkei node store, PostgreSQL backend: initial schema (built-in types only, no extension).
-- Applied by broker/store/_pg.py in one transaction under an advisory lock, inside the node's
-- schema (search_path). Keys that are ordered or paged on use COLLATE "C": byte order of the
-- UTF-8 text, the order SQLite's BINARY collation gives, so both backends page identically
-- whatever the database's locale.

CREATE TABLE entities (
    id           text COLLATE "C" PRIMARY KEY,
    type         text COLLATE "C" NOT NULL,
    doc          bytea NOT NULL,
    content_hash text NOT NULL,
    created_at   double precision NOT NULL,
    modified_at  double precision NOT NULL,
    -- The entity's bounding box (a degenerate box for a point): the GiST-indexed geo
    -- prefilter; the exact geometry check runs above the store.
    bbox         box
);
CREATE INDEX entities_type_id ON entities (type, id);
CREATE INDEX entities_bbox ON entities USING gist (bbox);

-- The change feed. Writers insert here last in their transaction, under an advisory lock,
-- so that cursors become visible in increasing order (see broker/store/postgres.py).
CREATE TABLE changes (
    cursor       bigserial PRIMARY KEY,
    entity_id    text COLLATE "C" NOT NULL,
    entity_type  text COLLATE "C" NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('created', 'updated', 'deleted')),
    content_hash text NOT NULL,
    at           double precision NOT NULL
);
CREATE INDEX changes_entity ON changes (entity_id);
CREATE INDEX changes_type_cursor ON changes (entity_type, cursor);

CREATE TABLE ingest_runs (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,
    file        text NOT NULL,
    started_at  double precision NOT NULL,
    finished_at double precision,
    read        bigint NOT NULL DEFAULT 0,
    mapped      bigint NOT NULL DEFAULT 0,
    quarantined bigint NOT NULL DEFAULT 0,
    created     bigint NOT NULL DEFAULT 0,
    updated     bigint NOT NULL DEFAULT 0,
    unchanged   bigint NOT NULL DEFAULT 0
);

CREATE TABLE source_positions (
    source     text PRIMARY KEY,
    position   text,
    updated_at double precision NOT NULL
);

CREATE TABLE quarantine (
    id          bigserial PRIMARY KEY,
    run_id      bigint NOT NULL,
    source      text COLLATE "C" NOT NULL,
    file        text COLLATE "C" NOT NULL,
    row         bigint NOT NULL,
    col         text NOT NULL,
    raw_value   text NOT NULL,
    code        text NOT NULL,
    message     text NOT NULL,
    record      jsonb NOT NULL,
    resolved_at double precision,
    UNIQUE (source, file, row, code, col)
);

CREATE TABLE audit (
    seq        bigint PRIMARY KEY,
    prev_hash  text NOT NULL,
    entry_hash text NOT NULL,
    body       bytea NOT NULL
);

CREATE TABLE audit_checkpoints (
    seq        bigint NOT NULL,
    jws        text NOT NULL,
    created_at double precision NOT NULL
);
CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);

CREATE TABLE jti_cache (
    jti        text PRIMARY KEY,
    issuer     text NOT NULL,
    binding    text,
    expires_at double precision NOT NULL
);
CREATE INDEX jti_cache_expiry ON jti_cache (expires_at);

-- "window" is a reserved word in PostgreSQL, hence "win".
CREATE TABLE counters (
    key   text NOT NULL,
    win   bigint NOT NULL,
    value bigint NOT NULL,
    PRIMARY KEY (key, win)
);

CREATE TABLE agreements (
    id         text COLLATE "C" PRIMARY KEY,
    provider   text NOT NULL,
    consumer   text NOT NULL,
    document   bytea NOT NULL,
    signatures jsonb NOT NULL,
    revocation text,
    updated_at double precision NOT NULL
);

CREATE TABLE directory (
    version    bigint PRIMARY KEY,
    jws        text NOT NULL,
    fetched_at double precision NOT NULL
);

CREATE TABLE state (
    namespace text COLLATE "C" NOT NULL,
    key       text COLLATE "C" NOT NULL,
    value     jsonb NOT NULL,
    PRIMARY KEY (namespace, key)
);
