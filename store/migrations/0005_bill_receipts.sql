-- Electronic receipts (电子回单) of paid bills: where the application stands and, once stored, the file's SHA-256
-- (the file itself lives in the files directory under that name, not in this row).
CREATE TABLE bill_receipts (
    out_bill_no  TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL,
    state        TEXT NOT NULL,          -- GENERATING | STORED | FAILED
    sha256       TEXT NOT NULL DEFAULT '',
    size_bytes   INTEGER NOT NULL DEFAULT 0,
    fail_reason  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
