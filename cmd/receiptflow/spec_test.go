package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The spec is the contract: every answer the end-to-end tests get from /v1/ is checked against api/openapi.yaml —
// its path and method, its status among the listed ones, its headers and body against their schemas. A handler
// answering a status the spec does not list fails the test that saw it.

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func loadSpec() (routers.Router, error) {
	specOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromFile("../../api/openapi.yaml")
		if err != nil {
			specErr = err
			return
		}
		// Match paths on any host the tests serve from.
		doc.Servers = openapi3.Servers{{URL: "/"}}
		openapi3filter.RegisterBodyDecoder("application/pdf", openapi3filter.FileBodyDecoder)
		openapi3filter.RegisterBodyDecoder("text/csv", openapi3filter.FileBodyDecoder)
		openapi3filter.RegisterBodyDecoder("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", openapi3filter.FileBodyDecoder)
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	return specRouter, specErr
}

// specChecked wraps the API so each /v1/ answer is validated against the spec; what does not match fails t.
func specChecked(t testing.TB, next http.Handler) http.Handler {
	router, err := loadSpec()
	if err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for problem := range seen {
			t.Errorf("an answer the spec does not describe: %s", problem)
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recordingWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if problem := checkAnswer(router, r, rec); problem != "" {
			mu.Lock()
			seen[problem] = true
			mu.Unlock()
		}
	})
}

func checkAnswer(router routers.Router, r *http.Request, rec *recordingWriter) string {
	req := r.Clone(context.Background())
	req.Host = ""
	route, params, err := router.FindRoute(req)
	if err != nil {
		// A path or method the spec does not have must be one the API does not serve either (that the router's
		// routes and the spec's are the same is api's TestOpenAPIMatchesTheRouter).
		if rec.status == http.StatusNotFound || rec.status == http.StatusMethodNotAllowed {
			return ""
		}
		return fmt.Sprintf("%s %s → %d: %v", r.Method, r.URL.Path, rec.status, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: rec.status, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		return fmt.Sprintf("%s %s → %d: %v", r.Method, route.Path, rec.status, firstLines(err.Error(), 6))
	}
	return ""
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, " | ")
}

// recordingWriter passes an answer through and keeps a copy.
type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	wrote  bool
}

func (w *recordingWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.wrote = true
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
