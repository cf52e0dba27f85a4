package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Error types of rejected updates, which the API maps to HTTP statuses.
const (
	RejectWrongState = "WrongState"   // 409: the run is not waiting for this
	RejectNotYours   = "NotYourOrder" // 403
	RejectBadRequest = "BadRequest"   // 400
)

// Risk level that needs face verification (risk.High; the workflow does not import the rule package).
const riskHigh = "HIGH"

// Transfer states the channel reports when it has no such bill (never created).
const transferNotFound = "NOT_FOUND"

// Local activities are short steps, safe to re-run (store reads, idempotent writes, quick WeChat calls): they cost
// one marker event each and no server round trip. Steps that move money or that operators must see are regular
// activities.
var (
	checkOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 5 * time.Second,
			NonRetryableErrorTypes: []string{ErrTypeNotFound, ErrTypeMisconfigured}},
	}
	// Credential issuance: a few quick tries, then tell the payee (获取扫脸用户凭证失败).
	credentialOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout: 8 * time.Second, ScheduleToCloseTimeout: 20 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 300 * time.Millisecond, BackoffCoefficient: 2, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{ErrTypeNotFound, ErrTypeMisconfigured, ErrTypeFaceUnusable}},
	}
	verifyOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout: 8 * time.Second, ScheduleToCloseTimeout: 25 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 300 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 3 * time.Second,
			NonRetryableErrorTypes: []string{ErrTypeNotFound, ErrTypeMisconfigured}},
	}
	// Ledger writes retry until they land: they are idempotent on the order.
	ledgerOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			NonRetryableErrorTypes: []string{ErrTypeNotFound}},
	}
	// Creating the bill moves money: a regular activity operators see in the UI, retried for hours on transient
	// trouble; the activity itself resolves unknown outcomes by querying the same out_bill_no.
	transferOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 6 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			NonRetryableErrorTypes: []string{ErrTypeTransferParam, ErrTypeMisconfigured, ErrTypeNotFound}},
	}
	queryOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second},
	}
)

// Transfer polling starts quick (the payee is usually on the confirm page) and backs off to Settings' interval.
const firstTransferPoll = 30 * time.Second

// run is one ConfirmReceipt execution's state. Handlers and the main flow share it; Temporal runs them one at a
// time, so no locking is needed.
type run struct {
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
func ConfirmReceipt(ctx workflow.Context, in Input) (View, error) {
	if in.OrderID == "" || in.PayeeOpenID == "" {
		return View{}, temporal.NewNonRetryableApplicationError("orderId and payeeOpenId are required", RejectBadRequest, nil)
	}
	r := &run{in: in, set: in.Settings.withDefaults()}
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

func (r *run) execute(ctx workflow.Context) {
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, checkOptions), ActivityCheckEligibility,
		EligibilityInput{OrderID: r.in.OrderID, OpenID: r.in.PayeeOpenID, ClientIP: r.in.ClientIP}).Get(ctx, &r.elig)
	if err != nil {
		if ctx.Err() != nil {
			r.finishCancelled(ctx)
			return
		}
		workflow.GetLogger(ctx).Error("eligibility check failed", "error", err)
		r.finish(ctx, StateRejected, reasonFor(err, Reason{Code: "CHECK_UNAVAILABLE", Message: "暂时无法完成收款资格校验，请稍后再试"}))
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
	if r.elig.Risk.Level == riskHigh && !r.faceStep(ctx) {
		return
	}
	if !r.confirmStep(ctx) {
		return
	}
	r.payStep(ctx)
}

// faceStep waits for a passed face verification; failures exhausted go to manual review. It reports whether the
// run may go on to the payee's confirm.
func (r *run) faceStep(ctx workflow.Context) bool {
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

func (r *run) confirmStep(ctx workflow.Context) bool {
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
func (r *run) payStep(parent workflow.Context) {
	ctx, _ := workflow.NewDisconnectedContext(parent)
	r.setState(ctx, StatePaying)
	in := PayoutInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OpenID: r.in.PayeeOpenID}
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, ledgerOptions), ActivityPreparePayout, in).Get(ctx, &r.plan)
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
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, transferOptions), ActivityCreateTransfer, tin).Get(ctx, &st); err != nil {
		// The bill may or may not exist: never guess, ask the channel about the same out_bill_no.
		workflow.GetLogger(ctx).Error("create transfer failed; resolving by query", "error", err)
		st = TransferStatus{OutBillNo: r.plan.OutBillNo, State: "UNKNOWN", FailReason: failureMessage(err)}
		if isType(err, ErrTypeTransferParam) {
			st.State = transferNotFound // refused before a bill existed
		}
	}
	r.follow(parent, ctx, tin, st)
}

