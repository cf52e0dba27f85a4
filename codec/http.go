package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// HandlerOptions configure the codec endpoint the Temporal Web UI calls from the operator's browser.
type HandlerOptions struct {
	// AllowOrigins are the UI's origins (e.g. http://localhost:8233); CORS answers only them.
	AllowOrigins []string
	// Authorize decides whether the caller is an operator; nil refuses everyone.
	Authorize func(*http.Request) bool
	// MaxBody bounds a request (default 4 MiB).
	MaxBody int64
}

// Handler serves POST .../encode and .../decode (the SDK's remote codec protocol) behind CORS and operator auth.
func Handler(c converter.PayloadCodec, o HandlerOptions) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(c)
	if o.MaxBody <= 0 {
		o.MaxBody = 4 << 20
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(o.AllowOrigins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Authorization-Extras, X-Namespace")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if o.Authorize == nil || !o.Authorize(r) {
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "operator credentials required")
			return
		}
		// Read the whole body here so an oversized one answers 413, not the SDK handler's 400.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, o.MaxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "request body too large")
				return
			}
			writeError(w, http.StatusBadRequest, "BAD_BODY", "unreadable request body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		// The SDK's handler answers errors in plain text: keep them to the API's {code, message}.
		out := &captured{header: http.Header{}, status: http.StatusOK}
		inner.ServeHTTP(out, r)
		if out.status >= 400 {
			writeError(w, out.status, "BAD_PAYLOADS", strings.TrimSpace(out.body.String()))
			return
		}
		for k, vs := range out.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(out.status)
		_, _ = w.Write(out.body.Bytes())
	})
}

// captured is a response held back until it is known to be a success.
type captured struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captured) Header() http.Header         { return c.header }
func (c *captured) Write(b []byte) (int, error) { return c.body.Write(b) }
func (c *captured) WriteHeader(status int)      { c.status = status }

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg})
}

// PayloadsJSON is the request body of the remote codec protocol.
func PayloadsJSON(p []*commonpb.Payload) ([]byte, error) {
	return json.Marshal(commonpb.Payloads{Payloads: p})
}
