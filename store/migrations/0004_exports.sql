-- Files for operators (the monthly withholding filing, …): the content holds names and ID numbers, so it is
-- sealed like them; the row says what it is and how to check it. Downloads are audited.
CREATE TABLE exports (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    period       TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    rows_count   INTEGER NOT NULL,
    income_fen   BIGINT NOT NULL,
    tax_fen      BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    content_enc  TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX exports_kind_period ON exports (kind, period, created_at);
