package telemetry

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func TestTracingInterceptorRecordsWorkflowSpans(t *testing.T) {
	tel, err := New(context.Background(), Tracing{})
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
	if _, err := New(context.Background(), Tracing{Exporter: "zipkin"}); err == nil {
		t.Fatal("unknown exporter accepted")
	}
}
