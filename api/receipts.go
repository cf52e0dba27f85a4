package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
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

// runOpen: Temporal has a running run of the order (asked on a budget of its own, past the request's deadline).
func (h *handlers) runOpen(ctx context.Context, orderID string) bool {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_, err := h.openRun(dctx, orderID)
	return err == nil
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

// startFace is the seed's apiGetUserIdKey: a face credential for the payee's real-name identity.
func (h *handlers) startFace(c *gin.Context) {
	o, ok := h.ownOrder(c)
	if !ok {
		return
	}
	var req struct {
		Source int `json:"source"` // the 1.0 page sends source: 1
	}
	if !bind(c, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	if req.Source == legacyFaceSource {
		// The 1.0 page (apiGetUserIdKey({source: 1})) cannot run a v2 credential: say so before one is issued (each
		// costs WeChat quota).
		if v, err := h.queryView(ctx, o.ID); err == nil && v.Face != nil && v.Face.Mode != faceModeV1 {
			c.Header("Upgrade", upgradeTo)
			abort(c, withSeedCode(errClientOutdated))
			return
		}
	}
	var res workflows.FaceStartResult
	openid, id := c.GetString("openid"), updateID(c, workflows.UpdateFaceStart)
	if err := h.update(ctx, o.ID, workflows.UpdateFaceStart, id, actor{workflows.RolePayee, openid}, func(proof string) any {
		return workflows.FaceStartRequest{OpenID: openid, Proof: proof}
	}, &res); err != nil {
		abort(c, withSeedCode(fromError(err)))
		return
	}
	if req.Source == legacyFaceSource && res.UserIDKey == "" {
		c.Header("Upgrade", upgradeTo) // the run's mode changed between the look and the credential
		abort(c, withSeedCode(errClientOutdated))
		return
	}
	body := gin.H{"errcode": 0, "errmsg": "ok", "mode": res.Mode, "expiresAt": res.ExpiresAt, "attemptsLeft": res.AttemptsLeft}
	if res.UserIDKey != "" {
		body["userIdKey"] = res.UserIDKey
	}
	if res.VerifyID != "" {
		body["verifyId"] = res.VerifyID
	}
	c.JSON(http.StatusOK, body)
}

// legacyFaceSource is the source the 1.0 page sends with apiGetUserIdKey; it only knows face verification 1.0.
// Clients that can run 2.0 (the kit) send no source.
const legacyFaceSource = 1

var errClientOutdated = &Problem{Status: http.StatusUpgradeRequired, Code: "CLIENT_OUTDATED", Message: "请更新小程序后重试"}

// faceModeV1 is the face verification the 1.0 page runs; upgradeTo, what a 426 asks the client to become (RFC 9110
// §15.5.22: a 426 sends Upgrade).
const (
	faceModeV1 = "v1"
	upgradeTo  = "receiptflow-face/2"
)

// submitFace is the seed's apiVerifyFace (二次校验): pass only when identifyRet and errcode are both 0.
func (h *handlers) submitFace(c *gin.Context) {
	o, ok := h.ownOrder(c)
	if !ok {
		return
	}
	var req struct {
		VerifyResult string `json:"verifyResult"` // v1: wx.startFacialRecognitionVerify's verifyResult
		VerifyID     string `json:"verifyId"`     // v2: the verifyId wx.requestFacialVerify ran with
		Source       int    `json:"source"`
	}
	if !bind(c, &req) {
		return
	}
	result := strings.TrimSpace(req.VerifyResult)
	if result == "" {
		result = strings.TrimSpace(req.VerifyID)
	}
	if result == "" || len(result) > 1024 || store.CheckText("verifyResult", result, 1, 1024) != nil {
		abort(c, withSeedCode(problem(http.StatusBadRequest, "BAD_REQUEST", "缺少人脸核验结果（verifyResult (v1) or verifyId (v2) is required）")))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	var res workflows.FaceSubmitResult
	openid, id := c.GetString("openid"), updateID(c, workflows.UpdateFaceSubmit)
	if err := h.update(ctx, o.ID, workflows.UpdateFaceSubmit, id, actor{workflows.RolePayee, openid}, func(proof string) any {
		return workflows.FaceSubmitRequest{OpenID: openid, VerifyResult: result, Proof: proof}
	}, &res); err != nil {
		abort(c, withSeedCode(fromError(err)))
		return
	}
	c.JSON(http.StatusOK, faceAnswer(res))
}

// faceAnswer keeps the seed's contract: identifyRet == 0 && errcode == 0 means pass, and never otherwise.
func faceAnswer(res workflows.FaceSubmitResult) gin.H {
	identifyRet, errcode := res.Code, 0
	switch res.Outcome {
	case workflows.FacePass:
		identifyRet = 0
	case workflows.FaceFail:
		if identifyRet == 0 {
			identifyRet = -1
		}
	case workflows.FaceRetry:
		errcode, identifyRet = res.Code, -1
	case workflows.FaceRefused:
		errcode, identifyRet = faceRefusedErrCode, -1
	}
	return gin.H{"identifyRet": identifyRet, "errcode": errcode, "errmsg": res.Message, "passed": res.Passed,
		"outcome": res.Outcome, "attemptsLeft": res.AttemptsLeft, "state": res.State}
}

// faceRefusedErrCode is our errcode for a result WeChat passed but we refused (another payee's, replayed, stale).
const faceRefusedErrCode = 1

// withSeedCode adds the seed's errcode/errmsg to a problem so its front end can keep checking errcode.
func withSeedCode(p *Problem) *Problem {
	if p.ErrCode != nil {
		q := *p
		q.ErrMsg = p.Message
		return &q
	}
	code := -1
	q := *p
	q.ErrCode, q.ErrMsg = &code, p.Message
	return &q
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
