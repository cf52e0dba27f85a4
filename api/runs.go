package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/receiptflow/receiptflow/proof"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// The Temporal plumbing every handler shares: reading a run's view, sending it an update with the API's proof,
// answering what the update returned, and the run's metadata.

// storeView is what the store knows of an order, for when there is no run to ask.
func storeView(o store.Order) *workflows.View {
	return &workflows.View{OrderID: o.ID, State: workflows.State(o.State), PayerID: o.PayerID,
		Amounts: &workflows.Amounts{GrossFen: o.GrossFen}, UpdatedAt: o.UpdatedAt}
}

// viewQueryBudget is how long a view waits for the run's own answer. A run whose worker died (or a server just back)
// can hold a query for seconds until the server gives up on the worker's sticky queue; past the budget the view is
// what Temporal itself knows of the run (knownView).
const viewQueryBudget = 1200 * time.Millisecond

// knownView is the run's state as Temporal keeps it without a worker — its ReceiptState and StateSince search
// attributes — marked pending: the run has not answered. False when the server cannot say either.
func (h *handlers) knownView(ctx context.Context, o store.Order) (*workflows.View, bool) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
	defer cancel()
	desc, err := h.Temporal.DescribeWorkflowExecution(dctx, workflows.WorkflowID(o.ID), "")
	if err != nil {
		return nil, false
	}
	fields := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	var state string
	var since time.Time
	dc := converter.GetDefaultDataConverter()
	if p := fields[workflows.SearchState.GetName()]; p == nil || dc.FromPayload(p, &state) != nil || state == "" {
		return nil, false
	}
	if p := fields[workflows.SearchStateSince.GetName()]; p == nil || dc.FromPayload(p, &since) != nil {
		since = o.UpdatedAt
	}
	return &workflows.View{OrderID: o.ID, State: workflows.State(state), PayerID: o.PayerID,
		Amounts: &workflows.Amounts{GrossFen: o.GrossFen}, UpdatedAt: since, Pending: true}, true
}

func (h *handlers) queryView(ctx context.Context, orderID string) (workflows.View, error) {
	var view workflows.View
	v, err := h.Temporal.QueryWorkflow(ctx, workflows.WorkflowID(orderID), "", workflows.QueryStatus)
	if err == nil {
		err = v.Get(&view)
	}
	return view, err
}

// closedView is the view a run ended with. A completed run returned it, which the server answers from the close
// event; a query would replay the whole history on a worker (a payee's return from WeChat's confirm page that
// crossed the callback waited ~100 ms for it). Runs that failed or were terminated are still queried.
func (h *handlers) closedView(ctx context.Context, orderID string) (workflows.View, error) {
	var view workflows.View
	if err := h.Temporal.GetWorkflow(ctx, workflows.WorkflowID(orderID), "").Get(ctx, &view); err == nil && view.State != "" {
		return view, nil
	}
	return h.queryView(ctx, orderID)
}

// update sends a workflow update (ID id, see updateID) for an order and waits for its outcome. The proof names the
// run the update is for, and the update goes to that run only: copied into the order's next run, it is refused.
// The run is the one this process last knew open (runs); a run that has ended since answers NotFound, and the
// update is signed and sent again to the run Temporal says is open.
func (h *handlers) update(ctx context.Context, orderID, name, id string, who actor, arg func(proof string) any, out any) error {
	if !h.temporal.Up(ctx) {
		return errTemporalDown
	}
	run, known := h.runs.get(orderID)
	for {
		if !known {
			var err error
			if run, err = h.openRun(ctx, orderID); err != nil {
				return h.closedRun(ctx, orderID, err)
			}
			h.runs.put(orderID, run)
		}
		err := h.send(ctx, orderID, run, name, id, who, arg(h.prove(who, orderID, run, name, id)), out)
		var notFound *serviceerror.NotFound
		if known && errors.As(err, &notFound) && !errors.Is(err, errRunCompleted) {
			h.runs.forget(orderID, run)
			known = false
			continue
		}
		if err != nil {
			return h.closedRun(ctx, orderID, err)
		}
		return nil
	}
}

