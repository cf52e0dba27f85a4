package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/pprof/profile"

	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/workflows"
)

// bencher drives whole receipts through the HTTP API as the mini-program and the payee's phone do.
type bencher struct {
	sys      System
	o        Options
	profile  cpuProfile // --cpuprofile
	http     *http.Client
	phone    sandbox.Phone
	progress func(string, ...any)
	lat      *latencies
	errs     sync.Map // "endpoint status" → *atomic.Int64
	seq      atomic.Int64
	samples  sync.Map // branch → order ID, one per branch for its history length
}

// benchPayee is one payee with one funded order, ready to tap.
type benchPayee struct {
	openid, order string
	face          bool
}

func newBencher(sys System, o Options, progress func(string, ...any)) *bencher {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = o.Concurrency * 2
	return &bencher{sys: sys, o: o, http: &http.Client{Transport: tr, Timeout: time.Minute}, phone: sandbox.Phone{BaseURL: sys.SandboxURL},
		progress: progress, lat: newLatencies(), profile: cpuProfile{path: o.CPUProfile}}
}

// seed onboards the next payee with a funded order (System.Seed).
func (b *bencher) seed(ctx context.Context, face bool) (benchPayee, error) {
	i := int(b.seq.Add(1))
	p := benchPayee{openid: fmt.Sprintf("o_bench_%d", i), face: face}
	var err error
	p.order, err = b.sys.Seed(ctx, i, p.openid, face)
	return p, err
}

// isFace spreads face receipts evenly through the run at the configured share.
func (b *bencher) isFace(i int) bool {
	share := b.o.FaceShare
	return share > 0 && int(float64(i+1)*share) > int(float64(i)*share)
}

// run measures --count receipts (or as many as --duration allows), --concurrency at a time, and the reference
// when asked. With a count, the two take turns (--rounds): each round drives its share of the receipts, then the
// same number of reference flows, so a machine whose speed drifts during the run weighs on both alike. With a
// duration, the reference takes one turn after the receipts.
func (b *bencher) run(ctx context.Context) (Result, error) {
	var ref *reference
	if b.o.Reference {
		var err error
		if ref, err = startReference(b.sys.HostPort, b.sys.Namespace, b.o.RefProfile); err != nil {
			return Result{}, fmt.Errorf("reference: %w", err)
		}
		defer ref.close()
	}
	var m measured
	rounds := 1
	var err error
	if b.o.Duration > 0 {
		if m, err = b.runFor(ctx); err == nil && ref != nil {
			err = ref.turn(ctx, b, max(m.paid, 50))
		}
	} else {
		m, rounds, err = b.runRounds(ctx, ref)
	}
	if err != nil {
		return Result{}, err
	}
	res := b.result(m)
	if ref != nil {
		res.Reference = ref.result(rounds)
	}
	if err := b.writeProfiles(ref); err != nil {
		return Result{}, err
	}
	res.HistoryEvents = b.historyEvents(ctx)
	return res, nil
}

// runRounds seeds --count payees before the clock starts (the measurement holds only what payees do), then
// drives them in rounds, each followed by the reference's turn when there is a reference.
func (b *bencher) runRounds(ctx context.Context, ref *reference) (m measured, rounds int, err error) {
	b.progress("seeding %d payees", b.o.Count)
	payees := make([]benchPayee, b.o.Count)
	for i := range payees {
		if payees[i], err = b.seed(ctx, b.isFace(i)); err != nil {
			return m, 0, err
		}
	}
	rounds = min(max(b.o.Rounds, 1), b.o.Count)
	if ref == nil {
		rounds = 1
	}
	for r := range rounds {
		chunk := payees[r*len(payees)/rounds : (r+1)*len(payees)/rounds]
		b.progress("round %d of %d: %d receipts, %d at a time", r+1, rounds, len(chunk), b.o.Concurrency)
		queue := make(chan benchPayee, len(chunk))
		for _, p := range chunk {
			queue <- p
		}
		close(queue)
		if err := b.drive(ctx, queue, &m); err != nil {
			return m, 0, err
		}
		if ref != nil {
			if err := ref.turn(ctx, b, len(chunk)); err != nil {
				return m, 0, err
			}
		}
	}
	return m, rounds, nil
}

