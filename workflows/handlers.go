package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// A credential this close to expiry is not handed out again: the scan would outlive it.
const credentialReuseMargin = time.Minute

func (r *run) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (View, error) { return r.snapshot(), nil }); err != nil {
		return err
	}
	handlers := []struct {
		name      string
		fn        any
		validator any
	}{
		{UpdateOpen, r.open, func(req OpenRequest) error { return r.checkPayee(req.OpenID) }},
		{UpdateFaceStart, r.faceStart, r.validateFaceStart},
		{UpdateFaceSubmit, r.faceSubmit, r.validateFaceSubmit},
		{UpdateConfirm, r.confirm, r.validateConfirm},
		{UpdateReview, r.review, r.validateReview},
		{UpdateCancel, r.cancelUpdate, r.validateCancel},
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.fn, workflow.UpdateHandlerOptions{Validator: h.validator}); err != nil {
			return err
		}
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		cancels := workflow.GetSignalChannel(ctx, SignalCancel)
		notices := workflow.GetSignalChannel(ctx, SignalTransferNotice)
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(cancels, func(c workflow.ReceiveChannel, _ bool) {
				var req CancelRequest
				c.Receive(ctx, &req)
				if r.cancel == nil && !r.view.State.Final() {
					if req.By == "" {
						req.By = "operator"
					}
					r.cancel = &req
				}
			})
			sel.AddReceive(notices, func(c workflow.ReceiveChannel, _ bool) {
				var n TransferNotice
				c.Receive(ctx, &n)
				r.notices++
			})
			sel.Select(ctx)
		}
	})
	return nil
}

func (r *run) checkPayee(openid string) error {
	if openid == "" || openid != r.in.PayeeOpenID {
		return reject(RejectNotYours, "本笔款项不属于当前微信账号")
	}
	return nil
}

func (r *run) wantState(s State) error {
	if r.view.State != s {
		return reject(RejectWrongState, "当前款项"+r.view.State.Label()+"，不能进行此操作")
	}
	return nil
}

// open answers every tap with the view once eligibility is known.
func (r *run) open(ctx workflow.Context, _ OpenRequest) (View, error) {
	if err := workflow.Await(ctx, func() bool { return r.view.State != StateChecking }); err != nil {
		return View{}, err
	}
	return r.snapshot(), nil
}

func (r *run) validateFaceStart(req FaceStartRequest) error {
	if err := r.checkPayee(req.OpenID); err != nil {
		return err
	}
	if err := r.wantState(StateFaceRequired); err != nil {
		return err
	}
	if r.faceBusy {
		return reject(RejectWrongState, "人脸核验正在处理中，请稍候")
	}
	return nil
}

// faceStart hands out the current credential while it is fresh and unused, else issues the next one.
func (r *run) faceStart(ctx workflow.Context, req FaceStartRequest) (FaceStartResult, error) {
	r.faceBusy = true
	defer func() { r.faceBusy = false }()
	now := workflow.Now(ctx)
	if r.cred == nil || r.credConsumed || !now.Add(credentialReuseMargin).Before(r.cred.ExpiresAt) {
		var cred FaceCredential
		in := FaceCredentialInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OpenID: r.in.PayeeOpenID, Seq: r.credSeq + 1}
		if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, credentialOptions), ActivityIssueFaceCredential, in).Get(ctx, &cred); err != nil {
			return FaceStartResult{}, err
		}
		r.cred, r.credSeq, r.credConsumed = &cred, cred.Seq, false
	}
	return FaceStartResult{Mode: r.cred.Mode, UserIDKey: r.cred.UserIDKey, VerifyID: r.cred.VerifyID, ExpiresAt: r.cred.ExpiresAt,
		AttemptsLeft: max(0, r.set.FaceAttempts-r.faceFailures)}, nil
}

func (r *run) validateFaceSubmit(req FaceSubmitRequest) error {
	if err := r.checkPayee(req.OpenID); err != nil {
		return err
	}
	if strings.TrimSpace(req.VerifyResult) == "" {
		return reject(RejectBadRequest, "缺少人脸核验结果")
	}
	if err := r.wantState(StateFaceRequired); err != nil {
		return err
	}
	if r.faceBusy {
		return reject(RejectWrongState, "人脸核验正在处理中，请稍候")
	}
	if r.cred == nil || r.credConsumed {
		return reject(RejectWrongState, "请先发起人脸核验")
	}
	return nil
}

