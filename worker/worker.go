// Package worker builds what runs receipts: the SDK client options (payload encryption, logging, metrics and
// tracing hooks) shared with the API, and a worker with the workflow and its activities registered.
package worker

import (
	"log/slog"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/codec"
	"github.com/receiptflow/receiptflow/keyring"
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

// Register adds the workflow and every activity to r (a worker or a test environment).
func Register(r sdkworker.Registry, acts *activities.Activities) {
	RegisterWorkflow(r)
	r.RegisterActivityWithOptions(acts, activity.RegisterOptions{SkipInvalidStructFunctions: true})
}

// RegisterWorkflow adds the workflow under its stable name (a replayer needs only this).
func RegisterWorkflow(r sdkworker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(workflows.ConfirmReceipt, workflow.RegisterOptions{Name: workflows.WorkflowName})
}

// New returns a worker on the receipts task queue; Start or Run it.
func New(c client.Client, taskQueue string, acts *activities.Activities) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{})
	Register(w, acts)
	return w
}
