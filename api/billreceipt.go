package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

// ReceiptFiles reads kept receipt files by their SHA-256 (checking they still match it).
type ReceiptFiles interface {
	Get(sha256 string) ([]byte, error)
}

var errNoBillReceipt = problem(http.StatusConflict, "RECEIPT_UNAVAILABLE", "只有通过微信支付付款成功的订单有电子回单")

func (h *handlers) merchantBillReceipt(c *gin.Context) {
	if o, ok := h.payerOrder(c); ok {
		h.serveBillReceipt(c, o)
	}
}

func (h *handlers) opsBillReceipt(c *gin.Context) {
	if o, ok := h.opsOrder(c); ok {
		h.serveBillReceipt(c, o)
	}
}

// serveBillReceipt answers a paid order's electronic receipt (电子回单): the PDF once it is kept (its SHA-256 in
// X-Content-SHA256); 202 with Retry-After while WeChat Pay makes it — the first ask starts FetchReceipt —; 409 when
// the order has none or WeChat Pay could not make it.
func (h *handlers) serveBillReceipt(c *gin.Context, o store.Order) {
	ctx := c.Request.Context()
	if o.State != store.OrderPaid {
		abort(c, errNoBillReceipt)
		return
	}
	bills, err := h.Store.TransfersByOrder(ctx, o.ID)
	if err != nil {
		abort(c, fromError(err))
		return
	}
	var paid *store.Transfer
	for i := range bills {
		if bills[i].State == wechatpay.StateSuccess && bills[i].Channel == "wechatpay" {
			paid = &bills[i]
		}
	}
	if paid == nil {
		abort(c, errNoBillReceipt)
		return
	}
	r, err := h.Store.BillReceiptOf(ctx, paid.OutBillNo)
	switch {
	case err == nil && r.State == store.ReceiptStored:
		file, err := h.ReceiptFiles.Get(r.SHA256)
		if err != nil {
			h.Logger.Error("electronic receipt file", "outBillNo", paid.OutBillNo, "err", err)
			abort(c, errUnavailable)
			return
		}
		c.Header("X-Content-SHA256", r.SHA256)
		c.Header("Content-Disposition", `attachment; filename="`+paid.OutBillNo+`.pdf"`)
		c.Data(http.StatusOK, "application/pdf", file)
		return
	case err == nil && r.State == store.ReceiptFailed:
		abort(c, problem(http.StatusConflict, "RECEIPT_FAILED", "电子回单生成失败："+r.FailReason))
		return
	case err != nil && !errors.Is(err, store.ErrNotFound):
		abort(c, fromError(err))
		return
	}
	// Not asked for yet, or being made: start (or find) the bill's one FetchReceipt run.
	_, err = h.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.ReceiptWorkflowID(paid.OutBillNo), TaskQueue: h.TaskQueue},
		workflows.ReceiptWorkflowName, workflows.ReceiptInput{OrderID: o.ID, OutBillNo: paid.OutBillNo, PollInterval: h.ReceiptPoll})
	if err != nil {
		abort(c, fromError(err))
		return
	}
	retry := max(1, int(h.ReceiptPoll.Seconds()))
	abort(c, &Problem{Status: http.StatusAccepted, Code: "RECEIPT_GENERATING", Message: "电子回单生成中，请稍后再试（" + strconv.Itoa(retry) + " 秒后）", RetryAfter: retry})
}
