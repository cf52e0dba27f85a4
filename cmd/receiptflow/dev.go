//go:build !nodev

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.temporal.io/sdk/client"

	"github.com/receiptflow/receiptflow/api"
	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/devserver"
	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/webhook"
	"github.com/receiptflow/receiptflow/worker"
	"github.com/receiptflow/receiptflow/workflows"
)

// devSettings are the variables only dev reads (RECEIPTFLOW_SANDBOX_*): the sandbox is never part of the api
// or worker commands.
type devSettings struct {
	SandboxPort     int            `envconfig:"SANDBOX_PORT" default:"8090" desc:"dev: port of the WeChat and WeChat Pay sandbox"`
	SandboxFaults   sandbox.Faults `envconfig:"SANDBOX_FAULT"`
	SandboxTokenTTL time.Duration  `envconfig:"SANDBOX_TOKEN_TTL" desc:"dev: how long the sandbox's access tokens really live (short: exercise 40001)"`

	apiLimits api.Limits // the bench's: one client IP plays every payee (zero: the API's defaults)
}

func loadDevSettings() (devSettings, error) {
	var s devSettings
	return s, envconfig.Process(config.Prefix, &s)
}

// runDev starts everything in one process: the WeChat sandbox, the store with demo data, an embedded Temporal
// server and Web UI, the worker and the API. Ctrl-C stops it; starting again resumes runs in flight.
func runDev(ctx context.Context, cfg config.Config, dev devSettings, logger *slog.Logger, out io.Writer) error {
	if _, set := os.LookupEnv(config.Prefix + "_RECEIPT_POLL_INTERVAL"); !set {
		// The sandbox has a receipt made by the second query; WeChat Pay's 2 minutes would only make dev wait.
		cfg.ReceiptPollInterval = 3 * time.Second
	}
	if _, set := os.LookupEnv(config.Prefix + "_STOP_GRACE"); !set {
		cfg.StopGrace = 250 * time.Millisecond // Ctrl-C in a terminal: its steps are retried after a restart
	}
	s, err := startStack(ctx, cfg, dev, logger, true)
	if err != nil {
		return err
	}
	defer s.close()
	if err := seedDemo(ctx, s.deps.store, s.keys.MerchantSecret); err != nil {
		return fmt.Errorf("demo data: %w", err)
	}
	if err := s.demoWebhook(ctx); err != nil {
		return fmt.Errorf("demo webhook: %w", err)
	}
	s.sb.SetRiskRank(demoHighOpenID, 3)
	printDevSummary(out, s.cfg, s.apiURL, s.sandboxURL, s.srv, s.keys)
	err = s.serve(ctx)
	fmt.Fprintln(out, "\nstopping receiptflow dev…")
	return err
}

// devMemoryLimit is dev's (and bench's) soft memory limit where GOMEMLIMIT sets none. One process holds the
// Temporal server, the worker and the API, and without a limit the collector lets the heap grow to twice what is
// live before it runs (GOGC=100): 10,000 parked runs, 126 MiB of live heap, held 518 MiB RSS. Soft: a heap that
// needs more gets it, the collector just runs more often.
const devMemoryLimit = 350 << 20

// stack is dev's whole system in one process; bench runs the same one.
type stack struct {
	cfg                config.Config
	keys               devKeys
	apiURL, sandboxURL string
	apiListener        net.Listener
	sb                 *sandbox.Sandbox
	deps               *deps
	srv                *devserver.Server
	client             client.Client
	router             http.Handler
	stopSandbox        func() // stops serving the sandbox and waits for it
	limits             api.Limits
	closers            []func()
}

