package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/worker"
	"github.com/receiptflow/receiptflow/workflows"
)

// migrate sets up a deployment from nothing but the database and Temporal settings — no keys, no WeChat — and can
// run again; before it, the setup check names what is missing.
func TestMigrateSetsUpNamespaceAndSearchAttributes(t *testing.T) {
	var cfg config.Config
	if err := envconfig.Process("RECEIPTFLOW_E2E_UNSET", &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL = filepath.Join(t.TempDir(), "store.db")
	cfg.Temporal.Address = temporalServer.GetFrontendHostPort()
	cfg.Temporal.Namespace = fmt.Sprintf("migrate-%d", time.Now().UnixNano())
	cfg.Temporal.Retention = 48 * time.Hour
	c, err := client.Dial(client.Options{HostPort: cfg.Temporal.Address, Namespace: cfg.Temporal.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := worker.CheckSetup(ctx, c, cfg.Temporal.Namespace); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("before migrate: %v", err)
	}
	logger := slog.New(slog.DiscardHandler)
	for run := 1; run <= 2; run++ {
		if err := runMigrate(ctx, cfg, logger); err != nil {
			t.Fatalf("migrate, run %d: %v", run, err)
		}
	}
	if err := worker.CheckSetup(ctx, c, cfg.Temporal.Namespace); err != nil {
		t.Fatalf("after migrate: %v", err)
	}
	// A run can carry the attributes the moment migrate returns: the APIs and workers start right after it.
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "migrated", TaskQueue: "nobody",
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SearchState.ValueSet("CHECKING"))}, "Anything"); err != nil {
		t.Fatalf("a start with the attributes just after migrate: %v", err)
	}
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: cfg.Temporal.Namespace})
	if err != nil || ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() != 48*time.Hour {
		t.Fatalf("namespace: %v %v", ns.GetConfig(), err)
	}
}
