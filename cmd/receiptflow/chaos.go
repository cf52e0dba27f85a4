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
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// chaosOptions are the chaos command's flags.
type chaosOptions struct {
	Seed        uint64
	Orders      int
	Concurrency int
	Kills       int
	Faults      float64
	Binary      string
	Keep        bool
}

func parseChaosFlags(args []string, errOut io.Writer) (chaosOptions, error) {
	var o chaosOptions
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprint(errOut, `usage: receiptflow chaos [flags]

Starts receiptflow dev as a child process on a fresh data directory and drives --orders receipts through the HTTP
API as payees do (face and low risk; accepts, slow accepts, declines, failed bills and taps again; callbacks
normal, lost, duplicated and delayed), while a schedule drawn from --seed injects WeChat and WeChat Pay faults,
outages of WeChat Pay's endpoints and kill -9 of the whole process (restarted on the same data). Then the oracle:
every order final; one SUCCESS bill per PAID order and none for any other; the books' invariants; the product's
own reconciliation of the run's window finds nothing; no answer was a 500. The same seed gives the same schedule.

flags:
`)
		fs.PrintDefaults()
	}
	fs.Uint64Var(&o.Seed, "seed", 0, "the schedule's seed (0: a random one, printed)")
	fs.IntVar(&o.Orders, "orders", 60, "receipts to drive")
	fs.IntVar(&o.Concurrency, "concurrency", 6, "payees at once")
	fs.IntVar(&o.Kills, "kills", 3, "kill -9 (and restart) of the dev process during the run, with two WeChat Pay outages before each")
	fs.Float64Var(&o.Faults, "faults", 0.2, "share of WeChat and WeChat Pay calls that fail (busy, HTTP 5xx, dropped)")
	fs.StringVar(&o.Binary, "binary", "", "the receiptflow binary to run (default: this one)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the data directory and the child's log")
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
	fmt.Fprintf(out, "chaos: seed %d (again: receiptflow chaos --seed %d --orders %d --kills %d --faults %g)\n", o.Seed, o.Seed, o.Orders, o.Kills, o.Faults)
	if o.Binary == "" {
		if o.Binary, err = os.Executable(); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "receiptflow-chaos-")
	if err != nil {
		return err
	}
	if o.Keep {
		fmt.Fprintf(errOut, "chaos: data and log in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	child, err := newChaosChild(o, dir)
	if err != nil {
		return err
	}
	if err := child.start(ctx); err != nil {
		return err
	}
	defer child.stop()
	c := &chaos{o: o, child: child, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed)), log: errOut,
		http: &http.Client{Timeout: 30 * time.Second}, phone: sandbox.Phone{BaseURL: child.sandbox}}
	began := time.Now()
	verdict := c.run(ctx)
	verdict = append(verdict, c.oracle(ctx, began)...)
	child.stop()
	verdict = append(verdict, c.books(ctx, dir)...)
	fmt.Fprintf(out, "chaos: %d orders (%s), %d kills, %d outages, WeChat faults at %.0f%% of calls, %s\n", o.Orders, c.outcomes(),
		c.kills.Load(), c.outages.Load(), o.Faults*100, time.Since(began).Round(time.Second))
	for _, v := range verdict {
		fmt.Fprintf(out, "VIOLATION %s\n", v)
	}
	fmt.Fprintf(out, "chaos: %d violations (seed %d)\n", len(verdict), o.Seed)
	if len(verdict) > 0 {
		return fmt.Errorf("%d violations with seed %d", len(verdict), o.Seed)
	}
	return nil
}

// chaosChild is the dev process the run kills and restarts, always on the same ports and data.
type chaosChild struct {
	o             chaosOptions
	dir, logPath  string
	api, sandbox  string
	operatorToken string // dev's, from the keys it keeps in its data directory (read once it is up)
	env           []string
	mu            sync.Mutex
	cmd           *exec.Cmd
}

