package api

import (
	"context"
	_ "embed"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"

	"github.com/gin-gonic/gin"
	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/proof"
	"github.com/receiptflow/receiptflow/store"
)

//go:embed openapi.yaml
var openapiSpec []byte

type stubTemporal struct{ Temporal }

func testProofs() *proof.Keys {
	k, err := proof.Parse(keyring.Generate("t1"))
	if err != nil {
		panic(err)
	}
	return k
}

type stubStore struct{ Store }

type stubWebhooks struct{ Webhooks }

type stubDeliveries struct{ Deliveries }

type stubConsoleSessions struct{ ConsoleSessions }
type stubLogin struct{ Login }
type stubNotify struct{ PayNotifications }

// The spec and the router describe the same routes: a route without documentation, or documentation of a route
// that is gone, fails here.
func TestOpenAPIMatchesTheRouter(t *testing.T) {
	sessions, _ := NewSessions([]byte("0123456789abcdef0123456789abcdef"), 0)
	r, err := New(Deps{Temporal: stubTemporal{}, Store: stubStore{}, Login: stubLogin{}, Sessions: sessions, Proofs: testProofs(), PayNotify: stubNotify{},
		Codec: http.NotFoundHandler(), MetricsHandler: http.NotFoundHandler(), Recon: stubRecon{}, Schedules: stubSchedules{}, Exports: stubExports{}, ReceiptFiles: stubFiles{},
		Webhooks: stubWebhooks{}, Deliveries: stubDeliveries{}, Console: ConsoleOptions{Files: fstest.MapFS{"index.html": {}}, Sessions: stubConsoleSessions{}}})
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`[:*]([A-Za-z]+)`)
	var routes []string
	for _, rt := range r.(*gin.Engine).Routes() { // the test looks inside; callers of New never need to
		routes = append(routes, strings.ToLower(rt.Method)+" "+param.ReplaceAllString(rt.Path, "{$1}"))
	}
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openapiSpec, &spec); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, ops := range spec.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, method+" "+path)
			}
		}
	}
	sort.Strings(routes)
	sort.Strings(documented)
	if strings.Join(routes, "\n") != strings.Join(documented, "\n") {
		t.Fatalf("router and openapi.yaml differ\nrouter:\n%s\n\nspec:\n%s", strings.Join(routes, "\n"), strings.Join(documented, "\n"))
	}
}

// Route listing only: never called.
type stubRecon struct{}

func (stubRecon) Reconciliations(context.Context, int) ([]store.Reconciliation, error) {
	return nil, nil
}
func (stubRecon) Reconciliation(context.Context, string) (store.Reconciliation, error) {
	return store.Reconciliation{}, nil
}
func (stubRecon) Findings(context.Context, string) ([]store.Finding, error) { return nil, nil }
func (stubRecon) ResolveFinding(context.Context, string, string, string, string) (store.Finding, error) {
	return store.Finding{}, nil
}
func (stubRecon) CheckBooks(context.Context) ([]string, error) { return nil, nil }

type stubSchedules struct{ Schedules }

func (stubSchedules) Trigger(context.Context, string) error { return nil }

type stubExports struct{}

func (stubExports) Exports(context.Context, int) ([]store.Export, error) { return nil, nil }
func (stubExports) ExportContent(context.Context, string, string) (store.Export, error) {
	return store.Export{}, nil
}

type stubFiles struct{}

func (stubFiles) Get(string) ([]byte, error) { return nil, nil }
