package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

// Merchant request signing (README "Merchant API"): the payer signs
//
//	METHOD \n PATH?QUERY \n TIMESTAMP \n NONCE \n BODY
//
// with HMAC-SHA256 under its secret, lower-case hex, sent in X-RF-Signature beside X-RF-Payer, X-RF-Timestamp
// (Unix seconds) and X-RF-Nonce. Requests older or newer than MerchantClockSkew, and reused nonces, are refused.
const (
	HeaderPayer     = "X-RF-Payer"
	HeaderTimestamp = "X-RF-Timestamp"
	HeaderNonce     = "X-RF-Nonce"
	HeaderSignature = "X-RF-Signature"
)

// MerchantClockSkew bounds how far a request's timestamp may be from our clock.
const MerchantClockSkew = 5 * time.Minute

// SignMerchantRequest is the signature a payer sends; exported for merchants' SDKs and tests.
func SignMerchantRequest(secret, method, pathAndQuery, timestamp, nonce string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + "\n" + pathAndQuery + "\n" + timestamp + "\n" + nonce + "\n"))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

var noncePattern = regexp.MustCompile(`^[0-9A-Za-z_-]{16,64}$`)

var errMerchantAuth = problem(http.StatusUnauthorized, "BAD_SIGNATURE", "the request signature does not verify")

// merchant verifies the payer's signature, then remembers the nonce; the raw body is kept for the handler.
func (h *handlers) merchant(c *gin.Context) {
	payerID, ts, nonce, sig := c.GetHeader(HeaderPayer), c.GetHeader(HeaderTimestamp), c.GetHeader(HeaderNonce), c.GetHeader(HeaderSignature)
	if payerID == "" || ts == "" || nonce == "" || sig == "" {
		abort(c, problem(http.StatusUnauthorized, "UNSIGNED", "signed requests only: "+HeaderPayer+", "+HeaderTimestamp+", "+HeaderNonce+", "+HeaderSignature))
		return
	}
	if !noncePattern.MatchString(nonce) {
		abort(c, problem(http.StatusBadRequest, "BAD_NONCE", "the nonce must be 16-64 of [0-9A-Za-z_-]"))
		return
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		abort(c, problem(http.StatusBadRequest, "BAD_TIMESTAMP", "the timestamp must be Unix seconds"))
		return
	}
	if skew := time.Since(time.Unix(sec, 0)); skew > MerchantClockSkew || skew < -MerchantClockSkew {
		abort(c, problem(http.StatusUnauthorized, "STALE_REQUEST", "the timestamp is more than 5 minutes from our clock"))
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		abort(c, problem(http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "request body too large"))
		return
	}
	payer, err := h.Store.Payer(c.Request.Context(), payerID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			abort(c, errMerchantAuth) // do not tell which payer IDs exist
			return
		}
		abort(c, errUnavailable)
		return
	}
	want := SignMerchantRequest(payer.Secret, c.Request.Method, c.Request.URL.RequestURI(), ts, nonce, body)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(sig))) {
		abort(c, errMerchantAuth)
		return
	}
	// Only a verified request may spend a nonce, or anyone could burn a payer's nonces.
	if err := h.Store.UseNonce(c.Request.Context(), payer.ID, nonce, 2*MerchantClockSkew); err != nil {
		if errors.Is(err, store.ErrNonceReused) {
			abort(c, problem(http.StatusUnauthorized, "REPLAYED", "this nonce was already used"))
			return
		}
		abort(c, errUnavailable)
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	c.Set("payer", payer.ID)
	c.Set("body", body)
	c.Next()
}

// merchantOrder is an order as a payer sees it, with the payee's receipt state.
type merchantOrder struct {
	store.Order
	PayeeOpenID string          `json:"payeeOpenId"`
	Receipt     *workflows.View `json:"receipt,omitempty"`
}

// createOrder is POST /v1/merchant/orders with an Idempotency-Key: the same key and body answer the same
// response; the same key with another body is a 409.
func (h *handlers) createOrder(c *gin.Context) {
	payerID := c.GetString("payer")
	key := c.GetHeader("Idempotency-Key")
	if !idempotencyKeyPattern.MatchString(key) {
		abort(c, problem(http.StatusBadRequest, "IDEMPOTENCY_KEY_REQUIRED", "an Idempotency-Key header of 8-64 of [0-9A-Za-z._:-] is required"))
		return
	}
	body, _ := c.Get("body")
	sum := sha256.Sum256(body.([]byte))
	hash := hex.EncodeToString(sum[:])
	ctx := c.Request.Context()
	if saved, err := h.Store.SavedResponse(ctx, payerID, key); err == nil {
		replaySaved(c, saved, hash)
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		abort(c, errUnavailable)
		return
	}
	var req struct {
		MerchantOrderNo string `json:"merchantOrderNo"`
		PayeeOpenID     string `json:"payeeOpenId"`
		ServiceItem     string `json:"serviceItem"`
		Description     string `json:"description"`
		GrossFen        int64  `json:"grossFen"`
	}
	if !bind(c, &req) {
		return
	}
	if !store.OpenIDPattern.MatchString(req.PayeeOpenID) {
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "payeeOpenId must be 1-64 of [0-9A-Za-z_-]"))
		return
	}
	o, _, err := h.Store.CreateOrder(ctx, store.NewOrder{PayerID: payerID, PayeeOpenID: req.PayeeOpenID, MerchantOrderNo: req.MerchantOrderNo,
		ServiceItem: req.ServiceItem, Description: req.Description, GrossFen: req.GrossFen})
	switch {
	case errors.Is(err, store.ErrConflict):
		abort(c, problem(http.StatusConflict, "ORDER_EXISTS", err.Error()))
		return
	case errors.As(err, new(*store.InputError)):
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", err.Error()))
		return
	case errors.Is(err, store.ErrNotFound):
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", err.Error()))
		return
	case err != nil:
		abort(c, errUnavailable)
		return
	}
	raw, _ := json.Marshal(merchantOrder{Order: o, PayeeOpenID: o.PayeeOpenID})
	saved, err := h.Store.SaveResponse(ctx, payerID, key, store.SavedResponse{RequestHash: hash, Status: http.StatusCreated, Body: raw})
	if err != nil {
		abort(c, errUnavailable)
		return
	}
	replaySaved(c, saved, hash)
}

