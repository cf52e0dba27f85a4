package workflows

// The workflow as it was before version 1 (receiptV1), kept verbatim so that runs started before the upgrade
// finish as they began: ConfirmReceipt sends every run whose history has no version marker here, and the replay
// test replays the histories recorded from this code (workflows/testdata/v0_*.json). Do not change it. Delete
// it once no run started before the upgrade can still be open: the longest such run lasts the confirm deadline
// (7 days by default) plus a bill's 24 hours, so one release after the upgrade, with the namespace's retention
// to spare.

import (
	"errors"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/wechatpay"
)

const riskHighV0 = "HIGH"

const transferNotFoundV0 = "NOT_FOUND"

// Local activities are short steps, safe to re-run (store reads, idempotent writes, quick WeChat calls): they cost
// one marker event each and no server round trip. Steps that move money or that operators must see are regular
// activities.
var (
	checkOptionsV0 = workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 5 * time.Second,
			NonRetryableErrorTypes: []string{ErrTypeNotFound, ErrTypeMisconfigured}},
	}
	// Credential issuance: a few quick tries, then tell the payee (获取扫脸用户凭证失败).
	credentialOptionsV0 = workflow.LocalActivityOptions{
		StartToCloseTimeout: 8 * time.Second, ScheduleToCloseTimeout: 20 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 300 * time.Millisecond, BackoffCoefficient: 2, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{ErrTypeNotFound, ErrTypeMisconfigured, ErrTypeFaceUnusable}},
	}
	verifyOptionsV0 = workflow.LocalActivityOptions{
		StartToCloseTimeout: 8 * time.Second, ScheduleToCloseTimeout: 25 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 300 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 3 * time.Second,
			NonRetryableErrorTypes: []string{ErrTypeNotFound, ErrTypeMisconfigured}},
	}
	// Ledger writes retry until they land: they are idempotent on the order.
	ledgerOptionsV0 = workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			NonRetryableErrorTypes: []string{ErrTypeNotFound}},
	}
	// Creating the bill moves money: a regular activity operators see in the UI, retried for hours on transient
	// trouble; the activity itself resolves unknown outcomes by querying the same out_bill_no.
	transferOptionsV0 = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 6 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			NonRetryableErrorTypes: []string{ErrTypeTransferParam, ErrTypeMisconfigured, ErrTypeNotFound}},
	}
	queryOptionsV0 = workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second},
	}
)

// Transfer polling starts quick (the payee is usually on the confirm page) and backs off to Settings' interval.
const firstTransferPollV0 = 30 * time.Second

// run is one ConfirmReceipt execution's state. Handlers and the main flow share it; Temporal runs them one at a
// time, so no locking is needed.
type runV0 struct {
	in  Input
	set Settings

	view View
	elig Eligibility

	// face step
	cred         *FaceCredential
	credSeq      int
	credConsumed bool
	faceBusy     bool
	faceFailures int
	facePassed   bool
	faceDeadline time.Time
	lastFace     *FaceVerdict

	confirmRequested bool
	cancel           *CancelRequest
	cancelSent       bool
	notices          int

	plan        PayoutPlan
	taxReversed bool
	riskShown   bool
}

// ConfirmReceipt runs the payee's whole confirm-receipt sequence: eligibility, face verification when the payee is
// high-risk, the payee's confirm, tax withholding and the payout.
func confirmReceiptV0(ctx workflow.Context, in Input) (View, error) {
	if in.OrderID == "" || in.PayeeOpenID == "" {
		return View{}, temporal.NewNonRetryableApplicationError("orderId and payeeOpenId are required", RejectBadRequest, nil)
	}
	r := &runV0{in: in, set: in.Settings.withDefaults()}
	r.view = View{OrderID: in.OrderID, State: StateChecking, UpdatedAt: workflow.Now(ctx)}
	// Handlers first, before anything blocks: update-with-start delivers its update right away.
	if err := r.register(ctx); err != nil {
		return View{}, err
	}
	r.execute(ctx)
	// Let updates in flight (a confirm waiting for the payout, say) answer before the run completes.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	_ = workflow.Await(dctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return r.snapshot(), nil
}

