package api

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// Operators authenticates the platform's operators by bearer token.
type Operators struct {
	tokens map[string]string // token → operator ID
	// loopback lets requests from this machine in as operator "local" (dev: the Web UI's browser calls /codec
	// without our token).
	loopback bool
}

// NewOperators takes token → operator ID.
func NewOperators(tokens map[string]string, allowLoopback bool) Operators {
	return Operators{tokens: tokens, loopback: allowLoopback}
}

// Identify returns the operator behind a request.
func (o Operators) Identify(r *http.Request) (string, bool) {
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		for t, id := range o.tokens {
			if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
				return id, true
			}
		}
	}
	if o.loopback {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsLoopback() {
			return "local", true
		}
	}
	return "", false
}

// Authorized is Identify as a yes/no, for the codec endpoint.
func (o Operators) Authorized(r *http.Request) bool {
	_, ok := o.Identify(r)
	return ok
}

func (h *handlers) operator(c *gin.Context) {
	id, ok := h.Operators.Identify(c.Request)
	if !ok {
		abort(c, problem(http.StatusUnauthorized, "UNAUTHENTICATED", "operator credentials required"))
		return
	}
	c.Set("operator", id)
	c.Next()
}

// opsOrder loads any order in the path (operators are not bound to a payee).
func (h *handlers) opsOrder(c *gin.Context) (store.Order, bool) { return h.pathOrder(c, nil) }

func (h *handlers) opsGetReceipt(c *gin.Context) {
	o, ok := h.opsOrder(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	h.answerView(c, ctx, o)
}

// opsReview decides a run in manual review.
func (h *handlers) opsReview(c *gin.Context) {
	o, ok := h.opsOrder(c)
	if !ok {
		return
	}
	var req struct {
		Approve *bool  `json:"approve"`
		Note    string `json:"note"`
	}
	if !bind(c, &req) {
		return
	}
	if req.Approve == nil || strings.TrimSpace(req.Note) == "" || len(req.Note) > 500 {
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "approve (true or false) and a note (at most 500 bytes) are required"))
		return
	}
	h.updateAndAnswer(c, o.ID, workflows.UpdateReview, workflows.ReviewRequest{OperatorID: c.GetString("operator"), Approve: *req.Approve, Note: req.Note})
}

// opsCancel stops a run before the payee is paid, or the order when no run is going.
func (h *handlers) opsCancel(c *gin.Context) {
	o, ok := h.opsOrder(c)
	if !ok {
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if !bind(c, &req) {
		return
	}
	now, view, p := h.cancelOrder(c, o, "operator:"+c.GetString("operator"), req.Reason)
	if p != nil {
		abort(c, p)
		return
	}
	if view == nil {
		view = storeView(now)
	}
	c.JSON(http.StatusOK, view)
}

// updateAndAnswer sends an update whose result is the view.
func (h *handlers) updateAndAnswer(c *gin.Context, orderID, name string, arg any) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	var view workflows.View
	if err := h.update(c, ctx, orderID, name, arg, &view); err != nil {
		abort(c, fromError(err))
		return
	}
	c.JSON(http.StatusOK, view)
}

// opsFunding records that the payer's money for an order arrived (finance reconciled the bank statement). Only
// operators may: a payer declaring its own funds would be an advance in disguise.
func (h *handlers) opsFunding(c *gin.Context) {
	o, ok := h.opsOrder(c)
	if !ok {
		return
	}
	var req struct {
		AmountFen int64  `json:"amountFen"`
		Reference string `json:"reference"`
	}
	if !bind(c, &req) {
		return
	}
	if req.AmountFen <= 0 || req.Reference == "" || len(req.Reference) > 64 {
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "amountFen > 0 and a bank reference (at most 64 bytes) are required"))
		return
	}
	if err := h.Store.RecordFunding(c.Request.Context(), store.Funding{OrderID: o.ID, PayerID: o.PayerID, AmountFen: req.AmountFen, Reference: req.Reference}); err != nil {
		abort(c, fromError(err))
		return
	}
	h.Logger.Info("funding recorded", "orderId", o.ID, "operator", c.GetString("operator"), "amountFen", req.AmountFen)
	c.JSON(http.StatusOK, gin.H{"orderId": o.ID, "amountFen": req.AmountFen, "reference": req.Reference})
}
