package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// PayOptions configure the WeChat Pay half of the sandbox. Zero keys are generated at start.
type PayOptions struct {
	MchID          string
	AppID          string
	MerchantSerial string
	// MerchantPublicKey verifies the merchant's request signatures.
	MerchantPublicKey *rsa.PublicKey
	// PlatformKey signs answers and callbacks (the "WeChat Pay public key" merchants verify with is its public half).
	PlatformKey *rsa.PrivateKey
	PublicKeyID string
	APIv3Key    string
	// StateFile keeps bills across restarts (dev); empty keeps them in memory.
	StateFile string
	// CallbackClient delivers callbacks (default: a client with a 5 s timeout).
	CallbackClient *http.Client
	// CallbackRetries are the waits between a callback's attempts until it is acknowledged; after the last it
	// is given up (default: WeChat Pay's, CallbackSchedule).
	CallbackRetries []time.Duration
	// ReceiptHash is the hash_type electronic receipts are given with: SHA256 (default) or SM3, both of which
	// WeChat Pay uses.
	ReceiptHash string
	// ConfirmWindow is how long a bill waits for the payee's confirm before WeChat Pay closes it (FAIL,
	// OVERDUE_CLOSE; default 24 h, as package_info lives).
	ConfirmWindow time.Duration
}

// Pay is the sandbox's WeChat Pay: transfer bills in memory (and StateFile), really signed answers and really
// signed and encrypted callbacks.
type Pay struct {
	opts PayOptions
	log  *slog.Logger
	now  func() time.Time

	mu         sync.Mutex
	bills      map[string]*payBill
	state      *stateFile
	wg         sync.WaitGroup // slow settlements and callbacks owed
	quit       chan struct{}  // closed by Close: callbacks still owed wait in the state file for the next start
	closed     bool
	delivering map[string]bool        // bills whose owed callbacks a goroutine delivers
	closings   map[string]*time.Timer // bills waiting for the payee: their close at the end of ConfirmWindow
}

// payBill is one transfer bill. The payee's name is checked and kept in memory only: the state file never holds
// it (nor any other personal data beyond the openid).
type payBill struct {
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	AppID          string `json:"appid"`
	OpenID         string `json:"openid"`
	userName       string
	UserNameSent   bool   `json:"user_name_sent"`
	AmountFen      int64  `json:"transfer_amount"`
	Remark         string `json:"transfer_remark"`
	NotifyURL      string `json:"notify_url"`
	SceneID        string `json:"transfer_scene_id"`
	State          string `json:"state"`
	FailReason     string `json:"fail_reason,omitempty"`
	PackageInfo    string `json:"package_info,omitempty"`
	RequestHash    string `json:"request_hash"`
	CreateTime     string `json:"create_time"`
	UpdateTime     string `json:"update_time"`
	// ReceiptAppliedAt is when the merchant applied for the bill's electronic receipt (电子回单); empty: never.
	ReceiptAppliedAt string `json:"receipt_applied_at,omitempty"`
	ReceiptQueries   int    `json:"receipt_queries,omitempty"` // queries of the receipt so far (see receiptState)
	// SettlesAt is when a TRANSFERING bill (the payee confirmed, WeChat Pay is slow: accept_slow) turns SUCCESS,
	// and SettleCallback how that is called back: kept, so a restart resumes the wait instead of losing it.
	SettlesAt      string `json:"settles_at,omitempty"`
	SettleCallback string `json:"settle_callback,omitempty"`
	// CallbacksOwed are the callbacks of the final state not yet acknowledged (two for a duplicated one),
	// CallbackAt when the next attempt is due and CallbackTries the attempts that failed: kept, so a restart
	// goes on calling back where it was, as WeChat Pay does until the merchant acknowledges.
	CallbacksOwed int    `json:"callbacks_owed,omitempty"`
	CallbackAt    string `json:"callback_at,omitempty"`
	CallbackTries int    `json:"callback_tries,omitempty"`
}

// BillSnapshot is a bill as tests see it. UserName is empty after a restart (it is never written to disk).
type BillSnapshot struct {
	OutBillNo, State, FailReason, OpenID, UserName, PackageInfo string
	UserNameSent                                                bool
	AmountFen                                                   int64
}

