package devserver

import (
	"context"
	"log/slog"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger adapts slog to the server's logger. The server is chatty, and warns about its own start-up and
// shutdown: only errors get through, and warnings too when the logger is at debug level.
type serverLogger struct {
	l    *slog.Logger
	tags []tag.Tag
}

func newServerLogger(l *slog.Logger) log.Logger {
	return &serverLogger{l: l.With("component", "temporal-server")}
}

func (s *serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if !s.l.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]any, 0, 2*(len(s.tags)+len(tags)))
	for _, t := range append(append([]tag.Tag{}, s.tags...), tags...) {
		attrs = append(attrs, t.Key(), t.Value())
	}
	s.l.Log(context.Background(), level, msg, attrs...)
}

func (s *serverLogger) Debug(string, ...tag.Tag) {}
func (s *serverLogger) Info(string, ...tag.Tag)  {}
func (s *serverLogger) Warn(msg string, tags ...tag.Tag) {
	// Its warnings are about itself (no Nexus HTTP port, attributes registered twice, polls failing while it
	// stops): noise for dev, shown at debug level.
	if s.l.Enabled(context.Background(), slog.LevelDebug) {
		s.log(slog.LevelWarn, msg, tags)
	}
}
func (s *serverLogger) Error(msg string, tags ...tag.Tag)  { s.log(slog.LevelError, msg, tags) }
func (s *serverLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }
func (s *serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic(msg)
}
func (s *serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic(msg)
}
func (s *serverLogger) With(tags ...tag.Tag) log.Logger {
	return &serverLogger{l: s.l, tags: append(append([]tag.Tag{}, s.tags...), tags...)}
}

// quietSDKLogger silences the SDK client used for set-up.
type quietSDKLogger struct{}

func (quietSDKLogger) Debug(string, ...any) {}
func (quietSDKLogger) Info(string, ...any)  {}
func (quietSDKLogger) Warn(string, ...any)  {}
func (quietSDKLogger) Error(string, ...any) {}
