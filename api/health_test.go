package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/store"
)

// downTemporal is a Temporal that does not answer: health checks fail, and every other call hangs until its
// context ends, as the SDK's retries against an unreachable frontend do.
type downTemporal struct{ Temporal }

func (downTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return nil, serviceerror.NewUnavailable("connection refused")
}

func (downTemporal) UpdateWorkflow(ctx context.Context, _ client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (downTemporal) QueryWorkflow(ctx context.Context, _, _, _ string, _ ...any) (converter.EncodedValue, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// While Temporal is down: a request that needs it is refused within a couple of seconds (not after the update
// wait) with 503, Retry-After and {code, message}; a finished order's view still answers, from the store.
func TestTemporalDownAnswersAtOnce(t *testing.T) {
	ctx := context.Background()
	ring, _ := keyring.Parse(keyring.Generate("h1"))
	hasher, _ := pii.NewHasher([]byte("health-lookup-key-0123456789"))
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "health.db"), ring, hasher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	account := store.Account{Name: "示例科技有限公司", Number: "6222020200112233445"}
	if err := st.PutPayer(ctx, store.Payer{ID: "payer1", Name: "示例科技有限公司", Secret: "health-merchant-secret-0123", Account: account}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"openorder01", "paidorder01"} {
		if _, _, err := st.CreateOrder(ctx, store.NewOrder{ID: id, PayerID: "payer1", PayeeOpenID: "o_health", MerchantOrderNo: "M-" + id, ServiceItem: "x", GrossFen: 150000}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetOrderState(ctx, "paidorder01", store.OrderPaid, ""); err != nil {
		t.Fatal(err)
	}
	sessions, _ := NewSessions([]byte("0123456789abcdef0123456789abcdef"), time.Hour)
	token, _ := sessions.Issue("o_health")
	r, err := New(Deps{Temporal: downTemporal{}, Store: st, Login: fuzzLogin{}, Sessions: sessions, Proofs: testProofs(), UpdateWait: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path string) (*httptest.ResponseRecorder, time.Duration) {
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		start := time.Now()
		r.ServeHTTP(rec, req)
		return rec, time.Since(start)
	}
	for _, path := range []string{"/v1/receipts/openorder01", "/v1/receipts/openorder01/confirm", "/v1/receipts/openorder01/face/session"} {
		rec, took := send(http.MethodPost, path)
		var p struct{ Code, Message string }
		_ = json.Unmarshal(rec.Body.Bytes(), &p)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || p.Code != "UNAVAILABLE" || p.Message == "" || took > 2*time.Second {
			t.Errorf("%s: %d Retry-After %q %s after %v", path, rec.Code, rec.Header().Get("Retry-After"), rec.Body, took)
		}
	}
	rec, took := send(http.MethodGet, "/v1/receipts/paidorder01")
	var v struct{ State string }
	_ = json.Unmarshal(rec.Body.Bytes(), &v)
	if rec.Code != http.StatusOK || v.State != store.OrderPaid || took > 2*time.Second {
		t.Errorf("paid order's view: %d %s after %v", rec.Code, rec.Body, took)
	}
	if rec, _ := send(http.MethodGet, "/readyz"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz: %d %s", rec.Code, rec.Body)
	}
}
