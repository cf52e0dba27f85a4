package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/receiptflow/receiptflow/api"
	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/workflows"
)

const (
	topoPayer = "topo-payer"
	// topoPayees each receive two orders: the first asks for face verification (their typed-in identity is not
	// bound yet), the second is low risk (the first bound it); then one more in each throughput phase. Amounts stay
	// under the risk rules' lines for a day (2,000 元 in all, 5 payouts), so low risk stays low.
	topoPayees = 40
)

// topoGross is each order's amount, by its place in the payee's day.
var topoGross = []int64{80000, 50000, 20000, 20000}

var topoAccount = map[string]string{"name": "示例科技有限公司", "number": "6222020200112233445"}

// The production topology under faults: 2 APIs and 2 workers on PostgreSQL and a Temporal cluster built from the
// pinned module. Receipts (face and low risk, WeChat Pay) go through both APIs alternately while a worker is
// SIGKILLed and restarted, Temporal is stopped for 20 s, and an API restarts; then every order is PAID with exactly
// one successful bill, the ledger balances per payee and month, and the search attributes answer from PostgreSQL
// visibility. Last, throughput with 2 workers and with 1.
func TestTopology(t *testing.T) {
	if os.Getenv("RECEIPTFLOW_TOPOLOGY") == "" {
		t.Skip("starts PostgreSQL, Temporal and six processes: set RECEIPTFLOW_TOPOLOGY=1 (.ci/run does)")
	}
	tp := up(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	secret := tp.registerPayer(ctx)
	payees := make([]*topoPayee, topoPayees)
	for i := range payees {
		payees[i] = tp.onboard(ctx, i)
		for range 2 {
			tp.order(ctx, secret, payees[i])
		}
	}
	spare := tp.onboard(ctx, topoPayees)
	spareOrder := tp.order(ctx, secret, spare)
	t.Logf("%d payees onboarded, %d orders funded", topoPayees, 2*topoPayees)

	// Payees start one a second, so receipts are in flight through every fault below.
	var wg sync.WaitGroup
	var failures sync.Map
	type paidOrder struct {
		payee *topoPayee
		order string
	}
	paid := make(chan paidOrder, 2*topoPayees)
	for i, p := range payees {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Second)
			for _, order := range p.orders {
				if err := tp.receipt(ctx, p, order); err != nil {
					failures.Store(order, err)
					return
				}
				paid <- paidOrder{p, order}
			}
		}()
	}

	time.Sleep(3 * time.Second)
	t.Log("SIGKILL worker1, restart it 2 s later")
	tp.script("kill", "worker1")
	time.Sleep(2 * time.Second)
	tp.script("start", "worker1")

	var first paidOrder
	select {
	case first = <-paid:
	case <-time.After(60 * time.Second):
		t.Fatal("no receipt was paid within a minute")
	}
	time.Sleep(3 * time.Second)
	t.Log("stopping Temporal for 20 s")
	tp.script("stop", "temporal")
	outage := time.Now()
	tp.duringOutage(ctx, spare, spareOrder, first.payee, first.order)
	time.Sleep(time.Until(outage.Add(20 * time.Second)))
	tp.script("start", "temporal")
	tp.waitReady(ctx, tp.apis[0], 90*time.Second)
	t.Logf("Temporal back after %s", time.Since(outage).Round(time.Second))

	t.Log("restarting api1 (the one WeChat Pay calls back)")
	tp.script("restart", "api1")
	tp.waitReady(ctx, tp.apis[0], 60*time.Second)

	wg.Wait()
	failures.Range(func(order, err any) bool {
		t.Errorf("order %s: %v", order, err)
		return true
	})
	if t.Failed() {
		t.FailNow()
	}
	tp.assertSettled(ctx, secret, payees)
	tp.assertNo500(t)
	tp.assertFaceSessions(topoPayees)

	// Throughput: low-risk receipts (every identity is bound now), 8 at a time, with both workers, then one.
	rate2 := tp.throughput(ctx, secret, payees)
	tp.script("stop", "worker2")
	rate1 := tp.throughput(ctx, secret, payees)
	tp.assertFaceSessions(topoPayees)
	t.Logf("THROUGHPUT on PostgreSQL, WeChat Pay, low risk, %d concurrent: 2 workers %.1f receipts/s, 1 worker %.1f receipts/s", throughputConcurrency, rate2, rate1)
	tp.assertNo500(t)
}

type topology struct {
	t        *testing.T
	dir      string
	env      map[string]string
	apis     []string
	next     atomic.Int64
	phone    sandbox.Phone
	http     *http.Client
	mu       sync.Mutex
	statuses map[string]int // "endpoint status" → count, every answer the payees and merchant got
}

