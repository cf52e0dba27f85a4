package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/tax"
)

// Reconcile pages through a window from where the store says it stands, and a window longer than one run's worth
// of pages continues as new with the same input instead of growing one history.
func TestReconcilePagesAndContinuesAsNew(t *testing.T) {
	for _, pages := range []int{3, reconPagesPerRun + 5} {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		var afters []string
		env.RegisterActivityWithOptions(func(_ context.Context, in ReconcileInput) (Reconciled, error) {
			return Reconciled{ID: in.ID, ResumeAfter: "bill-0"}, nil
		}, activity.RegisterOptions{Name: StartReconciliation.Name})
		env.RegisterActivityWithOptions(func(_ context.Context, in ReconPageInput) (ReconPageResult, error) {
			afters = append(afters, in.After)
			n := len(afters)
			return ReconPageResult{Bills: in.Limit, Findings: 1, Last: "bill-" + string(rune('a'+n%26)), Done: n == pages}, nil
		}, activity.RegisterOptions{Name: ReconcilePage.Name})
		env.RegisterActivityWithOptions(func(_ context.Context, id string) (Reconciled, error) {
			return Reconciled{ID: id, Done: true}, nil
		}, activity.RegisterOptions{Name: FinishReconciliation.Name})
		flows := 0
		env.RegisterActivityWithOptions(func(context.Context, ReconPageInput) (ReconPageResult, error) {
			flows++
			return ReconPageResult{Findings: 2, Done: true}, nil
		}, activity.RegisterOptions{Name: ReconcileFundFlow.Name})
		from := time.Date(2026, 11, 23, 0, 0, 0, 0, tax.Beijing)
		env.ExecuteWorkflow(Reconcile, ReconcileInput{ID: "2026-11-23", From: from, To: from.AddDate(0, 0, 1)})
		err := env.GetWorkflowError()
		if pages <= reconPagesPerRun {
			var out Reconciled
			if err != nil || env.GetWorkflowResult(&out) != nil || !out.Done || len(afters) != pages || afters[0] != "bill-0" || afters[1] != "bill-b" || flows != 1 {
				t.Fatalf("%d pages: %v %+v %v (fund-flow read %d times)", pages, err, out, afters, flows)
			}
			continue
		}
		var can *workflow.ContinueAsNewError
		if !errors.As(err, &can) || len(afters) != reconPagesPerRun {
			t.Fatalf("%d pages: want continue-as-new after %d pages, got %v after %d", pages, reconPagesPerRun, err, len(afters))
		}
	}
}

// The Schedule's start (no window) reconciles yesterday in Beijing time.
func TestReconcileDefaultsToYesterdayInBeijing(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Date(2026, 11, 23, 17, 30, 0, 0, time.UTC)) // 01:30 on the 24th in Beijing
	var got ReconcileInput
	env.RegisterActivityWithOptions(func(_ context.Context, in ReconcileInput) (Reconciled, error) {
		got = in
		return Reconciled{ID: in.ID}, nil
	}, activity.RegisterOptions{Name: StartReconciliation.Name})
	env.RegisterActivityWithOptions(func(context.Context, ReconPageInput) (ReconPageResult, error) {
		return ReconPageResult{Done: true}, nil
	}, activity.RegisterOptions{Name: ReconcilePage.Name})
	env.RegisterActivityWithOptions(func(_ context.Context, id string) (Reconciled, error) {
		return Reconciled{ID: id, Done: true}, nil
	}, activity.RegisterOptions{Name: FinishReconciliation.Name})
	env.RegisterActivityWithOptions(func(context.Context, ReconPageInput) (ReconPageResult, error) {
		return ReconPageResult{Done: true}, nil
	}, activity.RegisterOptions{Name: ReconcileFundFlow.Name})
	env.ExecuteWorkflow(Reconcile, ReconcileInput{})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got.ID != "2026-11-23" || !got.From.Equal(time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC)) || got.To.Sub(got.From) != 24*time.Hour || got.RequestedBy != "schedule" {
		t.Fatalf("window: %+v", got)
	}
}

