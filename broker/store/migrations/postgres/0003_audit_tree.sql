-- The audit log as an RFC 6962 Merkle tree: every perfect subtree (level, idx) as it completes,
-- written in the same transaction as the entry that completes it, so proofs and roots need no
-- pass over the whole log. Leaves (level 0) are trust.audit_chain.entry_leaf of entry seq idx+1.
CREATE TABLE audit_tree (
    level bigint NOT NULL,
    idx   bigint NOT NULL,
    hash  bytea NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The log's own signed checkpoints (C2SP tlog-checkpoint notes), one per tree size.
CREATE TABLE audit_heads (
    size       bigint PRIMARY KEY,
    note       text NOT NULL,
    created_at double precision NOT NULL
);

-- Checkpoints of this log as its witnesses returned them (log signature + cosignature).
CREATE TABLE audit_cosigned (
    size       bigint NOT NULL,
    witness    text NOT NULL,
    note       text NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (size, witness)
);

-- As a witness of other logs: the newest head cosigned per log (compare-and-set), and every
-- checkpoint cosigned. A witness refuses a smaller or forked tree for ever, across restarts.
CREATE TABLE witness_heads (
    origin     text PRIMARY KEY,
    size       bigint NOT NULL,
    root       bytea NOT NULL,
    updated_at double precision NOT NULL
);
CREATE TABLE witness_cosigned (
    origin     text NOT NULL,
    size       bigint NOT NULL,
    note       text NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (origin, size)
);
