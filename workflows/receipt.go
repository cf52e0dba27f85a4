package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ConfirmReceipt runs the payee's whole confirm-receipt sequence: eligibility, face verification when the payee is
// high-risk, the payee's confirm, tax withholding and the payout, which the payee confirms in WeChat.
func ConfirmReceipt(ctx workflow.Context, in Input) (View, error) {
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
	workflow.Go(work, r.publishWhenWaiting)
	r.run(work)
	// Let updates in flight (a confirm waiting for the payout, say) answer before the run completes.
	_ = workflow.Await(work, func() bool { return workflow.AllHandlersFinished(ctx) })
	r.attrs.publish(work)
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

	attrs     searchAttrs
	announced map[string]bool // the webhook events this run has announced (each once)
}

func newRun(ctx workflow.Context, in Input) *run {
	r := &run{in: in, set: in.Settings.withDefaults(), announced: map[string]bool{}}
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
	elig, err := runLocal(ctx, r, CheckEligibility, checkOptions, EligibilityInput{OrderID: r.in.OrderID, OpenID: r.in.PayeeOpenID, ClientIP: r.in.ClientIP})
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
	if _, err := runLocal(ctx, r, FinishOrder, ledgerOptions, in); err != nil {
		workflow.GetLogger(ctx).Error("recording the order's final state failed", "orderId", r.in.OrderID, "state", s, "error", err)
	}
	r.announce(ctx, finalEvents[s])
}

// enter moves the run to s, says in the UI why it waits (current details) and sets its search attributes: state
// and since when always, the risk level once it is known. The run's start carried the order's other facts.
func (r *run) enter(ctx workflow.Context, s State, details string) {
	workflow.SetCurrentDetails(ctx, details)
	if r.view.State == s {
		return
	}
	now := workflow.Now(ctx)
	r.view.State, r.view.UpdatedAt = s, now
	r.showCancelWait()
	setAttr(&r.attrs, SearchState, string(s))
	setAttr(&r.attrs, SearchStateSince, now)
	if level := r.elig.Risk.Level; level != "" {
		setAttr(&r.attrs, SearchRiskLevel, level)
	}
}

// publishWhenWaiting writes the search attributes the run has set, once each time everything in it waits for the
// outside (runLocal holds it back while a local activity runs): a workflow task that moves through several states
// costs one upsert (one visibility write), not one per state — the confirm's task goes through PAYING to PAID with
// one, written as the run completes.
func (r *run) publishWhenWaiting(ctx workflow.Context) {
	for workflow.Await(ctx, r.attrs.changed) == nil {
		r.attrs.publish(ctx)
	}
}

// runLocal runs one of the run's steps as a local activity. The run's search attributes wait for it: its local
// activities run inside the workflow task, and what they lead to is published with the task's outcome.
func runLocal[I, O any](ctx workflow.Context, r *run, step Step[I, O], opts workflow.LocalActivityOptions, in I) (O, error) {
	r.attrs.held++
	defer func() { r.attrs.held-- }()
	return step.Local(ctx, opts, in)
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
