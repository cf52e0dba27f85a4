// Package activities holds every side effect of the ConfirmReceipt workflow: one struct whose dependencies are
// small interfaces, one method per step. Methods map dependency errors to retryable or non-retryable Temporal
// errors with types the workflow branches on, and never log a name or ID number in clear.
package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/risk"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/wechat"
	"github.com/receiptflow/receiptflow/workflows"
)

// Orders is what the steps read about orders, payees and their contracts.
type Orders interface {
	Order(ctx context.Context, id string) (store.Order, error)
	Payee(ctx context.Context, id string) (store.Payee, error)
	Identity(ctx context.Context, payeeID string) (store.Identity, error)
	Agreement(ctx context.Context, payerID, payeeID string) (store.Agreement, error)
	Funding(ctx context.Context, orderID string) (store.Funding, error)
	Blacklisted(ctx context.Context, idHash string) (bool, error)
	Activity(ctx context.Context, payeeID, period string, now time.Time) (store.PayeeActivity, error)
	PayerAccountHash(ctx context.Context, payerID string) (string, error)
	SetOrderState(ctx context.Context, id, state, reason string) error
	MarkFaceVerified(ctx context.Context, payeeID string) error
}

// Ledger is the books: a bill's payment reserved (tax withheld) before the bill is made, voided when the bill
// never came to exist. A bill's recorded outcome posts or voids its payment (Transfers.UpdateTransfer).
type Ledger interface {
	PreviewTax(ctx context.Context, m tax.Method, orderID string) (tax.Withholding, error)
	ReservePayment(ctx context.Context, m tax.Method, orderID string, attempt int, outBillNo string) (store.Payment, error)
	VoidPayment(ctx context.Context, outBillNo, reason string) (bool, error)
	Payment(ctx context.Context, outBillNo string) (store.Payment, error)
}

// FaceAudit numbers face credentials and remembers face attempts and which results were used.
type FaceAudit interface {
	FaceCredentialNumber(ctx context.Context, orderID, runID string, seq int) (int, error)
	ClaimFaceResult(ctx context.Context, a store.FaceAttempt) (store.FaceAttempt, error)
	RecordFaceAttempt(ctx context.Context, a store.FaceAttempt, key string) error
}

// Transfers records payout bills.
type Transfers interface {
	PutTransfer(ctx context.Context, t store.Transfer) (store.Transfer, bool, error)
	UpdateTransfer(ctx context.Context, outBillNo string, u store.TransferUpdate) (store.Transfer, error)
	CloseUnsentTransfer(ctx context.Context, outBillNo, reason string) (store.Transfer, error)
	Transfer(ctx context.Context, outBillNo string) (store.Transfer, error)
	TransfersByOrder(ctx context.Context, orderID string) ([]store.Transfer, error)
}

// FaceAPI is WeChat's face verification, 1.0 and 2.0.
type FaceAPI interface {
	GetUserIDKey(ctx context.Context, name, idNumber string) (wechat.UserIDKey, error)
	GetInfo(ctx context.Context, verifyResult string) (wechat.FaceInfo, error)
	GetVerifyID(ctx context.Context, outSeqNo, name, idNumber, openid string) (wechat.VerifyID, error)
	QueryVerifyInfo(ctx context.Context, verifyID, outSeqNo, certHash, openid string) (int, error)
}

// RiskRanker is WeChat's user risk rank.
type RiskRanker interface {
	RiskRank(ctx context.Context, openid string, scene int, clientIP string) (int, error)
}

// Face verification modes.
const (
	FaceV1 = "v1" // getuseridkey / getinfo: the seed's calls, retired by WeChat on 2026-06-30
	FaceV2 = "v2" // getverifyid / queryverifyinfo
)

// Config is what the steps need from configuration.
type Config struct {
	FaceMode  string
	TaxMethod tax.Method
	Risk      risk.Config
	// RiskScene is getuserriskrank's scene (0: registration, 1: marketing/cash-out); payouts are scene 1.
	RiskScene int
}

