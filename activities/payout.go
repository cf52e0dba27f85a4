package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/compliance"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

// Payout is the port money leaves through: WeChat Pay transfer-bills in production, a ledger in the sandbox.
// Every call is keyed by out_bill_no.
type Payout interface {
	// Channel names the adapter in the transfer records ("ledger", "wechatpay").
	Channel() string
	// Create creates a bill. ErrTransferRejected: refused before any bill existed; ErrTransferUnclear: refused in a
	// way that may mean the bill exists (with other data), to be resolved by Query.
	Create(ctx context.Context, req TransferRequest) (workflows.TransferStatus, error)
	// Query answers State workflows.TransferNotFound when the channel has no such bill. It does not repeat the
	// confirm parameters the create answered with.
	Query(ctx context.Context, outBillNo string) (workflows.TransferStatus, error)
	Cancel(ctx context.Context, outBillNo string) (workflows.TransferStatus, error)
	// ConfirmParams are what the payee's page needs to confirm a bill with this package, or nil when the channel
	// needs no confirm.
	ConfirmParams(packageInfo, openID string) *workflows.MerchantTransferParams
}

// TransferRequest is one bill to create.
type TransferRequest struct {
	OutBillNo string
	OpenID    string
	AmountFen int64
	// UserName is the payee's real name. WeChat Pay requires it from 2,000 元 and checks it against the receiving
	// account's real name whenever it is sent, so it is always sent: every transfer lands in the payee's own
	// account. The channel encrypts it.
	UserName string
	Remark   string
}

// Errors a channel returns from Create.
var (
	// ErrTransferRejected: the channel refused the request itself (bad parameters) before any bill existed;
	// retrying the same request cannot succeed.
	ErrTransferRejected = errors.New("transfer request rejected")
	// ErrTransferUnclear: the channel refused the request in a way that may mean the bill exists with other data
	// (WeChat Pay's INVALID_REQUEST 「单号已存在但信息不一致」): only a query of the same out_bill_no tells.
	ErrTransferUnclear = errors.New("transfer request refused; the bill may exist")
)

// OutBillNo is the bill number of an order's attempt-th transfer: letters and digits only, ≤ 32 characters,
// stable across retries so an unknown outcome is always resolved on the same bill.
func OutBillNo(orderID string, attempt int) string { return fmt.Sprintf("%sT%d", orderID, attempt) }

// PreparePayout re-checks 三流合一, picks the bill to use (the last one unless it is known to have failed) and
// reserves its payment in the books: the tax withheld, once per bill.
func (a *Activities) PreparePayout(ctx context.Context, in workflows.PayoutInput) (workflows.PayoutPlan, error) {
	o, err := a.Orders.Order(ctx, in.OrderID)
	if err != nil {
		return workflows.PayoutPlan{}, classify(err)
	}
	payee, err := a.Orders.Payee(ctx, o.PayeeID)
	if err != nil {
		return workflows.PayoutPlan{}, classify(err)
	}
	if o.PayeeOpenID != in.OpenID || o.State == store.OrderCancelled {
		return workflows.PayoutPlan{Reasons: []workflows.Reason{reasonOrderClosed}}, nil
	}
	preview, err := a.Ledger.PreviewTax(ctx, a.Config.TaxMethod, o.ID)
	if err != nil {
		return workflows.PayoutPlan{}, classify(err)
	}
	facts, err := a.complianceFacts(ctx, o, payee, preview)
	if err != nil {
		return workflows.PayoutPlan{}, err
	}
	var plan workflows.PayoutPlan
	for _, v := range compliance.Check(facts) {
		plan.Reasons = append(plan.Reasons, workflows.Reason{Code: v.Code, Message: v.Message})
	}
	if len(plan.Reasons) > 0 {
		return plan, nil
	}
	attempt, err := a.nextAttempt(ctx, o.ID)
	if err != nil {
		return workflows.PayoutPlan{}, err
	}
	bill := OutBillNo(o.ID, attempt)
	pay, err := a.Ledger.ReservePayment(ctx, a.Config.TaxMethod, o.ID, attempt, bill)
	if errors.Is(err, store.ErrInsufficientFunds) {
		return workflows.PayoutPlan{Reasons: []workflows.Reason{reasonFundsShort}}, nil
	}
	if err != nil {
		return workflows.PayoutPlan{}, classify(err)
	}
	w := pay.Withholding()
	// The reservation may differ from the preview (another payment landed meanwhile): reconcile what is booked.
	facts.TaxFen, facts.NetFen = w.Tax, w.Net
	if v := compliance.Check(facts); len(v) > 0 {
		if _, err := a.Ledger.VoidPayment(ctx, bill, "amounts do not reconcile"); err != nil {
			return workflows.PayoutPlan{}, classify(err)
		}
		return workflows.PayoutPlan{Reasons: []workflows.Reason{{Code: v[0].Code, Message: v[0].Message}}}, nil
	}
	plan = workflows.PayoutPlan{Approved: true, OutBillNo: bill, Attempt: attempt,
		Amounts: workflows.Amounts{GrossFen: w.Gross, TaxFen: w.Tax, NetFen: w.Net, TaxMethod: string(w.Method), Booked: true}}
	activity.GetLogger(ctx).Info("payout prepared", "orderId", o.ID, "outBillNo", plan.OutBillNo, "gross", w.Gross, "tax", w.Tax, "net", w.Net)
	return plan, nil
}