func newChaosChild(o chaosOptions, dir string) (*chaosChild, error) {
	var ports []int
	for range 4 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		defer l.Close()
	}
	f := strconv.FormatFloat(o.Faults/3, 'f', 4, 64)
	c := &chaosChild{o: o, dir: dir, logPath: filepath.Join(dir, "dev.log"),
		api: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), sandbox: fmt.Sprintf("http://127.0.0.1:%d", ports[1])}
	c.env = append(os.Environ(), config.Prefix+"_DATA_DIR="+filepath.Join(dir, "data"),
		config.Prefix+"_HTTP_PORT="+strconv.Itoa(ports[0]), config.Prefix+"_SANDBOX_PORT="+strconv.Itoa(ports[1]),
		config.Prefix+"_UI_PORT="+strconv.Itoa(ports[2]), config.Prefix+"_TEMPORAL_ADDRESS=127.0.0.1:"+strconv.Itoa(ports[3]),
		config.Prefix+"_LOG_LEVEL=warn", config.Prefix+"_TRANSFER_POLL_INTERVAL=2s",
		config.Prefix+"_SANDBOX_FAULT_BUSY="+f, config.Prefix+"_SANDBOX_FAULT_HTTP_5XX="+f, config.Prefix+"_SANDBOX_FAULT_DROP="+f)
	return c, nil
}

func (c *chaosChild) start(ctx context.Context) error {
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.o.Binary, "dev")
	cmd.Env, cmd.Stdout, cmd.Stderr = c.env, logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	go func() { _ = cmd.Wait(); logFile.Close() }()
	c.mu.Lock()
	c.cmd = cmd
	c.mu.Unlock()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := http.Get(c.api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if c.operatorToken != "" { // a restart: the keys stay
					return nil
				}
				keys, err := loadDevKeys(filepath.Join(c.dir, "data", "dev-keys.json"))
				c.operatorToken = keys.OperatorToken
				return err
			}
		}
	}
	return fmt.Errorf("dev did not get ready in 2 minutes (log: %s)", c.logPath)
}

// kill is kill -9: no drain, no flush, nothing said to Temporal or the store.
func (c *chaosChild) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		for c.cmd.ProcessState == nil && syscall.Kill(c.cmd.Process.Pid, 0) == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// stop asks dev to stop (SIGINT) and waits for it.
func (c *chaosChild) stop() {
	c.mu.Lock()
	cmd := c.cmd
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	for deadline := time.Now().Add(30 * time.Second); syscall.Kill(cmd.Process.Pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
		}
	}
}

// chaos is one run: its payees, its faults, and what it saw.
type chaos struct {
	o     chaosOptions
	child *chaosChild
	log   io.Writer
	http  *http.Client
	phone sandbox.Phone

	mu     sync.Mutex
	rng    *rand.Rand
	orders []*chaosOrder

	kills, outages, internalErrors atomic.Int64 // internalErrors: answers that were 500
}

// chaosOrder is one payee's receipt and how the payee (and WeChat Pay) will behave.
type chaosOrder struct {
	openid, id     string
	face, faceMiss bool // needs face verification; fails the first scan
	grossFen       int64
	plan           string // what the payee was drawn to do on WeChat's confirm page
	action         string // what it does next there: accept, accept_slow, decline (then accept), fail (then tap again)
	callback       string // how WeChat Pay calls back
	final          workflows.State
	retapped       bool
	err            error
}

func (c *chaos) draw(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.IntN(n)
}

