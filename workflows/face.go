package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// faceStep is the face verification a high-risk payee passes before the confirm.
type faceStep struct {
	cred     *FaceCredential
	seq      int  // credentials issued so far in this run
	consumed bool // the current credential's result was submitted
	busy     bool // a face.start or face.submit is running
	failures int
	passed   bool
	deadline time.Time
	last     *FaceVerdict
}

func (f *faceStep) exhausted(set Settings) bool { return f.failures >= set.FaceAttempts }

func (f *faceStep) attemptsLeft(set Settings) int { return max(0, set.FaceAttempts-f.failures) }

func (f *faceStep) view(mode string, set Settings) *FaceView {
	v := &FaceView{Mode: mode, AttemptsAllowed: set.FaceAttempts, AttemptsUsed: f.failures, AttemptsLeft: f.attemptsLeft(set), Passed: f.passed}
	if !f.deadline.IsZero() {
		d := f.deadline
		v.Deadline = &d
	}
	if f.last != nil {
		v.LastOutcome, v.LastCode = f.last.Outcome, f.last.Code
	}
	return v
}

// A credential this close to expiry is not handed out again: the scan would outlive it.
const credentialReuseMargin = time.Minute

// passFace waits for a passed face verification until the face deadline; failures exhausted go to manual review,
// where an operator decides. It reports whether the run may go on to the payee's confirm.
func (r *run) passFace(ctx workflow.Context) bool {
	r.face.deadline = workflow.Now(ctx).Add(r.set.FaceDeadline)
	r.enter(ctx, StateFaceRequired, fmt.Sprintf("等待收款人人脸核验（已失败 %d/%d 次，截止 %s）", r.face.failures, r.set.FaceAttempts, beijingTime(r.face.deadline)))
	inTime := waitFor(ctx, r.set.FaceDeadline, "人脸核验截止 face deadline", func() bool {
		return r.face.passed || r.face.exhausted(r.set) || r.cancel != nil
	})
	switch {
	case r.cancel != nil:
		r.finishCancelled(ctx)
		return false
	case r.face.passed:
		return true
	case !inTime:
		r.finish(ctx, StateExpired, reasonFaceExpired)
		return false
	}
	r.enter(ctx, StateManualReview, fmt.Sprintf("人脸核验 %d 次未通过，等待运营人员审核（POST /v1/ops/receipts/%s/review）", r.face.failures, r.in.OrderID))
	r.announce(ctx, EventOrderReviewRequired)
	waitFor(ctx, r.set.ConfirmDeadline, "人工审核截止 review deadline", func() bool { return r.view.Review != nil || r.cancel != nil })
	switch {
	case r.cancel != nil:
		r.finishCancelled(ctx)
		return false
	case r.view.Review == nil:
		r.finish(ctx, StateExpired, reasonReviewExpired)
		return false
	case !r.view.Review.Approved:
		r.finish(ctx, StateRejected, reasonReviewRejected)
		return false
	}
	return true
}

func (r *run) validateFaceStart(req FaceStartRequest) error {
	if err := r.checkPayee(req.OpenID); err != nil {
		return err
	}
	if err := r.wantState(StateFaceRequired); err != nil {
		return err
	}
	if r.face.busy {
		return reject(RejectWrongState, "人脸核验正在处理中，请稍候")
	}
	return nil
}

// faceStart hands out the current credential while it is fresh and unused, else issues the next one.
func (r *run) faceStart(ctx workflow.Context, _ FaceStartRequest) (FaceStartResult, error) {
	r.face.busy = true
	defer func() { r.face.busy = false }()
	now := workflow.Now(ctx)
	if c := r.face.cred; c == nil || r.face.consumed || !now.Add(credentialReuseMargin).Before(c.ExpiresAt) {
		cred, err := runLocal(ctx, r, IssueFaceCredential, credentialOptions, FaceCredentialInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID,
			OpenID: r.in.PayeeOpenID, Seq: r.face.seq + 1})
		if err != nil {
			return FaceStartResult{}, err
		}
		r.face.cred, r.face.seq, r.face.consumed = &cred, cred.Seq, false
	}
	c := r.face.cred
	return FaceStartResult{Mode: c.Mode, UserIDKey: c.UserIDKey, VerifyID: c.VerifyID, ExpiresAt: c.ExpiresAt, AttemptsLeft: r.face.attemptsLeft(r.set)}, nil
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
	if r.face.busy {
		return reject(RejectWrongState, "人脸核验正在处理中，请稍候")
	}
	if r.face.cred == nil || r.face.consumed {
		return reject(RejectWrongState, "请先发起人脸核验")
	}
	return nil
}

// faceSubmit asks WeChat for the real outcome of the scan (二次校验) and counts failures.
func (r *run) faceSubmit(ctx workflow.Context, req FaceSubmitRequest) (FaceSubmitResult, error) {
	r.face.busy, r.face.consumed = true, true
	defer func() { r.face.busy = false }()
	v, err := runLocal(ctx, r, VerifyFace, verifyOptions, VerifyFaceInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OpenID: r.in.PayeeOpenID,
		Credential: *r.face.cred, VerifyResult: strings.TrimSpace(req.VerifyResult)})
	if err != nil {
		r.face.consumed = false // nothing was judged: the same scan may be submitted again
		return FaceSubmitResult{}, err
	}
	r.face.last = &v
	switch v.Outcome {
	case FacePass:
		r.face.passed = true
	case FaceFail, FaceRefused:
		r.face.failures++
		workflow.SetCurrentDetails(ctx, fmt.Sprintf("等待收款人人脸核验（已失败 %d/%d 次，上次 %s %d）", r.face.failures, r.set.FaceAttempts, v.Outcome, v.Code))
	}
	if r.face.passed || r.face.exhausted(r.set) {
		// Answer with where the run went (AWAITING_CONFIRMATION or MANUAL_REVIEW), not where it was.
		_ = workflow.Await(ctx, func() bool { return r.view.State != StateFaceRequired })
	}
	if r.view.State == StateManualReview {
		v.Message = manualReviewMessage
	}
	return FaceSubmitResult{Passed: v.Outcome == FacePass, Outcome: v.Outcome, Code: v.Code, Message: v.Message,
		AttemptsLeft: r.face.attemptsLeft(r.set), State: r.view.State}, nil
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

// review is an operator's decision on a run in manual review; it answers once the run moved on.
func (r *run) review(ctx workflow.Context, req ReviewRequest) (View, error) {
	r.view.Review = &ReviewView{OperatorID: req.OperatorID, Approved: req.Approve, Note: req.Note, At: workflow.Now(ctx)}
	err := workflow.Await(ctx, func() bool { return r.view.State != StateManualReview })
	return r.snapshot(), err
}
