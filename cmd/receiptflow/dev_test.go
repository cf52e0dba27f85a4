package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/telemetry"
	"github.com/receiptflow/receiptflow/workflows"
)

// syncBuffer is the dev command's stdout, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type devRun struct {
	cancel context.CancelFunc
	done   chan error
	api    string
	sbx    string
	out    *syncBuffer
}

// startDev runs the dev command in this process on free ports and waits for its summary.
func startDev(t *testing.T, cfg config.Config) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &devRun{cancel: cancel, done: make(chan error, 1), out: &syncBuffer{}}
	go func() { r.done <- runDev(ctx, cfg, devSettings{}, slog.New(slog.DiscardHandler), r.out) }()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(r.out.String(), "Walkthrough") {
		select {
		case err := <-r.done:
			t.Fatalf("dev exited: %v\n%s", err, r.out.String())
		case <-deadline:
			cancel()
			t.Fatalf("dev did not start:\n%s", r.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.api = regexp.MustCompile(`API\s+(http://\S+)`).FindStringSubmatch(r.out.String())[1]
	r.sbx = regexp.MustCompile(`WeChat sandbox\s+(http://\S+)`).FindStringSubmatch(r.out.String())[1]
	return r
}

func (r *devRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("dev stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop")
	}
}

func devConfig(t *testing.T, dir string) config.Config {
	var cfg config.Config
	if err := envconfig.Process("RECEIPTFLOW_DEVTEST_UNSET", &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	cfg.HTTPPort, cfg.UIPort = 0, 0
	cfg.Temporal.Address = "127.0.0.1:0"
	return cfg
}

func post(t *testing.T, url, token string, body any, out any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	r := postRaw(t, url, token, raw)
	if out != nil {
		_ = json.Unmarshal(r.body, out)
	}
	return r.status
}

// TestDevCommand is the README's first command: everything starts on embedded defaults, the demo's high-risk
// walkthrough pays, Ctrl-C stops cleanly, and a restart on the same data resumes the run left in flight.
func TestDevCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second Temporal server")
	}
	dir := t.TempDir()
	run := startDev(t, devConfig(t, dir))
	ctx := context.Background()
	login := func(r *devRun, openid string) string {
		code, err := sandbox.Phone{BaseURL: r.sbx}.Login(ctx, openid)
		if err != nil {
			t.Fatal(err)
		}
		var s struct{ Token string }
		if st := post(t, r.api+"/v1/session", "", map[string]string{"code": code}, &s); st != http.StatusOK {
			t.Fatalf("session: %d", st)
		}
		return s.Token
	}

	// The printed walkthrough, pasted into a shell: high-risk payee, face v2, confirm, the payee's confirm in
	// WeChat. Every step prints its answer; pasted again, it says the order is paid.
	out := runWalkthrough(t, run.out.String())
	if !strings.Contains(out, `"state":"FACE_REQUIRED"`) || !strings.Contains(out, `"passed":true`) || !strings.Contains(out, `"confirm":{`) {
		t.Fatalf("walkthrough answers:\n%s", out)
	}
	token := login(run, demoHighOpenID)
	var v workflows.View
	get(t, run.api+"/v1/receipts/"+demoHighOrder, token, &v)
	// 8,000 元, cumulative method, first month: (8,000 × 80% − 5,000) × 3% = 42 元.
	if v.State != workflows.StatePaid || v.Risk.Level != "HIGH" || v.Amounts.TaxFen != 4200 {
		t.Fatalf("after the walkthrough: %+v\n%s", v, out)
	}
	if again := runWalkthrough(t, run.out.String()); !strings.Contains(again, "is paid already") || strings.Contains(again, "verifyId") {
		t.Fatalf("the walkthrough a second time:\n%s", again)
	}

	assertDevDoorsClosed(t, run)
	assertDevReceipt(t, run, dir)
	assertSimulatorServed(t, run)

	// The low-risk payee's run is left waiting for the confirm; dev stops and starts again.
	lowToken := login(run, demoLowOpenID)
	post(t, run.api+"/v1/receipts/"+demoLowOrder, lowToken, nil, &v)
	if v.State != workflows.StateAwaitingConfirmation {
		t.Fatalf("low-risk tap: %+v", v)
	}
	run.stop(t)

	again := startDev(t, devConfig(t, dir))
	defer again.stop(t)
	lowToken = login(again, demoLowOpenID)
	post(t, again.api+"/v1/receipts/"+demoLowOrder+"/confirm", lowToken, nil, &v)
	if v.State != workflows.StateAwaitingTransferConfirm {
		t.Fatalf("confirm after restart: %+v", v)
	}
	if res, err := (sandbox.Phone{BaseURL: again.sbx}).ConfirmTransfer(ctx, transferConfirm(v), sandbox.PayAccept, "", "normal"); err != nil || !res.OK() {
		t.Fatalf("confirm after restart: %+v %v", res, err)
	}
	post(t, again.api+"/v1/receipts/"+demoLowOrder+"/transfer/confirmed", lowToken, nil, &v)
	if v.State != workflows.StatePaid {
		t.Fatalf("low-risk after restart: %+v", v)
	}
	// The first run's outcome survived the restart too.
	get(t, again.api+"/v1/receipts/"+demoHighOrder, login(again, demoHighOpenID), &v)
	if v.State != workflows.StatePaid {
		t.Fatalf("high-risk after restart: %+v", v)
	}
}

func TestDevRefusesATakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := devConfig(t, t.TempDir())
	err = runDev(context.Background(), cfg, devSettings{SandboxPort: l.Addr().(*net.TCPAddr).Port}, slog.New(slog.DiscardHandler), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "RECEIPTFLOW_SANDBOX_PORT") || !strings.Contains(err.Error(), "not available") {
		t.Fatalf("err = %v", err)
	}
}