// runFor drives new payees until --duration has passed, seeded as they go (the producer stays a little ahead).
func (b *bencher) runFor(ctx context.Context) (measured, error) {
	payees := make(chan benchPayee, b.o.Concurrency*4)
	seedErr := make(chan error, 1)
	deadline := time.Now().Add(b.o.Duration)
	go func() {
		defer close(payees)
		for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
			p, err := b.seed(ctx, b.isFace(i))
			if err != nil {
				seedErr <- err
				return
			}
			payees <- p
		}
	}()
	var m measured
	if err := b.drive(ctx, payees, &m); err != nil {
		return m, err
	}
	select {
	case err := <-seedErr:
		return m, err
	default:
	}
	return m, nil
}

// measured adds up the turns receipts were driven in.
type measured struct {
	paid, failed int
	elapsed      time.Duration
	cpu          float64
}

// drive runs the payees from queue, --concurrency at a time, adding to m what it took (under --cpuprofile, in
// the profile).
func (b *bencher) drive(ctx context.Context, queue <-chan benchPayee, m *measured) error {
	stopProfile, err := b.profile.start()
	if err != nil {
		return err
	}
	cpu0, start := cpuSeconds(), time.Now()
	var paid, failed atomic.Int64
	var wg sync.WaitGroup
	stopProgress := b.reportProgress(&paid, &failed)
	for w := 0; w < b.o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range queue {
				if err := b.receipt(ctx, p); err != nil {
					failed.Add(1)
					b.progress("%s: %v", p.order, err)
					continue
				}
				paid.Add(1)
			}
		}()
	}
	wg.Wait()
	stopProgress()
	m.elapsed += time.Since(start)
	m.cpu += cpuSeconds() - cpu0
	m.paid += int(paid.Load())
	m.failed += int(failed.Load())
	return stopProfile()
}

// reportProgress prints a line on stderr every few seconds until the returned function is called.
func (b *bencher) reportProgress(paid, failed *atomic.Int64) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				b.progress("%d paid, %d failed", paid.Load(), failed.Load())
			}
		}
	}()
	return func() { close(done) }
}

// receipt is one payee's whole 确认收款: session, tap, face (when asked), confirm, WeChat Pay's confirm page.
func (b *bencher) receipt(ctx context.Context, p benchPayee) error {
	token, err := b.session(ctx, p.openid)
	if err != nil {
		return err
	}
	var v workflows.View
	if err := b.call(ctx, "tap", "/v1/receipts/"+p.order, token, nil, &v); err != nil {
		return err
	}
	if v.State == workflows.StateFaceRequired {
		if err := b.face(ctx, p, token); err != nil {
			return err
		}
	}
	if err := b.call(ctx, "confirm", "/v1/receipts/"+p.order+"/confirm", token, nil, &v); err != nil {
		return err
	}
	return b.finish(ctx, p, token, v)
}

func (b *bencher) session(ctx context.Context, openid string) (string, error) {
	code, err := b.phone.Login(ctx, openid)
	if err != nil {
		return "", err
	}
	var s struct{ Token string }
	err = b.call(ctx, "session", "/v1/session", "", map[string]string{"code": code}, &s)
	return s.Token, err
}

// face asks for a credential, plays the phone's scan and hands the result to the server's second check.
func (b *bencher) face(ctx context.Context, p benchPayee, token string) error {
	var cred struct {
		VerifyID  string `json:"verifyId"`
		UserIDKey string `json:"userIdKey"`
	}
	if err := b.call(ctx, "face/session", "/v1/receipts/"+p.order+"/face/session", token, nil, &cred); err != nil {
		return err
	}
	submit := map[string]string{}
	if b.o.FaceMode == "v1" {
		scan, err := b.phone.ScanV1(ctx, cred.UserIDKey, p.openid, sandbox.OutcomePass)
		if err != nil {
			return err
		}
		submit["verifyResult"] = scan.VerifyResult
	} else {
		if _, err := b.phone.VerifyV2(ctx, cred.VerifyID, sandbox.OutcomePass); err != nil {
			return err
		}
		submit["verifyId"] = cred.VerifyID
	}
	var res struct {
		Passed bool   `json:"passed"`
		ErrMsg string `json:"errmsg"`
	}
	if err := b.call(ctx, "face/result", "/v1/receipts/"+p.order+"/face/result", token, submit, &res); err != nil {
		return err
	}
	if !res.Passed {
		return fmt.Errorf("face verification did not pass: %s", res.ErrMsg)
	}
	return nil
}

