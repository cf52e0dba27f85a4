package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// The Temporal Web UI behind the gate: only a signed-in operator reaches it, its codec calls reach the API with
// that operator's token (and no cookie), and foreign hosts, other origins and signed-out sessions are refused.
func TestUIGate(t *testing.T) {
	var mu sync.Mutex
	var uiHits []string
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		uiHits = append(uiHits, r.Method+" "+r.URL.Path)
		mu.Unlock()
		_, _ = w.Write([]byte("the UI"))
	})
	var codecAuth, codecCookie, codecPath string
	codecSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		codecAuth, codecCookie, codecPath = r.Header.Get("Authorization"), r.Header.Get("Cookie"), r.URL.Path
		_, _ = w.Write([]byte(`{"payloads":[]}`))
	}))
	defer codecSrv.Close()
	codecURL, _ := url.Parse(codecSrv.URL + "/codec")
	const token = "operator-token-0123456789"
	gate := httptest.NewServer(nil)
	defer gate.Close()
	host := strings.TrimPrefix(gate.URL, "http://")
	gate.Config.Handler = NewUIGate(UIGateOptions{UI: ui, Codec: codecURL, Hosts: []string{host},
		Operators: NewOperators(map[string]string{token: "op-alice"}), SignInFailures: Limit{Burst: 3, PerHour: 1}})

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, body string, header map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, gate.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range header {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res
	}
	own := map[string]string{"Origin": gate.URL}

	if res := do("GET", "/namespaces/default/workflows", "", nil); res.StatusCode != http.StatusSeeOther ||
		res.Header.Get("Location") != UIGatePrefix+"sign-in?next="+url.QueryEscape("/namespaces/default/workflows") {
		t.Fatalf("signed out, the UI page answered %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := do("GET", "/api/v1/namespaces", "", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("signed out, the UI's API answered %d", res.StatusCode)
	}
	if res := do("POST", UIGatePrefix+"codec/decode", `{}`, own); res.StatusCode != http.StatusUnauthorized || codecAuth != "" {
		t.Fatalf("signed out, the codec answered %d (codec saw %q)", res.StatusCode, codecAuth)
	}
	page := do("GET", UIGatePrefix+"sign-in", "", nil)
	if csp := page.Header.Get("Content-Security-Policy"); page.StatusCode != http.StatusOK || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("sign-in page %d with CSP %q", page.StatusCode, csp)
	}

	if res := do("POST", UIGatePrefix+"sign-in", "token="+token, map[string]string{"Origin": "http://evil.example"}); res.StatusCode != http.StatusForbidden || len(res.Cookies()) != 0 {
		t.Fatalf("a sign-in from another origin answered %d with %v", res.StatusCode, res.Cookies())
	}
	if res := do("GET", "/", "", map[string]string{"Host": "rebound.example:" + strings.Split(host, ":")[1]}); res.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("a foreign Host answered %d", res.StatusCode)
	}

	res := do("POST", UIGatePrefix+"sign-in?next=//evil.example/x", "token="+token, own)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("sign-in answered %d → %q (a redirect must stay on the gate)", res.StatusCode, res.Header.Get("Location"))
	}
	cookies := res.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].MaxAge <= 0 {
		t.Fatalf("session cookie %+v", cookies)
	}
	signedIn := map[string]string{"Cookie": cookies[0].Name + "=" + cookies[0].Value, "Origin": gate.URL}

	if res := do("GET", "/namespaces/default/workflows", "", signedIn); res.StatusCode != http.StatusOK {
		t.Fatalf("signed in, the UI answered %d", res.StatusCode)
	}
	if res := do("POST", UIGatePrefix+"codec/decode", `{}`, signedIn); res.StatusCode != http.StatusOK {
		t.Fatalf("signed in, the codec answered %d", res.StatusCode)
	}
	if codecAuth != "Bearer "+token || codecCookie != "" || codecPath != "/codec/decode" {
		t.Fatalf("the API's codec saw Authorization %q, Cookie %q at %q", codecAuth, codecCookie, codecPath)
	}
	crossSite := map[string]string{"Cookie": signedIn["Cookie"], "Origin": "http://evil.example"}
	before := len(uiHits)
	if res := do("POST", "/api/v1/namespaces/default/workflows/o1/cancel", `{}`, crossSite); res.StatusCode != http.StatusForbidden || len(uiHits) != before {
		t.Fatalf("a cross-origin write with the session answered %d and reached the UI: %v", res.StatusCode, uiHits[before:])
	}

	if res := do("POST", UIGatePrefix+"sign-out", "", signedIn); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out answered %d", res.StatusCode)
	}
	if res := do("GET", "/", "", signedIn); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out the old cookie still opens the UI (%d)", res.StatusCode)
	}

	for i := range 3 {
		if res := do("POST", UIGatePrefix+"sign-in", "token=guess", own); res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
			t.Fatalf("guess %d answered %d with %v", i, res.StatusCode, res.Cookies())
		}
	}
	if res := do("POST", UIGatePrefix+"sign-in", "token="+token, own); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("after 3 refused tokens a sign-in answered %d (Retry-After %q)", res.StatusCode, res.Header.Get("Retry-After"))
	}
}

// A redirect after sign-in stays on the gate, whatever next says.
func TestUIGateRedirectsOnlyToItsOwnPaths(t *testing.T) {
	for next, want := range map[string]string{
		"/namespaces/default/workflows?query=x": "/namespaces/default/workflows?query=x",
		"//evil.example/x":                      "/",
		"/\t/evil.example":                      "/",
		"/\\evil.example":                       "/",
		"https://evil.example":                  "/",
		"":                                      "/",
	} {
		if got := localPath(next); got != want {
			t.Errorf("localPath(%q) = %q, want %q", next, got, want)
		}
	}
}
