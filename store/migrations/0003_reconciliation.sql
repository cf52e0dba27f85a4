-- Reconciliation with WeChat Pay: one row per run (a day, or a range an operator asked for), and what it found.
CREATE TABLE reconciliations (
    id               TEXT PRIMARY KEY,
    from_at          TEXT NOT NULL,
    to_at            TEXT NOT NULL,
    state            TEXT NOT NULL,          -- RUNNING | DONE
    requested_by     TEXT NOT NULL DEFAULT '',
    bills            INTEGER NOT NULL DEFAULT 0,
    our_paid_fen     BIGINT NOT NULL DEFAULT 0,
    wechat_paid_fen  BIGINT NOT NULL DEFAULT 0,
    tax_fen          BIGINT NOT NULL DEFAULT 0,
    resume_after     TEXT NOT NULL DEFAULT '',  -- the last bill checked, where a resumed run goes on
    started_at       TEXT NOT NULL,
    finished_at      TEXT
);

-- A difference between our bill and WeChat Pay's, with the evidence. Written once per bill and run; an operator
-- resolves it with a note.
CREATE TABLE reconciliation_findings (
    reconciliation_id TEXT NOT NULL REFERENCES reconciliations(id),
    out_bill_no       TEXT NOT NULL,
    order_id          TEXT NOT NULL,
    kind              TEXT NOT NULL,
    our_state         TEXT NOT NULL,
    wechat_state      TEXT NOT NULL,
    our_amount_fen    BIGINT NOT NULL,
    wechat_amount_fen BIGINT NOT NULL,
    detail            TEXT NOT NULL DEFAULT '',
    resolved_by       TEXT NOT NULL DEFAULT '',
    resolution        TEXT NOT NULL DEFAULT '',
    resolved_at       TEXT,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (reconciliation_id, out_bill_no)
);

CREATE INDEX transfers_created ON transfers (created_at, out_bill_no);
