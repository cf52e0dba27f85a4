package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/tax"
)

// QuarterlyReport writes the platform's quarterly tax information report (涉税信息报送, 国务院令第810号 and
// 公告2025年第15号, due 「于季度终了的次月内」): the identities of earning workers not reported before (or changed),
// and each worker's paid income of the quarter, as two tables kept sealed for operators to upload. With no quarter — the Schedule's start, in the month after each
// quarter — it reports the quarter before, Beijing time.
func QuarterlyReport(ctx workflow.Context, in ReportInput) (ReportResult, error) {
	if in.Quarter == "" {
		now := workflow.Now(ctx).In(tax.Beijing)
		prev := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, tax.Beijing).AddDate(0, -3, 0)
		in.Quarter = fmt.Sprintf("%d-Q%d", prev.Year(), (int(prev.Month())-1)/3+1)
		in.RequestedBy = "schedule"
	}
	if _, to, _, err := QuarterBounds(in.Quarter); err != nil || workflow.Now(ctx).Before(to) {
		return ReportResult{}, temporal.NewNonRetryableApplicationError("quarter must be one that has ended (YYYY-Qn)", "BadInput", nil)
	}
	if in.ExportSuffix == "" {
		in.ExportSuffix = workflow.GetInfo(ctx).WorkflowExecution.RunID[:8]
	}
	workflow.SetCurrentDetails(ctx, "涉税信息报送 platform report "+in.Quarter)
	return BuildPlatformReport.Run(ctx, filingOptions, in)
}

// ReportInput names the quarter (YYYY-Qn).
type ReportInput struct {
	Quarter      string `json:"quarter"`
	ExportSuffix string `json:"exportSuffix,omitempty"`
	RequestedBy  string `json:"requestedBy,omitempty"`
}

// ReportResult references the two files kept.
type ReportResult struct {
	IdentityExportID string `json:"identityExportId"`
	IncomeExportID   string `json:"incomeExportId"`
	NewIdentities    int    `json:"newIdentities"`
	Workers          int    `json:"workers"`
	IncomeFen        int64  `json:"incomeFen"`
}

// BuildPlatformReport reads identities and the ledger, writes and stores both files.
var BuildPlatformReport = Step[ReportInput, ReportResult]{"BuildPlatformReport"}

// QuarterBounds are a quarter's first instant and the next quarter's, Beijing time, and its three months.
func QuarterBounds(quarter string) (from, to time.Time, periods []string, err error) {
	var year, q int
	if _, err := fmt.Sscanf(quarter, "%d-Q%d", &year, &q); err != nil || q < 1 || q > 4 || year < 2000 || year > 2100 {
		return time.Time{}, time.Time{}, nil, fmt.Errorf("quarter must be YYYY-Q1..Q4, got %q", quarter)
	}
	from = time.Date(year, time.Month(3*(q-1)+1), 1, 0, 0, 0, 0, tax.Beijing)
	for m := range 3 {
		periods = append(periods, from.AddDate(0, m, 0).Format("2006-01"))
	}
	return from, from.AddDate(0, 3, 0), periods, nil
}
