-- Operator console sign-ins: kept here, not in one API process, so that every API behind the load balancer knows
-- them and a sign-out ends the session everywhere. The cookie itself is never stored: its SHA-256 is the key.
CREATE TABLE console_sessions (
    key_hash    TEXT PRIMARY KEY,
    operator    TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ended_at    TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
