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
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

// PayNotifications verifies and decrypts WeChat Pay callbacks (wechatpay.Client).
type PayNotifications interface {
	ParseNotification(ctx context.Context, r *http.Request) (wechatpay.Notification, error)
}

// payFailure is the body WeChat Pay expects with a 4xx/5xx: it calls back again later.
func payFailure(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"code": "FAIL", "message": msg})
}

// transferCallback is WeChat Pay's MCHTRANSFER.BILL.FINISHED. It must answer within 5 s; callbacks repeat and may
// arrive after the run learnt the outcome another way, so it only records what it verified and nudges the run,
// which reads the bill's state itself.
func (h *handlers) transferCallback(c *gin.Context) {
	ctx := c.Request.Context()
	n, err := h.PayNotify.ParseNotification(ctx, c.Request)
	if err != nil {
		h.Logger.Warn("wechatpay callback refused", "requestId", c.GetString("requestId"), "error", err)
		payFailure(c, http.StatusUnauthorized, "signature, timestamp or ciphertext does not verify")
		return
	}
	if n.EventType != wechatpay.EventTransferFinished {
		c.Status(http.StatusNoContent)
		return
	}
	b := n.Bill
	t, err := h.Store.Transfer(ctx, b.OutBillNo)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.Logger.Error("wechatpay callback for a bill we never made", "outBillNo", b.OutBillNo)
		payFailure(c, http.StatusNotFound, "unknown out_bill_no")
		return
	case err != nil:
		payFailure(c, http.StatusServiceUnavailable, "try again")
		return
	}
	c.Set("workflowId", workflows.WorkflowID(t.OrderID))
	if b.AmountFen != t.AmountFen || b.OpenID != t.OpenID || !wechatpay.Final(b.State) {
		h.Logger.Error("wechatpay callback does not match our bill", "outBillNo", b.OutBillNo, "amount", b.AmountFen, "recordedAmount", t.AmountFen,
			"state", b.State)
		payFailure(c, http.StatusBadRequest, "does not match the bill")
		return
	}
	at, _ := time.Parse(time.RFC3339, b.UpdateTime)
	if _, err := h.Store.UpdateTransfer(ctx, b.OutBillNo, store.TransferUpdate{State: b.State, TransferBillNo: b.TransferBillNo, FailReason: b.FailReason, At: at}); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			payFailure(c, http.StatusServiceUnavailable, "try again")
			return
		}
		h.Logger.Error("wechatpay callback disagrees with the recorded final state", "outBillNo", b.OutBillNo, "state", b.State)
	}
	if !h.temporal.Up(ctx) {
		// Recorded; WeChat Pay calls again, and the run looks at the bill itself when Temporal is back.
		payFailure(c, http.StatusServiceUnavailable, "try again")
		return
	}
	err = h.Temporal.SignalWorkflow(ctx, workflows.WorkflowID(t.OrderID), "", workflows.SignalTransferNotice, workflows.TransferNotice{OutBillNo: b.OutBillNo})
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		// The run is gone (terminated, or ended without this bill's outcome): settle the order from the bill.
		err = h.settle(ctx, t)
	}
	if err != nil {
		// The run's own looks at the bill will find the outcome; still ask WeChat Pay to call again.
		payFailure(c, http.StatusServiceUnavailable, "try again")
		return
	}
	c.Status(http.StatusNoContent)
}

// settle starts (or finds running) the settlement of a bill whose order has no open run, unless the order already
// ended on it.
func (h *handlers) settle(ctx context.Context, t store.Transfer) error {
	o, err := h.Store.Order(ctx, t.OrderID)
	if err != nil {
		return err
	}
	if store.FinalOrderState(o.State) {
		return nil
	}
	_, err = h.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.SettleWorkflowID(t.OutBillNo), TaskQueue: h.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:            "结算 settle bill " + t.OutBillNo + " of order " + t.OrderID,
	}, workflows.SettleWorkflowName, workflows.SettleInput{OrderID: t.OrderID, OutBillNo: t.OutBillNo})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil // settled before: one settlement per bill
	}
	if err == nil {
		h.Logger.Warn("bill settled without its run", "orderId", t.OrderID, "outBillNo", t.OutBillNo)
	}
	return err
}

// transferConfirmed is the mini-program saying the payee came back from WeChat's confirm page: the run looks at
// its bill now and answers once it took in what it saw. A run that has ended answers its last view; an order whose
// run is gone while its bill is open is settled from the bill.
func (h *handlers) transferConfirmed(c *gin.Context) {
	o, ok := h.ownOrder(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	openid, id := c.GetString("openid"), updateID(c, workflows.UpdateTransferCheck)
	var view workflows.View
	err := h.update(ctx, o.ID, workflows.UpdateTransferCheck, id, actor{workflows.RolePayee, openid}, func(proof string) any {
		return workflows.TransferCheckRequest{OpenID: openid, Proof: proof}
	}, &view)
	var closed *closedRunError
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		c.JSON(http.StatusOK, view)
	case errors.As(err, &closed):
		c.JSON(http.StatusOK, closed.view)
	case isRejected(err, workflows.RejectWrongState):
		h.answerView(c, ctx, o)
	case errors.As(err, &notFound):
		if open, berr := h.openBill(ctx, o.ID); berr == nil && open != "" {
			if t, terr := h.Store.Transfer(ctx, open); terr == nil {
				_ = h.settle(ctx, t)
			}
		}
		h.answerView(c, ctx, h.reload(ctx, o))
	default:
		h.answerUpdate(c, o.ID, view, err, nil)
	}
}

// isRejected reports whether the workflow's validator rejected an update with kind.
func isRejected(err error, kind string) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == kind
}
