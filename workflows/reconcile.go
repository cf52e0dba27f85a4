package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/tax"
)

// Reconcile compares every bill we created in a window with what WeChat Pay says of it, a page of bills per
// activity. The store keeps where the run stands (the last bill checked), so a retried page changes nothing, and
// after reconPagesPerRun pages the run continues as new with the same input: thousands of bills never make one
// giant history. Last it reads WeChat Pay's fund-flow bill of each day for transfers we never created. With a
// zero window — the daily Schedule's start — it reconciles yesterday, Beijing time.
func Reconcile(ctx workflow.Context, in ReconcileInput) (Reconciled, error) {
	if in.From.IsZero() {
		today := workflow.Now(ctx).In(tax.Beijing)
		end := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, tax.Beijing)
		in.From, in.To, in.ID, in.RequestedBy = end.AddDate(0, 0, -1), end, end.AddDate(0, 0, -1).Format("2006-01-02"), "schedule"
	}
	st, err := StartReconciliation.Run(ctx, reconOptions, in)
	if err != nil {
		return Reconciled{}, err
	}
	after := st.ResumeAfter
	for pages := 0; ; pages++ {
		if pages == reconPagesPerRun {
			return Reconciled{}, workflow.NewContinueAsNewError(ctx, ReconcileWorkflowName, in)
		}
		page, err := ReconcilePage.Run(ctx, reconOptions, ReconPageInput{ID: in.ID, From: in.From, To: in.To, After: after, Limit: reconPageSize})
		if err != nil {
			return Reconciled{}, err
		}
		st.Bills += page.Bills
		st.Findings += page.Findings
		workflow.SetCurrentDetails(ctx, fmt.Sprintf("对账 reconciling %s: %d bills checked, %d findings", in.ID, st.Bills, st.Findings))
		if page.Done {
			break
		}
		after = page.Last
	}
	flow, err := ReconcileFundFlow.Run(ctx, reconOptions, ReconPageInput{ID: in.ID, From: in.From, To: in.To})
	if err != nil {
		return Reconciled{}, err
	}
	st.Findings += flow.Findings
	return FinishReconciliation.Run(ctx, reconOptions, in.ID)
}

const (
	reconPageSize    = 200
	reconPagesPerRun = 25
)

// ReconcileInput is a window of bill creation times, [From, To), and the ID its findings are kept under.
type ReconcileInput struct {
	ID          string    `json:"id"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	RequestedBy string    `json:"requestedBy,omitempty"`
}

// Reconciled is where a run stands: bills checked, differences found, and the last bill checked.
type Reconciled struct {
	ID          string `json:"id"`
	Bills       int    `json:"bills"`
	Findings    int    `json:"findings"`
	ResumeAfter string `json:"resumeAfter,omitempty"`
	Done        bool   `json:"done"`
}

// ReconPageInput is the next page: up to Limit bills of the window after the bill After.
type ReconPageInput struct {
	ID    string    `json:"id"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	After string    `json:"after,omitempty"`
	Limit int       `json:"limit"`
}

// ReconPageResult is what a page found; Done when it was the window's last.
type ReconPageResult struct {
	Bills    int    `json:"bills"`
	Findings int    `json:"findings"`
	Last     string `json:"last,omitempty"`
	Done     bool   `json:"done"`
}

// Reconciliation steps: regular activities (operators see each page), retried until WeChat Pay answers; a page
// heartbeats per bill and is rate-limited in the activity.
var (
	StartReconciliation  = Step[ReconcileInput, Reconciled]{"StartReconciliation"}
	ReconcilePage        = Step[ReconPageInput, ReconPageResult]{"ReconcilePage"}
	FinishReconciliation = Step[string, Reconciled]{"FinishReconciliation"}
	ReconcileFundFlow    = Step[ReconPageInput, ReconPageResult]{"ReconcileFundFlow"}
)

var reconOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: time.Minute, ScheduleToCloseTimeout: 12 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute},
}
