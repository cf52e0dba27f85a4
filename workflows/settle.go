package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/wechatpay"
)

// SettleBill settles an order whose run is gone (terminated, or reset) when news of its bill arrives — WeChat Pay's
// callback, the payee back from the confirm page: it waits for the bill to end, then records it on the order:
// PAID, or the tax reversed and FAILED (or CANCELLED). Nothing is lost when a run is: the money still lands in
// the ledger and the order. The API starts it (workflow ID settle/{out_bill_no}, one per bill); every step is
// idempotent, so a new run of the order that follows the same bill agrees with it.
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
	if out.OrderState != StatePaid {
		if _, err := ReverseTax.Local(ctx, ledgerOptions, TransferInput{OrderID: in.OrderID, Reason: "bill " + st.State + " after its run ended"}); err != nil {
			return out, err
		}
	}
	finish := FinishInput{OrderID: in.OrderID, State: out.OrderState, Reason: "SETTLED_" + st.State}
	if st.State == wechatpay.StateSuccess {
		finish.PaidFen = st.AmountFen
	}
	if _, err := FinishOrder.Local(ctx, ledgerOptions, finish); err != nil {
		return out, err
	}
	return out, nil
}
