package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/workflows"
)

// Order states as the store records them. The workflow's finer states live in Temporal; the store keeps where
// the order stands for merchants and payees. PAID and CANCELLED are final; REJECTED, EXPIRED and FAILED end one
// run, and the payee may tap again (after the payer funds the order, say), which starts a new run.
const (
	OrderCreated    = "CREATED"
	OrderProcessing = "PROCESSING"
	OrderPaid       = "PAID"
	OrderFailed     = "FAILED"
	OrderRejected   = "REJECTED"
	OrderExpired    = "EXPIRED"
	OrderCancelled  = "CANCELLED"
)

// FinalOrderState reports whether no more work happens on an order in state.
func FinalOrderState(state string) bool { return state == OrderPaid || state == OrderCancelled }

// Order is a payout a payer asked for.
type Order struct {
	ID              string    `json:"orderId"`
	PayerID         string    `json:"payerId"`
	PayeeID         string    `json:"payeeId"`
	PayeeOpenID     string    `json:"payeeOpenId"`
	MerchantOrderNo string    `json:"merchantOrderNo"`
	ServiceItem     string    `json:"serviceItem"`
	Description     string    `json:"description"`
	GrossFen        int64     `json:"grossFen"`
	State           string    `json:"state"`
	StateReason     string    `json:"stateReason,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

// NewOrder is what a payer submits.
type NewOrder struct {
	ID              string // optional; generated when empty
	PayerID         string
	PayeeOpenID     string
	MerchantOrderNo string
	ServiceItem     string
	Description     string
	GrossFen        int64
}

// OrderIDPattern is what an order ID looks like: it is embedded in out_bill_no and out_seq_no, which allow only
// letters and digits and at most 32 characters.
var OrderIDPattern = regexp.MustCompile(`^[0-9A-Za-z]{6,24}$`)

// MaxGrossFen bounds one order (10 million 元), far above any gig payment and far below int64 trouble.
const MaxGrossFen = 1_000_000_000

// CreateOrder creates an order. The same payer and merchant order number again returns the existing order when
// everything else matches, and ErrConflict otherwise.
func (s *Store) CreateOrder(ctx context.Context, n NewOrder) (Order, bool, error) {
	if n.ID == "" {
		n.ID = NewID("ord")
	}
	switch {
	case !OrderIDPattern.MatchString(n.ID):
		return Order{}, false, invalid("order id must be 6-24 letters or digits")
	case n.GrossFen <= 0 || n.GrossFen > MaxGrossFen:
		return Order{}, false, invalid(fmt.Sprintf("grossFen must be between 1 and %d", MaxGrossFen))
	}
	for _, f := range []struct {
		name, value string
		min, max    int
	}{{"merchantOrderNo", n.MerchantOrderNo, 1, 64}, {"serviceItem", n.ServiceItem, 1, 64}, {"description", n.Description, 0, 128}} {
		if err := CheckText(f.name, f.value, f.min, f.max); err != nil {
			return Order{}, false, err
		}
	}
	payee, err := s.EnsurePayee(ctx, n.PayeeOpenID)
	if err != nil {
		return Order{}, false, err
	}
	if _, err := s.Payer(ctx, n.PayerID); err != nil {
		return Order{}, false, err
	}
	now := s.stamp()
	res, err := s.exec(ctx, s.db, `INSERT INTO orders (id, payer_id, payee_id, merchant_order_no, service_item, description, gross_fen, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		n.ID, n.PayerID, payee.ID, n.MerchantOrderNo, n.ServiceItem, n.Description, n.GrossFen, OrderCreated, now, now)
	if err != nil {
		return Order{}, false, err
	}
	created, _ := res.RowsAffected()
	o, err := s.scanOrder(s.row(ctx, s.db, orderSelect+` WHERE o.payer_id = ? AND o.merchant_order_no = ?`, n.PayerID, n.MerchantOrderNo))
	if errors.Is(err, ErrNotFound) {
		return Order{}, false, fmt.Errorf("order id %s already used: %w", n.ID, ErrConflict)
	}
	if err != nil {
		return Order{}, false, err
	}
	if created == 0 && (o.PayeeID != payee.ID || o.GrossFen != n.GrossFen || o.ServiceItem != n.ServiceItem || o.Description != n.Description) {
		return Order{}, false, fmt.Errorf("merchant order %s exists with other details: %w", n.MerchantOrderNo, ErrConflict)
	}
	return o, created == 1, nil
}

