package worker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/receiptflow/receiptflow/workflows"
)

// What a deployment's namespace must hold before the API and the worker can run: the namespace itself and the
// search attributes the workflows write (a start with an unknown attribute is refused, so every tap would fail).
// migrate creates them; api and worker only check.

// SearchAttributes are the attributes the workflows write, by name, with their types.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	out := map[string]enumspb.IndexedValueType{}
	for _, k := range workflows.SearchAttributeKeys {
		out[k.GetName()] = k.GetValueType()
	}
	return out
}

// EnsureNamespace registers the namespace with the given retention unless it exists; it reports whether it did.
func EnsureNamespace(ctx context.Context, c client.Client, namespace string, retention time.Duration) (bool, error) {
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	var notFound *serviceerror.NamespaceNotFound
	switch {
	case err == nil:
		return false, nil
	case !errors.As(err, &notFound):
		return false, fmt.Errorf("describe namespace %s: %w", namespace, err)
	}
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: namespace, WorkflowExecutionRetentionPeriod: durationpb.New(retention),
		Description: "receiptflow: confirm-receipt runs",
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if errors.As(err, &exists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("register namespace %s: %w", namespace, err)
	}
	// A new namespace reaches the services through their caches (refreshed every 2 s by default): wait until the
	// operator service, which the search attributes go through, knows it.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err == nil {
			return true, nil
		}
		if time.Now().After(deadline) {
			return true, fmt.Errorf("namespace %s registered but not yet visible: %w", namespace, err)
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// EnsureSearchAttributes adds the attributes the namespace lacks and returns their names. An attribute that exists
// with another type is an error: it cannot be changed in place.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) ([]string, error) {
	missing, err := missingSearchAttributes(ctx, c, namespace)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	want := SearchAttributes()
	add := map[string]enumspb.IndexedValueType{}
	for _, name := range missing {
		add[name] = want[name]
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: add})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return nil, fmt.Errorf("add search attributes %s: %w", strings.Join(missing, ", "), err)
	}
	// On SQL visibility an attribute is an alias in the namespace, which each service reads again every
	// namespaceCacheRefresh: a run started with it before then is refused. Wait, so that the APIs and workers
	// started after migrate can use it at once (the server need not refresh its search attributes on every read).
	select {
	case <-ctx.Done():
		return missing, ctx.Err()
	case <-time.After(2*namespaceCacheRefresh + 500*time.Millisecond):
	}
	return missing, nil
}

// namespaceCacheRefresh is how often each Temporal service reads its namespaces again
// (system.namespaceCacheRefreshInterval, the server's default).
const namespaceCacheRefresh = 2 * time.Second

// CheckSetup reports what is missing for the runs to start: the namespace or any search attribute.
func CheckSetup(ctx context.Context, c client.Client, namespace string) error {
	missing, err := missingSearchAttributes(ctx, c, namespace)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("namespace %s lacks the search attributes %s: run receiptflow migrate", namespace, strings.Join(missing, ", "))
	}
	return nil
}

func missingSearchAttributes(ctx context.Context, c client.Client, namespace string) ([]string, error) {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	var notFound *serviceerror.NamespaceNotFound
	if errors.As(err, &notFound) {
		return nil, fmt.Errorf("namespace %s does not exist: run receiptflow migrate", namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	var missing, wrong []string
	for name, typ := range SearchAttributes() {
		have, ok := resp.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case have != typ:
			wrong = append(wrong, fmt.Sprintf("%s is %s, want %s", name, have, typ))
		}
	}
	if len(wrong) > 0 {
		sort.Strings(wrong)
		return nil, fmt.Errorf("namespace %s has search attributes of the wrong type (%s): remove them and run receiptflow migrate",
			namespace, strings.Join(wrong, "; "))
	}
	sort.Strings(missing)
	return missing, nil
}

// Schedules are the platform's recurring workflows: the daily reconciliation with WeChat Pay (10:30 Beijing, the
// day before: its fund-flow bill is ready from 10:00), the withholding filing (daily at 09:00 Beijing: the month before, once its bills have settled — due by the 15th — and a correction of any month the books changed under) and the quarterly
// platform report (the month after each quarter). Cron times are UTC; each workflow works out its own period in
// Beijing time from an empty input.
var Schedules = []struct {
	ID, Workflow, RunID, Cron, Note string
	Input                           any
}{
	{workflows.ReconcileScheduleID, workflows.ReconcileWorkflowName, workflows.ReconcileWorkflowID("daily"), "30 2 * * *",
		"对账 daily reconciliation with WeChat Pay (yesterday, Beijing time)", workflows.ReconcileInput{}},
	{workflows.FilingScheduleID, workflows.FilingWorkflowName, "filing/daily", "0 1 * * *",
		"扣缴申报 the withholding filing: the month before once its bills settled, and corrections (09:00 Beijing)", workflows.FilingInput{}},
	{workflows.ReportScheduleID, workflows.ReportWorkflowName, "report/quarterly", "0 0 1 1,4,7,10 *",
		"涉税信息报送 the platform's quarterly report (the quarter before)", workflows.ReportInput{}},
}

// EnsureSchedules creates the Schedules that are missing and leaves the ones that exist as they are (an operator
// may have paused or changed them in the Web UI).
func EnsureSchedules(ctx context.Context, c client.Client, taskQueue string) error {
	for _, s := range Schedules {
		_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
			ID:      s.ID,
			Spec:    client.ScheduleSpec{CronExpressions: []string{s.Cron}},
			Action:  &client.ScheduleWorkflowAction{ID: s.RunID, Workflow: s.Workflow, TaskQueue: taskQueue, Args: []any{s.Input}},
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
			Note:    s.Note,
		})
		if err != nil && !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
			return fmt.Errorf("schedule %s: %w", s.ID, err)
		}
	}
	return nil
}
