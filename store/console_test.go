package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/store"
)

// A console sign-in is found by its cookie until it expires or is signed out; the cookie itself is not stored.
func TestConsoleSessions(t *testing.T) {
	eachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cs := store.ConsoleSession{Operator: "op-alice", CSRF: "csrf-1", Expires: time.Now().Add(time.Hour)}
		if err := s.StartConsoleSession(ctx, "cookie-1", cs); err != nil {
			t.Fatal(err)
		}
		got, err := s.ConsoleSessionOf(ctx, "cookie-1")
		if err != nil || got.Operator != "op-alice" || got.CSRF != "csrf-1" {
			t.Fatalf("%+v %v", got, err)
		}
		if _, err := s.ConsoleSessionOf(ctx, "cookie-2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another cookie: %v", err)
		}
		s.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
		if _, err := s.ConsoleSessionOf(ctx, "cookie-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after it expired: %v", err)
		}
		s.SetClock(time.Now)
		if err := s.EndConsoleSession(ctx, "cookie-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConsoleSessionOf(ctx, "cookie-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after sign-out: %v", err)
		}
		if trail, _ := s.AuditTrail(ctx, "console"); len(trail) != 2 {
			t.Fatalf("audit: %+v", trail)
		}
	})
}