// run drives every order while the fault schedule runs beside it; it returns the orders that did not end.
func (c *chaos) run(ctx context.Context) []string {
	actions := []string{sandbox.PayAccept, sandbox.PayAccept, sandbox.PayAcceptSlow, sandbox.PayDecline, sandbox.PayFail}
	callbacks := []string{"normal", "normal", "none", "duplicate", "delayed"}
	for range c.o.Orders {
		o := &chaosOrder{face: c.draw(3) == 0, action: actions[c.draw(len(actions))], callback: callbacks[c.draw(len(callbacks))],
			grossFen: 150000 + int64(c.draw(700000))}
		o.faceMiss = o.face && c.draw(2) == 0
		o.plan = o.action
		c.orders = append(c.orders, o)
	}
	done := make(chan struct{})
	faults := make(chan struct{})
	go func() { defer close(faults); c.schedule(ctx, done) }()
	next := make(chan *chaosOrder)
	var wg sync.WaitGroup
	for range c.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range next {
				began := time.Now()
				o.err = c.receipt(ctx, o)
				fmt.Fprintf(c.log, "chaos: %s %s in %s (face %v, %s, callback %s)\n", o.id, o.final, time.Since(began).Round(100*time.Millisecond), o.face, o.plan, o.callback)
			}
		}()
	}
	for _, o := range c.orders {
		next <- o
	}
	close(next)
	wg.Wait()
	close(done)
	<-faults
	var bad []string
	for _, o := range c.orders {
		if o.err != nil {
			bad = append(bad, fmt.Sprintf("order %s (%s, face %v, %s, callback %s): did not end: %v", o.id, o.openid, o.face, o.plan, o.callback, o.err))
		}
	}
	return bad
}

// schedule kills and restarts dev --kills times, and takes one of WeChat Pay's endpoints down for a few seconds
// twice between kills, at times drawn from the seed (its own stream, so the orders' pace cannot change it); then
// the faults left are the sandbox's error rates.
func (c *chaos) schedule(ctx context.Context, done <-chan struct{}) {
	rng := rand.New(rand.NewPCG(c.o.Seed, 0xfa17))
	endpoints := []string{"transfer-bills", "transfer-bills.query", "transfer-bills.cancel"}
	for step := 0; step < 3*c.o.Kills; step++ {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(2000+rng.IntN(3000)) * time.Millisecond):
		}
		if step%3 != 2 {
			ep, secs := endpoints[rng.IntN(len(endpoints))], 2+rng.IntN(5)
			if c.post(ctx, c.child.sandbox+"/sandbox/outage", map[string]any{"endpoint": ep, "seconds": secs}) == nil {
				c.outages.Add(1)
			}
			continue
		}
		fmt.Fprintf(c.log, "chaos: kill -9 dev (%d)\n", c.kills.Load()+1)
		c.child.kill()
		c.kills.Add(1)
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		restarted := time.Now()
		if err := c.child.start(ctx); err != nil {
			fmt.Fprintf(c.log, "chaos: restart: %v\n", err)
			return
		}
		fmt.Fprintf(c.log, "chaos: dev back in %s\n", time.Since(restarted).Round(100*time.Millisecond))
	}
}

// receipt is one payee's whole 确认收款, through restarts: every call is retried while dev is down.
func (c *chaos) receipt(ctx context.Context, o *chaosOrder) error {
	// A lost callback after a slow confirm is found by the bill's polls, backing off from 30 s: minutes, not hours.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var seeded struct{ OpenID, OrderID string }
	if err := c.call(ctx, http.MethodPost, "/simulator/seed", "", map[string]any{"grossFen": o.grossFen, "face": o.face}, &seeded); err != nil {
		return err
	}
	o.openid, o.id = seeded.OpenID, seeded.OrderID
	token, err := c.session(ctx, o.openid)
	if err != nil {
		return err
	}
	path := "/v1/receipts/" + o.id
	var v workflows.View
	if err := c.call(ctx, http.MethodPost, path, token, nil, &v); err != nil {
		return err
	}
	acted := ""
	for {
		var err error
		switch {
		case v.State == workflows.StateFailed && !o.retapped:
			o.retapped, o.action = true, sandbox.PayAccept // tap again: a new run, a new bill
			err = c.call(ctx, http.MethodPost, path, token, nil, &v)
			continue
		case v.State.Final():
			o.final = v.State
			return nil
		case v.State == workflows.StateFaceRequired:
			err = c.face(ctx, o, token)
		case v.State == workflows.StateAwaitingConfirmation:
			err = c.call(ctx, http.MethodPost, path+"/confirm", token, nil, nil)
		case v.State == workflows.StateAwaitingTransferConfirm && v.Payout != nil && v.Payout.Confirm != nil && acted != v.Payout.Confirm.Package:
			err = c.confirmPage(ctx, o, v.Payout.Confirm)
			acted = v.Payout.Confirm.Package
			if err == nil {
				err = c.call(ctx, http.MethodPost, path+"/transfer/confirmed", token, nil, nil)
			}
		}
		if err != nil && !strings.Contains(err.Error(), " 409 ") {
			return err
		}
		time.Sleep(300 * time.Millisecond)
		if err := c.call(ctx, http.MethodGet, path, token, nil, &v); err != nil {
			return err
		}
	}
}

