//go:build !nodev

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/sandbox"
)

// chaosOptions are the chaos command's flags.
type chaosOptions struct {
	Seed        uint64
	Orders      int
	Concurrency int
	Kills       int
	Faults      float64
	Duration    time.Duration // 0: --orders of them; else new orders until it has passed
	KillEvery   time.Duration // 0: --kills of them, spread over the run
	CheckEvery  time.Duration
	Binary      string
	Keep        bool
	Topology    string // deploy/local/run's directory: drive and kill that topology instead of a dev child
}

func parseChaosFlags(args []string, errOut io.Writer) (chaosOptions, error) {
	var o chaosOptions
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprint(errOut, `usage: receiptflow chaos [flags]

Starts receiptflow dev as a child process on a fresh data directory and drives --orders receipts through the HTTP
API as payees and operators do (face and low risk; faces that miss, fail out to a manual review, or are never
scanned; confirms, walk-aways and cancels; on WeChat's page accepts, slow accepts, declines, failed and expired
bills and taps again, cancels crossing accepts; callbacks normal, lost, duplicated and delayed), while a
schedule drawn from --seed injects WeChat and WeChat Pay faults (busy, HTTP 5xx, calls dropped, answers lost after
the call was carried out, slow answers), outages of WeChat Pay's endpoints and kill -9 of
the whole process (restarted on the same data). The oracle: during the run, every --check-every, the books'
invariants (GET /v1/ops/books/check); at the end, every order final; one SUCCESS bill per PAID order and none for
any other; one posted payment per PAID order, of its amount; the books' invariants; the month's filing, built
from the books, with one row per paid payee and the posted ledger's tax; the product's own reconciliation of the
run's window finds nothing; no answer was a 500. The same seed gives the same schedule and the same payees.

With --topology DIR (a topology deploy/local/run started with up --detach --dir DIR; run from the repository's
root), the same payees go through its APIs in turn, onboarded as the mini-program and the merchant do, and each
kill hits one of its processes: an API, a worker, Temporal, PostgreSQL (an immediate stop: a crash to it) or the
sandbox (restarted at the start with --faults, and with them after every kill). Nobody walks away there (its
deadlines are production's), and every payee is a newcomer.

flags:
`)
		fs.PrintDefaults()
	}
	fs.Uint64Var(&o.Seed, "seed", 0, "the schedule's seed (0: a random one, printed)")
	fs.IntVar(&o.Orders, "orders", 60, "receipts to drive")
	fs.DurationVar(&o.Duration, "duration", 0, "drive new receipts until this long has passed, instead of --orders")
	fs.IntVar(&o.Concurrency, "concurrency", 6, "payees at once")
	fs.IntVar(&o.Kills, "kills", 3, "kill -9 (and restart) of the dev process during the run, with two WeChat Pay outages before each")
	fs.Float64Var(&o.Faults, "faults", 0.2, "share of WeChat and WeChat Pay calls that fail (busy, HTTP 5xx, dropped, answer lost); as many again are answered 1 s late")
	fs.DurationVar(&o.KillEvery, "kill-every", 0, "kill -9 dev about this often until the orders are done, instead of --kills times")
	fs.DurationVar(&o.CheckEvery, "check-every", 10*time.Second, "how often the oracle checks the books during the run")
	fs.StringVar(&o.Binary, "binary", "", "the receiptflow binary to run (default: this one)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the data directory and the child's log")
	fs.StringVar(&o.Topology, "topology", "", "the directory of a running deploy/local/run topology (up --detach --dir DIR): drive it, and kill -9 one of its processes (a worker, an API, Temporal, PostgreSQL, the sandbox) at a time")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.Orders < 1 || o.Concurrency < 1 || o.Kills < 0:
		return o, errors.New("--orders and --concurrency must be at least 1, --kills at least 0")
	case o.Faults < 0 || o.Faults > 0.6:
		return o, errors.New("--faults is a share between 0 and 0.6")
	case o.Duration < 0:
		return o, errors.New("--duration must not be negative")
	case o.KillEvery != 0 && o.KillEvery < 5*time.Second || o.CheckEvery < time.Second:
		return o, errors.New("--kill-every is at least 5s (dev needs a few to come back), --check-every at least 1s")
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()%1_000_000 + 1
	}
	return o, nil
}