// send audits the step and sends the update to run. The server aborts an update whose workflow task failed for
// reasons of its own with WorkflowNotReady — above all a signal (WeChat Pay's callback) that landed while the task
// completed the run, so that the run completes in the next task. The run is given closeWait to complete first (an
// update sent while that task runs was held until it ended and then refused, 0.4 s later); when it has not, the
// same update ID is sent again, so it is still applied at most once.
func (h *handlers) send(ctx context.Context, orderID, run, name, id string, who actor, msg, out any) error {
	h.auditStep(ctx, who, orderID, run, name, id)
	for attempt := 1; ; attempt++ {
		handle, err := h.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: workflows.WorkflowID(orderID), RunID: run, UpdateID: id, UpdateName: name,
			Args: []any{msg}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = handle.Get(ctx, out)
		}
		var notReady *serviceerror.WorkflowNotReady
		if !errors.As(err, &notReady) || attempt == 5 {
			return err
		}
		if h.completes(ctx, orderID, run, closeWait) {
			return errRunCompleted
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// closeWait is how long an update the server aborted waits for its run to complete before it is sent again.
const closeWait = 500 * time.Millisecond

// errRunCompleted: the run an update was sent to completed instead of taking it in (closedRun tells how it ended).
var errRunCompleted = serviceerror.NewNotFound("the run completed")

// completes reports whether the run completes within d (a receipt's run completes with its view however it ends;
// a Temporal that does not answer is not a completion).
func (h *handlers) completes(ctx context.Context, orderID, run string, d time.Duration) bool {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return h.Temporal.GetWorkflow(wctx, workflows.WorkflowID(orderID), run).Get(wctx, nil) == nil
}

// runCache is the run each order's updates last went to, as this process saw it: the tap's start answers it, so a
// step needs no Describe first. Nothing depends on it being right (a stale run answers NotFound, and the open one
// is asked for), and it is bounded: past runCacheSize orders, one it holds is dropped for each new one.
type runCache struct {
	mu   sync.Mutex
	runs map[string]string // order → run
}

const runCacheSize = 4096

func (c *runCache) get(orderID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	run, ok := c.runs[orderID]
	return run, ok
}

func (c *runCache) put(orderID, run string) {
	if run == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[string]string{}
	}
	if _, ok := c.runs[orderID]; !ok && len(c.runs) >= runCacheSize {
		for other := range c.runs { // any one: map order is unspecified
			delete(c.runs, other)
			break
		}
	}
	c.runs[orderID] = run
}

// forget drops the order's run if it is still that run (another request may have put a newer one meanwhile).
func (c *runCache) forget(orderID, run string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs[orderID] == run {
		delete(c.runs, orderID)
	}
}

// closedRun tells "this run has ended" (409, with how) from "no run was ever started" (404) when Temporal
// answers NotFound to an update.
func (h *handlers) closedRun(ctx context.Context, orderID string, err error) error {
	var notFound *serviceerror.NotFound
	if !errors.As(err, &notFound) {
		return err
	}
	if v, qerr := h.closedView(ctx, orderID); qerr == nil {
		return &closedRunError{problem: problem(http.StatusConflict, "RECEIPT_CLOSED", "the receipt has ended: "+string(v.State)), view: v, cause: err}
	}
	return err
}

// closedRunError is a Problem that still matches serviceerror.NotFound, so callers that act on "no run" (the
// merchant's cancel) keep working; it keeps the run's last view.
type closedRunError struct {
	problem *Problem
	view    workflows.View
	cause   error
}

func (e *closedRunError) Error() string { return e.problem.Error() }
func (e *closedRunError) Unwrap() error { return e.cause }

// answerUpdate answers an update that returns the view: 200 with its outcome; when the outcome takes longer than
// the request may wait (a payout in flight), 202 with the view as it stands — the step carries on. pending, when
// set, is the 202's answer for a run too busy to answer a query yet; without it that is the update's error.
func (h *handlers) answerUpdate(c *gin.Context, orderID string, view workflows.View, err error, pending *workflows.View) {
	if stillRunning(err) {
		// A request the API is stopping (or whose caller left) does not wait on a query: it answers what is known.
		stopping := c.Request.Context().Err() != nil
		if !stopping {
			qctx, qcancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 2*time.Second)
			defer qcancel()
			if v, qerr := h.queryView(qctx, orderID); qerr == nil {
				c.JSON(http.StatusAccepted, v)
				return
			}
		}
		if pending != nil {
			c.JSON(http.StatusAccepted, pending)
			return
		}
		if stopping {
			abort(c, errTemporalDown)
			return
		}
	}
	if err != nil {
		abort(c, fromError(err))
		return
	}
	c.JSON(http.StatusOK, view)
}

