package activities

import (
	"context"
	"errors"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

// LedgerPayout is the sandbox payout channel: no money moves, each bill succeeds at once and is only recorded in
// the transfers table. It lets dev and tests run the whole flow without WeChat Pay keys.
type LedgerPayout struct {
	Transfers interface {
		Transfer(ctx context.Context, outBillNo string) (store.Transfer, error)
	}
}

// Channel implements Payout.
func (LedgerPayout) Channel() string { return "ledger" }

// Create implements Payout: the bill, already recorded by CreateTransfer, succeeds.
func (l LedgerPayout) Create(ctx context.Context, req TransferRequest) (workflows.TransferStatus, error) {
	if req.AmountFen <= 0 || req.OpenID == "" {
		return workflows.TransferStatus{}, ErrTransferRejected
	}
	return workflows.TransferStatus{OutBillNo: req.OutBillNo, TransferBillNo: "ledger-" + req.OutBillNo, State: wechatpay.StateSuccess, AmountFen: req.AmountFen}, nil
}

// Query implements Payout from the recorded bill.
func (l LedgerPayout) Query(ctx context.Context, outBillNo string) (workflows.TransferStatus, error) {
	t, err := l.Transfers.Transfer(ctx, outBillNo)
	if errors.Is(err, store.ErrNotFound) {
		return workflows.TransferStatus{OutBillNo: outBillNo, State: workflows.TransferNotFound}, nil
	}
	if err != nil {
		return workflows.TransferStatus{}, err
	}
	return workflows.TransferStatus{OutBillNo: t.OutBillNo, TransferBillNo: t.TransferBillNo, State: t.State, FailReason: t.FailReason, AmountFen: t.AmountFen}, nil
}

// ConfirmParams implements Payout: ledger bills need no confirm.
func (LedgerPayout) ConfirmParams(string, string) *workflows.MerchantTransferParams { return nil }

// Cancel implements Payout: ledger bills succeed at once, so there is never one left to cancel.
func (l LedgerPayout) Cancel(ctx context.Context, outBillNo string) (workflows.TransferStatus, error) {
	return l.Query(ctx, outBillNo)
}
