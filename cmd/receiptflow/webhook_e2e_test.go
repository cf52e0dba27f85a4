package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/webhook"
	"github.com/receiptflow/receiptflow/workflows"
)

// quickWebhooks retries deliveries within a second and gives each attempt one.
func quickWebhooks(c *config.Config) {
	c.TaxMethod = "per_payment"
	c.WebhookTimeout, c.WebhookFirstRetry = time.Second, 200*time.Millisecond
}

// receiver is a payer's webhook endpoint: it records every request and answers from a script.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []hook
	script []func(w http.ResponseWriter) // one per request, in order; 200 when exhausted
}

type hook struct {
	id, timestamp, signature string
	body                     []byte
}

func newReceiver(t *testing.T, script ...func(w http.ResponseWriter)) *receiver {
	r := &receiver{script: script}
	r.Server = httptest.NewServer(http.HandlerFunc(r.record))
	t.Cleanup(r.Close)
	return r
}

// record keeps a request and answers it from the script.
func (r *receiver) record(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, hook{req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature"), body})
	var answer func(http.ResponseWriter)
	if len(r.script) > 0 {
		answer, r.script = r.script[0], r.script[1:]
	}
	r.mu.Unlock()
	if answer != nil {
		answer(w)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) hooks() []hook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hook(nil), r.got...)
}

// waitFor waits until the receiver has n requests.
func (r *receiver) waitFor(t *testing.T, n int, within time.Duration) []hook {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		if got := r.hooks(); len(got) >= n {
			return got
		} else if time.Now().After(deadline) {
			t.Fatalf("the receiver got %d requests, want %d", len(got), n)
		}
	}
}

func (h hook) verifies(secret string) bool {
	ts, err := strconv.ParseInt(h.timestamp, 10, 64)
	return err == nil && webhook.Verify(secret, h.id, ts, h.body, h.signature)
}

// A paid order reaches the payer's endpoint as a signed order.paid; the endpoint's 500 and its timeout are retried
// with the same webhook-id until it answers 200; both logs show the three attempts; a rotation signs with both
// secrets; a redelivery sends the same event again; another payer sees none of it.
func TestWebhookDeliveredSignedRetriedAndRedelivered(t *testing.T) {
	e := newEnv(t, quickWebhooks)
	rcv := newReceiver(t,
		func(w http.ResponseWriter) { http.Error(w, "busy", http.StatusInternalServerError) },
		func(w http.ResponseWriter) { time.Sleep(1500 * time.Millisecond) })
	order := e.payee("o_hook", "李四", "110101200001010010", 150000)
	token := e.login("o_hook")

	var ep struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
		Secret string   `json:"secret"`
	}
	e.must(e.signed(http.MethodPut, "/v1/merchant/webhook", "", map[string]any{"url": rcv.URL + "/hooks", "events": []string{"order.paid", "order.failed"}},
		time.Now(), "", &ep), http.StatusCreated)
	if !strings.HasPrefix(ep.Secret, "whsec_") || len(ep.Events) != 2 {
		t.Fatalf("the endpoint: %+v", ep)
	}

	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if v.State != workflows.StatePaid {
		t.Fatalf("confirm: %+v", v)
	}

	got := rcv.waitFor(t, 3, 20*time.Second)
	for i, h := range got {
		if h.id != got[0].id || !h.verifies(ep.Secret) {
			t.Errorf("attempt %d: id %s (first %s), verifies %v", i+1, h.id, got[0].id, h.verifies(ep.Secret))
		}
	}
	var ev activities.EventBody
	if err := json.Unmarshal(got[2].body, &ev); err != nil {
		t.Fatal(err)
	}
	d := ev.Data
	if ev.ID != got[0].id || ev.Type != "order.paid" || d.OrderID != order || d.State != "PAID" || d.GrossFen != 150000 ||
		d.TaxFen+d.NetFen != 150000 || d.NetFen <= 0 || d.MerchantOrderNo == "" || d.OutBillNo == "" {
		t.Fatalf("the event: %s", got[2].body)
	}
	for _, secretish := range []string{"李四", "110101", "o_hook"} {
		if strings.Contains(string(got[2].body), secretish) {
			t.Errorf("the event carries %q: %s", secretish, got[2].body)
		}
	}

	var log struct {
		Deliveries []store.WebhookDelivery `json:"deliveries"`
	}
	e.waitDelivered(ev.ID)
	e.must(e.signed(http.MethodGet, "/v1/merchant/webhook/deliveries", "", nil, time.Now(), "", &log), http.StatusOK)
	if len(log.Deliveries) != 1 || log.Deliveries[0].ID != ev.ID || log.Deliveries[0].State != store.WebhookDelivered || len(log.Deliveries[0].Log) != 3 {
		t.Fatalf("the payer's log: %+v", log)
	}
	attempts := log.Deliveries[0].Log
	if attempts[0].Status != 500 || attempts[0].Answer != "busy\n" || attempts[1].Status != 0 || attempts[2].Status != 200 ||
		attempts[1].DurationMS < 900 {
		t.Errorf("the attempts: %+v", attempts)
	}
	e.must(e.call(http.MethodGet, "/v1/ops/payers/payer1/webhook/deliveries", opToken, nil, &log), http.StatusOK)
	if len(log.Deliveries) != 1 || len(log.Deliveries[0].Log) != 3 {
		t.Fatalf("the operators' log: %+v", log)
	}

	// Rotation: the new secret and the old one both sign, in one header, for 24 h.
	var rotated struct {
		Secret string `json:"secret"`
	}
	e.must(e.signed(http.MethodPost, "/v1/merchant/webhook/secret", "", nil, time.Now(), "", &rotated), http.StatusOK)
	e.must(e.signed(http.MethodPost, "/v1/merchant/webhook/deliveries/"+ev.ID+"/redeliver", "", nil, time.Now(), "", nil), http.StatusAccepted)
	again := rcv.waitFor(t, 4, 10*time.Second)[3]
	if again.id != ev.ID || string(again.body) != string(got[0].body) || !again.verifies(rotated.Secret) || !again.verifies(ep.Secret) ||
		len(strings.Fields(again.signature)) != 2 {
		t.Fatalf("the redelivery after a rotation: %+v", again)
	}

	// Another payer sees none of payer1's deliveries and cannot replay them.
	if _, err := e.deps.store.RegisterPayer(context.Background(), store.Payer{ID: "payer2", Name: "另一家公司", Secret: "payer2-secret-0123456789",
		Account: store.Account{Name: "另一家公司", Number: "6222020200112233999"}}, "test"); err != nil {
		t.Fatal(err)
	}
	e.must(e.signedAs("payer2", "payer2-secret-0123456789", http.MethodGet, "/v1/merchant/webhook/deliveries", "", nil, time.Now(), "", &log), http.StatusOK)
	if len(log.Deliveries) != 0 {
		t.Fatalf("payer2 sees %+v", log)
	}
	e.must(e.signedAs("payer2", "payer2-secret-0123456789", http.MethodPost, "/v1/merchant/webhook/deliveries/"+ev.ID+"/redeliver", "", nil, time.Now(), "", nil), http.StatusNotFound)
}

