package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/workflows"
)

// Exports are the files kept for operators (they hold PII: sealed at rest, every download audited).
type Exports interface {
	Exports(ctx context.Context, limit int) ([]store.Export, error)
	ExportContent(ctx context.Context, id, operator string) (store.Export, error)
}

var periodPattern = regexp.MustCompile(`^20[0-9]{2}-(0[1-9]|1[0-2])$`)

// opsExports lists the files, newest first, without their content.
func (h *handlers) opsExports(c *gin.Context) {
	list, err := h.Exports.Exports(c.Request.Context(), 100)
	if err != nil {
		abort(c, fromError(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"exports": list})
}

// opsExport downloads one file; the store records who and when before it is sent.
func (h *handlers) opsExport(c *gin.Context) {
	e, err := h.Exports.ExportContent(c.Request.Context(), c.Param("id"), c.GetString("operator"))
	if errors.Is(err, store.ErrNotFound) {
		abort(c, problem(http.StatusNotFound, "EXPORT_NOT_FOUND", "no such export"))
		return
	}
	if err != nil {
		abort(c, fromError(err))
		return
	}
	c.Header("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(e.FileName))
	c.Header("X-Content-SHA256", e.SHA256)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, e.ContentType, e.Content)
}

// opsStartFiling writes the withholding filing of a month on demand: {period: "YYYY-MM"}.
func (h *handlers) opsStartFiling(c *gin.Context) {
	var req struct {
		Period string `json:"period"`
	}
	if !bind(c, &req) {
		return
	}
	if !periodPattern.MatchString(req.Period) {
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "period must be YYYY-MM"))
		return
	}
	// A month is filed once it has ended (Beijing time): before that its payments are not all known.
	if thisMonth := tax.Period(time.Now()); req.Period >= thisMonth {
		abort(c, problem(http.StatusBadRequest, "PERIOD_NOT_ENDED", "period "+req.Period+" has not ended: a month is filed from the 1st of the next ("+thisMonth+" is the current month)"))
		return
	}
	h.startJob(c, workflows.FilingWorkflowID(req.Period), workflows.FilingWorkflowName,
		workflows.FilingInput{Period: req.Period, RequestedBy: c.GetString("operator")}, gin.H{"period": req.Period})
}

// startJob starts an operator's on-demand run and answers 202 with body and where to follow the run.
func (h *handlers) startJob(c *gin.Context, workflowID, workflow string, in any, body gin.H) {
	run, err := h.Temporal.ExecuteWorkflow(c.Request.Context(), client.StartWorkflowOptions{ID: workflowID, TaskQueue: h.TaskQueue}, workflow, in)
	if err != nil {
		abort(c, fromError(err))
		return
	}
	body["workflowId"], body["runId"] = run.GetID(), run.GetRunID()
	c.JSON(http.StatusAccepted, body)
}

var quarterPattern = regexp.MustCompile(`^20[0-9]{2}-Q[1-4]$`)

// opsStartReport writes the platform's quarterly report on demand: {quarter: "YYYY-Qn"}.
func (h *handlers) opsStartReport(c *gin.Context) {
	var req struct {
		Quarter string `json:"quarter"`
	}
	if !bind(c, &req) {
		return
	}
	if !quarterPattern.MatchString(req.Quarter) {
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "quarter must be YYYY-Q1..Q4"))
		return
	}
	if _, end, _, err := workflows.QuarterBounds(req.Quarter); err != nil || time.Now().Before(end) {
		abort(c, problem(http.StatusBadRequest, "PERIOD_NOT_ENDED", "quarter "+req.Quarter+" has not ended: a quarter is reported once it has"))
		return
	}
	h.startJob(c, workflows.ReportWorkflowID(req.Quarter), workflows.ReportWorkflowName,
		workflows.ReportInput{Quarter: req.Quarter, RequestedBy: c.GetString("operator")}, gin.H{"quarter": req.Quarter})
}
