package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/receiptflow/receiptflow/wechatpay"
)

// Transfer is one payout bill. Its State is WeChat Pay's (package wechatpay), whatever the channel.
type Transfer struct {
	OutBillNo      string
	OrderID        string
	Attempt        int
	PayeeID        string
	OpenID         string
	AmountFen      int64
	Channel        string
	State          string
	TransferBillNo string
	PackageInfo    string
	FailReason     string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// PutTransfer records a bill before it is sent, once per out_bill_no, and reports whether this call created the
// record: when it did not, a create may already have reached the channel. Recording it again with the same amount
// and payee returns the stored row; with different ones it is ErrConflict (WeChat Pay refuses that too).
func (s *Store) PutTransfer(ctx context.Context, t Transfer) (Transfer, bool, error) {
	if t.OutBillNo == "" || t.AmountFen <= 0 || t.OpenID == "" {
		return Transfer{}, false, errors.New("transfer needs out_bill_no, a positive amount and an openid")
	}
	now := s.stamp()
	if t.State == "" {
		t.State = wechatpay.StateAccepted
	}
	res, err := s.exec(ctx, s.db, `INSERT INTO transfers (out_bill_no, order_id, attempt, payee_id, openid, amount_fen, channel, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		t.OutBillNo, t.OrderID, t.Attempt, t.PayeeID, t.OpenID, t.AmountFen, t.Channel, t.State, now, now)
	if err != nil {
		return Transfer{}, false, err
	}
	created, _ := res.RowsAffected()
	got, err := s.Transfer(ctx, t.OutBillNo)
	if errors.Is(err, ErrNotFound) {
		return Transfer{}, false, fmt.Errorf("order %s attempt %d has another bill: %w", t.OrderID, t.Attempt, ErrConflict)
	}
	if err != nil {
		return Transfer{}, false, err
	}
	if got.OrderID != t.OrderID || got.AmountFen != t.AmountFen || got.OpenID != t.OpenID {
		return Transfer{}, false, fmt.Errorf("bill %s exists with other details: %w", t.OutBillNo, ErrConflict)
	}
	return got, created == 1, nil
}

// TransferUpdate is what WeChat Pay (or the ledger) said about a bill, and when it happened there (zero: now).
type TransferUpdate struct {
	State          string
	TransferBillNo string
	PackageInfo    string
	FailReason     string
	At             time.Time
}

// UpdateTransfer records a bill's new state: the one writer of a bill's state, whoever learnt it (a query, a
// create's answer, WeChat Pay's callback). A final state never changes; an update to a final bill with the same
// state is harmless, with another state it is ErrConflict. Reaching a final state resolves the bill's payment in
// the books in the same transaction — SUCCESS posts it (in the month WeChat Pay paid), FAIL and CANCELLED void
// it — so the books follow the bill and only the bill's own news can move its money.
func (s *Store) UpdateTransfer(ctx context.Context, outBillNo string, u TransferUpdate) (Transfer, error) {
	var t Transfer
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE transfers SET state = ?,
			transfer_bill_no = CASE WHEN ? <> '' THEN ? ELSE transfer_bill_no END,
			package_info = CASE WHEN ? <> '' THEN ? ELSE package_info END,
			fail_reason = CASE WHEN ? <> '' THEN ? ELSE fail_reason END,
			updated_at = ?
			WHERE out_bill_no = ? AND state NOT IN (?, ?, ?)`,
			u.State, u.TransferBillNo, u.TransferBillNo, u.PackageInfo, u.PackageInfo, u.FailReason, u.FailReason, s.stamp(),
			outBillNo, wechatpay.StateSuccess, wechatpay.StateFail, wechatpay.StateCancelled)
		if err != nil {
			return err
		}
		changed, _ := res.RowsAffected()
		if t, err = s.transfer(ctx, tx, outBillNo); err != nil {
			return err
		}
		if changed == 0 && t.State != u.State {
			return fmt.Errorf("bill %s is already %s: %w", outBillNo, t.State, ErrConflict)
		}
		if changed == 0 || !wechatpay.Final(u.State) {
			return nil
		}
		at := u.At
		if at.IsZero() || at.After(s.now()) {
			at = s.now()
		}
		kind := TxVoid
		if u.State == wechatpay.StateSuccess {
			kind = TxPost
		}
		_, err = s.resolvePayment(ctx, tx, outBillNo, kind, at, "bill "+u.State+" "+u.FailReason)
		return err
	})
	return t, err
}

// CloseUnsentTransfer records that a bill never came to exist at the payout channel (it was refused before it
// existed, or a query found no such bill after every create had ended): the bill FAIL with reason, its payment
// voided.
func (s *Store) CloseUnsentTransfer(ctx context.Context, outBillNo, reason string) (Transfer, error) {
	return s.UpdateTransfer(ctx, outBillNo, TransferUpdate{State: wechatpay.StateFail, FailReason: BillNeverCreated + ": " + reason})
}

// BillNeverCreated is the fail reason of a bill the channel never had.
const BillNeverCreated = "NOT_CREATED"

const transferColumns = `out_bill_no, order_id, attempt, payee_id, openid, amount_fen, channel, state, transfer_bill_no, package_info, fail_reason, created_at, updated_at`

// Transfer loads a bill.
func (s *Store) Transfer(ctx context.Context, outBillNo string) (Transfer, error) {
	return s.transfer(ctx, s.db, outBillNo)
}

func (s *Store) transfer(ctx context.Context, q querier, outBillNo string) (Transfer, error) {
	return scanTransfer(s.row(ctx, q, `SELECT `+transferColumns+` FROM transfers WHERE out_bill_no = ?`, outBillNo))
}

func scanTransfer(sc interface{ Scan(...any) error }) (Transfer, error) {
	var t Transfer
	var created, updated string
	err := sc.Scan(&t.OutBillNo, &t.OrderID, &t.Attempt, &t.PayeeID, &t.OpenID, &t.AmountFen, &t.Channel, &t.State, &t.TransferBillNo,
		&t.PackageInfo, &t.FailReason, &created, &updated)
	if err != nil {
		return Transfer{}, notFound(err, "transfer")
	}
	t.CreatedAt, t.UpdatedAt = parseTime(created), parseTime(updated)
	return t, nil
}

// TransfersByOrder lists an order's bills by attempt.
func (s *Store) TransfersByOrder(ctx context.Context, orderID string) ([]Transfer, error) {
	rows, err := s.query(ctx, s.db, `SELECT out_bill_no FROM transfers WHERE order_id = ? ORDER BY attempt`, orderID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	out := make([]Transfer, 0, len(ids))
	for _, id := range ids {
		t, err := s.Transfer(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
