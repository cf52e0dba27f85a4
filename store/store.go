// Package store is the SQL store: payers, payees (PII sealed), agreements, orders, funding, the books of record,
// transfers and the face-verification audit, on SQLite (default) or PostgreSQL, with embedded migrations.
//
// Every write an activity makes is idempotent on a natural key (order ID, out_bill_no, verify result hash), so a
// retried activity never books twice.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/pii"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// InputError is input the store refuses; its message is safe to show the caller.
type InputError struct {
	msg string
	err error
}

func (e *InputError) Error() string { return e.msg }
func (e *InputError) Unwrap() error { return e.err }

func invalid(msg string) error { return &InputError{msg: msg} }

// invalidErr wraps a validation error (pii's, say) so callers can still match it with errors.Is.
func invalidErr(err error) error { return &InputError{msg: err.Error(), err: err} }

type dialect int

const (
	sqlite dialect = iota
	postgres
)

// Store is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect dialect
	stmts   sync.Map // query → *sql.Stmt (SQLite: prepared)
	// writes is SQLite's one writer, taken by every write transaction and every write outside one (exec on the
	// pool): writers wait for each other here, handed the writer the moment it is free, rather than in SQLite's
	// busy handler, which sleeps 1, 2, 5, 10 … ms between tries and left a quarter of the CPU idle under load. Nil on
	// PostgreSQL, whose writers do not exclude each other.
	writes    chan struct{}
	stmtCount atomic.Int64
	seal      *keyring.Ring
	hash      *pii.Hasher
	now       func() time.Time
}

// Open connects to url: "postgres://..." for PostgreSQL, or a SQLite file path ("sqlite:" prefix optional).
// It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string, seal *keyring.Ring, hash *pii.Hasher) (*Store, error) {
	if seal == nil || hash == nil {
		return nil, errors.New("store: a key ring and a lookup hasher are required")
	}
	s, err := connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	s.seal, s.hash = seal, hash
	return s, nil
}

// OpenSchema connects without keys, for Migrate only: migrations never read or write a sealed field, so setting
// up a database needs no secrets.
func OpenSchema(ctx context.Context, dsn string) (*Store, error) { return connect(ctx, dsn) }

func connect(ctx context.Context, dsn string) (*Store, error) {
	s := &Store{now: time.Now}
	var err error
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s.dialect = postgres
		s.db, err = sql.Open("pgx", dsn)
		if err == nil {
			s.db.SetMaxOpenConns(16)
		}
	default:
		s.dialect = sqlite
		s.writes = make(chan struct{}, 1)
		s.db, err = openSQLite(strings.TrimPrefix(dsn, "sqlite:"))
	}
	if err != nil {
		return nil, err
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	return s, nil
}

func openSQLite(path string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("store: empty SQLite path")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	// WAL lets readers run beside the writer; IMMEDIATE transactions take the write lock up front so two writers
	// wait instead of failing on a lock upgrade (the store's own writers queue in Store.writes first; busy_timeout
	// covers another process, the migrate command, say).
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(8)
	return db, nil
}

// SetClock replaces the store's clock (tests, and chaos runs that play a day in minutes).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Close releases the connections.
func (s *Store) Close() error {
	s.stmts.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	return s.db.Close()
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Migrate applies the embedded migrations that have not run yet, each in its own transaction.
func (s *Store) Migrate(ctx context.Context) error { return s.migrateTo(ctx, 0) }

// migrateTo applies the migrations up to version upTo (all of them when 0).
func (s *Store) migrateTo(ctx context.Context, upTo int) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("store: migration %s: name must start with a number", name)
		}
		if upTo > 0 && version > upTo {
			break
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := s.row(ctx, tx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range splitStatements(string(body)) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			if step, ok := dataMigrations[version]; ok {
				if err := step(ctx, s, tx); err != nil {
					return fmt.Errorf("%s (data): %w", name, err)
				}
			}
			_, err := s.exec(ctx, tx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, s.stamp())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
	}
	return nil
}

// splitStatements splits a migration on semicolons that end a line, dropping comment-only chunks.
func splitStatements(body string) []string {
	var out []string
	for _, chunk := range strings.Split(body, ";\n") {
		var lines []string
		for _, l := range strings.Split(chunk, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(strings.Join(lines, "\n")), ";"))
		}
	}
	return out
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	if _, alone := q.(*sql.DB); alone {
		release, err := s.writer(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	if st := s.prepared(ctx, q, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.ExecContext(ctx, s.rebind(query), args...)
}

func (s *Store) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	if st := s.prepared(ctx, q, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.QueryContext(ctx, s.rebind(query), args...)
}

func (s *Store) row(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	if st := s.prepared(ctx, q, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.QueryRowContext(ctx, s.rebind(query), args...)
}

// maxPrepared bounds the statement cache: the package's queries are a few hundred literals; a query built with a
// varying shape beyond that is run unprepared.
const maxPrepared = 512

// prepared is query as a statement SQLite parsed once (database/sql keeps it prepared on each connection it ran
// on; in a transaction, on the transaction's), or nil to run it as text. SQLite parses every statement run as text
// afresh, which the bench's profile showed; pgx caches its statements itself. A statement not prepared yet is
// prepared outside the transaction that first asks for it, in the background: preparing takes a connection of
// the pool, which transactions may hold all of.
func (s *Store) prepared(ctx context.Context, q querier, query string) *sql.Stmt {
	if s.dialect != sqlite {
		return nil
	}
	if st, ok := s.stmts.Load(query); ok {
		if tx, inTx := q.(*sql.Tx); inTx {
			return tx.StmtContext(ctx, st.(*sql.Stmt))
		}
		return st.(*sql.Stmt)
	}
	if s.stmtCount.Load() >= maxPrepared {
		return nil
	}
	if _, inTx := q.(*sql.Tx); inTx {
		go s.prepare(context.WithoutCancel(ctx), query)
		return nil
	}
	return s.prepare(ctx, query)
}

func (s *Store) prepare(ctx context.Context, query string) *sql.Stmt {
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the query runs as text and says what is wrong with it
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	s.stmtCount.Add(1)
	return st
}

// rebind turns ? placeholders into PostgreSQL's $n. Queries in this package never contain a literal '?'.
func (s *Store) rebind(query string) string {
	if s.dialect != postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// forUpdate locks the selected rows on PostgreSQL; SQLite's IMMEDIATE transaction already holds the write lock.
func (s *Store) forUpdate() string {
	if s.dialect == postgres {
		return " FOR UPDATE"
	}
	return ""
}

func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	release, err := s.writer(ctx)
	if err != nil {
		return err
	}
	defer release()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// writer waits for SQLite's one writer to be free (nothing to wait for on PostgreSQL).
func (s *Store) writer(ctx context.Context) (release func(), err error) {
	if s.writes == nil {
		return func() {}, nil
	}
	select {
	case s.writes <- struct{}{}:
		return func() { <-s.writes }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeLayout, s)
	return t
}

func (s *Store) stamp() string { return formatTime(s.now()) }

// NewID returns prefix plus 16 random characters of [0-9a-z].
func NewID(prefix string) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}
