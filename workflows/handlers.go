package workflows

import (
	"strings"

	"go.temporal.io/sdk/workflow"
)

// register sets up the query, the updates (each validated before it is accepted, so a wrong state, another payee
// or a duplicate never reaches history) and the signals; and turns a cancellation of the workflow itself into the
// platform's cancel request.
func (r *run) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (View, error) { return r.snapshot(), nil }); err != nil {
		return err
	}
	updates := []struct {
		name      string
		fn        any
		validator any
	}{
		{UpdateOpen, r.open, func(req OpenRequest) error { return r.checkPayee(req.OpenID) }},
		{UpdateFaceStart, r.faceStart, r.validateFaceStart},
		{UpdateFaceSubmit, r.faceSubmit, r.validateFaceSubmit},
		{UpdateConfirm, r.confirm, r.validateConfirm},
		{UpdateTransferCheck, r.transferCheck, r.validateTransferCheck},
		{UpdateReview, r.review, r.validateReview},
		{UpdateCancel, r.cancelUpdate, r.validateCancel},
	}
	for _, u := range updates {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.fn, workflow.UpdateHandlerOptions{Validator: u.validator}); err != nil {
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
				r.requestCancel(ctx, platformCancel("temporal-ui", req))
			})
			sel.AddReceive(notices, func(c workflow.ReceiveChannel, _ bool) {
				c.Receive(ctx, nil)
				r.pay.notices++
			})
			sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {
				r.requestCancel(ctx, CancelRequest{Role: RolePlatform, By: "temporal", Reason: "workflow cancellation requested"})
			})
			sel.Select(ctx)
			if ctx.Err() != nil {
				return
			}
		}
	})
	return nil
}

// platformCancel is a cancel that came through Temporal rather than the API: nobody vouched for who sent it, so it
// is the platform's, and what it claims of its sender is kept only as a note.
func platformCancel(via string, req CancelRequest) CancelRequest {
	by := via
	if claimed := strings.TrimSpace(req.By); claimed != "" {
		by += " (unverified: " + claimed + ")"
	}
	return CancelRequest{Role: RolePlatform, By: by, Reason: req.Reason}
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

func (r *run) validateCancel(req CancelRequest) error {
	if strings.TrimSpace(req.By) == "" || (req.Role != RolePayer && req.Role != RoleOperator) {
		return reject(RejectBadRequest, "a cancel names its role (payer or operator) and who asked")
	}
	if r.view.State.Final() {
		return reject(RejectWrongState, "the receipt is "+string(r.view.State)+" and can no longer be cancelled")
	}
	return nil
}

// cancelUpdate asks for the cancel and answers when the run has ended: CANCELLED, or PAID when the payee had
// confirmed in WeChat first. While money is in flight that takes as long as the bill does; a caller that stops
// waiting reads the view, which shows the cancel pending and what it waits for.
func (r *run) cancelUpdate(ctx workflow.Context, req CancelRequest) (View, error) {
	r.requestCancel(ctx, req)
	err := workflow.Await(ctx, func() bool { return r.view.State.Final() })
	return r.snapshot(), err
}
