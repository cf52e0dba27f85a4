package wechat_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/wechat"
)

type fixture struct {
	sb     *sandbox.Sandbox
	srv    *httptest.Server
	client *wechat.Client
	phone  sandbox.Phone
}

func newFixture(t *testing.T, opts sandbox.Options) *fixture {
	t.Helper()
	sb, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	c, err := wechat.New(wechat.Config{BaseURL: srv.URL, AppID: sb.AppID(), Secret: sb.Secret(), Timeout: 2 * time.Second}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sb: sb, srv: srv, client: c, phone: sandbox.Phone{BaseURL: srv.URL}}
}

func TestCertHashOfficialVector(t *testing.T) {
	got := wechat.CertHash(wechat.CertTypeIdentityCard, "张三", "310101199801011234")
	if want := "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"; got != want {
		t.Fatalf("CertHash = %s, want %s", got, want)
	}
}

func TestMD5sAsWeChatComputesThem(t *testing.T) {
	// md5("11010519491231002X"), the trailing x upper-cased first.
	if wechat.IDNumberMD5("11010519491231002x") != wechat.IDNumberMD5("11010519491231002X") {
		t.Error("trailing x not upper-cased")
	}
	if got := wechat.NameMD5("张三"); got != "615db57aa314529aaa0fbe95b3e95bd3" {
		t.Errorf("NameMD5(张三) = %s", got)
	}
}

func TestLoginAndCodeErrors(t *testing.T) {
	f := newFixture(t, sandbox.Options{})
	ctx := context.Background()
	code, err := f.phone.Login(ctx, "o_alice")
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.client.Code2Session(ctx, code)
	if err != nil || s.OpenID != "o_alice" {
		t.Fatalf("Code2Session = %+v, %v", s, err)
	}
	_, err = f.client.Code2Session(ctx, code)
	if wechat.CodeOf(err) != wechat.CodeCodeUsed || wechat.ClassOf(err) != wechat.User {
		t.Fatalf("reused code: %v", err)
	}
	_, err = f.client.Code2Session(ctx, "made-up")
	if wechat.CodeOf(err) != wechat.CodeInvalidCode {
		t.Fatalf("unknown code: %v", err)
	}
}

func TestMisconfigurationIsFatalAndNeverLeaksTheSecret(t *testing.T) {
	f := newFixture(t, sandbox.Options{})
	bad, _ := wechat.New(wechat.Config{BaseURL: f.srv.URL, AppID: f.sb.AppID(), Secret: "wrong-secret-value"}, nil)
	_, err := bad.AccessToken(context.Background())
	if wechat.CodeOf(err) != wechat.CodeInvalidSecret || wechat.ClassOf(err) != wechat.Misconfigured {
		t.Fatalf("bad secret: %v", err)
	}
	_, err = bad.Code2Session(context.Background(), "x")
	if err == nil || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatalf("error leaks the secret or is nil: %v", err)
	}
	// Transport failures carry URLs with the secret in Go's errors; ours must not.
	f.srv.Close()
	_, err = bad.Code2Session(context.Background(), "x")
	if wechat.ClassOf(err) != wechat.Retryable || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatalf("network error: %v", err)
	}
}

