-- The operator console (broker/console): operator accounts, separate from API clients, and
-- their sign-in sessions, kept server-side so that signing out or removing an operator ends
-- a session at once. Only a SHA-256 of the session cookie is stored: a copy of this table
-- signs nobody in. Times are Unix seconds (double precision).
CREATE TABLE console_operators (
    name          text PRIMARY KEY,
    role          text NOT NULL,       -- viewer | admin
    password_hash text NOT NULL,       -- scrypt$N$r$p$salt$hash (broker.console.accounts)
    created_at    double precision NOT NULL
);

CREATE TABLE console_sessions (
    token_hash text PRIMARY KEY,
    operator   text NOT NULL,
    csrf       text NOT NULL,          -- the token every POST of this session must carry
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL
);
CREATE INDEX console_sessions_operator ON console_sessions (operator);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
