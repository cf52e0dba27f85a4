package workflows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/codec"
	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/workflows"
)

// TestReplayRecordedHistories replays histories of real runs (recorded from the embedded server by
// `go test ./cmd/receiptflow -run TestHistories -args -record`) against the current workflow code. A change that
// would break runs in flight fails here; a deliberate change goes behind workflow.GetVersion.
func TestReplayRecordedHistories(t *testing.T) {
	raw, err := os.ReadFile("testdata/payload-keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.Parse(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < 6 {
		t.Fatalf("want the recorded histories of every branch, found %d files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: codec.DataConverter(ring)})
			if err != nil {
				t.Fatal(err)
			}
			r.RegisterWorkflowWithOptions(workflows.ConfirmReceipt, workflow.RegisterOptions{Name: workflows.WorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}
