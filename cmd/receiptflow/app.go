package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/api"
	"github.com/receiptflow/receiptflow/codec"
	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/console"
	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/statement"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/telemetry"
	"github.com/receiptflow/receiptflow/webhook"
	"github.com/receiptflow/receiptflow/wechat"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/worker"
	"github.com/receiptflow/receiptflow/workflows"
)

// deps are what both the API and the worker are built from.
type deps struct {
	cfg     config.Config
	secrets config.Secrets
	log     *slog.Logger
	store   *store.Store
	wechat  *wechat.Client
	pay     *wechatpay.Client // nil when payouts go through the ledger
	files   *store.Files      // electronic receipts, by their hash
	hasher  *pii.Hasher
	tel     *telemetry.Telemetry
	// webhooks is where merchant webhooks may go: public https only, unless dev (or a test) lets the loopback in.
	webhooks webhook.Policy
}

// openStore parses the keys and opens the store with them (not migrated).
func openStore(ctx context.Context, cfg config.Config) (*store.Store, config.Secrets, *pii.Hasher, error) {
	secrets, err := cfg.Secrets()
	if err != nil {
		return nil, config.Secrets{}, nil, err
	}
	hasher, err := pii.NewHasher(secrets.Lookup)
	if err != nil {
		return nil, config.Secrets{}, nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseDSN(), secrets.PII, hasher)
	return st, secrets, hasher, err
}

// openDeps parses the keys, opens and migrates the store and builds the WeChat (and WeChat Pay) clients.
func openDeps(ctx context.Context, cfg config.Config, logger *slog.Logger) (*deps, error) {
	st, secrets, hasher, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	wx, err := wechat.New(cfg.WeChat, nil)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("RECEIPTFLOW_WECHAT_*: %w", err)
	}
	tel, err := telemetry.New(ctx, cfg.Tracing)
	if err != nil {
		st.Close()
		return nil, err
	}
	d := &deps{cfg: cfg, secrets: secrets, log: logger, store: st, wechat: wx, hasher: hasher, tel: tel}
	if d.files, err = store.NewFiles(cfg.FilesDirectory(), secrets.PII); err != nil {
		st.Close()
		return nil, fmt.Errorf("RECEIPTFLOW_FILES_DIR: %w", err)
	}
	if cfg.PayoutChannel == "wechatpay" {
		payCfg := cfg.WeChatPay
		if payCfg.AppID == "" {
			payCfg.AppID = cfg.WeChat.AppID
		}
		if d.pay, err = wechatpay.New(ctx, payCfg, nil); err != nil {
			st.Close()
			return nil, fmt.Errorf("RECEIPTFLOW_WECHATPAY_* (or RECEIPTFLOW_PAYOUT_CHANNEL=ledger): %w", err)
		}
	}
	return d, nil
}

func (d *deps) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.tel.Close(ctx)
	d.store.Close()
}

// activities are the worker's steps; c starts the webhook deliveries they announce.
func (d *deps) activities(c client.Client) *activities.Activities {
	method, _ := tax.ParseMethod(d.cfg.TaxMethod) // validated by config.Load
	var payout activities.Payout = activities.LedgerPayout{Transfers: d.store}
	// None of these on the ledger channel (a nil *Client would not be a nil interface).
	var receipts activities.ReceiptAPI
	var flows activities.FundFlows
	if d.pay != nil {
		payout = activities.WeChatPayPayout{Bills: d.pay}
		receipts, flows = d.pay, d.pay
	}
	return &activities.Activities{
		ReceiptAPI: receipts, ReceiptFiles: d.files, Receipts: d.store, FundFlows: flows,
		Orders: d.store, Ledger: d.store, Faces: d.store, Transfers: d.store,
		WeChat: d.wechat, Risk: d.wechat,
		Payout: payout, Recon: d.store, Filings: d.store,
		Hasher:   d.hasher,
		Webhooks: d.store, WebhookSender: webhook.NewSender(d.webhooks, d.cfg.WebhookTimeout),
		Deliveries: worker.Deliveries{Client: c, TaskQueue: d.cfg.Temporal.TaskQueue},
		Webhook:    activities.WebhookConfig{FirstRetry: d.cfg.WebhookFirstRetry, RetryFor: d.cfg.WebhookRetryFor},
		Config:     activities.Config{FaceMode: d.cfg.FaceMode, TaxMethod: method, Risk: d.cfg.Risk, RiskScene: 1},
	}
}

