-- The differencing guard's memory (trust.differencing): the aggregate groups released to each
-- consumer, as sorted 8-byte keyed hashes of their members, kept until the agreement's
-- retention ends. In the store so that it holds across restarts and replicas.
CREATE TABLE released_groups (
    id           INTEGER PRIMARY KEY,
    caller       TEXT NOT NULL,
    agreement_id TEXT NOT NULL,
    size         INTEGER NOT NULL,
    members      BLOB NOT NULL,
    released_at  REAL NOT NULL,
    expires_at   REAL NOT NULL
);
CREATE INDEX released_groups_by_size ON released_groups (caller, size);
CREATE INDEX released_groups_by_expiry ON released_groups (caller, expires_at);
