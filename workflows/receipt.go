package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Version of ConfirmReceipt's code. A run whose history carries no version marker started before version 1 and
// finishes on that code (legacy_v0.go).
const (
	versionChange = "receipt"
	receiptV1     = 1
)

// ConfirmReceipt runs the payee's whole confirm-receipt sequence: eligibility, face verification when the payee is
// high-risk, the payee's confirm, tax withholding and the payout, which the payee confirms in WeChat.
func ConfirmReceipt(ctx workflow.Context, in Input) (View, error) {
	if workflow.GetVersion(ctx, versionChange, workflow.DefaultVersion, receiptV1) == workflow.DefaultVersion {
		return confirmReceiptV0(ctx, in)
	}
	if in.OrderID == "" || in.PayeeOpenID == "" {
		return View{}, temporal.NewNonRetryableApplicationError("orderId and payeeOpenId are required", RejectBadRequest, nil)
	}
	r := newRun(ctx, in)
	// Handlers first, before anything blocks: update-with-start delivers its update right away.
	if err := r.register(ctx); err != nil {
		return View{}, err
	}
	// Every wait below runs on a disconnected context: cancelling the workflow is one more way to ask for a
	// cancel (the platform's), never a way to abandon money in flight.
	work, _ := workflow.NewDisconnectedContext(ctx)
	r.run(work)
	// Let updates in flight (a confirm waiting for the payout, say) answer before the run completes.
	_ = workflow.Await(work, func() bool { return workflow.AllHandlersFinished(ctx) })
	return r.snapshot(), nil
}

// run is one ConfirmReceipt execution's state. Handlers and the main sequence share it; Temporal runs them one at a
// time, so no locking is needed.
type run struct {
	in  Input
	set Settings

	view View
	elig Eligibility

	face             faceStep
	confirmRequested bool
	cancel           *CancelRequest // the first cancel asked for, whoever asked
	pay              payStep

	attrsShown bool
}

func newRun(ctx workflow.Context, in Input) *run {
	r := &run{in: in, set: in.Settings.withDefaults()}
	r.view = View{OrderID: in.OrderID, State: StateChecking, UpdatedAt: workflow.Now(ctx)}
	return r
}

// run is the sequence: the door, the face when the payee is high-risk, the payee's 确认收款, the money.
func (r *run) run(ctx workflow.Context) {
	if !r.checkEligibility(ctx) {
		return
	}
	if r.elig.Risk.Level == riskHigh && !r.passFace(ctx) {
		return
	}
	if !r.awaitConfirm(ctx) {
		return
	}
	r.payOut(ctx)
}

// checkEligibility answers the 金额明细 page: login binding, real-name, 三流合一, risk and the amounts.
func (r *run) checkEligibility(ctx workflow.Context) bool {
	elig, err := CheckEligibility.Local(ctx, checkOptions, EligibilityInput{OrderID: r.in.OrderID, OpenID: r.in.PayeeOpenID, ClientIP: r.in.ClientIP})
	if err != nil {
		workflow.GetLogger(ctx).Error("eligibility check failed", "error", err)
		r.finish(ctx, StateRejected, reasonFor(err, reasonCheckUnavailable))
		return false
	}
	r.elig = elig
	r.view.PayerID = elig.PayerID
	amounts, rk := elig.Amounts, elig.Risk
	r.view.Amounts, r.view.Risk = &amounts, &rk
	switch {
	case r.cancel != nil:
		r.finishCancelled(ctx)
		return false
	case !elig.Eligible:
		r.finish(ctx, StateRejected, elig.Reasons...)
		return false
	}
	return true
}

// awaitConfirm waits for the payee's 确认收款 until the confirm deadline.
func (r *run) awaitConfirm(ctx workflow.Context) bool {
	deadline := workflow.Now(ctx).Add(r.set.ConfirmDeadline)
	r.view.ConfirmDeadline = &deadline
	r.enter(ctx, StateAwaitingConfirmation, fmt.Sprintf("等待收款人确认收款（截止 %s）", beijingTime(deadline)))
	waitFor(ctx, r.set.ConfirmDeadline, "确认收款截止 confirm deadline", func() bool { return r.confirmRequested || r.cancel != nil })
	switch {
	case r.confirmRequested:
		return true
	case r.cancel != nil:
		r.finishCancelled(ctx)
	default:
		r.finish(ctx, StateExpired, reasonConfirmExpired)
	}
	return false
}

// requestCancel takes the first cancel asked for; the sequence acts on it at its next step: at once before the
// money moves, by cancelling the bill while the payee has not confirmed it, not at all once they have.
func (r *run) requestCancel(ctx workflow.Context, req CancelRequest) {
	if r.cancel != nil || r.view.State.Final() {
		return
	}
	r.cancel = &req
	r.view.Cancel = &CancelView{Role: req.Role, By: req.By, Reason: req.Reason, At: workflow.Now(ctx), Pending: true}
	r.view.CancelledBy = req.Role + ":" + req.By
	r.showCancelWait()
}

