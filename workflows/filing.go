package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// MonthlyFiling writes the month's withholding filing (扣缴申报) from the ledger and keeps it, sealed, for
// operators to download and import into the withholding client. With no period — the monthly Schedule's start —
// it files the month before, Beijing time. The file never passes through the workflow: the activity stores it
// and answers with a reference.
func MonthlyFiling(ctx workflow.Context, in FilingInput) (FilingResult, error) {
	if in.Period == "" {
		now := workflow.Now(ctx).In(beijing)
		in.Period = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, beijing).AddDate(0, -1, 0).Format("2006-01")
		in.RequestedBy = "schedule"
	}
	if in.ExportID == "" {
		in.ExportID = "withholding-" + in.Period + "-" + workflow.GetInfo(ctx).WorkflowExecution.RunID[:8]
	}
	workflow.SetCurrentDetails(ctx, "扣缴申报 filing "+in.Period)
	return BuildWithholdingFiling.Run(ctx, filingOptions, in)
}

// FilingInput names the month (YYYY-MM) and the export the filing is kept under.
type FilingInput struct {
	Period      string `json:"period"`
	ExportID    string `json:"exportId,omitempty"`
	RequestedBy string `json:"requestedBy,omitempty"`
}

// FilingResult is the kept file's reference and its totals (which equal the ledger's for the month).
type FilingResult struct {
	ExportID  string `json:"exportId"`
	Rows      int    `json:"rows"`
	IncomeFen int64  `json:"incomeFen"`
	TaxFen    int64  `json:"taxFen"`
	SHA256    string `json:"sha256"`
}

// BuildWithholdingFiling reads the ledger, opens names and ID numbers, writes and stores the file.
var BuildWithholdingFiling = Step[FilingInput, FilingResult]{"BuildWithholdingFiling"}

var filingOptions = workflow.ActivityOptions{
	Summary:             "扣缴申报 withholding filing",
	StartToCloseTimeout: 30 * time.Minute, ScheduleToCloseTimeout: 24 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute},
}
