package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/receiptflow/receiptflow/tax"
)

// Ledger row kinds.
const (
	LedgerWithhold = "WITHHOLD"
	LedgerReversal = "REVERSAL"
)

// TaxEntry is one ledger row.
type TaxEntry struct {
	OrderID     string          `json:"orderId"`
	Booking     int             `json:"booking"`
	Attempt     int             `json:"attempt"`
	Kind        string          `json:"kind"`
	PayeeID     string          `json:"payeeId"`
	PayerID     string          `json:"payerId"`
	ServiceItem string          `json:"serviceItem"`
	Period      string          `json:"period"`
	Year        int             `json:"year"`
	Method      tax.Method      `json:"method"`
	IncomeFen   int64           `json:"incomeFen"`
	TaxFen      int64           `json:"taxFen"`
	Detail      json.RawMessage `json:"detail"`
	Reason      string          `json:"reason,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
}

// basis reads what the ledger holds for the period an order's payment falls in. Reversed orders net out because
// reversal rows carry negative amounts.
func (s *Store) basis(ctx context.Context, q querier, m tax.Method, o Order, at time.Time) (tax.Basis, error) {
	var b tax.Basis
	var income, withheld sql.NullInt64
	switch m {
	case tax.PerPayment:
		err := s.row(ctx, q, `SELECT SUM(income_fen), SUM(tax_fen) FROM tax_ledger WHERE payee_id = ? AND payer_id = ? AND service_item = ? AND period = ? AND order_id <> ?`,
			o.PayeeID, o.PayerID, o.ServiceItem, tax.Period(at), o.ID).Scan(&income, &withheld)
		if err != nil {
			return b, err
		}
		b.Months = 1
	case tax.Cumulative:
		err := s.row(ctx, q, `SELECT SUM(income_fen), SUM(tax_fen) FROM tax_ledger WHERE payee_id = ? AND tax_year = ? AND order_id <> ?`,
			o.PayeeID, tax.Year(at), o.ID).Scan(&income, &withheld)
		if err != nil {
			return b, err
		}
		// Months with income on this platform (periods whose net income is positive); the deduction counts the
		// unbroken run of them that ends with this payment's month.
		rows, err := s.query(ctx, q, `SELECT period FROM tax_ledger WHERE payee_id = ? AND tax_year = ? AND order_id <> ? GROUP BY period HAVING SUM(income_fen) > 0`,
			o.PayeeID, tax.Year(at), o.ID)
		if err != nil {
			return b, err
		}
		defer rows.Close()
		var periods []string
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				return b, err
			}
			periods = append(periods, p)
		}
		if err := rows.Err(); err != nil {
			return b, err
		}
		b.Months = tax.ConsecutiveMonths(periods, tax.Period(at))
	default:
		return b, fmt.Errorf("unknown tax method %q", m)
	}
	b.PriorIncome, b.PriorWithheld = max(0, income.Int64), max(0, withheld.Int64)
	return b, nil
}

// PreviewTax computes what withholding would be for an order paid now, without booking it. When the order has
// a standing (unreversed) booking, it returns that.
func (s *Store) PreviewTax(ctx context.Context, m tax.Method, orderID string) (tax.Withholding, error) {
	if e, err := s.standingEntry(ctx, s.db, orderID); err == nil {
		return withholdingOf(e), nil
	} else if !errors.Is(err, ErrNotFound) {
		return tax.Withholding{}, err
	}
	o, err := s.Order(ctx, orderID)
	if err != nil {
		return tax.Withholding{}, err
	}
	b, err := s.basis(ctx, s.db, m, o, s.now())
	if err != nil {
		return tax.Withholding{}, err
	}
	return tax.Compute(m, b, o.GrossFen)
}

// WithholdTax books the withholding for an order's payout (bill attempt), once: while a booking stands, calling
// it again returns that booking, whatever the method says now. After a reversal (the payout failed) it books
// afresh. Bookings for one payee are serialized so two orders never compute from the same basis.
func (s *Store) WithholdTax(ctx context.Context, m tax.Method, orderID string, attempt int) (TaxEntry, error) {
	if attempt < 1 {
		return TaxEntry{}, invalid("attempt must be 1 or more")
	}
	var entry TaxEntry
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		o, err := s.scanOrder(s.row(ctx, tx, orderSelect+` WHERE o.id = ?`, orderID))
		if err != nil {
			return err
		}
		// Lock the payee: concurrent bookings for the same person wait here (PostgreSQL); SQLite's IMMEDIATE
		// transaction already serializes writers.
		var locked string
		if err := s.row(ctx, tx, `SELECT id FROM payees WHERE id = ?`+s.forUpdate(), o.PayeeID).Scan(&locked); err != nil {
			return err
		}
		if e, err := s.standingEntry(ctx, tx, orderID); err == nil {
			entry = e
			return nil
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		var booking int
		if err := s.row(ctx, tx, `SELECT COALESCE(MAX(booking), 0) + 1 FROM tax_ledger WHERE order_id = ?`, orderID).Scan(&booking); err != nil {
			return err
		}
		now := s.now()
		b, err := s.basis(ctx, tx, m, o, now)
		if err != nil {
			return err
		}
		w, err := tax.Compute(m, b, o.GrossFen)
		if err != nil {
			return err
		}
		detail, _ := json.Marshal(map[string]any{"basis": b, "withholding": w})
		entry = TaxEntry{OrderID: o.ID, Booking: booking, Attempt: attempt, Kind: LedgerWithhold, PayeeID: o.PayeeID, PayerID: o.PayerID,
			ServiceItem: o.ServiceItem, Period: tax.Period(now), Year: tax.Year(now), Method: m, IncomeFen: w.Gross, TaxFen: w.Tax,
			Detail: detail, CreatedAt: now.UTC().Truncate(time.Microsecond)}
		return s.insertEntry(ctx, tx, entry)
	})
	return entry, err
}

// ReverseTax cancels every standing withholding of an order (its payout failed) with negative rows, once each.
// Reversing an order with nothing standing does nothing and reports false.
func (s *Store) ReverseTax(ctx context.Context, orderID, reason string) (TaxEntry, bool, error) {
	var entry TaxEntry
	var reversed bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for {
			w, err := s.standingEntry(ctx, tx, orderID)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			detail, _ := json.Marshal(map[string]any{"reverses": LedgerWithhold, "booking": w.Booking})
			// The reversal lands in the period of the booking it cancels, so that month nets to zero.
			entry = TaxEntry{OrderID: orderID, Booking: w.Booking, Attempt: w.Attempt, Kind: LedgerReversal, PayeeID: w.PayeeID, PayerID: w.PayerID, ServiceItem: w.ServiceItem,
				Period: w.Period, Year: w.Year, Method: w.Method, IncomeFen: -w.IncomeFen, TaxFen: -w.TaxFen, Detail: detail, Reason: reason,
				CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
			if err := s.insertEntry(ctx, tx, entry); err != nil {
				return err
			}
			reversed = true
		}
	})
	return entry, reversed, err
}

func (s *Store) insertEntry(ctx context.Context, tx *sql.Tx, e TaxEntry) error {
	_, err := s.exec(ctx, tx, `INSERT INTO tax_ledger (order_id, booking, kind, attempt, payee_id, payer_id, service_item, period, tax_year, method, income_fen, tax_fen, detail, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.OrderID, e.Booking, e.Kind, e.Attempt, e.PayeeID, e.PayerID, e.ServiceItem, e.Period, e.Year, string(e.Method), e.IncomeFen, e.TaxFen, string(e.Detail), e.Reason, formatTime(e.CreatedAt))
	return err
}