func (c *chaos) session(ctx context.Context, openid string) (string, error) {
	for {
		code, err := c.phone.Login(ctx, openid)
		if err == nil {
			var s struct{ Token string }
			if err = c.call(ctx, http.MethodPost, "/v1/session", "", map[string]string{"code": code}, &s); err == nil {
				return s.Token, nil
			}
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("session: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (c *chaos) face(ctx context.Context, o *chaosOrder, token string) error {
	var cred struct {
		VerifyID string `json:"verifyId"`
	}
	path := "/v1/receipts/" + o.id + "/face"
	if err := c.call(ctx, http.MethodPost, path+"/session", token, nil, &cred); err != nil {
		return err
	}
	outcome := sandbox.OutcomePass
	if o.faceMiss {
		outcome, o.faceMiss = "mismatch_face", false
	}
	if _, err := c.phone.VerifyV2(ctx, cred.VerifyID, outcome); err != nil {
		return err
	}
	return c.call(ctx, http.MethodPost, path+"/result", token, map[string]string{"verifyId": cred.VerifyID}, nil)
}

// confirmPage is the payee on WeChat's confirm page: a decline is followed by an accept on the next look.
func (c *chaos) confirmPage(ctx context.Context, o *chaosOrder, cf *workflows.MerchantTransferParams) error {
	action, reason := o.action, ""
	if action == sandbox.PayFail {
		reason = "ACCOUNT_FROZEN"
	}
	res, err := c.phone.ConfirmTransfer(ctx, sandbox.TransferConfirm{MchID: cf.MchID, AppID: cf.AppID, Package: cf.Package}, action, reason, o.callback)
	if action == sandbox.PayDecline {
		o.action = sandbox.PayAccept
		res, err = c.phone.ConfirmTransfer(ctx, sandbox.TransferConfirm{MchID: cf.MchID, AppID: cf.AppID, Package: cf.Package}, o.action, "", o.callback)
	}
	if err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("confirm page: %s", res.ErrMsg)
	}
	return nil
}

// call makes one API request, again and again while dev is down or restarting (no answer, 502/503/504, 429);
// other answers above 299 are errors ("… 409 …" for a step the run no longer waits for).
func (c *chaos) call(ctx context.Context, method, path, token string, body, out any) error {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, method, c.child.api+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if strings.HasPrefix(path, "/v1/ops/") {
			req.Header.Set("Authorization", "Bearer "+c.child.operatorToken)
		}
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

func (c *chaos) outcomes() string {
	n := map[workflows.State]int{}
	for _, o := range c.orders {
		n[o.final]++
	}
	var parts []string
	for s, k := range n {
		if s == "" {
			s = "not ended"
		}
		parts = append(parts, fmt.Sprintf("%d %s", k, s))
	}
	return strings.Join(parts, ", ")
}

// oracle checks, while dev still runs: no answer was a 500, and the product's own reconciliation of the run's
// window finds nothing.
func (c *chaos) oracle(ctx context.Context, began time.Time) []string {
	var bad []string
	if n := c.internalErrors.Load(); n > 0 {
		bad = append(bad, fmt.Sprintf("%d answers were 500", n))
	}
	var started struct{ ID string }
	if err := c.call(ctx, http.MethodPost, "/v1/ops/reconciliations", "", map[string]time.Time{"from": began.Add(-time.Minute), "to": time.Now().Add(time.Minute)}, &started); err != nil {
		return append(bad, "reconciliation: "+err.Error())
	}
	var d struct {
		Reconciliation struct {
			State    string `json:"state"`
			Findings int    `json:"findings"`
		} `json:"reconciliation"`
		Findings []store.Finding `json:"findings"`
	}
	for deadline := time.Now().Add(2 * time.Minute); d.Reconciliation.State != "DONE"; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			return append(bad, fmt.Sprintf("reconciliation %s did not finish: %+v", started.ID, d.Reconciliation))
		}
		// (404 until the run has written its first page)
		if err := c.call(ctx, http.MethodGet, "/v1/ops/reconciliations/"+started.ID, "", nil, &d); err != nil && !strings.Contains(err.Error(), " 404 ") {
			return append(bad, "reconciliation: "+err.Error())
		}
	}
	for _, f := range d.Findings {
		bad = append(bad, fmt.Sprintf("order %s: reconciliation finding %s on bill %s: ours %s %d fen, WeChat Pay %s %d fen (%s)",
			f.OrderID, f.Kind, f.OutBillNo, f.OurState, f.OurAmountFen, f.WeChatState, f.WeChatAmountFen, f.Detail))
	}
	return bad
}

// books checks, with dev stopped, the store against the sandbox's own record of WeChat Pay: the books' invariants
// (each transaction balances, balances equal their postings, …), one SUCCESS bill and one posted payment per PAID
// order, and none for any other.
func (c *chaos) books(ctx context.Context, dir string) []string {
	data := filepath.Join(dir, "data")
	keys, err := loadDevKeys(filepath.Join(data, "dev-keys.json"))
	if err != nil {
		return []string{"dev keys: " + err.Error()}
	}
	cfg, err := config.Load()
	if err != nil {
		return []string{"configuration: " + err.Error()}
	}
	cfg.DataDir, cfg.DatabaseURL = data, ""
	st, _, _, err := openStore(ctx, keys.apply(cfg))
	if err != nil {
		return []string{"store: " + err.Error()}
	}
	defer st.Close()
	broken, err := st.CheckBooks(ctx)
	if err != nil {
		return []string{"books: " + err.Error()}
	}
	bad := append([]string(nil), broken...)
	raw, err := os.ReadFile(filepath.Join(data, "sandbox-wechatpay.json"))
	var bills map[string]struct {
		State     string `json:"state"`
		AmountFen int64  `json:"transfer_amount"`
	}
	if err == nil {
		err = json.Unmarshal(raw, &bills)
	}
	if err != nil {
		return append(bad, "the sandbox's bills: "+err.Error())
	}
	known := map[string]bool{}
	for _, o := range c.orders {
		if o.id == "" {
			continue
		}
		known[o.id] = true
		success := 0
		for no, b := range bills {
			if strings.HasPrefix(no, o.id+"T") && b.State == "SUCCESS" {
				success++
			}
		}
		posted, err := st.Payments(ctx, store.PaymentQuery{OrderID: o.id, States: []string{store.PaymentPosted}})
		if err != nil {
			return append(bad, "payments: "+err.Error())
		}
		want := 0
		if o.final == workflows.StatePaid {
			want = 1
		}
		if success != want || len(posted) != want {
			bad = append(bad, fmt.Sprintf("order %s ended %s (face %v, %s, callback %s): %d SUCCESS bills at WeChat Pay, %d posted payments in the books, want %d",
				o.id, o.final, o.face, o.plan, o.callback, success, len(posted), want))
		}
	}
	for no, b := range bills {
		if i := strings.LastIndex(no, "T"); b.State == "SUCCESS" && (i < 0 || !known[no[:i]]) {
			bad = append(bad, fmt.Sprintf("bill %s: SUCCESS at WeChat Pay for an order this run does not know", no))
		}
	}
	return bad
}