// waitDelivered waits until the store says the event was delivered.
func (e *env) waitDelivered(id string) {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ev, err := e.deps.store.WebhookEventOf(context.Background(), id)
		if err == nil && ev.State == store.WebhookDelivered {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("event %s: %+v %v", id, ev, err)
		}
	}
}

// A receiver that is down while the order is paid gets the event once it is back, though the worker restarted
// meanwhile; an event the payer did not subscribe to is never sent.
func TestWebhookWaitsForAReceiverThatIsDown(t *testing.T) {
	e := newEnv(t, quickWebhooks)
	rcv := newReceiver(t)
	url := rcv.URL + "/hooks"
	rcv.Close() // down: connections are refused
	order := e.payee("o_down", "李四", "110101200001010010", 150000)
	token := e.login("o_down")
	e.must(e.signed(http.MethodPut, "/v1/merchant/webhook", "", map[string]any{"url": url, "events": []string{"order.paid"}}, time.Now(), "", nil), http.StatusCreated)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)

	var log struct {
		Deliveries []store.WebhookDelivery `json:"deliveries"`
	}
	for deadline := time.Now().Add(10 * time.Second); len(log.Deliveries) == 0 || len(log.Deliveries[0].Log) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempts logged: %+v", log)
		}
		e.must(e.signed(http.MethodGet, "/v1/merchant/webhook/deliveries", "", nil, time.Now(), "", &log), http.StatusOK)
	}
	if d := log.Deliveries[0]; d.State != store.WebhookPending || d.Type != "order.paid" || d.Log[0].Status != 0 || !strings.Contains(d.Log[0].Answer, "refused") {
		t.Fatalf("while down: %+v", d)
	}
	if m := e.call(http.MethodGet, "/metrics", "", nil, nil); m.status != http.StatusOK || !strings.Contains(string(m.body), "receiptflow_webhook_oldest_pending_seconds ") ||
		strings.Contains(string(m.body), "receiptflow_webhook_oldest_pending_seconds 0\n") {
		t.Errorf("the oldest pending webhook is not in the metrics: %d", m.status)
	}
	// The worker restarts meanwhile (dev's Ctrl-C and start again): the delivery is a workflow, and goes on.
	e.worker.Stop()
	e.startWorker()
	// Back on the same address.
	back := newReceiverOn(t, strings.TrimPrefix(rcv.URL, "http://"))
	got := back.waitFor(t, 1, 20*time.Second)
	if got[0].id != log.Deliveries[0].ID {
		t.Fatalf("got %s, want %s", got[0].id, log.Deliveries[0].ID)
	}
	e.waitDelivered(got[0].id)
	time.Sleep(300 * time.Millisecond)
	if n := len(back.hooks()); n != 1 {
		t.Errorf("%d requests after it was back, want 1 (order.awaiting_payee and the rest were not subscribed)", n)
	}
}