func (r *runV0) execute(ctx workflow.Context) {
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, checkOptionsV0), CheckEligibility.Name,
		EligibilityInput{OrderID: r.in.OrderID, OpenID: r.in.PayeeOpenID, ClientIP: r.in.ClientIP}).Get(ctx, &r.elig)
	if err != nil {
		if ctx.Err() != nil {
			r.finishCancelled(ctx)
			return
		}
		workflow.GetLogger(ctx).Error("eligibility check failed", "error", err)
		r.finish(ctx, StateRejected, reasonForV0(err, Reason{Code: "CHECK_UNAVAILABLE", Message: "暂时无法完成收款资格校验，请稍后再试"}))
		return
	}
	r.view.PayerID = r.elig.PayerID
	amounts := r.elig.Amounts
	r.view.Amounts = &amounts
	rk := r.elig.Risk
	r.view.Risk = &rk
	switch {
	case r.cancel != nil || ctx.Err() != nil:
		r.finishCancelled(ctx)
		return
	case !r.elig.Eligible:
		r.finish(ctx, StateRejected, r.elig.Reasons...)
		return
	}
	if r.elig.Risk.Level == riskHighV0 && !r.faceStep(ctx) {
		return
	}
	if !r.confirmStep(ctx) {
		return
	}
	r.payStep(ctx)
}

// faceStep waits for a passed face verification; failures exhausted go to manual review. It reports whether the
// run may go on to the payee's confirm.
func (r *runV0) faceStep(ctx workflow.Context) bool {
	r.faceDeadline = workflow.Now(ctx).Add(r.set.FaceDeadline)
	r.setState(ctx, StateFaceRequired)
	inTime, err := workflow.AwaitWithTimeout(ctx, r.set.FaceDeadline, func() bool {
		return r.facePassed || r.faceFailures >= r.set.FaceAttempts || r.cancel != nil
	})
	switch {
	case err != nil || r.cancel != nil:
		r.finishCancelled(ctx)
		return false
	case r.facePassed:
		return true
	case !inTime:
		r.finish(ctx, StateExpired, Reason{Code: "FACE_EXPIRED", Message: "人脸核验已超时，请重新发起收款"})
		return false
	}
	r.setState(ctx, StateManualReview)
	inTime, err = workflow.AwaitWithTimeout(ctx, r.set.ConfirmDeadline, func() bool { return r.view.Review != nil || r.cancel != nil })
	switch {
	case err != nil || r.cancel != nil:
		r.finishCancelled(ctx)
		return false
	case !inTime:
		r.finish(ctx, StateExpired, Reason{Code: "REVIEW_EXPIRED", Message: "人工审核超时，请联系付款企业"})
		return false
	case !r.view.Review.Approved:
		r.finish(ctx, StateRejected, Reason{Code: "REVIEW_REJECTED", Message: "人工审核未通过，请联系付款企业"})
		return false
	}
	return true
}

func (r *runV0) confirmStep(ctx workflow.Context) bool {
	deadline := workflow.Now(ctx).Add(r.set.ConfirmDeadline)
	r.view.ConfirmDeadline = &deadline
	r.setState(ctx, StateAwaitingConfirmation)
	inTime, err := workflow.AwaitWithTimeout(ctx, r.set.ConfirmDeadline, func() bool { return r.confirmRequested || r.cancel != nil })
	switch {
	case r.confirmRequested:
		return true
	case err != nil || r.cancel != nil:
		r.finishCancelled(ctx)
		return false
	case !inTime:
		r.finish(ctx, StateExpired, Reason{Code: "CONFIRM_EXPIRED", Message: "确认收款已超时，请联系付款企业重新发起"})
		return false
	}
	return true
}

// payStep re-checks 三流合一, withholds tax and pays. Money is moving from here on: it runs on a disconnected
// context so that cancelling the workflow still finishes (or cancels) the bill and compensates.
func (r *runV0) payStep(parent workflow.Context) {
	ctx, _ := workflow.NewDisconnectedContext(parent)
	r.setState(ctx, StatePaying)
	in := PayoutInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OpenID: r.in.PayeeOpenID}
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, ledgerOptionsV0), PreparePayout.Name, in).Get(ctx, &r.plan)
	if err != nil {
		workflow.GetLogger(ctx).Error("prepare payout failed", "error", err)
		r.compensate(ctx, "prepare payout failed")
		r.finish(ctx, StateFailed, Reason{Code: "PAYOUT_PREPARE_FAILED", Message: "付款准备失败，请稍后再试"})
		return
	}
	if !r.plan.Approved {
		r.finish(ctx, StateRejected, r.plan.Reasons...)
		return
	}
	amounts := r.plan.Amounts
	r.view.Amounts = &amounts
	r.view.Payout = &PayoutView{OutBillNo: r.plan.OutBillNo, State: "CREATING"}

	tin := TransferInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OpenID: r.in.PayeeOpenID, OutBillNo: r.plan.OutBillNo,
		Attempt: r.plan.Attempt, NetFen: r.plan.Amounts.NetFen}
	var st TransferStatus
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, transferOptionsV0), CreateTransfer.Name, tin).Get(ctx, &st); err != nil {
		// The bill may or may not exist: never guess, ask the channel about the same out_bill_no.
		workflow.GetLogger(ctx).Error("create transfer failed; resolving by query", "error", err)
		st = TransferStatus{OutBillNo: r.plan.OutBillNo, State: "UNKNOWN", FailReason: failureMessageV0(err)}
		if isTypeV0(err, ErrTypeTransferParam) {
			st.State = transferNotFoundV0 // refused before a bill existed
		}
	}
	r.follow(parent, ctx, tin, st)
}