// runChaos runs the chaos command; the verdict goes to out, progress to errOut. An error when the oracle found a
// violation (or the run could not be made).
func runChaos(ctx context.Context, args []string, out, errOut io.Writer) error {
	o, err := parseChaosFlags(args, errOut)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	orders, kills := fmt.Sprintf("--orders %d", o.Orders), fmt.Sprintf("--kills %d", o.Kills)
	if o.Duration > 0 {
		orders = "--duration " + o.Duration.String()
	}
	if o.KillEvery > 0 {
		kills = "--kill-every " + o.KillEvery.String()
	}
	fmt.Fprintf(out, "chaos: seed %d (again: receiptflow chaos --seed %d %s --concurrency %d %s --faults %g)\n", o.Seed, o.Seed, orders, o.Concurrency, kills, o.Faults)
	if o.Binary == "" {
		if o.Binary, err = os.Executable(); err != nil {
			return err
		}
	}
	stack, err := o.stack(ctx, errOut)
	if err != nil {
		return err
	}
	defer stack.stop()
	c := &chaos{o: o, stack: stack, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed)), log: errOut,
		http: &http.Client{Timeout: 30 * time.Second}, phone: sandbox.Phone{BaseURL: stack.sandbox()}, began: time.Now()}
	verdict := c.run(ctx)
	verdict = append(verdict, c.during...)
	verdict = append(verdict, c.oracle(ctx, c.began)...)
	if cfg, bills, err := stack.settle(ctx); err != nil {
		verdict = append(verdict, "the books could not be read: "+err.Error())
	} else {
		verdict = append(verdict, c.books(ctx, cfg, bills)...)
	}
	killed := fmt.Sprintf("%d kills", c.kills.Load())
	if r := c.recoveries(); r != "" {
		killed += " (" + r + ")"
	}
	fmt.Fprintf(out, "chaos: %d orders (%s), %s, %d outages, WeChat faults at %.0f%% of calls, %d checks of the books during the run, %s\n",
		len(c.orders), c.outcomes(), killed, c.outages.Load(), o.Faults*100, c.checks.Load(), time.Since(c.began).Round(time.Second))
	for _, v := range verdict {
		fmt.Fprintf(out, "VIOLATION %s\n", v)
	}
	fmt.Fprintf(out, "chaos: %d violations (seed %d)\n", len(verdict), o.Seed)
	if len(verdict) > 0 {
		return fmt.Errorf("%d violations with seed %d", len(verdict), o.Seed)
	}
	return nil
}

// chaosStack is what a run drives and kills: dev as a child process (chaosChild), or the production topology of
// deploy/local/run (chaosTopology).
type chaosStack interface {
	api() string // where the next API call goes
	sandbox() string
	operatorToken() string
	// seed onboards a new payee with a funded order of grossFen; a newcomer's identity is not bound by a face yet.
	seed(ctx context.Context, c *chaos, grossFen int64, newcomer bool) (openid, orderID string, err error)
	// crash kills one process (kill -9, or what is as abrupt) and starts it again; it answers which.
	crash(ctx context.Context, rng *rand.Rand) (string, error)
	// settle stops what must not run while the books are read and answers the store's configuration and the file
	// of the sandbox's bills.
	settle(ctx context.Context) (config.Config, string, error)
	stop()
}