func newPay(o PayOptions, log *slog.Logger, now func() time.Time) (*Pay, error) {
	if o.MchID == "" {
		o.MchID = "1900000109"
	}
	if o.PublicKeyID == "" {
		o.PublicKeyID = "PUB_KEY_ID_0119000001092026112300000000"
	}
	if o.PlatformKey == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		o.PlatformKey = k
	}
	if o.APIv3Key == "" {
		o.APIv3Key = randomID("", 16) // 32 hex characters
	}
	if o.CallbackClient == nil {
		o.CallbackClient = &http.Client{Timeout: 5 * time.Second}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.CallbackRetries == nil {
		o.CallbackRetries = CallbackSchedule
	}
	if o.ConfirmWindow <= 0 {
		o.ConfirmWindow = 24 * time.Hour
	}
	p := &Pay{opts: o, log: log, now: now, bills: map[string]*payBill{}, quit: make(chan struct{}), delivering: map[string]bool{},
		closings: map[string]*time.Timer{}}
	var err error
	if p.state, err = newStateFile(o.StateFile, &p.mu, &p.bills); err != nil {
		return nil, err
	}
	p.mu.Lock()
	for _, b := range p.bills {
		p.resumeSettlement(b) // a slow confirm a restart interrupted goes on where it was
		p.callBack(b)         // and so do the callbacks it still owes
		p.closeWhenOverdue(b) // and the close of a bill nobody confirms
	}
	p.mu.Unlock()
	return p, nil
}

// MchID, PublicKeyID, APIv3Key and PublicKeyPEM are what a merchant client must be configured with.
func (p *Pay) MchID() string       { return p.opts.MchID }
func (p *Pay) PublicKeyID() string { return p.opts.PublicKeyID }
func (p *Pay) APIv3Key() string    { return p.opts.APIv3Key }

// PublicKeyPEM is the WeChat Pay public key (PKIX PEM).
func (p *Pay) PublicKeyPEM() string {
	der, _ := x509.MarshalPKIXPublicKey(&p.opts.PlatformKey.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Bill returns a bill's state.
func (p *Pay) Bill(outBillNo string) (BillSnapshot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.bills[outBillNo]
	if !ok {
		return BillSnapshot{}, false
	}
	return b.snapshot(), true
}

func (b *payBill) snapshot() BillSnapshot {
	return BillSnapshot{OutBillNo: b.OutBillNo, State: b.State, FailReason: b.FailReason, OpenID: b.OpenID, UserName: b.userName,
		UserNameSent: b.UserNameSent, PackageInfo: b.PackageInfo, AmountFen: b.AmountFen}
}

// ReadBills reads the bills a sandbox keeps in path (PayOptions.StateFile), as a restart would find them — for
// checks made from outside its process. Names are never on disk: UserName is empty.
func ReadBills(path string) (map[string]BillSnapshot, error) {
	var bills map[string]*payBill
	if err := readState(path, &bills); err != nil {
		return nil, err
	}
	out := make(map[string]BillSnapshot, len(bills))
	for no, b := range bills {
		out[no] = b.snapshot()
	}
	return out, nil
}

// Bills counts the bills the sandbox holds.
func (p *Pay) Bills() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.bills)
}

// Wait waits until every callback owed has been acknowledged or given up, and every slow confirm has settled.
func (p *Pay) Wait() { p.wg.Wait() }

// close abandons the callbacks still owed (they stay in the state file, for the next start) and waits for the
// attempts in flight and the state's last write.
func (p *Pay) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.quit)
		for _, t := range p.closings {
			t.Stop() // kept in the bill (its create time): the next start schedules it again
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
	_ = p.state.close()
}

// save notes a change of the bills for the state file; p.mu is held.
func (p *Pay) save(outBillNo string) { p.state.changed("", outBillNo) }

func (s *Sandbox) routePay() {
	p := s.pay
	s.mux.HandleFunc("POST /v3/fund-app/mch-transfer/transfer-bills", s.payEndpoint("transfer-bills", p.create))
	s.mux.HandleFunc("GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no}", s.payEndpoint("transfer-bills.query", p.query))
	s.mux.HandleFunc("POST /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no}/cancel", s.payEndpoint("transfer-bills.cancel", p.cancel))
	s.mux.HandleFunc("POST /sandbox/pay/confirm", p.phoneConfirm)
	s.mux.HandleFunc("POST /sandbox/pay/expire", p.expire)
	s.mux.HandleFunc("POST /sandbox/pay/tamper", p.tamper)
	s.mux.HandleFunc("POST /v3/fund-app/mch-transfer/elecsign/out-bill-no", s.payEndpoint("elecsign.apply", p.applyReceipt))
	s.mux.HandleFunc("GET /v3/fund-app/mch-transfer/elecsign/out-bill-no/{no}", s.payEndpoint("elecsign.query", p.queryReceipt))
	s.mux.HandleFunc("GET /v3/transferdownload/signfile", s.payEndpoint("elecsign.download", p.downloadReceipt))
	s.mux.HandleFunc("GET /v3/bill/fundflowbill", s.payEndpoint("fundflowbill", p.applyFundFlow))
	s.mux.HandleFunc("GET /v3/billdownload/file", s.payEndpoint("billdownload", p.downloadBill))
	s.mux.HandleFunc("POST /sandbox/pay/phantom", p.phantom)
}

