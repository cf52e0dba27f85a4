package devserver

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// The server's own warnings show only at debug level; its errors always.
func TestServerLoggerKeepsWarningsForDebug(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var buf bytes.Buffer
		l := newServerLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})))
		l.Warn("Search attribute PayerId already exists.")
		l.Error("persistence unavailable")
		out := buf.String()
		if strings.Contains(out, "already exists") != (level == slog.LevelDebug) || !strings.Contains(out, "persistence unavailable") {
			t.Errorf("at %s: %q", level, out)
		}
	}
}
