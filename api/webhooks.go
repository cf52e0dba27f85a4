package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/webhook"
	"github.com/receiptflow/receiptflow/workflows"
)

// Webhooks keeps the payers' webhook endpoints and their deliveries.
type Webhooks interface {
	PutWebhookEndpoint(ctx context.Context, e store.WebhookEndpoint, secret, actor string) (bool, error)
	RotateWebhookSecret(ctx context.Context, payerID, secret string, overlap time.Duration, actor string) error
	DeleteWebhookEndpoint(ctx context.Context, payerID, actor string) error
	WebhookEndpointOf(ctx context.Context, payerID string) (store.WebhookEndpoint, error)
	WebhookEventOf(ctx context.Context, id string) (store.WebhookEvent, error)
	SetWebhookEventState(ctx context.Context, id, state string) error
	WebhookDeliveries(ctx context.Context, payerID string, limit int) ([]store.WebhookDelivery, error)
	OldestUndeliveredWebhook(ctx context.Context) (time.Time, error)
}

// oldestPendingWebhook is the age of the oldest event still waiting for its delivery, read at each scrape: an
// endpoint down for hours shows here long before its events fail.
func oldestPendingWebhook(w Webhooks) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "receiptflow_webhook_oldest_pending_seconds",
		Help: "Age of the oldest merchant webhook event not delivered yet (0: none waits)."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		oldest, err := w.OldestUndeliveredWebhook(ctx)
		if err != nil || oldest.IsZero() {
			return 0
		}
		return time.Since(oldest).Seconds()
	})
}

// Deliveries starts an event's delivery workflow (worker.Deliveries, which the worker's steps use too).
type Deliveries interface {
	StartDelivery(ctx context.Context, in workflows.DeliveryInput) error
}

// WebhookSettings are where webhooks may go and how long a delivery is retried.
type WebhookSettings struct {
	Policy   webhook.Policy
	RetryFor time.Duration
}

// secretOverlap is how long the secret a rotation replaces keeps signing beside the new one.
const secretOverlap = 24 * time.Hour

// webhookRoutes are the same for a payer (signed, its own endpoint) and an operator (any payer's, by path).
func (h *handlers) webhookRoutes(g *gin.RouterGroup, payer func(*gin.Context) string, actor func(*gin.Context) string) {
	w := webhookHandlers{h, payer, actor}
	g.PUT("/webhook", w.put)
	g.GET("/webhook", w.get)
	g.DELETE("/webhook", w.delete)
	g.POST("/webhook/secret", w.rotate)
	g.GET("/webhook/deliveries", w.deliveries)
	g.POST("/webhook/deliveries/:eventId/redeliver", w.redeliver)
}

type webhookHandlers struct {
	h     *handlers
	payer func(*gin.Context) string
	actor func(*gin.Context) string
}

var errNoWebhook = problem(http.StatusNotFound, "WEBHOOK_NOT_FOUND", "no webhook endpoint is set")

func (w webhookHandlers) fail(c *gin.Context, err error) {
	if errors.Is(err, store.ErrNotFound) {
		abort(c, errNoWebhook)
		return
	}
	abort(c, fromError(err))
}

// put sets the endpoint: 201 with its secret when new, 200 (no secret) when it changes one.
func (w webhookHandlers) put(c *gin.Context) {
	var req struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if !bind(c, &req) {
		return
	}
	if len(req.Events) == 0 {
		req.Events = workflows.EventTypes
	}
	for _, e := range req.Events {
		if !slices.Contains(workflows.EventTypes, e) {
			abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "unknown event type "+e))
			return
		}
	}
	if err := w.h.Webhook.Policy.CheckURL(c.Request.Context(), req.URL); err != nil {
		abort(c, problem(http.StatusBadRequest, "WEBHOOK_URL_REFUSED", err.Error()))
		return
	}
	payer, secret := w.payer(c), webhook.NewSecret()
	ep := store.WebhookEndpoint{PayerID: payer, URL: req.URL, Events: slices.Compact(slices.Sorted(slices.Values(req.Events)))}
	created, err := w.h.Webhooks.PutWebhookEndpoint(c.Request.Context(), ep, secret, w.actor(c))
	if err != nil {
		w.fail(c, err)
		return
	}
	body := gin.H{"url": ep.URL, "events": ep.Events}
	if !created {
		c.JSON(http.StatusOK, body)
		return
	}
	body["secret"] = secret
	c.JSON(http.StatusCreated, body)
}

func (w webhookHandlers) get(c *gin.Context) {
	ep, err := w.h.Webhooks.WebhookEndpointOf(c.Request.Context(), w.payer(c))
	if err != nil {
		w.fail(c, err)
		return
	}
	body := gin.H{"url": ep.URL, "events": ep.Events}
	if !ep.DisabledAt.IsZero() {
		body["disabledAt"], body["disabledReason"] = ep.DisabledAt, ep.DisabledReason
	}
	c.JSON(http.StatusOK, body)
}

func (w webhookHandlers) delete(c *gin.Context) {
	if err := w.h.Webhooks.DeleteWebhookEndpoint(c.Request.Context(), w.payer(c), w.actor(c)); err != nil {
		w.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// rotate makes a new secret, shown only here; the old one signs beside it for 24 h.
func (w webhookHandlers) rotate(c *gin.Context) {
	secret := webhook.NewSecret()
	if err := w.h.Webhooks.RotateWebhookSecret(c.Request.Context(), w.payer(c), secret, secretOverlap, w.actor(c)); err != nil {
		w.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"secret": secret, "previousSecretUntil": time.Now().Add(secretOverlap).UTC()})
}

// deliveries is the delivery log: the latest 100 events, each with every attempt.
func (w webhookHandlers) deliveries(c *gin.Context) {
	list, err := w.h.Webhooks.WebhookDeliveries(c.Request.Context(), w.payer(c), 100)
	if err != nil {
		w.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deliveries": list})
}

// redeliver sends an event again, with the same webhook-id: a new delivery, retried like the first.
func (w webhookHandlers) redeliver(c *gin.Context) {
	ctx := c.Request.Context()
	ev, err := w.h.Webhooks.WebhookEventOf(ctx, c.Param("eventId"))
	if err != nil || ev.PayerID != w.payer(c) {
		abort(c, problem(http.StatusNotFound, "EVENT_NOT_FOUND", "no such event"))
		return
	}
	if _, err := w.h.Webhooks.WebhookEndpointOf(ctx, ev.PayerID); err != nil {
		w.fail(c, err)
		return
	}
	if err := w.h.Webhooks.SetWebhookEventState(ctx, ev.ID, store.WebhookPending); err != nil {
		abort(c, fromError(err))
		return
	}
	in := workflows.DeliveryInput{EventID: ev.ID, Redelivery: int(time.Now().UnixMilli()), RetryFor: w.h.Webhook.RetryFor}
	if err := w.h.Deliveries.StartDelivery(ctx, in); err != nil {
		abort(c, fromError(err))
		return
	}
	w.h.auditWebhook(ctx, w.actor(c), ev)
	c.JSON(http.StatusAccepted, gin.H{"id": ev.ID, "state": store.WebhookPending})
}

func (h *handlers) auditWebhook(ctx context.Context, actor string, ev store.WebhookEvent) {
	if err := h.Store.Audit(ctx, store.AuditEntry{Actor: actor, Action: "webhook.redeliver", Subject: "payer:" + ev.PayerID, Detail: ev.ID}); err != nil {
		h.Logger.Warn("audit of a redelivery", "eventId", ev.ID, "error", err)
	}
}