type topoPayee struct {
	i      int
	openid string
	token  string
	orders []string
}

// up starts the topology with deploy/local/run in a fresh directory and stops it when the test ends.
func up(t *testing.T) *topology {
	dir, err := os.MkdirTemp("", "receiptflow-topology-")
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL runs as the postgres user when the test runs as root: it must reach its data directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tp := &topology{t: t, dir: dir, statuses: map[string]int{},
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	t.Cleanup(func() {
		tp.script("down")
		if t.Failed() {
			t.Logf("logs kept in %s/logs", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	start := time.Now()
	tp.script("up", "--workers", "2", "--apis", "2", "--detach")
	t.Logf("topology up in %s", time.Since(start).Round(time.Second))
	tp.env = readEnv(t, filepath.Join(dir, "topology.env"))
	tp.apis = []string{tp.env["API1_URL"], tp.env["API2_URL"]}
	tp.phone = sandbox.Phone{BaseURL: tp.env["SANDBOX_URL"]}
	return tp
}

// script runs deploy/local/run ACTION [NAME] on this topology's directory; its output goes to DIR/run.log.
func (tp *topology) script(args ...string) {
	tp.t.Helper()
	args = append(args, "--dir", tp.dir)
	out, err := os.OpenFile(filepath.Join(tp.dir, "run.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		tp.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("./run", args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		raw, _ := os.ReadFile(filepath.Join(tp.dir, "run.log"))
		tp.t.Fatalf("deploy/local/run %s: %v\n%s", strings.Join(args, " "), err, raw)
	}
}

func readEnv(t *testing.T, path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

// answer is one HTTP exchange as the caller saw it.
type answer struct {
	status  int
	body    []byte
	header  http.Header
	elapsed time.Duration
}

// send is one request to base, counted under endpoint.
func (tp *topology) send(ctx context.Context, base, endpoint, method, path string, header map[string]string, body []byte) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := tp.http.Do(req)
	if err != nil {
		tp.count(endpoint, "transport")
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	tp.count(endpoint, strconv.Itoa(resp.StatusCode))
	return answer{status: resp.StatusCode, body: raw, header: resp.Header, elapsed: time.Since(start)}, err
}

func (tp *topology) count(endpoint, status string) {
	tp.mu.Lock()
	tp.statuses[endpoint+" "+status]++
	tp.mu.Unlock()
}

// call is what a mini-program does: a request to the next API in turn, tried again on 502/503/504 or a broken
// connection (after Retry-After, at most a second) until ctx ends. out is filled from a 200 or 202 answer.
func (tp *topology) call(ctx context.Context, endpoint, method, path, token string, body, out any) (int, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	header := map[string]string{}
	if token != "" {
		header["Authorization"] = "Bearer " + token
	}
	for {
		base := tp.apis[tp.next.Add(1)%int64(len(tp.apis))]
		a, err := tp.send(ctx, base, endpoint, method, path, header, raw)
		if err == nil && a.status != http.StatusBadGateway && a.status != http.StatusServiceUnavailable && a.status != http.StatusGatewayTimeout {
			if (a.status == http.StatusOK || a.status == http.StatusAccepted || a.status == http.StatusCreated) && out != nil {
				if err := json.Unmarshal(a.body, out); err != nil {
					return a.status, fmt.Errorf("%s: %d, not JSON: %s", endpoint, a.status, a.body)
				}
			}
			if a.status >= 300 {
				return a.status, fmt.Errorf("%s: %d %s", endpoint, a.status, a.body)
			}
			return a.status, nil
		}
		wait := 300 * time.Millisecond
		if s, _ := strconv.Atoi(a.header.Get("Retry-After")); s > 0 {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return a.status, fmt.Errorf("%s: gave up: %v (last %d %s)", endpoint, ctx.Err(), a.status, a.body)
		case <-time.After(wait):
		}
	}
}

// merchant is a request signed as the topology's payer.
func (tp *topology) merchant(ctx context.Context, secret, method, path, idemKey string, body, out any) error {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	header := map[string]string{api.HeaderPayer: topoPayer, api.HeaderTimestamp: ts, api.HeaderNonce: hex.EncodeToString(nonce),
		api.HeaderSignature: api.SignMerchantRequest(secret, method, path, ts, hex.EncodeToString(nonce), raw)}
	if idemKey != "" {
		header["Idempotency-Key"] = idemKey
	}
	a, err := tp.send(ctx, tp.apis[0], "merchant", method, path, header, raw)
	if err != nil {
		return err
	}
	if a.status != http.StatusOK && a.status != http.StatusCreated {
		return fmt.Errorf("merchant %s %s: %d %s", method, path, a.status, a.body)
	}
	return json.Unmarshal(a.body, out)
}

// registerPayer creates the payer through the ops route and returns its signing secret.
func (tp *topology) registerPayer(ctx context.Context) string {
	var created struct{ Secret string }
	_, err := tp.call(ctx, "ops", http.MethodPut, "/v1/ops/payers/"+topoPayer, tp.env["OPERATOR_TOKEN"],
		map[string]any{"name": topoAccount["name"], "account": topoAccount}, &created)
	if err != nil || created.Secret == "" {
		tp.t.Fatalf("registering the payer: %v", err)
	}
	return created.Secret
}

// onboard is a new payee on the mini-program: wx.login, a session, real name, the agreement with the payer.
func (tp *topology) onboard(ctx context.Context, i int) *topoPayee {
	p := &topoPayee{i: i, openid: fmt.Sprintf("o_topo_%d", i)}
	code, err := tp.phone.Login(ctx, p.openid)
	if err != nil {
		tp.t.Fatal(err)
	}
	var s struct{ Token string }
	if _, err := tp.call(ctx, "session", http.MethodPost, "/v1/session", "", map[string]string{"code": code}, &s); err != nil {
		tp.t.Fatal(err)
	}
	p.token = s.Token
	id := pii.WithCheckDigit(fmt.Sprintf("1101011990%04d%03d", 101+i/1000, i%1000))
	if _, err := tp.call(ctx, "identity", http.MethodPost, "/v1/me/identity", p.token, map[string]string{"name": "李四", "idNumber": id}, nil); err != nil {
		tp.t.Fatal(err)
	}
	if _, err := tp.call(ctx, "agreement", http.MethodPost, "/v1/me/agreements/"+topoPayer, p.token, nil, nil); err != nil {
		tp.t.Fatal(err)
	}
	return p
}

// order adds the merchant's next payout order for p, funded from the payer's registered account.
func (tp *topology) order(ctx context.Context, secret string, p *topoPayee) string {
	no := fmt.Sprintf("TOPO-%d-%d-%d", p.i, len(p.orders), time.Now().UnixNano())
	gross := topoGross[len(p.orders)]
	var o store.Order
	err := tp.merchant(ctx, secret, http.MethodPost, "/v1/merchant/orders", "idem-"+no,
		map[string]any{"merchantOrderNo": no, "payeeOpenId": p.openid, "serviceItem": "delivery", "description": "配送服务费", "grossFen": gross}, &o)
	if err != nil {
		tp.t.Fatal(err)
	}
	p.orders = append(p.orders, o.ID)
	funding := map[string]any{"amountFen": gross, "reference": "BANK-" + no, "remitter": map[string]string{"name": topoAccount["name"], "account": topoAccount["number"]}}
	if _, err := tp.call(ctx, "ops", http.MethodPost, "/v1/ops/orders/"+o.ID+"/funding", tp.env["OPERATOR_TOKEN"], funding, nil); err != nil {
		tp.t.Fatal(err)
	}
	return o.ID
}

// receipt is the payee's whole 确认收款 for one order, reading the view after every step as the page does.
func (tp *topology) receipt(ctx context.Context, p *topoPayee, order string) error {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	path := "/v1/receipts/" + order
	var v workflows.View
	if _, err := tp.call(ctx, "tap", http.MethodPost, path, p.token, nil, &v); err != nil {
		return err
	}
	confirmedPackage := ""
	for {
		var err error
		switch {
		case v.State == workflows.StatePaid:
			return nil
		case v.State.Final():
			return fmt.Errorf("ended %s: %+v", v.State, v.Reasons)
		case v.State == workflows.StateFaceRequired:
			err = tp.face(ctx, p, order)
		case v.State == workflows.StateAwaitingConfirmation:
			_, err = tp.call(ctx, "confirm", http.MethodPost, path+"/confirm", p.token, nil, nil)
		case v.State == workflows.StateAwaitingTransferConfirm && v.Payout != nil && v.Payout.Confirm != nil:
			// The confirm page once per bill; the page's report after it (again, if the view still waits).
			c := v.Payout.Confirm
			if c.Package != confirmedPackage {
				res, perr := tp.phone.ConfirmTransfer(ctx, sandbox.TransferConfirm{MchID: c.MchID, AppID: c.AppID, Package: c.Package}, "accept", "", "normal")
				if perr != nil || !res.OK() {
					return fmt.Errorf("confirm page: %v %s", perr, res.ErrMsg)
				}
				confirmedPackage = c.Package
			}
			_, err = tp.call(ctx, "transfer/confirmed", http.MethodPost, path+"/transfer/confirmed", p.token, nil, nil)
		}
		// A step the run no longer waits for (409) is read again from the view; anything else is wrong.
		if err != nil && !strings.Contains(err.Error(), ": 409 ") {
			return err
		}
		time.Sleep(150 * time.Millisecond)
		if _, err := tp.call(ctx, "view", http.MethodGet, path, p.token, nil, &v); err != nil {
			return err
		}
	}
}

// face asks for a credential, plays the phone's scan and hands the result to the server's second check.
func (tp *topology) face(ctx context.Context, p *topoPayee, order string) error {
	var cred struct {
		VerifyID string `json:"verifyId"`
	}
	path := "/v1/receipts/" + order + "/face"
	if _, err := tp.call(ctx, "face/session", http.MethodPost, path+"/session", p.token, nil, &cred); err != nil {
		return err
	}
	if res, err := tp.phone.VerifyV2(ctx, cred.VerifyID, sandbox.OutcomePass); err != nil || !res.OK() {
		return fmt.Errorf("the phone's scan: %v %s", err, res.ErrMsg)
	}
	var res struct {
		Passed bool   `json:"passed"`
		ErrMsg string `json:"errmsg"`
	}
	if _, err := tp.call(ctx, "face/result", http.MethodPost, path+"/result", p.token, map[string]string{"verifyId": cred.VerifyID}, &res); err != nil {
		return err
	}
	if !res.Passed {
		return fmt.Errorf("face verification did not pass: %s", res.ErrMsg)
	}
	return nil
}

// duringOutage checks what callers get while Temporal is down: a tap is refused at once with a JSON problem and
// Retry-After, /readyz says not ready, and a finished order's view answers from the store.
func (tp *topology) duringOutage(ctx context.Context, spare *topoPayee, spareOrder string, owner *topoPayee, paidOrder string) {
	t := tp.t
	// The API notices within its health cache; give it a moment, then every API must refuse quickly.
	time.Sleep(2 * time.Second)
	auth := map[string]string{"Authorization": "Bearer " + spare.token}
	for _, base := range tp.apis {
		a, err := tp.send(ctx, base, "outage tap", http.MethodPost, "/v1/receipts/"+spareOrder, auth, nil)
		if err != nil {
			t.Fatalf("%s: tap during the outage: %v", base, err)
		}
		var p struct{ Code, Message string }
		_ = json.Unmarshal(a.body, &p)
		if a.status != http.StatusServiceUnavailable || p.Code == "" || p.Message == "" || a.header.Get("Retry-After") == "" || a.elapsed > 2*time.Second {
			t.Errorf("%s: tap during the outage: %d %s Retry-After %q after %s", base, a.status, a.body, a.header.Get("Retry-After"), a.elapsed)
		}
		a, err = tp.send(ctx, base, "outage readyz", http.MethodGet, "/readyz", nil, nil)
		if err != nil || a.status != http.StatusServiceUnavailable {
			t.Errorf("%s: /readyz during the outage: %d %s %v", base, a.status, a.body, err)
		}
	}
	for _, base := range tp.apis {
		a, err := tp.send(ctx, base, "outage view", http.MethodGet, "/v1/receipts/"+paidOrder,
			map[string]string{"Authorization": "Bearer " + owner.token}, nil)
		var v workflows.View
		_ = json.Unmarshal(a.body, &v)
		if err != nil || a.status != http.StatusOK || v.State != workflows.StatePaid || a.elapsed > 2*time.Second {
			t.Errorf("%s: a paid order's view during the outage: %d %s after %s %v", base, a.status, a.body, a.elapsed, err)
		}
	}
}

// waitReady waits for base's /readyz to answer 200.
func (tp *topology) waitReady(ctx context.Context, base string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if a, err := tp.send(ctx, base, "readyz", http.MethodGet, "/readyz", nil, nil); err == nil && a.status == http.StatusOK {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	tp.t.Fatalf("%s not ready after %s", base, limit)
}

// assertSettled checks the money: every order PAID, exactly one successful bill per order in the sandbox and
// none it does not know of, the ledger balanced per payee and month, and the runs searchable in PostgreSQL
// visibility by their search attributes.
func (tp *topology) assertSettled(ctx context.Context, secret string, payees []*topoPayee) {
	t := tp.t
	st, err := store.OpenSchema(ctx, tp.env["RECEIPTFLOW_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bills := tp.sandboxBills()

	type month struct{ payee, period string }
	income, withheld := map[month]int64{}, map[month]int64{}
	ourBills := 0
	for _, p := range payees {
		for _, id := range p.orders {
			var o struct {
				store.Order
				Receipt *workflows.View `json:"receipt"`
			}
			if err := tp.merchant(ctx, secret, http.MethodGet, "/v1/merchant/orders/"+id, "", nil, &o); err != nil {
				t.Fatal(err)
			}
			if o.State != store.OrderPaid || o.Receipt == nil || o.Receipt.State != workflows.StatePaid {
				t.Errorf("order %s: %s %+v", id, o.State, o.Receipt)
				continue
			}
			transfers, err := st.TransfersByOrder(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			ourBills += len(transfers)
			successes := 0
			for _, tr := range transfers {
				b, ok := bills[tr.OutBillNo]
				if ok && b.State == "SUCCESS" {
					successes++
					if b.AmountFen != o.Receipt.Amounts.NetFen {
						t.Errorf("order %s: bill %s paid %d, net is %d", id, tr.OutBillNo, b.AmountFen, o.Receipt.Amounts.NetFen)
					}
				}
			}
			if successes != 1 {
				t.Errorf("order %s: %d successful bills in the sandbox (%d bills)", id, successes, len(transfers))
			}
			m := month{o.PayeeID, tax.Period(o.UpdatedAt)}
			income[m] += o.GrossFen
			withheld[m] += o.Receipt.Amounts.TaxFen
		}
	}
	if ourBills != len(bills) {
		t.Errorf("the sandbox holds %d bills, the store knows %d", len(bills), ourBills)
	}
	for m := range income {
		paid, err := st.Payments(ctx, store.PaymentQuery{PayeeID: m.payee, Period: m.period, States: []string{store.PaymentPosted}})
		if err != nil {
			t.Fatal(err)
		}
		var in, tx int64
		for _, p := range paid {
			in += p.GrossFen
			tx += p.TaxFen
		}
		if in != income[m] || tx != withheld[m] {
			t.Errorf("books of %s in %s: income %d tax %d, the paid orders say %d / %d", m.payee, m.period, in, tx, income[m], withheld[m])
		}
	}
	if broken, err := st.CheckBooks(ctx); err != nil || len(broken) > 0 {
		t.Errorf("books after the topology run: %v %v", broken, err)
	}

	c, err := client.Dial(client.Options{HostPort: tp.env["RECEIPTFLOW_TEMPORAL_ADDRESS"], Namespace: tp.env["RECEIPTFLOW_TEMPORAL_NAMESPACE"]})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	query := fmt.Sprintf("PayerId = '%s' AND ReceiptState = 'PAID'", topoPayer)
	var n int64
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		res, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		if n = res.GetCount(); n == int64(2*topoPayees) {
			break
		}
	}
	if n != int64(2*topoPayees) {
		t.Errorf("visibility: %q counts %d, want %d", query, n, 2*topoPayees)
	}
}

// sandboxBills reads the sandbox's bills from its state files, as a restart of it would (each change is on disk
// before the answer it made is sent; a moment is left for the changes no answer waits for, a callback's outcome).
func (tp *topology) sandboxBills() map[string]sandbox.BillSnapshot {
	time.Sleep(500 * time.Millisecond)
	bills, err := sandbox.ReadBills(filepath.Join(tp.dir, "data", "sandbox", "sandbox-wechatpay.json"))
	if err != nil {
		tp.t.Fatal(err)
	}
	return bills
}

// assertFaceSessions checks the mix: only each payee's first receipt asked for face verification.
func (tp *topology) assertFaceSessions(want int) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if got := tp.statuses["face/session 200"]; got != want {
		tp.t.Errorf("%d face sessions, want %d (one per payee)", got, want)
	}
}

func (tp *topology) assertNo500(t *testing.T) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	t.Logf("answers: %v", tp.statuses)
	for k, n := range tp.statuses {
		if strings.HasSuffix(k, " 500") {
			t.Errorf("%d answers of %s", n, k)
		}
	}
}

const throughputConcurrency = 8

// throughput drives one new low-risk receipt per payee, throughputConcurrency at a time, and returns receipts per
// second.
func (tp *topology) throughput(ctx context.Context, secret string, payees []*topoPayee) float64 {
	work := make(chan *topoPayee, len(payees))
	for _, p := range payees {
		tp.order(ctx, secret, p)
		work <- p
	}
	close(work)
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range throughputConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				order := p.orders[len(p.orders)-1]
				if err := tp.receipt(ctx, p, order); err != nil {
					failed.Add(1)
					tp.t.Errorf("throughput receipt %s: %v", order, err)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		tp.t.FailNow()
	}
	return float64(len(payees)) / time.Since(start).Seconds()
}
