package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The specification's own example (standard-webhooks/spec/standard-webhooks.md, "Signature scheme", and the
// reference libraries' tests): this secret, ID, timestamp and body sign as this.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheSpecificationsExample(t *testing.T) {
	got, err := Sign([]string{specSecret}, specID, specTimestamp, []byte(specBody))
	if err != nil || got != specSignature {
		t.Fatalf("Sign = %q, %v; want %q", got, err, specSignature)
	}
	if !Verify(specSecret, specID, specTimestamp, []byte(specBody), specSignature) {
		t.Fatal("the example does not verify")
	}
	for name, bad := range map[string]func() bool{
		"another body": func() bool {
			return Verify(specSecret, specID, specTimestamp, []byte(`{"test": 2432232315}`), specSignature)
		},
		"another timestamp": func() bool { return Verify(specSecret, specID, specTimestamp+1, []byte(specBody), specSignature) },
		"another id":        func() bool { return Verify(specSecret, "msg_other", specTimestamp, []byte(specBody), specSignature) },
		"another secret":    func() bool { return Verify(NewSecret(), specID, specTimestamp, []byte(specBody), specSignature) },
		"a v2 signature": func() bool {
			return Verify(specSecret, specID, specTimestamp, []byte(specBody), "v2,"+specSignature[3:])
		},
	} {
		if bad() {
			t.Errorf("%s verifies", name)
		}
	}
}

// During a rotation both secrets sign, in one header: a receiver on either secret verifies.
func TestBothSecretsSignDuringARotation(t *testing.T) {
	next := NewSecret()
	header, err := Sign([]string{next, specSecret}, specID, specTimestamp, []byte(specBody))
	if err != nil || len(strings.Fields(header)) != 2 || !strings.HasSuffix(header, " "+specSignature) {
		t.Fatalf("%q %v", header, err)
	}
	for _, s := range []string{next, specSecret} {
		if !Verify(s, specID, specTimestamp, []byte(specBody), header) {
			t.Errorf("%s does not verify the rotation's header", s)
		}
	}
	if _, err := Sign([]string{"whsec_not base64!"}, specID, specTimestamp, nil); err == nil {
		t.Error("a broken secret signed")
	}
}

func TestNewSecretsAre32RandomBytes(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	k, err := key(a)
	if err != nil || len(k) != 32 || a == b || !strings.HasPrefix(a, "whsec_") {
		t.Fatalf("%q %q %v", a, b, err)
	}
}

func TestPolicyRefusesOurOwnNetwork(t *testing.T) {
	ctx := context.Background()
	prod, dev := Policy{}, Policy{AllowLoopback: true}
	for _, raw := range []string{"http://example.com/hooks", "https://127.0.0.1/hooks", "https://localhost/hooks", "https://10.0.0.7/h",
		"https://192.168.1.1/h", "https://169.254.169.254/latest/meta-data", "https://[::1]/h", "https://[fd00::1]/h", "https://100.64.0.1/h",
		"https://0.0.0.0/h", "https://user:pw@93.184.215.14/h", "ftp://93.184.215.14/h", "/relative"} {
		if err := prod.CheckURL(ctx, raw); !errors.Is(err, ErrRefused) {
			t.Errorf("production accepted %s (%v)", raw, err)
		}
	}
	if err := prod.CheckURL(ctx, "https://93.184.215.14/hooks"); err != nil {
		t.Errorf("a public address: %v", err)
	}
	if err := dev.CheckURL(ctx, "http://127.0.0.1:8080/sandbox/merchant/hooks"); err != nil {
		t.Errorf("dev, the loopback: %v", err)
	}
	if err := dev.CheckURL(ctx, "http://10.0.0.7/h"); err == nil {
		t.Error("dev accepted a private address")
	}
}

// The check is made again on the address dialled: a receiver on the loopback is refused in production however its
// URL was let in.
func TestSenderDialsOnlyWhatThePolicyAllows(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header; w.WriteHeader(204) }))
	defer srv.Close()
	m := Message{URL: srv.URL, ID: "evt_1", Body: []byte(`{}`), Secrets: []string{specSecret}}
	if a := NewSender(Policy{}, time.Second).Send(context.Background(), m, time.Unix(specTimestamp, 0)); a.Delivered() || !errors.Is(a.Err, ErrRefused) {
		t.Fatalf("production sent to the loopback: %+v", a)
	}
	a := NewSender(Policy{AllowLoopback: true}, time.Second).Send(context.Background(), m, time.Unix(specTimestamp, 0))
	if !a.Delivered() || got.Get("webhook-id") != "evt_1" || got.Get("webhook-timestamp") != "1614265330" ||
		!Verify(specSecret, "evt_1", specTimestamp, []byte(`{}`), got.Get("webhook-signature")) {
		t.Fatalf("%+v %v", a, got)
	}
}