// faceSubmit asks WeChat for the real outcome of the scan (二次校验) and counts failures.
func (r *run) faceSubmit(ctx workflow.Context, req FaceSubmitRequest) (FaceSubmitResult, error) {
	r.faceBusy, r.credConsumed = true, true
	defer func() { r.faceBusy = false }()
	in := VerifyFaceInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OpenID: r.in.PayeeOpenID, Credential: *r.cred, VerifyResult: strings.TrimSpace(req.VerifyResult)}
	var v FaceVerdict
	if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, verifyOptions), ActivityVerifyFace, in).Get(ctx, &v); err != nil {
		r.credConsumed = false // nothing was judged: the same scan may be submitted again
		return FaceSubmitResult{}, err
	}
	r.lastFace = &v
	switch v.Outcome {
	case FacePass:
		r.facePassed = true
	case FaceFail, FaceRefused:
		r.faceFailures++
	}
	if r.facePassed || r.faceFailures >= r.set.FaceAttempts {
		// Answer with where the run went (AWAITING_CONFIRMATION or MANUAL_REVIEW), not where it was.
		_ = workflow.Await(ctx, func() bool { return r.view.State != StateFaceRequired })
	}
	if r.view.State == StateManualReview {
		v.Message = manualReviewMessage
	}
	return FaceSubmitResult{Passed: v.Outcome == FacePass, Outcome: v.Outcome, Code: v.Code, Message: v.Message,
		AttemptsLeft: max(0, r.set.FaceAttempts-r.faceFailures), State: r.view.State}, nil
}

func (r *run) validateConfirm(req ConfirmRequest) error {
	if err := r.checkPayee(req.OpenID); err != nil {
		return err
	}
	if r.confirmRequested {
		return reject(RejectWrongState, "已确认收款，请勿重复提交")
	}
	if r.cancel != nil {
		return reject(RejectWrongState, "本笔款项已取消")
	}
	return r.wantState(StateAwaitingConfirmation)
}

// confirm is the payee's 确认收款; it answers once the payout has an outcome or waits for the payee in WeChat.
// Two confirms racing in one workflow task both pass validation; the flag makes them one payout.
func (r *run) confirm(ctx workflow.Context, _ ConfirmRequest) (View, error) {
	r.confirmRequested = true
	err := workflow.Await(ctx, func() bool { return r.view.State != StateAwaitingConfirmation && r.view.State != StatePaying })
	return r.snapshot(), err
}

func (r *run) validateReview(req ReviewRequest) error {
	if strings.TrimSpace(req.OperatorID) == "" || strings.TrimSpace(req.Note) == "" {
		return reject(RejectBadRequest, "operatorId and note are required")
	}
	if r.view.Review != nil {
		return reject(RejectWrongState, "the run was already reviewed")
	}
	return r.wantState(StateManualReview)
}

func (r *run) review(ctx workflow.Context, req ReviewRequest) (View, error) {
	r.view.Review = &ReviewView{OperatorID: req.OperatorID, Approved: req.Approve, Note: req.Note, At: workflow.Now(ctx)}
	err := workflow.Await(ctx, func() bool { return r.view.State != StateManualReview })
	return r.snapshot(), err
}

func (r *run) validateCancel(req CancelRequest) error {
	if strings.TrimSpace(req.By) == "" {
		return reject(RejectBadRequest, "by is required")
	}
	switch r.view.State {
	case StateChecking, StateFaceRequired, StateManualReview, StateAwaitingTransferConfirm:
		return nil
	case StateAwaitingConfirmation:
		if !r.confirmRequested {
			return nil
		}
	}
	return reject(RejectWrongState, "the receipt is "+string(r.view.State)+" and can no longer be cancelled")
}

// cancelUpdate answers when the run has ended: CANCELLED, or PAID when the payee confirmed in WeChat first.
func (r *run) cancelUpdate(ctx workflow.Context, req CancelRequest) (View, error) {
	if r.cancel == nil {
		r.cancel = &req
	}
	err := workflow.Await(ctx, func() bool { return r.view.State.Final() })
	return r.snapshot(), err
}
