// Package telemetry is what every process reports through: Prometheus metrics (the SDK's through tally, the API's
// and the business counters) and, when configured, OpenTelemetry tracing of workflows and activities. It is its own
// package so config, the worker and the API can use it without importing each other.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.temporal.io/sdk/interceptor"
)

// Tracing is read from the environment (RECEIPTFLOW_TRACING_*). The OTLP exporter takes its endpoint and
// headers from the standard OTEL_EXPORTER_OTLP_* variables.
type Tracing struct {
	Exporter    string `envconfig:"EXPORTER" default:"none" desc:"none or otlp (OTLP/gRPC; endpoint from OTEL_EXPORTER_OTLP_ENDPOINT)"`
	ServiceName string `envconfig:"SERVICE_NAME" default:"receiptflow" desc:"service.name of the traces"`
}

// Telemetry is what a process reports through: one Prometheus registry for the SDK's metrics (through tally),
// the API's and the business counters, and, when configured, OpenTelemetry tracing of workflows and activities.
type Telemetry struct {
	Registry *prometheus.Registry
	metrics  client.MetricsHandler
	scope    io.Closer
	tracer   *sdktrace.TracerProvider
	tracing  interceptor.Interceptor
}

// NewTelemetry builds the registry and, for Exporter "otlp", a tracer provider.
func New(ctx context.Context, tc Tracing) (*Telemetry, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: reg})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	t := &Telemetry{Registry: reg, metrics: sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), scope: closer}
	switch tc.Exporter {
	case "", "none":
		return t, nil
	case "otlp":
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
		return t, t.traceWith(sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(
			resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(tc.ServiceName)))))
	}
	return nil, fmt.Errorf("RECEIPTFLOW_TRACING_EXPORTER must be none or otlp, got %q", tc.Exporter)
}

// traceWith sends workflow, activity and client spans to tp (tests pass one with an in-memory exporter).
func (t *Telemetry) traceWith(tp *sdktrace.TracerProvider) error {
	in, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: tp.Tracer("receiptflow")})
	if err != nil {
		return err
	}
	t.tracer, t.tracing = tp, in
	return nil
}

// Apply adds metrics and tracing to SDK client options.
func (t *Telemetry) Apply(o *client.Options) {
	o.MetricsHandler = t.metrics
	if t.tracing != nil {
		o.Interceptors = append(o.Interceptors, t.tracing)
	}
}

// Close flushes metrics and spans.
func (t *Telemetry) Close(ctx context.Context) error {
	var errs []error
	errs = append(errs, t.scope.Close())
	if t.tracer != nil {
		errs = append(errs, t.tracer.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
