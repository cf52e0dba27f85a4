// Command receiptflow runs the confirm-receipt backend.
//
//	receiptflow dev      everything in one process on embedded defaults (Temporal, UI, sandbox, SQLite, worker, API)
//	receiptflow api      the HTTP API against a Temporal cluster
//	receiptflow worker   the Temporal worker
//	receiptflow migrate  set up the store's schema, the Temporal namespace and search attributes, and exit
//	receiptflow ui-gate  the operators' sign-in in front of a Temporal Web UI
//	receiptflow sandbox  the WeChat and WeChat Pay sandbox as its own process
//	receiptflow bench    measure whole receipts against the engine's own ceiling
//	receiptflow chaos    a seeded fault run, checked against the books and the reconciliation
//	receiptflow env      list the configuration variables
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

// command is one subcommand: what it is for (its --help) and how it runs.
type command struct {
	name, summary, help string
	// run gets the command's arguments; config-driven commands ignore them and read RECEIPTFLOW_*.
	run func(ctx context.Context, args []string) error
}

var commands = []command{
	{"dev", "run everything in one process on embedded defaults", `Starts the WeChat sandbox, the store with demo data, an embedded Temporal server and Web UI, the worker and the
API, and prints where everything is (stdout) and a walkthrough; logs go to stderr. Ctrl-C stops it; starting
again resumes runs in flight. Settings: RECEIPTFLOW_* (receiptflow env).`, func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return unexpectedArguments("dev", args)
		}
		cfg, logger, err := loadConfig()
		if err != nil {
			return err
		}
		dev, err := loadDevSettings()
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		return runDev(ctx, cfg, dev, logger, os.Stdout)
	}},
	{"api", "run the HTTP API (needs a Temporal cluster and migrate run once)", `Serves the HTTP API against the Temporal cluster at RECEIPTFLOW_TEMPORAL_ADDRESS and the store at
RECEIPTFLOW_DATABASE_URL; /readyz fails (and says why) until both answer and migrate has set up the namespace.
Settings: RECEIPTFLOW_* (receiptflow env).`, configured("api", runAPI)},
	{"worker", "run the Temporal worker (needs a Temporal cluster and migrate run once)", `Runs the receipt workflows and their activities; /metrics, /healthz and /readyz on RECEIPTFLOW_METRICS_PORT.
Settings: RECEIPTFLOW_* (receiptflow env).`, configured("worker", runWorker)},
	{"migrate", "set up the store's schema, the Temporal namespace and its search attributes, then exit", `Needs only RECEIPTFLOW_DATABASE_URL and RECEIPTFLOW_TEMPORAL_* (no keys, no WeChat settings); checks it can
reach both before changing anything; safe to run again (what exists is left as it is).`, configured("migrate", runMigrate)},
	{"ui-gate", "the operators' sign-in in front of a Temporal Web UI that has none", `Listens on RECEIPTFLOW_HTTP_HOST:RECEIPTFLOW_UI_PORT; operators sign in with their token
(RECEIPTFLOW_OPERATOR_TOKENS) and reach the UI at RECEIPTFLOW_UI_UPSTREAM, whose payloads decode through the
API's /codec (RECEIPTFLOW_UI_CODEC_URL) with that token. Point the UI's codec endpoint at /_receiptflow/codec.
Settings: RECEIPTFLOW_* (receiptflow env).`, configured("ui-gate", runUIGate)},
	{"sandbox", "serve the WeChat and WeChat Pay sandbox on its own (for api and worker processes)", "", func(ctx context.Context, args []string) error {
		_, logger, err := loadConfig()
		if err != nil {
			return err
		}
		return runSandbox(ctx, args, os.Stdout, os.Stderr, logger)
	}},
	{"bench", "measure whole receipts through the API against the engine's own ceiling", "", func(ctx context.Context, args []string) error {
		return runBench(ctx, args, os.Stdout, os.Stderr)
	}},
	{"chaos", "a seeded fault run (kill -9, WeChat faults) checked against the books and the reconciliation", "", func(ctx context.Context, args []string) error {
		return runChaos(ctx, args, os.Stdout, os.Stderr)
	}},
	{"env", "list the configuration variables (RECEIPTFLOW_*)", "", func(context.Context, []string) error { return printEnv(os.Stdout) }},
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage: receiptflow <command> [--help]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	return b.String()
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "receiptflow:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, name string, args []string) error {
	if name == "-h" || name == "--help" || name == "help" {
		fmt.Print(usage())
		return nil
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		// Commands with flags print their own help; the others describe themselves without starting anything.
		if c.help != "" && len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Printf("usage: receiptflow %s\n\n%s\n\n%s\n", c.name, c.summary, c.help)
			return nil
		}
		return c.run(ctx, args)
	}
	return errors.New("unknown command " + name + "\n" + usage())
}

// configured runs a command that takes its settings from the environment.
func configured(name string, f func(context.Context, config.Config, *slog.Logger) error) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return unexpectedArguments(name, args)
		}
		cfg, logger, err := loadConfig()
		if err != nil {
			return err
		}
		return f(ctx, cfg, logger)
	}
}

// unexpectedArguments refuses flags a config-driven command does not take (`dev --port 9000` would otherwise start
// on the defaults as if it had been heard).
func unexpectedArguments(name string, args []string) error {
	return fmt.Errorf("unexpected arguments %q\nusage: receiptflow %s (settings come from RECEIPTFLOW_*: receiptflow env; e.g. RECEIPTFLOW_HTTP_PORT=9000 receiptflow %s)", args, name, name)
}

func loadConfig() (config.Config, *slog.Logger, error) {
	cfg, err := config.Load()
	if err != nil {
		return cfg, nil, fmt.Errorf("configuration: %w", err)
	}
	return cfg, newLogger(cfg), nil
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