// showCancelWait says what a pending cancel waits for.
func (r *run) showCancelWait() {
	c := r.view.Cancel
	if c == nil || !c.Pending {
		return
	}
	switch r.view.State {
	case StatePaying:
		c.WaitingFor = "转账单创建中：创建后，收款人尚未确认即撤销 (the bill is being created; it is withdrawn once it exists, unless the payee confirmed it)"
	case StateAwaitingTransferConfirm:
		c.WaitingFor = "正在撤销等待收款人确认的转账单 (withdrawing the bill the payee has not confirmed)"
	default:
		c.WaitingFor = ""
	}
}

func (r *run) finishCancelled(ctx workflow.Context) {
	by := RolePlatform
	if r.cancel != nil {
		by = r.cancel.Role
		r.view.Cancel.Pending, r.view.Cancel.WaitingFor = false, ""
	}
	r.finish(ctx, StateCancelled, cancelledReason(by))
}

// finish records the end on the order and in the search attributes.
func (r *run) finish(ctx workflow.Context, s State, reasons ...Reason) {
	r.view.Reasons = reasons
	if c := r.view.Cancel; c != nil && c.Pending {
		// A cancel that came too late: the payee had already confirmed, and the run ends as the bill did.
		c.Pending, c.WaitingFor = false, "未能撤销：收款人已确认收款 (too late: the payee had confirmed)"
	}
	r.enter(ctx, s, finalDetails(s, reasons))
	in := FinishInput{OrderID: r.in.OrderID, State: s}
	if len(reasons) > 0 {
		in.Reason = reasons[0].Code
	}
	if s == StatePaid {
		in.PaidFen = r.pay.plan.Amounts.NetFen
	}
	if _, err := FinishOrder.Local(ctx, ledgerOptions, in); err != nil {
		workflow.GetLogger(ctx).Error("recording the order's final state failed", "orderId", r.in.OrderID, "state", s, "error", err)
	}
}

// enter moves the run to s, says in the UI why it waits (current details) and upserts its search attributes:
// state and since when always, the order's facts once they are known.
func (r *run) enter(ctx workflow.Context, s State, details string) {
	workflow.SetCurrentDetails(ctx, details)
	if r.view.State == s {
		return
	}
	now := workflow.Now(ctx)
	r.view.State, r.view.UpdatedAt = s, now
	r.showCancelWait()
	updates := []temporal.SearchAttributeUpdate{SearchState.ValueSet(string(s)), SearchStateSince.ValueSet(now)}
	if !r.attrsShown && r.elig.PayerID != "" {
		r.attrsShown = true
		updates = append(updates, SearchRiskLevel.ValueSet(r.elig.Risk.Level), SearchOrderID.ValueSet(r.in.OrderID),
			SearchPayerID.ValueSet(r.elig.PayerID), SearchAmountFen.ValueSet(r.elig.Amounts.GrossFen))
		if r.elig.MerchantOrderNo != "" {
			updates = append(updates, SearchMerchantOrderNo.ValueSet(r.elig.MerchantOrderNo))
		}
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
		v.Face = r.face.view(r.elig.FaceMode, r.set)
	}
	if r.view.Payout != nil {
		p := *r.view.Payout
		v.Payout = &p
	}
	if r.view.Cancel != nil {
		c := *r.view.Cancel
		v.Cancel = &c
	}
	return v
}

// waitFor blocks until done holds or d passes, and reports whether done won. The deadline is a timer named for
// operators, cancelled when done wins, so it never fires for nothing.
func waitFor(ctx workflow.Context, d time.Duration, summary string, done func() bool) bool {
	if done() {
		return true
	}
	tctx, cancelTimer := workflow.WithCancel(ctx)
	timer := workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: summary})
	_ = workflow.Await(ctx, func() bool { return done() || timer.IsReady() })
	if done() {
		cancelTimer()
		return true
	}
	return false
}

// sleep waits d on a timer named for operators.
func sleep(ctx workflow.Context, d time.Duration, summary string) {
	_ = workflow.NewTimerWithOptions(ctx, d, workflow.TimerOptions{Summary: summary}).Get(ctx, nil)
}

func reject(kind, msg string) error { return temporal.NewApplicationError(msg, kind) }

func isType(err error, t string) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == t
}

// reasonFor shows the payee a business error's own message, and fallback for anything else.
func reasonFor(err error, fallback Reason) Reason {
	if isType(err, ErrTypeNotFound) {
		return reasonOrderNotFound
	}
	return fallback
}

// errorText is what an operator reads of an activity's failure.
func errorText(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Message()
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "timeout: " + te.TimeoutType().String()
	}
	return err.Error()
}

// beijing is China Standard Time, for times the payee and operators read.
var beijing = time.FixedZone("CST", 8*60*60)

func beijingTime(t time.Time) string { return t.In(beijing).Format("2006-01-02 15:04") }
