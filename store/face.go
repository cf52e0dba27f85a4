package store

import (
	"context"
	"fmt"
	"time"
)

// Face attempt outcomes in the audit.
const (
	FacePass    = "PASS"    // verified and bound to the payee
	FaceFail    = "FAIL"    // WeChat says the face or the identity did not match
	FaceRetry   = "RETRY"   // cancelled, device trouble or expired: the payee may try again, not counted
	FaceRefused = "REFUSED" // a result we will not accept: another person's, replayed, stale
)

// FaceAttempt is one audited face verification, without PII.
type FaceAttempt struct {
	OrderID     string
	PayeeID     string
	Attempt     int
	Mode        string
	Outcome     string
	Code        int
	FailedCheck string // which binding check failed, when Outcome is REFUSED
	ResultHash  string // keyed hash of the verify_result / verify_id; unique across all attempts
	CreatedAt   time.Time
}

// ErrResultReused: this face result was already accepted once.
var ErrResultReused = fmt.Errorf("face verification result already used: %w", ErrConflict)

// ClaimFaceResult records an attempt and claims its result hash. When the hash was claimed before, it returns
// ErrResultReused — unless the earlier claim is this very attempt (a retried activity), which returns that record.
func (s *Store) ClaimFaceResult(ctx context.Context, a FaceAttempt) (FaceAttempt, error) {
	id := fmt.Sprintf("%s-%d-%s", a.OrderID, a.Attempt, a.ResultHash[:16])
	res, err := s.exec(ctx, s.db, `INSERT INTO face_attempts (id, order_id, payee_id, attempt, mode, outcome, code, failed_check, result_hash, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		id, a.OrderID, a.PayeeID, a.Attempt, a.Mode, a.Outcome, a.Code, a.FailedCheck, a.ResultHash, s.stamp())
	if err != nil {
		return FaceAttempt{}, err
	}
	var got FaceAttempt
	var created string
	err = s.row(ctx, s.db, `SELECT order_id, payee_id, attempt, mode, outcome, code, failed_check, result_hash, created_at FROM face_attempts WHERE result_hash = ?`,
		a.ResultHash).Scan(&got.OrderID, &got.PayeeID, &got.Attempt, &got.Mode, &got.Outcome, &got.Code, &got.FailedCheck, &got.ResultHash, &created)
	if err != nil {
		return FaceAttempt{}, err
	}
	got.CreatedAt = parseTime(created)
	if n, _ := res.RowsAffected(); n == 0 && (got.OrderID != a.OrderID || got.Attempt != a.Attempt) {
		return got, ErrResultReused
	}
	return got, nil
}

// RecordFaceAttempt audits an attempt that claims no result (refused before any result was read, or a retry).
func (s *Store) RecordFaceAttempt(ctx context.Context, a FaceAttempt, key string) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO face_attempts (id, order_id, payee_id, attempt, mode, outcome, code, failed_check, result_hash, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT DO NOTHING`,
		key, a.OrderID, a.PayeeID, a.Attempt, a.Mode, a.Outcome, a.Code, a.FailedCheck, s.stamp())
	return err
}

// FaceAttempts lists the audit of an order, oldest first.
func (s *Store) FaceAttempts(ctx context.Context, orderID string) ([]FaceAttempt, error) {
	rows, err := s.query(ctx, s.db, `SELECT order_id, payee_id, attempt, mode, outcome, code, failed_check, COALESCE(result_hash, ''), created_at
		FROM face_attempts WHERE order_id = ? ORDER BY created_at, id`, orderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FaceAttempt
	for rows.Next() {
		var a FaceAttempt
		var created string
		if err := rows.Scan(&a.OrderID, &a.PayeeID, &a.Attempt, &a.Mode, &a.Outcome, &a.Code, &a.FailedCheck, &a.ResultHash, &created); err != nil {
			return nil, err
		}
		a.CreatedAt = parseTime(created)
		out = append(out, a)
	}
	return out, rows.Err()
}
