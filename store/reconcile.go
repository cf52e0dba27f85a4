package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/receiptflow/receiptflow/wechatpay"
)

// Reconciliation is one comparison of our bills with WeChat Pay's for the window [From, To): the bills created or
// changed in it and every bill still open, and the books' WeChat Pay account against WeChat Pay's fund-flow bill
// of the window's days.
type Reconciliation struct {
	ID            string    `json:"id"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	State         string    `json:"state"`
	RequestedBy   string    `json:"requestedBy,omitempty"`
	Bills         int       `json:"bills"`
	OurPaidFen    int64     `json:"ourPaidFen"`
	WeChatPaidFen int64     `json:"wechatPaidFen"`
	TaxFen        int64     `json:"taxFen"`
	// What the books' WeChat Pay account and WeChat Pay's fund-flow bill moved over the window (negative: paid
	// out), and their difference, which must be zero.
	BooksWeChatPayFen      int64     `json:"booksWechatPayFen"`
	FundFlowWeChatPayFen   int64     `json:"fundFlowWechatPayFen"`
	WeChatPayDifferenceFen int64     `json:"wechatPayDifferenceFen"`
	ResumeAfter            string    `json:"-"`
	Findings               int       `json:"findings"`
	Open                   int       `json:"openFindings"`
	StartedAt              time.Time `json:"startedAt"`
	FinishedAt             time.Time `json:"finishedAt,omitzero"`
}

// Reconciliation states.
const (
	ReconRunning = "RUNNING"
	ReconDone    = "DONE"
)

// Finding is one difference between our bill and WeChat Pay's. OurState and WeChatState are bill states
// (SUCCESS, FAIL, …; NOT_FOUND when WeChat Pay has no such bill).
type Finding struct {
	ReconciliationID string    `json:"reconciliationId"`
	OutBillNo        string    `json:"outBillNo"`
	OrderID          string    `json:"orderId"`
	Kind             string    `json:"kind"`
	OurState         string    `json:"ourState"`
	WeChatState      string    `json:"wechatState"`
	OurAmountFen     int64     `json:"ourAmountFen"`
	WeChatAmountFen  int64     `json:"wechatAmountFen"`
	Detail           string    `json:"detail,omitempty"`
	ResolvedBy       string    `json:"resolvedBy,omitempty"`
	Resolution       string    `json:"resolution,omitempty"`
	ResolvedAt       time.Time `json:"resolvedAt,omitzero"`
	CreatedAt        time.Time `json:"createdAt"`
}

// StartReconciliation records a run; starting one that exists returns it as it is (a resumed or repeated run).
func (s *Store) StartReconciliation(ctx context.Context, r Reconciliation) (Reconciliation, error) {
	if r.ID == "" || !r.From.Before(r.To) {
		return Reconciliation{}, errors.New("reconciliation needs an ID and a window")
	}
	_, err := s.exec(ctx, s.db, `INSERT INTO reconciliations (id, from_at, to_at, state, requested_by, started_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, r.ID, formatTime(r.From), formatTime(r.To), ReconRunning, r.RequestedBy, s.stamp())
	if err != nil {
		return Reconciliation{}, err
	}
	return s.Reconciliation(ctx, r.ID)
}

// ReconPage is what one page of a run adds: the bills checked, their sums, the last bill (where the next page
// starts) and the differences found.
type ReconPage struct {
	Bills         int
	OurPaidFen    int64
	WeChatPaidFen int64
	TaxFen        int64
	Last          string
	Findings      []Finding
}

