package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrNonceReused: a signed merchant request was replayed.
var ErrNonceReused = fmt.Errorf("nonce already used: %w", ErrConflict)

// UseNonce remembers a merchant request nonce; seeing it again is ErrNonceReused. Nonces older than keep are
// forgotten on the way (the signature's timestamp window is shorter, so an old nonce cannot come back).
func (s *Store) UseNonce(ctx context.Context, payerID, nonce string, keep time.Duration) error {
	now := s.now()
	if _, err := s.exec(ctx, s.db, `DELETE FROM merchant_nonces WHERE seen_at < ?`, formatTime(now.Add(-keep))); err != nil {
		return err
	}
	res, err := s.exec(ctx, s.db, `INSERT INTO merchant_nonces (payer_id, nonce, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, payerID, nonce, formatTime(now))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNonceReused
	}
	return nil
}

// SavedResponse is a merchant response kept for an idempotency key.
type SavedResponse struct {
	RequestHash string
	Status      int
	Body        []byte
}

// SavedResponse returns what was answered for (payer, key), ErrNotFound when nothing was.
func (s *Store) SavedResponse(ctx context.Context, payerID, key string) (SavedResponse, error) {
	var r SavedResponse
	var body string
	err := s.row(ctx, s.db, `SELECT request_hash, status, response FROM merchant_requests WHERE payer_id = ? AND idempotency_key = ?`, payerID, key).
		Scan(&r.RequestHash, &r.Status, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("idempotency key: %w", ErrNotFound)
	}
	r.Body = []byte(body)
	return r, err
}

// SaveResponse keeps the answer for (payer, key); the first one saved wins and is returned.
func (s *Store) SaveResponse(ctx context.Context, payerID, key string, r SavedResponse) (SavedResponse, error) {
	_, err := s.exec(ctx, s.db, `INSERT INTO merchant_requests (payer_id, idempotency_key, request_hash, status, response, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, payerID, key, r.RequestHash, r.Status, string(r.Body), s.stamp())
	if err != nil {
		return SavedResponse{}, err
	}
	return s.SavedResponse(ctx, payerID, key)
}