const orderSelect = `SELECT o.id, o.payer_id, o.payee_id, p.openid, o.merchant_order_no, o.service_item, o.description, o.gross_fen,
	o.state, o.state_reason, o.created_at, o.updated_at FROM orders o JOIN payees p ON p.id = o.payee_id`

func (s *Store) scanOrder(r interface{ Scan(...any) error }) (Order, error) {
	var o Order
	var created, updated string
	if err := r.Scan(&o.ID, &o.PayerID, &o.PayeeID, &o.PayeeOpenID, &o.MerchantOrderNo, &o.ServiceItem, &o.Description, &o.GrossFen,
		&o.State, &o.StateReason, &created, &updated); err != nil {
		return Order{}, notFound(err, "order")
	}
	o.CreatedAt, o.UpdatedAt = parseTime(created), parseTime(updated)
	return o, nil
}

// Order loads an order.
func (s *Store) Order(ctx context.Context, id string) (Order, error) {
	return s.scanOrder(s.row(ctx, s.db, orderSelect+` WHERE o.id = ?`, id))
}

// OrdersByPayee lists a payee's orders, newest first.
func (s *Store) OrdersByPayee(ctx context.Context, payeeID string, limit int) ([]Order, error) {
	rows, err := s.query(ctx, s.db, orderSelect+` WHERE o.payee_id = ? ORDER BY o.created_at DESC, o.id LIMIT ?`, payeeID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := s.scanOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// SetOrderState moves an order that is not final yet. Moving a final order to the state it already has is
// harmless (a retried activity); to another state it is ErrConflict.
func (s *Store) SetOrderState(ctx context.Context, id, state, reason string) error {
	res, err := s.exec(ctx, s.db, `UPDATE orders SET state = ?, state_reason = ?, updated_at = ? WHERE id = ? AND state NOT IN (?, ?)`,
		state, reason, s.stamp(), id, OrderPaid, OrderCancelled)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	o, err := s.Order(ctx, id)
	if err != nil {
		return err
	}
	if o.State == state {
		return nil
	}
	return fmt.Errorf("order %s is already %s: %w", id, o.State, ErrConflict)
}

// Funding is the payer's money for one order, arrived at the platform: how much, the bank's reference and the
// account it was remitted from, as the bank statement shows them.
type Funding struct {
	OrderID   string
	PayerID   string
	AmountFen int64
	Reference string
	Remitter  Account
	// RemitterHash is the keyed hash of the remitting account number, compared with the payer's registered
	// settlement account (三流合一: the funds come from the contracting payer). Empty on funding recorded before
	// remitters were kept.
	RemitterHash string
	RecordedBy   string
	ArrivedAt    time.Time
}

// RecordFunding notes that the payer's funds for an order arrived; the first complete record per order wins (one
// recorded before remitting accounts were kept may be completed once).
func (s *Store) RecordFunding(ctx context.Context, f Funding) error {
	if f.AmountFen <= 0 || f.AmountFen > MaxGrossFen {
		return invalid(fmt.Sprintf("amountFen must be between 1 and %d", MaxGrossFen))
	}
	if err := CheckText("reference", f.Reference, 1, 64); err != nil {
		return err
	}
	if err := validAccount(f.Remitter); err != nil {
		return invalid("remitter: " + err.Error())
	}
	o, err := s.Order(ctx, f.OrderID)
	if err != nil {
		return err
	}
	if o.PayerID != f.PayerID {
		return fmt.Errorf("order %s belongs to another payer: %w", f.OrderID, ErrConflict)
	}
	name, number, hash := s.sealAccount(f.Remitter, "funding:"+f.OrderID+":remitter")
	var created bool
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		res, err := s.exec(ctx, tx, `INSERT INTO funding (order_id, payer_id, amount_fen, reference, remitter_name_enc, remitter_account_enc, remitter_account_hash, recorded_by, arrived_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING`,
			f.OrderID, f.PayerID, f.AmountFen, f.Reference, name, number, hash, f.RecordedBy, formatTime(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		created = true
		_, err = s.insertTransaction(ctx, tx, fundingTransaction(f.OrderID, f.PayerID, f.AmountFen, now, f.Reference))
		return err
	})
	if err != nil || created {
		return err
	}
	had, err := s.Funding(ctx, f.OrderID)
	if err != nil {
		return err
	}
	if had.AmountFen != f.AmountFen || had.Reference != f.Reference {
		return fmt.Errorf("order %s already has funding %s of %d fen: %w", f.OrderID, had.Reference, had.AmountFen, ErrConflict)
	}
	if had.RemitterHash == "" {
		_, err := s.exec(ctx, s.db, `UPDATE funding SET remitter_name_enc = ?, remitter_account_enc = ?, remitter_account_hash = ?, recorded_by = ?
			WHERE order_id = ? AND remitter_account_hash IS NULL`, name, number, hash, f.RecordedBy, f.OrderID)
		return err
	}
	if had.RemitterHash != hash {
		return fmt.Errorf("order %s already has funding from another account: %w", f.OrderID, ErrConflict)
	}
	return nil
}

// Funding loads the funding of an order; ErrNotFound when the money has not arrived.
func (s *Store) Funding(ctx context.Context, orderID string) (Funding, error) {
	var f Funding
	var arrived string
	var name, number, hash sql.NullString
	err := s.row(ctx, s.db, `SELECT order_id, payer_id, amount_fen, reference, remitter_name_enc, remitter_account_enc, remitter_account_hash, recorded_by, arrived_at
		FROM funding WHERE order_id = ?`, orderID).
		Scan(&f.OrderID, &f.PayerID, &f.AmountFen, &f.Reference, &name, &number, &hash, &f.RecordedBy, &arrived)
	if err != nil {
		return Funding{}, notFound(err, "funding")
	}
	if f.Remitter, err = s.openAccount(name, number, "funding:"+orderID+":remitter"); err != nil {
		return Funding{}, err
	}
	f.RemitterHash, f.ArrivedAt = hash.String, parseTime(arrived)
	return f, nil
}

// PayeeActivity is what the risk rules need to know about a payee's recent payouts.
type PayeeActivity struct {
	PaidLast24h     int   // orders paid in the last 24 hours
	PaidLast24hFen  int64 // their gross amount
	MonthIncomeFen  int64 // income reserved or paid this month (all payers)
	YearIncomeFen   int64 // income reserved or paid this tax year (all payers)
	FaceFailures30d int   // failed face verifications in the last 30 days
}

// Activity summarizes a payee's recent payouts and face failures as of now, for period (YYYY-MM).
func (s *Store) Activity(ctx context.Context, payeeID, period string, now time.Time) (PayeeActivity, error) {
	var a PayeeActivity
	err := s.row(ctx, s.db, `SELECT COUNT(*), COALESCE(SUM(gross_fen), 0) FROM orders WHERE payee_id = ? AND state = ? AND updated_at >= ?`,
		payeeID, OrderPaid, formatTime(now.Add(-24*time.Hour))).Scan(&a.PaidLast24h, &a.PaidLast24hFen)
	if err != nil {
		return a, err
	}
	// Income reserved or paid (not voided) this month and this year, all payers, both methods.
	for _, f := range []struct {
		q   PaymentQuery
		sum *int64
	}{{PaymentQuery{PayeeID: payeeID, Period: period}, &a.MonthIncomeFen}, {PaymentQuery{PayeeID: payeeID, Year: tax.Year(now)}, &a.YearIncomeFen}} {
		f.q.States = []string{PaymentPending, PaymentPosted}
		ps, err := s.Payments(ctx, f.q)
		if err != nil {
			return a, err
		}
		for _, p := range ps {
			*f.sum += p.GrossFen
		}
	}
	err = s.row(ctx, s.db, `SELECT COUNT(*) FROM face_attempts WHERE payee_id = ? AND outcome IN (?, ?) AND created_at >= ?`,
		payeeID, workflows.FaceFail, workflows.FaceRefused, formatTime(now.Add(-30*24*time.Hour))).Scan(&a.FaceFailures30d)
	return a, err
}