// payEndpoint checks the merchant's signature and injects the configured faults in WeChat Pay's own shapes.
func (s *Sandbox) payEndpoint(name string, h func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return s.wechatEndpoint(name, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			s.pay.fail(w, http.StatusBadRequest, "PARAM_ERROR", "unreadable body")
			return
		}
		if err := s.pay.verifyRequest(r, body); err != nil {
			s.pay.fail(w, http.StatusUnauthorized, "SIGN_ERROR", err.Error())
			return
		}
		h(w, r, body)
	})
}

var authPattern = regexp.MustCompile(`(\w+)="([^"]*)"`)

// verifyRequest checks Authorization: WECHATPAY2-SHA256-RSA2048 mchid,nonce_str,timestamp,serial_no,signature
// over METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n with the merchant's public key.
func (p *Pay) verifyRequest(r *http.Request, body []byte) error {
	scheme, params, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || scheme != "WECHATPAY2-SHA256-RSA2048" {
		return errors.New("missing or unknown Authorization scheme")
	}
	f := map[string]string{}
	for _, m := range authPattern.FindAllStringSubmatch(params, -1) {
		f[m[1]] = m[2]
	}
	if f["mchid"] != p.opts.MchID {
		return errors.New("mchid does not match")
	}
	if p.opts.MerchantSerial != "" && f["serial_no"] != p.opts.MerchantSerial {
		return errors.New("serial_no does not match the merchant certificate")
	}
	ts, err := strconv.ParseInt(f["timestamp"], 10, 64)
	if err != nil || absDuration(p.now().Sub(time.Unix(ts, 0))) > 5*time.Minute {
		return errors.New("timestamp expired")
	}
	if p.opts.MerchantPublicKey == nil {
		return errors.New("sandbox has no merchant public key")
	}
	msg := r.Method + "\n" + r.URL.RequestURI() + "\n" + f["timestamp"] + "\n" + f["nonce_str"] + "\n" + string(body) + "\n"
	sig, err := base64.StdEncoding.DecodeString(f["signature"])
	if err != nil {
		return errors.New("signature is not base64")
	}
	sum := sha256.Sum256([]byte(msg))
	if rsa.VerifyPKCS1v15(p.opts.MerchantPublicKey, crypto.SHA256, sum[:], sig) != nil {
		return errors.New("signature does not verify")
	}
	return nil
}

