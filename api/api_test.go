package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/codec"
	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// The worked example in README "Merchant API"; openssl computes the same:
// printf 'POST\n/v1/merchant/orders\n1795000000\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\n<body>' | openssl dgst -sha256 -hmac demo-merchant-secret-0123
func TestMerchantSignatureWorkedExample(t *testing.T) {
	body := `{"merchantOrderNo":"M-2026-0001","payeeOpenId":"o_demo_low","serviceItem":"delivery","description":"配送服务费","grossFen":150000}`
	got := SignMerchantRequest("demo-merchant-secret-0123", "POST", "/v1/merchant/orders", "1795000000", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", []byte(body))
	if want := "9335000a2be4e1a55917d745c5369c5859acba8bfb480054421917384e91c13d"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestSessions(t *testing.T) {
	if _, err := NewSessions([]byte("short"), time.Hour); err == nil {
		t.Fatal("short secret accepted")
	}
	s, _ := NewSessions([]byte("0123456789abcdef0123456789abcdef"), time.Hour)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	token, exp := s.Issue("o_alice")
	if !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("expires %s", exp)
	}
	if openid, err := s.Check(token); err != nil || openid != "o_alice" {
		t.Fatalf("Check = %q %v", openid, err)
	}
	now = now.Add(time.Hour)
	if _, err := s.Check(token); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("expired token: %v", err)
	}
	other, _ := NewSessions([]byte("fedcba9876543210fedcba9876543210"), time.Hour)
	other.now = s.now
	for _, bad := range []string{"", "x", token + "x", "e30." + token[len(token)-10:]} {
		if _, err := s.Check(bad); !errors.Is(err, ErrSessionInvalid) {
			t.Errorf("Check(%q) = %v", bad, err)
		}
	}
	forged, _ := other.Issue("o_mallory")
	if _, err := s.Check(forged); !errors.Is(err, ErrSessionInvalid) {
		t.Fatalf("token of another secret accepted: %v", err)
	}
}

func TestFaceAnswerPassesOnlyOnPass(t *testing.T) {
	for _, c := range []struct {
		res         workflows.FaceSubmitResult
		identifyRet int
		errcode     int
	}{
		{workflows.FaceSubmitResult{Passed: true, Outcome: workflows.FacePass, Code: 10000}, 0, 0},
		{workflows.FaceSubmitResult{Outcome: workflows.FaceFail, Code: 10004}, 10004, 0},
		{workflows.FaceSubmitResult{Outcome: workflows.FaceFail, Code: 0}, -1, 0},
		{workflows.FaceSubmitResult{Outcome: workflows.FaceRetry, Code: 84002}, -1, 84002},
		{workflows.FaceSubmitResult{Outcome: workflows.FaceRefused, Code: 0}, -1, faceRefusedErrCode},
	} {
		got := faceAnswer(c.res)
		if got["identifyRet"] != c.identifyRet || got["errcode"] != c.errcode {
			t.Errorf("%+v → identifyRet %v errcode %v", c.res, got["identifyRet"], got["errcode"])
		}
		if pass := got["identifyRet"] == 0 && got["errcode"] == 0; pass != c.res.Passed {
			t.Errorf("%+v: seed's pass test says %v", c.res, pass)
		}
	}
}

func TestFromErrorNeverBlamesTheCallerForOurTrouble(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
	}{
		{temporal.NewApplicationError("x", workflows.RejectWrongState), http.StatusConflict},
		{temporal.NewApplicationError("x", workflows.RejectNotYours), http.StatusNotFound},
		{temporal.NewApplicationError("x", workflows.RejectUnauthenticated), http.StatusUnauthorized},
		{client.NewWorkflowUpdateServiceTimeoutOrCanceledError(serviceerror.NewDeadlineExceeded("poll")), http.StatusServiceUnavailable},
		{temporal.NewApplicationError("x", workflows.RejectBadRequest), http.StatusBadRequest},
		{temporal.NewNonRetryableApplicationError("x", workflows.ErrTypeFaceUnusable, nil, 84006), http.StatusBadGateway},
		{temporal.NewApplicationError("x", "WeChatTransient"), http.StatusServiceUnavailable},
		{serviceerror.NewNotFound("no run"), http.StatusNotFound},
		{store.ErrNotFound, http.StatusNotFound},
		{errors.New("connection refused"), http.StatusServiceUnavailable},
	} {
		if p := fromError(c.err); p.Status != c.status || p.Code == "" || p.Message == "" {
			t.Errorf("%v → %+v, want %d", c.err, p, c.status)
		}
	}
	if p := fromError(temporal.NewNonRetryableApplicationError("x", workflows.ErrTypeFaceUnusable, nil, 84006)); p.ErrCode == nil || *p.ErrCode != 84006 {
		t.Errorf("WeChat's errcode lost: %+v", p)
	}
}

func TestOperatorsIdentify(t *testing.T) {
	ops := NewOperators(map[string]string{"operator-token-0123456789": "op-alice"})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if _, ok := ops.Identify(r); ok {
		t.Fatal("no token accepted")
	}
	r.Header.Set("Authorization", "Bearer operator-token-0123456789")
	if id, ok := ops.Identify(r); !ok || id != "op-alice" {
		t.Fatalf("Identify = %q %v", id, ok)
	}
	// The codec trusts a token only: a call from this machine with the UI's Origin is no credential.
	codecCall := httptest.NewRequest(http.MethodPost, "/codec/decode", nil)
	codecCall.RemoteAddr = "127.0.0.1:5555"
	codecCall.Header.Set("Origin", "http://127.0.0.1:8233")
	if ops.CodecAuthorized(codecCall) {
		t.Fatal("a tokenless codec call from the UI's origin was trusted")
	}
	codecCall.Header.Set("Authorization", "Bearer operator-token-0123456789")
	if !ops.CodecAuthorized(codecCall) {
		t.Fatal("an operator's codec call refused")
	}
	empty := NewOperators(map[string]string{"": "nobody"})
	r.Header.Set("Authorization", "Bearer ")
	if _, ok := empty.Identify(r); ok {
		t.Fatal("an empty token identified an operator")
	}
}