// follow waits for the bill to become final: callbacks and the payee's return nudge it, a backing-off poll
// covers lost callbacks, and a cancel while the payee has not confirmed cancels the bill.
func (r *runV0) follow(parent, ctx workflow.Context, tin TransferInput, st TransferStatus) {
	poll := min(firstTransferPollV0, r.set.TransferPollInterval)
	for {
		// A query does not repeat package_info: keep what the create answered while the payee still has to confirm.
		if st.Confirm == nil && st.State == wechatpay.StateWaitUserConfirm && r.view.Payout != nil {
			st.Confirm = r.view.Payout.Confirm
		}
		r.view.Payout = &PayoutView{OutBillNo: tin.OutBillNo, State: st.State, FailReason: st.FailReason, Confirm: st.Confirm}
		switch {
		case st.State == wechatpay.StateSuccess:
			r.finish(ctx, StatePaid)
			return
		case st.State == wechatpay.StateFail || st.State == wechatpay.StateCancelled || st.State == transferNotFoundV0:
			r.compensate(ctx, "transfer "+st.State+" "+st.FailReason)
			// Only we cancel bills, at the payer's request. The run may not know it asked: the server drops an update
			// whose workflow task failed (a callback's signal landing meanwhile), and the bill was cancelled anyway.
			if st.State == wechatpay.StateCancelled {
				r.finishCancelled(ctx)
				return
			}
			r.finish(ctx, StateFailed, Reason{Code: "TRANSFER_" + st.State, Message: transferFailMessage(st)})
			return
		case st.State == wechatpay.StateWaitUserConfirm:
			r.setState(ctx, StateAwaitingTransferConfirm)
		default:
			r.setState(ctx, StatePaying)
		}
		if parent.Err() != nil && r.cancel == nil {
			r.cancel = &CancelRequest{By: "temporal", Reason: "workflow cancelled"}
		}
		if r.cancel != nil && !r.cancelSent && st.State == wechatpay.StateWaitUserConfirm {
			r.cancelSent = true
			tin.Reason = r.cancel.Reason
			var cst TransferStatus
			if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, queryOptionsV0), CancelTransfer.Name, tin).Get(ctx, &cst); err == nil {
				st = cst
				continue
			}
		}
		seen := r.notices
		wantCancel := func() bool {
			return (r.cancel != nil || parent.Err() != nil) && !r.cancelSent && st.State == wechatpay.StateWaitUserConfirm
		}
		_, _ = workflow.AwaitWithTimeout(ctx, poll, func() bool { return r.notices != seen || wantCancel() })
		if wantCancel() {
			continue
		}
		poll = min(poll*2, r.set.TransferPollInterval)
		var qst TransferStatus
		if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, queryOptionsV0), QueryTransfer.Name, tin).Get(ctx, &qst); err != nil {
			workflow.GetLogger(ctx).Warn("query transfer failed; will poll again", "error", err)
			continue
		}
		st = qst
	}
}

// compensate reverses the tax withheld for a payout that did not happen. Idempotent: reversing twice or
// reversing what was never withheld does nothing.
func (r *runV0) compensate(ctx workflow.Context, why string) {
	if r.taxReversed {
		return
	}
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, ledgerOptionsV0), ReverseTax.Name,
		TransferInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, Reason: why}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("tax reversal failed: an operator must reverse it", "orderId", r.in.OrderID, "error", err)
		return
	}
	r.taxReversed = true
	if r.view.Amounts != nil {
		a := *r.view.Amounts
		a.Booked = false
		a.Reversed = true
		r.view.Amounts = &a
	}
}

func (r *runV0) finishCancelled(ctx workflow.Context) {
	reason := Reason{Code: "CANCELLED", Message: "付款方已取消本笔款项"}
	if r.cancel != nil {
		r.view.CancelledBy = r.cancel.By
		if r.cancel.Reason != "" {
			reason.Message += "：" + r.cancel.Reason
		}
	}
	r.finish(ctx, StateCancelled, reason)
}

