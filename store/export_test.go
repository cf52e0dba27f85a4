package store

import (
	"context"
	"database/sql"
)

// MigrateTo lets tests build a database as an older release left it.
func (s *Store) MigrateTo(ctx context.Context, version int) error { return s.migrateTo(ctx, version) }

// ExecForTest runs a statement as an older release would have, to build the data a migration must carry.
func (s *Store) ExecForTest(ctx context.Context, query string, args ...any) error {
	rows, err := s.query(ctx, s.db, query, args...)
	if err != nil {
		return err
	}
	return rows.Close()
}

// Prepared is how many statements the store keeps prepared.
func (s *Store) Prepared() int64 { return s.stmtCount.Load() }

// HoldWriter runs fn inside a write transaction, holding the store's writer until fn returns.
func (s *Store) HoldWriter(ctx context.Context, fn func()) error {
	return s.inTx(ctx, func(*sql.Tx) error { fn(); return nil })
}