func TestConcurrentCallersShareOneTokenFetch(t *testing.T) {
	f := newFixture(t, sandbox.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.client.GetUserIDKey(context.Background(), "张三", "310101199801011232"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := f.sb.Stats().TokenFetches; n != 1 {
		t.Fatalf("token fetched %d times, want 1", n)
	}
	if n := f.sb.Stats().Calls["getuseridkey"]; n != 100 {
		t.Fatalf("getuseridkey calls = %d", n)
	}
}

func TestTokenRefetchedOnceWhenWeChatRefusesIt(t *testing.T) {
	// Tokens die after a minute on WeChat's clock while claiming 7200 s: the next call meets 40001 and must refetch
	// and retry once. Only WeChat's clock moves; the client still believes its token.
	clock := &fakeClock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	f := newFixture(t, sandbox.Options{TokenTTL: time.Minute, Now: clock.Now})
	ctx := context.Background()
	if _, err := f.client.GetUserIDKey(ctx, "张三", "310101199801011232"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(61 * time.Second)
	if _, err := f.client.GetUserIDKey(ctx, "张三", "310101199801011232"); err != nil {
		t.Fatalf("call after token death: %v", err)
	}
	st := f.sb.Stats()
	if st.TokenFetches != 2 || st.Calls["getuseridkey"] != 3 {
		t.Fatalf("fetches %d, calls %d; want 2 fetches and 3 calls (one refused)", st.TokenFetches, st.Calls["getuseridkey"])
	}
}

func TestFaceV1(t *testing.T) {
	f := newFixture(t, sandbox.Options{})
	ctx := context.Background()
	_, err := f.client.GetUserIDKey(ctx, "", "310101199801011232")
	if wechat.CodeOf(err) != wechat.CodeNameOrIDEmpty || wechat.ClassOf(err) != wechat.Fatal {
		t.Fatalf("empty name: %v", err)
	}
	key, err := f.client.GetUserIDKey(ctx, "张三", "11010519491231002x")
	if err != nil || key.ExpiresIn != 3600 {
		t.Fatalf("GetUserIDKey = %+v, %v", key, err)
	}
	for outcome, wantRet := range map[string]int{sandbox.OutcomePass: 0, sandbox.OutcomeMismatchFace: 10004, sandbox.OutcomeMismatchID: 10003} {
		scan, err := f.phone.ScanV1(ctx, key.Key, "o_alice", outcome)
		if err != nil || scan.ErrCode != 0 || scan.VerifyResult == "" {
			t.Fatalf("scan %s: %+v %v", outcome, scan, err)
		}
		info, err := f.client.GetInfo(ctx, scan.VerifyResult)
		if err != nil {
			t.Fatal(err)
		}
		if info.IdentifyRet != wantRet || info.OpenID != "o_alice" || info.UserIDKey != key.Key {
			t.Fatalf("%s: %+v", outcome, info)
		}
		if info.IDCardNumberMD5 != wechat.IDNumberMD5("11010519491231002X") || info.NameUTF8MD5 != wechat.NameMD5("张三") {
			t.Fatalf("%s: md5s do not match the identity asked for", outcome)
		}
	}
	scan, _ := f.phone.ScanV1(ctx, key.Key, "o_alice", sandbox.OutcomeExpired)
	_, err = f.client.GetInfo(ctx, scan.VerifyResult)
	if wechat.CodeOf(err) != wechat.CodeVerifyResultExpiry || wechat.ClassOf(err) != wechat.User {
		t.Fatalf("expired result: %v", err)
	}
	_, err = f.client.GetInfo(ctx, "forged")
	if wechat.CodeOf(err) != wechat.CodeVerifyResultBad {
		t.Fatalf("forged result: %v", err)
	}
	scan, _ = f.phone.ScanV1(ctx, key.Key, "o_alice", sandbox.OutcomeCancel)
	if scan.ErrCode != 90100 || scan.VerifyResult != "" {
		t.Fatalf("cancel: %+v", scan)
	}
}

func TestFaceV2(t *testing.T) {
	f := newFixture(t, sandbox.Options{})
	ctx := context.Background()
	name, id, openid := "张三", "310101199801011232", "o_alice"
	hash := wechat.CertHash(wechat.CertTypeIdentityCard, name, id)
	if _, err := f.client.GetVerifyID(ctx, "bad!", name, id, openid); err == nil {
		t.Fatal("bad out_seq_no accepted")
	}
	v, err := f.client.GetVerifyID(ctx, "ord1F1", name, id, openid)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.client.GetVerifyID(ctx, "ord1F1", name, id, openid)
	if err != nil || again.ID != v.ID {
		t.Fatalf("same out_seq_no is not idempotent: %+v %v", again, err)
	}
	if _, err := f.client.GetVerifyID(ctx, "ord1F1", name, id, "o_bob"); err == nil {
		t.Fatal("same out_seq_no with other parameters accepted")
	}
	// Before the scan: no verdict (WeChat does not document this answer; the sandbox gives no verify_ret).
	ret, err := f.client.QueryVerifyInfo(ctx, v.ID, "ord1F1", hash, openid)
	if err != nil || ret == wechat.VerifyRetPass || wechat.IsIdentityMismatch(ret) {
		t.Fatalf("before the scan: %d %v", ret, err)
	}
	if _, err := f.phone.VerifyV2(ctx, v.ID, sandbox.OutcomePass); err != nil {
		t.Fatal(err)
	}
	ret, err = f.client.QueryVerifyInfo(ctx, v.ID, "ord1F1", hash, openid)
	if err != nil || ret != wechat.VerifyRetPass {
		t.Fatalf("pass: %d %v", ret, err)
	}
	// Asked with someone else's binding, the same verification is not a pass.
	_, err = f.client.QueryVerifyInfo(ctx, v.ID, "ord1F1", hash, "o_bob")
	if wechat.CodeOf(err) != wechat.CodeVerifyResultBad {
		t.Fatalf("other openid: %v", err)
	}
	other := wechat.CertHash(wechat.CertTypeIdentityCard, "李四", id)
	if _, err = f.client.QueryVerifyInfo(ctx, v.ID, "ord1F1", other, openid); wechat.CodeOf(err) != wechat.CodeVerifyResultBad {
		t.Fatalf("other identity: %v", err)
	}
}

func TestRiskRank(t *testing.T) {
	f := newFixture(t, sandbox.Options{RiskRanks: map[string]int{"o_risky": 3}})
	ctx := context.Background()
	for openid, want := range map[string]int{"o_risky": 3, "o_plain": 0} {
		got, err := f.client.RiskRank(ctx, openid, 0, "127.0.0.1")
		if err != nil || got != want {
			t.Fatalf("RiskRank(%s) = %d, %v", openid, got, err)
		}
	}
}

func TestInjectedFaultsAreRetryable(t *testing.T) {
	cases := map[string]sandbox.Faults{
		"busy -1":      {Busy: 1},
		"45011":        {MinuteQuota: 1},
		"HTTP 503":     {HTTP5xx: 1},
		"dropped":      {Drop: 1},
		"slow timeout": {Slow: 1, SlowDelay: time.Second},
	}
	for name, faults := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, sandbox.Options{Faults: faults})
			c, _ := wechat.New(wechat.Config{BaseURL: f.srv.URL, AppID: f.sb.AppID(), Secret: f.sb.Secret(), Timeout: 200 * time.Millisecond}, nil)
			_, err := c.GetUserIDKey(context.Background(), "张三", "310101199801011232")
			var we *wechat.Error
			if !errors.As(err, &we) || we.Class != wechat.Retryable {
				t.Fatalf("got %v, want a retryable *wechat.Error", err)
			}
		})
	}
}

func TestNewValidatesConfig(t *testing.T) {
	for _, cfg := range []wechat.Config{
		{BaseURL: "http://x", AppID: "", Secret: "s"},
		{BaseURL: "http://x", AppID: "a", Secret: ""},
		{BaseURL: "ftp://x", AppID: "a", Secret: "s"},
		{BaseURL: "::", AppID: "a", Secret: "s"},
	} {
		if _, err := wechat.New(cfg, nil); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// fakeClock is WeChat's clock in tests that need a token to die without waiting for it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
