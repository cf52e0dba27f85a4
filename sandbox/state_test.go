package sandbox

import (
	"path/filepath"
	"testing"
	"time"
)

// What WeChat Pay accepted survives a kill -9 right after it answered: the state is on disk before the answer
// (no Flush here, as a killed process never flushes), and a slow confirm interrupted by the restart still settles.
func TestPayStateSurvivesAKillRightAfterTheAnswer(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pay.json")
	p, err := newPay(PayOptions{StateFile: file}, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	for _, no := range []string{"ord1T1", "ord2T1"} {
		p.bills[no] = &payBill{OutBillNo: no, State: "WAIT_USER_CONFIRM", AmountFen: 150000}
	}
	p.finish(p.bills["ord1T1"], "SUCCESS", "", callbackNone)
	b := p.bills["ord2T1"]
	b.SettlesAt, b.SettleCallback = time.Now().Add(50*time.Millisecond).Format(time.RFC3339Nano), callbackNone
	p.finish(b, "TRANSFERING", "", callbackNone)
	p.mu.Unlock()

	// The process is gone 10 ms later; the sandbox starts again on its file.
	time.Sleep(10 * time.Millisecond)
	again, err := newPay(PayOptions{StateFile: file}, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := again.Bill("ord1T1"); !ok || got.State != "SUCCESS" || got.AmountFen != 150000 {
		t.Fatalf("the accepted bill after the kill: %+v %v", got, ok)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		got, _ := again.Bill("ord2T1")
		if got.State == "SUCCESS" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slow confirm did not settle after the restart: %+v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	again.Wait()
	p.Wait() // the first sandbox's own timer settles its copy too; it writes nothing either one needs
}