// Connection settings for a real cluster fail early and name the variable to fix.
func TestTemporalTLSSettingsAreChecked(t *testing.T) {
	d := &deps{cfg: devConfig(t, t.TempDir()), log: slog.New(slog.DiscardHandler)}
	d.secrets.Payload, _ = keyring.Parse(payloadKeys)
	d.tel, _ = telemetry.New(context.Background(), telemetry.Tracing{})
	for name, set := range map[string]func(*config.Temporal){
		"RECEIPTFLOW_TEMPORAL_TLS_CERT_FILE": func(c *config.Temporal) { c.TLSCertFile, c.TLSKeyFile = "/nonexistent.pem", "/nonexistent.key" },
		"RECEIPTFLOW_TEMPORAL_TLS_CA_FILE":   func(c *config.Temporal) { c.TLSCAFile = "/nonexistent-ca.pem" },
	} {
		d.cfg.Temporal = config.Temporal{Address: "127.0.0.1:1", Namespace: "default"}
		set(&d.cfg.Temporal)
		if _, err := d.dialTemporal(context.Background()); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// assertDevDoorsClosed: in dev, /v1/ops needs the operator token like anywhere else; a cross-site text/plain or
// form post reaches no handler; a foreign Host (DNS rebinding) is refused; the embedded UI's codec calls, by their
// origin, need no token — and no other origin's do.
func assertDevDoorsClosed(t *testing.T, run *devRun) {
	t.Helper()
	uiOrigin := regexp.MustCompile(`Temporal Web UI\s+(http://\S+)`).FindStringSubmatch(run.out.String())[1]
	send := func(path, host, origin, contentType, token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, run.api+path, strings.NewReader(body))
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Content-Type", contentType)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	funding := "/v1/ops/orders/" + demoLowOrder + "/funding"
	body := `{"amountFen":4321,"reference":"x","remitter":{"name":"某人","account":"6217000011112222"}}`
	for _, c := range []struct {
		name                             string
		path, host, origin, ctype, token string
		want                             int
	}{
		{"ops without a token", funding, "", "", "application/json", "", http.StatusUnauthorized},
		{"ops as text/plain from another site", funding, "", "http://evil.example", "text/plain", "", http.StatusUnsupportedMediaType},
		{"ops from the UI's origin without a token", funding, "", uiOrigin, "application/json", "", http.StatusUnauthorized},
		{"cancel without a token", "/v1/ops/receipts/" + demoLowOrder + "/cancel", "", "", "application/json", "", http.StatusUnauthorized},
		{"a foreign Host", funding, "evil.example", "", "application/json", "", http.StatusMisdirectedRequest},
		{"codec from another site", "/codec/decode", "", "http://evil.example", "application/json", "", http.StatusUnauthorized},
		{"codec as text/plain", "/codec/decode", "", uiOrigin, "text/plain", "", http.StatusUnsupportedMediaType},
	} {
		if got := send(c.path, c.host, c.origin, c.ctype, c.token, body); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if got := send("/codec/decode", "", uiOrigin, "application/json", "", `{"payloads":[]}`); got != http.StatusOK {
		t.Errorf("the embedded UI's codec call: %d", got)
	}
}

func get(t *testing.T, url, token string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
}

// runWalkthrough runs the walkthrough dev printed through bash, as someone pasting it would, and returns what
// it printed.
func runWalkthrough(t *testing.T, summary string) string {
	t.Helper()
	start := strings.Index(summary, "Walkthrough")
	end := strings.Index(summary, "Then open")
	if start < 0 || end < start {
		t.Fatalf("no walkthrough in:\n%s", summary)
	}
	script := summary[start:end]
	script = script[strings.Index(script, "\n")+1:]
	out, err := exec.Command("bash", "-euo", "pipefail", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough: %v\n%s\n---\n%s", err, out, script)
	}
	return string(out)
}

// assertSimulatorServed: dev serves the simulator page and the kit's own modules, and seeds payees for it.
func assertSimulatorServed(t *testing.T, run *devRun) {
	t.Helper()
	for path, want := range map[string]string{"/simulator/": "确认收款 simulator", "/simulator/kit/client.js": "export function createClient",
		"/simulator/kit/legacy/nature.js": "apiGetUserIdKey"} {
		resp, err := http.Get(run.api + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, without %q", path, resp.StatusCode, want)
		}
	}
	var seeded struct{ OpenID, OrderID string }
	if st := post(t, run.api+"/simulator/seed", "", map[string]any{"grossFen": 150000}, &seeded); st != http.StatusCreated || seeded.OrderID == "" {
		t.Fatalf("seed: %d %+v", st, seeded)
	}
	if st := post(t, run.api+"/simulator/seed", "", map[string]any{"grossFen": -1}, nil); st != http.StatusBadRequest {
		t.Fatalf("seed with a negative amount: %d", st)
	}
}

// assertDevReceipt: the paid demo order's electronic receipt arrives within seconds in dev (the sandbox makes it in
// one, and dev polls every 3 s instead of WeChat Pay's 2 minutes).
func assertDevReceipt(t *testing.T, run *devRun, dir string) {
	t.Helper()
	keys, err := loadDevKeys(filepath.Join(dir, "dev-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, run.api+"/v1/ops/orders/"+demoHighOrder+"/receipt", nil)
		req.Header.Set("Authorization", "Bearer "+keys.OperatorToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK && bytes.HasPrefix(body, []byte("%PDF-")):
			return
		case resp.StatusCode != http.StatusAccepted:
			t.Fatalf("receipt: %d %s", resp.StatusCode, body)
		}
	}
	t.Fatal("the demo order's receipt did not arrive in 20 s")
}
