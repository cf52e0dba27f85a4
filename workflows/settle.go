package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/wechatpay"
)

// SettleBill settles a bill whose order has no run following it (terminated, reset, or ended on another way)
// when news of the bill arrives — WeChat Pay's callback, the payee back from the confirm page: it waits for the
// bill to end and records it, which posts or voids the bill's own payment in the books; then, when the bill is
// the order's latest, it records the order PAID, FAILED or CANCELLED. It touches nothing but its bill: a later
// bill of the same order, followed by a new run, is that run's. The API starts it (workflow ID
// settle/{out_bill_no}, one per bill); every step is idempotent, so a run that follows the same bill agrees.
func SettleBill(ctx workflow.Context, in SettleInput) (Settlement, error) {
	bill := TransferInput{OrderID: in.OrderID, OutBillNo: in.OutBillNo}
	st, err := QueryTransfer.Local(ctx, queryOptions, bill)
	if err != nil {
		return Settlement{}, err
	}
	for !wechatpay.Final(st.State) && st.State != TransferNotFound {
		waiting := bill
		waiting.Since = st.State
		opts := awaitOptions
		opts.Summary = "等待转账结果 awaiting bill " + in.OutBillNo
		if st, err = AwaitTransfer.Run(ctx, opts, waiting); err != nil {
			return Settlement{}, err
		}
	}
	out := Settlement{OutBillNo: in.OutBillNo, BillState: st.State}
	switch st.State {
	case wechatpay.StateSuccess:
		out.OrderState = StatePaid
	case wechatpay.StateFail:
		out.OrderState = StateFailed
	case wechatpay.StateCancelled:
		out.OrderState = StateCancelled
	default:
		return out, nil // no such bill: nothing moved, nothing to settle
	}
	finish := FinishInput{OrderID: in.OrderID, State: out.OrderState, Reason: "SETTLED_" + st.State, OutBillNo: in.OutBillNo}
	if st.State == wechatpay.StateSuccess {
		finish.PaidFen = st.AmountFen
	}
	if _, err := FinishOrder.Local(ctx, ledgerOptions, finish); err != nil {
		return out, err
	}
	return out, nil
}

// SettleInput names a bill whose run is gone.
type SettleInput struct {
	OrderID   string `json:"orderId"`
	OutBillNo string `json:"outBillNo"`
}

// Settlement is how SettleBill left the order.
type Settlement struct {
	OutBillNo  string `json:"outBillNo"`
	BillState  string `json:"billState"`
	OrderState State  `json:"orderState,omitempty"`
}