// RecordReconPage adds a page to a run, once: a page that starts at or before the run's resume point was
// recorded already (a retried activity) and changes nothing.
func (s *Store) RecordReconPage(ctx context.Context, id, after string, p ReconPage) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var resume string
		if err := s.row(ctx, tx, `SELECT resume_after FROM reconciliations WHERE id = ?`, id).Scan(&resume); err != nil {
			return notFound(err, "reconciliation")
		}
		if resume != after {
			return nil
		}
		if err := s.insertFindings(ctx, tx, id, p.Findings); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `UPDATE reconciliations SET bills = bills + ?, our_paid_fen = our_paid_fen + ?, wechat_paid_fen = wechat_paid_fen + ?,
			tax_fen = tax_fen + ?, resume_after = ? WHERE id = ?`, p.Bills, p.OurPaidFen, p.WeChatPaidFen, p.TaxFen, p.Last, id)
		return err
	})
}

// FinishReconciliation marks a run done.
func (s *Store) FinishReconciliation(ctx context.Context, id string) error {
	_, err := s.exec(ctx, s.db, `UPDATE reconciliations SET state = ?, finished_at = COALESCE(finished_at, ?) WHERE id = ?`, ReconDone, s.stamp(), id)
	return err
}

const reconColumns = `id, from_at, to_at, state, requested_by, bills, our_paid_fen, wechat_paid_fen, tax_fen, books_wechatpay_fen, fundflow_wechatpay_fen,
	resume_after, started_at, finished_at,
	(SELECT COUNT(*) FROM reconciliation_findings f WHERE f.reconciliation_id = r.id),
	(SELECT COUNT(*) FROM reconciliation_findings f WHERE f.reconciliation_id = r.id AND f.resolved_at IS NULL)`

func scanRecon(sc interface{ Scan(...any) error }) (Reconciliation, error) {
	var r Reconciliation
	var from, to, started string
	var finished sql.NullString
	if err := sc.Scan(&r.ID, &from, &to, &r.State, &r.RequestedBy, &r.Bills, &r.OurPaidFen, &r.WeChatPaidFen, &r.TaxFen, &r.BooksWeChatPayFen,
		&r.FundFlowWeChatPayFen, &r.ResumeAfter, &started, &finished, &r.Findings, &r.Open); err != nil {
		return Reconciliation{}, notFound(err, "reconciliation")
	}
	r.WeChatPayDifferenceFen = r.BooksWeChatPayFen - r.FundFlowWeChatPayFen
	r.From, r.To, r.StartedAt = parseTime(from), parseTime(to), parseTime(started)
	if finished.Valid {
		r.FinishedAt = parseTime(finished.String)
	}
	return r, nil
}

// Reconciliation is one run with its totals.
func (s *Store) Reconciliation(ctx context.Context, id string) (Reconciliation, error) {
	return scanRecon(s.row(ctx, s.db, `SELECT `+reconColumns+` FROM reconciliations r WHERE id = ?`, id))
}

// Reconciliations lists the latest runs, newest first.
func (s *Store) Reconciliations(ctx context.Context, limit int) ([]Reconciliation, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+reconColumns+` FROM reconciliations r ORDER BY started_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Reconciliation
	for rows.Next() {
		r, err := scanRecon(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Findings lists a run's differences by bill.
func (s *Store) Findings(ctx context.Context, id string) ([]Finding, error) {
	rows, err := s.query(ctx, s.db, `SELECT reconciliation_id, out_bill_no, order_id, kind, our_state, wechat_state, our_amount_fen,
		wechat_amount_fen, detail, resolved_by, resolution, resolved_at, created_at FROM reconciliation_findings WHERE reconciliation_id = ? ORDER BY out_bill_no`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Finding{}
	for rows.Next() {
		var f Finding
		var resolved sql.NullString
		var created string
		if err := rows.Scan(&f.ReconciliationID, &f.OutBillNo, &f.OrderID, &f.Kind, &f.OurState, &f.WeChatState, &f.OurAmountFen,
			&f.WeChatAmountFen, &f.Detail, &f.ResolvedBy, &f.Resolution, &resolved, &created); err != nil {
			return nil, err
		}
		if resolved.Valid {
			f.ResolvedAt = parseTime(resolved.String)
		}
		f.CreatedAt = parseTime(created)
		out = append(out, f)
	}
	return out, rows.Err()
}

// ResolveFinding records who settled a finding and how, audited; a resolved finding stays as it was resolved.
func (s *Store) ResolveFinding(ctx context.Context, id, outBillNo, operator, resolution string) (Finding, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE reconciliation_findings SET resolved_by = ?, resolution = ?, resolved_at = ?
			WHERE reconciliation_id = ? AND out_bill_no = ? AND resolved_at IS NULL`, operator, resolution, s.stamp(), id, outBillNo)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			if err := s.row(ctx, tx, `SELECT 1 FROM reconciliation_findings WHERE reconciliation_id = ? AND out_bill_no = ?`, id, outBillNo).Scan(&one); err != nil {
				return notFound(err, "finding")
			}
			return fmt.Errorf("finding %s/%s is resolved already: %w", id, outBillNo, ErrConflict)
		}
		return s.audit(ctx, tx, AuditEntry{Actor: operator, Action: "reconciliation.resolve", Subject: "reconciliation:" + id, Detail: outBillNo + ": " + resolution})
	})
	if err != nil {
		return Finding{}, err
	}
	all, err := s.Findings(ctx, id)
	for _, f := range all {
		if f.OutBillNo == outBillNo {
			return f, err
		}
	}
	return Finding{}, err
}

