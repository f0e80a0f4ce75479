-- Renkei node store, SQLite backend: initial schema.
CREATE TABLE entities (
    rid          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    doc          BLOB NOT NULL,
    content_hash TEXT NOT NULL,
    created_at   REAL NOT NULL,
    modified_at  REAL NOT NULL,
    minx REAL, miny REAL, maxx REAL, maxy REAL
);
CREATE INDEX entities_type_id ON entities (type, id);
-- R*Tree over entity bounding boxes: the geo prefilter before the exact check.
CREATE VIRTUAL TABLE entities_geo USING rtree (rid, minx, maxx, miny, maxy);

CREATE TABLE changes (
    cursor       INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id    TEXT NOT NULL,
    entity_type  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    at           REAL NOT NULL
);
CREATE INDEX changes_entity ON changes (entity_id);

CREATE TABLE ingest_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    file        TEXT NOT NULL,
    started_at  REAL NOT NULL,
    finished_at REAL,
    read        INTEGER NOT NULL DEFAULT 0,
    mapped      INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE source_positions (
    source     TEXT PRIMARY KEY,
    position   TEXT,
    updated_at REAL NOT NULL
);

CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL,
    source      TEXT NOT NULL,
    file        TEXT NOT NULL,
    row         INTEGER NOT NULL,
    col         TEXT NOT NULL,
    raw_value   TEXT NOT NULL,
    code        TEXT NOT NULL,
    message     TEXT NOT NULL,
    record      TEXT NOT NULL,
    resolved_at REAL,
    UNIQUE (source, file, row, code, col)
);

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    prev_hash  TEXT NOT NULL,
    entry_hash TEXT NOT NULL,
    body       BLOB NOT NULL
);

CREATE TABLE audit_checkpoints (
    seq        INTEGER NOT NULL,
    jws        TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE jti_cache (
    jti        TEXT PRIMARY KEY,
    issuer     TEXT NOT NULL,
    binding    TEXT,
    expires_at REAL NOT NULL
);
CREATE INDEX jti_cache_expiry ON jti_cache (expires_at);

CREATE TABLE counters (
    key    TEXT NOT NULL,
    window INTEGER NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (key, window)
);

CREATE TABLE agreements (
    id         TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    consumer   TEXT NOT NULL,
    document   BLOB NOT NULL,
    signatures TEXT NOT NULL,
    revocation TEXT,
    updated_at REAL NOT NULL
);

CREATE TABLE directory (
    version    INTEGER PRIMARY KEY,
    jws        TEXT NOT NULL,
    fetched_at REAL NOT NULL
);

CREATE TABLE state (
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