// follow waits for the bill to become final: callbacks and the payee's return nudge it, a backing-off poll
// covers lost callbacks, and a cancel while the payee has not confirmed cancels the bill.
func (r *run) follow(parent, ctx workflow.Context, tin TransferInput, st TransferStatus) {
	poll := min(firstTransferPoll, r.set.TransferPollInterval)
	for {
		// A query does not repeat package_info: keep what the create answered while the payee still has to confirm.
		if st.Confirm == nil && st.State == TransferWaitUserConfirm && r.view.Payout != nil {
			st.Confirm = r.view.Payout.Confirm
		}
		r.view.Payout = &PayoutView{OutBillNo: tin.OutBillNo, State: st.State, FailReason: st.FailReason, Confirm: st.Confirm}
		switch {
		case st.State == TransferSuccess:
			r.finish(ctx, StatePaid)
			return
		case st.State == TransferFail || st.State == TransferCancelled || st.State == transferNotFound:
			r.compensate(ctx, "transfer "+st.State+" "+st.FailReason)
			// Only we cancel bills, at the payer's request. The run may not know it asked: the server drops an update
			// whose workflow task failed (a callback's signal landing meanwhile), and the bill was cancelled anyway.
			if st.State == TransferCancelled {
				r.finishCancelled(ctx)
				return
			}
			r.finish(ctx, StateFailed, Reason{Code: "TRANSFER_" + st.State, Message: transferFailMessage(st)})
			return
		case st.State == TransferWaitUserConfirm:
			r.setState(ctx, StateAwaitingTransferConfirm)
		default:
			r.setState(ctx, StatePaying)
		}
		if parent.Err() != nil && r.cancel == nil {
			r.cancel = &CancelRequest{By: "temporal", Reason: "workflow cancelled"}
		}
		if r.cancel != nil && !r.cancelSent && st.State == TransferWaitUserConfirm {
			r.cancelSent = true
			tin.Reason = r.cancel.Reason
			var cst TransferStatus
			if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, queryOptions), ActivityCancelTransfer, tin).Get(ctx, &cst); err == nil {
				st = cst
				continue
			}
		}
		seen := r.notices
		wantCancel := func() bool {
			return (r.cancel != nil || parent.Err() != nil) && !r.cancelSent && st.State == TransferWaitUserConfirm
		}
		_, _ = workflow.AwaitWithTimeout(ctx, poll, func() bool { return r.notices != seen || wantCancel() })
		if wantCancel() {
			continue
		}
		poll = min(poll*2, r.set.TransferPollInterval)
		var qst TransferStatus
		if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, queryOptions), ActivityQueryTransfer, tin).Get(ctx, &qst); err != nil {
			workflow.GetLogger(ctx).Warn("query transfer failed; will poll again", "error", err)
			continue
		}
		st = qst
	}
}

// compensate reverses the tax withheld for a payout that did not happen. Idempotent: reversing twice or
// reversing what was never withheld does nothing.
func (r *run) compensate(ctx workflow.Context, why string) {
	if r.taxReversed {
		return
	}
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, ledgerOptions), ActivityReverseTax,
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

func (r *run) finishCancelled(ctx workflow.Context) {
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
func (r *run) finish(ctx workflow.Context, s State, reasons ...Reason) {
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
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, ledgerOptions), ActivityFinishOrder, in).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("recording the order's final state failed", "orderId", r.in.OrderID, "state", s, "error", err)
	}
}

// setState moves the run and upserts its search attributes: state always, the rest once known.
func (r *run) setState(ctx workflow.Context, s State) {
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
func (r *run) snapshot() View {
	v := r.view
	v.Reasons = append([]Reason(nil), r.view.Reasons...)
	if r.elig.Risk.Level == riskHigh {
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

func reject(kind, msg string) error { return temporal.NewApplicationError(msg, kind) }

func isType(err error, t string) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == t
}

// reasonFor shows the payee a business error's own message, and fallback for anything else.
func reasonFor(err error, fallback Reason) Reason {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Type() == ErrTypeNotFound {
		return Reason{Code: "ORDER_NOT_FOUND", Message: "订单不存在"}
	}
	return fallback
}

func failureMessage(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Message()
	}
	return "unknown"
}
