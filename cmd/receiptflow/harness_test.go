package main

// End-to-end tests: the real API (Gin, over HTTP), the real worker and activities, the real WeChat client
// against the sandbox over HTTP, a real store (SQLite), and one embedded Temporal server shared by the package.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/grpc"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/codec"
	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/devserver"
	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/worker"
	"github.com/receiptflow/receiptflow/workflows"
)

var (
	temporalServer *temporaltest.TestServer
	// payloadKeys is the test-only key ring the recorded histories in workflows/testdata are encrypted with,
	// so the replay tests can decode them.
	payloadKeys string
)

func TestMain(m *testing.M) {
	raw, err := os.ReadFile("../../workflows/testdata/payload-keys.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	payloadKeys = strings.TrimSpace(string(raw))
	ring, err := keyring.Parse(payloadKeys)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The same engine tuning as dev's embedded server, so the tests see the latencies dev has.
	temporalServer = temporaltest.NewServer(temporaltest.WithBaseClientOptions(client.Options{DataConverter: codec.DataConverter(ring)}),
		temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(devserver.DynamicConfig())))
	c := temporalServer.GetDefaultClient()
	if err := devserver.RegisterSearchAttributes(context.Background(), c, temporalServer.GetDefaultNamespace(), worker.SearchAttributes()); err != nil {
		fmt.Fprintln(os.Stderr, "register search attributes:", err)
		os.Exit(1)
	}
	code := m.Run()
	temporalServer.Stop()
	os.Exit(code)
}

// env is one test's world: its own store, sandbox, task queue and API; the Temporal server is shared.
type env struct {
	t      testing.TB
	cfg    config.Config
	deps   *deps
	sb     *sandbox.Sandbox
	sbURL  string
	phone  sandbox.Phone
	api    *httptest.Server
	router atomic.Pointer[http.Handler] // what api serves; a test may route it through a client of its own
	client client.Client
	dial   client.Options // the client's options, for a test that needs a connection of its own
	worker sdkworker.Worker
	adjust []func(*activities.Activities)
	books  *booksClock
}

var queueSeq atomic.Int64

// newEnv builds a test's world; adjust changes the activities the worker runs (a failing payout channel, say).
func newEnv(t testing.TB, configure func(*config.Config), adjust ...func(*activities.Activities)) *env {
	return newEnvWithFaults(t, sandbox.Faults{}, configure, adjust...)
}

// newEnvWithFaults is newEnv with WeChat faults injected by the sandbox.
func newEnvWithFaults(t testing.TB, faults sandbox.Faults, configure func(*config.Config), adjust ...func(*activities.Activities)) *env {
	t.Helper()
	return newWorld(t, world{faults: faults}, configure, adjust...)
}

// booksClock is the store's clock in a test: now, less an offset the test may move.
type booksClock struct{ offset atomic.Int64 }

func (c *booksClock) Now() time.Time { return time.Now().Add(-time.Duration(c.offset.Load())) }

// Set puts the clock at t (and lets it run on from there).
func (c *booksClock) Set(t time.Time) { c.offset.Store(int64(time.Since(t))) }

// lastQuarter is a clock in the quarter before this one (Beijing time), on a day every month has: a test whose
// books must be in a month and quarter that have ended (a filing, a report) runs its store on it.
func lastQuarter() *booksClock {
	now := time.Now().In(beijingTime)
	c := &booksClock{}
	c.Set(time.Date(now.Year(), now.Month()-3, min(now.Day(), 28), 12, 0, 0, 0, beijingTime))
	return c
}

var beijingTime = time.FixedZone("CST", 8*3600)

// booksNow is the time on the test's books.
func (e *env) booksNow() time.Time {
	if e.books != nil {
		return e.books.Now()
	}
	return time.Now()
}

// world is what a test changes in its world beyond configuration: WeChat's faults, the books' clock.
type world struct {
	faults sandbox.Faults
	books  *booksClock
}

