package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	var kept wechatState
	if err := readState(wechatFile, &kept); err != nil {
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

// journalled is a state shaped like the sandbox's: a struct of maps.
type journalled struct {
	Items map[string]*journalItem `json:"items"`
	Names map[string]string       `json:"names"`
}

type journalItem struct {
	N     int    `json:"n"`
	State string `json:"state"`
}

// The state file keeps what changed, entry by entry: a restart finds every change, removals included, whether it
// is still in the journal or the snapshot was written again since (the journal grew past it), and after a crash
// between writing the snapshot and emptying the journal; a last line torn by a crash is dropped, a torn line
// before others is an error.
func TestTheStateFileKeepsEveryChangeAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	var mu sync.Mutex
	v := journalled{Items: map[string]*journalItem{}, Names: map[string]string{}}
	f, err := newStateFile(path, &mu, &v)
	if err != nil {
		t.Fatal(err)
	}
	change := func(fn func()) {
		mu.Lock()
		fn()
		mu.Unlock()
		if err := f.synced(); err != nil {
			t.Fatal(err)
		}
	}
	reload := func() journalled {
		var got journalled
		if err := readState(path, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	change(func() { v.Items["a"] = &journalItem{N: 1, State: "WAIT"}; f.changed("items", "a") })
	change(func() { v.Names["o1"] = "x"; f.changed("names", "o1") })
	change(func() { v.Items["a"].State = "SUCCESS"; f.changed("items", "a") })
	change(func() { v.Items["gone"] = &journalItem{N: 2}; f.changed("items", "gone") })
	change(func() { delete(v.Items, "gone"); f.changed("items", "gone") })
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the snapshot was written for a small journal: %v", err)
	}
	if got := reload(); got.Items["a"].State != "SUCCESS" || got.Names["o1"] != "x" || got.Items["gone"] != nil || len(got.Items) != 1 {
		t.Fatalf("from the journal: %+v", got)
	}

	// Enough changes for the journal to outgrow the snapshot: the snapshot is written and the journal emptied (it
	// never grows past the snapshot, or minSnapshot).
	for i := range 2000 {
		change(func() { k := fmt.Sprintf("k%04d", i); v.Items[k] = &journalItem{N: i}; f.changed("items", k) })
	}
	snapshot, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no snapshot after %d changes: %v", 2000, err)
	}
	if fi, _ := os.Stat(path + ".journal"); fi.Size() > max(int64(len(snapshot)), minSnapshot) {
		t.Fatalf("journal %d bytes beside a snapshot of %d", fi.Size(), len(snapshot))
	}
	change(func() { v.Items["a"].State = "FAIL"; f.changed("items", "a") })
	got := reload()
	if len(got.Items) != 2001 || got.Items["k1999"].N != 1999 || got.Items["a"].State != "FAIL" {
		t.Fatalf("after the snapshot: %d items, a=%+v", len(got.Items), got.Items["a"])
	}
	if err := f.close(); err != nil {
		t.Fatal(err)
	}

	// A crash after the snapshot was renamed into place, before its journal was emptied: every journalled entry is
	// in the snapshot already.
	journal, _ := os.ReadFile(path + ".journal")
	full, _ := json.Marshal(v)
	if err := os.WriteFile(path, full, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := reload(); got.Items["a"].State != "FAIL" || len(got.Items) != 2001 {
		t.Fatalf("snapshot and the journal it holds: %d items, a=%+v", len(got.Items), got.Items["a"])
	}

	// A line a crash cut short (no newline yet: its answer was never sent) is dropped, and the next start writes
	// its changes after the lines before it; a damaged line before others is an error.
	torn := append(append([]byte{}, journal...), []byte(`{"c":"items","k":"b","v":{"n":`)...)
	if err := os.WriteFile(path+".journal", torn, 0o600); err != nil {
		t.Fatal(err)
	}
	var next journalled
	restarted, err := newStateFile(path, &mu, &next)
	if err != nil {
		t.Fatal(err)
	}
	if next.Items["b"] != nil || next.Items["a"].State != "FAIL" {
		t.Fatalf("with a torn last line: b=%+v a=%+v", next.Items["b"], next.Items["a"])
	}
	mu.Lock()
	next.Names["o2"] = "y"
	restarted.changed("names", "o2")
	mu.Unlock()
	if err := restarted.close(); err != nil {
		t.Fatal(err)
	}
	if got := reload(); got.Names["o2"] != "y" || got.Items["a"].State != "FAIL" {
		t.Fatalf("a change after the torn line: %+v", got.Names)
	}
	if err := os.WriteFile(path+".journal", append(torn, []byte("\n{\"c\":\"names\",\"k\":\"o2\",\"v\":\"y\"}\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newStateFile(path, &sync.Mutex{}, &journalled{}); err == nil {
		t.Fatal("a damaged line in the middle of the journal was taken")
	}
}

// WeChat Pay closes a bill nobody confirmed once its confirm window (24 h) has passed — FAIL, OVERDUE_CLOSE, and
// its callback owed — and a restart in between still closes it, on time, from the bill's create time; a bill the
// payee confirmed is left alone.
func TestAnUnconfirmedBillClosesAfterItsWindowAcrossARestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pay.json")
	opts := PayOptions{StateFile: file, ConfirmWindow: 1500 * time.Millisecond}
	p, err := newPay(opts, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now().In(beijing).Format(time.RFC3339)
	p.mu.Lock()
	for _, no := range []string{"ord4T1", "ord5T1"} {
		b := &payBill{OutBillNo: no, State: "WAIT_USER_CONFIRM", AmountFen: 150000, CreateTime: created, UpdateTime: created}
		p.bills[no] = b
		p.save(no)
		p.closeWhenOverdue(b)
	}
	p.finish(p.bills["ord5T1"], "SUCCESS", "", callbackNone) // the payee confirmed this one
	if _, waiting := p.closings["ord5T1"]; waiting || len(p.closings) != 1 {
		t.Errorf("the confirmed bill's close is still due: %v", p.closings)
	}
	p.mu.Unlock()
	p.close() // killed before the window ends

	again, err := newPay(opts, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if b, _ := again.Bill("ord4T1"); b.State != "WAIT_USER_CONFIRM" {
		t.Fatalf("closed before its window: %+v", b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b, _ := again.Bill("ord4T1"); b.State == "WAIT_USER_CONFIRM"; b, _ = again.Bill("ord4T1") {
		if time.Now().After(deadline) {
			t.Fatal("the bill never closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, _ := again.Bill("ord4T1"); b.State != "FAIL" || b.FailReason != "OVERDUE_CLOSE" || again.owed("ord4T1").CallbacksOwed != 1 {
		t.Fatalf("after its window: %+v, callbacks owed %d", b, again.owed("ord4T1").CallbacksOwed)
	}
	if b, _ := again.Bill("ord5T1"); b.State != "SUCCESS" {
		t.Fatalf("the confirmed bill: %+v", b)
	}
}
