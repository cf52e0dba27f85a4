package activities

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/webhook"
	"github.com/receiptflow/receiptflow/workflows"
)

// Webhooks keeps the payers' endpoints, their events and every delivery attempt.
type Webhooks interface {
	WebhookEndpointOf(ctx context.Context, payerID string) (store.WebhookEndpoint, error)
	RecordWebhookEvent(ctx context.Context, e store.WebhookEvent) (bool, error)
	WebhookEventOf(ctx context.Context, id string) (store.WebhookEvent, error)
	RecordWebhookAttempt(ctx context.Context, a store.WebhookAttempt, state string) error
	SetWebhookEventState(ctx context.Context, id, state string) error
	WebhookDeliveredSince(ctx context.Context, payerID string, since time.Time) (bool, error)
	DisableWebhookEndpoint(ctx context.Context, payerID, reason string) error
}

// WebhookSender makes one delivery attempt (webhook.Sender).
type WebhookSender interface {
	Send(ctx context.Context, m webhook.Message, now time.Time) webhook.Answer
}

// Deliveries starts an event's delivery workflow, once per DeliveryInput.
type Deliveries interface {
	StartDelivery(ctx context.Context, in workflows.DeliveryInput) error
}

// WebhookConfig is how deliveries are retried.
type WebhookConfig struct {
	FirstRetry time.Duration // the first retry comes within this
	RetryFor   time.Duration // then retries stop and the event is FAILED
}

// EventBody is an event as the payer's endpoint receives it. It names the order, never the payee.
type EventBody struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is what an event says of its order.
type EventData struct {
	OrderID         string             `json:"orderId"`
	MerchantOrderNo string             `json:"merchantOrderNo"`
	State           string             `json:"state"`
	GrossFen        int64              `json:"grossFen"`
	TaxFen          int64              `json:"taxFen"`
	NetFen          int64              `json:"netFen"`
	OutBillNo       string             `json:"outBillNo,omitempty"`
	Reasons         []workflows.Reason `json:"reasons"`
}

// Announce keeps a run's event and starts its delivery, when the order's payer has an endpoint that wants it.
func (a *Activities) Announce(ctx context.Context, in workflows.AnnounceInput) (workflows.Done, error) {
	if a.Webhooks == nil || a.Deliveries == nil {
		return workflows.Done{}, nil
	}
	payer := in.PayerID
	if payer == "" { // a run that ended before eligibility knew its payer
		o, err := a.Orders.Order(ctx, in.OrderID)
		if err != nil {
			return workflows.Done{}, classify(err)
		}
		payer = o.PayerID
	}
	// Most payers have no endpoint: one read decides, on every run's end.
	ep, err := a.Webhooks.WebhookEndpointOf(ctx, payer)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !ep.Subscribed(in.Type)) {
		return workflows.Done{}, nil
	}
	if err != nil {
		return workflows.Done{}, err
	}
	o, err := a.Orders.Order(ctx, in.OrderID)
	if err != nil {
		return workflows.Done{}, classify(err)
	}
	data := EventData{OrderID: o.ID, MerchantOrderNo: o.MerchantOrderNo, State: string(in.State), GrossFen: o.GrossFen,
		OutBillNo: in.OutBillNo, Reasons: append([]workflows.Reason{}, in.Reasons...)}
	if in.Amounts != nil && in.Amounts.Booked {
		data.TaxFen, data.NetFen = in.Amounts.TaxFen, in.Amounts.NetFen
	}
	body, err := json.Marshal(EventBody{ID: in.EventID, Type: in.Type, Timestamp: in.At.UTC(), Data: data})
	if err != nil {
		return workflows.Done{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadInput", err)
	}
	if _, err := a.Webhooks.RecordWebhookEvent(ctx, store.WebhookEvent{ID: in.EventID, PayerID: o.PayerID, OrderID: o.ID, Type: in.Type, Body: string(body)}); err != nil {
		return workflows.Done{}, err
	}
	// Started after it is kept, and again on a retry: the delivery's workflow ID makes it one.
	return workflows.Done{}, a.Deliveries.StartDelivery(ctx, workflows.DeliveryInput{EventID: in.EventID, RetryFor: a.Webhook.RetryFor})
}