// finish records the end on the order and in the search attributes.
func (r *runV0) finish(ctx workflow.Context, s State, reasons ...Reason) {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	r.view.Reasons = reasons
	r.setState(ctx, s)
	reason := ""
	if len(reasons) > 0 {
		reason = reasons[0].Code
	}
	in := FinishInput{OrderID: r.in.OrderID, State: s, Reason: reason}
	if s == StatePaid {
		in.PaidFen = r.plan.Amounts.NetFen
	}
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, ledgerOptionsV0), FinishOrder.Name, in).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("recording the order's final state failed", "orderId", r.in.OrderID, "state", s, "error", err)
	}
}

// setState moves the run and upserts its search attributes: state always, the rest once known.
func (r *runV0) setState(ctx workflow.Context, s State) {
	if r.view.State == s {
		return
	}
	r.view.State = s
	r.view.UpdatedAt = workflow.Now(ctx)
	updates := []temporal.SearchAttributeUpdate{SearchState.ValueSet(string(s))}
	if !r.riskShown && r.elig.PayerID != "" {
		r.riskShown = true
		updates = append(updates, SearchRiskLevel.ValueSet(r.elig.Risk.Level), SearchOrderID.ValueSet(r.in.OrderID),
			SearchPayerID.ValueSet(r.elig.PayerID), SearchAmountFen.ValueSet(r.elig.Amounts.GrossFen))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
	}
}

// snapshot is the page view: a copy, so callers never share the run's slices.
func (r *runV0) snapshot() View {
	v := r.view
	v.Reasons = append([]Reason(nil), r.view.Reasons...)
	if r.elig.Risk.Level == riskHighV0 {
		left := max(0, r.set.FaceAttempts-r.faceFailures)
		f := &FaceView{Mode: r.elig.FaceMode, AttemptsAllowed: r.set.FaceAttempts, AttemptsUsed: r.faceFailures, AttemptsLeft: left, Passed: r.facePassed}
		if !r.faceDeadline.IsZero() {
			d := r.faceDeadline
			f.Deadline = &d
		}
		if r.lastFace != nil {
			f.LastOutcome, f.LastCode = r.lastFace.Outcome, r.lastFace.Code
		}
		v.Face = f
	}
	return v
}

func rejectV0(kind, msg string) error { return temporal.NewApplicationError(msg, kind) }

func isTypeV0(err error, t string) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == t
}

// reasonFor shows the payee a business error's own message, and fallback for anything else.
func reasonForV0(err error, fallback Reason) Reason {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Type() == ErrTypeNotFound {
		return Reason{Code: "ORDER_NOT_FOUND", Message: "订单不存在"}
	}
	return fallback
}

func failureMessageV0(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Message()
	}
	return "unknown"
}

// A credential this close to expiry is not handed out again: the scan would outlive it.
const credentialReuseMarginV0 = time.Minute

func (r *runV0) register(ctx workflow.Context) error {
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

func (r *runV0) checkPayee(openid string) error {
	if openid == "" || openid != r.in.PayeeOpenID {
		return rejectV0(RejectNotYours, "本笔款项不属于当前微信账号")
	}
	return nil
}

func (r *runV0) wantState(s State) error {
	if r.view.State != s {
		return rejectV0(RejectWrongState, "当前款项"+r.view.State.Label()+"，不能进行此操作")
	}
	return nil
}

// open answers every tap with the view once eligibility is known.
func (r *runV0) open(ctx workflow.Context, _ OpenRequest) (View, error) {
	if err := workflow.Await(ctx, func() bool { return r.view.State != StateChecking }); err != nil {
		return View{}, err
	}
	return r.snapshot(), nil
}

func (r *runV0) validateFaceStart(req FaceStartRequest) error {
	if err := r.checkPayee(req.OpenID); err != nil {
		return err
	}
	if err := r.wantState(StateFaceRequired); err != nil {
		return err
	}
	if r.faceBusy {
		return rejectV0(RejectWrongState, "人脸核验正在处理中，请稍候")
	}
	return nil
}

// faceStart hands out the current credential while it is fresh and unused, else issues the next one.
func (r *runV0) faceStart(ctx workflow.Context, req FaceStartRequest) (FaceStartResult, error) {
	r.faceBusy = true
	defer func() { r.faceBusy = false }()
	now := workflow.Now(ctx)
	if r.cred == nil || r.credConsumed || !now.Add(credentialReuseMarginV0).Before(r.cred.ExpiresAt) {
		var cred FaceCredential
		in := FaceCredentialInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OpenID: r.in.PayeeOpenID, Seq: r.credSeq + 1}
		if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, credentialOptionsV0), IssueFaceCredential.Name, in).Get(ctx, &cred); err != nil {
			return FaceStartResult{}, err
		}
		r.cred, r.credSeq, r.credConsumed = &cred, cred.Seq, false
	}
	return FaceStartResult{Mode: r.cred.Mode, UserIDKey: r.cred.UserIDKey, VerifyID: r.cred.VerifyID, ExpiresAt: r.cred.ExpiresAt,
		AttemptsLeft: max(0, r.set.FaceAttempts-r.faceFailures)}, nil
}

