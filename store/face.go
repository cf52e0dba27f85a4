package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// FaceAttempt is one audited face verification, without PII. Outcome is the verdict's (workflows.FacePass…).
type FaceAttempt struct {
	OrderID     string
	PayeeID     string
	RunID       string // the workflow run the attempt belongs to
	Attempt     int    // the run's credential sequence number
	Mode        string
	Outcome     string
	Code        int
	FailedCheck string // which binding check failed, when Outcome is REFUSED or RETRY
	ResultHash  string // keyed hash of the verify_result / verify_id, when the result was claimed
	CreatedAt   time.Time
}

// ErrResultReused: this face result was already accepted once, by another run or credential.
var ErrResultReused = fmt.Errorf("face verification result already used: %w", ErrConflict)

// FaceCredentialNumber is the number of a run's seq-th face credential for an order. Numbers are unique per order
// for ever (so out_seq_no never repeats across runs); asking again for the same run and seq returns the number
// given the first time, as a retried activity must get.
func (s *Store) FaceCredentialNumber(ctx context.Context, orderID, runID string, seq int) (int, error) {
	if orderID == "" || runID == "" || seq < 1 {
		return 0, invalid("a face credential needs an order, a run and a sequence number")
	}
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		err := s.row(ctx, tx, `SELECT number FROM face_credentials WHERE run_id = ? AND seq = ?`, runID, seq).Scan(&n)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := s.row(ctx, tx, `SELECT COALESCE(MAX(number), 0) + 1 FROM face_credentials WHERE order_id = ?`, orderID).Scan(&n); err != nil {
			return err
		}
		_, err = s.exec(ctx, tx, `INSERT INTO face_credentials (order_id, number, run_id, seq, created_at) VALUES (?, ?, ?, ?, ?)`,
			orderID, n, runID, seq, s.stamp())
		return err
	})
	return n, err
}

// ClaimFaceResult records an attempt whose result belongs to the payee and credential it was submitted for, and
// claims the result's hash: a result is accepted once, ever. When the hash was claimed before it returns
// ErrResultReused — unless the earlier claim is this very run and credential (a retried activity), which returns
// that record.
func (s *Store) ClaimFaceResult(ctx context.Context, a FaceAttempt) (FaceAttempt, error) {
	if a.ResultHash == "" || a.RunID == "" {
		return FaceAttempt{}, invalid("a face claim needs a result hash and a run")
	}
	id := fmt.Sprintf("%s-%d-%s", a.RunID, a.Attempt, a.ResultHash[:min(16, len(a.ResultHash))])
	res, err := s.exec(ctx, s.db, `INSERT INTO face_attempts (id, order_id, payee_id, run_id, attempt, mode, outcome, code, failed_check, result_hash, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		id, a.OrderID, a.PayeeID, a.RunID, a.Attempt, a.Mode, a.Outcome, a.Code, a.FailedCheck, a.ResultHash, s.stamp())
	if err != nil {
		return FaceAttempt{}, err
	}
	got, err := s.scanFaceAttempt(s.row(ctx, s.db, `SELECT `+faceAttemptColumns+` FROM face_attempts WHERE result_hash = ?`, a.ResultHash))
	if err != nil {
		return FaceAttempt{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 && (got.RunID != a.RunID || got.Attempt != a.Attempt) {
		return got, ErrResultReused
	}
	return got, nil
}

// RecordFaceAttempt audits an attempt that claims no result (refused, or a retry); key makes it idempotent.
func (s *Store) RecordFaceAttempt(ctx context.Context, a FaceAttempt, key string) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO face_attempts (id, order_id, payee_id, run_id, attempt, mode, outcome, code, failed_check, result_hash, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT DO NOTHING`,
		key, a.OrderID, a.PayeeID, a.RunID, a.Attempt, a.Mode, a.Outcome, a.Code, a.FailedCheck, s.stamp())
	return err
}

const faceAttemptColumns = `order_id, payee_id, run_id, attempt, mode, outcome, code, failed_check, COALESCE(result_hash, ''), created_at`

func (s *Store) scanFaceAttempt(r interface{ Scan(...any) error }) (FaceAttempt, error) {
	var a FaceAttempt
	var created string
	if err := r.Scan(&a.OrderID, &a.PayeeID, &a.RunID, &a.Attempt, &a.Mode, &a.Outcome, &a.Code, &a.FailedCheck, &a.ResultHash, &created); err != nil {
		return FaceAttempt{}, notFound(err, "face attempt")
	}
	a.CreatedAt = parseTime(created)
	return a, nil
}

// FaceAttempts lists the audit of an order, oldest first.
func (s *Store) FaceAttempts(ctx context.Context, orderID string) ([]FaceAttempt, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+faceAttemptColumns+` FROM face_attempts WHERE order_id = ? ORDER BY created_at, id`, orderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FaceAttempt
	for rows.Next() {
		a, err := s.scanFaceAttempt(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// MarkFaceVerified records that WeChat face verification passed for the payee's registered identity: from now on
// the identity is bound to the person, not only typed in. Marking again keeps the first time.
func (s *Store) MarkFaceVerified(ctx context.Context, payeeID string) error {
	res, err := s.exec(ctx, s.db, `UPDATE payees SET face_verified_at = COALESCE(face_verified_at, ?) WHERE id = ? AND verified_at IS NOT NULL`,
		s.stamp(), payeeID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("payee %s with a verified identity: %w", payeeID, ErrNotFound)
	}
	return nil
}
