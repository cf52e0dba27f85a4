package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"
)

// payStep is the money: the plan (三流合一 re-checked, tax booked), the bill and how it is followed.
type payStep struct {
	plan      PayoutPlan
	bill      TransferStatus // the bill followed, as last seen
	billSince time.Time      // when the bill began to wait for the payee
	released  bool           // the payment of the plan's bill was released

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
	plan, err := runLocal(ctx, r, PreparePayout, ledgerOptions, PayoutInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OpenID: r.in.PayeeOpenID})
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
	r.pay.plan, r.pay.released = plan, false
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

// createBill creates the plan's bill. The first try is a local activity in the workflow task that took the
// payee's confirm: one quick call to WeChat Pay, and the bill exists when that task completes, with no round trip
// through the server in between. A first try that fails starts the rounds: the regular activity, a few tries a
// round (operators see it pending with its attempts and last failure), and a failed round shows as retrying (view,
// search attributes, current details) before the next one comes after a backoff. Every try after the first asks
// WeChat Pay about the same out_bill_no before it creates anything. When a cancel waits, or after createGiveUp, it
// stops creating and asks WeChat Pay about the same bill instead: a bill that exists is followed (and withdrawn,
// for a cancel), and only a bill known not to exist is given up.
func (r *run) createBill(ctx workflow.Context) (TransferStatus, bool) {
	in := r.transferInput("")
	summary := "创建微信转账单 create bill " + in.OutBillNo
	if r.cancel == nil {
		first := createFirstOptions
		first.Summary = summary
		st, err := runLocal(ctx, r, CreateTransfer, first, in)
		if st, ok := createOutcome(in, st, err); ok {
			return st, true
		}
		r.pay.tries++
	}
	opts := createOptions
	opts.Summary = summary
	backoff, giveUp := firstCreateBackoff, workflow.Now(ctx).Add(createGiveUp)
	for {
		if r.cancel == nil {
			st, err := r.createOnce(ctx, opts, in)
			if st, ok := createOutcome(in, st, err); ok {
				r.showRetrying(ctx, false, "")
				return st, true
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

// createOutcome reads a create's outcome: the bill, or a request refused before any bill existed (nothing to
// follow); false while it is unknown and the bill must be tried again.
func createOutcome(in TransferInput, st TransferStatus, err error) (TransferStatus, bool) {
	switch {
	case err == nil:
		return st, true
	case isType(err, ErrTypeTransferParam):
		return TransferStatus{OutBillNo: in.OutBillNo, State: TransferNotFound, FailReason: errorText(err)}, true
	}
	return TransferStatus{}, false
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
	setAttr(&r.attrs, SearchPayoutRetrying, retrying)
	setAttr(&r.attrs, SearchPayoutAttempt, int64(r.pay.tries))
}

// compensate releases the payment reserved for the bill the run gave up on — that bill's and no other's — so its
// tax withheld is not declared. Idempotent: releasing twice, or what was never reserved, does nothing. A bill that
// turns out to exist is recorded as WeChat Pay has it, and its own outcome resolves its payment.
func (r *run) compensate(ctx workflow.Context, why string) {
	bill := r.pay.plan.OutBillNo
	if r.pay.released || bill == "" {
		return
	}
	rel, err := runLocal(ctx, r, ReleasePayment, ledgerOptions, TransferInput{OrderID: r.in.OrderID, PayeeID: r.elig.PayeeID, OutBillNo: bill, Reason: why})
	if err != nil {
		workflow.GetLogger(ctx).Error("releasing the payment failed: reconciliation will show it", "orderId", r.in.OrderID, "outBillNo", bill, "error", err)
		return
	}
	r.pay.released = true
	if rel.State == paymentVoided && r.view.Amounts != nil {
		a := *r.view.Amounts
		a.Booked, a.Reversed = false, true
		r.view.Amounts = &a
	}
}
