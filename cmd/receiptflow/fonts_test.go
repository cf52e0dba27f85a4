package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Fonts installed after the start are found without a restart: missing, the loader looks again after fontRetry,
// and once found it keeps them.
func TestPDFFontsInstalledAfterTheStartAreFound(t *testing.T) {
	dir := t.TempDir()
	cjk, latin := filepath.Join(dir, "cjk.ttf"), filepath.Join(dir, "latin.ttf")
	l := newFontLoader(cjk, latin, slog.New(slog.DiscardHandler))
	if f := l.Fonts(); len(f.CJK) != 0 || len(f.Latin) != 0 {
		t.Fatalf("fonts before they exist: %d, %d bytes", len(f.CJK), len(f.Latin))
	}
	if err := os.WriteFile(cjk, []byte("cjk font"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(latin, []byte("latin font"), 0o600); err != nil {
		t.Fatal(err)
	}
	if f := l.Fonts(); len(f.CJK) != 0 {
		t.Fatal("the loader looked again at once: a PDF asked for every second would read the disk every time")
	}
	l.tried = time.Now().Add(-fontRetry) // fontRetry later
	if f := l.Fonts(); string(f.CJK) != "cjk font" || string(f.Latin) != "latin font" {
		t.Fatalf("fonts after they were installed: %q, %q", f.CJK, f.Latin)
	}
	os.Remove(cjk)
	if f := l.Fonts(); string(f.CJK) != "cjk font" {
		t.Fatal("fonts once read are kept")
	}
}