// startStack binds every port, starts the sandbox, the store, the embedded Temporal server (and the Web UI when
// withUI), the worker and builds the API; serve then serves the API until ctx ends.
func startStack(ctx context.Context, cfg config.Config, dev devSettings, logger *slog.Logger, withUI bool) (_ *stack, err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("RECEIPTFLOW_DATA_DIR: %w", err)
	}
	release, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	sizeWorkflowCache(cfg)
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(devMemoryLimit)
	}
	temporalHost, temporalPortStr, err := net.SplitHostPort(cfg.Temporal.Address)
	if err != nil {
		return nil, fmt.Errorf("RECEIPTFLOW_TEMPORAL_ADDRESS: %w", err)
	}
	temporalPort, _ := strconv.Atoi(temporalPortStr)
	if temporalPort == 0 {
		// The server binds the frontend itself, after we release it: a kernel-chosen port could meanwhile become
		// the local end of some outgoing connection. FreePort's come from outside that range.
		if temporalPort, err = devserver.FreePort(temporalHost); err != nil {
			return nil, err
		}
	}
	ports := []portClaim{
		{cfg.HTTPHost, cfg.HTTPPort, "the API", "RECEIPTFLOW_HTTP_PORT"},
		{temporalHost, cfg.UIPort, "the Temporal Web UI", "RECEIPTFLOW_UI_PORT"},
		{temporalHost, temporalPort, "the embedded Temporal server", "RECEIPTFLOW_TEMPORAL_ADDRESS"},
		{cfg.HTTPHost, dev.SandboxPort, "the WeChat sandbox", "RECEIPTFLOW_SANDBOX_PORT"},
	}
	listeners, err := claimPorts(ports)
	if err != nil {
		return nil, err
	}
	s := &stack{apiListener: listeners[0], closers: []func(){release}, limits: dev.apiLimits}
	sandboxListener := listeners[3]
	s.closers = append(s.closers, func() { s.apiListener.Close() }, func() { sandboxListener.Close() })
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	// The server binds the frontend itself: release its port just before. The UI's stays open and is handed over.
	listeners[2].Close()
	uiListener := listeners[1]
	if withUI {
		s.closers = append(s.closers, func() { uiListener.Close() })
	} else {
		uiListener.Close()
		uiListener = nil
	}

	if s.keys, err = loadDevKeys(filepath.Join(cfg.DataDir, "dev-keys.json")); err != nil {
		return nil, err
	}
	cfg = s.keys.apply(cfg)
	s.apiURL = "http://" + s.apiListener.Addr().String()
	s.sandboxURL = "http://" + sandboxListener.Addr().String()
	s.sb, err = newSandbox(s.keys.Pay, sandbox.Options{Faults: dev.SandboxFaults, TokenTTL: dev.SandboxTokenTTL, Logger: logger,
		StateFile: filepath.Join(cfg.DataDir, "sandbox-wechat.json")}, filepath.Join(cfg.DataDir, "sandbox-wechatpay.json"))
	if err != nil {
		return nil, err
	}
	useSandbox(&cfg, s.sb, s.keys.Pay, s.sandboxURL, s.apiURL)
	cfg.Temporal.Address = hostPort(temporalHost, temporalPort)
	if _, set := os.LookupEnv(config.Prefix + "_CONSOLE_COOKIE_SECURE"); !set {
		cfg.ConsoleCookieSecure = false // plain http on the loopback
	}
	if uiListener != nil && cfg.WebUIURL == "" {
		cfg.WebUIURL = "http://" + uiListener.Addr().String() // the console links runs to dev's Web UI
	}
	s.cfg = cfg

	s.serveSandbox(sandboxListener)
	return s, s.startEngine(ctx, temporalHost, temporalPort, uiListener, logger)
}

// serveSandbox serves the sandbox on l until stopSandbox, which close calls after the worker has drained.
func (s *stack) serveSandbox(l net.Listener) {
	sbCtx, stopSandbox := context.WithCancel(context.Background())
	sbDone := make(chan struct{})
	go func() {
		defer close(sbDone)
		_ = serveHTTP(sbCtx, l, s.sb, s.cfg.StopGrace)
		s.sb.Close()
	}()
	var once sync.Once
	s.stopSandbox = func() { once.Do(func() { stopSandbox(); <-sbDone }) }
	s.closers = append(s.closers, s.stopSandbox)
}

