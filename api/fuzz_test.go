package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/receiptflow/receiptflow/codec"
	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechat"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

// The fuzz targets send arbitrary bodies to every route that decodes one, authenticated as the route requires,
// against a real store and a Temporal that answers like a run would. Whatever the body, the answer is never a 5xx
// and never a panic, and every error is JSON {code, message}. Their seed corpora (the malformed shapes found by
// hand, below) run with go test ./...; .ci/run fuzzes each for a few seconds.

// malformed are bodies every decoder must survive.
var malformed = []string{
	``, `{`, `}`, `[]`, `null`, `"string"`, `0`, `{"code":`, `{"a":1}{"b":2}`, `{"amountFen":1e309}`, `{"amountFen":-1}`,
	`{"amountFen":9223372036854775807}`, `{"amountFen":"100"}`, `{"grossFen":1.5}`, `{"approve":"yes"}`, `{"verifyId":["x"]}`,
	"{\"reference\":\"a\\u0000b\"}", "{\"reason\":\"\\u202e\"}", "{\"name\":\"\\ud800\"}", "\xff\xfe{}", `{"__proto__":{}}`,
	`{"merchantOrderNo":"M\u0085","payeeOpenId":"o\u2066x","serviceItem":"\u0000","grossFen":100}`,
	`{"remitter":{"name":null,"account":{}}}`, `{"idNumber":"11010519491231002X","reason":""}`,
}

type fuzzWorld struct {
	router http.Handler
	store  *store.Store
	token  string // the payee's session
	order  string
}

var (
	fuzzOnce   sync.Once
	fuzzShared *fuzzWorld
)

// fuzzRouter is one world per test binary: a store with a payer, a payee and an order, the router over it.
func fuzzRouter(t *testing.F) *fuzzWorld {
	fuzzOnce.Do(func() {
		ctx := context.Background()
		ring, _ := keyring.Parse(keyring.Generate("f1"))
		hasher, _ := pii.NewHasher([]byte("fuzz-lookup-key-0123456789"))
		st, err := store.Open(ctx, filepath.Join(t.TempDir(), "fuzz.db"), ring, hasher)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		account := store.Account{Name: "示例科技有限公司", Number: "6222020200112233445"}
		if err := st.PutPayer(ctx, store.Payer{ID: "payer1", Name: "示例科技有限公司", Secret: fuzzMerchantSecret, Account: account}); err != nil {
			t.Fatal(err)
		}
		p, err := st.VerifyIdentity(ctx, "o_fuzz", "王五", "440304199003070018", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.SignAgreement(ctx, "payer1", p.ID); err != nil {
			t.Fatal(err)
		}
		o, _, err := st.CreateOrder(ctx, store.NewOrder{ID: "fuzzorder01", PayerID: "payer1", PayeeOpenID: "o_fuzz", MerchantOrderNo: "M-F1", ServiceItem: "x", GrossFen: 150000})
		if err != nil {
			t.Fatal(err)
		}
		sessions, _ := NewSessions([]byte("0123456789abcdef0123456789abcdef"), time.Hour)
		token, _ := sessions.Issue("o_fuzz")
		ops := NewOperators(map[string]string{fuzzOperatorToken: "op-fuzz"})
		payloads, _ := keyring.Parse(keyring.Generate("p1"))
		r, err := New(Deps{Temporal: &answeringTemporal{order: o.ID}, Store: st, Login: fuzzLogin{}, Sessions: sessions, Proofs: testProofs(),
			Operators: ops, PayNotify: fuzzNotify{}, UpdateWait: time.Second, Limits: fuzzLimits,
			Codec: codec.Handler(codec.New(payloads), codec.HandlerOptions{Authorize: ops.CodecAuthorized})})
		if err != nil {
			t.Fatal(err)
		}
		// The shared store outlives each test: it is closed with the process.
		fuzzShared = &fuzzWorld{router: r, store: st, token: token, order: o.ID}
	})
	if fuzzShared == nil {
		t.Fatal("fuzz world not built")
	}
	return fuzzShared
}

const (
	fuzzMerchantSecret = "fuzz-merchant-secret-0123456789"
	fuzzOperatorToken  = "fuzz-operator-token-0123456789"
)

// send routes one request as the route's caller would: the payee's session, an operator's token, or the payer's
// signature over this very body.
func (w *fuzzWorld) send(method, path, auth string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	switch auth {
	case "payee":
		req.Header.Set("Authorization", "Bearer "+w.token)
	case "operator":
		req.Header.Set("Authorization", "Bearer "+fuzzOperatorToken)
	case "merchant":
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		nonce := store.NewID("nonce")
		req.Header.Set(HeaderPayer, "payer1")
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderNonce, nonce)
		req.Header.Set(HeaderSignature, SignMerchantRequest(fuzzMerchantSecret, method, path, ts, nonce, body))
		req.Header.Set("Idempotency-Key", store.NewID("idem"))
	}
	rec := httptest.NewRecorder()
	w.router.ServeHTTP(rec, req)
	return rec
}

