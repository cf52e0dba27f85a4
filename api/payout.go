package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

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
	if b.AmountFen != t.AmountFen || b.OpenID != t.OpenID || !store.FinalTransferState(b.State) {
		h.Logger.Error("wechatpay callback does not match our bill", "outBillNo", b.OutBillNo, "amount", b.AmountFen, "recordedAmount", t.AmountFen,
			"state", b.State)
		payFailure(c, http.StatusBadRequest, "does not match the bill")
		return
	}
	if _, err := h.Store.UpdateTransfer(ctx, b.OutBillNo, store.TransferUpdate{State: b.State, TransferBillNo: b.TransferBillNo, FailReason: b.FailReason}); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			payFailure(c, http.StatusServiceUnavailable, "try again")
			return
		}
		h.Logger.Error("wechatpay callback disagrees with the recorded final state", "outBillNo", b.OutBillNo, "state", b.State)
	}
	err = h.Temporal.SignalWorkflow(ctx, workflows.WorkflowID(t.OrderID), "", workflows.SignalTransferNotice, workflows.TransferNotice{OutBillNo: b.OutBillNo})
	var notFound *serviceerror.NotFound
	if err != nil && !errors.As(err, &notFound) {
		// The periodic query will find the outcome; still ask WeChat Pay to call again.
		payFailure(c, http.StatusServiceUnavailable, "try again")
		return
	}
	c.Status(http.StatusNoContent)
}

// transferConfirmed is the mini-program saying the payee came back from WeChat's confirm page: the run looks at
// its bill now. It answers with the view once the bill moved on, or after a few seconds with the view as it is.
func (h *handlers) transferConfirmed(c *gin.Context) {
	o, ok := h.ownOrder(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	before, err := h.queryView(ctx, o.ID)
	if err != nil {
		abort(c, fromError(err))
		return
	}
	if before.Payout == nil || before.State != workflows.StateAwaitingTransferConfirm {
		c.JSON(http.StatusOK, before)
		return
	}
	if err := h.Temporal.SignalWorkflow(ctx, workflows.WorkflowID(o.ID), "", workflows.SignalTransferNotice, workflows.TransferNotice{OutBillNo: before.Payout.OutBillNo}); err != nil {
		abort(c, fromError(err))
		return
	}
	deadline := time.Now().Add(3 * time.Second)
	view := before
	for time.Now().Before(deadline) && view.State == workflows.StateAwaitingTransferConfirm && view.Payout.State == before.Payout.State {
		time.Sleep(100 * time.Millisecond)
		if v, err := h.queryView(ctx, o.ID); err == nil {
			view = v
		}
	}
	c.JSON(http.StatusOK, view)
}
