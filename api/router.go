// Package api is the HTTP face of receiptflow: the mini-program's session and receipt calls (drop-in for the
// seed's apiGetUserIdKey / apiVerifyFace), the merchant and operator APIs, WeChat Pay's callback and the codec
// endpoint for the Temporal Web UI. It holds no state of its own: any instance can serve any request.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/receiptflow/receiptflow/proof"
	"github.com/receiptflow/receiptflow/statement"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechat"
	"github.com/receiptflow/receiptflow/workflows"
)

// Temporal is the part of the SDK client the API uses.
type Temporal interface {
	NewWithStartWorkflowOperation(options client.StartWorkflowOptions, workflow any, args ...any) client.WithStartWorkflowOperation
	UpdateWithStartWorkflow(ctx context.Context, options client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error)
	UpdateWorkflow(ctx context.Context, options client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error)
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
	GetWorkflow(ctx context.Context, workflowID, runID string) client.WorkflowRun
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
	CheckHealth(ctx context.Context, request *client.CheckHealthRequest) (*client.CheckHealthResponse, error)
	ListWorkflow(ctx context.Context, request *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
}

// Store is the part of the store the API reads and writes.
type Store interface {
	Ping(ctx context.Context) error
	Order(ctx context.Context, id string) (store.Order, error)
	Transfer(ctx context.Context, outBillNo string) (store.Transfer, error)
	TransfersByOrder(ctx context.Context, orderID string) ([]store.Transfer, error)
	UpdateTransfer(ctx context.Context, outBillNo string, u store.TransferUpdate) (store.Transfer, error)
	OrdersByPayee(ctx context.Context, payeeID string, limit int) ([]store.Order, error)
	Payments(ctx context.Context, q store.PaymentQuery) ([]store.Payment, error)
	BillReceiptOf(ctx context.Context, outBillNo string) (store.BillReceipt, error)
	IdentityOfOpenID(ctx context.Context, openid string) (store.Identity, error)
	CreateOrder(ctx context.Context, n store.NewOrder) (store.Order, bool, error)
	SetOrderState(ctx context.Context, id, state, reason string) error
	RecordFunding(ctx context.Context, f store.Funding) error
	Audit(ctx context.Context, e store.AuditEntry) error
	Blacklist(ctx context.Context, idNumber, reason, actor string) (store.BlacklistEntry, error)
	Unblacklist(ctx context.Context, idNumber, reason, actor string) error
	Payer(ctx context.Context, id string) (store.Payer, error)
	RegisterPayer(ctx context.Context, p store.Payer, actor string) (bool, error)
	RotatePayerSecret(ctx context.Context, payerID, secret, actor string) error
	Payers(ctx context.Context) ([]store.PayerSummary, error)
	PayeeByOpenID(ctx context.Context, openid string) (store.Payee, error)
	VerifyIdentity(ctx context.Context, openid, name, idNumber, idExpiresOn string) (store.Payee, error)
	SignAgreement(ctx context.Context, payerID, payeeID string) (store.Agreement, error)
	UseNonce(ctx context.Context, payerID, nonce string, keep time.Duration) error
	SavedResponse(ctx context.Context, payerID, key string) (store.SavedResponse, error)
	SaveResponse(ctx context.Context, payerID, key string, r store.SavedResponse) (store.SavedResponse, error)
}

// Login exchanges a wx.login code for an openid.
type Login interface {
	Code2Session(ctx context.Context, code string) (wechat.Session, error)
}

// Deps are the API's collaborators and settings.
type Deps struct {
	Temporal Temporal
	Store    Store
	Login    Login
	Sessions *Sessions
	// Proofs sign the API's word to the worker that it authenticated whoever an update speaks for.
	Proofs *proof.Keys
	// Limits bound each caller's calls (zero: DefaultLimits).
	Limits    Limits
	TaskQueue string
	Namespace string // the runs' namespace (links to the Web UI)
	// Settings are passed to every new run (attempts, deadlines).
	Settings workflows.Settings
	// UpdateWait bounds how long a request waits for a workflow update before answering with the current view.
	UpdateWait time.Duration
	// Codec, when set, is mounted at /codec for the Temporal Web UI.
	Codec http.Handler
	// Operators may use /v1/ops.
	Operators Operators
	// PayNotify verifies WeChat Pay callbacks; nil when payouts do not go through WeChat Pay.
	PayNotify PayNotifications
	// Metrics registers the API's metrics; MetricsHandler, when set, serves GET /metrics.
	Metrics        prometheus.Registerer
	MetricsHandler http.Handler
	// TrustedProxies whose X-Forwarded-For is believed; none by default.
	TrustedProxies []string
	// AllowedHosts, when set, are the only Host headers answered (dev: the loopback names, against DNS rebinding).
	AllowedHosts []string
	// Recon, when set, serves the reconciliations with WeChat Pay to operators; Schedules lets them run a Schedule now.
	Recon     Reconciliations
	Schedules Schedules
	// Exports, when set, serves the files kept for operators and starts the withholding filing on demand.
	Exports Exports
	// ReceiptFiles, when set, serves paid bills' electronic receipts (电子回单) to payers and operators; the first
	// ask starts fetching one, whose queries are ReceiptPoll apart.
	ReceiptFiles ReceiptFiles
	ReceiptPoll  time.Duration
	// StatementFonts gives the TrueType fonts of PDF income statements, Chinese and Latin (either missing: they
	// answer 503; nil: always missing); PlatformName is the withholding agent they name.
	StatementFonts func() statement.Fonts
	PlatformName   string
	// Console, when its Files and Sessions are set, serves the operator console at /console/.
	Console ConsoleOptions
	// Webhooks and Deliveries, when set, let payers and operators set webhook endpoints and read and replay their
	// deliveries.
	Webhooks   Webhooks
	Deliveries Deliveries
	Webhook    WebhookSettings
	// SetupCheck, when set, tells whether the namespace holds what the runs need (readiness fails until it does).
	SetupCheck func(context.Context) error
	Logger     *slog.Logger
}

// New builds the API's handler (Gin inside; callers see only net/http).
func New(d Deps) (http.Handler, error) {
	if d.Temporal == nil || d.Store == nil || d.Login == nil || d.Sessions == nil || d.Proofs == nil {
		return nil, errors.New("api: temporal, store, login, sessions and proof keys are required")
	}
	if d.TaskQueue == "" {
		d.TaskQueue = workflows.TaskQueue
	}
	if d.UpdateWait <= 0 {
		d.UpdateWait = 15 * time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Limits == (Limits{}) {
		d.Limits = DefaultLimits
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		return nil, err
	}
	h := &handlers{Deps: d, temporal: newTemporalHealth(d.Temporal)}
	r.Use(h.requestID, h.recover, h.accessLog, allowHosts(d.AllowedHosts))
	if d.Metrics != nil {
		m, err := newHTTPMetrics(d.Metrics)
		if err != nil {
			return nil, err
		}
		r.Use(m.middleware)
		if d.Webhooks != nil {
			if err := d.Metrics.Register(oldestPendingWebhook(d.Webhooks)); err != nil {
				return nil, err
			}
		}
	}
	r.Use(limitBody(64<<10), requireJSON)
	r.NoRoute(func(c *gin.Context) { abort(c, problem(http.StatusNotFound, "NOT_FOUND", "no such route")) })
	r.NoMethod(func(c *gin.Context) {
		abort(c, problem(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed on this route"))
	})

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", h.ready)
	if d.MetricsHandler != nil {
		r.GET("/metrics", gin.WrapH(d.MetricsHandler))
	}

	v1 := r.Group("/v1")
	lim := newLimiters(d.Limits)
	h.payeeRoutes(v1, lim)
	h.merchantRoutes(v1, lim)
	h.opsRoutes(v1, lim)
	if d.Console.Files != nil && d.Console.Sessions != nil {
		h.consoleRoutes(r, v1, lim)
	}
	if d.PayNotify != nil {
		v1.POST("/callbacks/wechatpay/transfer", h.transferCallback)
	}

	if d.Codec != nil {
		codec := gin.WrapH(http.StripPrefix("/codec", d.Codec))
		r.POST("/codec/encode", codec)
		r.POST("/codec/decode", codec)
		r.OPTIONS("/codec/encode", codec)
		r.OPTIONS("/codec/decode", codec)
	}
	return r, nil
}

// payeeRoutes are the mini-program's: the session, then the receipt and the payee's own records.
func (h *handlers) payeeRoutes(v1 *gin.RouterGroup, lim *limiters) {
	v1.POST("/session", limit(lim.logins, "logins", byIP), limitFailures(lim.loginFailures, "failed logins", byIP, http.StatusBadRequest), h.login)
	me := v1.Group("", h.authenticate)
	me.POST("/receipts/:orderId", limit(lim.taps, "taps", byPayee), h.openReceipt)
	me.GET("/receipts/:orderId", h.getReceipt)
	me.POST("/receipts/:orderId/face/session", limit(lim.faceSessions, "face verifications", byPayee), h.startFace)
	me.POST("/receipts/:orderId/face/result", limit(lim.faceResults, "face results", byPayee), h.submitFace)
	me.POST("/receipts/:orderId/confirm", limit(lim.confirms, "confirms", byPayee), h.confirm)
	me.POST("/receipts/:orderId/transfer/confirmed", limit(lim.confirms, "confirms", byPayee), h.transferConfirmed)

	me.POST("/me/identity", h.verifyIdentity)
	me.POST("/me/agreements/:payerId", h.signAgreement)
	me.GET("/me/receipts", h.myReceipts)
	me.GET("/me/income", h.myIncome)
	me.GET("/me/income/:file", h.myIncomePDF)
}

// merchantRoutes are the payers' server-to-server calls, HMAC-signed.
func (h *handlers) merchantRoutes(v1 *gin.RouterGroup, lim *limiters) {
	merchant := v1.Group("/merchant", h.merchant, limit(lim.merchant, "merchant requests", byPayer))
	merchant.POST("/orders", h.createOrder)
	merchant.GET("/orders/:orderId", h.getMerchantOrder)
	merchant.POST("/orders/:orderId/cancel", h.cancelMerchantOrder)
	if h.ReceiptFiles != nil {
		merchant.GET("/orders/:orderId/receipt", h.merchantBillReceipt)
	}
	if h.Webhooks != nil && h.Deliveries != nil {
		h.webhookRoutes(merchant, func(c *gin.Context) string { return c.GetString("payer") },
			func(c *gin.Context) string { return "payer:" + c.GetString("payer") })
	}
}

// opsRoutes are the operators' and finance's, with the operator token.
func (h *handlers) opsRoutes(v1 *gin.RouterGroup, lim *limiters) {
	ops := v1.Group("/ops", limitFailures(lim.operatorFailures, "operator sign-ins", byIP, http.StatusUnauthorized), h.operator)
	ops.POST("/orders/:orderId/funding", h.opsFunding)
	ops.GET("/receipts/:orderId", h.opsGetReceipt)
	if h.ReceiptFiles != nil {
		ops.GET("/orders/:orderId/receipt", h.opsBillReceipt)
	}
	ops.GET("/reviews", h.opsReviews)
	ops.GET("/payouts", h.opsPayouts)
	ops.POST("/receipts/:orderId/review", h.opsReview)
	ops.POST("/receipts/:orderId/cancel", h.opsCancel)
	ops.POST("/blacklist", h.opsBlacklist)
	ops.DELETE("/blacklist", h.opsUnblacklist)
	ops.GET("/payers", h.opsPayers)
	ops.PUT("/payers/:payerId", h.opsPutPayer)
	ops.POST("/payers/:payerId/secret", h.opsRotatePayerSecret)
	if h.Webhooks != nil && h.Deliveries != nil {
		h.webhookRoutes(ops.Group("/payers/:payerId"), func(c *gin.Context) string { return c.Param("payerId") },
			func(c *gin.Context) string { return c.GetString("operator") })
	}
	if h.Recon != nil {
		ops.GET("/reconciliations", h.opsReconciliations)
		ops.GET("/books/check", h.opsCheckBooks)
		ops.POST("/reconciliations", h.opsStartReconciliation)
		ops.GET("/reconciliations/:id", h.opsReconciliation)
		ops.POST("/reconciliations/:id/findings/:outBillNo/resolve", h.opsResolveFinding)
	}
	if h.Exports != nil {
		ops.GET("/exports", h.opsExports)
		ops.GET("/exports/:id", h.opsExport)
		ops.POST("/filings", h.opsStartFiling)
		ops.POST("/platform-reports", h.opsStartReport)
	}
	if h.Schedules != nil {
		ops.GET("/schedules", h.opsSchedules)
		ops.POST("/schedules/:name/run", h.opsRunSchedule)
	}
}

type handlers struct {
	Deps
	temporal *temporalHealth
	runs     runCache
}

var requestIDPattern = regexp.MustCompile(`^[0-9A-Za-z._-]{1,64}$`)

func (h *handlers) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if !requestIDPattern.MatchString(id) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Set("requestId", id)
	c.Header("X-Request-Id", id)
	c.Next()
}

func (h *handlers) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			h.Logger.Error("panic in handler", "requestId", c.GetString("requestId"), "route", c.FullPath(), "panic", v)
			abort(c, problem(http.StatusInternalServerError, "INTERNAL", "internal error"))
		}
	}()
	c.Next()
}

