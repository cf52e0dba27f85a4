package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Reconciliation is one comparison of our bills with WeChat Pay's over [From, To) by the bills' creation time.
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
	ResumeAfter   string    `json:"-"`
	Findings      int       `json:"findings"`
	Open          int       `json:"openFindings"`
	StartedAt     time.Time `json:"startedAt"`
	FinishedAt    time.Time `json:"finishedAt,omitzero"`
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

const reconColumns = `id, from_at, to_at, state, requested_by, bills, our_paid_fen, wechat_paid_fen, tax_fen, resume_after, started_at, finished_at,
	(SELECT COUNT(*) FROM reconciliation_findings f WHERE f.reconciliation_id = r.id),
	(SELECT COUNT(*) FROM reconciliation_findings f WHERE f.reconciliation_id = r.id AND f.resolved_at IS NULL)`

func scanRecon(sc interface{ Scan(...any) error }) (Reconciliation, error) {
	var r Reconciliation
	var from, to, started string
	var finished sql.NullString
	if err := sc.Scan(&r.ID, &from, &to, &r.State, &r.RequestedBy, &r.Bills, &r.OurPaidFen, &r.WeChatPaidFen, &r.TaxFen, &r.ResumeAfter,
		&started, &finished, &r.Findings, &r.Open); err != nil {
		return Reconciliation{}, notFound(err, "reconciliation")
	}
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

// TransfersCreatedBetween lists bills created in [from, to) after the bill after (by creation time, then
// out_bill_no), at most limit.
func (s *Store) TransfersCreatedBetween(ctx context.Context, from, to time.Time, after string, limit int) ([]Transfer, error) {
	q := `SELECT ` + transferColumns + ` FROM transfers WHERE created_at >= ? AND created_at < ?`
	args := []any{formatTime(from), formatTime(to)}
	if after != "" {
		t, err := s.Transfer(ctx, after)
		if err != nil {
			return nil, err
		}
		q += ` AND (created_at > ? OR (created_at = ? AND out_bill_no > ?))`
		args = append(args, formatTime(t.CreatedAt), formatTime(t.CreatedAt), after)
	}
	rows, err := s.query(ctx, s.db, q+` ORDER BY created_at, out_bill_no LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Transfer
	for rows.Next() {
		var t Transfer
		var created, updated string
		if err := rows.Scan(&t.OutBillNo, &t.OrderID, &t.Attempt, &t.PayeeID, &t.OpenID, &t.AmountFen, &t.Channel, &t.State, &t.TransferBillNo,
			&t.PackageInfo, &t.FailReason, &created, &updated); err != nil {
			return nil, err
		}
		t.CreatedAt, t.UpdatedAt = parseTime(created), parseTime(updated)
		out = append(out, t)
	}
	return out, rows.Err()
}

// StandingWithholding is the order's withholding that has not been reversed; found is false when there is none.
func (s *Store) StandingWithholding(ctx context.Context, orderID string) (e TaxEntry, found bool, err error) {
	e, err = s.standingEntry(ctx, s.db, orderID)
	if errors.Is(err, ErrNotFound) {
		return TaxEntry{}, false, nil
	}
	return e, err == nil, err
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
