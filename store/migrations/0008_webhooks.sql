-- Merchant webhooks: each payer's one endpoint (its signing secrets sealed), the events emitted for it and every
-- delivery attempt.
CREATE TABLE webhook_endpoints (
    payer_id          TEXT PRIMARY KEY,
    url               TEXT NOT NULL,
    events            TEXT NOT NULL,           -- space-separated event types
    secret_enc        TEXT NOT NULL,
    old_secret_enc    TEXT NOT NULL DEFAULT '', -- the secret before a rotation, signing beside the new one until old_until
    old_until         TEXT NOT NULL DEFAULT '',
    disabled_at       TEXT NOT NULL DEFAULT '',
    disabled_reason   TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE TABLE webhook_events (
    id            TEXT PRIMARY KEY,
    payer_id      TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    type          TEXT NOT NULL,
    body          TEXT NOT NULL,
    state         TEXT NOT NULL,             -- PENDING | DELIVERED | FAILED
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX webhook_events_payer ON webhook_events (payer_id, created_at);
CREATE INDEX webhook_events_state ON webhook_events (state, created_at);
CREATE TABLE webhook_attempts (
    event_id     TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    at           TEXT NOT NULL,
    status       INTEGER NOT NULL,           -- 0: no HTTP answer
    duration_ms  BIGINT NOT NULL,
    answer       TEXT NOT NULL,              -- the first KiB of the answer, or the transport error
    PRIMARY KEY (event_id, attempt)
);