// newWorker builds the receipts worker.
func (d *deps) newWorker(c client.Client) sdkworker.Worker {
	return worker.New(c, d.cfg.Temporal.TaskQueue, d.activities(c), d.secrets.Proofs, d.cfg.StopGrace)
}

// sizeWorkflowCache sets the SDK's sticky cache, one for the whole process. It must run before the first SDK worker
// exists — in dev the embedded server's own system workers are the first, and a cache once made keeps its size:
// with the default 10,000, every parked run stayed in memory (about 100 KB each).
func sizeWorkflowCache(cfg config.Config) {
	if cfg.WorkflowCacheSize > 0 {
		sdkworker.SetStickyWorkflowCacheSize(cfg.WorkflowCacheSize)
	}
}

// settings are the per-run limits the API passes to every new run.
func (d *deps) settings() workflows.Settings {
	return workflows.Settings{FaceAttempts: d.cfg.FaceAttempts, FaceDeadline: d.cfg.FaceDeadline, ConfirmDeadline: d.cfg.ConfirmDeadline,
		TransferPollInterval: d.cfg.TransferPollInterval}
}

// dialTemporal connects with the payload codec and, when configured, TLS or a Temporal Cloud API key.
func (d *deps) dialTemporal(ctx context.Context) (client.Client, error) {
	t := d.cfg.Temporal
	opts := worker.ClientOptions(t.Address, t.Namespace, d.secrets.Payload, d.log)
	d.tel.Apply(&opts)
	return dialTemporal(ctx, t, opts)
}

// dialTemporal connects with opts plus the configured TLS or API key.
func dialTemporal(ctx context.Context, t config.Temporal, opts client.Options) (client.Client, error) {
	if t.TLSCertFile != "" || t.TLSCAFile != "" || t.APIKey != "" {
		tlsConf := &tls.Config{ServerName: t.TLSServerName, MinVersion: tls.VersionTLS12}
		if t.TLSCertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.TLSCertFile, t.TLSKeyFile)
			if err != nil {
				return nil, fmt.Errorf("RECEIPTFLOW_TEMPORAL_TLS_CERT_FILE/KEY_FILE: %w", err)
			}
			tlsConf.Certificates = []tls.Certificate{cert}
		}
		if t.TLSCAFile != "" {
			pem, err := os.ReadFile(t.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("RECEIPTFLOW_TEMPORAL_TLS_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, errors.New("RECEIPTFLOW_TEMPORAL_TLS_CA_FILE: no certificate in file")
			}
			tlsConf.RootCAs = pool
		}
		opts.ConnectionOptions.TLS = tlsConf
	}
	if t.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(t.APIKey)
	}
	return client.DialContext(ctx, opts)
}

// devAccess is what dev adds to production: only the loopback Host names are answered (against DNS rebinding).
type devAccess struct {
	allowedHosts []string
	limits       api.Limits
}

// router builds the API over a connected client; dev is nil in production.
func (d *deps) router(c client.Client, dev *devAccess) (http.Handler, error) {
	sessions, err := api.NewSessions(d.secrets.Session, d.cfg.SessionTTL)
	if err != nil {
		return nil, err
	}
	if dev == nil {
		dev = &devAccess{}
	}
	operators := api.NewOperators(d.secrets.Operators)
	var notify api.PayNotifications
	if d.pay != nil {
		notify = d.pay
	}
	return api.New(api.Deps{
		PayNotify: notify,
		Temporal:  c, Store: d.store, Login: d.wechat, Sessions: sessions, Proofs: d.secrets.Proofs,
		TaskQueue: d.cfg.Temporal.TaskQueue, Settings: d.settings(), UpdateWait: d.cfg.UpdateWait,
		Codec: codec.Handler(codec.New(d.secrets.Payload), codec.HandlerOptions{
			AllowOrigins: d.cfg.UIOrigins,
			Authorize:    operators.CodecAuthorized,
		}),
		Operators:      operators,
		TrustedProxies: d.cfg.TrustedProxies,
		AllowedHosts:   dev.allowedHosts,
		Limits:         dev.limits,
		Metrics:        d.tel.Registry,
		MetricsHandler: promhttp.HandlerFor(d.tel.Registry, promhttp.HandlerOpts{}),
		SetupCheck:     newSetupGate(c, d.cfg.Temporal.Namespace, d.log).check,
		Recon:          d.store,
		Schedules:      scheduleTrigger{c},
		Exports:        d.store,
		ReceiptFiles:   d.files,
		ReceiptPoll:    d.cfg.ReceiptPollInterval,
		StatementFonts: newFontLoader(d.cfg.PDFFont, d.cfg.PDFLatinFont, d.log).Fonts,
		PlatformName:   d.cfg.PlatformName,
		Webhooks:       d.store,
		Deliveries:     worker.Deliveries{Client: c, TaskQueue: d.cfg.Temporal.TaskQueue},
		Namespace:      d.cfg.Temporal.Namespace,
		Console: api.ConsoleOptions{Files: console.Files, Sessions: d.store, Secure: d.cfg.ConsoleCookieSecure, TTL: d.cfg.ConsoleSessionTTL,
			WebUI: d.cfg.WebUIURL},
		Webhook: api.WebhookSettings{Policy: d.webhooks, RetryFor: d.cfg.WebhookRetryFor},
		Logger:  d.log,
	})
}