// accessLog logs method, route pattern (never the raw path with order IDs or the body), status and latency.
func (h *handlers) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	h.Logger.Info("http", "requestId", c.GetString("requestId"), "method", c.Request.Method, "route", c.FullPath(),
		"status", c.Writer.Status(), "ms", time.Since(start).Milliseconds(), "workflowId", c.GetString("workflowId"))
}

// limitBody bounds request bodies; the codec endpoint, which carries whole batches of payloads for the Web UI,
// has its own larger bound.
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !strings.HasPrefix(c.FullPath(), "/codec/") {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		}
		c.Next()
	}
}

func (h *handlers) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := gin.H{"store": "ok", "temporal": "ok"}
	status, summary := http.StatusOK, "ok"
	if err := h.Store.Ping(ctx); err != nil {
		checks["store"], status, summary = "down", http.StatusServiceUnavailable, "unavailable"
	}
	if _, err := h.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"], status, summary = "down", http.StatusServiceUnavailable, "unavailable"
	} else if h.SetupCheck != nil {
		checks["setup"] = "ok"
		if err := h.SetupCheck(ctx); err != nil {
			// A missing namespace or search attribute is no outage: say so, it will not pass by waiting.
			checks["setup"], status, summary = err.Error(), http.StatusServiceUnavailable, "misconfigured"
		}
	}
	c.JSON(status, gin.H{"status": summary, "checks": checks})
}

// bind decodes an optional JSON body into v: an empty body leaves v as it is; malformed JSON is a 400.
func bind(c *gin.Context, v any) bool {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			abort(c, problem(http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "request body too large"))
			return false
		}
		abort(c, errBadJSON)
		return false
	}
	if len(body) == 0 {
		return true
	}
	if err := json.Unmarshal(body, v); err != nil {
		abort(c, errBadJSON)
		return false
	}
	return true
}
