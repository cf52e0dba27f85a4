package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

// Reconciliations is where a reconciliation keeps its progress and findings.
type Reconciliations interface {
	StartReconciliation(ctx context.Context, r store.Reconciliation) (store.Reconciliation, error)
	RecordReconPage(ctx context.Context, id, after string, p store.ReconPage) error
	FinishReconciliation(ctx context.Context, id string) error
	Reconciliation(ctx context.Context, id string) (store.Reconciliation, error)
	TransfersCreatedBetween(ctx context.Context, from, to time.Time, after string, limit int) ([]store.Transfer, error)
	StandingWithholding(ctx context.Context, orderID string) (store.TaxEntry, bool, error)
	AddFindings(ctx context.Context, id string, findings []store.Finding) error
	Transfer(ctx context.Context, outBillNo string) (store.Transfer, error)
}

// Kinds of reconciliation findings.
const (
	FindingPaidAtWeChatOnly = "PAID_AT_WECHAT_NOT_HERE" // WeChat Pay paid it; we do not think so
	FindingPaidHereOnly     = "PAID_HERE_NOT_AT_WECHAT" // we think it paid; WeChat Pay does not
	FindingAmountDiffers    = "AMOUNT_DIFFERS"
	FindingUnknownAtWeChat  = "UNKNOWN_AT_WECHAT" // WeChat Pay numbered the bill once and now has no such bill
	FindingStateDiffers     = "STATE_DIFFERS"     // both final, or theirs final and ours not: a lost callback
	FindingTaxOnFailedBill  = "TAX_ON_FAILED_BILL"
)

// reconQueryInterval spaces WeChat Pay queries (its transfer-bills query allows far more; a day's reconciliation
// need not compete with payouts for it).
const reconQueryInterval = 20 * time.Millisecond

// StartReconciliation records the run (or finds it, when resumed) and says where it stands.
func (a *Activities) StartReconciliation(ctx context.Context, in workflows.ReconcileInput) (workflows.Reconciled, error) {
	r, err := a.Recon.StartReconciliation(ctx, store.Reconciliation{ID: in.ID, From: in.From, To: in.To, RequestedBy: in.RequestedBy})
	if err != nil {
		return workflows.Reconciled{}, err
	}
	return reconciled(r), nil
}

// FinishReconciliation marks the run done and reports its totals.
func (a *Activities) FinishReconciliation(ctx context.Context, id string) (workflows.Reconciled, error) {
	if err := a.Recon.FinishReconciliation(ctx, id); err != nil {
		return workflows.Reconciled{}, err
	}
	r, err := a.Recon.Reconciliation(ctx, id)
	return reconciled(r), err
}

func reconciled(r store.Reconciliation) workflows.Reconciled {
	return workflows.Reconciled{ID: r.ID, Bills: r.Bills, Findings: r.Findings, ResumeAfter: r.ResumeAfter, Done: r.State == store.ReconDone}
}

// ReconcilePage checks the next page of bills against the payout channel and records the page once.
func (a *Activities) ReconcilePage(ctx context.Context, in workflows.ReconPageInput) (workflows.ReconPageResult, error) {
	bills, err := a.Recon.TransfersCreatedBetween(ctx, in.From, in.To, in.After, in.Limit)
	if err != nil {
		return workflows.ReconPageResult{}, err
	}
	if len(bills) == 0 {
		return workflows.ReconPageResult{Done: true}, nil
	}
	page := store.ReconPage{Bills: len(bills), Last: bills[len(bills)-1].OutBillNo}
	tick := time.NewTicker(reconQueryInterval)
	defer tick.Stop()
	for i, t := range bills {
		activity.RecordHeartbeat(ctx, i)
		select {
		case <-ctx.Done():
			return workflows.ReconPageResult{}, ctx.Err()
		case <-tick.C:
		}
		theirs, err := a.Payout.Query(ctx, t.OutBillNo)
		if err != nil {
			return workflows.ReconPageResult{}, err
		}
		standing, withheld, err := a.Recon.StandingWithholding(ctx, t.OrderID)
		if err != nil {
			return workflows.ReconPageResult{}, err
		}
		standingOnBill := withheld && standing.Attempt == t.Attempt
		if t.State == wechatpay.StateSuccess {
			page.OurPaidFen += t.AmountFen
			if standingOnBill {
				page.TaxFen += standing.TaxFen
			}
		}
		if theirs.State == wechatpay.StateSuccess {
			page.WeChatPaidFen += cmp.Or(theirs.AmountFen, t.AmountFen)
		}
		if kind, detail := reconFinding(t, theirs, standingOnBill); kind != "" {
			page.Findings = append(page.Findings, store.Finding{OutBillNo: t.OutBillNo, OrderID: t.OrderID, Kind: kind, OurState: t.State,
				WeChatState: theirs.State, OurAmountFen: t.AmountFen, WeChatAmountFen: theirs.AmountFen, Detail: detail})
			activity.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": kind}).Counter("receiptflow_reconciliation_findings").Inc(1)
		}
	}
	if err := a.Recon.RecordReconPage(ctx, in.ID, in.After, page); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return workflows.ReconPageResult{}, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeNotFound, err)
		}
		return workflows.ReconPageResult{}, err
	}
	return workflows.ReconPageResult{Bills: len(bills), Findings: len(page.Findings), Last: page.Last, Done: len(bills) < in.Limit}, nil
}

