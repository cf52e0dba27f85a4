package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/wechatpay"
)

// payStep is the money: the plan (三流合一 re-checked, tax booked), the bill and how it is followed.
type payStep struct {
	plan        PayoutPlan
	bill        TransferStatus // the bill followed, as last seen
	billSince   time.Time      // when the bill began to wait for the payee
	taxReversed bool

	tries     int  // create attempts so far, for operators
	retrying  bool // creating the bill keeps failing
	replacing bool // the bill is being withdrawn because the payee could never confirm it
	cancelled bool // a cancel of the bill was sent

	await      *Pending[TransferStatus] // the look at the bill the server schedules (AwaitTransfer)
	awaitSince string
	stopAwait  workflow.CancelFunc

	notices  int            // transfer.notice signals received (WeChat Pay called back)
	observed int            // transfer.check updates that looked at the bill
	applied  int            // ... and whose look the sequence took in
	latest   TransferStatus // the last look a transfer.check took
}

// Backoff between rounds of creating a bill, and when to stop and ask WeChat Pay instead.
const (
	firstCreateBackoff = 30 * time.Second
	maxCreateBackoff   = 30 * time.Minute
	createGiveUp       = 6 * time.Hour
)

// How a bill ended, for the sequence.
type billOutcome int

const (
	billPaid billOutcome = iota
	billFailed
	billCancelled
	billReplaced // withdrawn because the payee could never confirm it: pay with the next bill
)

// payOut re-checks 三流合一, withholds tax and pays. Money moves from here on: a cancel is honoured only while the
// payee has not confirmed the bill, and a bill the payee cannot confirm is replaced, never left waiting.
func (r *run) payOut(ctx workflow.Context) {
	r.enter(ctx, StatePaying, "三流合一复核、代扣个税、创建微信转账单 (re-checking, withholding tax, creating the bill)")
	if !r.preparePayout(ctx) {
		return
	}
	for {
		st, ok := r.createBill(ctx)
		if !ok {
			return
		}
		outcome, final := r.followBill(ctx, st)
		switch outcome {
		case billPaid:
			r.finish(ctx, StatePaid)
			return
		case billFailed:
			r.compensate(ctx, "transfer "+final.State+" "+final.FailReason)
			r.finish(ctx, StateFailed, Reason{Code: "TRANSFER_" + final.State, Message: transferFailMessage(final)})
			return
		case billCancelled:
			r.compensate(ctx, "transfer cancelled")
			r.finishCancelled(ctx)
			return
		case billReplaced:
			if !r.preparePayout(ctx) {
				return
			}
		}
	}
}

// preparePayout books the tax (the standing booking, when a bill is replaced) and picks the bill to pay with.
func (r *run) preparePayout(ctx workflow.Context) bool {
	previous := r.pay.plan.OutBillNo != ""
	plan, err := PreparePayout.Local(ctx, ledgerOptions, PayoutInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OpenID: r.in.PayeeOpenID})
	if err != nil {
		workflow.GetLogger(ctx).Error("prepare payout failed", "error", err)
		r.compensate(ctx, "prepare payout failed")
		r.finish(ctx, StateFailed, reasonPrepareFailed)
		return false
	}
	if !plan.Approved {
		if previous {
			r.compensate(ctx, "payout no longer approved")
		}
		r.finish(ctx, StateRejected, plan.Reasons...)
		return false
	}
	r.pay.plan = plan
	amounts := plan.Amounts
	r.view.Amounts = &amounts
	r.view.Payout = &PayoutView{OutBillNo: plan.OutBillNo, Attempt: plan.Attempt, State: "CREATING"}
	return true
}

func (r *run) transferInput(since string) TransferInput {
	p := r.pay.plan
	return TransferInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OpenID: r.in.PayeeOpenID, OutBillNo: p.OutBillNo, Attempt: p.Attempt,
		NetFen: p.Amounts.NetFen, Since: since, MaxLookInterval: r.set.TransferPollInterval}
}

