package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/proof"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechat"
	"github.com/receiptflow/receiptflow/workflows"
)

// login is the mini-program's wx.login exchange: POST /v1/session {code} → our own session token.
func (h *handlers) login(c *gin.Context) {
	var req struct {
		Code string `json:"code"`
	}
	if !bind(c, &req) {
		return
	}
	if req.Code = strings.TrimSpace(req.Code); !loginCodePattern.MatchString(req.Code) {
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "code: 缺少登录凭证（the code from wx.login）"))
		return
	}
	s, err := h.code2session(c.Request.Context(), req.Code)
	if err != nil {
		abort(c, wechatProblem(err, "登录失败，请重试"))
		return
	}
	token, exp := h.Sessions.Issue(s.OpenID)
	c.JSON(http.StatusOK, gin.H{"token": token, "expiresAt": exp})
}

// code2session retries transient WeChat trouble twice. A code is one-time, so a retry after an answer that was
// lost on the way may meet 40163; the front end then logs in again.
func (h *handlers) code2session(ctx context.Context, code string) (wechat.Session, error) {
	var err error
	for attempt := range 3 {
		var s wechat.Session
		if s, err = h.Login.Code2Session(ctx, code); err == nil || wechat.ClassOf(err) != wechat.Retryable {
			return s, err
		}
		select {
		case <-ctx.Done():
			return wechat.Session{}, err
		case <-time.After(time.Duration(100*(attempt+1)) * time.Millisecond):
		}
	}
	return wechat.Session{}, err
}

func (h *handlers) authenticate(c *gin.Context) {
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok {
		abort(c, errUnauthorized)
		return
	}
	openid, err := h.Sessions.Check(strings.TrimSpace(token))
	switch {
	case errors.Is(err, ErrSessionExpired):
		abort(c, errExpired)
	case err != nil:
		abort(c, errUnauthorized)
	default:
		c.Set("openid", openid)
		c.Next()
	}
}

var orderIDPattern = store.OrderIDPattern

// loginCodePattern is what a wx.login code may look like (printable, no spaces).
var loginCodePattern = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)

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
			Args:         []any{workflows.OpenRequest{OpenID: openid, Proof: h.prove(workflows.RolePayee, openid, o.ID, workflows.UpdateOpen, id)}},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var view workflows.View
	if err == nil {
		err = handle.Get(ctx, &view)
	}
	if err != nil {
		h.Logger.Warn("open receipt failed", "requestId", c.GetString("requestId"), "orderId", o.ID, "error", err)
		abort(c, fromError(err))
		return
	}
	c.JSON(http.StatusOK, view)
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
	view, err := h.queryView(ctx, o.ID)
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		c.JSON(http.StatusOK, view)
	case errors.As(err, &notFound) && o.State != store.OrderCreated:
		// The run is past the namespace's retention: the store still knows how the order ended.
		c.JSON(http.StatusOK, storeView(o))
	default:
		abort(c, fromError(err))
	}
}

// storeView is what the store knows of an order, for when there is no run to ask.
func storeView(o store.Order) *workflows.View {
	return &workflows.View{OrderID: o.ID, State: workflows.State(o.State), PayerID: o.PayerID,
		Amounts: &workflows.Amounts{GrossFen: o.GrossFen}, UpdatedAt: o.UpdatedAt}
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

// update sends a workflow update (ID id, see updateID) for an order and waits for its outcome. The server aborts
// an update whose workflow task failed for reasons of its own (a signal landing while the run completes, say) with
// WorkflowNotReady: the same update ID is sent again, so it is still applied at most once.
func (h *handlers) update(ctx context.Context, orderID, name, id string, arg, out any) error {
	if !h.temporal.Up(ctx) {
		return errTemporalDown
	}
	for attempt := 1; ; attempt++ {
		handle, err := h.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: workflows.WorkflowID(orderID), UpdateID: id, UpdateName: name,
			Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = handle.Get(ctx, out)
		}
		var notReady *serviceerror.WorkflowNotReady
		if !errors.As(err, &notReady) || attempt == 5 {
			if err != nil {
				return h.closedRun(ctx, orderID, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		// The next workflow task is already scheduled: try again soon (10, 40, 90, 160 ms), not at a fixed 100 ms
		// that the payee waited on every return from WeChat's confirm page that crossed the callback.
		case <-time.After(time.Duration(attempt*attempt) * 10 * time.Millisecond):
		}
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
	var res workflows.FaceStartResult
	openid, id := c.GetString("openid"), updateID(c, workflows.UpdateFaceStart)
	start := workflows.FaceStartRequest{OpenID: openid, Proof: h.prove(workflows.RolePayee, openid, o.ID, workflows.UpdateFaceStart, id)}
	if err := h.update(ctx, o.ID, workflows.UpdateFaceStart, id, start, &res); err != nil {
		abort(c, withSeedCode(fromError(err)))
		return
	}
	if req.Source == legacyFaceSource && res.UserIDKey == "" {
		// The 1.0 page (apiGetUserIdKey({source: 1})) cannot run a v2 credential: say what the payee can do.
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
	sub := workflows.FaceSubmitRequest{OpenID: openid, VerifyResult: result, Proof: h.prove(workflows.RolePayee, openid, o.ID, workflows.UpdateFaceSubmit, id)}
	if err := h.update(ctx, o.ID, workflows.UpdateFaceSubmit, id, sub, &res); err != nil {
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
	req := workflows.ConfirmRequest{OpenID: openid, Proof: h.prove(workflows.RolePayee, openid, o.ID, workflows.UpdateConfirm, id)}
	err := h.update(ctx, o.ID, workflows.UpdateConfirm, id, req, &view)
	h.answerUpdate(c, o.ID, view, err)
}

// answerUpdate answers an update that returns the view: 200 with its outcome; when the outcome takes longer than
// the request may wait (a payout in flight), 202 with the view as it stands — the step carries on.
func (h *handlers) answerUpdate(c *gin.Context, orderID string, view workflows.View, err error) {
	if stillRunning(err) {
		qctx, qcancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 2*time.Second)
		defer qcancel()
		if v, qerr := h.queryView(qctx, orderID); qerr == nil {
			c.JSON(http.StatusAccepted, v)
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

// prove is the API's word to the worker that it authenticated role/subject for this update of the order.
func (h *handlers) prove(role, subject, orderID, update, id string) string {
	return h.Proofs.Sign(proof.Claim{Role: role, Subject: subject, WorkflowID: workflows.WorkflowID(orderID), Update: update, UpdateID: id},
		time.Now().Add(proofLifetime))
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
