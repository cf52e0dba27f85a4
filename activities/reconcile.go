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
	TransfersToReconcile(ctx context.Context, from, to time.Time, after string, limit int) ([]store.Transfer, error)
	Payment(ctx context.Context, outBillNo string) (store.Payment, error)
	AddFindings(ctx context.Context, id string, findings []store.Finding) error
	RecordWeChatPayBalance(ctx context.Context, id string, booksFen, billFen int64) error
	AccountMovement(ctx context.Context, account, phase string, from, to time.Time) (map[string]int64, error)
	Transfer(ctx context.Context, outBillNo string) (store.Transfer, error)
	TransferByWeChatNo(ctx context.Context, transferBillNo string) (store.Transfer, error)
	Findings(ctx context.Context, id string) ([]store.Finding, error)
}

// Kinds of reconciliation findings.
const (
	FindingPaidAtWeChatOnly = "PAID_AT_WECHAT_NOT_HERE" // WeChat Pay paid it; we do not think so
	FindingPaidHereOnly     = "PAID_HERE_NOT_AT_WECHAT" // we think it paid; WeChat Pay does not
	FindingAmountDiffers    = "AMOUNT_DIFFERS"
	FindingUnknownAtWeChat  = "UNKNOWN_AT_WECHAT" // WeChat Pay numbered the bill once and now has no such bill
	FindingStateDiffers     = "STATE_DIFFERS"     // both final, or theirs final and ours not: a lost callback
	FindingTaxOnFailedBill  = "TAX_ON_FAILED_BILL"
	FindingUnchecked        = "UNCHECKED"         // WeChat Pay would not answer about the bill through every retry
	FindingFundFlowDiffers  = "FUND_FLOW_DIFFERS" // the books' WeChat Pay account moved otherwise than WeChat Pay's fund-flow bill
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

// How often one bill's query is tried within a page before it counts as unchecked, and the pause between tries.
var (
	reconQueryTries   = 5
	reconQueryBackoff = 200 * time.Millisecond
)

// ReconcilePage checks the next page of bills against the payout channel and records what it checked, once. The
// page is every bill created or changed in the window and every bill still open (whatever its day), so a bill
// that settles after its day is looked at again. A query that fails is retried for that bill; one WeChat Pay
// keeps refusing is recorded as UNCHECKED and the page goes on — a few failing queries never blind the run.
func (a *Activities) ReconcilePage(ctx context.Context, in workflows.ReconPageInput) (workflows.ReconPageResult, error) {
	bills, err := a.Recon.TransfersToReconcile(ctx, in.From, in.To, in.After, in.Limit)
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
		theirs, err := a.queryForRecon(ctx, t.OutBillNo)
		if err != nil {
			page.Findings = append(page.Findings, store.Finding{OutBillNo: t.OutBillNo, OrderID: t.OrderID, Kind: FindingUnchecked, OurState: t.State,
				WeChatState: "", OurAmountFen: t.AmountFen, Detail: fmt.Sprintf("%d queries failed, the last: %v", reconQueryTries, err)})
			a.countFinding(ctx, FindingUnchecked)
			continue
		}
		pay, err := a.Recon.Payment(ctx, t.OutBillNo)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return workflows.ReconPageResult{}, err
		}
		if t.State == wechatpay.StateSuccess {
			page.OurPaidFen += t.AmountFen
			if pay.State == store.PaymentPosted {
				page.TaxFen += pay.TaxFen
			}
		}
		if theirs.State == wechatpay.StateSuccess {
			page.WeChatPaidFen += cmp.Or(theirs.AmountFen, t.AmountFen)
		}
		if kind, detail := reconFinding(t, theirs, pay.State == store.PaymentPending); kind != "" {
			page.Findings = append(page.Findings, store.Finding{OutBillNo: t.OutBillNo, OrderID: t.OrderID, Kind: kind, OurState: t.State,
				WeChatState: theirs.State, OurAmountFen: t.AmountFen, WeChatAmountFen: theirs.AmountFen, Detail: detail})
			a.countFinding(ctx, kind)
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

// queryForRecon asks the channel about one bill, a few times before giving up on it.
func (a *Activities) queryForRecon(ctx context.Context, outBillNo string) (workflows.TransferStatus, error) {
	var err error
	for try := range reconQueryTries {
		var st workflows.TransferStatus
		if st, err = a.Payout.Query(ctx, outBillNo); err == nil {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return workflows.TransferStatus{}, ctx.Err()
		case <-time.After(reconQueryBackoff << try):
		}
	}
	return workflows.TransferStatus{}, err
}

func (a *Activities) countFinding(ctx context.Context, kind string) {
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": kind}).Counter("receiptflow_reconciliation_findings").Inc(1)
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

// ReconcileFundFlow reads WeChat Pay's fund-flow bill of the operation account for every day of the window and
// holds it against the books: each row is matched to our bill by its number (业务凭证号 is our out_bill_no,
// 微信支付业务单号 WeChat Pay's transfer_bill_no), never by its name; a 商家转账 row we have no bill for is
// UNKNOWN_HERE; and the books' WeChat Pay account must have moved, bill by bill, exactly as the bill says — the
// difference (books − bill) is recorded on the run, a number that must be zero, and each bill that makes it is a
// FUND_FLOW_DIFFERS finding.
func (a *Activities) ReconcileFundFlow(ctx context.Context, in workflows.ReconPageInput) (workflows.ReconPageResult, error) {
	if a.FundFlows == nil {
		return workflows.ReconPageResult{Done: true}, nil
	}
	var findings []store.Finding
	var booksTotal, billTotal int64
	// A bill whose own check already found it wrong is not named again for the money it moved: one finding per
	// difference.
	flagged := map[string]bool{}
	known, err := a.Recon.Findings(ctx, in.ID)
	if err != nil {
		return workflows.ReconPageResult{}, err
	}
	for _, f := range known {
		flagged[f.OutBillNo] = true
	}
	for _, day := range daysOf(in.From, in.To) {
		activity.RecordHeartbeat(ctx, day)
		rows, err := a.FundFlows.FundFlow(ctx, day)
		if err != nil {
			return workflows.ReconPageResult{}, payError(err)
		}
		start, _ := time.ParseInLocation("2006-01-02", day, tax.Beijing)
		books, err := a.Recon.AccountMovement(ctx, store.AccountWeChatPay, store.PhasePosted, start, start.AddDate(0, 0, 1))
		if err != nil {
			return workflows.ReconPageResult{}, err
		}
		bill := map[string]int64{} // our out_bill_no → the day's movement on WeChat Pay's bill
		for _, row := range rows {
			t, err := a.Recon.Transfer(ctx, row.OutBillNo)
			if errors.Is(err, store.ErrNotFound) && row.TransferBillNo != "" {
				t, err = a.Recon.TransferByWeChatNo(ctx, row.TransferBillNo)
			}
			if errors.Is(err, store.ErrNotFound) {
				if row.Business == "商家转账" {
					findings = append(findings, store.Finding{OutBillNo: row.OutBillNo, Kind: FindingUnknownHere, OurState: workflows.TransferNotFound,
						WeChatState: wechatpay.StateSuccess, WeChatAmountFen: row.AmountFen,
						Detail: fmt.Sprintf("fund-flow bill of %s: %s %s %d fen at %s", day, row.TransferBillNo, row.Direction, row.AmountFen, row.Time)})
					a.countFinding(ctx, FindingUnknownHere)
				}
				continue
			}
			if err != nil {
				return workflows.ReconPageResult{}, err
			}
			amount := row.AmountFen
			if row.Direction == "支出" {
				amount = -amount
			}
			bill[t.OutBillNo] += amount
		}
		for no := range union(books, bill) {
			if no == "" {
				continue
			}
			booksTotal += books[no]
			billTotal += bill[no]
			if books[no] != bill[no] && !flagged[no] {
				t, _ := a.Recon.Transfer(ctx, no)
				findings = append(findings, store.Finding{OutBillNo: no + "@" + day, OrderID: t.OrderID, Kind: FindingFundFlowDiffers, OurState: t.State,
					OurAmountFen: -books[no], WeChatAmountFen: -bill[no],
					Detail: fmt.Sprintf("%s: our books moved %d fen on WeChat Pay for bill %s, its fund-flow bill %d fen", day, books[no], no, bill[no])})
				a.countFinding(ctx, FindingFundFlowDiffers)
			}
		}
	}
	if err := a.Recon.AddFindings(ctx, in.ID, findings); err != nil {
		return workflows.ReconPageResult{}, err
	}
	if err := a.Recon.RecordWeChatPayBalance(ctx, in.ID, booksTotal, billTotal); err != nil {
		return workflows.ReconPageResult{}, err
	}
	return workflows.ReconPageResult{Findings: len(findings), Done: true}, nil
}

func union(a, b map[string]int64) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// daysOf lists the Beijing-time dates (yyyy-MM-dd) a window [from, to) touches.
func daysOf(from, to time.Time) []string {
	var out []string
	for d := from.In(tax.Beijing); d.Before(to); d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, tax.Beijing) {
		out = append(out, d.Format("2006-01-02"))
	}
	return out
}
