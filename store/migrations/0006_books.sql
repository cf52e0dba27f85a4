-- 0006: the books of record. Every money event is one transaction whose postings sum to zero in each phase,
-- written once and never edited (corrections are new transactions). A payout is two-phase: the bill's PENDING
-- transaction reserves the gross from the payer's funds, the tax for the tax payable and the net for the payee;
-- then one POST (the bill succeeded) or one VOID (it failed, was cancelled or never reached WeChat Pay) resolves
-- it — pending_id is unique, so a pending transaction resolves at most once, and only its own bill's news can
-- resolve it. The old tax_ledger's rows are carried over by the Go step of this migration, which then drops it.
CREATE TABLE ledger_transactions (
    id            TEXT PRIMARY KEY,           -- derived from what it records: funding:{order}, pending:{bill}, post:{bill}, void:{bill}
    kind          TEXT NOT NULL,              -- FUNDING | PENDING | POST | VOID | CORRECTION
    pending_id    TEXT UNIQUE,                -- POST and VOID: the PENDING transaction they resolve
    order_id      TEXT NOT NULL DEFAULT '',
    out_bill_no   TEXT NOT NULL DEFAULT '',
    attempt       INTEGER NOT NULL DEFAULT 0,
    payer_id      TEXT NOT NULL DEFAULT '',
    payee_id      TEXT NOT NULL DEFAULT '',
    service_item  TEXT NOT NULL DEFAULT '',
    method        TEXT NOT NULL DEFAULT '',   -- the tax method the withholding was computed with
    gross_fen     BIGINT NOT NULL DEFAULT 0,
    tax_fen       BIGINT NOT NULL DEFAULT 0,
    net_fen       BIGINT NOT NULL DEFAULT 0,
    period        TEXT NOT NULL,              -- YYYY-MM, Beijing time, of effective_at: for a POST, the month income was paid
    tax_year      INTEGER NOT NULL,
    effective_at  TEXT NOT NULL,              -- when it happened (a POST: WeChat Pay's success time)
    detail        TEXT NOT NULL DEFAULT '{}', -- JSON for auditors: the tax basis and calculation, the evidence
    reason        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL               -- when it was written
);
CREATE INDEX ledger_tx_kind_period ON ledger_transactions (kind, period);
CREATE INDEX ledger_tx_payee_year ON ledger_transactions (payee_id, tax_year);
CREATE INDEX ledger_tx_bill ON ledger_transactions (out_bill_no);
CREATE INDEX ledger_tx_order ON ledger_transactions (order_id);

CREATE TABLE ledger_postings (
    transaction_id  TEXT NOT NULL REFERENCES ledger_transactions(id),
    seq             INTEGER NOT NULL,
    account         TEXT NOT NULL,            -- payer:{id}:funds, payee:{id}:payable, platform:tax-payable, platform:bank, wechatpay:in-transit
    phase           TEXT NOT NULL,            -- PENDING (reserved) | POSTED
    amount_fen      BIGINT NOT NULL,          -- debit positive, credit negative
    PRIMARY KEY (transaction_id, seq)
);
CREATE INDEX ledger_postings_account ON ledger_postings (account, phase);

-- A filed month whose posted figures changed afterwards (a late success) is superseded by a correction (更正).
ALTER TABLE exports ADD COLUMN superseded_at TEXT;
ALTER TABLE exports ADD COLUMN superseded_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE exports ADD COLUMN correction_of TEXT NOT NULL DEFAULT '';

-- Which workers the quarterly identity table reported, and as what: a worker is reported once (新增) and again
-- only when their identity changes (变更). fingerprint is a keyed hash of name and ID number.
CREATE TABLE identity_reports (
    payee_id     TEXT NOT NULL,
    quarter      TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    report_type  TEXT NOT NULL,               -- 新增 | 变更
    export_id    TEXT NOT NULL,
    reported_at  TEXT NOT NULL,
    PRIMARY KEY (payee_id, quarter)
);

CREATE INDEX transfers_state ON transfers (state, out_bill_no);
CREATE INDEX transfers_updated ON transfers (updated_at);

-- Reconciliation holds the books' WeChat Pay account against WeChat Pay's fund-flow bill: what each moved over
-- the run's days (the difference must be zero).
ALTER TABLE reconciliations ADD COLUMN books_wechatpay_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE reconciliations ADD COLUMN fundflow_wechatpay_fen BIGINT NOT NULL DEFAULT 0;
CREATE INDEX transfers_wechat_no ON transfers (transfer_bill_no);
