package workflows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/receiptflow/receiptflow/codec"
	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/worker"
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
	if len(files) < 15 { // every branch of cmd/receiptflow/history_test.go
		t.Fatalf("want the recorded histories of every branch, found %d files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := sdkworker.NewWorkflowReplayerWithOptions(sdkworker.WorkflowReplayerOptions{DataConverter: codec.DataConverter(ring)})
			if err != nil {
				t.Fatal(err)
			}
			worker.RegisterWorkflows(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}
