package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

// TransferBills is WeChat Pay's merchant transfer API (package wechatpay).
type TransferBills interface {
	MchID() string
	AppID() string
	Create(ctx context.Context, r wechatpay.BillRequest) (wechatpay.Bill, error)
	Query(ctx context.Context, outBillNo string) (wechatpay.Bill, bool, error)
	Cancel(ctx context.Context, outBillNo string) (wechatpay.Bill, error)
}

// WeChatPayPayout pays into the payee's own WeChat wallet; since 2025 the payee confirms each bill in the
// mini-program (wx.requestMerchantTransfer with the bill's package_info).
type WeChatPayPayout struct {
	Bills TransferBills
}

// Channel implements Payout.
func (WeChatPayPayout) Channel() string { return "wechatpay" }

// Create implements Payout.
func (p WeChatPayPayout) Create(ctx context.Context, req TransferRequest) (workflows.TransferStatus, error) {
	b, err := p.Bills.Create(ctx, wechatpay.BillRequest{OutBillNo: req.OutBillNo, OpenID: req.OpenID, AmountFen: req.AmountFen, UserName: req.UserName})
	if err != nil {
		return workflows.TransferStatus{}, payError(err)
	}
	st := p.status(b)
	if b.State == wechatpay.StateWaitUserConfirm {
		st.Confirm = p.ConfirmParams(b.PackageInfo, req.OpenID)
	}
	return st, nil
}

// ConfirmParams implements Payout: wx.requestMerchantTransfer's arguments.
func (p WeChatPayPayout) ConfirmParams(packageInfo, openID string) *workflows.MerchantTransferParams {
	if packageInfo == "" {
		return nil
	}
	return &workflows.MerchantTransferParams{MchID: p.Bills.MchID(), AppID: p.Bills.AppID(), Package: packageInfo, OpenID: openID}
}

// Query implements Payout.
func (p WeChatPayPayout) Query(ctx context.Context, outBillNo string) (workflows.TransferStatus, error) {
	b, found, err := p.Bills.Query(ctx, outBillNo)
	if err != nil {
		return workflows.TransferStatus{}, payError(err)
	}
	if !found {
		return workflows.TransferStatus{OutBillNo: outBillNo, State: workflows.TransferNotFound}, nil
	}
	return p.status(b), nil
}

// Cancel implements Payout. WeChat Pay answers CANCELING; the bill's final state comes by callback or query.
func (p WeChatPayPayout) Cancel(ctx context.Context, outBillNo string) (workflows.TransferStatus, error) {
	b, err := p.Bills.Cancel(ctx, outBillNo)
	if errors.Is(err, wechatpay.ErrRejected) || errors.Is(err, wechatpay.ErrInvalidRequest) {
		// Too late to cancel (the payee confirmed meanwhile): report where the bill stands instead.
		return p.Query(ctx, outBillNo)
	}
	if err != nil {
		return workflows.TransferStatus{}, payError(err)
	}
	return p.status(b), nil
}

func (p WeChatPayPayout) status(b wechatpay.Bill) workflows.TransferStatus {
	st := workflows.TransferStatus{OutBillNo: b.OutBillNo, TransferBillNo: b.TransferBillNo, State: b.State, FailReason: b.FailReason, AmountFen: b.AmountFen}
	if at, err := time.Parse(time.RFC3339, b.UpdateTime); err == nil {
		st.UpdatedAt = at
	}
	return st
}

// payError maps the client's error classes onto the port's: a rejected request must not be retried as is.
func payError(err error) error {
	switch {
	case errors.Is(err, wechatpay.ErrRejected):
		return fmt.Errorf("%w: %v", ErrTransferRejected, err)
	case errors.Is(err, wechatpay.ErrInvalidRequest):
		return fmt.Errorf("%w: %v", ErrTransferUnclear, err)
	case errors.Is(err, wechatpay.ErrMisconfigured):
		return misconfigured(err)
	}
	return err
}
