package api

import (
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// requireJSON refuses a request body that is not JSON (415). A cross-site HTML form or a text/plain fetch — the
// requests a browser sends to another origin without asking first — can never reach a handler this way. A POST
// without a body (and without a Content-Type) is fine: nothing is smuggled in it.
func requireJSON(c *gin.Context) {
	r := c.Request
	if safeMethod(r.Method) {
		c.Next()
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		c.Next()
		return
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		abort(c, problem(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "request bodies must be JSON (Content-Type: application/json)"))
		return
	}
	c.Next()
}

// safeMethod: GET, HEAD and OPTIONS change nothing; every other method is a write.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// allowHosts refuses requests whose Host header names none of hosts (421): a page on another site whose name was
// made to resolve to this machine (DNS rebinding) is refused, whatever it sends. Empty hosts allows every Host.
func allowHosts(hosts []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !knownHost(hosts, c.Request.Host) {
			abort(c, unknownHost(c.Request.Host))
			return
		}
		c.Next()
	}
}

// HostDoor is allowHosts for the plain net/http servers beside the API (dev's simulator, the Web UI's gate).
func HostDoor(hosts []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !knownHost(hosts, r.Host) {
			WriteProblem(w, unknownHost(r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func knownHost(hosts []string, host string) bool {
	return len(hosts) == 0 || slices.Contains(hosts, strings.ToLower(host))
}

func unknownHost(host string) *Problem {
	return problem(http.StatusMisdirectedRequest, "UNKNOWN_HOST", "this server does not answer for host "+host)
}

// SameOrigin says whether a request came from the server's own pages: its Origin names this Host or, without an
// Origin, the browser's Sec-Fetch-Site does not say otherwise (a script's request has neither).
func SameOrigin(r *http.Request) bool {
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	site := r.Header.Get("Sec-Fetch-Site")
	return site == "" || site == "same-origin"
}

// WriteProblem answers p as {code, message} on a plain net/http server.
func WriteProblem(w http.ResponseWriter, p *Problem) {
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// LocalHosts are the Host values a server bound to a loopback (or any) address on port answers in development:
// 127.0.0.1, localhost and [::1] with that port, plus host itself when it is another name.
func LocalHosts(host, port string) []string {
	out := []string{net.JoinHostPort("127.0.0.1", port), net.JoinHostPort("localhost", port), net.JoinHostPort("::1", port)}
	if h := net.JoinHostPort(strings.ToLower(host), port); !slices.Contains(out, h) && host != "" && host != "0.0.0.0" && host != "::" {
		out = append(out, h)
	}
	return out
}