// nextAttempt is the bill attempt to use: the last one unless it is known to have failed, so an unknown or
// pending bill is followed, never replaced.
func (a *Activities) nextAttempt(ctx context.Context, orderID string) (int, error) {
	bills, err := a.Transfers.TransfersByOrder(ctx, orderID)
	if err != nil {
		return 0, classify(err)
	}
	if len(bills) == 0 {
		return 1, nil
	}
	last := bills[len(bills)-1]
	if last.State == wechatpay.StateFail || last.State == wechatpay.StateCancelled {
		return last.Attempt + 1, nil
	}
	return last.Attempt, nil
}

// CreateTransfer records the bill, then creates it on the channel. When the record existed already (a retried
// activity, a later run following the same bill) a create may have reached the channel before: it asks about the
// same out_bill_no first, and an unclear refusal is resolved the same way — never by a new bill.
func (a *Activities) CreateTransfer(ctx context.Context, in workflows.TransferInput) (workflows.TransferStatus, error) {
	rec, created, err := a.Transfers.PutTransfer(ctx, store.Transfer{OutBillNo: in.OutBillNo, OrderID: in.OrderID, Attempt: in.Attempt,
		PayeeID: in.PayeeID, OpenID: in.OpenID, AmountFen: in.NetFen, Channel: a.Payout.Channel()})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return workflows.TransferStatus{}, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeTransferParam, err)
		}
		return workflows.TransferStatus{}, classify(err)
	}
	if wechatpay.Final(rec.State) {
		return a.statusOf(rec), nil
	}
	if !created || activity.GetInfo(ctx).Attempt > 1 {
		st, err := a.Payout.Query(ctx, in.OutBillNo)
		if err != nil {
			return workflows.TransferStatus{}, payoutError(err)
		}
		if st.State != workflows.TransferNotFound {
			return a.record(ctx, st)
		}
	}
	id, err := a.Orders.Identity(ctx, in.PayeeID)
	if err != nil {
		return workflows.TransferStatus{}, classify(err)
	}
	st, err := a.Payout.Create(ctx, TransferRequest{OutBillNo: in.OutBillNo, OpenID: in.OpenID, AmountFen: in.NetFen, UserName: id.Name, Remark: "劳务报酬"})
	if errors.Is(err, ErrTransferUnclear) {
		activity.GetLogger(ctx).Warn("create refused unclearly; resolving by query", "orderId", in.OrderID, "outBillNo", in.OutBillNo, "error", err)
		q, qerr := a.Payout.Query(ctx, in.OutBillNo)
		switch {
		case qerr != nil:
			return workflows.TransferStatus{}, payoutError(qerr)
		case q.State == workflows.TransferNotFound:
			return workflows.TransferStatus{}, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeTransferParam, err)
		}
		return a.record(ctx, q)
	}
	if err != nil {
		return workflows.TransferStatus{}, payoutError(err)
	}
	activity.GetLogger(ctx).Info("transfer created", "orderId", in.OrderID, "outBillNo", in.OutBillNo, "state", st.State)
	return a.record(ctx, st)
}