// respond writes a JSON answer signed like WeChat Pay's.
func (p *Pay) respond(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	for k, vs := range p.signedHeaders(body, p.now()) {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (p *Pay) fail(w http.ResponseWriter, status int, code, msg string) {
	p.respond(w, status, map[string]string{"code": code, "message": msg})
}

// signedHeaders are WeChat Pay's signature headers over timestamp, nonce and body.
func (p *Pay) signedHeaders(body []byte, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	nonce := randomID("", 16)
	sig, _ := utils.SignSHA256WithRSA(ts+"\n"+nonce+"\n"+string(body)+"\n", p.opts.PlatformKey)
	h := http.Header{}
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Serial", p.opts.PublicKeyID)
	h.Set("Request-Id", randomID("req-", 8))
	return h
}

var billNoPattern = regexp.MustCompile(`^[0-9A-Za-z]{1,32}$`)

type reportInfo struct {
	InfoType    string `json:"info_type"`
	InfoContent string `json:"info_content"`
}

func (p *Pay) create(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		AppID           string       `json:"appid"`
		OutBillNo       string       `json:"out_bill_no"`
		TransferSceneID string       `json:"transfer_scene_id"`
		OpenID          string       `json:"openid"`
		UserName        string       `json:"user_name"`
		TransferAmount  int64        `json:"transfer_amount"`
		TransferRemark  string       `json:"transfer_remark"`
		NotifyURL       string       `json:"notify_url"`
		ReportInfos     []reportInfo `json:"transfer_scene_report_infos"`
	}
	if json.Unmarshal(body, &req) != nil {
		p.fail(w, http.StatusBadRequest, "PARAM_ERROR", "body is not JSON")
		return
	}
	switch {
	case p.opts.AppID != "" && req.AppID != p.opts.AppID:
		p.fail(w, http.StatusBadRequest, "PARAM_ERROR", "appid is not bound to this merchant")
		return
	case !billNoPattern.MatchString(req.OutBillNo):
		p.fail(w, http.StatusBadRequest, "PARAM_ERROR", "out_bill_no must be 1-32 letters or digits")
		return
	case req.OpenID == "" || req.TransferAmount < 10 || req.NotifyURL == "" || len([]rune(req.TransferRemark)) > 32:
		p.fail(w, http.StatusBadRequest, "PARAM_ERROR", "openid, transfer_amount ≥ 10, notify_url and a transfer_remark ≤ 32 are required")
		return
	case req.TransferSceneID == "1005" && !hasReports(req.ReportInfos, "岗位类型", "报酬说明"):
		p.fail(w, http.StatusBadRequest, "PARAM_ERROR", "需传入转账场景报备信息，请检查")
		return
	}
	var userName string
	if req.UserName != "" {
		plain, err := utils.DecryptOAEP(req.UserName, p.opts.PlatformKey)
		if err != nil || r.Header.Get("Wechatpay-Serial") != p.opts.PublicKeyID {
			p.fail(w, http.StatusBadRequest, "PARAM_ERROR", "user_name is not encrypted with the WeChat Pay public key")
			return
		}
		userName = plain
	}
	if req.TransferAmount >= 200000 && userName == "" {
		p.fail(w, http.StatusBadRequest, "PARAM_ERROR", "转账金额>=2000元时，必须传入收款用户姓名")
		return
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d|%s|%s", req.AppID, req.OpenID, req.TransferAmount, userName, req.TransferRemark)))
	hash := base64.StdEncoding.EncodeToString(sum[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.bills[req.OutBillNo]; ok {
		if b.RequestHash != hash {
			p.fail(w, http.StatusBadRequest, "INVALID_REQUEST", "单号已存在但信息不一致，请查单后比较确认")
			return
		}
		p.respond(w, http.StatusOK, createAnswer(b))
		return
	}
	now := p.now().In(beijing).Format(time.RFC3339)
	b := &payBill{OutBillNo: req.OutBillNo, TransferBillNo: randomID("1330000", 10), AppID: req.AppID, OpenID: req.OpenID,
		userName: userName, UserNameSent: userName != "", AmountFen: req.TransferAmount, Remark: req.TransferRemark, NotifyURL: req.NotifyURL,
		SceneID: req.TransferSceneID, State: "WAIT_USER_CONFIRM", PackageInfo: "sandbox_pkg_" + randomID("", 16), RequestHash: hash,
		CreateTime: now, UpdateTime: now}
	p.bills[b.OutBillNo] = b
	p.save(b.OutBillNo)
	p.closeWhenOverdue(b)
	p.respond(w, http.StatusOK, createAnswer(b))
}

func hasReports(infos []reportInfo, want ...string) bool {
	have := map[string]bool{}
	for _, i := range infos {
		if i.InfoContent != "" {
			have[i.InfoType] = true
		}
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

func createAnswer(b *payBill) map[string]any {
	out := map[string]any{"out_bill_no": b.OutBillNo, "transfer_bill_no": b.TransferBillNo, "create_time": b.CreateTime, "state": b.State}
	if b.State == "WAIT_USER_CONFIRM" {
		out["package_info"] = b.PackageInfo
	}
	if b.FailReason != "" {
		out["fail_reason"] = b.FailReason
	}
	return out
}

// pathBill is the bill named in the path, or a 404 like WeChat Pay's; p.mu is held.
func (p *Pay) pathBill(w http.ResponseWriter, r *http.Request) (*payBill, bool) {
	b, ok := p.bills[r.PathValue("no")]
	if !ok {
		p.fail(w, http.StatusNotFound, "NOT_FOUND", "记录不存在")
	}
	return b, ok
}

// query answers a bill without package_info, like WeChat Pay's query.
func (p *Pay) query(w http.ResponseWriter, r *http.Request, _ []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.pathBill(w, r)
	if !ok {
		return
	}
	out := map[string]any{"mch_id": p.opts.MchID, "out_bill_no": b.OutBillNo, "transfer_bill_no": b.TransferBillNo, "appid": b.AppID,
		"state": b.State, "transfer_amount": b.AmountFen, "transfer_remark": b.Remark, "openid": b.OpenID,
		"create_time": b.CreateTime, "update_time": b.UpdateTime}
	if b.FailReason != "" {
		out["fail_reason"] = b.FailReason
	}
	p.respond(w, http.StatusOK, out)
}

func (p *Pay) cancel(w http.ResponseWriter, r *http.Request, _ []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.pathBill(w, r)
	if !ok {
		return
	}
	if b.State != "WAIT_USER_CONFIRM" && b.State != "ACCEPTED" {
		p.fail(w, http.StatusBadRequest, "INVALID_REQUEST", "单据状态为"+b.State+"，不支持撤销")
		return
	}
	// WeChat Pay answers CANCELING and finishes the cancel a moment later; the sandbox finishes it at once and
	// calls back, so a query right after sees CANCELLED.
	p.finish(b, "CANCELLED", "MCH_CANCEL", callbackNormal)
	p.respond(w, http.StatusOK, map[string]any{"out_bill_no": b.OutBillNo, "transfer_bill_no": b.TransferBillNo, "state": "CANCELING", "update_time": b.UpdateTime})
}

var beijing = time.FixedZone("CST", 8*60*60)

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
