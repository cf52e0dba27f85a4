package store

import (
	"context"
	"time"
)

// AuditEntry is one thing an operator (or the platform on their behalf) did. Detail never holds PII.
type AuditEntry struct {
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	Subject   string    `json:"subject"`
	Detail    string    `json:"detail,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// Audit records an operator's action.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	return s.audit(ctx, s.db, e)
}

func (s *Store) audit(ctx context.Context, q querier, e AuditEntry) error {
	_, err := s.exec(ctx, q, `INSERT INTO audit_log (id, actor, action, subject, detail, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		NewID("au"), e.Actor, e.Action, e.Subject, e.Detail, s.stamp())
	return err
}

// AuditTrail lists what was done to subject, oldest first.
func (s *Store) AuditTrail(ctx context.Context, subject string) ([]AuditEntry, error) {
	rows, err := s.query(ctx, s.db, `SELECT actor, action, subject, detail, created_at FROM audit_log WHERE subject = ? ORDER BY created_at, id`, subject)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var created string
		if err := rows.Scan(&e.Actor, &e.Action, &e.Subject, &e.Detail, &created); err != nil {
			return nil, err
		}
		e.CreatedAt = parseTime(created)
		out = append(out, e)
	}
	return out, rows.Err()
}