func newWorld(t testing.TB, w world, configure func(*config.Config), adjust ...func(*activities.Activities)) *env {
	t.Helper()
	faults := w.faults
	var cfg config.Config
	if err := envconfig.Process("RECEIPTFLOW_E2E_UNSET", &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	cfg.Temporal.TaskQueue = fmt.Sprintf("e2e-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), queueSeq.Add(1))
	cfg.Temporal.Namespace = temporalServer.GetDefaultNamespace()
	cfg.PIIKeys, cfg.PayloadKeys, cfg.ProofKeys = keyring.Generate("pii1"), payloadKeys, keyring.Generate("proof1")
	cfg.LookupKey, cfg.SessionSecret = randomB64(32), randomB64(32)
	cfg.OperatorTokens = []string{"op-alice:" + opToken}
	cfg.UpdateWait = 20 * time.Second
	cfg.PayoutChannel = "ledger" // tests that want WeChat Pay's confirm flow say so
	if configure != nil {
		configure(&cfg)
	}
	keys := testSandboxKeys(t)
	// A fixed seed makes the injected faults the same on every run. A callback the API refuses is given up after
	// two quick retries, so no test waits for WeChat Pay's 24-hour schedule.
	sb, err := newSandbox(keys, sandbox.Options{Faults: faults, Seed: 7,
		Pay: sandbox.PayOptions{CallbackRetries: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(sbSrv.Close)
	// The API's address must be known before the WeChat Pay client (its notify_url): serve a handler set later.
	e := &env{t: t, cfg: cfg}
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := e.router.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(apiSrv.Close)
	useSandbox(&cfg, sb, keys, sbSrv.URL, apiSrv.URL)
	if cfg.WeChat.Timeout == 0 {
		cfg.WeChat.Timeout = 2 * time.Second
	}
	secrets, err := cfg.Secrets()
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	d, err := openDeps(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if w.books != nil {
		d.store.SetClock(w.books.Now)
	}
	d.webhooks.AllowLoopback = true // the tests' receivers listen on 127.0.0.1, as dev's sandbox does
	// Whatever a test did, the books it leaves keep their invariants.
	t.Cleanup(func() { e2eCheckBooks(t, d.store) })
	// The test's own client, built like the processes' (codec, metrics), on the shared server.
	opts := worker.ClientOptions(temporalServer.GetFrontendHostPort(), cfg.Temporal.Namespace, secrets.Payload, logger)
	d.tel.Apply(&opts)
	e.cfg, e.deps, e.sb, e.sbURL, e.phone, e.client = cfg, d, sb, sbSrv.URL, sandbox.Phone{BaseURL: sbSrv.URL}, temporalServer.NewClientWithOptions(opts)
	e.adjust, e.books, e.dial, e.api = adjust, w.books, opts, apiSrv
	e.startWorker()
	e.routeThrough(e.client)
	t.Cleanup(sb.Pay().Wait) // callbacks in flight finish before the servers close
	return e
}

// routeThrough serves the test's API with its Temporal calls made by c. The API's metrics after the first are
// kept on a registry of their own (a collector is registered once).
func (e *env) routeThrough(c client.Client) {
	e.t.Helper()
	d := e.deps
	if e.router.Load() != nil {
		own, tel := *e.deps, *e.deps.tel
		tel.Registry = prometheus.NewRegistry()
		own.tel = &tel
		d = &own
	}
	r, err := d.router(c, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	h := specChecked(e.t, r)
	e.router.Store(&h)
}

// routeIntercepted serves the test's API with every call it makes to Temporal shown to intercept first: an error
// intercept returns is the call's answer; nil lets the call through.
func (e *env) routeIntercepted(intercept func(method string) error) {
	e.t.Helper()
	opts := e.dial
	opts.ConnectionOptions.DialOptions = append(opts.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoke grpc.UnaryInvoker, o ...grpc.CallOption) error {
			if err := intercept(method); err != nil {
				return err
			}
			return invoke(ctx, method, req, reply, cc, o...)
		}))
	e.routeThrough(temporalServer.NewClientWithOptions(opts))
}

// counting is an intercept that counts the calls to a method of Temporal's API (DescribeWorkflowExecution, …).
func counting(method string, n *atomic.Int64) func(string) error {
	return func(called string) error {
		if strings.HasSuffix(called, "/"+method) {
			n.Add(1)
		}
		return nil
	}
}

func e2eCheckBooks(t testing.TB, s *store.Store) {
	if s.Ping(context.Background()) != nil {
		return // the test closed its store itself
	}
	broken, err := s.CheckBooks(context.Background())
	if err != nil {
		t.Errorf("books check: %v", err)
	}
	for _, b := range broken {
		t.Errorf("books: %s", b)
	}
}

var (
	sandboxKeysOnce sync.Once
	sharedKeys      sandboxKeys
	sharedKeysErr   error
)

// testSandboxKeys generates the RSA keys once for the package: each test still has its own sandbox.
func testSandboxKeys(t testing.TB) sandboxKeys {
	sandboxKeysOnce.Do(func() { sharedKeys, sharedKeysErr = generateSandboxKeys() })
	if sharedKeysErr != nil {
		t.Fatal(sharedKeysErr)
	}
	return sharedKeys
}

func (e *env) startWorker() {
	e.worker = e.startWorkerOn(e.client)
}

// startWorkerOn starts a worker of the test's task queue on c.
func (e *env) startWorkerOn(c client.Client) sdkworker.Worker {
	acts := e.deps.activities(c)
	for _, f := range e.adjust {
		f(acts)
	}
	// The production worker's options; and like temporaltest's workers, a panicking workflow fails instead of
	// retrying forever.
	opts := worker.Options(e.deps.secrets.Proofs)
	opts.WorkflowPanicPolicy = sdkworker.FailWorkflow
	w := sdkworker.New(c, e.cfg.Temporal.TaskQueue, opts)
	worker.Register(w, acts)
	if err := w.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Stop)
	return w
}

// testPayerAccount is the shared test payer's registered settlement account, where its funds come from.
var testPayerAccount = store.Account{Name: "示例科技有限公司", Number: "6222020200112233445"}

// payee onboards a returning payee — identity registered and bound by an earlier face verification, agreement
// signed — with an order from the shared test payer, funded from its account, and returns the order ID.
func (e *env) payee(openid, name, idNumber string, grossFen int64) string {
	e.t.Helper()
	order := e.newcomer(openid, name, idNumber, grossFen)
	p, err := e.deps.store.PayeeByOpenID(context.Background(), openid)
	if err == nil {
		err = e.deps.store.MarkFaceVerified(context.Background(), p.ID)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return order
}

// newcomer is payee for someone whose typed-in identity no face verification has bound yet.
func (e *env) newcomer(openid, name, idNumber string, grossFen int64) string {
	e.t.Helper()
	ctx := context.Background()
	st := e.deps.store
	if err := st.PutPayer(ctx, store.Payer{ID: "payer1", Name: "示例科技有限公司", Secret: "merchant-secret-0123456789", Account: testPayerAccount}); err != nil {
		e.t.Fatal(err)
	}
	p, err := st.VerifyIdentity(ctx, openid, name, idNumber, "")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := st.SignAgreement(ctx, "payer1", p.ID); err != nil {
		e.t.Fatal(err)
	}
	o, _, err := st.CreateOrder(ctx, store.NewOrder{PayerID: "payer1", PayeeOpenID: openid, MerchantOrderNo: store.NewID("m"),
		ServiceItem: "delivery", Description: "配送服务费", GrossFen: grossFen})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := st.RecordFunding(ctx, store.Funding{OrderID: o.ID, PayerID: "payer1", AmountFen: grossFen, Reference: "bank-" + o.ID, Remitter: testPayerAccount}); err != nil {
		e.t.Fatal(err)
	}
	return o.ID
}

// login plays wx.login on the phone and opens a session.
func (e *env) login(openid string) string {
	e.t.Helper()
	code, err := e.phone.Login(context.Background(), openid)
	if err != nil {
		e.t.Fatal(err)
	}
	var out struct{ Token string }
	e.must(e.call(http.MethodPost, "/v1/session", "", map[string]string{"code": code}, &out), http.StatusOK)
	return out.Token
}

type response struct {
	status int
	body   []byte
}

// call sends a JSON request; body may be nil, a string (sent raw) or a value to encode.
func (e *env) call(method, path, token string, body, out any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.api.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %d, body not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return response{status: resp.StatusCode, body: raw}
}

func (e *env) must(r response, status int) response {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// problem asserts an error answer: status and the {code, message} body.
func (e *env) problem(r response, status int, code string) {
	e.t.Helper()
	var p struct{ Code, Message string }
	if err := json.Unmarshal(r.body, &p); err != nil || r.status != status || p.Code != code || p.Message == "" {
		e.t.Fatalf("got %d %s, want %d with code %s and a message", r.status, r.body, status, code)
	}
}

// transferConfirm is what the page passes to wx.requestMerchantTransfer: the view's payout.confirm.
func transferConfirm(v workflows.View) sandbox.TransferConfirm {
	if v.Payout == nil || v.Payout.Confirm == nil {
		return sandbox.TransferConfirm{}
	}
	c := v.Payout.Confirm
	return sandbox.TransferConfirm{MchID: c.MchID, AppID: c.AppID, Package: c.Package}
}

// payeeConfirms plays the payee on WeChat's confirm page, with nothing but what the view gave the page.
func (e *env) payeeConfirms(v workflows.View, action, callback string) sandbox.PhoneResult {
	e.t.Helper()
	res, err := e.phone.ConfirmTransfer(context.Background(), transferConfirm(v), action, "", callback)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}
