package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

var orderIDPattern = store.OrderIDPattern

// pathOrder loads the order named in the path; refuse, when set, says why the caller may not see it.
func (h *handlers) pathOrder(c *gin.Context, refuse func(store.Order) *Problem) (store.Order, bool) {
	id := c.Param("orderId")
	if !orderIDPattern.MatchString(id) {
		abort(c, problem(http.StatusBadRequest, "BAD_ORDER_ID", "订单号格式错误（order IDs are 6-24 letters or digits）"))
		return store.Order{}, false
	}
	o, err := h.Store.Order(c.Request.Context(), id)
	if err != nil {
		abort(c, fromError(err))
		return store.Order{}, false
	}
	if refuse != nil {
		if p := refuse(o); p != nil {
			abort(c, p)
			return store.Order{}, false
		}
	}
	c.Set("workflowId", workflows.WorkflowID(o.ID))
	return o, true
}

// ownOrder loads the order in the path and checks the session's payee owns it. Another payee's order answers as
// an unknown one would (404), so order IDs cannot be probed.
func (h *handlers) ownOrder(c *gin.Context) (store.Order, bool) {
	return h.pathOrder(c, func(o store.Order) *Problem {
		if o.PayeeOpenID != c.GetString("openid") {
			return errOrderNotFound
		}
		return nil
	})
}

// openReceipt is the tap on 确认收款: it starts the order's run, or attaches to the running one, and answers with
// its view once eligibility is known — one round trip (update-with-start).
func (h *handlers) openReceipt(c *gin.Context) {
	o, ok := h.ownOrder(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	if store.FinalOrderState(o.State) {
		// Paid or cancelled: never start again; show how it ended.
		h.answerView(c, ctx, o)
		return
	}
	if !h.temporal.Up(ctx) {
		abort(c, errTemporalDown)
		return
	}
	openid := c.GetString("openid")
	start := h.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(o.ID),
		TaskQueue:                h.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            staticSummary(o),
		StaticDetails:            staticDetails(o),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchOrderID.ValueSet(o.ID), workflows.SearchState.ValueSet(string(workflows.StateChecking)),
			workflows.SearchPayerID.ValueSet(o.PayerID), workflows.SearchAmountFen.ValueSet(o.GrossFen),
			workflows.SearchMerchantOrderNo.ValueSet(o.MerchantOrderNo), workflows.SearchStateSince.ValueSet(time.Now())),
	}, workflows.WorkflowName, workflows.Input{OrderID: o.ID, PayeeOpenID: openid, ClientIP: c.ClientIP(), Settings: h.Settings})
	id := updateID(c, workflows.UpdateOpen)
	handle, err := h.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID: id, UpdateName: workflows.UpdateOpen,
			Args:         []any{workflows.OpenRequest{OpenID: openid, Proof: h.prove(actor{workflows.RolePayee, openid}, o.ID, "", workflows.UpdateOpen, id)}},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var view workflows.View
	if err == nil {
		h.runs.put(o.ID, handle.RunID())
		err = handle.Get(ctx, &view)
	}
	if err != nil && !stillRunning(err) {
		h.Logger.Warn("open receipt failed", "requestId", c.GetString("requestId"), "orderId", o.ID, "error", err)
	}
	// A tap that outlasts RECEIPTFLOW_UPDATE_WAIT (WeChat slow to answer eligibility) answers 202 with the view as
	// it stands, like every other step: the run carries on. A run still in its first step cannot answer a query
	// yet; when no run of the order is paying (the store says so), this tap's run is checking eligibility — if
	// Temporal has it: a start the server never answered may have started nothing, and that tap is tried again
	// (503), never shown as checking.
	if stillRunning(err) && !h.runOpen(c.Request.Context(), o.ID) {
		h.Logger.Warn("open receipt: Temporal did not answer the start", "requestId", c.GetString("requestId"), "orderId", o.ID, "error", err)
		abort(c, errTemporalDown)
		return
	}
	var pending *workflows.View
	if o.State != store.OrderProcessing {
		pending = &workflows.View{OrderID: o.ID, State: workflows.StateChecking, PayerID: o.PayerID,
			Amounts: &workflows.Amounts{GrossFen: o.GrossFen}, UpdatedAt: time.Now(), Pending: true}
	}
	h.answerUpdate(c, o.ID, view, err, pending)
}

// getReceipt reads the view from the run (a query), or from the store when the run is gone.
func (h *handlers) getReceipt(c *gin.Context) {
	o, ok := h.ownOrder(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	h.answerView(c, ctx, o)
}

func (h *handlers) answerView(c *gin.Context, ctx context.Context, o store.Order) {
	if !h.temporal.Up(ctx) {
		if store.FinalOrderState(o.State) {
			c.JSON(http.StatusOK, storeView(o)) // how it ended does not need Temporal
			return
		}
		abort(c, errTemporalDown)
		return
	}
	qctx, qcancel := context.WithTimeout(ctx, viewQueryBudget)
	view, err := h.queryView(qctx, o.ID)
	qcancel()
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		c.JSON(http.StatusOK, view)
	case errors.As(err, &notFound) && o.State != store.OrderCreated:
		// The run is past the namespace's retention: the store still knows how the order ended.
		c.JSON(http.StatusOK, storeView(o))
	case errors.As(err, &notFound):
		abort(c, fromError(err))
	default:
		if known, ok := h.knownView(ctx, o); ok {
			c.JSON(http.StatusOK, known)
			return
		}
		abort(c, fromError(err))
	}
}

// confirm is the payee's 确认收款: tax, payout. It answers with the view once the payout has an outcome (or waits
// for the payee's confirm in WeChat); if that takes longer than the request may wait, 202 with the current view.
func (h *handlers) confirm(c *gin.Context) {
	o, ok := h.ownOrder(c)
	if !ok {
		return
	}
	if !bind(c, &struct{}{}) {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	var view workflows.View
	openid, id := c.GetString("openid"), updateID(c, workflows.UpdateConfirm)
	err := h.update(ctx, o.ID, workflows.UpdateConfirm, id, actor{workflows.RolePayee, openid}, func(proof string) any {
		return workflows.ConfirmRequest{OpenID: openid, Proof: proof}
	}, &view)
	h.answerUpdate(c, o.ID, view, err, nil)
}
