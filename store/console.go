package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// ConsoleSession is an operator's sign-in to the console.
type ConsoleSession struct {
	Operator string
	CSRF     string // sent back with every write, so that only the console's own page can make one
	Expires  time.Time
}

func consoleKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// StartConsoleSession keeps a sign-in under its cookie (by hash), audited; sessions long ended are cleared.
func (s *Store) StartConsoleSession(ctx context.Context, cookie string, cs ConsoleSession) error {
	now := s.now()
	if _, err := s.exec(ctx, s.db, `DELETE FROM console_sessions WHERE expires_at < ?`, formatTime(now.Add(-24*time.Hour))); err != nil {
		return err
	}
	if _, err := s.exec(ctx, s.db, `INSERT INTO console_sessions (key_hash, operator, csrf, expires_at, created_at) VALUES (?, ?, ?, ?, ?)`,
		consoleKey(cookie), cs.Operator, cs.CSRF, formatTime(cs.Expires), formatTime(now)); err != nil {
		return err
	}
	return s.Audit(ctx, AuditEntry{Actor: cs.Operator, Action: "console.sign-in", Subject: "console"})
}

// ConsoleSessionOf is the live session of a cookie (ErrNotFound when unknown, ended or expired).
func (s *Store) ConsoleSessionOf(ctx context.Context, cookie string) (ConsoleSession, error) {
	var cs ConsoleSession
	var expires, ended string
	err := s.row(ctx, s.db, `SELECT operator, csrf, expires_at, ended_at FROM console_sessions WHERE key_hash = ?`, consoleKey(cookie)).
		Scan(&cs.Operator, &cs.CSRF, &expires, &ended)
	if err != nil {
		return ConsoleSession{}, notFound(err, "console session")
	}
	cs.Expires = parseTime(expires)
	if ended != "" || !s.now().Before(cs.Expires) {
		return ConsoleSession{}, fmt.Errorf("console session ended: %w", ErrNotFound)
	}
	return cs, nil
}

// EndConsoleSession signs a session out, for good; audited.
func (s *Store) EndConsoleSession(ctx context.Context, cookie string) error {
	cs, err := s.ConsoleSessionOf(ctx, cookie)
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, s.db, `UPDATE console_sessions SET ended_at = ? WHERE key_hash = ?`, s.stamp(), consoleKey(cookie)); err != nil {
		return err
	}
	return s.Audit(ctx, AuditEntry{Actor: cs.Operator, Action: "console.sign-out", Subject: "console"})
}