// fuzzLimits let every input reach its decoder: under the default limits, a few hundred inputs in, every one
// would meet 429 and the fuzzer would test the rate limiter only.
var fuzzLimits = func() Limits {
	open := Limit{Burst: 1 << 30, PerHour: 1e12}
	return Limits{open, open, open, open, open, open, open, open}
}()

// checkAnswer: never a 5xx, and an error is {code, message}.
func checkAnswer(t *testing.T, route string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s with %q: %d %s", route, body, rec.Code, rec.Body)
	}
	if rec.Code >= 400 {
		var p struct{ Code, Message string }
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code == "" || p.Message == "" {
			t.Fatalf("%s with %q: %d without {code, message}: %s", route, body, rec.Code, rec.Body)
		}
	}
}

// fuzzRoute is one target: a route, who calls it, the seeds that make sense for it.
func fuzzRoute(f *testing.F, method, path, auth string, seeds ...string) {
	for _, s := range append(seeds, malformed...) {
		f.Add([]byte(s))
	}
	w := fuzzRouter(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAnswer(t, method+" "+path, body, w.send(method, path, auth, body))
	})
}

func FuzzSession(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/session", "", `{"code":"abc"}`, `{"code":""}`, `{"code":"a b"}`)
}

func FuzzTap(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/receipts/fuzzorder01", "payee", `{}`)
}

func FuzzFaceSession(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/receipts/fuzzorder01/face/session", "payee", `{"source":1}`, `{"source":"1"}`)
}

func FuzzFaceResult(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/receipts/fuzzorder01/face/result", "payee", `{"verifyId":"vid_1"}`, `{"verifyResult":"vr_1","source":1}`,
		`{"verifyId":"   "}`, "{\"verifyId\":\"v\\u0000\"}")
}

func FuzzConfirm(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/receipts/fuzzorder01/confirm", "payee", `{}`)
}

func FuzzTransferConfirmed(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/receipts/fuzzorder01/transfer/confirmed", "payee", `{}`)
}

func FuzzIdentity(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/me/identity", "payee", `{"name":"王五","idNumber":"440304199003070018"}`,
		`{"name":"王五","idNumber":"440304199003070018","idExpiresOn":"2030-13-40"}`, `{"name":"王\u202e五","idNumber":"x"}`)
}

func FuzzAgreement(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/me/agreements/payer1", "payee", `{}`)
}

func FuzzMerchantCreateOrder(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/merchant/orders", "merchant",
		`{"merchantOrderNo":"M-1","payeeOpenId":"o_new","serviceItem":"design","description":"海报设计","grossFen":500000}`,
		`{"merchantOrderNo":"M-2","payeeOpenId":"o_new","serviceItem":"design","grossFen":1000000001}`)
}

func FuzzMerchantCancel(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/merchant/orders/fuzzorder01/cancel", "merchant", `{"reason":"wrong amount"}`)
}

func FuzzOpsFunding(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/ops/orders/fuzzorder01/funding", "operator",
		`{"amountFen":150000,"reference":"BANK-1","remitter":{"name":"示例科技有限公司","account":"6222020200112233445"}}`,
		`{"amountFen":4321,"reference":"x"}`)
}

func FuzzOpsReview(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/ops/receipts/fuzzorder01/review", "operator", `{"approve":true,"note":"ok"}`, `{"approve":false}`)
}