// TransfersToReconcile lists, after the bill after (by out_bill_no), at most limit of the bills a window [from, to)
// checks: created or changed in it, or still open (not final) and created before its end.
func (s *Store) TransfersToReconcile(ctx context.Context, from, to time.Time, after string, limit int) ([]Transfer, error) {
	f, t := formatTime(from), formatTime(to)
	rows, err := s.query(ctx, s.db, `SELECT `+transferColumns+` FROM transfers WHERE out_bill_no > ? AND (
		(created_at >= ? AND created_at < ?) OR (updated_at >= ? AND updated_at < ?) OR (created_at < ? AND state NOT IN (?, ?, ?)))
		ORDER BY out_bill_no LIMIT ?`, after, f, t, f, t, t, wechatpay.StateSuccess, wechatpay.StateFail, wechatpay.StateCancelled, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Transfer
	for rows.Next() {
		t, err := scanTransfer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TransferByWeChatNo loads a bill by WeChat Pay's number for it.
func (s *Store) TransferByWeChatNo(ctx context.Context, transferBillNo string) (Transfer, error) {
	return scanTransfer(s.row(ctx, s.db, `SELECT `+transferColumns+` FROM transfers WHERE transfer_bill_no = ? AND transfer_bill_no <> ''`, transferBillNo))
}

// RecordWeChatPayBalance records what the books' WeChat Pay account and the fund-flow bill moved over a run's days.
func (s *Store) RecordWeChatPayBalance(ctx context.Context, id string, booksFen, billFen int64) error {
	_, err := s.exec(ctx, s.db, `UPDATE reconciliations SET books_wechatpay_fen = ?, fundflow_wechatpay_fen = ? WHERE id = ?`, booksFen, billFen, id)
	return err
}

// AddFindings records findings of a run that are not about a page of our bills (the fund-flow bill's), once each.
func (s *Store) AddFindings(ctx context.Context, id string, findings []Finding) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.insertFindings(ctx, tx, id, findings) })
}

func (s *Store) insertFindings(ctx context.Context, tx *sql.Tx, id string, findings []Finding) error {
	now := s.stamp()
	for _, f := range findings {
		if _, err := s.exec(ctx, tx, `INSERT INTO reconciliation_findings (reconciliation_id, out_bill_no, order_id, kind, our_state,
			wechat_state, our_amount_fen, wechat_amount_fen, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			id, f.OutBillNo, f.OrderID, f.Kind, f.OurState, f.WeChatState, f.OurAmountFen, f.WeChatAmountFen, f.Detail, now); err != nil {
			return err
		}
	}
	return nil
}