// QueryTransfer asks the channel where a bill stands and records it.
func (a *Activities) QueryTransfer(ctx context.Context, in workflows.TransferInput) (workflows.TransferStatus, error) {
	st, err := a.Payout.Query(ctx, in.OutBillNo)
	if err != nil {
		return workflows.TransferStatus{}, payoutError(err)
	}
	if st.State == workflows.TransferNotFound {
		return st, nil
	}
	return a.record(ctx, st)
}

// CancelTransfer withdraws a bill the payee has not confirmed yet.
func (a *Activities) CancelTransfer(ctx context.Context, in workflows.TransferInput) (workflows.TransferStatus, error) {
	st, err := a.Payout.Cancel(ctx, in.OutBillNo)
	if err != nil {
		return workflows.TransferStatus{}, payoutError(err)
	}
	return a.record(ctx, st)
}

// ReleasePayment undoes the reservation of a bill the run gave up on, and only that bill's: when the bill never
// came to exist at the channel (never sent, refused before it existed, or unknown to a query once every create had
// ended) the bill is closed and its payment voided; a bill that exists is recorded as the channel has it, and its
// outcome resolves its payment — a bill still open is an error, retried: nothing is released while money may move.
func (a *Activities) ReleasePayment(ctx context.Context, in workflows.TransferInput) (workflows.Released, error) {
	p, err := a.Ledger.Payment(ctx, in.OutBillNo)
	if errors.Is(err, store.ErrNotFound) {
		return workflows.Released{}, nil // nothing was reserved for it
	}
	if err != nil {
		return workflows.Released{}, classify(err)
	}
	if p.State != store.PaymentPending {
		return workflows.Released{State: p.State}, nil
	}
	rec, err := a.Transfers.Transfer(ctx, in.OutBillNo)
	if errors.Is(err, store.ErrNotFound) {
		_, err := a.Ledger.VoidPayment(ctx, in.OutBillNo, in.Reason)
		return a.released(ctx, in, err)
	}
	if err != nil {
		return workflows.Released{}, classify(err)
	}
	if !wechatpay.Final(rec.State) {
		st, err := a.Payout.Query(ctx, in.OutBillNo)
		switch {
		case err != nil:
			return workflows.Released{}, payoutError(err)
		case st.State == workflows.TransferNotFound:
			_, err = a.Transfers.CloseUnsentTransfer(ctx, in.OutBillNo, in.Reason)
		case wechatpay.Final(st.State):
			_, err = a.record(ctx, st)
		default:
			return workflows.Released{}, fmt.Errorf("bill %s is %s at the channel: its payment stays reserved", in.OutBillNo, st.State)
		}
		if err != nil {
			return workflows.Released{}, classify(err)
		}
	}
	return a.released(ctx, in, nil)
}

func (a *Activities) released(ctx context.Context, in workflows.TransferInput, err error) (workflows.Released, error) {
	if err != nil {
		return workflows.Released{}, classify(err)
	}
	p, err := a.Ledger.Payment(ctx, in.OutBillNo)
	if err != nil {
		return workflows.Released{}, classify(err)
	}
	if p.State == store.PaymentVoided {
		activity.GetLogger(ctx).Info("payment released", "orderId", in.OrderID, "outBillNo", in.OutBillNo, "reason", in.Reason)
	}
	return workflows.Released{State: p.State}, nil
}