func (r *runV0) validateFaceSubmit(req FaceSubmitRequest) error {
	if err := r.checkPayee(req.OpenID); err != nil {
		return err
	}
	if strings.TrimSpace(req.VerifyResult) == "" {
		return rejectV0(RejectBadRequest, "缺少人脸核验结果")
	}
	if err := r.wantState(StateFaceRequired); err != nil {
		return err
	}
	if r.faceBusy {
		return rejectV0(RejectWrongState, "人脸核验正在处理中，请稍候")
	}
	if r.cred == nil || r.credConsumed {
		return rejectV0(RejectWrongState, "请先发起人脸核验")
	}
	return nil
}

// faceSubmit asks WeChat for the real outcome of the scan (二次校验) and counts failures.
func (r *runV0) faceSubmit(ctx workflow.Context, req FaceSubmitRequest) (FaceSubmitResult, error) {
	r.faceBusy, r.credConsumed = true, true
	defer func() { r.faceBusy = false }()
	in := VerifyFaceInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OpenID: r.in.PayeeOpenID, Credential: *r.cred, VerifyResult: strings.TrimSpace(req.VerifyResult)}
	var v FaceVerdict
	if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, verifyOptionsV0), VerifyFace.Name, in).Get(ctx, &v); err != nil {
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

func (r *runV0) validateConfirm(req ConfirmRequest) error {
	if err := r.checkPayee(req.OpenID); err != nil {
		return err
	}
	if r.confirmRequested {
		return rejectV0(RejectWrongState, "已确认收款，请勿重复提交")
	}
	if r.cancel != nil {
		return rejectV0(RejectWrongState, "本笔款项已取消")
	}
	return r.wantState(StateAwaitingConfirmation)
}

// confirm is the payee's 确认收款; it answers once the payout has an outcome or waits for the payee in WeChat.
// Two confirms racing in one workflow task both pass validation; the flag makes them one payout.
func (r *runV0) confirm(ctx workflow.Context, _ ConfirmRequest) (View, error) {
	r.confirmRequested = true
	err := workflow.Await(ctx, func() bool { return r.view.State != StateAwaitingConfirmation && r.view.State != StatePaying })
	return r.snapshot(), err
}

func (r *runV0) validateReview(req ReviewRequest) error {
	if strings.TrimSpace(req.OperatorID) == "" || strings.TrimSpace(req.Note) == "" {
		return rejectV0(RejectBadRequest, "operatorId and note are required")
	}
	if r.view.Review != nil {
		return rejectV0(RejectWrongState, "the run was already reviewed")
	}
	return r.wantState(StateManualReview)
}

func (r *runV0) review(ctx workflow.Context, req ReviewRequest) (View, error) {
	r.view.Review = &ReviewView{OperatorID: req.OperatorID, Approved: req.Approve, Note: req.Note, At: workflow.Now(ctx)}
	err := workflow.Await(ctx, func() bool { return r.view.State != StateManualReview })
	return r.snapshot(), err
}

func (r *runV0) validateCancel(req CancelRequest) error {
	if strings.TrimSpace(req.By) == "" {
		return rejectV0(RejectBadRequest, "by is required")
	}
	switch r.view.State {
	case StateChecking, StateFaceRequired, StateManualReview, StateAwaitingTransferConfirm:
		return nil
	case StateAwaitingConfirmation:
		if !r.confirmRequested {
			return nil
		}
	}
	return rejectV0(RejectWrongState, "the receipt is "+string(r.view.State)+" and can no longer be cancelled")
}

// cancelUpdate answers when the run has ended: CANCELLED, or PAID when the payee confirmed in WeChat first.
func (r *runV0) cancelUpdate(ctx workflow.Context, req CancelRequest) (View, error) {
	if r.cancel == nil {
		r.cancel = &req
	}
	err := workflow.Await(ctx, func() bool { return r.view.State.Final() })
	return r.snapshot(), err
}
