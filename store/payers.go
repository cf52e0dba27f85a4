package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// RegisterPayer creates a payer with its first secret, or updates the name and settlement account of one that
// exists (its secret is kept: RotatePayerSecret changes that). It reports whether the payer is new; actor's action
// is in the audit log either way.
func (s *Store) RegisterPayer(ctx context.Context, p Payer, actor string) (bool, error) {
	if err := CheckText("name", p.Name, 2, 64); err != nil {
		return false, err
	}
	if p.Account.empty() {
		return false, invalid("a payer needs its settlement account (name and number): 三流合一 checks funds against it")
	}
	if err := validAccount(p.Account); err != nil {
		return false, err
	}
	if !PayerIDPattern.MatchString(p.ID) {
		return false, invalid("payer needs an id of 3-32 of [0-9A-Za-z_-]")
	}
	created := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		name, number, hash := s.sealAccount(p.Account, "payer:"+p.ID+":account")
		res, err := s.exec(ctx, tx, `UPDATE payers SET name = ?, account_name_enc = ?, account_no_enc = ?, account_hash = ? WHERE id = ?`,
			p.Name, name, number, hash, p.ID)
		if err != nil {
			return err
		}
		action := "payer.update"
		if n, _ := res.RowsAffected(); n == 0 {
			if len(p.Secret) < 16 {
				return invalid("a new payer needs a secret of at least 16 bytes")
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO payers (id, name, secret_enc, account_name_enc, account_no_enc, account_hash, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, p.ID, p.Name, s.seal.SealString(p.Secret, "payer:"+p.ID+":secret"), name, number, hash, s.stamp()); err != nil {
				return err
			}
			created, action = true, "payer.create"
		}
		return s.audit(ctx, tx, AuditEntry{Actor: actor, Action: action, Subject: "payer:" + p.ID})
	})
	return created, err
}

// RotatePayerSecret replaces a payer's merchant API secret; requests signed with the old one fail from now on.
func (s *Store) RotatePayerSecret(ctx context.Context, payerID, secret, actor string) error {
	if len(secret) < 16 {
		return invalid("a secret of at least 16 bytes")
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE payers SET secret_enc = ? WHERE id = ?`, s.seal.SealString(secret, "payer:"+payerID+":secret"), payerID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("payer %s: %w", payerID, ErrNotFound)
		}
		return s.audit(ctx, tx, AuditEntry{Actor: actor, Action: "payer.rotate_secret", Subject: "payer:" + payerID})
	})
}

// PayerSummary is a payer as operators list them: no secret, no account.
type PayerSummary struct {
	ID        string    `json:"payerId"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// Payers lists every payer, newest first.
func (s *Store) Payers(ctx context.Context) ([]PayerSummary, error) {
	rows, err := s.query(ctx, s.db, `SELECT id, name, created_at FROM payers ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []PayerSummary{}
	for rows.Next() {
		var p PayerSummary
		var created string
		if err := rows.Scan(&p.ID, &p.Name, &created); err != nil {
			return nil, err
		}
		p.CreatedAt = parseTime(created)
		out = append(out, p)
	}
	return out, rows.Err()
}
