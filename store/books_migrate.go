package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/wechatpay"
)

// dataMigrations are Go steps that run after a migration's SQL, in its transaction.
var dataMigrations = map[int]func(ctx context.Context, s *Store, tx *sql.Tx) error{6: carryTaxLedgerIntoBooks}

// carryTaxLedgerIntoBooks moves the old tax ledger (one WITHHOLD row per booking, a REVERSAL row cancelling it)
// and the recorded funding into the books, then drops the old table: each funding becomes a FUNDING transaction;
// each booking the PENDING transaction of its bill, resolved as the old rows and the bill say — reversed: VOID;
// standing on a bill that succeeded: POST, when WeChat Pay's answer was recorded; standing on a bill that failed
// (the old ledger's late-callback hole): VOID; otherwise left pending. A bill booked more than once (a booking
// reversed and booked again) keeps its last booking under the bill's own ID, the earlier ones under
// pending:{bill}:{booking}.
func carryTaxLedgerIntoBooks(ctx context.Context, s *Store, tx *sql.Tx) error {
	if err := carryFunding(ctx, s, tx); err != nil {
		return err
	}
	type booking struct {
		order, payee, payer, item, method, created, detail, reversedAt, reason string
		number, attempt                                                        int
		income, tax                                                            int64
	}
	rows, err := s.query(ctx, tx, `SELECT w.order_id, w.booking, w.attempt, w.payee_id, w.payer_id, w.service_item, w.method, w.income_fen, w.tax_fen,
		w.detail, w.created_at, COALESCE(r.created_at, ''), COALESCE(r.reason, '')
		FROM tax_ledger w LEFT JOIN tax_ledger r ON r.order_id = w.order_id AND r.booking = w.booking AND r.kind = 'REVERSAL'
		WHERE w.kind = 'WITHHOLD' ORDER BY w.order_id, w.booking`)
	if err != nil {
		return err
	}
	var bookings []booking
	for rows.Next() {
		var b booking
		if err := rows.Scan(&b.order, &b.number, &b.attempt, &b.payee, &b.payer, &b.item, &b.method, &b.income, &b.tax, &b.detail, &b.created,
			&b.reversedAt, &b.reason); err != nil {
			rows.Close()
			return err
		}
		bookings = append(bookings, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	last := map[string]int{}                                                           // bill → its last booking
	bill := func(b booking) string { return fmt.Sprintf("%sT%d", b.order, b.attempt) } // activities.OutBillNo's form
	for _, b := range bookings {
		last[bill(b)] = max(last[bill(b)], b.number)
	}
	for _, b := range bookings {
		no := bill(b)
		var state, updated string
		err := s.row(ctx, tx, `SELECT out_bill_no, state, updated_at FROM transfers WHERE order_id = ? AND attempt = ?`, b.order, b.attempt).Scan(&no, &state, &updated)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		id := pendingID(no)
		if b.number != last[bill(b)] {
			id = fmt.Sprintf("%s:%d", id, b.number)
		}
		w := tax.Withholding{Method: tax.Method(b.method), Gross: b.income, Tax: b.tax, Net: b.income - b.tax}
		detail, _ := json.Marshal(map[string]any{"migratedFrom": "tax_ledger", "booking": b.number, "was": json.RawMessage(b.detail)})
		t := Transaction{ID: id, Kind: TxPending, OrderID: b.order, OutBillNo: no, Attempt: b.attempt, PayerID: b.payer, PayeeID: b.payee,
			ServiceItem: b.item, Method: w.Method, GrossFen: w.Gross, TaxFen: w.Tax, NetFen: w.Net, EffectiveAt: parseTime(b.created), Detail: detail,
			Postings: reservation(b.payer, b.payee, w, PhasePending, 1)}
		if _, err := s.writeTransaction(ctx, tx, t, false); err != nil {
			return err
		}
		resolve := Transaction{Kind: TxVoid, PendingID: id, OrderID: b.order, OutBillNo: no, Attempt: b.attempt, PayerID: b.payer, PayeeID: b.payee,
			ServiceItem: b.item, Method: w.Method, GrossFen: w.Gross, TaxFen: w.Tax, NetFen: w.Net, Postings: reservation(b.payer, b.payee, w, PhasePending, -1)}
		switch {
		case b.reversedAt != "":
			resolve.EffectiveAt, resolve.Reason = parseTime(b.reversedAt), "migrated reversal: "+b.reason
		case state == wechatpay.StateSuccess:
			resolve.Kind, resolve.EffectiveAt, resolve.Reason = TxPost, parseTime(updated), "migrated: bill SUCCESS"
			resolve.Postings = append(resolve.Postings, Posting{AccountPayerFunds(b.payer), PhasePosted, w.Gross},
				Posting{AccountTaxPayable, PhasePosted, -w.Tax}, Posting{AccountWeChatPay, PhasePosted, -w.Net})
		case state == wechatpay.StateFail || state == wechatpay.StateCancelled:
			resolve.EffectiveAt, resolve.Reason = parseTime(updated), "migrated: bill "+state+" while its withholding stood"
		default:
			continue // the bill is still on its way: its outcome resolves it
		}
		resolve.ID = "post:" + id[len("pending:"):]
		if resolve.Kind == TxVoid {
			resolve.ID = "void:" + id[len("pending:"):]
		}
		if _, err := s.writeTransaction(ctx, tx, resolve, false); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `DROP TABLE tax_ledger`)
	return err
}

// carryFunding writes the FUNDING transaction of every funding recorded.
func carryFunding(ctx context.Context, s *Store, tx *sql.Tx) error {
	rows, err := s.query(ctx, tx, `SELECT order_id, payer_id, amount_fen, reference, arrived_at FROM funding ORDER BY arrived_at, order_id`)
	if err != nil {
		return err
	}
	var all []Transaction
	for rows.Next() {
		var order, payer, ref, at string
		var amount int64
		if err := rows.Scan(&order, &payer, &amount, &ref, &at); err != nil {
			rows.Close()
			return err
		}
		all = append(all, fundingTransaction(order, payer, amount, parseTime(at), ref))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range all {
		if _, err := s.writeTransaction(ctx, tx, t, false); err != nil {
			return err
		}
	}
	return nil
}