// finish takes the receipt from the confirm's answer to PAID: on WeChat Pay the payee accepts on the confirm page
// and the page reports back, as the mini-program does.
func (b *bencher) finish(ctx context.Context, p benchPayee, token string, v workflows.View) error {
	if v.State == workflows.StateAwaitingTransferConfirm && v.Payout != nil && v.Payout.Confirm != nil {
		c := v.Payout.Confirm
		res, err := b.phone.ConfirmTransfer(ctx, sandbox.TransferConfirm{MchID: c.MchID, AppID: c.AppID, Package: c.Package}, "accept", "", "normal")
		if err != nil {
			return err
		}
		if !res.OK() {
			return fmt.Errorf("confirm page: %s", res.ErrMsg)
		}
		if err := b.call(ctx, "transfer/confirmed", "/v1/receipts/"+p.order+"/transfer/confirmed", token, nil, &v); err != nil {
			return err
		}
	}
	for deadline := time.Now().Add(time.Minute); v.State != workflows.StatePaid; {
		if v.State.Final() || time.Now().After(deadline) {
			return fmt.Errorf("ended %s", v.State)
		}
		time.Sleep(100 * time.Millisecond)
		if err := b.get(ctx, "view", "/v1/receipts/"+p.order, token, &v); err != nil {
			return err
		}
	}
	branch := "low risk"
	if p.face {
		branch = "face"
	}
	b.samples.LoadOrStore(branch+", "+b.o.Channel, p.order)
	return nil
}

// call POSTs body as JSON and records the latency under endpoint; any answer but 200 is an error.
func (b *bencher) call(ctx context.Context, endpoint, path, token string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.sys.APIURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return b.do(req, endpoint, token, out)
}

func (b *bencher) get(ctx context.Context, endpoint, path, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.sys.APIURL+path, nil)
	if err != nil {
		return err
	}
	return b.do(req, endpoint, token, out)
}