// createBill creates the plan's bill, in rounds: a failed round shows as retrying (view, search attributes,
// current details) and the next one comes after a backoff. When a cancel waits, or after createGiveUp, it stops
// creating and asks WeChat Pay about the same bill instead: a bill that exists is followed (and withdrawn, for a
// cancel), and only a bill known not to exist is given up.
func (r *run) createBill(ctx workflow.Context) (TransferStatus, bool) {
	in := r.transferInput("")
	opts := createOptions
	opts.Summary = "创建微信转账单 create bill " + in.OutBillNo
	backoff, giveUp := firstCreateBackoff, workflow.Now(ctx).Add(createGiveUp)
	for {
		if r.cancel == nil {
			st, err := r.createOnce(ctx, opts, in)
			if err == nil {
				r.showRetrying(ctx, false, "")
				return st, true
			}
			if isType(err, ErrTypeTransferParam) {
				// Refused before any bill existed: nothing to follow.
				return TransferStatus{OutBillNo: in.OutBillNo, State: TransferNotFound, FailReason: errorText(err)}, true
			}
			r.pay.tries += createTriesPerRound
			r.showRetrying(ctx, true, errorText(err))
		}
		if r.cancel != nil || workflow.Now(ctx).After(giveUp) {
			if q, err := QueryTransfer.Run(ctx, resolveOptions, in); err == nil {
				return q, true // the bill, or TransferNotFound: follow it either way
			}
		}
		asked := r.cancel != nil
		waitFor(ctx, backoff, "付款重试 payout retry backoff", func() bool { return !asked && r.cancel != nil })
		backoff = min(backoff*2, maxCreateBackoff)
	}
}

// createOnce runs one round of CreateTransfer. A cancel that arrives meanwhile stops the round's further tries
// (the try in flight finishes: the workflow waits for it), so no bill is created after a cancel was taken.
func (r *run) createOnce(ctx workflow.Context, opts workflow.ActivityOptions, in TransferInput) (TransferStatus, error) {
	actx, stop := workflow.WithCancel(ctx)
	defer stop()
	f := CreateTransfer.Start(actx, opts, in)
	_ = workflow.Await(ctx, func() bool { return f.IsReady() || r.cancel != nil })
	if !f.IsReady() {
		stop()
	}
	return f.Get(ctx)
}

// showRetrying tells operators a bill cannot be created yet, and why.
func (r *run) showRetrying(ctx workflow.Context, retrying bool, lastError string) {
	if !retrying && !r.pay.retrying {
		return
	}
	r.pay.retrying = retrying
	if p := r.view.Payout; p != nil {
		p.Retrying, p.Tries, p.LastError = retrying, r.pay.tries, lastError
	}
	if retrying {
		workflow.SetCurrentDetails(ctx, fmt.Sprintf("payout retrying 付款重试中: %s, attempt %d (bill %s)", lastError, r.pay.tries, r.pay.plan.OutBillNo))
	}
	err := workflow.UpsertTypedSearchAttributes(ctx, SearchPayoutRetrying.ValueSet(retrying), SearchPayoutAttempt.ValueSet(int64(r.pay.tries)))
	if err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
	}
}

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
	got, err := CancelTransfer.Local(ctx, queryOptions, in)
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
		if q, err := QueryTransfer.Local(ctx, queryOptions, r.transferInput("")); err == nil {
			return q
		}
	case r.pay.await.IsReady():
		got, err := r.pay.await.Get(ctx)
		r.pay.await = nil
		if err == nil {
			return got
		}
		// The wait outlived its bound (the bill never closed?): look once ourselves, and wait again.
		if q, qerr := QueryTransfer.Local(ctx, queryOptions, r.transferInput("")); qerr == nil {
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
	case st.State == wechatpay.StateWaitUserConfirm:
		// Nobody can confirm this one: the payee stays on PAYING while it is withdrawn and replaced.
		r.enter(ctx, StatePaying, fmt.Sprintf("撤销无法确认的转账单 %s 后重新发起 (withdrawing a bill the payee cannot confirm)", st.OutBillNo))
	case wechatpay.Final(st.State), st.State == TransferNotFound:
	default:
		r.enter(ctx, StatePaying, fmt.Sprintf("转账单 %s：%s", st.OutBillNo, st.State))
	}
}

// compensate reverses the tax withheld for a payout that did not happen. Idempotent: reversing twice, or what was
// never withheld, does nothing.
func (r *run) compensate(ctx workflow.Context, why string) {
	if r.pay.taxReversed {
		return
	}
	rev, err := ReverseTax.Local(ctx, ledgerOptions, TransferInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, Reason: why})
	if err != nil {
		workflow.GetLogger(ctx).Error("tax reversal failed: an operator must reverse it", "orderId", r.in.OrderID, "error", err)
		return
	}
	r.pay.taxReversed = true
	if rev.Reversed && r.view.Amounts != nil {
		a := *r.view.Amounts
		a.Booked, a.Reversed = false, true
		r.view.Amounts = &a
	}
}

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
	st, err := QueryTransfer.Local(ctx, queryOptions, r.transferInput(""))
	if err != nil {
		return r.snapshot(), nil // the run's own looks will find it
	}
	r.pay.latest = st
	r.pay.observed++
	seq := r.pay.observed
	err = workflow.Await(ctx, func() bool { return r.pay.applied >= seq || r.view.State.Final() })
	return r.snapshot(), err
}
