package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	commonpb "go.temporal.io/api/common/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/workflows"
)

// The operators' work queues, read from Temporal's visibility (the saved queries of the README, as routes): runs
// in manual review, payouts that are stuck, waiting too long or failed today. At most queueLimit of each.

const queueLimit = 50

// queueItem is one run in a queue, as its search attributes say, with what the run says now.
type queueItem struct {
	OrderID   string          `json:"orderId"`
	PayerID   string          `json:"payerId"`
	GrossFen  int64           `json:"grossFen"`
	State     string          `json:"state"`
	Since     time.Time       `json:"since"`
	RunID     string          `json:"runId"`
	Details   string          `json:"details"`        // the run's current details (what it waits for, why)
	View      *workflows.View `json:"view,omitempty"` // the run's own view (reviews)
	WebUIPath string          `json:"webUiPath"`      // the run in the Temporal Web UI, below its address
}

// listRuns lists the receipt runs matching query (at most queueLimit), the longest in their state first.
func (h *handlers) listRuns(ctx context.Context, query string) ([]queueItem, error) {
	resp, err := h.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowType = '%s' AND %s", workflows.WorkflowName, query), PageSize: queueLimit})
	if err != nil {
		return nil, err
	}
	dc := converter.GetDefaultDataConverter()
	items := []queueItem{}
	for _, e := range resp.GetExecutions() {
		f := e.GetSearchAttributes().GetIndexedFields()
		it := queueItem{RunID: e.GetExecution().GetRunId()}
		decodeField(dc, f, workflows.SearchOrderID.GetName(), &it.OrderID)
		decodeField(dc, f, workflows.SearchPayerID.GetName(), &it.PayerID)
		decodeField(dc, f, workflows.SearchAmountFen.GetName(), &it.GrossFen)
		decodeField(dc, f, workflows.SearchState.GetName(), &it.State)
		decodeField(dc, f, workflows.SearchStateSince.GetName(), &it.Since)
		it.WebUIPath = fmt.Sprintf("/namespaces/%s/workflows/%s/%s/history", h.Namespace, e.GetExecution().GetWorkflowId(), it.RunID)
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b queueItem) int { return a.Since.Compare(b.Since) })
	return items, nil
}

// decodeField reads one search attribute into out; a missing one leaves out as it was.
func decodeField(dc converter.DataConverter, f map[string]*commonpb.Payload, name string, out any) {
	if p := f[name]; p != nil {
		_ = dc.FromPayload(p, out)
	}
}

// currentDetails is what the run says it waits for (its current details), on a short budget.
func (h *handlers) currentDetails(ctx context.Context, orderID string) string {
	qctx, cancel := context.WithTimeout(ctx, viewQueryBudget)
	defer cancel()
	v, err := h.Temporal.QueryWorkflow(qctx, workflows.WorkflowID(orderID), "", "__temporal_workflow_metadata")
	var md sdkpb.WorkflowMetadata
	if err != nil || v.Get(&md) != nil {
		return ""
	}
	return md.GetCurrentDetails()
}

// opsReviews is the review queue: runs in MANUAL_REVIEW, oldest first, each with its view (face failures, the
// rules that fired, the amounts, the deadline).
func (h *handlers) opsReviews(c *gin.Context) {
	ctx := c.Request.Context()
	items, err := h.listRuns(ctx, fmt.Sprintf("ExecutionStatus = 'Running' AND %s = '%s'", workflows.SearchState.GetName(), workflows.StateManualReview))
	if err != nil {
		abort(c, fromError(err))
		return
	}
	for i := range items {
		h.fill(ctx, &items[i], true)
	}
	c.JSON(http.StatusOK, gin.H{"reviews": items})
}

// fill adds what the run says now: its current details and, when asked, its view.
func (h *handlers) fill(ctx context.Context, it *queueItem, view bool) {
	it.Details = h.currentDetails(ctx, it.OrderID)
	if view {
		qctx, cancel := context.WithTimeout(ctx, viewQueryBudget)
		if v, err := h.queryView(qctx, it.OrderID); err == nil {
			it.View = &v
		}
		cancel()
	}
}

// opsPayouts lists the payouts that need a look: stuck (WeChat Pay keeps refusing the bill: PayoutRetrying),
// waiting for the payee's confirm for more than a day, and failed today (Beijing).
func (h *handlers) opsPayouts(c *gin.Context) {
	ctx := c.Request.Context()
	now := time.Now()
	y, m, d := now.In(tax.Beijing).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, tax.Beijing)
	since := workflows.SearchStateSince.GetName()
	queries := map[string]string{
		"stuck":   fmt.Sprintf("ExecutionStatus = 'Running' AND %s = true", workflows.SearchPayoutRetrying.GetName()),
		"waiting": fmt.Sprintf("ExecutionStatus = 'Running' AND %s = '%s' AND %s < '%s'", workflows.SearchState.GetName(), workflows.StateAwaitingTransferConfirm, since, now.Add(-24*time.Hour).UTC().Format(time.RFC3339)),
		"failed":  fmt.Sprintf("%s = '%s' AND %s >= '%s'", workflows.SearchState.GetName(), workflows.StateFailed, since, today.UTC().Format(time.RFC3339)),
	}
	out := gin.H{}
	for kind, q := range queries {
		items, err := h.listRuns(ctx, q)
		if err != nil {
			abort(c, fromError(err))
			return
		}
		for i := range items {
			if kind != "failed" { // a closed run's current details are gone with it
				h.fill(ctx, &items[i], false)
			}
		}
		out[kind] = items
	}
	c.JSON(http.StatusOK, out)
}