// stack starts the dev child on a fresh data directory, or attaches to --topology.
func (o chaosOptions) stack(ctx context.Context, errOut io.Writer) (chaosStack, error) {
	if o.Topology != "" {
		return attachTopology(ctx, o)
	}
	dir, err := os.MkdirTemp("", "receiptflow-chaos-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		fmt.Fprintf(errOut, "chaos: data and log in %s\n", dir)
	}
	child, err := newChaosChild(o, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := child.start(ctx); err != nil {
		child.stop()
		return nil, err
	}
	return child, nil
}

// chaos is one run: its payees, its faults, and what it saw.
type chaos struct {
	o     chaosOptions
	stack chaosStack
	log   io.Writer
	http  *http.Client
	phone sandbox.Phone

	mu     sync.Mutex
	rng    *rand.Rand
	orders []*chaosOrder
	during []string // what the oracle found during the run

	began                                  time.Time
	restarts                               map[string][]time.Duration // by process killed: from the kill until all was ready again
	kills, outages, internalErrors, checks atomic.Int64               // internalErrors: answers that were 500
}

// recoveries says, per process killed, how often and the slowest time back.
func (c *chaos) recoveries() string {
	var parts []string
	for what, times := range c.restarts {
		parts = append(parts, fmt.Sprintf("%s ×%d, back in ≤ %s", what, len(times), slices.Max(times).Round(100*time.Millisecond)))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func (c *chaos) draw(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.IntN(n)
}

// run drives every order while the fault schedule runs beside it; it returns the orders that did not end.
func (c *chaos) run(ctx context.Context) []string {
	done := make(chan struct{})
	var beside sync.WaitGroup
	beside.Go(func() { c.schedule(ctx, done) })
	beside.Go(func() { c.watch(ctx, done) })
	next := make(chan *chaosOrder)
	var wg sync.WaitGroup
	for range c.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range next {
				began := time.Now()
				o.err = c.receipt(ctx, o)
				fmt.Fprintf(c.log, "chaos: %s %s in %s (%s)\n", o.id, o.final, time.Since(began).Round(100*time.Millisecond), o.story())
			}
		}()
	}
	// The payees, drawn in turn from the seed: --orders of them, or as many as --duration leaves time for.
	for len(c.orders) < c.o.Orders && c.o.Duration == 0 || c.o.Duration > 0 && time.Since(c.began) < c.o.Duration {
		o := c.drawOrder()
		c.orders = append(c.orders, o)
		next <- o
	}
	close(next)
	wg.Wait()
	close(done)
	beside.Wait()
	var bad []string
	for _, o := range c.orders {
		if o.err != nil {
			bad = append(bad, fmt.Sprintf("order %s (%s; %s): did not end: %v", o.id, o.openid, o.story(), o.err))
		}
	}
	return bad
}

// schedule kills and restarts dev --kills times (or every --kill-every until the orders are done), and takes one
// of WeChat Pay's endpoints down for a few seconds twice between kills, at times drawn from the seed (its own
// stream, so the orders' pace cannot change it); the faults left are the sandbox's error rates.
func (c *chaos) schedule(ctx context.Context, done <-chan struct{}) {
	rng := rand.New(rand.NewPCG(c.o.Seed, 0xfa17))
	endpoints := []string{"transfer-bills", "transfer-bills.query", "transfer-bills.cancel"}
	for step := 0; c.o.KillEvery > 0 || step < 3*c.o.Kills; step++ {
		wait := time.Duration(2000+rng.IntN(3000)) * time.Millisecond
		if c.o.KillEvery > 0 { // three steps a kill: about --kill-every apart
			wait = c.o.KillEvery/3 + time.Duration(rng.Int64N(int64(c.o.KillEvery/6)+1))
		}
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if step%3 != 2 {
			ep, secs := endpoints[rng.IntN(len(endpoints))], 2+rng.IntN(5)
			if c.post(ctx, c.stack.sandbox()+"/sandbox/outage", map[string]any{"endpoint": ep, "seconds": secs}) == nil {
				c.outages.Add(1)
			}
			continue
		}
		killed := time.Now()
		what, err := c.stack.crash(ctx, rng)
		c.kills.Add(1)
		if err != nil {
			fmt.Fprintf(c.log, "chaos: kill -9 %s (%d): did not come back: %v\n", what, c.kills.Load(), err)
			return
		}
		back := time.Since(killed)
		if c.restarts == nil {
			c.restarts = map[string][]time.Duration{}
		}
		c.restarts[what] = append(c.restarts[what], back)
		fmt.Fprintf(c.log, "chaos: kill -9 %s (%d), back in %s\n", what, c.kills.Load(), back.Round(100*time.Millisecond))
	}
}

// call makes one API request as a payee (token) or, under /v1/ops/, as the operator; see send.
func (c *chaos) call(ctx context.Context, method, path, token string, body, out any) error {
	return c.send(ctx, method, path, body, out, func(req *http.Request, _ []byte) {
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if strings.HasPrefix(path, "/v1/ops/") {
			req.Header.Set("Authorization", "Bearer "+c.stack.operatorToken())
		}
	})
}

// send makes one API request, again and again while the API is down or restarting (no answer, 502/503/504, 429);
// other answers above 299 are errors ("… 409 …" for a step the run no longer waits for). headers sets each
// attempt's credentials from the body sent (a merchant's signature is made afresh for every attempt).
func (c *chaos) send(ctx context.Context, method, path string, body, out any, headers func(req *http.Request, raw []byte)) error {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, method, c.stack.api()+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		headers(req, raw)
		resp, err := c.http.Do(req)
		if err == nil {
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusInternalServerError {
				c.internalErrors.Add(1)
			}
			switch {
			case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable ||
				resp.StatusCode == http.StatusGatewayTimeout || resp.StatusCode == http.StatusTooManyRequests:
			case resp.StatusCode >= 300:
				return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, answer)
			default:
				if out != nil && len(answer) > 0 {
					return json.Unmarshal(answer, out)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: gave up: %w", method, path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitReady waits until base/readyz answers 200.
func waitReady(ctx context.Context, base string, limit time.Duration) error {
	return waitUp(ctx, base+"/readyz", limit)
}

// waitUp waits until url answers 200.
func waitUp(ctx context.Context, url string, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s did not answer 200 in %s", url, limit)
}

func (c *chaos) post(ctx context.Context, url string, body any) error {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
