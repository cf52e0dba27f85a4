package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/wechatpay"
)

// followBill follows a bill until it ends: paid, failed, cancelled, or withdrawn to be replaced.
func (r *run) followBill(ctx workflow.Context, st TransferStatus) (billOutcome, TransferStatus) {
	defer r.stopAwait()
	resendCancel := true
	for {
		r.showBill(ctx, st)
		switch {
		case st.State == wechatpay.StateSuccess:
			return billPaid, st
		case st.State == wechatpay.StateFail:
			return billFailed, st
		case st.State == TransferNotFound && r.cancel != nil:
			return billCancelled, st
		case st.State == TransferNotFound:
			return billFailed, st
		case st.State == wechatpay.StateCancelled && r.pay.replacing:
			r.pay.replacing = false
			return billReplaced, st
		case st.State == wechatpay.StateCancelled:
			// Only we cancel bills, and only when asked to. The run may not know it asked (an update lost with a
			// failed workflow task): a cancelled bill still ends the run cancelled.
			return billCancelled, st
		case st.State == wechatpay.StateWaitUserConfirm && st.Confirm == nil && !r.pay.replacing && resendCancel:
			// The confirm parameters were lost with the create's answer: the payee could never confirm this bill.
			// Withdraw it and pay with the next one, rather than leave the payee with a bill that closes in 24 h.
			r.pay.replacing = true
			if st, resendCancel = r.cancelBill(ctx, st, "confirm parameters lost"); !resendCancel {
				r.pay.replacing = false
			}
			continue
		case st.State == wechatpay.StateWaitUserConfirm && r.cancel != nil && !r.pay.cancelled && resendCancel:
			r.pay.cancelled = true
			if st, resendCancel = r.cancelBill(ctx, st, r.cancel.Reason); !resendCancel {
				r.pay.cancelled = false
			}
			continue
		}
		st = r.awaitBill(ctx, st)
		resendCancel = true
	}
}

// cancelBill withdraws a bill the payee has not confirmed; it reports whether the request got through (when not,
// the sequence waits for the next look at the bill before asking again).
func (r *run) cancelBill(ctx workflow.Context, st TransferStatus, why string) (TransferStatus, bool) {
	in := r.transferInput("")
	in.Reason = why
	got, err := runLocal(ctx, r, CancelTransfer, queryOptions, in)
	if err != nil {
		workflow.GetLogger(ctx).Warn("cancel transfer failed; will try again", "outBillNo", in.OutBillNo, "error", err)
		return st, false
	}
	return got, true
}

// awaitBill waits for the bill to move on from st: WeChat Pay's callback (a notice), the payee back from the confirm
// page (transfer.check), the server's next look (AwaitTransfer), or a cancel to act on.
func (r *run) awaitBill(ctx workflow.Context, st TransferStatus) TransferStatus {
	if r.pay.await == nil || r.pay.awaitSince != st.State {
		r.stopAwait()
		actx, stop := workflow.WithCancel(ctx)
		opts := awaitOptions
		opts.Summary = "等待转账结果 awaiting bill " + st.OutBillNo + " (" + st.State + ")"
		f := AwaitTransfer.Start(actx, opts, r.transferInput(st.State))
		r.pay.await, r.pay.awaitSince, r.pay.stopAwait = &f, st.State, stop
	}
	notices, observed := r.pay.notices, r.pay.observed
	wantCancel := func() bool {
		return r.cancel != nil && !r.pay.cancelled && st.State == wechatpay.StateWaitUserConfirm
	}
	_ = workflow.Await(ctx, func() bool {
		return r.pay.await.IsReady() || r.pay.notices != notices || r.pay.observed != observed || wantCancel()
	})
	switch {
	case r.pay.observed != observed:
		r.pay.applied = r.pay.observed
		if r.pay.latest.State != "" {
			return r.pay.latest
		}
	case r.pay.notices != notices:
		if q, err := runLocal(ctx, r, QueryTransfer, queryOptions, r.transferInput("")); err == nil {
			return q
		}
	case r.pay.await.IsReady():
		got, err := r.pay.await.Get(ctx)
		r.pay.await = nil
		if err == nil {
			return got
		}
		// The wait outlived its bound (the bill never closed?): look once ourselves, and wait again.
		if q, qerr := runLocal(ctx, r, QueryTransfer, queryOptions, r.transferInput("")); qerr == nil {
			return q
		}
	}
	return st
}

