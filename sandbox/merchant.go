package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/receiptflow/receiptflow/webhook"
)

// MerchantHooks is a payer's webhook receiver, as a merchant would run one: it verifies each webhook's signature
// with the secret it was given (SetSecret) and its timestamp against its clock (5 minutes either way, as Standard
// Webhooks advises against replays), answers 204 when both hold and 401 otherwise, and keeps the latest 100 for
// GET /sandbox/merchant/hooks.
type MerchantHooks struct {
	mu       sync.Mutex
	secret   string
	received []ReceivedHook
}

// ReceivedHook is one webhook the receiver got.
type ReceivedHook struct {
	At       time.Time       `json:"at"`
	ID       string          `json:"webhookId"`
	Verified bool            `json:"verified"`
	Type     string          `json:"type"`
	Body     json.RawMessage `json:"body"`
}

// replayWindow is how far a webhook's timestamp may be from the receiver's clock.
const replayWindow = 5 * time.Minute

// SetSecret is the endpoint's signing secret.
func (m *MerchantHooks) SetSecret(secret string) {
	m.mu.Lock()
	m.secret = secret
	m.mu.Unlock()
}

// Received is what the receiver got, newest first.
func (m *MerchantHooks) Received() []ReceivedHook {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ReceivedHook, len(m.received))
	for i, h := range m.received {
		out[len(out)-1-i] = h
	}
	return out
}

func (m *MerchantHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"received": m.Received()})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "POST a webhook", http.StatusBadRequest)
		return
	}
	id := r.Header.Get("webhook-id")
	ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	m.mu.Lock()
	secret := m.secret
	m.mu.Unlock()
	fresh := time.Since(time.Unix(ts, 0)).Abs() <= replayWindow
	verified := fresh && secret != "" && webhook.Verify(secret, id, ts, body, r.Header.Get("webhook-signature"))
	var ev struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &ev)
	raw := json.RawMessage(body)
	if !json.Valid(body) {
		raw, _ = json.Marshal(string(body))
	}
	m.mu.Lock()
	m.received = append(m.received, ReceivedHook{At: time.Now(), ID: id, Verified: verified, Type: ev.Type, Body: raw})
	if len(m.received) > 100 {
		m.received = m.received[len(m.received)-100:]
	}
	m.mu.Unlock()
	if !verified {
		http.Error(w, "signature or timestamp does not verify", http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
