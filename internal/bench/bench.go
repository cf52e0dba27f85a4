// Package bench measures whole receipts through receiptflow's HTTP API, as the mini-program and the payee's phone
// drive them, against the engine's own ceiling: the same shape of flow straight through the Temporal SDK (the
// reference). It drives a System it is given; `receiptflow bench` starts one (the dev stack) and hands it over.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/sandbox"
)

// System is the running receiptflow the bench drives.
type System struct {
	APIURL, SandboxURL string
	Temporal           client.Client // the system's own client: the history length of a finished run per branch
	HostPort           string        // the Temporal frontend, where the reference runs its own worker
	Namespace          string
	DataDir            string // where the system keeps Temporal's and the store's SQLite files (their sizes)
	// Seed onboards payee i (openid) with one funded order of 1,500 元 and returns the order's ID; face false:
	// the identity was bound by an earlier face verification (low risk), true: the workflow asks for one.
	Seed func(ctx context.Context, i int, openid string, face bool) (orderID string, err error)
}

// Options are the bench command's flags.
type Options struct {
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
	Rounds      int // turns the receipts and the reference take (with --count)
	CPUProfile  string
	RefProfile  string
	MemProfile  string
}

// ParseFlags reads the bench command's flags; flag.ErrHelp after --help (the usage is printed).
func ParseFlags(args []string, errOut io.Writer) (Options, error) {
	var o Options
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
	fs.IntVar(&o.Rounds, "rounds", 4, "with --count and the reference: the receipts and as many reference flows take turns, in this many rounds")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured receipts (not the reference) to this file")
	fs.StringVar(&o.RefProfile, "reference-cpuprofile", "", "write a CPU profile of the reference's concurrent flows to this file")
	fs.StringVar(&o.MemProfile, "memprofile", "", "with --park: write a heap profile with the runs parked to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.Park > 0 {
		o.Mix = "face" // what parks at the face step is a face receipt, whatever --mix said
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
	case o.Rounds < 1:
		return o, errors.New("--rounds must be at least 1")
	}
	return o, nil
}

// Run measures receipts on sys as o says (or parks them, with --park), then the reference; the table goes to out,
// progress to errOut, and --out and --plot are written. An error when a receipt did not end PAID.
func Run(ctx context.Context, sys System, o Options, out, errOut io.Writer) error {
	progress := func(format string, a ...any) { fmt.Fprintf(errOut, "bench: "+format+"\n", a...) }
	b := newBencher(sys, o, progress)
	var res Result
	var err error
	if o.Park > 0 {
		res, err = b.park(ctx)
	} else {
		res, err = b.run(ctx)
	}
	if err != nil {
		return err
	}
	if ref := res.Reference; ref != nil && ref.FlowsPerSecond > 0 {
		res.RatioToReference = res.ReceiptsPerSecond / ref.FlowsPerSecond
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

// IDNumber makes a checksum-valid ID number per payee (one person, one account): a birthday per thousand payees.
func IDNumber(i int) string {
	birth := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/1000)
	return pii.WithCheckDigit(fmt.Sprintf("110101%s%03d", birth.Format("20060102"), i%1000))
}
