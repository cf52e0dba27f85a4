package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
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
	// CorrectionOf is the export this one corrects (更正); SupersededAt is when the books changed under this one
	// (a payment posted into its period after it was made), and why.
	CorrectionOf     string    `json:"correctionOf,omitempty"`
	SupersededAt     time.Time `json:"supersededAt,omitzero"`
	SupersededReason string    `json:"supersededReason,omitempty"`
	Content          []byte    `json:"-"`
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
		created_by, correction_of, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		e.ID, e.Kind, e.Period, e.FileName, e.ContentType, e.Rows, e.IncomeFen, e.TaxFen, hex.EncodeToString(sum[:]),
		s.seal.SealString(string(e.Content), "export:"+e.ID), e.CreatedBy, e.CorrectionOf, s.stamp())
	if err != nil {
		return Export{}, err
	}
	return s.export(ctx, e.ID)
}

const exportColumns = `id, kind, period, file_name, content_type, rows_count, income_fen, tax_fen, sha256, created_by, created_at, correction_of,
	COALESCE(superseded_at, ''), superseded_reason`

func scanExport(sc interface{ Scan(...any) error }, extra ...any) (Export, error) {
	var e Export
	var created, superseded string
	if err := sc.Scan(append([]any{&e.ID, &e.Kind, &e.Period, &e.FileName, &e.ContentType, &e.Rows, &e.IncomeFen, &e.TaxFen, &e.SHA256,
		&e.CreatedBy, &created, &e.CorrectionOf, &superseded, &e.SupersededReason}, extra...)...); err != nil {
		return Export{}, notFound(err, "export")
	}
	e.CreatedAt = parseTime(created)
	if superseded != "" {
		e.SupersededAt = parseTime(superseded)
	}
	return e, nil
}

func (s *Store) export(ctx context.Context, id string) (Export, error) {
	return scanExport(s.row(ctx, s.db, `SELECT `+exportColumns+` FROM exports WHERE id = ?`, id))
}

// Exports lists the latest files, newest first, without their content.
func (s *Store) Exports(ctx context.Context, limit int) ([]Export, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+exportColumns+` FROM exports ORDER BY created_at DESC, id DESC LIMIT ?`, limit)
	return scanExports(rows, err)
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

// supersedeFilings marks the filings of period (YYYY-MM) — and the quarterly income tables of its quarter — made
// before now as superseded: the posted figures they were made from changed.
func (s *Store) supersedeFilings(ctx context.Context, tx *sql.Tx, period, reason string) error {
	quarter, err := QuarterOf(period)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, tx, `UPDATE exports SET superseded_at = ?, superseded_reason = ?
		WHERE superseded_at IS NULL AND ((kind = ? AND period = ?) OR (kind = ? AND period = ?))`,
		s.stamp(), reason, ExportWithholding, period, ExportPlatformIncome, quarter)
	return err
}

// QuarterOf is the quarter (YYYY-Qn) a month (YYYY-MM) is in.
func QuarterOf(period string) (string, error) {
	t, err := time.Parse("2006-01", period)
	if err != nil {
		return "", invalid("period must be YYYY-MM")
	}
	return fmt.Sprintf("%d-Q%d", t.Year(), (int(t.Month())-1)/3+1), nil
}

// SupersededFilings lists the withholding filings superseded and not yet corrected, oldest period first: what the
// next filing run corrects, and what operators are told about.
func (s *Store) SupersededFilings(ctx context.Context) ([]Export, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+exportColumns+` FROM exports e WHERE kind = ? AND superseded_at IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM exports c WHERE c.kind = e.kind AND c.period = e.period AND c.created_at > e.superseded_at)
		ORDER BY period, created_at`, ExportWithholding)
	return scanExports(rows, err)
}

// Filed reports whether a withholding filing of period exists.
func (s *Store) Filed(ctx context.Context, period string) (bool, error) {
	var n int
	err := s.row(ctx, s.db, `SELECT COUNT(*) FROM exports WHERE kind = ? AND period = ?`, ExportWithholding, period).Scan(&n)
	return n > 0, err
}

// Identity report types of the quarterly identity table.
const (
	IdentityNew     = "新增"
	IdentityChanged = "变更"
)

// IdentityLine is one worker on a quarter's identity table.
type IdentityLine struct {
	PayeeID string
	Type    string
}

// ReportIdentities decides which of the quarter's earning workers its identity table lists and marks them
// reported: a worker no earlier quarter reported (新增), or whose name or ID number changed since (变更); one
// reported before with the same identity is not listed again. Reporting the same quarter again lists the same
// workers as before.
func (s *Store) ReportIdentities(ctx context.Context, quarter, exportID string, payeeIDs []string) ([]IdentityLine, error) {
	var out []IdentityLine
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, p := range payeeIDs {
			var typ string
			err := s.row(ctx, tx, `SELECT report_type FROM identity_reports WHERE payee_id = ? AND quarter = ?`, p, quarter).Scan(&typ)
			if err == nil {
				out = append(out, IdentityLine{p, typ})
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			id, err := s.identity(ctx, tx, p)
			if err != nil {
				return err
			}
			fingerprint := s.hash.Token("identity:" + id.Name + "|" + id.IDNumber)
			var last string
			err = s.row(ctx, tx, `SELECT fingerprint FROM identity_reports WHERE payee_id = ? AND quarter < ? ORDER BY quarter DESC LIMIT 1`, p, quarter).Scan(&last)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				typ = IdentityNew
			case err != nil:
				return err
			case last == fingerprint:
				continue
			default:
				typ = IdentityChanged
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO identity_reports (payee_id, quarter, fingerprint, report_type, export_id, reported_at) VALUES (?, ?, ?, ?, ?, ?)`,
				p, quarter, fingerprint, typ, exportID, s.stamp()); err != nil {
				return err
			}
			out = append(out, IdentityLine{p, typ})
		}
		return nil
	})
	return out, err
}

// scanExports reads a query's exports (its error, if it failed).
func scanExports(rows *sql.Rows, err error) ([]Export, error) {
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