const entryColumns = `order_id, booking, kind, attempt, payee_id, payer_id, service_item, period, tax_year, method, income_fen, tax_fen, detail, reason, created_at`

func scanEntry(r interface{ Scan(...any) error }) (TaxEntry, error) {
	var e TaxEntry
	var detail, created, method string
	if err := r.Scan(&e.OrderID, &e.Booking, &e.Kind, &e.Attempt, &e.PayeeID, &e.PayerID, &e.ServiceItem, &e.Period, &e.Year, &method, &e.IncomeFen, &e.TaxFen, &detail, &e.Reason, &created); err != nil {
		return TaxEntry{}, notFound(err, "tax entry")
	}
	e.Method, e.Detail, e.CreatedAt = tax.Method(method), json.RawMessage(detail), parseTime(created)
	return e, nil
}

// standingEntry is the order's withholding that has not been reversed, if any.
func (s *Store) standingEntry(ctx context.Context, q querier, orderID string) (TaxEntry, error) {
	return scanEntry(s.row(ctx, q, `SELECT `+entryColumns+` FROM tax_ledger w WHERE order_id = ? AND kind = ?
		AND NOT EXISTS (SELECT 1 FROM tax_ledger r WHERE r.order_id = w.order_id AND r.booking = w.booking AND r.kind = ?)
		ORDER BY booking LIMIT 1`, orderID, LedgerWithhold, LedgerReversal))
}

// TaxEntries lists a payee's ledger rows for a period (YYYY-MM), oldest first.
func (s *Store) TaxEntries(ctx context.Context, payeeID, period string) ([]TaxEntry, error) {
	return s.taxEntries(ctx, `payee_id = ? AND period = ? ORDER BY created_at, order_id, booking, kind`, payeeID, period)
}

// taxEntries lists the ledger rows that where (a condition and its ORDER BY) selects.
func (s *Store) taxEntries(ctx context.Context, where string, args ...any) ([]TaxEntry, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+entryColumns+` FROM tax_ledger WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TaxEntry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func withholdingOf(e TaxEntry) tax.Withholding {
	return tax.Withholding{Method: e.Method, Gross: e.IncomeFen, Tax: e.TaxFen, Net: e.IncomeFen - e.TaxFen}
}

// Withholding is the booked withholding of an entry as amounts.
func (e TaxEntry) Withholding() tax.Withholding { return withholdingOf(e) }

// TaxEntriesOfYear lists a payee's ledger rows for a tax year, oldest first: what the payee's income statement
// reads (a reversal's row cancels its withholding in every sum).
func (s *Store) TaxEntriesOfYear(ctx context.Context, payeeID string, year int) ([]TaxEntry, error) {
	return s.taxEntries(ctx, `payee_id = ? AND tax_year = ? ORDER BY period, created_at, order_id, booking, kind`, payeeID, year)
}
