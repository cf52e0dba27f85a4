package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// UIGateOptions configure the door in front of the Temporal Web UI.
type UIGateOptions struct {
	// UI is the Web UI itself (a reverse proxy to it); only signed-in operators reach it.
	UI http.Handler
	// Codec is the API's codec endpoint (…/codec). The UI decodes payloads through the gate's own
	// /_receiptflow/codec, which forwards there with the signed-in operator's token: the operator's browser never
	// holds the token, and the codec answers no one without one.
	Codec *url.URL
	// Operators are the tokens operators sign in with.
	Operators Operators
	// Hosts are the Host names (host:port, lower case) the gate answers; anything else is 421 (against DNS
	// rebinding). Empty: any.
	Hosts []string
	// Secure marks the session cookie Secure (__Host- prefixed): set it whenever the gate is reached over HTTPS.
	Secure bool
	// SessionTTL is how long a sign-in lasts (default 8h).
	SessionTTL time.Duration
	// SignInFailures bounds refused tokens per client IP (default DefaultLimits.OperatorFailuresPerIP).
	SignInFailures Limit
	Logger         *slog.Logger
}

// UIGatePrefix is where the gate's own pages live, beside the UI's.
const UIGatePrefix = "/_receiptflow/"

// NewUIGate returns the door in front of the Temporal Web UI: operators sign in with their token (exchanged for
// an HttpOnly, SameSite=Strict session cookie kept in this process), the UI's payload codec calls are forwarded
// to the API with that token, and writes from another origin are refused before the UI sees them.
func NewUIGate(o UIGateOptions) http.Handler {
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.SignInFailures == (Limit{}) {
		o.SignInFailures = DefaultLimits.OperatorFailuresPerIP
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	g := &uiGate{opts: o, sessions: map[string]gateSession{}, failures: newBuckets(o.SignInFailures), cookie: "receiptflow_ui"}
	if o.Secure {
		g.cookie = "__Host-receiptflow_ui"
	}
	codec := *o.Codec
	g.codec = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.Out.URL = codec.JoinPath(strings.TrimPrefix(r.In.URL.Path, UIGatePrefix+"codec"))
		r.Out.Host = codec.Host
		r.Out.Header.Del("Cookie")
		r.Out.Header.Del("Origin") // a server-to-server call, not the browser's
		r.Out.Header.Set("Authorization", "Bearer "+r.In.Context().Value(gateTokenKey{}).(string))
	}}
	return HostDoor(o.Hosts, g)
}

type uiGate struct {
	opts     UIGateOptions
	codec    http.Handler
	cookie   string
	failures *buckets

	mu       sync.Mutex
	sessions map[string]gateSession // sha256(cookie) → session
}

type gateSession struct {
	operator string
	token    string
	expires  time.Time
}

type gateTokenKey struct{}

func (g *uiGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !safeMethod(r.Method) && !SameOrigin(r) {
		WriteProblem(w, ErrCrossOrigin)
		return
	}
	switch r.URL.Path {
	case UIGatePrefix + "sign-in":
		if r.Method == http.MethodPost {
			g.signIn(w, r)
		} else {
			g.signInPage(w, r, http.StatusOK, "")
		}
		return
	case UIGatePrefix + "sign-out":
		g.signOut(w, r)
		return
	}
	s, ok := g.session(r)
	if !ok {
		if safeMethod(r.Method) && !strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasPrefix(r.URL.Path, UIGatePrefix) {
			http.Redirect(w, r, UIGatePrefix+"sign-in?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		WriteProblem(w, problem(http.StatusUnauthorized, "UNAUTHENTICATED", "sign in first: "+UIGatePrefix+"sign-in"))
		return
	}
	if strings.HasPrefix(r.URL.Path, UIGatePrefix+"codec/") {
		g.codec.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), gateTokenKey{}, s.token)))
		return
	}
	g.opts.UI.ServeHTTP(w, r)
}

func (g *uiGate) session(r *http.Request) (gateSession, bool) {
	c, err := r.Cookie(g.cookie)
	if err != nil {
		return gateSession{}, false
	}
	key := sessionKey(c.Value)
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.sessions[key]
	if ok && time.Now().After(s.expires) {
		delete(g.sessions, key)
		return gateSession{}, false
	}
	return s, ok
}

func sessionKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (g *uiGate) signIn(w http.ResponseWriter, r *http.Request) {
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ok, wait := g.failures.left(ip); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		g.signInPage(w, r, http.StatusTooManyRequests, "尝试次数过多，请稍后再试（RATE_LIMITED）")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	operator, ok := g.opts.Operators.identifyToken(token)
	if !ok {
		g.failures.take(ip)
		g.opts.Logger.Warn("ui.sign-in refused", "ip", ip)
		g.signInPage(w, r, http.StatusUnauthorized, "令牌无效（UNAUTHENTICATED）")
		return
	}
	cookie := randomToken()
	now := time.Now()
	g.mu.Lock()
	for k, s := range g.sessions {
		if now.After(s.expires) {
			delete(g.sessions, k)
		}
	}
	g.sessions[sessionKey(cookie)] = gateSession{operator: operator, token: token, expires: now.Add(g.opts.SessionTTL)}
	g.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: g.cookie, Value: cookie, Path: "/", MaxAge: int(g.opts.SessionTTL.Seconds()),
		HttpOnly: true, Secure: g.opts.Secure, SameSite: http.SameSiteStrictMode})
	g.opts.Logger.Info("ui.sign-in", "operator", operator, "ip", ip)
	http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
}

func (g *uiGate) signOut(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "sign out with POST", http.StatusMethodNotAllowed)
		return
	}
	if c, err := r.Cookie(g.cookie); err == nil {
		g.mu.Lock()
		s := g.sessions[sessionKey(c.Value)]
		delete(g.sessions, sessionKey(c.Value))
		g.mu.Unlock()
		g.opts.Logger.Info("ui.sign-out", "operator", s.operator)
	}
	http.SetCookie(w, &http.Cookie{Name: g.cookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: g.opts.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, UIGatePrefix+"sign-in", http.StatusSeeOther)
}

// localPath keeps a redirect on this server: a path, never "//host" or a scheme.
func localPath(next string) string {
	// Browsers drop tabs and newlines from a URL and read a backslash as "/": "/<tab>/evil.example" is "//evil.example".
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\t\r\n") {
		return "/"
	}
	return next
}

const gateStyle = `body{font:16px system-ui,sans-serif;max-width:26rem;margin:12vh auto;padding:0 1rem;color:#1f2933}` +
	`input,button{font:inherit;padding:.5rem;width:100%;box-sizing:border-box;margin:.4rem 0}` +
	`button{background:#07c160;color:#fff;border:0;border-radius:4px}.err{color:#c62828}`

var (
	gatePage = template.Must(template.New("sign-in").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>登录 Temporal Web UI · receiptflow</title><style>` + gateStyle + `</style></head>
<body><h1>运营登录</h1><p>Temporal Web UI（receiptflow）：请输入运营令牌（operator token）。</p>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}"><label for="token">运营令牌</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">登录</button></form></body></html>`))
	gateStyleHash = func() string {
		sum := sha256.Sum256([]byte(gateStyle))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}()
)

func (g *uiGate) signInPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	action := UIGatePrefix + "sign-in"
	if next := r.URL.Query().Get("next"); next != "" {
		action += "?next=" + url.QueryEscape(localPath(next))
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src "+gateStyleHash+"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // not no-referrer: with it a browser posts the form with Origin: null
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = gatePage.Execute(w, struct{ Action, Error string }{action, msg})
}
