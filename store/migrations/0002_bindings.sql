-- 0002: face results bound to one run and one credential; identities bound by a passed face verification; funds
-- checked against the payer's registered settlement account; an audit trail of what operators did.

-- Every face credential ever issued for an order, numbered for ever: out_seq_no ({order}_{number}) never repeats,
-- and a retried activity of the same run and credential gets the same number back.
CREATE TABLE face_credentials (
    order_id    TEXT NOT NULL,
    number      INTEGER NOT NULL,
    run_id      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (order_id, number),
    UNIQUE (run_id, seq)
);

-- The run a face attempt belongs to: a claim made in one run never decides another.
ALTER TABLE face_attempts ADD COLUMN run_id TEXT NOT NULL DEFAULT '';

-- When WeChat face verification passed for the payee's registered name and ID number (实名 bound to the person).
ALTER TABLE payees ADD COLUMN face_verified_at TEXT;

-- The payer's registered settlement account (the only account its funds may come from), sealed, and a keyed
-- hash of the account number to compare remittances with.
ALTER TABLE payers ADD COLUMN account_name_enc TEXT;
ALTER TABLE payers ADD COLUMN account_no_enc TEXT;
ALTER TABLE payers ADD COLUMN account_hash TEXT;

-- Who remitted the funds (as the bank statement shows), sealed, and who recorded them.
ALTER TABLE funding ADD COLUMN remitter_name_enc TEXT;
ALTER TABLE funding ADD COLUMN remitter_account_enc TEXT;
ALTER TABLE funding ADD COLUMN remitter_account_hash TEXT;
ALTER TABLE funding ADD COLUMN recorded_by TEXT NOT NULL DEFAULT '';

ALTER TABLE blacklist ADD COLUMN added_by TEXT NOT NULL DEFAULT '';

-- What operators did: who, what, to which record, when. Never PII in detail.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject, created_at);
