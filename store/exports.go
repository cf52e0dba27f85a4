package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"
)

// Export is a file for operators; Content is only filled by ExportContent.
type Export struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Period      string    `json:"period"`
	FileName    string    `json:"fileName"`
	ContentType string    `json:"contentType"`
	Rows        int       `json:"rows"`
	IncomeFen   int64     `json:"incomeFen"`
	TaxFen      int64     `json:"taxFen"`
	SHA256      string    `json:"sha256"`
	CreatedBy   string    `json:"createdBy"`
	CreatedAt   time.Time `json:"createdAt"`
	Content     []byte    `json:"-"`
}

// Kinds of exports.
const ExportWithholding = "withholding"

// PutExport stores a file sealed at rest, once per ID: storing the same ID again (a retried activity) keeps the
// first and returns it.
func (s *Store) PutExport(ctx context.Context, e Export) (Export, error) {
	if e.ID == "" || e.Kind == "" || len(e.Content) == 0 {
		return Export{}, errors.New("an export needs an ID, a kind and content")
	}
	sum := sha256.Sum256(e.Content)
	_, err := s.exec(ctx, s.db, `INSERT INTO exports (id, kind, period, file_name, content_type, rows_count, income_fen, tax_fen, sha256, content_enc,
		created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		e.ID, e.Kind, e.Period, e.FileName, e.ContentType, e.Rows, e.IncomeFen, e.TaxFen, hex.EncodeToString(sum[:]),
		s.seal.SealString(string(e.Content), "export:"+e.ID), e.CreatedBy, s.stamp())
	if err != nil {
		return Export{}, err
	}
	return s.export(ctx, e.ID)
}

const exportColumns = `id, kind, period, file_name, content_type, rows_count, income_fen, tax_fen, sha256, created_by, created_at`

func scanExport(sc interface{ Scan(...any) error }, extra ...any) (Export, error) {
	var e Export
	var created string
	if err := sc.Scan(append([]any{&e.ID, &e.Kind, &e.Period, &e.FileName, &e.ContentType, &e.Rows, &e.IncomeFen, &e.TaxFen, &e.SHA256,
		&e.CreatedBy, &created}, extra...)...); err != nil {
		return Export{}, notFound(err, "export")
	}
	e.CreatedAt = parseTime(created)
	return e, nil
}

func (s *Store) export(ctx context.Context, id string) (Export, error) {
	return scanExport(s.row(ctx, s.db, `SELECT `+exportColumns+` FROM exports WHERE id = ?`, id))
}

// Exports lists the latest files, newest first, without their content.
func (s *Store) Exports(ctx context.Context, limit int) ([]Export, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+exportColumns+` FROM exports ORDER BY created_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Export{}
	for rows.Next() {
		e, err := scanExport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ExportContent opens a file for an operator and records the download (who, when) in the same transaction.
func (s *Store) ExportContent(ctx context.Context, id, operator string) (Export, error) {
	var e Export
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var sealed string
		var err error
		if e, err = scanExport(s.row(ctx, tx, `SELECT `+exportColumns+`, content_enc FROM exports WHERE id = ?`, id), &sealed); err != nil {
			return err
		}
		content, err := s.seal.OpenString(sealed, "export:"+id)
		if err != nil {
			return err
		}
		e.Content = []byte(content)
		return s.audit(ctx, tx, AuditEntry{Actor: operator, Action: "export.download", Subject: "export:" + id, Detail: e.FileName})
	})
	return e, err
}

// TaxEntriesOfPeriod lists every payee's ledger rows for a period (YYYY-MM), by payee: the monthly filing's input.
func (s *Store) TaxEntriesOfPeriod(ctx context.Context, period string) ([]TaxEntry, error) {
	return s.taxEntries(ctx, `period = ? ORDER BY payee_id, created_at, order_id, booking, kind`, period)
}

// Kinds of the quarterly platform report (涉税信息报送).
const (
	ExportPlatformIdentity = "platform-identity"
	ExportPlatformIncome   = "platform-income"
)

// PayeesVerifiedBetween lists the payees whose identity was registered in [from, to): the quarter's new
// identities for the platform's identity report.
func (s *Store) PayeesVerifiedBetween(ctx context.Context, from, to time.Time) ([]string, error) {
	rows, err := s.query(ctx, s.db, `SELECT id FROM payees WHERE verified_at >= ? AND verified_at < ? ORDER BY verified_at, id`,
		formatTime(from), formatTime(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
