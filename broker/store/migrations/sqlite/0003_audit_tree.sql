-- The audit log as an RFC 6962 Merkle tree: every perfect subtree (level, idx) as it completes,
-- written in the same transaction as the entry that completes it, so proofs and roots need no
-- pass over the whole log. Leaves (level 0) are trust.audit_chain.entry_leaf of entry seq idx+1.
CREATE TABLE audit_tree (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The log's own signed checkpoints (C2SP tlog-checkpoint notes), one per tree size.
CREATE TABLE audit_heads (
    size       INTEGER PRIMARY KEY,
    note       TEXT NOT NULL,
    created_at REAL NOT NULL
);

-- Checkpoints of this log as its witnesses returned them (log signature + cosignature).
CREATE TABLE audit_cosigned (
    size       INTEGER NOT NULL,
    witness    TEXT NOT NULL,
    note       TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (size, witness)
);

-- As a witness of other logs: the newest head cosigned per log (compare-and-set), and every
-- checkpoint cosigned. A witness refuses a smaller or forked tree for ever, across restarts.
CREATE TABLE witness_heads (
    origin     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE witness_cosigned (
    origin     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    note       TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (origin, size)
);
