-- Each account's balance, kept beside its postings in the same transaction: what a payer has left is read from
-- one row instead of summed over every posting it ever had (which grew with each order).
CREATE TABLE ledger_balances (
    account      TEXT PRIMARY KEY,
    balance_fen  BIGINT NOT NULL
);
INSERT INTO ledger_balances (account, balance_fen) SELECT account, SUM(amount_fen) FROM ledger_postings GROUP BY account;
