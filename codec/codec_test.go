package codec

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/receiptflow/receiptflow/keyring"
)

func ring(t *testing.T, spec string) *keyring.Ring {
	t.Helper()
	r, err := keyring.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundTripHidesPlaintextAndRotates(t *testing.T) {
	oldSpec := keyring.Generate("p1")
	dc := DataConverter(ring(t, oldSpec))
	p, err := dc.ToPayload(map[string]string{"name": "张三", "id": "11010519491231002X"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("张三")) || bytes.Contains(p.Data, []byte("11010519491231002X")) {
		t.Fatal("payload data holds plaintext")
	}
	if string(p.Metadata[MetadataKeyID]) != "p1" || string(p.Metadata[MetadataEncoding]) != Encoding {
		t.Fatalf("metadata = %v", p.Metadata)
	}
	rotated := DataConverter(ring(t, keyring.Generate("p2")+","+oldSpec))
	var got map[string]string
	if err := rotated.FromPayload(p, &got); err != nil || got["name"] != "张三" {
		t.Fatalf("rotated ring: %v %v", got, err)
	}
}

func TestDecodeRefusesTamperingAndPassesPlainPayloads(t *testing.T) {
	c := New(ring(t, keyring.Generate("p1")))
	plain, _ := converter.GetDefaultDataConverter().ToPayload("hello")
	enc, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := c.Decode([]*commonpb.Payload{plain}); err != nil || dec[0] != plain {
		t.Fatalf("unencrypted payload not passed through: %v", err)
	}
	for name, mutate := range map[string]func(p *commonpb.Payload){
		"flipped byte": func(p *commonpb.Payload) { p.Data[len(p.Data)-1] ^= 1 },
		"truncated":    func(p *commonpb.Payload) { p.Data = p.Data[:5] },
		"empty":        func(p *commonpb.Payload) { p.Data = nil },
		"unknown key":  func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = []byte("zz") },
		"no key id":    func(p *commonpb.Payload) { delete(p.Metadata, MetadataKeyID) },
	} {
		bad := &commonpb.Payload{Metadata: map[string][]byte{}, Data: bytes.Clone(enc[0].Data)}
		for k, v := range enc[0].Metadata {
			bad.Metadata[k] = v
		}
		mutate(bad)
		if _, err := c.Decode([]*commonpb.Payload{bad}); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestHTTPHandler(t *testing.T) {
	c := New(ring(t, keyring.Generate("p1")))
	h := Handler(c, HandlerOptions{AllowOrigins: []string{"http://localhost:8233"}, Authorize: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer op" }})
	plain, _ := converter.GetDefaultDataConverter().ToPayload("张三")
	enc, _ := c.Encode([]*commonpb.Payload{plain})
	body, _ := PayloadsJSON(enc)

	req := httptest.NewRequest(http.MethodPost, "/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("no auth: %d", rec.Code)
	}

	// As the Web UI calls it: POST {endpoint}/decode?preserveStorageRefs=true with X-Namespace.
	req = httptest.NewRequest(http.MethodPost, "/decode?preserveStorageRefs=true", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	req.Header.Set("Authorization", "Bearer op")
	req.Header.Set("Origin", "http://localhost:8233")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "IuW8oOS4iSI=") { // base64 of the JSON string "张三"
		t.Fatalf("decode: %d %s", rec.Code, rec.Body.String())
	}
	if rec.Header().Get("Access-Control-Allow-Origin") != "http://localhost:8233" {
		t.Fatalf("CORS header missing: %v", rec.Header())
	}

	pre := httptest.NewRequest(http.MethodOptions, "/decode", nil)
	pre.Header.Set("Origin", "http://localhost:8233")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, pre)
	if rec.Code != http.StatusNoContent || !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
	}
	other := httptest.NewRequest(http.MethodOptions, "/decode", nil)
	other.Header.Set("Origin", "http://evil.example")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, other)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS allowed an unknown origin")
	}

	req = httptest.NewRequest(http.MethodPost, "/decode", strings.NewReader(`{"payloads":[{"metadata":{"encoding":"YmluYXJ5L2VuY3J5cHRlZA=="},"data":"AAAA"}]}`))
	req.Header.Set("Authorization", "Bearer op")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("tampered payload: %d %s", rec.Code, rec.Body.String())
	}
}
