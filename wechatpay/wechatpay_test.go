package wechatpay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/wechatpay"
)

var (
	keysOnce              sync.Once
	merchantKey, otherKey *rsa.PrivateKey
)

func keys(t *testing.T) {
	keysOnce.Do(func() {
		merchantKey, _ = rsa.GenerateKey(rand.Reader, 2048)
		otherKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	})
}

func pemOf(k *rsa.PrivateKey) string {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

type world struct {
	pay    *sandbox.Pay
	srv    *httptest.Server
	cfg    wechatpay.Config
	client *wechatpay.Client
}

func newWorld(t *testing.T, notifyURL string) *world {
	t.Helper()
	return newWorldWith(t, notifyURL, nil)
}

func newWorldWith(t *testing.T, notifyURL string, configure func(*sandbox.PayOptions)) *world {
	t.Helper()
	keys(t)
	opts := sandbox.PayOptions{AppID: "wxapp", MerchantSerial: "SERIAL1", MerchantPublicKey: &merchantKey.PublicKey}
	if configure != nil {
		configure(&opts)
	}
	sb, err := sandbox.New(sandbox.Options{Pay: opts})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	t.Cleanup(sb.Close) // callbacks owed to unreachable notify URLs are abandoned, not waited for
	cfg := wechatpay.Config{BaseURL: srv.URL, MchID: sb.Pay().MchID(), AppID: "wxapp", MerchantSerial: "SERIAL1", MerchantKey: pemOf(merchantKey),
		PublicKeyID: sb.Pay().PublicKeyID(), PublicKey: sb.Pay().PublicKeyPEM(), APIv3Key: sb.Pay().APIv3Key(), NotifyURL: notifyURL,
		SceneID: "1005", PostType: "骑手", RewardNote: "配送费", Remark: "劳务报酬", Timeout: 5 * time.Second}
	c, err := wechatpay.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &world{pay: sb.Pay(), srv: srv, cfg: cfg, client: c}
}

func TestCreateQueryCancel(t *testing.T) {
	w := newWorld(t, "http://127.0.0.1:1/never")
	ctx := context.Background()
	b, err := w.client.Create(ctx, wechatpay.BillRequest{OutBillNo: "ord1T1", OpenID: "o_a", AmountFen: 300000, UserName: "王五"})
	if err != nil || b.State != wechatpay.StateWaitUserConfirm || b.PackageInfo == "" || b.TransferBillNo == "" {
		t.Fatalf("create: %+v %v", b, err)
	}
	if got, _ := w.pay.Bill("ord1T1"); got.UserName != "王五" || got.AmountFen != 300000 {
		t.Fatalf("WeChat Pay received %+v", got)
	}
	again, err := w.client.Create(ctx, wechatpay.BillRequest{OutBillNo: "ord1T1", OpenID: "o_a", AmountFen: 300000, UserName: "王五"})
	if err != nil || again.TransferBillNo != b.TransferBillNo {
		t.Fatalf("same bill again: %+v %v", again, err)
	}
	// 「单号已存在但信息不一致」: INVALID_REQUEST, which does not say whether a bill exists — only a query does.
	if _, err := w.client.Create(ctx, wechatpay.BillRequest{OutBillNo: "ord1T1", OpenID: "o_a", AmountFen: 300001, UserName: "王五"}); !errors.Is(err, wechatpay.ErrInvalidRequest) || errors.Is(err, wechatpay.ErrRejected) {
		t.Fatalf("same out_bill_no, other amount: %v", err)
	}
	q, found, err := w.client.Query(ctx, "ord1T1")
	if err != nil || !found || q.State != wechatpay.StateWaitUserConfirm || q.AmountFen != 300000 {
		t.Fatalf("query: %+v %v %v", q, found, err)
	}
	if _, found, err := w.client.Query(ctx, "nosuchbill1"); err != nil || found {
		t.Fatalf("unknown bill: %v %v", found, err)
	}
	c, err := w.client.Cancel(ctx, "ord1T1")
	if err != nil || c.State != wechatpay.StateCanceling {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	if _, err := w.client.Cancel(ctx, "ord1T1"); !errors.Is(err, wechatpay.ErrInvalidRequest) {
		t.Fatalf("cancelling a cancelled bill: %v", err)
	}
}

func TestRequestsAreCheckedBeforeLeaving(t *testing.T) {
	w := newWorld(t, "http://127.0.0.1:1/never")
	ctx := context.Background()
	for _, r := range []wechatpay.BillRequest{
		{OutBillNo: "bad-no!", OpenID: "o", AmountFen: 100},
		{OutBillNo: "ord2T1", OpenID: "o", AmountFen: 9},
		{OutBillNo: "ord2T1", OpenID: "o", AmountFen: 200000}, // 2,000 元 without the name
	} {
		if _, err := w.client.Create(ctx, r); !errors.Is(err, wechatpay.ErrRejected) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if w.pay.Bills() != 0 {
		t.Fatal("a refused request reached WeChat Pay")
	}
}

func TestWrongKeysAreMisconfigurationAndForgedAnswersAreRefused(t *testing.T) {
	w := newWorld(t, "http://127.0.0.1:1/never")
	ctx := context.Background()
	bad := w.cfg
	bad.MerchantKey = pemOf(otherKey) // signs with a key WeChat Pay does not know
	c, err := wechatpay.New(ctx, bad, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, wechatpay.BillRequest{OutBillNo: "ord3T1", OpenID: "o", AmountFen: 100}); !errors.Is(err, wechatpay.ErrMisconfigured) {
		t.Fatalf("unknown merchant key: %v", err)
	}
	// Answers signed by someone else than WeChat Pay's key are not believed.
	forged := w.cfg
	der, _ := x509.MarshalPKIXPublicKey(&otherKey.PublicKey)
	forged.PublicKey = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	c, _ = wechatpay.New(ctx, forged, nil)
	if _, err := c.Create(ctx, wechatpay.BillRequest{OutBillNo: "ord4T1", OpenID: "o", AmountFen: 100}); err == nil || errors.Is(err, wechatpay.ErrRejected) {
		t.Fatalf("answer signed by another key: %v", err)
	}
	for _, cfg := range []wechatpay.Config{{}, func() wechatpay.Config { x := w.cfg; x.APIv3Key = "short"; return x }(),
		func() wechatpay.Config { x := w.cfg; x.MerchantKey = "not a key"; return x }()} {
		if _, err := wechatpay.New(ctx, cfg, nil); err == nil {
			t.Errorf("New accepted %+v", cfg.MchID)
		}
	}
}

func TestNotificationsAreVerifiedAndDecrypted(t *testing.T) {
	w := newWorld(t, "http://127.0.0.1:1/never")
	resource := map[string]any{"mch_id": w.pay.MchID(), "out_bill_no": "ord5T1", "transfer_bill_no": "t1", "state": "SUCCESS", "transfer_amount": 100, "openid": "o_a"}
	parse := func(n sandbox.SignedNotification) (wechatpay.Notification, error) {
		req := httptest.NewRequest(http.MethodPost, "/cb", bytes.NewReader(n.Body))
		for k, v := range n.Header {
			req.Header[k] = v
		}
		return w.client.ParseNotification(context.Background(), req)
	}
	good, _ := w.pay.Notification(resource, time.Now())
	n, err := parse(good)
	if err != nil || n.EventType != wechatpay.EventTransferFinished || n.Bill.OutBillNo != "ord5T1" || n.Bill.AmountFen != 100 || n.Bill.State != "SUCCESS" {
		t.Fatalf("genuine: %+v %v", n, err)
	}
	stale, _ := w.pay.Notification(resource, time.Now().Add(-6*time.Minute))
	tampered, _ := w.pay.Notification(resource, time.Now())
	tampered.Body = bytes.Replace(tampered.Body, []byte("MCHTRANSFER"), []byte("MCHTRANSFEX"), 1)
	unsigned, _ := w.pay.Notification(resource, time.Now())
	unsigned.Header.Del("Wechatpay-Signature")
	for name, n := range map[string]sandbox.SignedNotification{"stale": stale, "tampered": tampered, "unsigned": unsigned} {
		if _, err := parse(n); !errors.Is(err, wechatpay.ErrBadNotification) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParseNotification: whatever arrives at the callback URL, the parser never panics and believes nothing it
// cannot verify; a genuine callback, signed and encrypted by WeChat Pay, still parses.
func FuzzParseNotification(f *testing.F) {
	for _, s := range []string{``, `{`, `null`, `[]`, `{"resource":null}`, `{"resource":{"ciphertext":"%%%","nonce":"","associated_data":""}}`,
		`{"id":"EV-1","event_type":"MCHTRANSFER.BILL.FINISHED","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"AAAA","nonce":"123456789012","associated_data":"mch_payment"}}`} {
		f.Add([]byte(s), "1700000000", "nonce", "c2lnbmF0dXJl")
	}
	f.Fuzz(func(t *testing.T, body []byte, ts, nonce, sig string) {
		w := fuzzWorld(t)
		req := httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range map[string]string{"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": sig, "Wechatpay-Serial": w.pay.PublicKeyID()} {
			if !strings.ContainsAny(v, "\x00\r\n") {
				req.Header.Set(k, v)
			}
		}
		if _, err := w.client.ParseNotification(context.Background(), req); !errors.Is(err, wechatpay.ErrBadNotification) {
			t.Fatalf("an unsigned callback was believed (%v): %q", err, body)
		}
	})
}

var (
	fuzzWorldOnce sync.Once
	fuzzShared    *world
)

func fuzzWorld(t *testing.T) *world {
	fuzzWorldOnce.Do(func() { fuzzShared = newWorld(t, "https://example.com/notify") })
	return fuzzShared
}

// The sandbox decrypts user_name to check it was sent, but its state file never holds it.
func TestSandboxKeepsNoNameOnDisk(t *testing.T) {
	keys(t)
	state := filepath.Join(t.TempDir(), "sandbox-wechatpay.json")
	sb, err := sandbox.New(sandbox.Options{Pay: sandbox.PayOptions{AppID: "wxapp", MerchantSerial: "SERIAL1", MerchantPublicKey: &merchantKey.PublicKey, StateFile: state}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	defer srv.Close()
	cfg := wechatpay.Config{BaseURL: srv.URL, MchID: sb.Pay().MchID(), AppID: "wxapp", MerchantSerial: "SERIAL1", MerchantKey: pemOf(merchantKey),
		PublicKeyID: sb.Pay().PublicKeyID(), PublicKey: sb.Pay().PublicKeyPEM(), APIv3Key: sb.Pay().APIv3Key(), NotifyURL: "https://example.com/n",
		SceneID: "1005", PostType: "骑手", RewardNote: "配送费", Remark: "劳务报酬", Timeout: 5 * time.Second}
	c, err := wechatpay.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), wechatpay.BillRequest{OutBillNo: "ord1T1", OpenID: "o_a", AmountFen: 300000, UserName: "欧阳娜娜"}); err != nil {
		t.Fatal(err)
	}
	sb.Close()
	// Everything the sandbox keeps of WeChat Pay: its snapshot and the journal beside it.
	files, _ := filepath.Glob(state + "*")
	var raw []byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	if !strings.Contains(string(raw), "ord1T1") {
		t.Fatalf("state files %v: %s", files, raw)
	}
	if strings.Contains(string(raw), "欧阳娜娜") {
		t.Fatalf("the state file holds the name in clear: %s", raw)
	}
	if b, _ := sb.Pay().Bill("ord1T1"); b.UserName != "欧阳娜娜" || !b.UserNameSent {
		t.Fatalf("the name was not checked: %+v", b)
	}
}

// A paid bill's electronic receipt: applied for, generating, then (the sandbox's next query) finished with a hash;
// the file downloaded is checked against it; a bill that was not paid has none.
func TestElectronicReceipt(t *testing.T) {
	for _, hashType := range []string{"SHA256", "SM3"} {
		t.Run(hashType, func(t *testing.T) { testElectronicReceipt(t, hashType) })
	}
}

func testElectronicReceipt(t *testing.T, hashType string) {
	w := newWorldWith(t, "http://127.0.0.1:1/never", func(o *sandbox.PayOptions) { o.ReceiptHash = hashType })
	c, cfg := w.client, w.cfg
	ctx := context.Background()
	b, err := c.Create(ctx, wechatpay.BillRequest{OutBillNo: "ord2T1", OpenID: "o_a", AmountFen: 300000, UserName: "王五"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplyReceipt(ctx, "ord2T1"); !errors.Is(err, wechatpay.ErrInvalidRequest) {
		t.Fatalf("a receipt before the bill is paid: %v", err)
	}
	res, err := (sandbox.Phone{BaseURL: w.srv.URL}).ConfirmTransfer(ctx, sandbox.TransferConfirm{MchID: cfg.MchID, AppID: "wxapp", Package: b.PackageInfo}, sandbox.PayAccept, "", "none")
	if err != nil || !res.OK() {
		t.Fatalf("confirm: %+v %v", res, err)
	}
	if _, found, err := c.QueryReceipt(ctx, "ord2T1"); err != nil || found {
		t.Fatalf("query before applying: found=%v %v", found, err)
	}
	r, err := c.ApplyReceipt(ctx, "ord2T1")
	if err != nil || r.State != wechatpay.ReceiptGenerating {
		t.Fatalf("apply: %+v %v", r, err)
	}
	if r, found, err := c.QueryReceipt(ctx, "ord2T1"); err != nil || !found || r.State != wechatpay.ReceiptGenerating || r.DownloadURL != "" {
		t.Fatalf("query while generating: %+v %v %v", r, found, err)
	}
	r, found, err := c.QueryReceipt(ctx, "ord2T1")
	if err != nil || !found || r.State != wechatpay.ReceiptFinished || r.HashType != hashType || r.HashValue == "" || !strings.HasPrefix(r.DownloadURL, "https://api.mch.weixin.qq.com/v3/") {
		t.Fatalf("query when finished: %+v %v %v", r, found, err)
	}
	file, err := c.DownloadReceipt(ctx, r)
	if err != nil || !bytes.HasPrefix(file, []byte("%PDF-1.4")) || !bytes.Contains(file, []byte("out_bill_no: ord2T1")) || !bytes.Contains(file, []byte("3000.00 CNY")) {
		t.Fatalf("download: %v %q", err, file)
	}
	forged := r
	forged.HashValue = strings.Repeat("0", 64)
	if _, err := c.DownloadReceipt(ctx, forged); !errors.Is(err, wechatpay.ErrReceiptHash) {
		t.Fatalf("a file that does not match its hash: %v", err)
	}
	weak := r
	weak.HashType = "MD5"
	if _, err := c.DownloadReceipt(ctx, weak); !errors.Is(err, wechatpay.ErrRejected) {
		t.Fatalf("a hash type WeChat Pay does not use: %v", err)
	}
}

// The fund-flow bill's text table: backquoted cells, the summary at the end, amounts in 元 read exactly.
func TestFundFlowBill(t *testing.T) {
	w := newWorld(t, "http://127.0.0.1:1/never")
	ctx := context.Background()
	b, err := w.client.Create(ctx, wechatpay.BillRequest{OutBillNo: "ord3T1", OpenID: "o_a", AmountFen: 123456, UserName: "王五"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := (sandbox.Phone{BaseURL: w.srv.URL}).ConfirmTransfer(ctx, sandbox.TransferConfirm{MchID: w.cfg.MchID, AppID: "wxapp", Package: b.PackageInfo}, sandbox.PayAccept, "", "none"); err != nil || !res.OK() {
		t.Fatalf("confirm: %+v %v", res, err)
	}
	day := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	rows, err := w.client.FundFlow(ctx, day)
	if err != nil || len(rows) != 1 || rows[0].OutBillNo != "ord3T1" || rows[0].AmountFen != 123456 || rows[0].Business != "商家转账" || rows[0].Direction != "支出" || rows[0].TransferBillNo != b.TransferBillNo {
		t.Fatalf("fund flow: %+v %v", rows, err)
	}
	if rows, err := w.client.FundFlow(ctx, "2020-01-01"); err != nil || len(rows) != 0 {
		t.Fatalf("a day without transfers: %+v %v", rows, err)
	}
}