func (b *bencher) do(req *http.Request, endpoint, token string, out any) error {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := b.http.Do(req)
	if err != nil {
		b.countError(endpoint, "transport")
		return fmt.Errorf("%s: %w", endpoint, err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.lat.add(endpoint, time.Since(start))
	if err != nil || resp.StatusCode != http.StatusOK {
		b.countError(endpoint, strconv.Itoa(resp.StatusCode))
		return fmt.Errorf("%s: %d %s", endpoint, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

func (b *bencher) countError(endpoint, status string) {
	n, _ := b.errs.LoadOrStore(endpoint+" "+status, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
}

// park starts --park face receipts and leaves them at the face step, measures the process and the server's
// database with them parked, then finishes them all.
func (b *bencher) park(ctx context.Context) (Result, error) {
	n := b.o.Park
	b.progress("seeding %d payees", n)
	payees := make([]benchPayee, n)
	for i := range payees {
		p, err := b.seed(ctx, true)
		if err != nil {
			return Result{}, err
		}
		payees[i] = p
	}
	tokens := make([]string, n)
	var parked, failed atomic.Int64
	start := time.Now()
	b.progress("parking %d receipts at the face step, %d at a time", n, b.o.Concurrency)
	stop := b.reportProgress(&parked, &failed)
	b.each(n, func(i int) {
		token, err := b.session(ctx, payees[i].openid)
		var v workflows.View
		if err == nil {
			err = b.call(ctx, "tap", "/v1/receipts/"+payees[i].order, token, nil, &v)
		}
		if err == nil && v.State != workflows.StateFaceRequired {
			err = fmt.Errorf("tap answered %s, want FACE_REQUIRED", v.State)
		}
		if err != nil {
			failed.Add(1)
			b.progress("%s: %v", payees[i].order, err)
			return
		}
		tokens[i] = token
		parked.Add(1)
	})
	stop()
	park := &parkResult{Parked: int(parked.Load()), ParkSeconds: time.Since(start).Seconds()}
	if b.o.MemProfile != "" {
		if err := writeHeapProfile(b.o.MemProfile); err != nil {
			return Result{}, err
		}
	}
	memoryNow(&park.RSSParkedMiB)
	park.TemporalDBMiB = float64(dirSize(b.sys.DataDir, "temporal.db")) / (1 << 20)
	park.StoreDBMiB = float64(dirSize(b.sys.DataDir, "receiptflow.db")) / (1 << 20)
	b.progress("%d parked: RSS %.0f MiB, Temporal's SQLite %.0f MiB; finishing them", park.Parked, park.RSSParkedMiB, park.TemporalDBMiB)

	var paid atomic.Int64
	failed.Store(0)
	start, cpu0 := time.Now(), cpuSeconds()
	stop = b.reportProgress(&paid, &failed)
	b.each(n, func(i int) {
		if tokens[i] == "" {
			return
		}
		p := payees[i]
		var v workflows.View
		err := b.face(ctx, p, tokens[i])
		if err == nil {
			err = b.call(ctx, "confirm", "/v1/receipts/"+p.order+"/confirm", tokens[i], nil, &v)
		}
		if err == nil {
			err = b.finish(ctx, p, tokens[i], v)
		}
		if err != nil {
			failed.Add(1)
			b.progress("%s: %v", p.order, err)
			return
		}
		paid.Add(1)
	})
	stop()
	elapsed := time.Since(start)
	park.FinishSeconds = elapsed.Seconds()
	park.Paid = int(paid.Load())
	res := b.result(measured{paid: park.Paid, failed: n - park.Paid, elapsed: elapsed, cpu: cpuSeconds() - cpu0})
	res.Park = park
	res.HistoryEvents = b.historyEvents(ctx)
	return res, nil
}

// each calls f for 0..n-1, --concurrency at a time.
func (b *bencher) each(n int, f func(int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < b.o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// historyEvents counts the events of one finished run per branch.
func (b *bencher) historyEvents(ctx context.Context) map[string]int {
	out := map[string]int{}
	b.samples.Range(func(k, v any) bool {
		it := b.sys.Temporal.GetWorkflowHistory(ctx, workflows.WorkflowID(v.(string)), "", false, 0)
		n := 0
		for it.HasNext() {
			if _, err := it.Next(); err != nil {
				return true
			}
			n++
		}
		out[k.(string)] = n
		return true
	})
	return out
}

func (b *bencher) result(m measured) Result {
	res := Result{Receipts: m.paid, Failed: m.failed, Seconds: m.elapsed.Seconds(), CPUSeconds: m.cpu,
		ReceiptsPerSecond: float64(m.paid) / m.elapsed.Seconds(), Endpoints: b.lat.summary(), Errors: map[string]int64{}}
	b.errs.Range(func(k, v any) bool {
		res.Errors[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	memoryNow(&res.RSSMiB)
	return res
}

// cpuSeconds is the CPU time (user and system) this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// memoryNow reads the process's resident set size (VmRSS) in MiB.
func memoryNow(mib *float64) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			*mib = kb / 1024
		}
	}
}

// cpuProfile gathers one side's CPU profile (the receipts', the reference's) into one file: the sides take turns,
// so each turn is profiled on its own and the turns merged at the end.
type cpuProfile struct {
	path  string
	turns []*profile.Profile
}

// start profiles until the returned stop is called. Without a path it does nothing.
func (p *cpuProfile) start() (stop func() error, err error) {
	if p.path == "" {
		return func() error { return nil }, nil
	}
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		turn, err := profile.Parse(&buf)
		if err == nil {
			p.turns = append(p.turns, turn)
		}
		return err
	}, nil
}

// write merges the turns into the profile's file.
func (p *cpuProfile) write() error {
	if p.path == "" || len(p.turns) == 0 {
		return nil
	}
	merged, err := profile.Merge(p.turns)
	if err != nil {
		return err
	}
	f, err := os.Create(p.path)
	if err != nil {
		return err
	}
	if err := merged.Write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeProfiles writes the receipts' profile and, when it ran, the reference's.
func (b *bencher) writeProfiles(ref *reference) error {
	if err := b.profile.write(); err != nil {
		return err
	}
	if ref != nil {
		return ref.profile.write()
	}
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}