// startEngine opens the store, starts the embedded Temporal server and its UI, the worker and the Schedules, and
// builds the API.
func (s *stack) startEngine(ctx context.Context, temporalHost string, temporalPort int, uiListener net.Listener, logger *slog.Logger) (err error) {
	cfg := s.cfg
	if s.deps, err = openDeps(ctx, cfg, logger); err != nil {
		return err
	}
	s.deps.webhooks.AllowLoopback = true // the sandbox's merchant receiver is on the loopback
	s.closers = append(s.closers, s.deps.Close)
	s.srv, err = devserver.Start(ctx, devserver.Options{
		DatabaseFile: filepath.Join(cfg.DataDir, "temporal.db"), Host: temporalHost, FrontendPort: temporalPort,
		UIListener: uiListener, UIGate: s.uiGate(uiListener, logger), Namespace: cfg.Temporal.Namespace,
		SearchAttributes: worker.SearchAttributes(), CodecEndpoint: api.UIGatePrefix + "codec", Logger: logger,
	})
	if err != nil {
		return err
	}
	s.closers = append(s.closers, s.srv.Stop)
	if s.client, err = s.deps.dialTemporal(ctx); err != nil {
		return err
	}
	s.closers = append(s.closers, s.client.Close)
	w := s.deps.newWorker(s.client)
	if err := w.Start(); err != nil {
		return err
	}
	s.closers = append(s.closers, w.Stop)
	if err := worker.EnsureSchedules(ctx, s.client, cfg.Temporal.TaskQueue); err != nil {
		return err
	}
	_, apiPort, _ := net.SplitHostPort(s.apiListener.Addr().String())
	if s.router, err = s.deps.router(s.client, &devAccess{allowedHosts: api.LocalHosts(cfg.HTTPHost, apiPort), limits: s.limits}); err != nil {
		return err
	}
	s.router, err = s.withSimulator(s.router, api.LocalHosts(cfg.HTTPHost, apiPort))
	return err
}

// uiGate puts the operators' sign-in in front of the embedded Web UI; its codec calls reach the API's /codec with
// the signed-in operator's token.
func (s *stack) uiGate(l net.Listener, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(ui http.Handler) http.Handler {
		codec, _ := url.Parse(s.apiURL + "/codec")
		host, port, _ := net.SplitHostPort(l.Addr().String())
		return api.NewUIGate(api.UIGateOptions{UI: ui, Codec: codec, Operators: api.NewOperators(s.deps.secrets.Operators),
			Hosts: api.LocalHosts(host, port), Logger: logger})
	}
}

// serve serves the API until ctx ends. The API stops first, so nothing new starts; close then lets the worker
// drain its steps while WeChat (the sandbox) and Temporal still answer, and stops those last.
func (s *stack) serve(ctx context.Context) error {
	return serveHTTP(ctx, s.apiListener, s.router, s.cfg.StopGrace)
}

