package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/store"
)

// verifyIdentity records the payee's real name and ID number (实名), sealed at rest. The answer shows them masked.
func (h *handlers) verifyIdentity(c *gin.Context) {
	var req struct {
		Name        string `json:"name"`
		IDNumber    string `json:"idNumber"`
		IDExpiresOn string `json:"idExpiresOn"` // YYYY-MM-DD; empty for a long-term (长期) card
	}
	if !bind(c, &req) {
		return
	}
	p, err := h.Store.VerifyIdentity(c.Request.Context(), c.GetString("openid"), req.Name, req.IDNumber, req.IDExpiresOn)
	switch {
	case errors.Is(err, pii.ErrIDChecksum):
		abort(c, problem(http.StatusBadRequest, "ID_CHECKSUM", "身份证号码校验位不正确"))
	case errors.Is(err, pii.ErrIDFormat):
		abort(c, problem(http.StatusBadRequest, "ID_FORMAT", "身份证号码应为18位，最后一位可为X"))
	case errors.Is(err, pii.ErrIDBirth):
		abort(c, problem(http.StatusBadRequest, "ID_BIRTH_DATE", "身份证号码中的出生日期无效"))
	case errors.As(err, new(*store.InputError)):
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", err.Error()))
	case errors.Is(err, store.ErrIdentityTaken):
		abort(c, problem(http.StatusConflict, "IDENTITY_TAKEN", "该身份证号码已绑定其他微信账号"))
	case errors.Is(err, store.ErrIdentityLocked):
		abort(c, problem(http.StatusConflict, "IDENTITY_LOCKED", "本账号已完成实名认证，不能更换为其他身份"))
	case err != nil:
		abort(c, errUnavailable)
	default:
		c.JSON(http.StatusOK, gin.H{"verified": p.Verified, "name": pii.MaskName(req.Name), "idNumber": pii.MaskIDNumber(pii.NormalizeIDNumber(req.IDNumber)),
			"verifiedAt": p.VerifiedAt})
	}
}

// signAgreement records that the verified payee signs the service agreement of a payer.
func (h *handlers) signAgreement(c *gin.Context) {
	ctx := c.Request.Context()
	p, err := h.Store.PayeeByOpenID(ctx, c.GetString("openid"))
	if errors.Is(err, store.ErrNotFound) || err == nil && !p.Verified {
		abort(c, problem(http.StatusConflict, "NOT_VERIFIED", "请先完成实名认证"))
		return
	}
	if err != nil {
		abort(c, errUnavailable)
		return
	}
	a, err := h.Store.SignAgreement(ctx, c.Param("payerId"), p.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		abort(c, problem(http.StatusNotFound, "PAYER_NOT_FOUND", "no such payer"))
	case err != nil:
		abort(c, errUnavailable)
	default:
		c.JSON(http.StatusOK, gin.H{"agreementId": a.ID, "payerId": a.PayerID, "status": a.Status, "signedAt": a.SignedAt})
	}
}

// receiptSummary is one line of the payee's list.
type receiptSummary struct {
	OrderID     string    `json:"orderId"`
	PayerID     string    `json:"payerId"`
	ServiceItem string    `json:"serviceItem"`
	Description string    `json:"description"`
	GrossFen    int64     `json:"grossFen"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// myReceipts lists the payee's orders, newest first, as the store records them.
func (h *handlers) myReceipts(c *gin.Context) {
	ctx := c.Request.Context()
	p, err := h.Store.PayeeByOpenID(ctx, c.GetString("openid"))
	if errors.Is(err, store.ErrNotFound) {
		c.JSON(http.StatusOK, gin.H{"receipts": []receiptSummary{}})
		return
	}
	if err != nil {
		abort(c, errUnavailable)
		return
	}
	orders, err := h.Store.OrdersByPayee(ctx, p.ID, 100)
	if err != nil {
		abort(c, errUnavailable)
		return
	}
	out := make([]receiptSummary, 0, len(orders))
	for _, o := range orders {
		out = append(out, receiptSummary{OrderID: o.ID, PayerID: o.PayerID, ServiceItem: o.ServiceItem, Description: o.Description,
			GrossFen: o.GrossFen, State: o.State, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt})
	}
	c.JSON(http.StatusOK, gin.H{"receipts": out})
}
