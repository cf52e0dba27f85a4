package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/receiptflow/receiptflow/codec"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// The Temporal server, its database and its UI only ever see ciphertext; operators decode through /codec.
func TestHistoryHoldsNoPIIAndDecodesThroughTheCodec(t *testing.T) {
	e := newEnv(t, wechatPay)
	order, token := highRiskOpened(e) // 王五 / 440304199003070018, face v2, a payout with the name encrypted
	e.passFaceV2(order, token)
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)

	// A client without the codec, as the server and the UI see the run.
	raw := temporalServer.NewClientWithOptions(client.Options{Namespace: e.cfg.Temporal.Namespace})
	it := raw.GetWorkflowHistory(context.Background(), workflows.WorkflowID(order), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var dump bytes.Buffer
	var input *commonpb.Payload
	payloads := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := temporalproto.CustomJSONMarshalOptions{}.Marshal(ev)
		dump.Write(b)
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			input = a.GetInput().GetPayloads()[0]
		}
		// Every payload but the search attributes (which hold no PII, checked elsewhere) is ciphertext.
		eachPayload(ev.ProtoReflect(), false, func(p *commonpb.Payload) {
			payloads++
			if enc := string(p.GetMetadata()["encoding"]); enc != codec.Encoding {
				t.Errorf("event %d %s carries a %s payload: %s", ev.GetEventId(), ev.GetEventType(), enc, p.GetData())
			}
		})
	}
	if payloads < 10 {
		t.Fatalf("only %d payloads found in the history: the walk is broken", payloads)
	}
	text := dump.String()
	for _, secret := range []string{"王五", "440304199003070018", "o_high"} {
		if strings.Contains(text, secret) || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(secret))) {
			t.Errorf("raw history contains %q", secret)
		}
	}
	if input == nil || string(input.GetMetadata()["encoding"]) != codec.Encoding {
		t.Fatalf("workflow input is not encrypted: %v", input)
	}

	// The UI's codec call: unauthenticated refused, an operator sees the payload.
	body, _ := codec.PayloadsJSON([]*commonpb.Payload{input})
	resp := postRaw(t, e.api.URL+"/codec/decode", "", body)
	if resp.status != http.StatusUnauthorized {
		t.Fatalf("codec without operator: %d", resp.status)
	}
	resp = postRaw(t, e.api.URL+"/codec/decode", opToken, body)
	var decoded commonpb.Payloads
	if err := json.Unmarshal(resp.body, &decoded); err != nil || resp.status != http.StatusOK || len(decoded.Payloads) != 1 {
		t.Fatalf("codec decode: %d %s", resp.status, resp.body)
	}
	var in workflows.Input
	if err := json.Unmarshal(decoded.Payloads[0].GetData(), &in); err != nil || in.OrderID != order || in.PayeeOpenID != "o_high" {
		t.Fatalf("decoded input %+v %v", in, err)
	}
}

