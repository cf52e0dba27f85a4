package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// Operators authenticates the platform's operators by bearer token.
type Operators struct {
	tokens map[string]string // token → operator ID
}

// NewOperators takes token → operator ID.
func NewOperators(tokens map[string]string) Operators { return Operators{tokens: tokens} }

// Identify returns the operator a request's bearer token names.
func (o Operators) Identify(r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	return o.identifyToken(token)
}

func (o Operators) identifyToken(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	for t, id := range o.tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return id, true
		}
	}
	return "", false
}

// CodecAuthorized decides the codec endpoint: an operator's token, as everywhere else. The Web UI's calls carry
// one through the UI gate (NewUIGate), which holds the signed-in operator's.
func (o Operators) CodecAuthorized(r *http.Request) bool {
	_, ok := o.Identify(r)
	return ok
}

func (h *handlers) operator(c *gin.Context) {
	id, ok := h.Operators.Identify(c.Request)
	if !ok {
		// The console's page: its session cookie, and for a write the session's CSRF token from the same origin.
		cs, _, signedIn := h.consoleSessionOf(c)
		if !signedIn {
			abort(c, problem(http.StatusUnauthorized, "UNAUTHENTICATED", "operator credentials required"))
			return
		}
		if p := consoleWriteRefused(c, cs); p != nil {
			abort(c, p)
			return
		}
		id = cs.Operator
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
	if req.Approve == nil || strings.TrimSpace(req.Note) == "" {
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "approve (true or false) and a note are required"))
		return
	}
	if err := store.CheckText("note", req.Note, 1, 500); err != nil {
		abort(c, fromError(err))
		return
	}
	operator, id := c.GetString("operator"), updateID(c, workflows.UpdateReview)
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	var view workflows.View
	err := h.update(ctx, o.ID, workflows.UpdateReview, id, actor{workflows.RoleOperator, operator}, func(proof string) any {
		return workflows.ReviewRequest{OperatorID: operator, Approve: *req.Approve, Note: req.Note, Proof: proof}
	}, &view)
	h.answerUpdate(c, o.ID, view, err, nil)
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
	now, view, status, p := h.cancelOrder(c, o, workflows.RoleOperator, c.GetString("operator"), req.Reason)
	if p != nil {
		abort(c, p)
		return
	}
	if view == nil {
		view = storeView(now)
	}
	c.JSON(status, view)
}

// opsFunding records that the payer's money for an order arrived, as the bank statement shows it: amount, bank
// reference and the remitting account (finance reconciled the statement). Only operators may: a payer declaring
// its own funds would be an advance in disguise. Funds from another account than the payer's registered one are
// recorded as they are, and fail 三流合一 (FUNDS_PAYER_MISMATCH).
func (h *handlers) opsFunding(c *gin.Context) {
	o, ok := h.opsOrder(c)
	if !ok {
		return
	}
	var req struct {
		AmountFen int64  `json:"amountFen"`
		Reference string `json:"reference"`
		Remitter  struct {
			Name    string `json:"name"`
			Account string `json:"account"`
		} `json:"remitter"`
	}
	if !bind(c, &req) {
		return
	}
	ctx := c.Request.Context()
	operator := c.GetString("operator")
	err := h.Store.RecordFunding(ctx, store.Funding{OrderID: o.ID, PayerID: o.PayerID, AmountFen: req.AmountFen, Reference: req.Reference,
		Remitter: store.Account{Name: req.Remitter.Name, Number: req.Remitter.Account}, RecordedBy: operator})
	if err == nil {
		err = h.Store.Audit(ctx, store.AuditEntry{Actor: operator, Action: "funding.record", Subject: "order:" + o.ID,
			Detail: fmt.Sprintf("%d fen, reference %s", req.AmountFen, req.Reference)})
	}
	if err != nil {
		abort(c, fromError(err))
		return
	}
	h.Logger.Info("funding recorded", "orderId", o.ID, "operator", operator, "amountFen", req.AmountFen)
	c.JSON(http.StatusOK, gin.H{"orderId": o.ID, "amountFen": req.AmountFen, "reference": req.Reference,
		"remitter": gin.H{"name": pii.MaskName(req.Remitter.Name), "account": pii.MaskAccountNumber(req.Remitter.Account)}})
}

// opsBlacklist adds a person (by ID number) to the blacklist the risk rules read, audited.
func (h *handlers) opsBlacklist(c *gin.Context) {
	var req struct {
		IDNumber string `json:"idNumber"`
		Reason   string `json:"reason"`
	}
	if !bind(c, &req) {
		return
	}
	e, err := h.Store.Blacklist(c.Request.Context(), req.IDNumber, req.Reason, c.GetString("operator"))
	if err != nil {
		abort(c, fromError(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"idNumber": pii.MaskIDNumber(pii.NormalizeIDNumber(req.IDNumber)), "reason": e.Reason, "addedBy": e.AddedBy, "addedAt": e.AddedAt})
}

// opsUnblacklist removes a person from the blacklist, audited.
func (h *handlers) opsUnblacklist(c *gin.Context) {
	var req struct {
		IDNumber string `json:"idNumber"`
		Reason   string `json:"reason"`
	}
	if !bind(c, &req) {
		return
	}
	if err := h.Store.Unblacklist(c.Request.Context(), req.IDNumber, req.Reason, c.GetString("operator")); err != nil {
		abort(c, fromError(err))
		return
	}
	c.Status(http.StatusNoContent)
}

// opsPutPayer registers a payer (merchant) with its settlement account, or updates one; a new payer's secret for
// the merchant API is generated here and shown only in this answer. Audited.
func (h *handlers) opsPutPayer(c *gin.Context) {
	var req struct {
		Name    string `json:"name"`
		Account struct {
			Name   string `json:"name"`
			Number string `json:"number"`
		} `json:"account"`
	}
	if !bind(c, &req) {
		return
	}
	id, secret := c.Param("payerId"), randomToken()
	created, err := h.Store.RegisterPayer(c.Request.Context(), store.Payer{ID: id, Name: req.Name, Secret: secret,
		Account: store.Account{Name: req.Account.Name, Number: req.Account.Number}}, c.GetString("operator"))
	if err != nil {
		abort(c, fromError(err))
		return
	}
	body := gin.H{"payerId": id, "name": req.Name, "account": gin.H{"name": pii.MaskName(req.Account.Name), "number": pii.MaskAccountNumber(req.Account.Number)}}
	if !created {
		c.JSON(http.StatusOK, body)
		return
	}
	body["secret"] = secret
	c.JSON(http.StatusCreated, body)
}

// opsRotatePayerSecret gives a payer a new merchant API secret, shown only in this answer; the old one stops
// working at once. Audited.
func (h *handlers) opsRotatePayerSecret(c *gin.Context) {
	id, secret := c.Param("payerId"), randomToken()
	if err := h.Store.RotatePayerSecret(c.Request.Context(), id, secret, c.GetString("operator")); err != nil {
		abort(c, fromError(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"payerId": id, "secret": secret})
}

// randomToken is 32 random bytes, base64url: a payer's merchant secret, a console session's cookie and CSRF token,
// the Web UI gate's cookie.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// opsPayers lists the payers (no secrets, no accounts).
func (h *handlers) opsPayers(c *gin.Context) {
	list, err := h.Store.Payers(c.Request.Context())
	if err != nil {
		abort(c, fromError(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"payers": list})
}
