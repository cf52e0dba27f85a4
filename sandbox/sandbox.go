// Package sandbox imitates the WeChat server API and WeChat Pay's merchant transfer over HTTP with the real
// request and response shapes, error codes and signatures, so the real clients are what dev and the tests
// exercise. Endpoints under /sandbox/ play the phone's part: wx.login, the face scans, the payee's confirm of a
// transfer, and setting a user's risk rank.
//
// It is linked into the dev and sandbox commands and the tests only; production reaches it solely by configuring
// base URLs.
package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configure a sandbox. Zero values give a well-behaved WeChat.
type Options struct {
	AppID  string
	Secret string
	// TokenTTL is how long an access token really lives, while responses still claim expires_in 7200: set it short
	// to make business calls meet 40001 and exercise the client's refetch.
	TokenTTL time.Duration
	Faults   Faults
	// Seed makes fault injection repeatable; 0 picks a random seed.
	Seed uint64
	// RiskRanks presets getuserriskrank answers by openid.
	RiskRanks map[string]int
	// StateFile keeps login codes, face credentials and results across restarts (dev); empty keeps them in memory.
	StateFile string
	Now       func() time.Time
	Logger    *slog.Logger
	// Pay configures the WeChat Pay endpoints.
	Pay PayOptions
}

// Faults are injected on WeChat and WeChat Pay endpoints (never on /sandbox/ ones), each a probability between 0
// and 1.
type Faults struct {
	Busy        float64       `envconfig:"BUSY" desc:"probability of errcode -1 (system busy)"`
	MinuteQuota float64       `envconfig:"MINUTE_QUOTA" desc:"probability of errcode 45011 (minute quota)"`
	HTTP5xx     float64       `envconfig:"HTTP_5XX" desc:"probability of an HTTP 503"`
	Drop        float64       `envconfig:"DROP" desc:"probability of a connection closed without an answer"`
	Lost        float64       `envconfig:"LOST" desc:"probability of a call carried out whose answer is lost (the connection closes without it)"`
	Slow        float64       `envconfig:"SLOW" desc:"probability of answering after SLOW_DELAY"`
	SlowDelay   time.Duration `envconfig:"SLOW_DELAY" default:"2s" desc:"how long a slow answer takes"`
}

// Sandbox is an http.Handler.
type Sandbox struct {
	opts Options
	mux  *http.ServeMux
	log  *slog.Logger

	mu          sync.Mutex
	rng         *mrand.Rand
	token       string
	tokenExpiry time.Time
	state       wechatState
	stateFile   *stateFile
	stats       Stats
	outages     map[string]time.Time // endpoint name → until: every call answers HTTP 503 (SetOutage)
	pay         *Pay
	hooks       MerchantHooks
}

// wechatState is what WeChat remembers between calls, and what StateFile keeps. It holds no name or ID number in
// clear: md5s and cert hashes, as WeChat's own answers carry.
type wechatState struct {
	Codes      map[string]loginCode   `json:"codes"`
	RiskRanks  map[string]int         `json:"riskRanks"`
	UserIDKeys map[string]*userIDKey  `json:"userIdKeys"`
	Results    map[string]*faceResult `json:"results"`
	VerifyIDs  map[string]*verifyID   `json:"verifyIds"`
	OutSeqNos  map[string]string      `json:"outSeqNos"` // out_seq_no → verify_id, unique per appid for ever
}

// Stats count calls, so tests can assert on how the client behaved.
type Stats struct {
	TokenFetches int
	Calls        map[string]int
	Faults       int
}

// New builds a sandbox; it fails only when the WeChat Pay key cannot be generated or a state file is unreadable.
func New(opts Options) (*Sandbox, error) {
	if opts.AppID == "" {
		opts.AppID = "wxsandbox00000001"
	}
	if opts.Secret == "" {
		opts.Secret = "sandbox-secret"
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 2 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	seed := opts.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	s := &Sandbox{
		opts:  opts,
		log:   opts.Logger,
		rng:   mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		stats: Stats{Calls: map[string]int{}},
		state: wechatState{Codes: map[string]loginCode{}, RiskRanks: map[string]int{}, UserIDKeys: map[string]*userIDKey{},
			Results: map[string]*faceResult{}, VerifyIDs: map[string]*verifyID{}, OutSeqNos: map[string]string{}},
	}
	var err error
	if s.stateFile, err = newStateFile(opts.StateFile, &s.mu, &s.state); err != nil {
		return nil, err
	}
	for k, v := range opts.RiskRanks {
		s.state.RiskRanks[k] = v
	}
	pay, err := newPay(opts.Pay, opts.Logger, opts.Now)
	if err != nil {
		return nil, err
	}
	s.pay = pay
	s.mux = http.NewServeMux()
	s.routeWeChat()
	s.routePay()
	s.mux.Handle("/sandbox/merchant/hooks", &s.hooks)
	return s, nil
}

// MerchantHooks is the sandbox's merchant webhook receiver, at /sandbox/merchant/hooks.
func (s *Sandbox) MerchantHooks() *MerchantHooks { return &s.hooks }

// Pay is the sandbox's WeChat Pay.
func (s *Sandbox) Pay() *Pay { return s.pay }

// AppID and Secret are what clients must be configured with.
func (s *Sandbox) AppID() string  { return s.opts.AppID }
func (s *Sandbox) Secret() string { return s.opts.Secret }

// ServeHTTP answers a call once what it changed (and everything changed before it) is on disk.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	held := &answerAfterSync{w: w, header: http.Header{}}
	s.mux.ServeHTTP(held, r)
	_ = s.stateFile.synced()
	_ = s.pay.state.synced()
	held.send()
}

