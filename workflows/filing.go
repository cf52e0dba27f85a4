package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/tax"
)

// MonthlyFiling writes a month's withholding filing (扣缴申报) from the books and keeps it, sealed, for operators
// to download and import into the withholding client; the filing is due by the 15th of the next month. A month
// is filed once its bills have settled: no payment reserved in it is still waiting for its bill (a bill waits at
// most 24 hours), so what the file declares is what was paid. With no period — the daily Schedule's start — it
// files what is due: the month before, Beijing time, unless it is filed, and a correction (更正) of every month
// the books changed under after it was filed. A period that has not ended is refused. Every run writes new
// exports; the file never passes through the workflow.
func MonthlyFiling(ctx workflow.Context, in FilingInput) (FilingResult, error) {
	now := workflow.Now(ctx).In(tax.Beijing)
	thisMonth := now.Format("2006-01")
	if in.Period != "" {
		if _, err := time.Parse("2006-01", in.Period); err != nil || in.Period >= thisMonth {
			return FilingResult{}, temporal.NewNonRetryableApplicationError("period must be a month that has ended (YYYY-MM before "+thisMonth+")", "BadInput", nil)
		}
		return fileMonth(ctx, in, 0)
	}
	lastMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, tax.Beijing).AddDate(0, -1, 0).Format("2006-01")
	due, err := FilingsDue.Local(ctx, filingCheckOptions, FilingsDueInput{LastMonth: lastMonth})
	if err != nil {
		return FilingResult{}, err
	}
	var out FilingResult
	for i, d := range due {
		d.RequestedBy = "schedule"
		res, err := fileMonth(ctx, d, i)
		if err != nil {
			return out, err
		}
		out.Exports = append(out.Exports, res.Exports...)
		out.Rows, out.IncomeFen, out.TaxFen = out.Rows+res.Rows, out.IncomeFen+res.IncomeFen, out.TaxFen+res.TaxFen
		out.ExportID, out.SHA256 = res.ExportID, res.SHA256
	}
	return out, nil
}

// fileMonth waits for the month's bills to settle, then writes its filing (the n-th of this run).
func fileMonth(ctx workflow.Context, in FilingInput, n int) (FilingResult, error) {
	for wait, waited := settleFirstCheck, time.Duration(0); ; wait = min(2*wait, settleMaxCheck) {
		open, err := OpenPayments.Local(ctx, filingCheckOptions, in.Period)
		if err != nil {
			return FilingResult{}, err
		}
		if open == 0 {
			break
		}
		if waited >= settleGiveUp {
			workflow.GetLogger(ctx).Error("filing with bills still open: their payments count when they are paid (a correction follows)", "period", in.Period, "open", open)
			break
		}
		workflow.SetCurrentDetails(ctx, fmt.Sprintf("扣缴申报 %s：等待 %d 笔转账结束 (waiting for %d bills to settle)", in.Period, open, open))
		if err := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{Summary: "等待转账结束 bills settling"}).Get(ctx, nil); err != nil {
			return FilingResult{}, err
		}
		waited += wait
	}
	in.ExportID = fmt.Sprintf("withholding-%s-%s", in.Period, workflow.GetInfo(ctx).WorkflowExecution.RunID)
	if n > 0 {
		in.ExportID += fmt.Sprintf("-%d", n)
	}
	if in.CorrectionOf != "" {
		in.ExportID += "-correction"
	}
	workflow.SetCurrentDetails(ctx, "扣缴申报 filing "+in.Period)
	return BuildWithholdingFiling.Run(ctx, filingOptions, in)
}

// How long a filing waits for its month's bills: looks from settleFirstCheck, doubling to settleMaxCheck, and
// past settleGiveUp (a bill's 24 hours, and some) it files what was paid.
const (
	settleFirstCheck = 5 * time.Second
	settleMaxCheck   = time.Hour
	settleGiveUp     = 26 * time.Hour
)

// FilingInput names the month (YYYY-MM); CorrectionOf, the filing a correction replaces.
type FilingInput struct {
	Period       string `json:"period"`
	CorrectionOf string `json:"correctionOf,omitempty"`
	ExportID     string `json:"exportId,omitempty"`
	RequestedBy  string `json:"requestedBy,omitempty"`
}

// ExportRef is a kept file's reference.
type ExportRef struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
}

// FilingResult is the kept files (CSV and XLSX per method) and their totals, which equal the books' posted
// figures of the month.
type FilingResult struct {
	ExportID  string      `json:"exportId"`
	Exports   []ExportRef `json:"exports"`
	Rows      int         `json:"rows"`
	IncomeFen int64       `json:"incomeFen"`
	TaxFen    int64       `json:"taxFen"`
	SHA256    string      `json:"sha256"`
}

// FilingsDueInput is the month before the run's.
type FilingsDueInput struct {
	LastMonth string `json:"lastMonth"`
}

// The filing's steps: what is due, whether a month's bills have settled, and the file itself.
var (
	FilingsDue             = Step[FilingsDueInput, []FilingInput]{"FilingsDue"}
	OpenPayments           = Step[string, int]{"OpenPayments"}
	BuildWithholdingFiling = Step[FilingInput, FilingResult]{"BuildWithholdingFiling"}
)

var (
	filingCheckOptions = workflow.LocalActivityOptions{
		Summary:             "扣缴申报 books",
		StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	}
	// Exports open every payee's identity: a heartbeat per row, so a worker that dies inside one is noticed in a
	// minute, not after the whole StartToClose.
	filingOptions = workflow.ActivityOptions{
		Summary:             "扣缴申报 withholding filing",
		StartToCloseTimeout: 30 * time.Minute, HeartbeatTimeout: time.Minute, ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute},
	}
)
