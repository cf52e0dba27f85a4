package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/receiptflow/receiptflow/tax"
)

// The books of record: a double-entry, two-phase ledger (the model of TigerBeetle's two-phase transfers,
// https://docs.tigerbeetle.com/coding/two-phase-transfers/). Every figure a person sees — the payee's statement,
// the monthly filing, the quarterly report, reconciliation's totals — is read from it, through Payments.
//
// Postings are signed: a debit is positive, a credit negative, and each transaction sums to zero in each phase.
//
//	funding arrives     platform:bank +F                    payer:P:funds −F                       (posted)
//	a bill is made      payer:P:funds +gross                platform:tax-payable −tax   payee:X:payable −net   (pending)
//	the bill succeeds   the pending released, and posted:   payer:P:funds +gross  platform:tax-payable −tax  wechatpay:in-transit −net
//	it fails / is void  the pending released
//
// So a payer's funds (the negated balance of payer:P:funds over both phases) are what it remitted less what is
// reserved or paid; payee:X:payable holds the nets of bills on their way; wechatpay:in-transit the nets WeChat
// Pay paid out, day by day, which is what reconciliation holds against WeChat Pay's fund-flow bill.

// Transaction kinds.
const (
	TxFunding = "FUNDING"
	TxPending = "PENDING"
	TxPost    = "POST"
	TxVoid    = "VOID"
)

// Posting phases.
const (
	PhasePending = "PENDING"
	PhasePosted  = "POSTED"
)

// The platform's accounts.
const (
	AccountBank       = "platform:bank"
	AccountTaxPayable = "platform:tax-payable"
	AccountWeChatPay  = "wechatpay:in-transit"
)

// AccountPayerFunds is a payer's money held by the platform.
func AccountPayerFunds(payerID string) string { return "payer:" + payerID + ":funds" }

// AccountPayeePayable is what the platform owes a payee on bills not yet paid.
func AccountPayeePayable(payeeID string) string { return "payee:" + payeeID + ":payable" }

// Posting is one leg of a transaction.
type Posting struct {
	Account   string `json:"account"`
	Phase     string `json:"phase"`
	AmountFen int64  `json:"amountFen"`
}

// Transaction is one money event, written once.
type Transaction struct {
	ID          string
	Kind        string
	PendingID   string
	OrderID     string
	OutBillNo   string
	Attempt     int
	PayerID     string
	PayeeID     string
	ServiceItem string
	Method      tax.Method
	GrossFen    int64
	TaxFen      int64
	NetFen      int64
	EffectiveAt time.Time
	Detail      json.RawMessage
	Reason      string
	Postings    []Posting
}

// Payment states: a bill's pending transaction, and how it was resolved.
const (
	PaymentPending = "PENDING"
	PaymentPosted  = "POSTED"
	PaymentVoided  = "VOIDED"
)

// Payment is one bill in the books: reserved when the bill was made, then posted or voided, once.
type Payment struct {
	OutBillNo   string          `json:"outBillNo"`
	OrderID     string          `json:"orderId"`
	Attempt     int             `json:"attempt"`
	PayeeID     string          `json:"payeeId"`
	PayerID     string          `json:"payerId"`
	ServiceItem string          `json:"serviceItem"`
	Method      tax.Method      `json:"method"`
	GrossFen    int64           `json:"grossFen"`
	TaxFen      int64           `json:"taxFen"`
	NetFen      int64           `json:"netFen"`
	State       string          `json:"state"`
	BookedAt    time.Time       `json:"bookedAt"`
	BookedIn    string          `json:"bookedIn"` // the month it was reserved
	Period      string          `json:"period"`   // the month it counts in: paid (POSTED), else booked
	Year        int             `json:"year"`
	ResolvedAt  time.Time       `json:"resolvedAt,omitzero"`
	Reason      string          `json:"reason,omitempty"`
	Detail      json.RawMessage `json:"detail,omitempty"`
}

