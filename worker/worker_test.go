package worker

import (
	"context"
	"reflect"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/workflows"
)

// Every activity the workflow calls by name is a method of activities.Activities, so registration finds it.
func TestEveryActivityNameIsAMethod(t *testing.T) {
	names := []string{workflows.ActivityCheckEligibility, workflows.ActivityIssueFaceCredential, workflows.ActivityVerifyFace,
		workflows.ActivityPreparePayout, workflows.ActivityCreateTransfer, workflows.ActivityQueryTransfer, workflows.ActivityCancelTransfer,
		workflows.ActivityReverseTax, workflows.ActivityFinishOrder}
	typ := reflect.TypeOf(&activities.Activities{})
	for _, n := range names {
		m, ok := typ.MethodByName(n)
		if !ok {
			t.Errorf("activities.Activities has no method %s", n)
			continue
		}
		if m.Type.NumIn() != 3 || m.Type.In(1) != reflect.TypeOf((*context.Context)(nil)).Elem() {
			t.Errorf("%s is not func(ctx, input)", n)
		}
	}
}

func TestTracingInterceptorRecordsWorkflowSpans(t *testing.T) {
	tel, err := NewTelemetry(context.Background(), TracingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	if err := tel.traceWith(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))); err != nil {
		t.Fatal(err)
	}
	var opts client.Options
	tel.Apply(&opts)
	if len(opts.Interceptors) != 1 || opts.MetricsHandler == nil {
		t.Fatalf("client options: %+v", opts)
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(sdkworker.Options{Interceptors: []interceptor.WorkerInterceptor{opts.Interceptors[0].(interceptor.WorkerInterceptor)}})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) (string, error) { return "ok", nil }, workflow.RegisterOptions{Name: "Probe"})
	env.ExecuteWorkflow("Probe")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	if !strings.Contains(strings.Join(names, ","), "RunWorkflow:Probe") {
		t.Fatalf("spans: %v", names)
	}
	if err := tel.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTelemetryRejectsAnUnknownExporter(t *testing.T) {
	if _, err := NewTelemetry(context.Background(), TracingConfig{Exporter: "zipkin"}); err == nil {
		t.Fatal("unknown exporter accepted")
	}
}