// The daily Schedule's start (no period) files what is due — the month before, Beijing time, and a correction
// of a month the books changed under — each once its bills have settled, under export IDs of their own.
func TestMonthlyFilingFilesWhatIsDueOnceSettled(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Date(2026, 11, 30, 16, 30, 0, 0, time.UTC)) // 00:30 on 1 December in Beijing
	var asked string
	env.RegisterActivityWithOptions(func(_ context.Context, in FilingsDueInput) ([]FilingInput, error) {
		asked = in.LastMonth
		return []FilingInput{{Period: in.LastMonth}, {Period: "2026-09", CorrectionOf: "withholding-2026-09-r1"}}, nil
	}, activity.RegisterOptions{Name: FilingsDue.Name})
	checks := map[string]int{}
	env.RegisterActivityWithOptions(func(_ context.Context, period string) (int, error) {
		checks[period]++
		if period == "2026-11" && checks[period] < 3 {
			return 1, nil // a bill of 30 November still waits for its payee
		}
		return 0, nil
	}, activity.RegisterOptions{Name: OpenPayments.Name})
	var got []FilingInput
	var filedAt []time.Time
	env.RegisterActivityWithOptions(func(ctx context.Context, in FilingInput) (FilingResult, error) {
		got = append(got, in)
		filedAt = append(filedAt, env.Now())
		return FilingResult{ExportID: in.ExportID, Exports: []ExportRef{{ID: in.ExportID}}}, nil
	}, activity.RegisterOptions{Name: BuildWithholdingFiling.Name})
	env.ExecuteWorkflow(MonthlyFiling, FilingInput{})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if asked != "2026-11" || len(got) != 2 {
		t.Fatalf("asked for %q, filed %+v", asked, got)
	}
	if got[0].Period != "2026-11" || got[0].RequestedBy != "schedule" || got[0].CorrectionOf != "" || got[0].ExportID != "withholding-2026-11-default-test-run-id" {
		t.Fatalf("filing: %+v", got[0])
	}
	if filedAt[0].Sub(time.Date(2026, 11, 30, 16, 30, 0, 0, time.UTC)) < 15*time.Second {
		t.Fatalf("filed at %v, before its bills settled", filedAt[0])
	}
	if got[1].Period != "2026-09" || got[1].CorrectionOf != "withholding-2026-09-r1" || !strings.HasSuffix(got[1].ExportID, "-1-correction") {
		t.Fatalf("correction: %+v", got[1])
	}
}

// A month that has not ended is not filed: its payments are not all known.
func TestMonthlyFilingRefusesAMonthNotEnded(t *testing.T) {
	for _, period := range []string{"2026-12", "2027-01", "2026-13"} {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetStartTime(time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC))
		env.RegisterActivityWithOptions(func(context.Context, FilingInput) (FilingResult, error) {
			t.Errorf("%s filed", period)
			return FilingResult{}, nil
		}, activity.RegisterOptions{Name: BuildWithholdingFiling.Name})
		env.ExecuteWorkflow(MonthlyFiling, FilingInput{Period: period})
		var app *temporal.ApplicationError
		if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != "BadInput" {
			t.Errorf("%s: %v", period, err)
		}
	}
}

// The quarterly Schedule's start reports the quarter before (Beijing time); quarters map to their three months.
func TestQuarterlyReportDefaultsToLastQuarter(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Date(2026, 9, 30, 16, 30, 0, 0, time.UTC)) // 00:30 on 1 October in Beijing
	var got ReportInput
	env.RegisterActivityWithOptions(func(_ context.Context, in ReportInput) (ReportResult, error) {
		got = in
		return ReportResult{}, nil
	}, activity.RegisterOptions{Name: BuildPlatformReport.Name})
	env.ExecuteWorkflow(QuarterlyReport, ReportInput{})
	if err := env.GetWorkflowError(); err != nil || got.Quarter != "2026-Q3" || got.RequestedBy != "schedule" {
		t.Fatalf("input: %+v %v", got, err)
	}
	from, to, periods, err := QuarterBounds("2026-Q4")
	if err != nil || from.Format("2006-01-02") != "2026-10-01" || to.Format("2006-01-02") != "2027-01-01" || len(periods) != 3 || periods[2] != "2026-12" {
		t.Fatalf("Q4: %v %v %v %v", from, to, periods, err)
	}
	if _, _, _, err := QuarterBounds("2026-Q5"); err == nil {
		t.Fatal("2026-Q5 accepted")
	}
}