// Activities is registered with the worker; each exported method is one step.
type Activities struct {
	Orders    Orders
	Ledger    Ledger
	Faces     FaceAudit
	Transfers Transfers
	WeChat    FaceAPI
	Risk      RiskRanker // nil: the rank is not asked and the risk rule for it never fires
	Payout    Payout
	// Recon is where reconciliations with the payout channel keep their progress and findings; FundFlows reads
	// WeChat Pay's daily fund-flow bill (nil on the ledger channel).
	Recon     Reconciliations
	FundFlows FundFlows
	// Filings reads the ledger for the withholding filing and keeps its file.
	Filings Filings
	// ReceiptAPI fetches electronic receipts (nil on the ledger channel); ReceiptFiles and Receipts keep them.
	ReceiptAPI   ReceiptAPI
	ReceiptFiles ReceiptFiles
	Receipts     ReceiptRecords
	// Webhooks keeps the payers' endpoints and events; WebhookSender sends them, Deliveries starts their delivery
	// workflows (nil: no events are announced).
	Webhooks      Webhooks
	WebhookSender WebhookSender
	Deliveries    Deliveries
	Webhook       WebhookConfig
	Hasher        *pii.Hasher
	Config        Config
	Now           func() time.Time
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// FinishOrder records the end of a run on the order, for merchants and the payee's list.
func (a *Activities) FinishOrder(ctx context.Context, in workflows.FinishInput) (workflows.Done, error) {
	state := map[workflows.State]string{
		workflows.StatePaid: store.OrderPaid, workflows.StateCancelled: store.OrderCancelled, workflows.StateFailed: store.OrderFailed,
		workflows.StateRejected: store.OrderRejected, workflows.StateExpired: store.OrderExpired,
	}[in.State]
	if state == "" {
		return workflows.Done{}, temporal.NewNonRetryableApplicationError("not a final state: "+string(in.State), "BadInput", nil)
	}
	if in.OutBillNo != "" {
		// A settlement speaks for its own bill only: a later bill of the order (a new run) decides the order.
		bills, err := a.Transfers.TransfersByOrder(ctx, in.OrderID)
		if err != nil {
			return workflows.Done{}, classify(err)
		}
		if len(bills) == 0 || bills[len(bills)-1].OutBillNo != in.OutBillNo {
			activity.GetLogger(ctx).Warn("settled bill is not the order's latest: the order is left to its run", "orderId", in.OrderID, "outBillNo", in.OutBillNo)
			return workflows.Done{}, nil
		}
	}
	err := a.Orders.SetOrderState(ctx, in.OrderID, state, in.Reason)
	if err == nil {
		// Business counters (a retried activity may count twice; the store's state is the record).
		m := activity.GetMetricsHandler(ctx)
		m.WithTags(map[string]string{"state": string(in.State)}).Counter("receiptflow_receipts_finished").Inc(1)
		if in.PaidFen > 0 {
			m.Counter("receiptflow_paid_fen").Inc(in.PaidFen)
		}
	}
	if errors.Is(err, store.ErrConflict) {
		// The order was closed elsewhere (cancelled by the payer, say): the order's record wins, nothing to retry.
		activity.GetLogger(ctx).Warn("order already closed", "orderId", in.OrderID, "runState", in.State, "error", err)
		return workflows.Done{}, nil
	}
	return workflows.Done{}, classify(err)
}

// classify turns dependency errors into Temporal errors: business failures are non-retryable with a type the
// workflow can branch on; transport trouble stays retryable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeNotFound, err)
	case errors.Is(err, context.Canceled):
		return err
	}
	var we *wechat.Error
	if errors.As(err, &we) {
		switch we.Class {
		case wechat.Retryable, wechat.Token:
			return temporal.NewApplicationErrorWithCause(we.Error(), "WeChatTransient", err)
		case wechat.Misconfigured:
			return temporal.NewNonRetryableApplicationError(we.Error(), workflows.ErrTypeMisconfigured, err)
		default:
			return temporal.NewNonRetryableApplicationError(we.Error(), "WeChat", err, we.Code)
		}
	}
	return err
}

// misconfigured stops retries: our credentials are wrong and an operator must act.
func misconfigured(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeMisconfigured, err)
}