func replaySaved(c *gin.Context, saved store.SavedResponse, hash string) {
	if saved.RequestHash != hash {
		abort(c, problem(http.StatusConflict, "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used with another request body"))
		return
	}
	c.Data(saved.Status, "application/json; charset=utf-8", saved.Body)
}

// payerOrder loads an order of the signing payer; another payer's order is a 404, not a 403, so order IDs
// cannot be probed.
func (h *handlers) payerOrder(c *gin.Context) (store.Order, bool) {
	return h.pathOrder(c, func(o store.Order) *Problem {
		if o.PayerID != c.GetString("payer") {
			return errOrderNotFound
		}
		return nil
	})
}

func (h *handlers) getMerchantOrder(c *gin.Context) {
	o, ok := h.payerOrder(c)
	if !ok {
		return
	}
	out := merchantOrder{Order: o, PayeeOpenID: o.PayeeOpenID}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	if v, err := h.queryView(ctx, o.ID); err == nil {
		out.Receipt = &v
	}
	c.JSON(http.StatusOK, out)
}

// cancelMerchantOrder cancels the payee's run when there is one (the run decides whether it still can), else the
// order itself.
func (h *handlers) cancelMerchantOrder(c *gin.Context) {
	o, ok := h.payerOrder(c)
	if !ok {
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if !bind(c, &req) {
		return
	}
	now, view, status, p := h.cancelOrder(c, o, workflows.RolePayer, o.PayerID, req.Reason)
	if p != nil {
		abort(c, p)
		return
	}
	c.JSON(status, merchantOrder{Order: now, PayeeOpenID: o.PayeeOpenID, Receipt: view})
}

// cancelOrder stops the order's run when one is going (the run decides what it still can: at once before the money
// moves, the bill while the payee has not confirmed it, nothing once they have), else closes the order itself
// unless it is paid or a bill of it is still open. It answers the order as it stands, the run's view, and 200 —
// or 202 when the cancel waits on a bill in flight (the view shows it pending and what it waits for).
func (h *handlers) cancelOrder(c *gin.Context, o store.Order, role, by, reason string) (store.Order, *workflows.View, int, *Problem) {
	if err := store.CheckText("reason", reason, 0, 200); err != nil {
		return o, nil, 0, fromError(err)
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	var view workflows.View
	id := updateID(c, workflows.UpdateCancel)
	err := h.update(ctx, o.ID, workflows.UpdateCancel, id, actor{role, by}, func(proof string) any {
		return workflows.CancelRequest{Role: role, By: by, Reason: reason, Proof: proof}
	}, &view)
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		return h.reload(ctx, o), &view, http.StatusOK, nil
	case stillRunning(err):
		qctx, qcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer qcancel()
		if v, qerr := h.queryView(qctx, o.ID); qerr == nil {
			return h.reload(qctx, o), &v, http.StatusAccepted, nil
		}
	case errors.As(err, &notFound):
		// No run going: never started, or ended — perhaps just now by this very cancel, whose answer was lost with
		// a workflow task the server retried.
		if open, err := h.openBill(ctx, o.ID); err != nil || open != "" {
			if err != nil {
				return o, nil, 0, errUnavailable
			}
			return o, nil, 0, problem(http.StatusConflict, "BILL_OPEN", "转账单 "+open+" 尚未结束：待其结果确定后再取消 (a bill of the order is still open)")
		}
		if err := h.Store.SetOrderState(ctx, o.ID, store.OrderCancelled, "CANCELLED: "+reason); err != nil {
			return o, nil, 0, problem(http.StatusConflict, "ORDER_CLOSED", "the order is "+h.reload(ctx, o).State+" and can no longer be cancelled")
		}
		if v, err := h.queryView(ctx, o.ID); err == nil {
			return h.reload(ctx, o), &v, http.StatusOK, nil
		}
		return h.reload(ctx, o), nil, http.StatusOK, nil
	}
	h.Logger.Warn("cancel failed", "requestId", c.GetString("requestId"), "orderId", o.ID, "error", err)
	return o, nil, 0, fromError(err)
}

// openBill is the out_bill_no of an order's bill that has not ended, or "".
func (h *handlers) openBill(ctx context.Context, orderID string) (string, error) {
	bills, err := h.Store.TransfersByOrder(ctx, orderID)
	if err != nil {
		return "", err
	}
	for _, b := range bills {
		if !wechatpay.Final(b.State) {
			return b.OutBillNo, nil
		}
	}
	return "", nil
}

func (h *handlers) reload(ctx context.Context, o store.Order) store.Order {
	if fresh, err := h.Store.Order(ctx, o.ID); err == nil {
		return fresh
	}
	return o
}
