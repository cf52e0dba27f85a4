package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// Reconciliations is what operators read of the reconciliations with WeChat Pay, and how they resolve findings.
type Reconciliations interface {
	Reconciliations(ctx context.Context, limit int) ([]store.Reconciliation, error)
	Reconciliation(ctx context.Context, id string) (store.Reconciliation, error)
	Findings(ctx context.Context, id string) ([]store.Finding, error)
	ResolveFinding(ctx context.Context, id, outBillNo, operator, resolution string) (store.Finding, error)
	// CheckBooks names every broken invariant of the ledger (none: the books hold).
	CheckBooks(ctx context.Context) ([]string, error)
}

// Schedules starts a Schedule's action now (an operator's "run now").
type Schedules interface {
	Trigger(ctx context.Context, scheduleID string) error
	List(ctx context.Context) ([]ScheduleStatus, error)
}

// ScheduleStatus is one Schedule as operators see it: what it does, when it runs next, how its last run went.
type ScheduleStatus struct {
	ID             string    `json:"id"`
	Note           string    `json:"note"`
	Cron           string    `json:"cron"`
	NextRun        time.Time `json:"nextRun"`
	LastRun        time.Time `json:"lastRun,omitzero"`
	LastWorkflowID string    `json:"lastWorkflowId,omitempty"`
	LastStatus     string    `json:"lastStatus,omitempty"` // the last run's: Running, Completed, Failed, …
}

var errReconNotFound = problem(http.StatusNotFound, "RECONCILIATION_NOT_FOUND", "no such reconciliation")

// opsReconciliations lists the latest reconciliations with their totals.
func (h *handlers) opsReconciliations(c *gin.Context) {
	list, err := h.Recon.Reconciliations(c.Request.Context(), 60)
	if err != nil {
		abort(c, fromError(err))
		return
	}
	out := make([]gin.H, 0, len(list))
	for _, r := range list {
		out = append(out, reconBody(r))
	}
	c.JSON(http.StatusOK, gin.H{"reconciliations": out})
}

// opsCheckBooks checks the ledger's invariants now — each transaction balances, each pending transfer resolved at
// most once and as its bill ended, one posted payment per PAID order, the accounts summing to zero, no payer's
// funds below zero — and names what is broken. Reconciliation compares the books with WeChat Pay; this compares
// them with themselves.
func (h *handlers) opsCheckBooks(c *gin.Context) {
	at := time.Now()
	violations, err := h.Recon.CheckBooks(c.Request.Context())
	if err != nil {
		abort(c, fromError(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"checkedAt": at, "violations": append([]string{}, violations...)})
}

// opsReconciliation is one reconciliation: totals side by side and every finding.
func (h *handlers) opsReconciliation(c *gin.Context) {
	ctx := c.Request.Context()
	r, err := h.Recon.Reconciliation(ctx, c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		abort(c, errReconNotFound)
		return
	}
	if err != nil {
		abort(c, fromError(err))
		return
	}
	findings, err := h.Recon.Findings(ctx, r.ID)
	if err != nil {
		abort(c, fromError(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"reconciliation": reconBody(r), "findings": findings})
}

// reconBody shows our totals and WeChat Pay's side by side: gross = net paid + tax withheld on it; and what the
// books moved on the WeChat Pay account against its fund-flow bill (资金账单) for the same days.
func reconBody(r store.Reconciliation) gin.H {
	return gin.H{"id": r.ID, "from": r.From, "to": r.To, "state": r.State, "requestedBy": r.RequestedBy, "bills": r.Bills,
		"ours":      gin.H{"netFen": r.OurPaidFen, "taxFen": r.TaxFen, "grossFen": r.OurPaidFen + r.TaxFen},
		"wechatPay": gin.H{"netFen": r.WeChatPaidFen},
		"account":   gin.H{"booksFen": r.BooksWeChatPayFen, "fundFlowFen": r.FundFlowWeChatPayFen, "differenceFen": r.WeChatPayDifferenceFen},
		"findings":  r.Findings, "openFindings": r.Open, "startedAt": r.StartedAt, "finishedAt": r.FinishedAt}
}

// opsStartReconciliation reconciles a window on an operator's demand: {from, to} (RFC 3339, at most 31 days).
func (h *handlers) opsStartReconciliation(c *gin.Context) {
	var req struct {
		From time.Time `json:"from"`
		To   time.Time `json:"to"`
	}
	if !bind(c, &req) {
		return
	}
	if req.From.IsZero() || !req.From.Before(req.To) || req.To.Sub(req.From) > 31*24*time.Hour {
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "from and to (RFC 3339) must make a window of at most 31 days"))
		return
	}
	id := req.From.UTC().Format("20060102T150405Z") + "-" + req.To.UTC().Format("20060102T150405Z")
	h.startJob(c, workflows.ReconcileWorkflowID(id), workflows.ReconcileWorkflowName,
		workflows.ReconcileInput{ID: id, From: req.From.UTC(), To: req.To.UTC(), RequestedBy: c.GetString("operator")}, gin.H{"id": id})
}

// opsResolveFinding records how an operator settled a finding: {resolution}; audited.
func (h *handlers) opsResolveFinding(c *gin.Context) {
	var req struct {
		Resolution string `json:"resolution"`
	}
	if !bind(c, &req) {
		return
	}
	if err := store.CheckText("resolution", req.Resolution, 1, 500); err != nil {
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", err.Error()))
		return
	}
	f, err := h.Recon.ResolveFinding(c.Request.Context(), c.Param("id"), c.Param("outBillNo"), c.GetString("operator"), req.Resolution)
	if errors.Is(err, store.ErrNotFound) {
		abort(c, problem(http.StatusNotFound, "FINDING_NOT_FOUND", "no such finding"))
		return
	}
	if err != nil {
		abort(c, fromError(err))
		return
	}
	c.JSON(http.StatusOK, f)
}

// opsRunSchedule starts a Schedule's workflow now, as the Web UI's "Trigger" does; audited by the log line.
func (h *handlers) opsRunSchedule(c *gin.Context) {
	name := c.Param("name")
	if name != workflows.ReconcileScheduleID && name != workflows.FilingScheduleID && name != workflows.ReportScheduleID {
		abort(c, problem(http.StatusNotFound, "SCHEDULE_NOT_FOUND", "schedules: "+workflows.ReconcileScheduleID+", "+workflows.FilingScheduleID+", "+workflows.ReportScheduleID))
		return
	}
	err := h.Schedules.Trigger(c.Request.Context(), name)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		abort(c, problem(http.StatusNotFound, "SCHEDULE_NOT_FOUND", "the schedule is not set up: run receiptflow migrate"))
		return
	}
	if err != nil {
		abort(c, fromError(err))
		return
	}
	h.Logger.Info("schedule triggered", "schedule", name, "operator", c.GetString("operator"))
	c.JSON(http.StatusAccepted, gin.H{"schedule": name})
}

// opsSchedules lists the Schedules: next run, last run and how it went.
func (h *handlers) opsSchedules(c *gin.Context) {
	list, err := h.Schedules.List(c.Request.Context())
	if err != nil {
		abort(c, fromError(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"schedules": list})
}
