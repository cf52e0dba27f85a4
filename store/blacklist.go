package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/receiptflow/receiptflow/pii"
)

// BlacklistEntry is a person the platform will not pay (or pays only after face verification, as configured),
// known by the keyed hash of their ID number: the number itself is not kept.
type BlacklistEntry struct {
	IDHash  string `json:"idHash"`
	Reason  string `json:"reason"`
	AddedBy string `json:"addedBy"`
	AddedAt string `json:"addedAt"`
}

// Blacklist adds the person with idNumber, audited as actor's action. Adding again keeps the first entry.
func (s *Store) Blacklist(ctx context.Context, idNumber, reason, actor string) (BlacklistEntry, error) {
	idNumber = pii.NormalizeIDNumber(idNumber)
	if err := pii.ValidateIDNumber(idNumber); err != nil {
		return BlacklistEntry{}, invalidErr(err)
	}
	if err := CheckText("reason", reason, 1, 200); err != nil {
		return BlacklistEntry{}, err
	}
	hash := s.hash.IDNumber(idNumber)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `INSERT INTO blacklist (id_hash, reason, added_by, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id_hash) DO NOTHING`,
			hash, reason, actor, s.stamp())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return s.audit(ctx, tx, AuditEntry{Actor: actor, Action: "blacklist.add", Subject: "person:" + hash[:16], Detail: reason})
	})
	if err != nil {
		return BlacklistEntry{}, err
	}
	return s.blacklistEntry(ctx, hash)
}

// Unblacklist removes the person with idNumber, audited; removing someone not listed is ErrNotFound.
func (s *Store) Unblacklist(ctx context.Context, idNumber, reason, actor string) error {
	idNumber = pii.NormalizeIDNumber(idNumber)
	if err := pii.ValidateIDNumber(idNumber); err != nil {
		return invalidErr(err)
	}
	if err := CheckText("reason", reason, 1, 200); err != nil {
		return err
	}
	hash := s.hash.IDNumber(idNumber)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `DELETE FROM blacklist WHERE id_hash = ?`, hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("blacklist entry: %w", ErrNotFound)
		}
		return s.audit(ctx, tx, AuditEntry{Actor: actor, Action: "blacklist.remove", Subject: "person:" + hash[:16], Detail: reason})
	})
}

func (s *Store) blacklistEntry(ctx context.Context, hash string) (BlacklistEntry, error) {
	var e BlacklistEntry
	err := s.row(ctx, s.db, `SELECT id_hash, reason, added_by, created_at FROM blacklist WHERE id_hash = ?`, hash).Scan(&e.IDHash, &e.Reason, &e.AddedBy, &e.AddedAt)
	return e, notFound(err, "blacklist entry")
}

// Blacklisted reports whether the person behind idHash is blacklisted.
func (s *Store) Blacklisted(ctx context.Context, idHash string) (bool, error) {
	if idHash == "" {
		return false, nil
	}
	var n int
	err := s.row(ctx, s.db, `SELECT COUNT(*) FROM blacklist WHERE id_hash = ?`, idHash).Scan(&n)
	return n > 0, err
}