// Withholding is the payment's amounts.
func (p Payment) Withholding() tax.Withholding {
	return tax.Withholding{Method: p.Method, Gross: p.GrossFen, Tax: p.TaxFen, Net: p.NetFen}
}

// ErrInsufficientFunds: the payer's funds do not cover the bill.
var ErrInsufficientFunds = fmt.Errorf("the payer's funds do not cover this payment: %w", ErrConflict)

// insertTransaction writes t once: writing the same ID again changes nothing and reports false. A second
// resolution of one pending transaction is ErrConflict. Postings must balance in each phase. Each posting moves
// its account's balance in the same transaction.
func (s *Store) insertTransaction(ctx context.Context, tx *sql.Tx, t Transaction) (bool, error) {
	return s.writeTransaction(ctx, tx, t, true)
}

// writeTransaction is insertTransaction; without balances for the books' own migration (0006), which runs before
// there are balances to move: 0007 sums them from the postings.
func (s *Store) writeTransaction(ctx context.Context, tx *sql.Tx, t Transaction, balances bool) (bool, error) {
	sums := map[string]int64{}
	for _, p := range t.Postings {
		if p.Phase != PhasePending && p.Phase != PhasePosted {
			return false, fmt.Errorf("books: posting phase %q", p.Phase)
		}
		sums[p.Phase] += p.AmountFen
	}
	for phase, sum := range sums {
		if sum != 0 {
			return false, fmt.Errorf("books: transaction %s does not balance in phase %s (%d fen)", t.ID, phase, sum)
		}
	}
	if len(t.Postings) == 0 {
		return false, fmt.Errorf("books: transaction %s has no postings", t.ID)
	}
	if len(t.Detail) == 0 {
		t.Detail = json.RawMessage("{}")
	}
	var pending any
	if t.PendingID != "" {
		pending = t.PendingID
	}
	at := t.EffectiveAt
	res, err := s.exec(ctx, tx, `INSERT INTO ledger_transactions (id, kind, pending_id, order_id, out_bill_no, attempt, payer_id, payee_id, service_item,
		method, gross_fen, tax_fen, net_fen, period, tax_year, effective_at, detail, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		t.ID, t.Kind, pending, t.OrderID, t.OutBillNo, t.Attempt, t.PayerID, t.PayeeID, t.ServiceItem, string(t.Method), t.GrossFen, t.TaxFen, t.NetFen,
		tax.Period(at), tax.Year(at), formatTime(at), string(t.Detail), t.Reason, s.stamp())
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var kind string
		err := s.row(ctx, tx, `SELECT kind FROM ledger_transactions WHERE id = ?`, t.ID).Scan(&kind)
		if errors.Is(err, sql.ErrNoRows) && t.PendingID != "" {
			return false, fmt.Errorf("books: %s is resolved already: %w", t.PendingID, ErrConflict)
		}
		return false, err
	}
	for i, p := range t.Postings {
		if _, err := s.exec(ctx, tx, `INSERT INTO ledger_postings (transaction_id, seq, account, phase, amount_fen) VALUES (?, ?, ?, ?, ?)`,
			t.ID, i+1, p.Account, p.Phase, p.AmountFen); err != nil {
			return false, err
		}
		if !balances {
			continue
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO ledger_balances (account, balance_fen) VALUES (?, ?)
			ON CONFLICT (account) DO UPDATE SET balance_fen = ledger_balances.balance_fen + excluded.balance_fen`, p.Account, p.AmountFen); err != nil {
			return false, err
		}
	}
	return true, nil
}

// fundingTransaction is the payer's remittance for an order arriving in the platform's bank account.
func fundingTransaction(orderID, payerID string, amount int64, at time.Time, reference string) Transaction {
	return Transaction{ID: "funding:" + orderID, Kind: TxFunding, OrderID: orderID, PayerID: payerID, GrossFen: amount, EffectiveAt: at, Reason: reference,
		Postings: []Posting{{AccountBank, PhasePosted, amount}, {AccountPayerFunds(payerID), PhasePosted, -amount}}}
}