// newReceiverOn is a receiver on a given address (one that was closed).
func newReceiverOn(t *testing.T, addr string) *receiver {
	r := &receiver{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.record))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	r.Server = srv
	t.Cleanup(srv.Close)
	return r
}

// In production configuration a webhook URL must be https:// to a public address.
func TestWebhookURLsOfOurOwnNetworkAreRefusedInProduction(t *testing.T) {
	e := newEnv(t, quickWebhooks)
	e.payee("o_prod", "李四", "110101200001010010", 150000) // payer1 signs
	e.deps.webhooks = webhook.Policy{}
	e.routeThrough(e.client)
	for _, url := range []string{"http://127.0.0.1:9/hooks", "https://127.0.0.1/hooks", "https://10.1.2.3/hooks", "https://169.254.169.254/latest", "https://[::1]/h"} {
		r := e.signed(http.MethodPut, "/v1/merchant/webhook", "", map[string]any{"url": url}, time.Now(), "", nil)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "WEBHOOK_URL_REFUSED") {
			t.Errorf("%s: %d %s", url, r.status, r.body)
		}
		r = e.call(http.MethodPut, "/v1/ops/payers/payer1/webhook", opToken, map[string]any{"url": url}, nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("ops, %s: %d %s", url, r.status, r.body)
		}
	}
	e.must(e.call(http.MethodGet, "/v1/ops/payers/payer1/webhook", opToken, nil, nil), http.StatusNotFound)
}

// An endpoint that refuses an event for the whole retry window (RECEIPTFLOW_WEBHOOK_RETRY_FOR, 72 h; here 3 s) gets
// it marked FAILED and is disabled, as its GET says; setting it again enables it.
func TestWebhookEndpointFailingThroughoutIsDisabled(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { quickWebhooks(c); c.WebhookRetryFor = 3 * time.Second })
	refuse := func(w http.ResponseWriter) { http.Error(w, "down for maintenance", http.StatusServiceUnavailable) }
	rcv := newReceiver(t, refuse, refuse, refuse, refuse, refuse, refuse, refuse, refuse, refuse, refuse, refuse, refuse)
	order := e.payee("o_failing", "李四", "110101200001010010", 150000)
	token := e.login("o_failing")
	e.must(e.signed(http.MethodPut, "/v1/merchant/webhook", "", map[string]any{"url": rcv.URL, "events": []string{"order.paid"}}, time.Now(), "", nil), http.StatusCreated)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)

	var ep struct {
		URL            string    `json:"url"`
		DisabledAt     time.Time `json:"disabledAt"`
		DisabledReason string    `json:"disabledReason"`
	}
	for deadline := time.Now().Add(20 * time.Second); ep.DisabledAt.IsZero(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the endpoint was not disabled: %+v (%d attempts)", ep, len(rcv.hooks()))
		}
		e.must(e.call(http.MethodGet, "/v1/ops/payers/payer1/webhook", opToken, nil, &ep), http.StatusOK)
	}
	var log struct {
		Deliveries []store.WebhookDelivery `json:"deliveries"`
	}
	e.must(e.signed(http.MethodGet, "/v1/merchant/webhook/deliveries", "", nil, time.Now(), "", &log), http.StatusOK)
	if len(log.Deliveries) != 1 || log.Deliveries[0].State != store.WebhookFailed || len(log.Deliveries[0].Log) < 2 || ep.DisabledReason == "" {
		t.Fatalf("after the window: %+v, endpoint %+v", log, ep)
	}
	e.must(e.signed(http.MethodPut, "/v1/merchant/webhook", "", map[string]any{"url": rcv.URL, "events": []string{"order.paid"}}, time.Now(), "", nil), http.StatusOK)
	var again map[string]any
	e.must(e.call(http.MethodGet, "/v1/ops/payers/payer1/webhook", opToken, nil, &again), http.StatusOK)
	if _, disabled := again["disabledAt"]; disabled {
		t.Fatalf("set again, still disabled: %+v", again)
	}
}
