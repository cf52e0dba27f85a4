// Package worker builds what runs receipts: the SDK client options (payload encryption, logging, metrics and
// tracing hooks) shared with the API, the check of the API's proofs on updates, and a worker with the workflows
// and their activities registered.
package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/codec"
	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/proof"
	"github.com/receiptflow/receiptflow/workflows"
)

// ClientOptions are the SDK client options every receiptflow process uses: payloads are encrypted with
// payloadKeys, so the server and its UI only ever store ciphertext.
func ClientOptions(hostPort, namespace string, payloadKeys *keyring.Ring, logger *slog.Logger) client.Options {
	return client.Options{
		HostPort:      hostPort,
		Namespace:     namespace,
		DataConverter: codec.DataConverter(payloadKeys),
		Logger:        log.NewStructuredLogger(logger),
	}
}

// Register adds the workflows and every step's implementation to r (a worker or a test environment). Each step
// is registered through its typed reference, so an implementation whose signature drifts from the step the
// workflows call does not compile.
func Register(r sdkworker.Registry, a *activities.Activities) {
	RegisterWorkflows(r)
	workflows.CheckEligibility.Register(r, a.CheckEligibility)
	workflows.IssueFaceCredential.Register(r, a.IssueFaceCredential)
	workflows.VerifyFace.Register(r, a.VerifyFace)
	workflows.PreparePayout.Register(r, a.PreparePayout)
	workflows.CreateTransfer.Register(r, a.CreateTransfer)
	workflows.QueryTransfer.Register(r, a.QueryTransfer)
	workflows.AwaitTransfer.Register(r, a.AwaitTransfer)
	workflows.CancelTransfer.Register(r, a.CancelTransfer)
	workflows.ReleasePayment.Register(r, a.ReleasePayment)
	workflows.FinishOrder.Register(r, a.FinishOrder)
	workflows.StartReconciliation.Register(r, a.StartReconciliation)
	workflows.ReconcilePage.Register(r, a.ReconcilePage)
	workflows.FinishReconciliation.Register(r, a.FinishReconciliation)
	workflows.ReconcileFundFlow.Register(r, a.ReconcileFundFlow)
	workflows.FilingsDue.Register(r, a.FilingsDue)
	workflows.OpenPayments.Register(r, a.OpenPayments)
	workflows.BuildWithholdingFiling.Register(r, a.BuildWithholdingFiling)
	workflows.BuildPlatformReport.Register(r, a.BuildPlatformReport)
	workflows.RequestBillReceipt.Register(r, a.RequestBillReceipt)
	workflows.StoreBillReceipt.Register(r, a.StoreBillReceipt)
	workflows.Announce.Register(r, a.Announce)
	workflows.SendWebhook.Register(r, a.SendWebhook)
	workflows.GiveUpWebhook.Register(r, a.GiveUpWebhook)
}

// RegisterWorkflows adds the workflows under their stable names (a replayer needs only these).
func RegisterWorkflows(r sdkworker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(workflows.ConfirmReceipt, workflow.RegisterOptions{Name: workflows.WorkflowName})
	r.RegisterWorkflowWithOptions(workflows.SettleBill, workflow.RegisterOptions{Name: workflows.SettleWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.Reconcile, workflow.RegisterOptions{Name: workflows.ReconcileWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.MonthlyFiling, workflow.RegisterOptions{Name: workflows.FilingWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.QuarterlyReport, workflow.RegisterOptions{Name: workflows.ReportWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.FetchReceipt, workflow.RegisterOptions{Name: workflows.ReceiptWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.DeliverWebhook, workflow.RegisterOptions{Name: workflows.DeliveryWorkflowName})
}

// Options are the worker's settings: the API's proofs are checked on every update, and after a restart the
// runs a dead worker had cached move to another within seconds (the sticky queue's schedule-to-start timeout).
func Options(proofs *proof.Keys) sdkworker.Options {
	return sdkworker.Options{
		Interceptors:                       []interceptor.WorkerInterceptor{NewProofInterceptor(proofs)},
		StickyScheduleToStartTimeout:       2 * time.Second,
		MaxConcurrentActivityExecutionSize: 1000,
	}
}

// New returns a worker on the receipts task queue; Start or Run it. Stop lets the steps in flight finish for up
// to stopGrace, then cancels them (they are retried, by this worker after a restart or by another).
func New(c client.Client, taskQueue string, a *activities.Activities, proofs *proof.Keys, stopGrace time.Duration) sdkworker.Worker {
	opts := Options(proofs)
	opts.WorkerStopTimeout = stopGrace
	w := sdkworker.New(c, taskQueue, opts)
	Register(w, a)
	return w
}

// Deliveries starts webhook delivery workflows (activities.Deliveries): one per event and redelivery, by ID, so a
// step that starts one again (a retry) finds it.
type Deliveries struct {
	Client    client.Client
	TaskQueue string
}

func (d Deliveries) StartDelivery(ctx context.Context, in workflows.DeliveryInput) error {
	summary := "商户通知 webhook " + in.EventID
	if in.Redelivery > 0 {
		summary += " (redelivery)"
	}
	_, err := d.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.DeliveryWorkflowID(in.EventID, in.Redelivery), TaskQueue: d.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            summary,
	}, workflows.DeliveryWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil // delivered (or given up) already
	}
	return err
}