// reconFinding names the difference between our bill and the channel's, if any. Bills still on their way (waiting
// for the payee, transferring) on both sides are no difference.
func reconFinding(ours store.Transfer, theirs workflows.TransferStatus, standingTax bool) (kind, detail string) {
	ourPaid, theirPaid := ours.State == wechatpay.StateSuccess, theirs.State == wechatpay.StateSuccess
	switch {
	case theirs.State == workflows.TransferNotFound:
		if ourPaid {
			return FindingPaidHereOnly, "WeChat Pay has no such bill"
		}
		if ours.TransferBillNo != "" {
			return FindingUnknownAtWeChat, "WeChat Pay numbered it " + ours.TransferBillNo + " and now has no such bill"
		}
		return "", "" // never reached WeChat Pay
	case theirPaid && !ourPaid:
		return FindingPaidAtWeChatOnly, fmt.Sprintf("WeChat Pay paid %d fen; ours is %s", cmp.Or(theirs.AmountFen, ours.AmountFen), ours.State)
	case ourPaid && !theirPaid:
		return FindingPaidHereOnly, "WeChat Pay says " + theirs.State
	case theirs.AmountFen != 0 && theirs.AmountFen != ours.AmountFen:
		return FindingAmountDiffers, fmt.Sprintf("ours %d fen, WeChat Pay's %d fen", ours.AmountFen, theirs.AmountFen)
	case wechatpay.Final(theirs.State) && theirs.State != ours.State:
		return FindingStateDiffers, "ours " + ours.State + ", WeChat Pay's " + theirs.State
	case !theirPaid && wechatpay.Final(theirs.State) && standingTax:
		return FindingTaxOnFailedBill, "the bill " + theirs.State + " but its withholding stands"
	}
	return "", ""
}

// FundFlows is WeChat Pay's daily fund-flow bill (nil on the ledger channel).
type FundFlows interface {
	FundFlow(ctx context.Context, day string) ([]wechatpay.FundFlowRow, error)
}

// FindingUnknownHere: WeChat Pay's fund-flow bill shows a transfer paid from our account that we never created.
const FindingUnknownHere = "UNKNOWN_HERE"

// ReconcileFundFlow reads WeChat Pay's fund-flow bill for every day of the window and records each transfer we
// have no bill for: the one difference the per-bill queries cannot see.
func (a *Activities) ReconcileFundFlow(ctx context.Context, in workflows.ReconPageInput) (workflows.ReconPageResult, error) {
	if a.FundFlows == nil {
		return workflows.ReconPageResult{Done: true}, nil
	}
	var findings []store.Finding
	for _, day := range daysOf(in.From, in.To) {
		rows, err := a.FundFlows.FundFlow(ctx, day)
		if err != nil {
			return workflows.ReconPageResult{}, payError(err)
		}
		for _, row := range rows {
			if row.Business != "商家转账" || row.Direction != "支出" {
				continue
			}
			_, err := a.Recon.Transfer(ctx, row.OutBillNo)
			if errors.Is(err, store.ErrNotFound) {
				findings = append(findings, store.Finding{OutBillNo: row.OutBillNo, Kind: FindingUnknownHere, OurState: workflows.TransferNotFound,
					WeChatState: wechatpay.StateSuccess, WeChatAmountFen: row.AmountFen,
					Detail: fmt.Sprintf("fund-flow bill of %s: %s paid %d fen at %s", day, row.TransferBillNo, row.AmountFen, row.Time)})
				activity.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": FindingUnknownHere}).Counter("receiptflow_reconciliation_findings").Inc(1)
				continue
			}
			if err != nil {
				return workflows.ReconPageResult{}, err
			}
		}
	}
	if err := a.Recon.AddFindings(ctx, in.ID, findings); err != nil {
		return workflows.ReconPageResult{}, err
	}
	return workflows.ReconPageResult{Findings: len(findings), Done: true}, nil
}

// daysOf lists the Beijing-time dates (yyyy-MM-dd) a window [from, to) touches.
func daysOf(from, to time.Time) []string {
	var out []string
	for d := from.In(tax.Beijing); d.Before(to); d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, tax.Beijing) {
		out = append(out, d.Format("2006-01-02"))
	}
	return out
}
