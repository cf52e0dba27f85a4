package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A burst of guessed login codes meets 429 with Retry-After after the limit's burst; another address is not
// held back by it, and neither is a real payee's own login.
func TestABurstOfBadLoginsMeets429(t *testing.T) {
	sessions, _ := NewSessions([]byte("0123456789abcdef0123456789abcdef"), 0)
	r, err := New(Deps{Temporal: stubTemporal{}, Store: stubStore{}, Login: fuzzLogin{}, Sessions: sessions, Proofs: testProofs()})
	if err != nil {
		t.Fatal(err)
	}
	login := func(addr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/session", strings.NewReader(`{"code":"0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = addr + ":40000"
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}
	statuses := map[int]int{}
	var last *httptest.ResponseRecorder
	for range 120 {
		last = login("203.0.113.7")
		statuses[last.Code]++
	}
	if statuses[http.StatusBadRequest] != DefaultLimits.LoginFailuresPerIP.Burst || statuses[http.StatusTooManyRequests] != 120-DefaultLimits.LoginFailuresPerIP.Burst {
		t.Fatalf("120 bad logins: %v", statuses)
	}
	var body Problem
	_ = json.Unmarshal(last.Body.Bytes(), &body)
	if wait, _ := strconv.Atoi(last.Header().Get("Retry-After")); body.Code != "RATE_LIMITED" || wait < 1 || wait > 10 {
		t.Fatalf("429: %s, Retry-After %q", last.Body, last.Header().Get("Retry-After"))
	}
	if rec := login("198.51.100.9"); rec.Code != http.StatusBadRequest {
		t.Fatalf("another address: %d", rec.Code)
	}
}

// Buckets: the burst at once, then one per refill; a face credential, which costs WeChat quota, ten an hour.
func TestBuckets(t *testing.T) {
	b := newBuckets(DefaultLimits.FaceSessionsPerPayee)
	for i := range 10 {
		if ok, _ := b.take("o_payee"); !ok {
			t.Fatalf("call %d refused", i+1)
		}
	}
	ok, wait := b.take("o_payee")
	if ok || wait < 5*time.Minute || wait > 6*time.Minute+time.Second {
		t.Fatalf("the 11th face credential within the hour: ok=%v, wait %v (want about 6 minutes)", ok, wait)
	}
	if ok, _ := b.take("o_other"); !ok {
		t.Fatal("another payee shares the bucket")
	}
	if ok, _ := b.left("o_other"); !ok {
		t.Fatal("left spent a call")
	}
}