func FuzzOpsCancel(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/ops/receipts/fuzzorder01/cancel", "operator", `{"reason":"fraud"}`)
}

func FuzzOpsBlacklist(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/v1/ops/blacklist", "operator", `{"idNumber":"11010519491231002X","reason":"fraud"}`)
}

func FuzzCodec(f *testing.F) {
	fuzzRoute(f, http.MethodPost, "/codec/decode", "operator", `{"payloads":[]}`, `{"payloads":[{"metadata":{"encoding":"YmluYXJ5L2VuY3J5cHRlZA=="},"data":"AAAA"}]}`)
}

// FuzzTransferCallback sends arbitrary bodies with arbitrary WeChat Pay headers: nothing unverified is believed,
// and nothing answers 5xx but our own "try again" (which WeChat Pay reads as: call back later).
func FuzzTransferCallback(f *testing.F) {
	for _, s := range malformed {
		f.Add([]byte(s), "1700000000", "nonce", "c2ln", "PUB_KEY_ID_1")
	}
	f.Add([]byte(`{"id":"EV-1","event_type":"MCHTRANSFER.BILL.FINISHED","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"AAAA","nonce":"n","associated_data":"mch_payment"}}`),
		strconv.FormatInt(time.Now().Unix(), 10), "nonce", "AAAA", "PUB_KEY_ID_1")
	w := fuzzRouter(f)
	f.Fuzz(func(t *testing.T, body []byte, ts, nonce, sig, serial string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/callbacks/wechatpay/transfer", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range map[string]string{"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": sig, "Wechatpay-Serial": serial} {
			if validHeaderValue(v) {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		w.router.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 400 {
			t.Fatalf("callback with %q: %d %s", body, rec.Code, rec.Body)
		}
	})
}

func validHeaderValue(v string) bool {
	for _, c := range []byte(v) {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// answeringTemporal answers like a run of the order would: every update and query with a view.
type answeringTemporal struct {
	Temporal
	order string
}

func (a *answeringTemporal) view() workflows.View {
	return workflows.View{OrderID: a.order, State: workflows.StateAwaitingConfirmation}
}

func (a *answeringTemporal) NewWithStartWorkflowOperation(client.StartWorkflowOptions, any, ...any) client.WithStartWorkflowOperation {
	return nil
}

func (a *answeringTemporal) UpdateWithStartWorkflow(context.Context, client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return viewHandle{a.view()}, nil
}

func (a *answeringTemporal) UpdateWorkflow(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return viewHandle{a.view()}, nil
}

func (a *answeringTemporal) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID(a.order), RunId: "run-1"},
		Status:    enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}}, nil
}

func (a *answeringTemporal) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	p, err := converter.GetDefaultDataConverter().ToPayloads(a.view())
	if err != nil {
		return nil, err
	}
	return client.NewValue(p), nil
}

func (a *answeringTemporal) SignalWorkflow(context.Context, string, string, string, any) error {
	return nil
}

func (a *answeringTemporal) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, nil
}

func (a *answeringTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, nil
}

// viewHandle is an update's answer: the view, decoded into whatever the handler asks for.
type viewHandle struct{ v workflows.View }

func (h viewHandle) WorkflowID() string { return "" }
func (h viewHandle) RunID() string      { return "" }
func (h viewHandle) UpdateID() string   { return "" }
func (h viewHandle) Get(_ context.Context, out any) error {
	raw, _ := json.Marshal(h.v)
	return json.Unmarshal(raw, out)
}

type fuzzLogin struct{}

func (fuzzLogin) Code2Session(context.Context, string) (wechat.Session, error) {
	return wechat.Session{}, &wechat.Error{Op: "jscode2session", Code: wechat.CodeInvalidCode, Message: "invalid code", Class: wechat.User}
}

// fuzzNotify is WeChat Pay's verification refusing what it cannot verify, as the real one does for fuzzed input.
type fuzzNotify struct{}

func (fuzzNotify) ParseNotification(context.Context, *http.Request) (wechatpay.Notification, error) {
	return wechatpay.Notification{}, wechatpay.ErrBadNotification
}
