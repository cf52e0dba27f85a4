// Command receiptflow runs the confirm-receipt backend.
//
//	receiptflow dev      everything in one process on embedded defaults (Temporal, UI, sandbox, SQLite, worker, API)
//	receiptflow api      the HTTP API against a Temporal cluster
//	receiptflow worker   the Temporal worker
//	receiptflow migrate  apply database migrations and exit
//	receiptflow env      list the configuration variables
//	receiptflow bench    measure whole receipts against the engine's own ceiling
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/receiptflow/receiptflow/config"
)

const usage = `usage: receiptflow <command>

commands:
  dev      run everything in one process on embedded defaults
  api      run the HTTP API (needs a Temporal cluster)
  worker   run the Temporal worker (needs a Temporal cluster)
  migrate  apply database migrations and exit
  env      list the configuration variables (RECEIPTFLOW_*)
  bench    measure whole receipts through the API against the engine's own ceiling (receiptflow bench -h)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "receiptflow:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cmd string, args []string) error {
	switch cmd {
	case "env":
		return printEnv(os.Stdout)
	case "bench":
		return runBench(ctx, args, os.Stdout, os.Stderr)
	}
	cfg, err := config.Load()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := newLogger(cfg)
	switch cmd {
	case "dev":
		dev, err := loadDevSettings()
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		return runDev(ctx, cfg, dev, logger, os.Stdout)
	case "api":
		return runAPI(ctx, cfg, logger)
	case "worker":
		return runWorker(ctx, cfg, logger)
	case "migrate":
		return runMigrate(ctx, cfg, logger)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return nil
	}
	return errors.New("unknown command " + cmd + "\n" + usage)
}

func newLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.LogFormat, "text") {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