func TestMetricsHealthAndReadiness(t *testing.T) {
	e := newEnv(t, perPayment)
	order := e.payee("o_low", "李四", "110101200001010010", 150000)
	token := e.login("o_low")
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)

	want := []string{
		`receiptflow_http_requests_total{method="POST",route="/v1/receipts/:orderId/confirm",status="200"} 1`,
		`receiptflow_receipts_finished_total{`, `state="PAID"`,
		`receiptflow_paid_fen_total{`,
		`temporal_workflow_completed_total{`, // the SDK's own metrics, through tally
		`go_goroutines`,
	}
	var text string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r := e.call(http.MethodGet, "/metrics", "", nil, nil)
		text = string(r.body)
		if containsAll(text, want) {
			break
		}
	}
	if !containsAll(text, want) {
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("/metrics lacks %s", w)
			}
		}
	}
	if strings.Contains(text, order) {
		t.Error("/metrics names an order: unbounded series")
	}

	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	e.must(e.call(http.MethodGet, "/healthz", "", nil, nil), http.StatusOK)
	e.must(e.call(http.MethodGet, "/readyz", "", nil, &ready), http.StatusOK)
	if ready.Status != "ok" || ready.Checks["temporal"] != "ok" || ready.Checks["store"] != "ok" {
		t.Fatalf("readyz: %+v", ready)
	}
	// The worker process's probes.
	probes := httptest.NewServer(e.deps.probes(e.client))
	defer probes.Close()
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(probes.URL + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("worker %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	// The store goes away: not ready.
	e.deps.store.Close()
	e.must(e.call(http.MethodGet, "/readyz", "", nil, &ready), http.StatusServiceUnavailable)
	if ready.Checks["store"] != "down" {
		t.Fatalf("readyz with the store closed: %+v", ready)
	}
}

// eachPayload calls fn for every Payload in m, skipping search attributes.
func eachPayload(m protoreflect.Message, inSearchAttributes bool, fn func(*commonpb.Payload)) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		if !inSearchAttributes {
			fn(p)
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		sa := inSearchAttributes || strings.Contains(string(fd.Name()), "search_attributes")
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			for i := 0; i < v.List().Len(); i++ {
				eachPayload(v.List().Get(i).Message(), sa, fn)
			}
		case fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				eachPayload(mv.Message(), sa, fn)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Kind() == protoreflect.MessageKind:
			eachPayload(v.Message(), sa, fn)
		}
		return true
	})
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func postRaw(t *testing.T, url, token string, body []byte) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: b}
}

// Operators register payers and rotate their secrets through the API, audited; the secret is shown once, and
// after a rotation only the new one signs.
func TestOperatorsRegisterPayersAndRotateSecrets(t *testing.T) {
	e := newEnv(t, nil)
	account := map[string]string{"name": "新商户有限公司", "number": "6222020200998877665"}
	var created struct {
		Secret  string
		Account struct{ Number string }
	}
	e.must(e.call(http.MethodPut, "/v1/ops/payers/newpayer", opToken, map[string]any{"name": "新商户有限公司", "account": account}, &created), http.StatusCreated)
	if len(created.Secret) < 32 || strings.Contains(created.Account.Number, "998877") {
		t.Fatalf("created: %+v", created)
	}
	var again map[string]any
	e.must(e.call(http.MethodPut, "/v1/ops/payers/newpayer", opToken, map[string]any{"name": "新商户有限公司", "account": account}, &again), http.StatusOK)
	if _, shown := again["secret"]; shown {
		t.Fatalf("an update showed the secret: %v", again)
	}
	e.problem(e.call(http.MethodPut, "/v1/ops/payers/nopayer", opToken, map[string]any{"name": "无账户"}, nil), http.StatusBadRequest, "BAD_REQUEST")
	e.problem(e.call(http.MethodPut, "/v1/ops/payers/newpayer", "", map[string]any{"name": "x", "account": account}, nil), http.StatusUnauthorized, "UNAUTHENTICATED")

	// An empty order is a 400 for a signed request, a 401 for an unsigned one.
	merchant := func(secret string) int {
		return e.signedAs("newpayer", secret, http.MethodPost, "/v1/merchant/orders", "idem-"+store.NewID("k"), map[string]any{}, time.Now(), "", nil).status
	}
	if got := merchant(created.Secret); got != http.StatusBadRequest {
		t.Fatalf("signed with the new payer's secret: %d", got)
	}
	var rotated struct{ Secret string }
	e.must(e.call(http.MethodPost, "/v1/ops/payers/newpayer/secret", opToken, nil, &rotated), http.StatusOK)
	if got := merchant(created.Secret); got != http.StatusUnauthorized {
		t.Fatalf("old secret after rotation: %d", got)
	}
	if got := merchant(rotated.Secret); got != http.StatusBadRequest {
		t.Fatalf("new secret: %d", got)
	}
	trail, err := e.deps.store.AuditTrail(context.Background(), "payer:newpayer")
	if err != nil || len(trail) != 3 || trail[0].Action != "payer.create" || trail[1].Action != "payer.update" || trail[2].Action != "payer.rotate_secret" || trail[2].Actor != "op-alice" {
		t.Fatalf("audit trail: %+v %v", trail, err)
	}
}
