package api

import (
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// requireJSON refuses a request body that is not JSON (415). A cross-site HTML form or a text/plain fetch — the
// requests a browser sends to another origin without asking first — can never reach a handler this way. A POST
// without a body (and without a Content-Type) is fine: nothing is smuggled in it.
func requireJSON(c *gin.Context) {
	r := c.Request
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
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

// allowHosts refuses requests whose Host header names none of hosts (421): a page on another site whose name was
// made to resolve to this machine (DNS rebinding) is refused, whatever it sends. Empty hosts allows every Host.
func allowHosts(hosts []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if len(hosts) > 0 && !slices.Contains(hosts, strings.ToLower(c.Request.Host)) {
			abort(c, problem(http.StatusMisdirectedRequest, "UNKNOWN_HOST", "this server does not answer for host "+c.Request.Host))
			return
		}
		c.Next()
	}
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

func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}