// close stops what startStack started, last started first.
func (s *stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

type portClaim struct {
	host   string
	port   int
	what   string
	envVar string
}

// claimPorts binds every port up front, so a taken one fails with a message naming it and the variable to change
// before anything starts (the Web UI would otherwise exit the process).
func claimPorts(claims []portClaim) ([]net.Listener, error) {
	var ls []net.Listener
	for _, c := range claims {
		l, err := net.Listen("tcp", hostPort(c.host, c.port))
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("port %d for %s is not available (%v): set %s to another port", c.port, c.what, err, c.envVar)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// devKeys are generated on the first dev start and kept beside the data they protect, so a restart can read
// the store and the histories it wrote. Variables set in the environment win.
type devKeys struct {
	PIIKeys        string      `json:"piiKeys"`
	LookupKey      string      `json:"lookupKey"`
	PayloadKeys    string      `json:"payloadKeys"`
	ProofKeys      string      `json:"proofKeys"`
	SessionSecret  string      `json:"sessionSecret"`
	OperatorToken  string      `json:"operatorToken"`
	MerchantSecret string      `json:"merchantSecret"`
	Pay            sandboxKeys `json:"wechatPay"`
}

func loadDevKeys(path string) (devKeys, error) {
	var k devKeys
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &k); err != nil {
			return k, fmt.Errorf("%s: %w (delete the data directory to start afresh)", path, err)
		}
		return k, nil
	case !errors.Is(err, os.ErrNotExist):
		return k, err
	}
	pay, err := generateSandboxKeys()
	if err != nil {
		return k, err
	}
	k = devKeys{
		PIIKeys: keyring.Generate("dev1"), PayloadKeys: keyring.Generate("dev1"), ProofKeys: keyring.Generate("dev1"),
		LookupKey: randomB64(32), SessionSecret: randomB64(32), OperatorToken: randomB64(24), MerchantSecret: randomB64(24), Pay: pay,
	}
	raw, _ = json.MarshalIndent(k, "", "  ")
	return k, os.WriteFile(path, raw, 0o600)
}

func (k devKeys) apply(cfg config.Config) config.Config {
	set := func(v *string, dev string) {
		if *v == "" {
			*v = dev
		}
	}
	set(&cfg.PIIKeys, k.PIIKeys)
	set(&cfg.PayloadKeys, k.PayloadKeys)
	if k.ProofKeys == "" { // a data directory from before proofs existed
		k.ProofKeys = keyring.Generate("dev1")
	}
	set(&cfg.ProofKeys, k.ProofKeys)
	set(&cfg.LookupKey, k.LookupKey)
	set(&cfg.SessionSecret, k.SessionSecret)
	if len(cfg.OperatorTokens) == 0 {
		cfg.OperatorTokens = []string{"dev-operator:" + k.OperatorToken}
	}
	return cfg
}

func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// Demo data: one payer with its settlement account, a low-risk and a high-risk payee, each with a signed agreement
// and an order funded from that account. The low-risk payee's identity was bound by a face verification before.
const (
	demoPayerID    = "demopayer"
	demoLowOpenID  = "o_demo_low"
	demoHighOpenID = "o_demo_high"
	demoLowOrder   = "demolow0001"
	demoHighOrder  = "demohigh001"
)

// demoAccount is the demo payer's registered settlement account, where its funds come from.
var demoAccount = store.Account{Name: "示例科技有限公司", Number: "6222020200112233445"}

func seedDemo(ctx context.Context, st *store.Store, merchantSecret string) error {
	if err := st.PutPayer(ctx, store.Payer{ID: demoPayerID, Name: "示例科技有限公司", Secret: merchantSecret, Account: demoAccount}); err != nil {
		return err
	}
	for _, p := range []seededPayee{
		{OpenID: demoLowOpenID, Name: "李四", IDNumber: "110101200001010010", OrderID: demoLowOrder, MerchantNo: "DEMO-LOW-1", GrossFen: 150000, FaceBound: true}, // 1,500 元
		{OpenID: demoHighOpenID, Name: "王五", IDNumber: "440304199003070018", OrderID: demoHighOrder, MerchantNo: "DEMO-HIGH-1", GrossFen: 800000},               // 8,000 元: a large payment
	} {
		if _, err := seedPayee(ctx, st, demoPayerID, p); err != nil {
			return err
		}
	}
	return nil
}

// demoWebhook points the demo payer's webhook endpoint at the sandbox's merchant receiver, every event, and gives
// the receiver the endpoint's secret (kept in the store, the same across restarts).
func (s *stack) demoWebhook(ctx context.Context) error {
	ep := store.WebhookEndpoint{PayerID: demoPayerID, URL: s.sandboxURL + "/sandbox/merchant/hooks", Events: workflows.EventTypes}
	if _, err := s.deps.store.PutWebhookEndpoint(ctx, ep, webhook.NewSecret(), "dev"); err != nil {
		return err
	}
	got, err := s.deps.store.WebhookEndpointOf(ctx, demoPayerID)
	if err != nil {
		return err
	}
	s.sb.MerchantHooks().SetSecret(got.Secrets[0])
	return nil
}

// seededPayee is a payee onboarded straight into the store (dev's demo, the simulator, the bench): identity,
// agreement with the payer, and one order funded from the payer's account. FaceBound: an earlier face
// verification bound the identity, so only the risk rules decide whether this order needs one.
type seededPayee struct {
	OpenID, Name, IDNumber string
	OrderID, MerchantNo    string // OrderID empty: a generated one
	GrossFen               int64
	FaceBound              bool
}

func seedPayee(ctx context.Context, st *store.Store, payer string, p seededPayee) (orderID string, err error) {
	payee, err := st.VerifyIdentity(ctx, p.OpenID, p.Name, p.IDNumber, "")
	if err != nil {
		return "", err
	}
	if _, err := st.SignAgreement(ctx, payer, payee.ID); err != nil {
		return "", err
	}
	o, _, err := st.CreateOrder(ctx, store.NewOrder{ID: p.OrderID, PayerID: payer, PayeeOpenID: p.OpenID,
		MerchantOrderNo: p.MerchantNo, ServiceItem: "delivery", Description: "配送服务费", GrossFen: p.GrossFen})
	if err != nil {
		return "", err
	}
	if err := st.RecordFunding(ctx, store.Funding{OrderID: o.ID, PayerID: payer, AmountFen: p.GrossFen, Reference: "FUNDS-" + o.ID,
		Remitter: demoAccount, RecordedBy: "dev-seed"}); err != nil {
		return "", err
	}
	if p.FaceBound {
		err = st.MarkFaceVerified(ctx, payee.ID)
	}
	return o.ID, err
}

// printDevEnv lists the dev-only variables.
func printDevEnv(w io.Writer) error {
	var s devSettings
	return envconfig.Usagef(config.Prefix, &s, w, envRows)
}