func pendingID(outBillNo string) string { return "pending:" + outBillNo }

// reservation is the postings of a bill's pending transaction.
func reservation(payerID, payeeID string, w tax.Withholding, phase string, sign int64) []Posting {
	return []Posting{{AccountPayerFunds(payerID), phase, sign * w.Gross}, {AccountTaxPayable, phase, -sign * w.Tax},
		{AccountPayeePayable(payeeID), phase, -sign * w.Net}}
}

// PaymentQuery selects payments; zero fields do not filter.
type PaymentQuery struct {
	OutBillNo   string
	OrderID     string
	PayeeID     string
	PayerID     string
	ServiceItem string
	Method      tax.Method
	States      []string // PENDING, POSTED, VOIDED
	Period      string   // the month it counts in
	Periods     []string
	UpToPeriod  string
	Year        int
	ExceptOrder string
	BookedUpTo  string // reserved in this month or before
}

// The month and year a payment counts in: a posted one where it was paid, any other where it was booked.
const (
	paymentPeriod = `CASE WHEN r.kind = 'POST' THEN r.period ELSE p.period END`
	paymentYear   = `CASE WHEN r.kind = 'POST' THEN r.tax_year ELSE p.tax_year END`
)

func (q PaymentQuery) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) { conds = append(conds, cond); args = append(args, a...) }
	for _, f := range []struct{ col, v string }{{"p.out_bill_no", q.OutBillNo}, {"p.order_id", q.OrderID}, {"p.payee_id", q.PayeeID},
		{"p.payer_id", q.PayerID}, {"p.service_item", q.ServiceItem}, {"p.method", string(q.Method)}, {paymentPeriod, q.Period}} {
		if f.v != "" {
			add(f.col+" = ?", f.v)
		}
	}
	if q.ExceptOrder != "" {
		add("p.order_id <> ?", q.ExceptOrder)
	}
	if q.UpToPeriod != "" {
		add(paymentPeriod+" <= ?", q.UpToPeriod)
	}
	if q.BookedUpTo != "" {
		add("p.period <= ?", q.BookedUpTo)
	}
	if q.Year != 0 {
		add(paymentYear+" = ?", q.Year)
	}
	if len(q.Periods) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(q.Periods)), ", ")
		for _, p := range q.Periods {
			args = append(args, p)
		}
		conds = append(conds, paymentPeriod+" IN ("+marks+")")
	}
	if len(q.States) > 0 {
		var or []string
		for _, st := range q.States {
			switch st {
			case PaymentPending:
				or = append(or, "r.id IS NULL")
			case PaymentPosted:
				or = append(or, "r.kind = 'POST'")
			case PaymentVoided:
				or = append(or, "r.kind = 'VOID'")
			}
		}
		conds = append(conds, "("+strings.Join(or, " OR ")+")")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(conds, " AND "), args
}

// Payments is the one read of the books that every report makes: the bills' payments q selects, in the order
// they count (month, then booking).
func (s *Store) Payments(ctx context.Context, q PaymentQuery) ([]Payment, error) {
	return s.payments(ctx, s.db, q)
}

