package api

import (
	"context"
	"crypto/subtle"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/receiptflow/receiptflow/store"
)

// ConsoleSessions keeps the operator console's sign-ins (in the store, so that every API process knows them).
type ConsoleSessions interface {
	StartConsoleSession(ctx context.Context, cookie string, s store.ConsoleSession) error
	ConsoleSessionOf(ctx context.Context, cookie string) (store.ConsoleSession, error)
	EndConsoleSession(ctx context.Context, cookie string) error
}

// ConsoleOptions serve the operator console at /console/: its files, where sign-ins are kept, whether the cookie
// is Secure (__Host- prefixed: whenever the API is reached over HTTPS) and how long a sign-in lasts.
type ConsoleOptions struct {
	Files    fs.FS
	Sessions ConsoleSessions
	Secure   bool
	TTL      time.Duration
	// WebUI is the Temporal Web UI's address as operators reach it, for links to runs ("" : no links).
	WebUI string
}

// consoleCSP lets the console's page run its own files and talk to this server only.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (h *handlers) consoleCookie() string {
	if h.Console.Secure {
		return "__Host-receiptflow_console"
	}
	return "receiptflow_console"
}

// consoleRoutes serve the page and its session: sign in with the operator token (POST), read the session back
// after a reload (GET), sign out (DELETE).
func (h *handlers) consoleRoutes(r *gin.Engine, v1 *gin.RouterGroup, lim *limiters) {
	files := http.StripPrefix("/console/", http.FileServerFS(h.Console.Files))
	r.GET("/console", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/console/") })
	r.GET("/console/*file", func(c *gin.Context) {
		hd := c.Writer.Header()
		hd.Set("Content-Security-Policy", consoleCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		files.ServeHTTP(c.Writer, c.Request)
	})
	s := v1.Group("/console/session")
	s.POST("", limitFailures(lim.operatorFailures, "operator sign-ins", byIP, http.StatusUnauthorized), h.consoleSignIn)
	s.GET("", h.consoleSession)
	s.DELETE("", h.consoleSignOut)
}

func (h *handlers) consoleSignIn(c *gin.Context) {
	if !SameOrigin(c.Request) {
		abort(c, ErrCrossOrigin)
		return
	}
	var req struct {
		Token string `json:"token"`
	}
	if !bind(c, &req) {
		return
	}
	operator, ok := h.Operators.identifyToken(strings.TrimSpace(req.Token))
	if !ok {
		abort(c, problem(http.StatusUnauthorized, "UNAUTHENTICATED", "令牌无效 (the operator token is not known)"))
		return
	}
	cookie, csrf := randomToken(), randomToken()
	ttl := h.Console.TTL
	if ttl <= 0 {
		ttl = 8 * time.Hour
	}
	cs := store.ConsoleSession{Operator: operator, CSRF: csrf, Expires: time.Now().Add(ttl).UTC()}
	if err := h.Console.Sessions.StartConsoleSession(c.Request.Context(), cookie, cs); err != nil {
		abort(c, fromError(err))
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: h.consoleCookie(), Value: cookie, Path: "/", MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: h.Console.Secure, SameSite: http.SameSiteStrictMode})
	c.JSON(http.StatusCreated, consoleSessionBody(cs, h.Console.WebUI))
}

func consoleSessionBody(cs store.ConsoleSession, webUI string) gin.H {
	return gin.H{"operator": cs.Operator, "csrf": cs.CSRF, "expiresAt": cs.Expires, "webUI": webUI}
}

func (h *handlers) consoleSession(c *gin.Context) {
	cs, _, ok := h.consoleSessionOf(c)
	if !ok {
		abort(c, errConsoleSignedOut)
		return
	}
	c.JSON(http.StatusOK, consoleSessionBody(cs, h.Console.WebUI))
}

func (h *handlers) consoleSignOut(c *gin.Context) {
	cs, cookie, ok := h.consoleSessionOf(c)
	if !ok {
		abort(c, errConsoleSignedOut)
		return
	}
	if p := consoleWriteRefused(c, cs); p != nil {
		abort(c, p)
		return
	}
	if err := h.Console.Sessions.EndConsoleSession(c.Request.Context(), cookie); err != nil {
		abort(c, fromError(err))
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: h.consoleCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: h.Console.Secure, SameSite: http.SameSiteStrictMode})
	c.Status(http.StatusNoContent)
}

var errConsoleSignedOut = problem(http.StatusUnauthorized, "UNAUTHENTICATED", "请登录 (sign in to the console first)")

// consoleSessionOf is the live console session the request's cookie names.
func (h *handlers) consoleSessionOf(c *gin.Context) (store.ConsoleSession, string, bool) {
	if h.Console.Sessions == nil {
		return store.ConsoleSession{}, "", false
	}
	ck, err := c.Request.Cookie(h.consoleCookie())
	if err != nil || ck.Value == "" {
		return store.ConsoleSession{}, "", false
	}
	cs, err := h.Console.Sessions.ConsoleSessionOf(c.Request.Context(), ck.Value)
	return cs, ck.Value, err == nil
}

// consoleWriteRefused: a write on a console session must come from the console's own page — same origin, and
// carrying the session's CSRF token (X-CSRF-Token), which a page on another site cannot read.
func consoleWriteRefused(c *gin.Context, cs store.ConsoleSession) *Problem {
	if safeMethod(c.Request.Method) {
		return nil
	}
	if !SameOrigin(c.Request) {
		return ErrCrossOrigin
	}
	if got := c.GetHeader("X-CSRF-Token"); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(cs.CSRF)) != 1 {
		return problem(http.StatusForbidden, "CSRF_REQUIRED", "a console write carries its session's X-CSRF-Token")
	}
	return nil
}
