package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func call(t *testing.T, h http.Handler, path string, body any) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(body)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(raw))))
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
	}
	return out
}

// What the sandbox answered survives a kill -9 right after the answer — a payee's accept of a bill, a login
// code — because the answer waits for the state to be on disk. The files are read as a new process would, with
// nothing flushed or closed (a killed process does neither).
func TestAnAnswerIsOnDiskBeforeItIsSent(t *testing.T) {
	dir := t.TempDir()
	payFile, wechatFile := filepath.Join(dir, "pay.json"), filepath.Join(dir, "wechat.json")
	s, err := New(Options{StateFile: wechatFile, Pay: PayOptions{StateFile: payFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := s.Pay()
	p.mu.Lock()
	p.bills["ord1T1"] = &payBill{OutBillNo: "ord1T1", State: "WAIT_USER_CONFIRM", AmountFen: 150000, PackageInfo: "pkg1"}
	p.mu.Unlock()

	answer := call(t, s, "/sandbox/pay/confirm", map[string]string{"mchId": p.MchID(), "package": "pkg1", "action": PayAccept, "callback": callbackNone})
	if answer["state"] != "SUCCESS" {
		t.Fatalf("confirm: %v", answer)
	}
	again, err := newPay(PayOptions{StateFile: payFile}, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if got, ok := again.Bill("ord1T1"); !ok || got.State != "SUCCESS" || got.AmountFen != 150000 {
		t.Fatalf("the accepted bill after the kill: %+v %v", got, ok)
	}

	login := call(t, s, "/sandbox/wx/login", map[string]string{"openid": "o_payee"})
	raw, err := os.ReadFile(wechatFile)
	if err != nil {
		t.Fatal(err)
	}
	var kept wechatState
	if err := json.Unmarshal(raw, &kept); err != nil {
		t.Fatal(err)
	}
	if code, _ := login["code"].(string); kept.Codes[code].OpenID != "o_payee" {
		t.Fatalf("the login code %q after the kill: %+v", code, kept.Codes)
	}
}

// A slow confirm a restart interrupts still settles, from its file.
func TestASlowConfirmSettlesAfterARestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pay.json")
	p, err := newPay(PayOptions{StateFile: file}, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	b := &payBill{OutBillNo: "ord2T1", State: "WAIT_USER_CONFIRM", AmountFen: 150000}
	p.bills[b.OutBillNo] = b
	b.SettlesAt, b.SettleCallback = time.Now().Add(50*time.Millisecond).Format(time.RFC3339Nano), callbackNone
	p.finish(b, "TRANSFERING", "", callbackNone)
	p.mu.Unlock()
	_ = p.state.synced()
	p.close() // the kill: its timer is abandoned with it (close waits for it, so the test cannot race it)

	again, err := newPay(PayOptions{StateFile: file}, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	// The settled bill is written by the state's own writer after Wait returns: close waits for that write, or
	// the test's directory would be removed under it.
	defer again.close()
	again.Wait()
	if got, _ := again.Bill("ord2T1"); got.State != "SUCCESS" {
		t.Fatalf("the slow confirm did not settle after the restart: %+v", got)
	}
}

// owed is what b still owes, as kept.
func (p *Pay) owed(outBillNo string) payBill {
	p.mu.Lock()
	defer p.mu.Unlock()
	return *p.bills[outBillNo]
}

// WeChat Pay calls back until the merchant acknowledges, on its schedule, and a restart goes on where it was: the
// merchant is down for the first attempt at a duplicated callback, the sandbox is killed before the retry, and the
// next sandbox delivers both copies when the retry is due. A merchant that never acknowledges is given up after
// the schedule's last retry.
func TestCallbacksAreOwedUntilAcknowledged(t *testing.T) {
	var delivered, refused atomic.Int64
	var up atomic.Bool
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/never" || !up.Load() {
			refused.Add(1)
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer merchant.Close()
	file := filepath.Join(t.TempDir(), "pay.json")
	retries := []time.Duration{300 * time.Millisecond, 10 * time.Millisecond}
	p, err := newPay(PayOptions{StateFile: file, CallbackRetries: retries}, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.bills["ord3T1"] = &payBill{OutBillNo: "ord3T1", State: "WAIT_USER_CONFIRM", AmountFen: 150000, NotifyURL: merchant.URL + "/cb"}
	p.finish(p.bills["ord3T1"], "SUCCESS", "", callbackDuplicate)
	p.mu.Unlock()
	for deadline := time.Now().Add(2 * time.Second); p.owed("ord3T1").CallbackTries != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the first attempt was not made: %+v", p.owed("ord3T1"))
		}
	}
	p.close() // killed before the retry is due
	if n := refused.Load(); n != 2 {
		t.Fatalf("the first attempt: %d callbacks refused, want both copies", n)
	}

	up.Store(true)
	again, err := newPay(PayOptions{StateFile: file, CallbackRetries: retries}, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	again.Wait()
	if n, owed := delivered.Load(), again.owed("ord3T1").CallbacksOwed; n != 2 || owed != 0 {
		t.Fatalf("after the restart: %d callbacks delivered (want the 2 owed), %d still owed", n, owed)
	}

	refused.Store(0)
	again.mu.Lock()
	again.bills["ord4T1"] = &payBill{OutBillNo: "ord4T1", State: "WAIT_USER_CONFIRM", AmountFen: 150000, NotifyURL: merchant.URL + "/never"}
	again.finish(again.bills["ord4T1"], "FAIL", "ACCOUNT_FROZEN", callbackNormal)
	again.mu.Unlock()
	again.Wait()
	if n, owed := refused.Load(), again.owed("ord4T1").CallbacksOwed; n != int64(1+len(retries)) || owed != 0 {
		t.Fatalf("a merchant that never acknowledges: %d attempts (want %d), %d still owed", n, 1+len(retries), owed)
	}
	again.close()
}