// fontLoader reads RECEIPTFLOW_PDF_FONT and RECEIPTFLOW_PDF_LATIN_FONT when a PDF statement is first asked for
// and keeps them. While one is missing, PDF statements answer 503 and the files are looked for again at most every
// fontRetry, so fonts installed after the start (apt-get install fonts-droid-fallback) work without a restart.
type fontLoader struct {
	cjkPath, latinPath string
	log                *slog.Logger
	mu                 sync.Mutex
	fonts              statement.Fonts
	tried              time.Time
}

const fontRetry = 10 * time.Second

func newFontLoader(cjkPath, latinPath string, log *slog.Logger) *fontLoader {
	return &fontLoader{cjkPath: cjkPath, latinPath: latinPath, log: log}
}

func (l *fontLoader) Fonts() statement.Fonts {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fonts.CJK) > 0 || (!l.tried.IsZero() && time.Since(l.tried) < fontRetry) {
		return l.fonts
	}
	l.tried = time.Now()
	cjk, err := os.ReadFile(l.cjkPath)
	if err != nil {
		l.log.Warn("PDF income statements are off: RECEIPTFLOW_PDF_FONT", "err", err)
		return l.fonts
	}
	latin, err := os.ReadFile(l.latinPath)
	if err != nil {
		l.log.Warn("PDF income statements are off: RECEIPTFLOW_PDF_LATIN_FONT", "err", err)
		return l.fonts
	}
	l.fonts = statement.Fonts{CJK: cjk, Latin: latin}
	return l.fonts
}

// scheduleTrigger runs a Schedule's action now.
type scheduleTrigger struct{ c client.Client }

func (t scheduleTrigger) Trigger(ctx context.Context, id string) error {
	return t.c.ScheduleClient().GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{})
}

