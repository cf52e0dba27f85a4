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
	"os"
	"path/filepath"
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
	"github.com/receiptflow/receiptflow/worker"
)

// devSettings are the variables only dev reads (RECEIPTFLOW_SANDBOX_*): the sandbox is never part of the api
// or worker commands.
type devSettings struct {
	SandboxPort     int            `envconfig:"SANDBOX_PORT" default:"8090" desc:"dev: port of the WeChat and WeChat Pay sandbox"`
	SandboxFaults   sandbox.Faults `envconfig:"SANDBOX_FAULT"`
	SandboxTokenTTL time.Duration  `envconfig:"SANDBOX_TOKEN_TTL" desc:"dev: how long the sandbox's access tokens really live (short: exercise 40001)"`
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
	s, err := startStack(ctx, cfg, dev, logger, true)
	if err != nil {
		return err
	}
	defer s.close()
	if err := seedDemo(ctx, s.deps.store, s.keys.MerchantSecret); err != nil {
		return fmt.Errorf("demo data: %w", err)
	}
	s.sb.SetRiskRank(demoHighOpenID, 3)
	printDevSummary(out, s.cfg, s.apiURL, s.sandboxURL, s.srv, s.keys)
	err = s.serve(ctx)
	fmt.Fprintln(out, "\nstopping receiptflow dev…")
	return err
}

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
	closers            []func()
}

// startStack binds every port, starts the sandbox, the store, the embedded Temporal server (and the Web UI when
// withUI), the worker and builds the API; serve then serves the API until ctx ends.
func startStack(ctx context.Context, cfg config.Config, dev devSettings, logger *slog.Logger, withUI bool) (_ *stack, err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("RECEIPTFLOW_DATA_DIR: %w", err)
	}
	sizeWorkflowCache(cfg)
	temporalHost, temporalPortStr, err := net.SplitHostPort(cfg.Temporal.Address)
	if err != nil {
		return nil, fmt.Errorf("RECEIPTFLOW_TEMPORAL_ADDRESS: %w", err)
	}
	temporalPort, _ := strconv.Atoi(temporalPortStr)
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
	s := &stack{apiListener: listeners[0]}
	sandboxListener := listeners[3]
	s.closers = append(s.closers, func() { s.apiListener.Close() }, func() { sandboxListener.Close() })
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	uiPort, temporalPort := listeners[1].Addr().(*net.TCPAddr).Port, listeners[2].Addr().(*net.TCPAddr).Port
	// These two are bound by the Temporal server and the UI themselves: release them just before.
	listeners[1].Close()
	listeners[2].Close()
	if !withUI {
		uiPort = 0
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
	if len(cfg.UIOrigins) == 0 && uiPort != 0 {
		cfg.UIOrigins = []string{"http://" + hostPort(temporalHost, uiPort), "http://" + hostPort("localhost", uiPort)}
	}
	cfg.Temporal.Address = hostPort(temporalHost, temporalPort)
	s.cfg = cfg

	// The sandbox stops first, while the API still takes the callbacks it has in flight (serve).
	sbCtx, stopSandbox := context.WithCancel(context.Background())
	sbDone := make(chan struct{})
	go func() {
		defer close(sbDone)
		_ = serveHTTP(sbCtx, sandboxListener, s.sb)
		s.sb.Close()
	}()
	var once sync.Once
	s.stopSandbox = func() { once.Do(func() { stopSandbox(); <-sbDone }) }
	s.closers = append(s.closers, s.stopSandbox)

	if s.deps, err = openDeps(ctx, cfg, logger); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.deps.Close)
	s.srv, err = devserver.Start(ctx, devserver.Options{
		DatabaseFile: filepath.Join(cfg.DataDir, "temporal.db"), Host: temporalHost, FrontendPort: temporalPort,
		UIPort: uiPort, Namespace: cfg.Temporal.Namespace, SearchAttributes: worker.SearchAttributes(),
		CodecEndpoint: s.apiURL + "/codec", Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.srv.Stop)
	if s.client, err = s.deps.dialTemporal(ctx); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.client.Close)
	w := s.deps.newWorker(s.client)
	if err := w.Start(); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, w.Stop)
	if err := worker.EnsureSchedules(ctx, s.client, cfg.Temporal.TaskQueue); err != nil {
		return nil, err
	}
	_, apiPort, _ := net.SplitHostPort(s.apiListener.Addr().String())
	if s.router, err = s.deps.router(s.client, &devAccess{uiOrigins: cfg.UIOrigins, allowedHosts: api.LocalHosts(cfg.HTTPHost, apiPort)}); err != nil {
		return nil, err
	}
	s.router, err = s.withSimulator(s.router)
	return s, err
}

// serve serves the API until ctx ends; then the sandbox stops first, the API after it.
func (s *stack) serve(ctx context.Context) error {
	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	go func() {
		select {
		case <-ctx.Done():
		case <-apiCtx.Done():
		}
		s.stopSandbox()
		stopAPI()
	}()
	return serveHTTP(apiCtx, s.apiListener, s.router)
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