// The Web UI decodes batches larger than a payee's request may be: the codec keeps its own bound.
func TestCodecIsNotHeldToThePayeeBodyLimit(t *testing.T) {
	sessions, _ := NewSessions([]byte("0123456789abcdef0123456789abcdef"), 0)
	var got int
	codec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		got = len(b)
	})
	r, err := New(Deps{Temporal: stubTemporal{}, Store: stubStore{}, Login: stubLogin{}, Sessions: sessions, Proofs: testProofs(), Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 200<<10)
	post := func(path, contentType string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(big))
		req.Header.Set("Content-Type", contentType)
		r.ServeHTTP(rec, req)
		return rec
	}
	if rec := post("/codec/decode", "application/json"); rec.Code != http.StatusOK || got != len(big) {
		t.Fatalf("codec got %d bytes, status %d", got, rec.Code)
	}
	if rec := post("/v1/session", "application/json"); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("session with a 200 KiB body: %d", rec.Code)
	}
}

// A cross-site form or text/plain post never reaches a handler; neither does a request for a foreign Host.
func TestRequestsOnlyAsJSONAndOnlyForOurHost(t *testing.T) {
	sessions, _ := NewSessions([]byte("0123456789abcdef0123456789abcdef"), 0)
	r, err := New(Deps{Temporal: stubTemporal{}, Store: stubStore{}, Login: stubLogin{}, Sessions: sessions, Proofs: testProofs(),
		AllowedHosts: LocalHosts("127.0.0.1", "8080")})
	if err != nil {
		t.Fatal(err)
	}
	send := func(host, contentType, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/ops/orders/demolow0001/funding", strings.NewReader(body))
		req.Host = host
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"} {
		if rec := send("127.0.0.1:8080", ct, `{"amountFen":1}`); rec.Code != http.StatusUnsupportedMediaType {
			t.Errorf("%s: %d, want 415", ct, rec.Code)
		}
	}
	for _, host := range []string{"evil.example", "evil.example:8080", "127.0.0.1:9999"} {
		if rec := send(host, "application/json", `{}`); rec.Code != http.StatusMisdirectedRequest {
			t.Errorf("Host %s: %d, want 421", host, rec.Code)
		}
	}
	// Ours, as JSON: on to the operator check (no token: 401).
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080"} {
		if rec := send(host, "application/json; charset=utf-8", `{}`); rec.Code != http.StatusUnauthorized {
			t.Errorf("Host %s: %d, want 401", host, rec.Code)
		}
	}
}

// However the SDK reports that an update outlived the request's wait, the answer is 202 with the view, not 503.
func TestStillRunningRecognisesEveryTimeoutShape(t *testing.T) {
	for _, err := range []error{
		client.NewWorkflowUpdateServiceTimeoutOrCanceledError(serviceerror.NewDeadlineExceeded("poll")),
		serviceerror.NewDeadlineExceeded("grpc deadline"),
		fmt.Errorf("waiting: %w", context.DeadlineExceeded),
	} {
		if !stillRunning(err) {
			t.Errorf("%T %v not recognised", err, err)
		}
	}
	if stillRunning(errors.New("connection refused")) || stillRunning(serviceerror.NewNotFound("x")) {
		t.Error("other errors taken for a running update")
	}
}

// A codec request over its bound answers 413, like every other body too large.
func TestCodecOverItsLimitIs413(t *testing.T) {
	codec := codecHandler(t, 1<<10)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/decode", strings.NewReader(`{"payloads":[`+strings.Repeat(`{},`, 1000)+`{}]}`))
	req.Header.Set("Authorization", "Bearer operator-token-0123456789")
	codec.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "BODY_TOO_LARGE") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func codecHandler(t *testing.T, maxBody int64) http.Handler {
	ring, err := keyring.Parse(keyring.Generate("c1"))
	if err != nil {
		t.Fatal(err)
	}
	ops := NewOperators(map[string]string{"operator-token-0123456789": "op-alice"})
	return codec.Handler(codec.New(ring), codec.HandlerOptions{Authorize: ops.CodecAuthorized, MaxBody: maxBody})
}

// The run cache holds at most runCacheSize orders, the newest always among them, and forgets a run only while it
// is the one held.
func TestRunCacheIsBounded(t *testing.T) {
	var c runCache
	for i := range runCacheSize + 10 {
		c.put(fmt.Sprintf("ord%d", i), fmt.Sprintf("run%d", i))
	}
	if len(c.runs) != runCacheSize {
		t.Fatalf("%d orders held, bound %d", len(c.runs), runCacheSize)
	}
	last := fmt.Sprintf("ord%d", runCacheSize+9)
	if run, ok := c.get(last); !ok || run != fmt.Sprintf("run%d", runCacheSize+9) {
		t.Fatalf("the newest order: %q %v", run, ok)
	}
	c.forget(last, "an older run")
	if _, ok := c.get(last); !ok {
		t.Fatal("forgetting another run dropped the one held")
	}
	c.forget(last, fmt.Sprintf("run%d", runCacheSize+9))
	if _, ok := c.get(last); ok {
		t.Fatal("the run was not forgotten")
	}
}