// List describes worker's Schedules: the next run, and the last with its run's status.
func (t scheduleTrigger) List(ctx context.Context) ([]api.ScheduleStatus, error) {
	out := make([]api.ScheduleStatus, 0, len(worker.Schedules))
	for _, s := range worker.Schedules {
		st := api.ScheduleStatus{ID: s.ID, Note: s.Note, Cron: s.Cron}
		desc, err := t.c.ScheduleClient().GetHandle(ctx, s.ID).Describe(ctx)
		if err != nil {
			return nil, err
		}
		if next := desc.Info.NextActionTimes; len(next) > 0 {
			st.NextRun = next[0]
		}
		if recent := desc.Info.RecentActions; len(recent) > 0 {
			last := recent[len(recent)-1]
			st.LastRun = last.ActualTime
			if run := last.StartWorkflowResult; run != nil {
				st.LastWorkflowID = run.WorkflowID
				if d, err := t.c.DescribeWorkflowExecution(ctx, run.WorkflowID, run.FirstExecutionRunID); err == nil {
					st.LastStatus = d.GetWorkflowExecutionInfo().GetStatus().String()
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// setupGate checks the namespace's setup until it has passed once (what migrate creates is not removed while a
// process runs); each different failure is logged once, at ERROR.
type setupGate struct {
	c         client.Client
	namespace string
	log       *slog.Logger
	passed    atomic.Bool
	mu        sync.Mutex
	lastErr   string
}

func newSetupGate(c client.Client, namespace string, logger *slog.Logger) *setupGate {
	return &setupGate{c: c, namespace: namespace, log: logger}
}

func (g *setupGate) check(ctx context.Context) error {
	if g.passed.Load() {
		return nil
	}
	err := worker.CheckSetup(ctx, g.c, g.namespace)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		g.passed.Store(true)
		g.lastErr = ""
		return nil
	}
	if err.Error() != g.lastErr {
		g.lastErr = err.Error()
		g.log.Error("not ready: Temporal is not set up for receiptflow", "error", err)
	}
	return err
}

// serveHTTP serves h on l until ctx ends, then stops taking requests and gives those in flight grace to finish;
// after it, their contexts are cancelled (a request waiting on a workflow step answers at once: the step goes on
// in Temporal), and they get one more second before their connections are closed.
func serveHTTP(ctx context.Context, l net.Listener, h http.Handler, grace time.Duration) error {
	requests, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return requests }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err == nil {
		return nil
	}
	cancelRequests()
	lctx, cancelLast := context.WithTimeout(context.Background(), time.Second)
	defer cancelLast()
	if err := srv.Shutdown(lctx); err != nil {
		return srv.Close()
	}
	return nil
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// connect is openDeps plus a client of the configured cluster: what api and worker start from.
func connect(ctx context.Context, cfg config.Config, logger *slog.Logger) (*deps, client.Client, error) {
	d, err := openDeps(ctx, cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	c, err := d.dialTemporal(ctx)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return d, c, nil
}

// runMigrate sets up what the api and worker need: the store's schema, the Temporal namespace and the search
// attributes. It needs only the database and Temporal settings, checks it can reach both before changing anything,
// and can run again at any time.
func runMigrate(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	st, err := store.OpenSchema(ctx, cfg.DatabaseDSN())
	if err != nil {
		return fmt.Errorf("store (RECEIPTFLOW_DATABASE_URL): %w", err)
	}
	defer st.Close()
	t := cfg.Temporal
	c, err := dialTemporal(ctx, t, client.Options{HostPort: t.Address, Namespace: t.Namespace, Logger: log.NewStructuredLogger(logger)})
	if err != nil {
		return fmt.Errorf("temporal (RECEIPTFLOW_TEMPORAL_ADDRESS %s): %w", t.Address, err)
	}
	defer c.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	logger.Info("store migrations applied")
	created, err := worker.EnsureNamespace(ctx, c, t.Namespace, t.Retention)
	if err != nil {
		return err
	}
	if created {
		logger.Info("namespace registered", "namespace", t.Namespace, "retention", t.Retention.String())
	}
	added, err := worker.EnsureSearchAttributes(ctx, c, t.Namespace)
	if err != nil {
		return err
	}
	if len(added) > 0 {
		logger.Info("search attributes added", "namespace", t.Namespace, "attributes", added)
	}
	if err := worker.CheckSetup(ctx, c, t.Namespace); err != nil {
		return err
	}
	return worker.EnsureSchedules(ctx, c, cfg.Temporal.TaskQueue)
}

func runAPI(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	d, c, err := connect(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer d.Close()
	defer c.Close()
	r, err := d.router(c, nil)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", hostPort(cfg.HTTPHost, cfg.HTTPPort))
	if err != nil {
		return fmt.Errorf("listen (RECEIPTFLOW_HTTP_HOST/RECEIPTFLOW_HTTP_PORT): %w", err)
	}
	logger.Info("api listening", "addr", l.Addr().String())
	return serveHTTP(ctx, l, r, cfg.StopGrace)
}

func runWorker(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	sizeWorkflowCache(cfg)
	d, c, err := connect(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer d.Close()
	defer c.Close()
	w := d.newWorker(c)
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	logger.Info("worker started", "taskQueue", cfg.Temporal.TaskQueue)
	if err := worker.EnsureSchedules(ctx, c, cfg.Temporal.TaskQueue); err != nil {
		// Payouts do not depend on it: say so loudly and keep working.
		logger.Error("the reconciliation schedule could not be created; run receiptflow migrate", "err", err)
	}
	l, err := net.Listen("tcp", hostPort(cfg.HTTPHost, cfg.MetricsPort))
	if err != nil {
		return fmt.Errorf("listen (RECEIPTFLOW_HTTP_HOST/RECEIPTFLOW_METRICS_PORT): %w", err)
	}
	return serveHTTP(ctx, l, d.probes(c), cfg.StopGrace)
}

// probes serves the worker process's /metrics, /healthz (up) and /readyz (Temporal and the store answer).
func (d *deps) probes(c client.Client) http.Handler {
	setup := newSetupGate(c, d.cfg.Temporal.Namespace, d.log)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.tel.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil || d.store.Ping(ctx) != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable"}`))
			return
		}
		if err := setup.check(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			raw, _ := json.Marshal(map[string]string{"status": "misconfigured", "setup": err.Error()})
			_, _ = w.Write(raw)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	return mux
}
