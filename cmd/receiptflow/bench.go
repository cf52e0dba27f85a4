//go:build !nodev

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/receiptflow/receiptflow/api"
	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/sandbox"
)

// benchOptions are the bench command's flags.
type benchOptions struct {
	Concurrency int
	Count       int
	Duration    time.Duration
	Mix         string  // low, face, or the share of face receipts (0.25)
	FaceShare   float64 // parsed from Mix
	Channel     string  // ledger or wechatpay
	FaceMode    string  // v1 or v2
	Faults      sandbox.Faults
	Out         string
	Plot        string
	Park        int
	DatabaseURL string
	DataDir     string
	Reference   bool
	CPUProfile  string
	MemProfile  string
}

func parseBenchFlags(args []string, errOut io.Writer) (benchOptions, error) {
	var o benchOptions
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprint(errOut, `usage: receiptflow bench [flags]

Starts the dev stack (embedded Temporal on a temporary SQLite file, sandbox, worker, API) and drives whole
receipts through the HTTP API as the mini-program does, then the same shape of flow straight through the SDK
(the reference). Prints a table; --out writes JSON, --plot an SVG of the latency per endpoint.

flags:
`)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.Concurrency, "concurrency", 8, "payees tapping at once")
	fs.IntVar(&o.Count, "count", 200, "receipts to run (ignored with --duration)")
	fs.DurationVar(&o.Duration, "duration", 0, "run for this long instead of --count receipts")
	fs.StringVar(&o.Mix, "mix", "low", "low (face verification already bound), face (every payee verifies), or the share of face receipts, e.g. 0.25")
	fs.StringVar(&o.Channel, "channel", "ledger", "payout channel: ledger (instant) or wechatpay (bills the payee confirms in the sandbox)")
	fs.StringVar(&o.FaceMode, "face-mode", "v2", "face verification: v2 or v1")
	fs.Float64Var(&o.Faults.Busy, "fault-busy", 0, "probability of WeChat errcode -1 on each WeChat call")
	fs.Float64Var(&o.Faults.HTTP5xx, "fault-5xx", 0, "probability of an HTTP 503 from WeChat / WeChat Pay")
	fs.Float64Var(&o.Faults.Drop, "fault-drop", 0, "probability of a WeChat connection closed without an answer")
	fs.StringVar(&o.Out, "out", "", "write the results as JSON to this file")
	fs.StringVar(&o.Plot, "plot", "", "draw the latency distribution per endpoint to this SVG file")
	fs.IntVar(&o.Park, "park", 0, "park this many face receipts at the face step, report memory and size, then finish them all")
	fs.StringVar(&o.DatabaseURL, "database-url", "", "the store on PostgreSQL (postgres://…); default SQLite in the temporary data dir")
	fs.StringVar(&o.DataDir, "data-dir", "", "keep the run's data here (default: a temporary directory, removed afterwards)")
	fs.BoolVar(&o.Reference, "reference", true, "also measure the reference flow straight through the SDK")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured receipts (not the reference) to this file")
	fs.StringVar(&o.MemProfile, "memprofile", "", "with --park: write a heap profile with the runs parked to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch o.Mix {
	case "low":
	case "face":
		o.FaceShare = 1
	default:
		share, err := strconv.ParseFloat(o.Mix, 64)
		if err != nil || share < 0 || share > 1 {
			return o, fmt.Errorf("--mix %q: want low, face or a share between 0 and 1", o.Mix)
		}
		o.FaceShare = share
	}
	switch {
	case o.Channel != "ledger" && o.Channel != "wechatpay":
		return o, fmt.Errorf("--channel %q: want ledger or wechatpay", o.Channel)
	case o.FaceMode != "v1" && o.FaceMode != "v2":
		return o, fmt.Errorf("--face-mode %q: want v1 or v2", o.FaceMode)
	case o.Concurrency < 1:
		return o, errors.New("--concurrency must be at least 1")
	case o.Count < 1 && o.Duration <= 0 && o.Park <= 0:
		return o, errors.New("--count must be at least 1")
	}
	return o, nil
}

// runBench runs the bench command; progress goes to errOut, the table to out.
func runBench(ctx context.Context, args []string, out, errOut io.Writer) error {
	o, err := parseBenchFlags(args, errOut)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var cfg config.Config
	if err := loadBenchConfig(&cfg); err != nil {
		return err
	}
	dir := o.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "receiptflow-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	cfg.DataDir, cfg.DatabaseURL = dir, o.DatabaseURL
	cfg.HTTPPort, cfg.UIPort, cfg.Temporal.Address = 0, 0, "127.0.0.1:0"
	cfg.PayoutChannel, cfg.FaceMode = o.Channel, o.FaceMode
	cfg.LogLevel = "error"
	logger := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelError}))
	progress := func(format string, a ...any) { fmt.Fprintf(errOut, "bench: "+format+"\n", a...) }

	progress("starting the dev stack in %s", dir)
	s, err := startStack(ctx, cfg, devSettings{SandboxFaults: o.Faults, apiLimits: benchLimits()}, logger, false)
	if err != nil {
		return err
	}
	defer s.close()
	served := make(chan error, 1)
	serveCtx, stopServing := context.WithCancel(context.Background())
	go func() { served <- s.serve(serveCtx) }()
	defer func() { stopServing(); <-served }()

	b, err := newBencher(ctx, s, o, progress)
	if err != nil {
		return err
	}
	var res benchResult
	if o.Park > 0 {
		res, err = b.park(ctx)
	} else {
		res, err = b.run(ctx)
	}
	if err != nil {
		return err
	}
	if o.Reference && o.Park == 0 {
		progress("reference: the same shape straight through the SDK, %d at a time", o.Concurrency)
		ref, err := runReference(ctx, s.srv.FrontendHostPort(), s.cfg.Temporal.Namespace, o.Concurrency, max(res.Receipts, 50))
		if err != nil {
			return fmt.Errorf("reference: %w", err)
		}
		res.Reference = &ref
		if ref.FlowsPerSecond > 0 {
			res.RatioToReference = res.ReceiptsPerSecond / ref.FlowsPerSecond
		}
	}
	res.Options = o
	printBench(out, res)
	if o.Out != "" {
		raw, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.Out, append(raw, '\n'), 0o644); err != nil {
			return err
		}
	}
	if o.Plot != "" {
		if err := os.WriteFile(o.Plot, plotLatencies(res), 0o644); err != nil {
			return err
		}
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d of %d receipts did not end PAID", res.Failed, res.Receipts+res.Failed)
	}
	return nil
}

// loadBenchConfig reads the environment like dev does, so keys and tunables set there apply to the bench too.
func loadBenchConfig(cfg *config.Config) error {
	c, err := config.Load()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	*cfg = c
	return nil
}

// dirSize sums the files whose names start with prefix in dir (a SQLite database with its -wal and -shm).
func dirSize(dir, prefix string) int64 {
	entries, _ := os.ReadDir(dir)
	var n int64
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

// uniqueID makes a checksum-valid ID number per payee (one person, one account): a birthday per thousand payees.
func uniqueID(i int) string {
	birth := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/1000)
	return pii.WithCheckDigit(fmt.Sprintf("110101%s%03d", birth.Format("20060102"), i%1000))
}

// benchLimits are the API's defaults with the per-IP bounds lifted: every simulated payee logs in from 127.0.0.1,
// where real ones come from a phone each. The per-payee bounds stay (each bench payee is one person).
func benchLimits() api.Limits {
	l := api.DefaultLimits
	l.LoginsPerIP = api.Limit{Burst: 1 << 20, PerHour: 1 << 30}
	return l
}
