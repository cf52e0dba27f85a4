package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The console's session: the operator token buys an HttpOnly, SameSite=Strict cookie; every ops route takes it,
// a write only with the session's CSRF token from the same origin; a sign-out ends it for every process (the
// session is in the store).
func TestConsoleSession(t *testing.T) {
	e := newEnv(t, nil)
	send := func(method, path, cookie, csrf, origin string, body any) (int, []byte, http.Header) {
		var rd io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			rd = bytes.NewReader(raw)
		}
		req, _ := http.NewRequest(method, e.api.URL+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw, resp.Header
	}

	if code, _, _ := send(http.MethodPost, "/v1/console/session", "", "", "", map[string]string{"token": "wrong"}); code != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d", code)
	}
	code, raw, h := send(http.MethodPost, "/v1/console/session", "", "", "", map[string]string{"token": opToken})
	var s struct{ Operator, CSRF string }
	if err := json.Unmarshal(raw, &s); code != http.StatusCreated || err != nil || s.Operator != "op-alice" || s.CSRF == "" {
		t.Fatalf("sign-in: %d %s", code, raw)
	}
	setCookie := h.Get("Set-Cookie")
	if !strings.Contains(setCookie, "HttpOnly") || !strings.Contains(setCookie, "SameSite=Strict") {
		t.Fatalf("cookie: %s", setCookie)
	}
	cookie := strings.SplitN(setCookie, ";", 2)[0]

	if code, raw, _ := send(http.MethodGet, "/v1/ops/payers", cookie, "", "", nil); code != http.StatusOK {
		t.Fatalf("a read on the session: %d %s", code, raw)
	}
	payer := map[string]any{"name": "示例物流有限公司", "account": map[string]string{"name": "示例物流有限公司", "number": "6222020200112299887"}}
	for _, c := range []struct {
		name, csrf, origin, code string
	}{{"no CSRF token", "", "", "CSRF_REQUIRED"}, {"another session's token", "forged", "", "CSRF_REQUIRED"}, {"another origin", s.CSRF, "http://evil.example", "CROSS_ORIGIN"}} {
		if code, raw, _ := send(http.MethodPut, "/v1/ops/payers/acme", cookie, c.csrf, c.origin, payer); code != http.StatusForbidden || !strings.Contains(string(raw), c.code) {
			t.Errorf("%s: %d %s", c.name, code, raw)
		}
	}
	if _, err := e.deps.store.Payer(t.Context(), "acme"); err == nil {
		t.Fatal("a refused write created the payer")
	}
	if code, raw, _ := send(http.MethodPut, "/v1/ops/payers/acme", cookie, s.CSRF, e.api.URL, payer); code != http.StatusCreated {
		t.Fatalf("a write with the token: %d %s", code, raw)
	}
	trail, err := e.deps.store.AuditTrail(t.Context(), "payer:acme")
	if err != nil || len(trail) != 1 || trail[0].Actor != "op-alice" {
		t.Fatalf("audit: %+v %v", trail, err)
	}

	if code, raw, _ := send(http.MethodDelete, "/v1/console/session", cookie, "", "", nil); code != http.StatusForbidden {
		t.Fatalf("a sign-out without the token: %d %s", code, raw)
	}
	if code, _, _ := send(http.MethodDelete, "/v1/console/session", cookie, s.CSRF, "", nil); code != http.StatusNoContent {
		t.Fatalf("sign-out: %d", code)
	}
	// The cookie kept after the sign-out opens nothing, on this process or any other (the store says it ended).
	if code, _, _ := send(http.MethodGet, "/v1/ops/payers", cookie, "", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("a read after sign-out: %d", code)
	}
	if code, _, _ := send(http.MethodPut, "/v1/ops/payers/acme2", cookie, s.CSRF, "", payer); code != http.StatusUnauthorized {
		t.Fatalf("a write after sign-out: %d", code)
	}
	// The page itself carries a strict policy.
	if code, raw, h := send(http.MethodGet, "/console/", "", "", "", nil); code != http.StatusOK || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") ||
		!strings.Contains(string(raw), "运营控制台") {
		t.Fatalf("the page: %d %v", code, h)
	}
}