func (r *run) stopAwait() {
	if r.pay.stopAwait != nil {
		r.pay.stopAwait()
	}
	r.pay.await, r.pay.awaitSince, r.pay.stopAwait = nil, "", nil
}

// showBill puts the bill in the view and says what the run waits for. The confirm parameters stay while the payee
// can still (re)open WeChat's confirm page: waiting for them, or transferring after their confirm.
func (r *run) showBill(ctx workflow.Context, st TransferStatus) {
	prev := r.pay.bill
	if st.Confirm == nil && prev.OutBillNo == st.OutBillNo && (st.State == wechatpay.StateWaitUserConfirm || st.State == wechatpay.StateTransfering) {
		st.Confirm = prev.Confirm
	}
	r.pay.bill = st
	p := &PayoutView{OutBillNo: st.OutBillNo, Attempt: r.pay.plan.Attempt, State: st.State, FailReason: st.FailReason, Confirm: st.Confirm}
	if r.view.Payout != nil {
		p.Tries = r.view.Payout.Tries
	}
	r.view.Payout = p
	switch {
	case st.State == wechatpay.StateWaitUserConfirm && st.Confirm != nil && !r.pay.replacing:
		if prev.OutBillNo != st.OutBillNo || prev.State != st.State {
			r.pay.billSince = workflow.Now(ctx)
		}
		r.enter(ctx, StateAwaitingTransferConfirm, fmt.Sprintf("等待收款人在微信确认收款：转账单 %s，%s 前有效 (waiting for the payee to confirm in WeChat)",
			st.OutBillNo, beijingTime(r.pay.billSince.Add(24*time.Hour))))
		r.announce(ctx, EventOrderAwaitingPayee)
	case st.State == wechatpay.StateWaitUserConfirm:
		// Nobody can confirm this one: the payee stays on PAYING while it is withdrawn and replaced.
		r.enter(ctx, StatePaying, fmt.Sprintf("撤销无法确认的转账单 %s 后重新发起 (withdrawing a bill the payee cannot confirm)", st.OutBillNo))
	case wechatpay.Final(st.State), st.State == TransferNotFound:
	default:
		r.enter(ctx, StatePaying, fmt.Sprintf("转账单 %s：%s", st.OutBillNo, st.State))
	}
}

// paymentVoided is the books' state of a released payment (store.PaymentVoided).
const paymentVoided = "VOIDED"

func (r *run) validateTransferCheck(req TransferCheckRequest) error {
	if err := r.checkPayee(req.OpenID); err != nil {
		return err
	}
	if r.pay.bill.OutBillNo == "" || r.view.State.Final() {
		return reject(RejectWrongState, "当前款项"+r.view.State.Label()+"，没有待确认的转账")
	}
	return nil
}

// transferCheck is the payee back from WeChat's confirm page: look at the bill now, and answer once the run has
// taken in what was seen.
func (r *run) transferCheck(ctx workflow.Context, _ TransferCheckRequest) (View, error) {
	st, err := runLocal(ctx, r, QueryTransfer, queryOptions, r.transferInput(""))
	if err != nil {
		return r.snapshot(), nil // the run's own looks will find it
	}
	r.pay.latest = st
	r.pay.observed++
	seq := r.pay.observed
	err = workflow.Await(ctx, func() bool { return r.pay.applied >= seq || r.view.State.Final() })
	return r.snapshot(), err
}