// Stats returns a copy of the call counters.
func (s *Sandbox) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.stats
	c.Calls = map[string]int{}
	for k, v := range s.stats.Calls {
		c.Calls[k] = v
	}
	return c
}

// SetRiskRank presets getuserriskrank for openid.
func (s *Sandbox) SetRiskRank(openid string, rank int) {
	s.mu.Lock()
	s.state.RiskRanks[openid] = rank
	s.save("riskRanks", openid)
	s.mu.Unlock()
}

// save notes a change of the WeChat state for its state file; s.mu is held.
func (s *Sandbox) save(collection, key string) { s.stateFile.changed(collection, key) }

// Close waits for the callback attempts in flight and the state's last write; callbacks still owed stay in the
// state file, for the next start.
func (s *Sandbox) Close() {
	s.pay.close()
	_ = s.stateFile.close()
}

// wechatEndpoint wraps a WeChat endpoint with call counting and fault injection.
func (s *Sandbox) wechatEndpoint(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.stats.Calls[name]++
		f := s.opts.Faults
		roll := func(p float64) bool { return p > 0 && s.rng.Float64() < p }
		drop, fail5xx, busy, quota, slow, lost := roll(f.Drop), roll(f.HTTP5xx), roll(f.Busy), roll(f.MinuteQuota), roll(f.Slow), roll(f.Lost)
		if until, down := s.outages[name]; down && s.opts.Now().Before(until) {
			drop, fail5xx, busy, quota, slow, lost = false, true, false, false, false, false
		}
		if drop || fail5xx || busy || quota || lost {
			s.stats.Faults++
		}
		s.mu.Unlock()
		if slow {
			select {
			case <-time.After(f.SlowDelay):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case drop:
			dropConnection(w)
		case fail5xx:
			http.Error(w, "sandbox: injected server error", http.StatusServiceUnavailable)
		case busy:
			writeErr(w, -1, "system error")
		case quota:
			writeErr(w, 45011, "api minute-quota reach limit  mustslower retry next minute")
		case lost:
			// Done — a bill created, a code used — and the answer lost on its way back: only asking again tells.
			h(discardAnswer{}, r)
			dropConnection(w)
		default:
			h(w, r)
		}
	}
}

// SetOutage makes every call to one endpoint (a name of Stats.Calls, e.g. "transfer-bills") answer HTTP 503 for
// d; zero ends it. Operators see what a long WeChat Pay outage does to a payout (retries, current details).
func (s *Sandbox) SetOutage(endpoint string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outages == nil {
		s.outages = map[string]time.Time{}
	}
	if d <= 0 {
		delete(s.outages, endpoint)
		return
	}
	s.outages[endpoint] = s.opts.Now().Add(d)
}

// discardAnswer is where the answer of a call whose answer is lost goes.
type discardAnswer struct{}

func (discardAnswer) Header() http.Header         { return http.Header{} }
func (discardAnswer) Write(p []byte) (int, error) { return len(p), nil }
func (discardAnswer) WriteHeader(int)             {}

// dropConnection closes the connection without an answer, as a network failure would.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	http.Error(w, "dropped", http.StatusBadGateway)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, map[string]any{"errcode": code, "errmsg": msg})
}

// phoneFail answers a phone endpoint the caller used wrongly: 400 with wx's errMsg shape.
func phoneFail(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"errMsg": msg})
}

func ok(extra map[string]any) map[string]any {
	out := map[string]any{"errcode": 0, "errmsg": "ok"}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// decode reads a JSON body; it answers 47001 (data format error) like WeChat when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, v) != nil {
		writeErr(w, 47001, "data format error")
		return false
	}
	return true
}

func randomID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func trimLower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