// stillRunning: the update was accepted but its outcome did not come within the request's wait — however the SDK
// reports that (its update-timeout error, a gRPC DeadlineExceeded, the context's own deadline).
func stillRunning(err error) bool {
	var timeout *client.WorkflowUpdateServiceTimeoutOrCanceledError
	var deadline *serviceerror.DeadlineExceeded
	return errors.As(err, &timeout) || errors.As(err, &deadline) || errors.Is(err, context.DeadlineExceeded)
}

// actor is whom an update speaks for, as the API authenticated them.
type actor struct{ role, subject string }

// prove is the API's word to the worker that it authenticated who for this update of the order's run (run ""
// only for the update that starts the run).
func (h *handlers) prove(who actor, orderID, run, update, id string) string {
	return h.Proofs.Sign(proof.Claim{Role: who.role, Subject: who.subject, WorkflowID: workflows.WorkflowID(orderID), RunID: run, Update: update, UpdateID: id},
		time.Now().Add(proofLifetime))
}

// openRun is the ID of the order's run, while it runs (a run that has ended answers NotFound, as an update to it
// would).
func (h *handlers) openRun(ctx context.Context, orderID string) (string, error) {
	desc, err := h.Temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(orderID), "")
	if err != nil {
		return "", err
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "", serviceerror.NewNotFound("the run has ended")
	}
	return info.GetExecution().GetRunId(), nil
}

// runOpen: Temporal has a running run of the order (asked on a budget of its own, past the request's deadline).
func (h *handlers) runOpen(ctx context.Context, orderID string) bool {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_, err := h.openRun(dctx, orderID)
	return err == nil
}

// auditStep records each step sent for an actor — the tap, face session and result, confirm, review, cancel —
// with its update ID and run, so an update the workflow accepted without an audit row stands out.
func (h *handlers) auditStep(ctx context.Context, who actor, orderID, run, update, id string) {
	subject := who.subject
	if who.role == workflows.RolePayee {
		subject = "payee" // an openid is the payee's WeChat identity: the order names the payee
	}
	if err := h.Store.Audit(context.WithoutCancel(ctx), store.AuditEntry{Actor: who.role + ":" + subject, Action: "receipt." + update,
		Subject: "order:" + orderID, Detail: "update " + id + " run " + run}); err != nil {
		h.Logger.Warn("audit of a receipt step", "orderId", orderID, "update", update, "error", err)
	}
}

// proofLifetime bounds how long a proof is good for: long enough for the update to reach the worker.
const proofLifetime = 5 * time.Minute

// staticSummary and staticDetails are what the Web UI shows of a run from its start: the order, the payer and
// the amount in 元 — never a name, ID number or openid.
func staticSummary(o store.Order) string {
	return fmt.Sprintf("确认收款 %s · %s · ¥%s", o.ID, o.PayerID, yuan(o.GrossFen))
}

func staticDetails(o store.Order) string {
	return fmt.Sprintf("订单 order: %s\n商户订单号 merchant order: %s\n付款方 payer: %s\n应发 gross: ¥%s\n服务项目 service: %s",
		o.ID, o.MerchantOrderNo, o.PayerID, yuan(o.GrossFen), o.ServiceItem)
}

// yuan formats fen as 元 with two decimals: 150000 → 1,500.00.
func yuan(fen int64) string {
	whole, cents := fen/100, fen%100
	s := strconv.FormatInt(whole, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return fmt.Sprintf("%s.%02d", s, cents)
}

var idempotencyKeyPattern = regexp.MustCompile(`^[0-9A-Za-z._:-]{8,64}$`)

// updateID makes a retried request (same Idempotency-Key) attach to the same update instead of sending another.
func updateID(c *gin.Context, name string) string {
	if k := c.GetHeader("Idempotency-Key"); idempotencyKeyPattern.MatchString(k) {
		return name + "/" + k
	}
	return name + "/" + c.GetString("requestId")
}
