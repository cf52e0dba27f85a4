package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

// ReceiptAPI is WeChat Pay's electronic receipts (电子回单) of transfer bills.
type ReceiptAPI interface {
	ApplyReceipt(ctx context.Context, outBillNo string) (wechatpay.Receipt, error)
	QueryReceipt(ctx context.Context, outBillNo string) (wechatpay.Receipt, bool, error)
	DownloadReceipt(ctx context.Context, r wechatpay.Receipt) ([]byte, error)
}

// ReceiptFiles keeps receipt files by their hash.
type ReceiptFiles interface {
	Put(content []byte) (string, error)
}

// ReceiptRecords records where each bill's receipt stands.
type ReceiptRecords interface {
	RecordBillReceipt(ctx context.Context, r store.BillReceipt) error
}

// RequestBillReceipt applies for a paid bill's receipt (applying again is harmless) and reports its state.
func (a *Activities) RequestBillReceipt(ctx context.Context, in workflows.ReceiptInput) (workflows.ReceiptStatus, error) {
	if a.ReceiptAPI == nil {
		return workflows.ReceiptStatus{}, temporal.NewNonRetryableApplicationError("payouts go through the ledger: there are no electronic receipts",
			workflows.ErrTypeReceiptUnavailable, nil)
	}
	if _, err := a.ReceiptAPI.ApplyReceipt(ctx, in.OutBillNo); err != nil {
		if errors.Is(err, wechatpay.ErrInvalidRequest) || errors.Is(err, wechatpay.ErrRejected) {
			_ = a.Receipts.RecordBillReceipt(ctx, store.BillReceipt{OutBillNo: in.OutBillNo, OrderID: in.OrderID, State: store.ReceiptFailed, FailReason: err.Error()})
			return workflows.ReceiptStatus{}, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeReceiptUnavailable, err)
		}
		return workflows.ReceiptStatus{}, payError(err)
	}
	r, _, err := a.ReceiptAPI.QueryReceipt(ctx, in.OutBillNo)
	if err != nil {
		return workflows.ReceiptStatus{}, payError(err)
	}
	rec := store.BillReceipt{OutBillNo: in.OutBillNo, OrderID: in.OrderID, State: store.ReceiptGenerating}
	if r.State == wechatpay.ReceiptFailed {
		rec.State, rec.FailReason = store.ReceiptFailed, r.FailReason
	}
	if err := a.Receipts.RecordBillReceipt(ctx, rec); err != nil {
		return workflows.ReceiptStatus{}, err
	}
	return workflows.ReceiptStatus{State: r.State, FailReason: r.FailReason}, nil
}

// StoreBillReceipt downloads a finished receipt (a fresh address: they last 10 minutes), checks its hash and keeps
// it under that hash.
func (a *Activities) StoreBillReceipt(ctx context.Context, in workflows.ReceiptInput) (workflows.ReceiptStatus, error) {
	r, _, err := a.ReceiptAPI.QueryReceipt(ctx, in.OutBillNo)
	if err != nil {
		return workflows.ReceiptStatus{}, payError(err)
	}
	file, err := a.ReceiptAPI.DownloadReceipt(ctx, r)
	if err != nil {
		return workflows.ReceiptStatus{}, payError(err) // a file that does not match its hash is fetched again
	}
	sum, err := a.ReceiptFiles.Put(file)
	if err != nil {
		return workflows.ReceiptStatus{}, err
	}
	err = a.Receipts.RecordBillReceipt(ctx, store.BillReceipt{OutBillNo: in.OutBillNo, OrderID: in.OrderID, State: store.ReceiptStored,
		SHA256: sum, SizeBytes: len(file)})
	return workflows.ReceiptStatus{State: store.ReceiptStored, SHA256: sum}, err
}