// SendWebhook is one delivery attempt, logged. A refusal or a timeout is retried after an exponential, jittered
// wait the attempt itself names; the event's first delivery that finds it delivered already does not send again.
func (a *Activities) SendWebhook(ctx context.Context, in workflows.DeliveryInput) (workflows.Done, error) {
	ev, err := a.Webhooks.WebhookEventOf(ctx, in.EventID)
	if err != nil {
		return workflows.Done{}, classify(err)
	}
	if in.Redelivery == 0 && ev.State == store.WebhookDelivered {
		return workflows.Done{}, nil
	}
	ep, err := a.Webhooks.WebhookEndpointOf(ctx, ev.PayerID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !ep.DisabledAt.IsZero()) {
		return workflows.Done{}, temporal.NewNonRetryableApplicationError("the payer has no enabled webhook endpoint", workflows.ErrTypeNotFound, err)
	}
	if err != nil {
		return workflows.Done{}, err
	}
	now := a.now()
	answer := a.WebhookSender.Send(ctx, webhook.Message{URL: ep.URL, ID: ev.ID, Body: []byte(ev.Body), Secrets: ep.Secrets}, now)
	attempt := store.WebhookAttempt{EventID: ev.ID, Attempt: ev.Attempts + 1, At: now, Status: answer.Status,
		DurationMS: answer.Duration.Milliseconds(), Answer: answer.Body}
	if answer.Err != nil {
		attempt.Answer = answer.Err.Error()
	}
	state, outcome := store.WebhookPending, "refused"
	if answer.Delivered() {
		state, outcome = store.WebhookDelivered, "delivered"
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": outcome}).Counter("receiptflow_webhook_attempts").Inc(1)
	if err := a.Webhooks.RecordWebhookAttempt(ctx, attempt, state); err != nil {
		return workflows.Done{}, err
	}
	if answer.Delivered() {
		activity.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": "delivered"}).Counter("receiptflow_webhook_deliveries").Inc(1)
		return workflows.Done{}, nil
	}
	return workflows.Done{}, temporal.NewApplicationErrorWithOptions("the endpoint did not take the event: "+attempt.Answer, "WebhookRefused",
		temporal.ApplicationErrorOptions{NextRetryDelay: retryDelay(a.Webhook.FirstRetry, attempt.Attempt)})
}

// retryDelay is the wait after the n-th failed attempt: up to first·2ⁿ⁻¹, at most an hour, and at least half of
// that (jitter, so that endpoints coming back are not hit by every retry at once).
func retryDelay(first time.Duration, n int) time.Duration {
	if first <= 0 {
		first = 20 * time.Second
	}
	d := first
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	return d/2 + rand.N(d/2+1)
}

// GiveUpWebhook marks an event whose retries ran out FAILED; an endpoint that took nothing since the event was
// emitted has been failing all that while, and is disabled (the payer or an operator sets it again to enable it).
func (a *Activities) GiveUpWebhook(ctx context.Context, in workflows.DeliveryInput) (workflows.Done, error) {
	ev, err := a.Webhooks.WebhookEventOf(ctx, in.EventID)
	if err != nil {
		return workflows.Done{}, classify(err)
	}
	if err := a.Webhooks.SetWebhookEventState(ctx, ev.ID, store.WebhookFailed); err != nil {
		return workflows.Done{}, err
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": "failed"}).Counter("receiptflow_webhook_deliveries").Inc(1)
	took, err := a.Webhooks.WebhookDeliveredSince(ctx, ev.PayerID, ev.CreatedAt)
	if err != nil || took || in.Redelivery > 0 {
		return workflows.Done{}, err
	}
	activity.GetLogger(ctx).Warn("webhook endpoint disabled: it took nothing while an event was retried", "payerId", ev.PayerID, "eventId", ev.ID)
	return workflows.Done{}, a.Webhooks.DisableWebhookEndpoint(ctx, ev.PayerID, "every delivery failed since "+ev.CreatedAt.Format(time.RFC3339))
}
