package workflows

import (
	"time"

	"github.com/receiptflow/receiptflow/wechatpay"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// FetchReceipt gets a paid bill's electronic receipt (电子回单) from WeChat Pay and keeps it: apply, wait while it
// is made (queries PollInterval apart, as WeChat Pay asks), then download it, check its hash and store it. The
// API starts it the first time a payer or an operator asks for the receipt (workflow ID bill-receipt/{out_bill_no}).
func FetchReceipt(ctx workflow.Context, in ReceiptInput) (ReceiptStatus, error) {
	st, err := RequestBillReceipt.Run(ctx, receiptOptions, in)
	for err == nil && st.State == wechatpay.ReceiptGenerating {
		if err = workflow.Sleep(ctx, in.PollInterval); err == nil {
			st, err = RequestBillReceipt.Run(ctx, receiptOptions, in)
		}
	}
	if err != nil || st.State != wechatpay.ReceiptFinished {
		return st, err
	}
	return StoreBillReceipt.Run(ctx, receiptOptions, in)
}

// ReceiptWorkflowName and ReceiptWorkflowID name the receipt run of a bill.
const ReceiptWorkflowName = "FetchReceipt"

func ReceiptWorkflowID(outBillNo string) string { return "bill-receipt/" + outBillNo }

// ReceiptInput is the bill whose receipt to fetch.
type ReceiptInput struct {
	OrderID      string        `json:"orderId"`
	OutBillNo    string        `json:"outBillNo"`
	PollInterval time.Duration `json:"pollInterval"`
}

// ReceiptStatus is where the receipt stands: WeChat Pay's GENERATING, FINISHED or FAILED, then the store's STORED
// (with the file's SHA-256).
type ReceiptStatus struct {
	State      string `json:"state"`
	SHA256     string `json:"sha256,omitempty"`
	FailReason string `json:"failReason,omitempty"`
}

// RequestBillReceipt applies for the receipt (again harmlessly) and reports its state; StoreBillReceipt downloads,
// checks and keeps a finished one.
var (
	RequestBillReceipt = Step[ReceiptInput, ReceiptStatus]{"RequestBillReceipt"}
	StoreBillReceipt   = Step[ReceiptInput, ReceiptStatus]{"StoreBillReceipt"}
)

var receiptOptions = workflow.ActivityOptions{
	Summary:             "电子回单 electronic receipt",
	StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 6 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
		NonRetryableErrorTypes: []string{ErrTypeMisconfigured, ErrTypeReceiptUnavailable}},
}

// ErrTypeReceiptUnavailable: the bill has no receipt to give (not paid through WeChat Pay, or without a name).
const ErrTypeReceiptUnavailable = "ReceiptUnavailable"
