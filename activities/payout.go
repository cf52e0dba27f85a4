package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/compliance"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// Payout is the port money leaves through: WeChat Pay transfer-bills in production, a ledger in the sandbox.
// Every call is keyed by out_bill_no; creating the same bill twice returns the first one.
type Payout interface {
	// Channel names the adapter in the transfer records ("ledger", "wechatpay").
	Channel() string
	Create(ctx context.Context, req TransferRequest) (workflows.TransferStatus, error)
	// Query answers State "NOT_FOUND" when the channel has no such bill.
	Query(ctx context.Context, outBillNo string) (workflows.TransferStatus, error)
	Cancel(ctx context.Context, outBillNo string) (workflows.TransferStatus, error)
}

// TransferRequest is one bill to create.
type TransferRequest struct {
	OutBillNo string
	OpenID    string
	AmountFen int64
	// UserName is the payee's real name, required by WeChat Pay from 2,000 元 so that it checks the account is
	// the payee's own; the channel encrypts it. Empty below the threshold.
	UserName string
	Remark   string
}

// ErrTransferRejected is what a channel returns when it refused the request itself (bad parameters): retrying
// the same request cannot succeed.
var ErrTransferRejected = errors.New("transfer request rejected")

// NameRequiredFen is the amount from which WeChat Pay requires user_name (2,000 元).
const NameRequiredFen = 200000

// OutBillNo is the bill number of an order's attempt-th transfer: letters and digits only, ≤ 32 characters,
// stable across retries so an unknown outcome is always resolved on the same bill.
func OutBillNo(orderID string, attempt int) string { return fmt.Sprintf("%sT%d", orderID, attempt) }

// PreparePayout re-checks 三流合一 and withholds tax (booked once per order), then picks the bill to use: the
// last one unless it is known to have failed.
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
	entry, err := a.Ledger.WithholdTax(ctx, a.Config.TaxMethod, o.ID, attempt)
	if err != nil {
		return workflows.PayoutPlan{}, classify(err)
	}
	w := entry.Withholding()
	// The booking may differ from the preview (another payment landed meanwhile): reconcile what is booked.
	facts.TaxFen, facts.NetFen = w.Tax, w.Net
	if v := compliance.Check(facts); len(v) > 0 {
		if _, _, err := a.Ledger.ReverseTax(ctx, o.ID, "amounts do not reconcile"); err != nil {
			return workflows.PayoutPlan{}, classify(err)
		}
		return workflows.PayoutPlan{Reasons: []workflows.Reason{{Code: v[0].Code, Message: v[0].Message}}}, nil
	}
	plan = workflows.PayoutPlan{Approved: true, OutBillNo: OutBillNo(o.ID, attempt), Attempt: attempt,
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
	if last.State == store.TransferFail || last.State == store.TransferCancelled {
		return last.Attempt + 1, nil
	}
	return last.Attempt, nil
}

// CreateTransfer records the bill, then creates it on the channel. On a retry it asks the channel about the same
// out_bill_no first: an unknown outcome is resolved by query, never by a new bill.
func (a *Activities) CreateTransfer(ctx context.Context, in workflows.TransferInput) (workflows.TransferStatus, error) {
	rec, err := a.Transfers.PutTransfer(ctx, store.Transfer{OutBillNo: in.OutBillNo, OrderID: in.OrderID, Attempt: in.Attempt,
		PayeeID: in.PayeeID, OpenID: in.OpenID, AmountFen: in.NetFen, Channel: a.Payout.Channel()})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return workflows.TransferStatus{}, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeTransferParam, err)
		}
		return workflows.TransferStatus{}, classify(err)
	}
	if store.FinalTransferState(rec.State) {
		return statusOf(rec), nil
	}
	if activity.GetInfo(ctx).Attempt > 1 {
		st, err := a.Payout.Query(ctx, in.OutBillNo)
		if err != nil {
			return workflows.TransferStatus{}, payoutError(err)
		}
		if st.State != "NOT_FOUND" {
			return a.record(ctx, st)
		}
	}
	req := TransferRequest{OutBillNo: in.OutBillNo, OpenID: in.OpenID, AmountFen: in.NetFen, Remark: "劳务报酬"}
	if in.NetFen >= NameRequiredFen {
		id, err := a.Orders.Identity(ctx, in.PayeeID)
		if err != nil {
			return workflows.TransferStatus{}, classify(err)
		}
		req.UserName = id.Name
	}
	st, err := a.Payout.Create(ctx, req)
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
	if st.State == "NOT_FOUND" {
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

// ReverseTax cancels the withholding of an order whose payout did not happen.
func (a *Activities) ReverseTax(ctx context.Context, in workflows.TransferInput) error {
	_, reversed, err := a.Ledger.ReverseTax(ctx, in.OrderID, in.Reason)
	if err == nil && reversed {
		activity.GetLogger(ctx).Info("tax reversed", "orderId", in.OrderID, "reason", in.Reason)
	}
	return classify(err)
}

// record stores what the channel said and returns the status the workflow follows. A channel that reports a
// final bill in a state we already recorded otherwise is an inconsistency someone must look at: the store keeps
// the first final state and the workflow follows it.
func (a *Activities) record(ctx context.Context, st workflows.TransferStatus) (workflows.TransferStatus, error) {
	pkg := ""
	if st.Confirm != nil {
		pkg = st.Confirm.Package
	}
	rec, err := a.Transfers.UpdateTransfer(ctx, st.OutBillNo, store.TransferUpdate{State: st.State, TransferBillNo: st.TransferBillNo, PackageInfo: pkg, FailReason: st.FailReason})
	if errors.Is(err, store.ErrConflict) {
		activity.GetLogger(ctx).Error("channel state disagrees with the recorded final state", "outBillNo", st.OutBillNo, "channel", st.State, "recorded", rec.State)
		return statusOf(rec), nil
	}
	if err != nil {
		return workflows.TransferStatus{}, classify(err)
	}
	return st, nil
}

func statusOf(t store.Transfer) workflows.TransferStatus {
	return workflows.TransferStatus{OutBillNo: t.OutBillNo, TransferBillNo: t.TransferBillNo, State: t.State, FailReason: t.FailReason}
}

func payoutError(err error) error {
	if errors.Is(err, ErrTransferRejected) {
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeTransferParam, err)
	}
	return classify(err)
}