// AwaitTransfer looks at a bill once and returns when it has moved on from in.Since. Otherwise it fails with a
// benign "still waiting" error and says when to look next, so the server — not the workflow's history — schedules
// the looks of a wait that may last the bill's 24 hours: the UI shows them as the pending activity's attempts.
// The first attempt, right after the bill was seen in that state, only schedules the next.
func (a *Activities) AwaitTransfer(ctx context.Context, in workflows.TransferInput) (workflows.TransferStatus, error) {
	attempt := activity.GetInfo(ctx).Attempt
	if attempt > 1 {
		st, err := a.QueryTransfer(ctx, in)
		if err != nil {
			return workflows.TransferStatus{}, err
		}
		if st.State != in.Since {
			return st, nil
		}
	}
	return workflows.TransferStatus{}, temporal.NewApplicationErrorWithOptions("bill "+in.OutBillNo+" still "+in.Since, workflows.ErrTypeBillPending,
		temporal.ApplicationErrorOptions{Category: temporal.ApplicationErrorCategoryBenign, NextRetryDelay: nextLook(in.Since, attempt, in.MaxLookInterval)})
}

// nextLook is the wait before the next look at a pending bill, doubling up to max (10 minutes when unset): from
// 30 s while the payee has to act (WAIT_USER_CONFIRM, for up to 24 hours), from 2 s in the states WeChat Pay
// leaves by itself in moments (accepting, transferring, cancelling).
func nextLook(state string, attempt int32, maxInterval time.Duration) time.Duration {
	if maxInterval <= 0 {
		maxInterval = 10 * time.Minute
	}
	d := 2 * time.Second
	if state == wechatpay.StateWaitUserConfirm {
		d = 30 * time.Second
	}
	for i := int32(1); i < attempt && d < maxInterval; i++ {
		d *= 2
	}
	return min(d, maxInterval)
}

// record stores what the channel said and returns the status the workflow follows. A bill the payee must still
// confirm carries the confirm parameters: the channel's own when it gave them (kept with the bill, because a query
// never repeats them), else those kept from the create. A channel that reports a final bill in a state we already
// recorded otherwise is an inconsistency someone must look at: the store keeps the first final state and the
// workflow follows it.
func (a *Activities) record(ctx context.Context, st workflows.TransferStatus) (workflows.TransferStatus, error) {
	pkg := ""
	if st.Confirm != nil {
		pkg = st.Confirm.Package
	}
	rec, err := a.Transfers.UpdateTransfer(ctx, st.OutBillNo, store.TransferUpdate{State: st.State, TransferBillNo: st.TransferBillNo, PackageInfo: pkg,
		FailReason: st.FailReason, At: st.UpdatedAt})
	if errors.Is(err, store.ErrConflict) {
		activity.GetLogger(ctx).Error("channel state disagrees with the recorded final state", "outBillNo", st.OutBillNo, "channel", st.State, "recorded", rec.State)
		return a.statusOf(rec), nil
	}
	if err != nil {
		return workflows.TransferStatus{}, classify(err)
	}
	if st.Confirm == nil {
		st.Confirm = a.confirmParams(rec)
	}
	if st.AmountFen == 0 {
		st.AmountFen = rec.AmountFen
	}
	return st, nil
}

// statusOf is a recorded bill as the workflow follows it.
func (a *Activities) statusOf(t store.Transfer) workflows.TransferStatus {
	return workflows.TransferStatus{OutBillNo: t.OutBillNo, TransferBillNo: t.TransferBillNo, State: t.State, FailReason: t.FailReason,
		AmountFen: t.AmountFen, Confirm: a.confirmParams(t)}
}

// confirmParams are the payee's confirm parameters of a recorded bill, while it can still be (re)opened: waiting for
// the payee, or transferring after their confirm.
func (a *Activities) confirmParams(t store.Transfer) *workflows.MerchantTransferParams {
	if t.PackageInfo == "" || (t.State != wechatpay.StateWaitUserConfirm && t.State != wechatpay.StateTransfering) {
		return nil
	}
	return a.Payout.ConfirmParams(t.PackageInfo, t.OpenID)
}

func payoutError(err error) error {
	if errors.Is(err, ErrTransferRejected) || errors.Is(err, ErrTransferUnclear) {
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeTransferParam, err)
	}
	return classify(err)
}
