-- receiptflow schema. Portable between SQLite and PostgreSQL: text keys chosen by the application, times as
-- RFC 3339 UTC text with fixed width (so they sort), money as BIGINT fen, booleans as INTEGER 0/1.

CREATE TABLE payers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_enc  TEXT NOT NULL,            -- merchant HMAC secret, sealed with the PII key ring
    created_at  TEXT NOT NULL
);

CREATE TABLE payees (
    id              TEXT PRIMARY KEY,
    openid          TEXT NOT NULL UNIQUE,
    name_enc        TEXT,                 -- sealed; NULL until real-name verification
    id_number_enc   TEXT,                 -- sealed
    id_hash         TEXT UNIQUE,          -- keyed hash of the ID number: one person, one WeChat account
    id_expires_on   TEXT,                 -- YYYY-MM-DD, NULL when long-term (长期)
    verified_at     TEXT,
    created_at      TEXT NOT NULL
);

CREATE TABLE agreements (
    id                 TEXT PRIMARY KEY,
    payer_id           TEXT NOT NULL REFERENCES payers(id),
    payee_id           TEXT NOT NULL REFERENCES payees(id),
    signatory_id_hash  TEXT NOT NULL,     -- who signed: must be the verified payee being paid
    status             TEXT NOT NULL,     -- ACTIVE | TERMINATED
    signed_at          TEXT NOT NULL,
    UNIQUE (payer_id, payee_id)
);

CREATE TABLE orders (
    id                 TEXT PRIMARY KEY,
    payer_id           TEXT NOT NULL REFERENCES payers(id),
    payee_id           TEXT NOT NULL REFERENCES payees(id),
    merchant_order_no  TEXT NOT NULL,
    service_item       TEXT NOT NULL,
    description        TEXT NOT NULL,
    gross_fen          BIGINT NOT NULL CHECK (gross_fen > 0),
    state              TEXT NOT NULL,
    state_reason       TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (payer_id, merchant_order_no)
);
CREATE INDEX orders_payee ON orders (payee_id, created_at);

CREATE TABLE funding (
    order_id     TEXT PRIMARY KEY REFERENCES orders(id),
    payer_id     TEXT NOT NULL REFERENCES payers(id),
    amount_fen   BIGINT NOT NULL CHECK (amount_fen > 0),
    reference    TEXT NOT NULL,
    arrived_at   TEXT NOT NULL
);

-- An order has at most one standing withholding: a WITHHOLD row, unless a REVERSAL row of the same booking
-- cancels it (its payout failed). A later payout of the order books afresh under the next booking number. The
-- primary key makes retried writes harmless.
CREATE TABLE tax_ledger (
    order_id      TEXT NOT NULL REFERENCES orders(id),
    booking       INTEGER NOT NULL,
    kind          TEXT NOT NULL,          -- WITHHOLD | REVERSAL
    attempt       INTEGER NOT NULL,       -- the payout attempt (bill) it was booked for
    payee_id      TEXT NOT NULL REFERENCES payees(id),
    payer_id      TEXT NOT NULL,
    service_item  TEXT NOT NULL,
    period        TEXT NOT NULL,          -- YYYY-MM, Beijing time
    tax_year      INTEGER NOT NULL,
    method        TEXT NOT NULL,
    income_fen    BIGINT NOT NULL,        -- negative on a reversal
    tax_fen       BIGINT NOT NULL,        -- negative on a reversal
    detail        TEXT NOT NULL,          -- JSON: basis and calculation, for auditors
    reason        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    PRIMARY KEY (order_id, booking, kind)
);
CREATE INDEX tax_ledger_payee_period ON tax_ledger (payee_id, period);
CREATE INDEX tax_ledger_payee_year ON tax_ledger (payee_id, tax_year);

CREATE TABLE transfers (
    out_bill_no       TEXT PRIMARY KEY,
    order_id          TEXT NOT NULL REFERENCES orders(id),
    attempt           INTEGER NOT NULL,
    payee_id          TEXT NOT NULL REFERENCES payees(id),
    openid            TEXT NOT NULL,
    amount_fen        BIGINT NOT NULL CHECK (amount_fen > 0),
    channel           TEXT NOT NULL,      -- ledger | wechatpay
    state             TEXT NOT NULL,
    transfer_bill_no  TEXT NOT NULL DEFAULT '',
    package_info      TEXT NOT NULL DEFAULT '',
    fail_reason       TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (order_id, attempt)
);

-- Face verification audit: no PII, only what happened. result_hash (a keyed hash of verify_result / verify_id)
-- is unique so that a result is accepted at most once.
CREATE TABLE face_attempts (
    id            TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL,
    payee_id      TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    mode          TEXT NOT NULL,
    outcome       TEXT NOT NULL,          -- PASS | FAIL | RETRY | REFUSED
    code          INTEGER NOT NULL,
    failed_check  TEXT NOT NULL DEFAULT '',
    result_hash   TEXT UNIQUE,
    created_at    TEXT NOT NULL
);
CREATE INDEX face_attempts_payee ON face_attempts (payee_id, created_at);

CREATE TABLE blacklist (
    id_hash     TEXT PRIMARY KEY,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- Merchant API: replay protection and idempotency.
CREATE TABLE merchant_nonces (
    payer_id  TEXT NOT NULL,
    nonce     TEXT NOT NULL,
    seen_at   TEXT NOT NULL,
    PRIMARY KEY (payer_id, nonce)
);

CREATE TABLE merchant_requests (
    payer_id         TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    status           INTEGER NOT NULL,
    response         TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (payer_id, idempotency_key)
);
