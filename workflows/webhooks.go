package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Merchant webhook events: what a payer hears of its orders, each announced at most once per run, at its transition.
const (
	EventOrderPaid           = "order.paid"
	EventOrderFailed         = "order.failed"
	EventOrderExpired        = "order.expired"
	EventOrderCancelled      = "order.cancelled"
	EventOrderRejected       = "order.rejected"
	EventOrderReviewRequired = "order.review_required"
	EventOrderAwaitingPayee  = "order.awaiting_payee" // the bill waits for the payee's confirm in WeChat
)

// EventTypes are the events a payer can subscribe to, in a run's order.
var EventTypes = []string{EventOrderAwaitingPayee, EventOrderReviewRequired, EventOrderPaid, EventOrderFailed, EventOrderExpired,
	EventOrderCancelled, EventOrderRejected}

// finalEvents is the event of each final state.
var finalEvents = map[State]string{StatePaid: EventOrderPaid, StateFailed: EventOrderFailed, StateExpired: EventOrderExpired,
	StateCancelled: EventOrderCancelled, StateRejected: EventOrderRejected}

// AnnounceInput is one event of a run, for the payer's webhook endpoint (if it has one that wants it).
type AnnounceInput struct {
	EventID   string    `json:"eventId"`
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	OrderID   string    `json:"orderId"`
	PayerID   string    `json:"payerId,omitempty"` // whose endpoint (empty: read from the order)
	State     State     `json:"state"`
	Amounts   *Amounts  `json:"amounts,omitempty"`
	OutBillNo string    `json:"outBillNo,omitempty"`
	Reasons   []Reason  `json:"reasons,omitempty"`
}

// EventID is the ID of a run's event of type t: the same however often the step that announces it runs.
func EventID(runID, t string) string {
	sum := sha256.Sum256([]byte(runID + "/" + t))
	return "evt_" + hex.EncodeToString(sum[:12])
}

// announce tells the payer's webhook endpoint of an event, once per run and type.
func (r *run) announce(ctx workflow.Context, t string) {
	if r.announced[t] {
		return
	}
	r.announced[t] = true
	in := AnnounceInput{EventID: EventID(workflow.GetInfo(ctx).WorkflowExecution.RunID, t), Type: t, At: workflow.Now(ctx),
		OrderID: r.in.OrderID, PayerID: r.elig.PayerID, State: r.view.State, Amounts: r.view.Amounts, Reasons: r.view.Reasons}
	if r.view.Payout != nil {
		in.OutBillNo = r.view.Payout.OutBillNo
	}
	if _, err := runLocal(ctx, r, Announce, announceOptions, in); err != nil {
		// The run goes on: the payer can still read the order (GET /v1/merchant/orders/{id}); operators see this.
		workflow.GetLogger(ctx).Error("announcing a webhook event failed", "orderId", r.in.OrderID, "type", t, "error", err)
	}
}

// announceOptions: recording the event and starting its delivery, retried for a while (both are idempotent).
var announceOptions = workflow.LocalActivityOptions{
	Summary:             "商户通知 webhook event",
	StartToCloseTimeout: 5 * time.Second, ScheduleToCloseTimeout: 2 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second},
}

// DeliveryInput is one delivery of an event: Redelivery 0 is the first, n the payer's or an operator's n-th ask
// to send it again. RetryFor bounds how long a failing delivery is retried.
type DeliveryInput struct {
	EventID    string        `json:"eventId"`
	Redelivery int           `json:"redelivery,omitempty"`
	RetryFor   time.Duration `json:"retryFor"`
}

// DeliveryWorkflowName is the delivery workflow's registered name; DeliveryWorkflowID its ID for one delivery.
const DeliveryWorkflowName = "DeliverWebhook"

func DeliveryWorkflowID(eventID string, redelivery int) string {
	if redelivery == 0 {
		return "webhook-" + eventID
	}
	return "webhook-" + eventID + "-" + strconv.Itoa(redelivery)
}

// DeliverWebhook sends one event to its payer's endpoint until the endpoint takes it (2xx) or RetryFor runs out.
// One activity holds every attempt: the activity logs each and says when the next comes (exponential, jittered),
// so the history stays a few events long however many attempts it takes.
func DeliverWebhook(ctx workflow.Context, in DeliveryInput) (string, error) {
	retryFor := in.RetryFor
	if retryFor <= 0 {
		retryFor = 72 * time.Hour // never "for ever": a delivery that cannot succeed ends, FAILED
	}
	opts := workflow.ActivityOptions{
		Summary:             "商户通知 webhook delivery",
		StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: retryFor,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Hour,
			NonRetryableErrorTypes: []string{ErrTypeNotFound}},
	}
	if _, err := SendWebhook.Run(ctx, opts, in); err != nil {
		if _, ferr := GiveUpWebhook.Local(ctx, announceOptions, in); ferr != nil {
			return "", ferr
		}
		return "FAILED", nil
	}
	return "DELIVERED", nil
}