func (s *Store) payments(ctx context.Context, db querier, q PaymentQuery) ([]Payment, error) {
	where, args := q.where()
	rows, err := s.query(ctx, db, `SELECT p.out_bill_no, p.order_id, p.attempt, p.payee_id, p.payer_id, p.service_item, p.method, p.gross_fen, p.tax_fen,
		p.net_fen, p.period, p.effective_at, p.detail, COALESCE(r.kind, ''), `+paymentPeriod+`, `+paymentYear+`, COALESCE(r.effective_at, ''), COALESCE(r.reason, '')
		FROM ledger_transactions p LEFT JOIN ledger_transactions r ON r.pending_id = p.id
		WHERE p.kind = 'PENDING'`+where+` ORDER BY `+paymentPeriod+`, p.effective_at, p.out_bill_no`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Payment
	for rows.Next() {
		var p Payment
		var method, booked, detail, resolution, resolved string
		if err := rows.Scan(&p.OutBillNo, &p.OrderID, &p.Attempt, &p.PayeeID, &p.PayerID, &p.ServiceItem, &method, &p.GrossFen, &p.TaxFen, &p.NetFen,
			&p.BookedIn, &booked, &detail, &resolution, &p.Period, &p.Year, &resolved, &p.Reason); err != nil {
			return nil, err
		}
		p.Method, p.BookedAt, p.Detail = tax.Method(method), parseTime(booked), json.RawMessage(detail)
		switch resolution {
		case TxPost:
			p.State = PaymentPosted
		case TxVoid:
			p.State = PaymentVoided
		default:
			p.State = PaymentPending
		}
		if resolved != "" {
			p.ResolvedAt = parseTime(resolved)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Payment is one bill's payment; ErrNotFound when none was reserved for it.
func (s *Store) Payment(ctx context.Context, outBillNo string) (Payment, error) {
	return s.onePayment(ctx, s.db, outBillNo)
}

func (s *Store) onePayment(ctx context.Context, q querier, outBillNo string) (Payment, error) {
	ps, err := s.payments(ctx, q, PaymentQuery{OutBillNo: outBillNo})
	if err != nil {
		return Payment{}, err
	}
	if len(ps) == 0 {
		return Payment{}, fmt.Errorf("payment %s: %w", outBillNo, ErrNotFound)
	}
	return ps[len(ps)-1], nil
}

// orderPayment is the order's payment that has not been voided — reserved or paid — if any.
func (s *Store) orderPayment(ctx context.Context, q querier, orderID string) (Payment, bool, error) {
	ps, err := s.payments(ctx, q, PaymentQuery{OrderID: orderID, States: []string{PaymentPending, PaymentPosted}})
	if err != nil || len(ps) == 0 {
		return Payment{}, false, err
	}
	return ps[len(ps)-1], true, nil
}

// basis reads what the books hold for the period a payment made now falls in: payments posted or still reserved
// (so two payments in one month never compute from the same basis and never under-withhold), of the same method.
//
// A switch of method within a year (公告2025年第16号 took effect on 2025-10-01, so platforms switched mid-year):
// no official text says how the cumulative method treats income withheld earlier by 预扣率表二. We count, for the
// cumulative basis and its months, only income withheld by the cumulative method — a platform that switches
// starts its 累计 in the month it switches, as 16号 itself had platforms do on its effective date — and the
// payee's annual reconciliation (汇算清缴) settles the year; income withheld per payment stays final for its 次.
func (s *Store) basis(ctx context.Context, q querier, m tax.Method, o Order, at time.Time) (tax.Basis, error) {
	var b tax.Basis
	pq := PaymentQuery{PayeeID: o.PayeeID, Method: m, States: []string{PaymentPending, PaymentPosted}, ExceptOrder: o.ID}
	switch m {
	case tax.PerPayment:
		pq.PayerID, pq.ServiceItem, pq.Period = o.PayerID, o.ServiceItem, tax.Period(at)
		b.Months = 1
	case tax.Cumulative:
		pq.Year, pq.UpToPeriod = tax.Year(at), tax.Period(at)
	default:
		return b, fmt.Errorf("unknown tax method %q", m)
	}
	ps, err := s.payments(ctx, q, pq)
	if err != nil {
		return b, err
	}
	income := map[string]int64{}
	for _, p := range ps {
		b.PriorIncome += p.GrossFen
		b.PriorWithheld += p.TaxFen
		income[p.Period] += p.GrossFen
	}
	if m == tax.Cumulative {
		var periods []string
		for p, fen := range income {
			if fen > 0 {
				periods = append(periods, p)
			}
		}
		b.Months = tax.ConsecutiveMonths(periods, tax.Period(at))
	}
	return b, nil
}

// PreviewTax is what withholding would be for an order paid now, without reserving it; for an order with a
// payment reserved or paid, that payment's.
func (s *Store) PreviewTax(ctx context.Context, m tax.Method, orderID string) (tax.Withholding, error) {
	if p, ok, err := s.orderPayment(ctx, s.db, orderID); err != nil || ok {
		return p.Withholding(), err
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

// ReservePayment writes the pending transaction of an order's bill: the tax computed on the basis the books hold
// now, the gross reserved from the payer's funds. Once per bill: calling it again returns the reservation, whatever
// the method says now. Reservations for one payee are serialized so two never compute from the same basis; a
// payer's funds never go below zero (ErrInsufficientFunds).
func (s *Store) ReservePayment(ctx context.Context, m tax.Method, orderID string, attempt int, outBillNo string) (Payment, error) {
	if attempt < 1 || outBillNo == "" {
		return Payment{}, invalid("a payment needs its bill and attempt")
	}
	var out Payment
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		o, err := s.scanOrder(s.row(ctx, tx, orderSelect+` WHERE o.id = ?`, orderID))
		if err != nil {
			return err
		}
		// Lock the payee: concurrent reservations for the same person wait here (PostgreSQL); SQLite's IMMEDIATE
		// transaction already serializes writers.
		var locked string
		if err := s.row(ctx, tx, `SELECT id FROM payees WHERE id = ?`+s.forUpdate(), o.PayeeID).Scan(&locked); err != nil {
			return err
		}
		if p, err := s.onePayment(ctx, tx, outBillNo); err == nil {
			out = p
			return nil
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if p, ok, err := s.orderPayment(ctx, tx, orderID); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("order %s already has payment %s (%s): %w", orderID, p.OutBillNo, p.State, ErrConflict)
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
		available, err := s.payerFunds(ctx, tx, o.PayerID)
		if err != nil {
			return err
		}
		if available < w.Gross {
			return fmt.Errorf("payer %s has %d fen, the bill needs %d: %w", o.PayerID, available, w.Gross, ErrInsufficientFunds)
		}
		detail, _ := json.Marshal(map[string]any{"basis": b, "withholding": w})
		t := Transaction{ID: pendingID(outBillNo), Kind: TxPending, OrderID: o.ID, OutBillNo: outBillNo, Attempt: attempt, PayerID: o.PayerID,
			PayeeID: o.PayeeID, ServiceItem: o.ServiceItem, Method: m, GrossFen: w.Gross, TaxFen: w.Tax, NetFen: w.Net, EffectiveAt: now,
			Detail: detail, Postings: reservation(o.PayerID, o.PayeeID, w, PhasePending, 1)}
		if _, err := s.insertTransaction(ctx, tx, t); err != nil {
			return err
		}
		out, err = s.onePayment(ctx, tx, outBillNo)
		return err
	})
	return out, err
}

// payerFunds is what a payer has left: remitted, less reserved and paid.
func (s *Store) payerFunds(ctx context.Context, q querier, payerID string) (int64, error) {
	var balance int64
	err := s.row(ctx, q, `SELECT balance_fen FROM ledger_balances WHERE account = ?`, AccountPayerFunds(payerID)).Scan(&balance)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return -balance, err
}

// PayerFunds is what a payer has left at the platform: remitted, less reserved and paid.
func (s *Store) PayerFunds(ctx context.Context, payerID string) (int64, error) {
	return s.payerFunds(ctx, s.db, payerID)
}

// resolvePayment posts (the bill succeeded at at) or voids a bill's payment, in the caller's transaction. A bill
// with no payment reserved has nothing to resolve; resolving it again the same way changes nothing; the other
// way is ErrConflict. Posting into a month already filed marks its filing superseded.
func (s *Store) resolvePayment(ctx context.Context, tx *sql.Tx, outBillNo, kind string, at time.Time, reason string) (bool, error) {
	p, err := s.onePayment(ctx, tx, outBillNo)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch {
	case p.State == PaymentPosted && kind == TxPost, p.State == PaymentVoided && kind == TxVoid:
		return false, nil
	case p.State != PaymentPending:
		return false, fmt.Errorf("bill %s's payment is %s, cannot %s it: %w", outBillNo, p.State, strings.ToLower(kind), ErrConflict)
	}
	w := p.Withholding()
	t := Transaction{ID: strings.ToLower(kind) + ":" + outBillNo, Kind: kind, PendingID: pendingID(outBillNo), OrderID: p.OrderID, OutBillNo: outBillNo,
		Attempt: p.Attempt, PayerID: p.PayerID, PayeeID: p.PayeeID, ServiceItem: p.ServiceItem, Method: p.Method, GrossFen: w.Gross, TaxFen: w.Tax,
		NetFen: w.Net, EffectiveAt: at, Reason: reason, Postings: reservation(p.PayerID, p.PayeeID, w, PhasePending, -1)}
	if kind == TxPost {
		t.Postings = append(t.Postings, Posting{AccountPayerFunds(p.PayerID), PhasePosted, w.Gross}, Posting{AccountTaxPayable, PhasePosted, -w.Tax},
			Posting{AccountWeChatPay, PhasePosted, -w.Net})
	}
	created, err := s.insertTransaction(ctx, tx, t)
	if err != nil || !created || kind != TxPost {
		return created, err
	}
	return true, s.supersedeFilings(ctx, tx, tax.Period(at), "bill "+outBillNo+" paid after the filing")
}

// VoidPayment voids the payment of a bill that never reached the payout channel (or was refused before it
// existed); for one that did, the bill's own recorded outcome resolves it (UpdateTransfer).
func (s *Store) VoidPayment(ctx context.Context, outBillNo, reason string) (bool, error) {
	var voided bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := s.row(ctx, tx, `SELECT 1 FROM transfers WHERE out_bill_no = ?`, outBillNo).Scan(&one)
		if err == nil {
			return fmt.Errorf("bill %s was recorded: its outcome resolves its payment: %w", outBillNo, ErrConflict)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		voided, err = s.resolvePayment(ctx, tx, outBillNo, TxVoid, s.now(), reason)
		return err
	})
	return voided, err
}

// CheckBooks holds the books against their invariants and lists every violation (none: the books are sound):
// each transaction balances in each phase; each pending transaction is resolved at most once, by a POST or a
// VOID of its own bill; a bill that succeeded has exactly one posted payment and one that failed none standing;
// every PAID order has exactly one posted payment carrying its withholding, and no order that ended otherwise
// has one; the accounts sum to zero; and no payer's funds ever went below zero.
func (s *Store) CheckBooks(ctx context.Context) ([]string, error) {
	var out []string
	checks := []struct{ what, query string }{
		{"transaction does not balance", `SELECT transaction_id || ' ' || phase || ' ' || CAST(SUM(amount_fen) AS TEXT) FROM ledger_postings GROUP BY transaction_id, phase HAVING SUM(amount_fen) <> 0`},
		{"transaction without postings", `SELECT id FROM ledger_transactions t WHERE NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.transaction_id = t.id)`},
		{"resolution of no pending transaction, or of another bill's", `SELECT r.id FROM ledger_transactions r LEFT JOIN ledger_transactions p ON p.id = r.pending_id
			WHERE r.kind IN ('POST', 'VOID') AND (p.id IS NULL OR p.kind <> 'PENDING' OR p.out_bill_no <> r.out_bill_no OR p.gross_fen <> r.gross_fen OR p.tax_fen <> r.tax_fen)`},
		{"amounts do not add up (gross = tax + net)", `SELECT id FROM ledger_transactions WHERE kind IN ('PENDING', 'POST', 'VOID') AND gross_fen <> tax_fen + net_fen`},
		{"bill succeeded without its payment posted", `SELECT t.out_bill_no FROM transfers t WHERE t.state = 'SUCCESS'
			AND NOT EXISTS (SELECT 1 FROM ledger_transactions r WHERE r.kind = 'POST' AND r.out_bill_no = t.out_bill_no)`},
		{"payment posted for a bill that did not succeed", `SELECT r.out_bill_no FROM ledger_transactions r LEFT JOIN transfers t ON t.out_bill_no = r.out_bill_no
			WHERE r.kind = 'POST' AND (t.state IS NULL OR t.state <> 'SUCCESS')`},
		{"bill failed while its payment stands", `SELECT t.out_bill_no FROM transfers t JOIN ledger_transactions p ON p.id = 'pending:' || t.out_bill_no
			WHERE t.state IN ('FAIL', 'CANCELLED') AND NOT EXISTS (SELECT 1 FROM ledger_transactions r WHERE r.pending_id = p.id AND r.kind = 'VOID')`},
		{"PAID order without exactly one posted payment", `SELECT o.id FROM orders o WHERE o.state = 'PAID'
			AND (SELECT COUNT(*) FROM ledger_transactions r WHERE r.kind = 'POST' AND r.order_id = o.id) <> 1`},
		{"order ended unpaid with a posted payment", `SELECT o.id || ' ' || o.state FROM orders o WHERE o.state IN ('CANCELLED', 'FAILED', 'REJECTED', 'EXPIRED')
			AND EXISTS (SELECT 1 FROM ledger_transactions r WHERE r.kind = 'POST' AND r.order_id = o.id)`},
		{"accounts do not sum to zero", `SELECT CAST(SUM(amount_fen) AS TEXT) FROM ledger_postings HAVING SUM(amount_fen) <> 0`},
		{"balance is not the sum of the account's postings", `SELECT b.account FROM ledger_balances b
			WHERE b.balance_fen <> (SELECT COALESCE(SUM(p.amount_fen), 0) FROM ledger_postings p WHERE p.account = b.account)
			UNION SELECT p.account FROM ledger_postings p WHERE NOT EXISTS (SELECT 1 FROM ledger_balances b WHERE b.account = p.account)`},
	}
	for _, c := range checks {
		rows, err := s.query(ctx, s.db, c.query)
		if err != nil {
			return nil, fmt.Errorf("books check %q: %w", c.what, err)
		}
		for rows.Next() {
			var subject string
			if err := rows.Scan(&subject); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, c.what+": "+subject)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	negative, err := s.negativeFunds(ctx)
	return append(out, negative...), err
}

// negativeFunds replays every payer's funds in the order the transactions were written and names each moment one
// went below zero.
func (s *Store) negativeFunds(ctx context.Context) ([]string, error) {
	rows, err := s.query(ctx, s.db, `SELECT p.account, p.amount_fen, t.id FROM ledger_postings p JOIN ledger_transactions t ON t.id = p.transaction_id
		WHERE p.account LIKE 'payer:%' ORDER BY t.created_at, t.id, p.seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	balance := map[string]int64{}
	var out []string
	for rows.Next() {
		var account, id string
		var amount int64
		if err := rows.Scan(&account, &amount, &id); err != nil {
			return nil, err
		}
		balance[account] += amount
		if balance[account] > 0 {
			out = append(out, fmt.Sprintf("payer's funds below zero: %s at %s (%d fen)", account, id, -balance[account]))
		}
	}
	return out, rows.Err()
}

// AccountMovement is the sum of an account's postings in a phase over the transactions effective in [from, to),
// by bill (out_bill_no; "" for movements of no bill).
func (s *Store) AccountMovement(ctx context.Context, account, phase string, from, to time.Time) (map[string]int64, error) {
	rows, err := s.query(ctx, s.db, `SELECT t.out_bill_no, SUM(p.amount_fen) FROM ledger_postings p JOIN ledger_transactions t ON t.id = p.transaction_id
		WHERE p.account = ? AND p.phase = ? AND t.effective_at >= ? AND t.effective_at < ? GROUP BY t.out_bill_no`,
		account, phase, formatTime(from), formatTime(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var bill string
		var sum int64
		if err := rows.Scan(&bill, &sum); err != nil {
			return nil, err
		}
		out[bill] = sum
	}
	return out, rows.Err()
}
