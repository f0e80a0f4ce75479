-- The differencing guard's memory (trust.differencing): the aggregate groups released to each
-- consumer, as sorted 8-byte keyed hashes of their members, kept until the agreement's
-- retention ends. In the store so that it holds across restarts and is shared by replicas
-- (a release is serialized per consumer by an advisory lock).
CREATE TABLE released_groups (
    id           bigserial PRIMARY KEY,
    caller       text NOT NULL,
    agreement_id text NOT NULL,
    size         integer NOT NULL,
    members      bytea NOT NULL,
    released_at  double precision NOT NULL,
    expires_at   double precision NOT NULL
);
CREATE INDEX released_groups_by_size ON released_groups (caller, size);
CREATE INDEX released_groups_by_expiry ON released_groups (caller, expires_at);
