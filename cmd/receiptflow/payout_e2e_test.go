package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

func wechatPay(c *config.Config) {
	c.TaxMethod = string(tax.PerPayment)
	c.PayoutChannel = "wechatpay"
}

// confirmed runs a low-risk payee to the point where WeChat Pay waits for the payee's own confirm.
func (e *env) awaitingTransfer() (order, token string, v workflows.View) {
	e.t.Helper()
	order = e.payee("o_low", "李四", "110101200001010010", 150000)
	token = e.login("o_low")
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if v.State != workflows.StateAwaitingTransferConfirm || v.Payout == nil || v.Payout.Confirm == nil {
		e.t.Fatalf("after confirm: %+v", v)
	}
	return order, token, v
}

// waitState polls the receipt until it reaches want.
func (e *env) waitState(order, token string, want workflows.State) workflows.View {
	e.t.Helper()
	var v workflows.View
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		e.must(e.call(http.MethodGet, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
		if v.State == want {
			return v
		}
	}
	e.t.Fatalf("receipt stayed %s, want %s: %+v", v.State, want, v)
	return v
}

func TestPayoutWithThePayeesConfirm(t *testing.T) {
	e := newEnv(t, wechatPay)
	order, token, v := e.awaitingTransfer()
	c := v.Payout.Confirm
	// What the mini-program passes to wx.requestMerchantTransfer.
	if c.MchID != e.sb.Pay().MchID() || c.AppID != e.sb.AppID() || c.Package == "" || c.OpenID != "o_low" {
		t.Fatalf("confirm parameters: %+v", c)
	}
	bill, ok := e.sb.Pay().Bill(v.Payout.OutBillNo)
	// The name goes with every bill, so WeChat Pay checks the receiving account is the payee's own.
	if !ok || bill.State != "WAIT_USER_CONFIRM" || bill.AmountFen != 136000 || bill.UserName != "李四" {
		t.Fatalf("bill: %+v", bill)
	}
	// A second look while waiting keeps the package (WeChat Pay's query does not repeat it).
	var again workflows.View
	e.must(e.call(http.MethodGet, "/v1/receipts/"+order, token, nil, &again), http.StatusOK)
	if again.Payout.Confirm == nil || again.Payout.Confirm.Package != c.Package {
		t.Fatalf("view while waiting: %+v", again.Payout)
	}
	if res := e.payeeConfirms(v, sandbox.PayAccept, "duplicate"); !res.OK() {
		t.Fatalf("confirm: %+v", res)
	}
	paid := e.waitState(order, token, workflows.StatePaid)
	if paid.Payout.State != wechatpay.StateSuccess {
		t.Fatalf("paid view: %+v", paid.Payout)
	}
	e.sb.Pay().Wait()
	e.assertPaidOnce(order, 136000, 14000)
	if e.sb.Pay().Bills() != 1 {
		t.Fatalf("%d bills at WeChat Pay", e.sb.Pay().Bills())
	}
}

func TestLargePayoutSendsTheEncryptedName(t *testing.T) {
	e := newEnv(t, wechatPay)
	order, token := highRiskOpened(e) // 2,000 元: face first
	e.passFaceV2(order, token)
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	bill, _ := e.sb.Pay().Bill(v.Payout.OutBillNo)
	// Net 1,760 元 is under 2,000 元, where the name is optional: it is sent anyway, so WeChat Pay checks it.
	if bill.AmountFen != 176000 || bill.UserName != "王五" {
		t.Fatalf("bill: %+v", bill)
	}
	e2 := newEnv(t, wechatPay)
	big := e2.payee("o_big", "王五", "440304199003070018", 500000)
	tok := e2.login("o_big")
	e2.must(e2.call(http.MethodPost, "/v1/receipts/"+big, tok, nil, nil), http.StatusOK)
	e2.passFaceV2(big, tok)
	e2.must(e2.call(http.MethodPost, "/v1/receipts/"+big+"/confirm", tok, nil, &v), http.StatusOK)
	bill, _ = e2.sb.Pay().Bill(v.Payout.OutBillNo)
	// 5,000 元 − 800 元 tax = 4,200 元 ≥ 2,000 元: WeChat Pay got the real name, encrypted with its public key.
	if bill.AmountFen != 420000 || bill.UserName != "王五" {
		t.Fatalf("bill: %+v", bill)
	}
}

// WeChat has no "reject": a payee who closes the confirm page leaves the bill waiting, and the page may open it
// again; only the 24 hours passing closes it (OVERDUE_CLOSE), which fails the run and reverses the tax.
func TestPayeeDeclinesThenTheBillExpires(t *testing.T) {
	e := newEnv(t, wechatPay)
	order, token, v := e.awaitingTransfer()
	if res := e.payeeConfirms(v, sandbox.PayDecline, "normal"); res.OK() || !strings.HasSuffix(res.ErrMsg, "fail cancel") {
		t.Fatalf("decline: %+v", res)
	}
	var still workflows.View
	e.must(e.call(http.MethodGet, "/v1/receipts/"+order, token, nil, &still), http.StatusOK)
	if still.State != workflows.StateAwaitingTransferConfirm || still.Payout.Confirm == nil {
		t.Fatalf("after the payee closed the page: %+v", still)
	}
	if err := e.phone.ExpireTransfer(context.Background(), v.Payout.OutBillNo, "normal"); err != nil {
		t.Fatal(err)
	}
	failed := e.waitState(order, token, workflows.StateFailed)
	if failed.Reasons[0].Code != "TRANSFER_FAIL" || failed.Reasons[0].Message != "超过24小时未确认收款，款项已退回" || !failed.Amounts.Reversed {
		t.Fatalf("failed view: %+v", failed)
	}
	e.assertNothingPaid(order)
}

func TestTransferExpiresAfter24Hours(t *testing.T) {
	e := newEnv(t, wechatPay)
	order, token, v := e.awaitingTransfer()
	if err := e.phone.ExpireTransfer(context.Background(), v.Payout.OutBillNo, "normal"); err != nil {
		t.Fatal(err)
	}
	failed := e.waitState(order, token, workflows.StateFailed)
	if failed.Payout.FailReason != "OVERDUE_CLOSE" || failed.Reasons[0].Message != "超过24小时未确认收款，款项已退回" {
		t.Fatalf("failed view: %+v", failed)
	}
	e.assertNothingPaid(order)
	// The payee may try again later: a new run pays with a new bill (attempt 2), the failed one stays failed.
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if v.Payout.OutBillNo != order+"T2" {
		t.Fatalf("retry bill: %+v", v.Payout)
	}
	if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); !res.OK() {
		t.Fatalf("confirm: %+v", res)
	}
	e.waitState(order, token, workflows.StatePaid)
	o, _ := e.deps.store.Order(context.Background(), order)
	payments, _, withheld := e.orderBooks(o)
	if withheld != 14000 || len(payments) != 2 || payments[0].State != store.PaymentVoided || payments[1].State != store.PaymentPosted {
		t.Fatalf("books after the retry: %+v, %d withheld", payments, withheld)
	}
}

func TestLostCallbackIsFoundByQuery(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { wechatPay(c); c.TransferPollInterval = time.Second })
	order, token, v := e.awaitingTransfer()
	if res := e.payeeConfirms(v, sandbox.PayAccept, "none"); !res.OK() {
		t.Fatalf("confirm: %+v", res)
	}
	// No callback and no nudge from the page: the run's own polling finds the outcome.
	e.waitState(order, token, workflows.StatePaid)
}

func TestPayeeReturningFromWeChatNudgesTheRun(t *testing.T) {
	e := newEnv(t, wechatPay) // polling every 30 s at first: only the nudge can be this quick
	order, token, v := e.awaitingTransfer()
	if res := e.payeeConfirms(v, sandbox.PayAccept, "none"); !res.OK() {
		t.Fatalf("confirm: %+v", res)
	}
	var after workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/transfer/confirmed", token, nil, &after), http.StatusOK)
	if after.State != workflows.StatePaid {
		t.Fatalf("after the nudge: %+v", after)
	}
}

func TestForgedStaleAndMismatchedCallbacksChangeNothing(t *testing.T) {
	e := newEnv(t, wechatPay)
	order, token, v := e.awaitingTransfer()
	pay := e.sb.Pay()
	bill, _ := pay.Bill(v.Payout.OutBillNo)
	resource := func(amount int64) map[string]any {
		return map[string]any{"mch_id": pay.MchID(), "out_bill_no": bill.OutBillNo, "transfer_bill_no": "x", "state": "SUCCESS",
			"transfer_amount": amount, "openid": bill.OpenID}
	}
	post := func(n sandbox.SignedNotification) int {
		req, _ := http.NewRequest(http.MethodPost, e.api.URL+"/v1/callbacks/wechatpay/transfer", bytes.NewReader(n.Body))
		for k, vs := range n.Header {
			req.Header[k] = vs
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	forged, _ := pay.Notification(resource(bill.AmountFen), time.Now())
	forged.Body = bytes.Replace(forged.Body, []byte(`"summary"`), []byte(`"Summary"`), 1) // signed body altered
	stale, _ := pay.Notification(resource(bill.AmountFen), time.Now().Add(-6*time.Minute))
	wrongAmount, _ := pay.Notification(resource(bill.AmountFen+1), time.Now())
	for name, c := range map[string]struct {
		n    sandbox.SignedNotification
		want int
	}{"forged": {forged, http.StatusUnauthorized}, "stale": {stale, http.StatusUnauthorized}, "amount differs": {wrongAmount, http.StatusBadRequest}} {
		if got := post(c.n); got != c.want {
			t.Errorf("%s callback: %d, want %d", name, got, c.want)
		}
	}
	rec, _ := e.deps.store.Transfer(context.Background(), bill.OutBillNo)
	var now workflows.View
	e.must(e.call(http.MethodGet, "/v1/receipts/"+order, token, nil, &now), http.StatusOK)
	if rec.State != wechatpay.StateWaitUserConfirm || now.State != workflows.StateAwaitingTransferConfirm {
		t.Fatalf("refused callbacks changed something: bill %s, run %s", rec.State, now.State)
	}
	// The genuine one, then again later (delayed): harmless repeats.
	if res := e.payeeConfirms(v, sandbox.PayAccept, "delayed"); !res.OK() {
		t.Fatalf("confirm: %+v", res)
	}
	genuine, _ := pay.Notification(resource(bill.AmountFen), time.Now())
	if got := post(genuine); got != http.StatusNoContent {
		t.Fatalf("genuine callback: %d", got)
	}
	e.waitState(order, token, workflows.StatePaid)
	pay.Wait() // the delayed duplicate arrives after the run has ended
	e.assertPaidOnce(order, 136000, 14000)
}

func TestPayerCancelWhileWaitingForThePayee(t *testing.T) {
	e := newEnv(t, wechatPay)
	order, token, v := e.awaitingTransfer()
	var res merchantOrderBody
	e.must(e.signed(http.MethodPost, "/v1/merchant/orders/"+order+"/cancel", "", map[string]string{"reason": "wrong amount"}, time.Now(), "", &res), http.StatusOK)
	if res.Receipt == nil || res.Receipt.State != workflows.StateCancelled {
		t.Fatalf("cancel: %+v", res.Receipt)
	}
	bill, _ := e.sb.Pay().Bill(v.Payout.OutBillNo)
	if bill.State != "CANCELLED" {
		t.Fatalf("bill %+v", bill)
	}
	e.assertNothingPaid(order)
	// The payee can no longer accept it.
	if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); res.OK() {
		t.Fatalf("a cancelled bill was accepted: %+v", res)
	}
	_ = token
}

// The worker dies after WeChat Pay created the bill and before its answer — with the package_info the payee
// confirms with — was recorded. The retry must not create that out_bill_no again: WeChat Pay may refuse a second
// create (「单号已存在但信息不一致」, here on every repeat) or answer another way; it asks about the same bill instead.
// The bill the payee can never confirm is withdrawn and the payout goes out on the next one: one bill paid, the
// tax booked once.
func TestWorkerKilledAfterTheBillWasCreatedPaysOnce(t *testing.T) {
	killed := make(chan struct{})
	lost := &loseFirstCreate{killed: killed}
	e := newEnv(t, wechatPay, func(a *activities.Activities) { lost.Payout = a.Payout; a.Payout = lost })
	order := e.payee("o_low", "李四", "110101200001010010", 150000)
	token := e.login("o_low")
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	go func() {
		<-killed
		// The process dies; a new worker picks up the retried activity (the same channel: a repeat is still refused).
		e.worker.Stop()
		e.startWorker()
	}()
	r := e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil)
	if r.status != http.StatusOK && r.status != http.StatusAccepted {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	v := e.waitState(order, token, workflows.StateAwaitingTransferConfirm)
	if lost.repeats() != 0 {
		t.Fatalf("%s was created again %d times: the retry must ask about it first", order+"T1", lost.repeats())
	}
	first, _ := e.sb.Pay().Bill(order + "T1")
	if first.State != wechatpay.StateCancelled || v.Payout.OutBillNo != order+"T2" || v.Payout.Confirm == nil {
		t.Fatalf("first bill %+v, view %+v", first, v.Payout)
	}
	if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); !res.OK() {
		t.Fatalf("confirm: %+v", res)
	}
	e.waitState(order, token, workflows.StatePaid)
	ctx := context.Background()
	bills, _ := e.deps.store.TransfersByOrder(ctx, order)
	paid := 0
	for _, b := range bills {
		if b.State == wechatpay.StateSuccess {
			paid++
		}
	}
	o, _ := e.deps.store.Order(ctx, order)
	payments, income, withheld := e.orderBooks(o)
	// The lost bill was cancelled (its payment voided), the second one paid: one payment posted.
	if len(bills) != 2 || paid != 1 || o.State != store.OrderPaid || len(payments) != 2 || payments[0].State != store.PaymentVoided ||
		income != 150000 || withheld != 14000 {
		t.Fatalf("bills %+v, order %s, books %+v paid %d/%d", bills, o.State, payments, income, withheld)
	}
}

// loseFirstCreate lets the first create reach WeChat Pay and then fails as a dying worker would, losing the answer;
// every later create of the same out_bill_no is refused the way WeChat Pay may refuse a repeat.
type loseFirstCreate struct {
	activities.Payout
	killed chan struct{}
	mu     sync.Mutex
	sent   map[string]int
}

func (l *loseFirstCreate) Create(ctx context.Context, req activities.TransferRequest) (workflows.TransferStatus, error) {
	l.mu.Lock()
	if l.sent == nil {
		l.sent = map[string]int{}
	}
	l.sent[req.OutBillNo]++
	n, first := l.sent[req.OutBillNo], len(l.sent) == 1
	l.mu.Unlock()
	if n > 1 {
		return workflows.TransferStatus{}, fmt.Errorf("%w: INVALID_REQUEST 单号已存在但信息不一致", activities.ErrTransferUnclear)
	}
	st, err := l.Payout.Create(ctx, req)
	if err != nil || !first {
		return st, err
	}
	close(l.killed)
	return workflows.TransferStatus{}, errors.New("worker killed before recording the bill")
}

// repeats counts creates of an out_bill_no after its first.
func (l *loseFirstCreate) repeats() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.sent {
		n += c - 1
	}
	return n
}

// waitOrder polls the store until the order reaches state.
func (e *env) waitOrder(order, state string) store.Order {
	e.t.Helper()
	var o store.Order
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		o, _ = e.deps.store.Order(context.Background(), order)
		if o.State == state {
			return o
		}
	}
	e.t.Fatalf("order stayed %s, want %s", o.State, state)
	return o
}

// assertNothingPaid: every payment the order reserved was voided — nothing of it counts anywhere.
func (e *env) assertNothingPaid(order string) {
	e.t.Helper()
	o, _ := e.deps.store.Order(context.Background(), order)
	payments, _, _ := e.orderBooks(o)
	if len(payments) == 0 {
		e.t.Fatalf("order %s reserved no payment", order)
	}
	for _, p := range payments {
		if p.State != store.PaymentVoided {
			e.t.Fatalf("order %s: payment %s is %s, want voided", order, p.OutBillNo, p.State)
		}
	}
}

// A paid bill's electronic receipt (电子回单): the payer's first ask starts fetching it (202), WeChat Pay makes it,
// the file is checked against its hash and kept under that hash; then the payer and operators get the PDF. An
// order that was not paid has none.
func TestElectronicReceiptOfAPaidBill(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { wechatPay(c); c.ReceiptPollInterval = 300 * time.Millisecond })
	if err := e.deps.store.PutPayer(context.Background(), store.Payer{ID: "payer1", Name: "示例科技有限公司", Secret: testMerchantSecret, Account: testPayerAccount}); err != nil {
		t.Fatal(err)
	}
	order := e.payee("o_low", "李四", "110101200001010010", 150000)
	paid := e.payOnce(order, "o_low", true)
	path := "/v1/merchant/orders/" + order + "/receipt"
	first := e.signed(http.MethodGet, path, "", nil, time.Now(), "", nil)
	e.problem(first, http.StatusAccepted, "RECEIPT_GENERATING")
	var got response
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = e.signed(http.MethodGet, path, "", nil, time.Now(), "", nil); got.status != http.StatusAccepted {
			break
		}
	}
	if got.status != http.StatusOK || !bytes.HasPrefix(got.body, []byte("%PDF-")) || !bytes.Contains(got.body, []byte("out_bill_no: "+paid.Payout.OutBillNo)) ||
		!bytes.Contains(got.body, []byte(fmt.Sprintf("amount: %d.%02d CNY", paid.Amounts.NetFen/100, paid.Amounts.NetFen%100))) {
		t.Fatalf("receipt: %d %q", got.status, got.body)
	}
	rec, err := e.deps.store.BillReceiptOf(context.Background(), paid.Payout.OutBillNo)
	sum := sha256.Sum256(got.body)
	if err != nil || rec.State != store.ReceiptStored || rec.SHA256 != hex.EncodeToString(sum[:]) || rec.SizeBytes != len(got.body) {
		t.Fatalf("record: %+v %v", rec, err)
	}
	if kept, err := e.deps.files.Get(rec.SHA256); err != nil || !bytes.Equal(kept, got.body) {
		t.Fatalf("kept file: %v", err)
	}
	if r := e.call(http.MethodGet, "/v1/ops/orders/"+order+"/receipt", opToken, nil, nil); r.status != http.StatusOK || !bytes.Equal(r.body, got.body) {
		t.Fatalf("operator's receipt: %d", r.status)
	}
	unpaid := e.newcomer("o_new", "周七", "110101200001010029", 120000)
	e.problem(e.signed(http.MethodGet, "/v1/merchant/orders/"+unpaid+"/receipt", "", nil, time.Now(), "", nil), http.StatusConflict, "RECEIPT_UNAVAILABLE")
}

// Issue 21's hole, deterministically: bill T1 fails and its callback comes late, after the run ended — so it
// settles T1 on its own (SettleBill) while WeChat Pay's query is down; meanwhile the payee taps again and bill T2
// pays. When the query is back, T1's settlement must touch T1 only: T2's payment stays posted, the order PAID.
func TestALateCallbackOfAFailedBillLeavesTheNextBillAlone(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { wechatPay(c); c.TransferPollInterval = time.Second })
	ctx := context.Background()
	order, token, v := e.awaitingTransfer()
	t1 := v.Payout.OutBillNo
	if res, err := e.phone.ConfirmTransfer(ctx, transferConfirm(v), sandbox.PayFail, "TRANSFER_RISK", "none"); err != nil || !res.OK() {
		t.Fatalf("fail T1: %+v %v", res, err)
	}
	e.waitState(order, token, workflows.StateFailed)

	e.sb.SetOutage("transfer-bills.query", time.Minute)
	pay := e.sb.Pay()
	bill, _ := pay.Bill(t1)
	late, _ := pay.Notification(map[string]any{"mch_id": pay.MchID(), "out_bill_no": t1, "transfer_bill_no": "wx-" + t1, "state": "FAIL",
		"fail_reason": "TRANSFER_RISK", "transfer_amount": bill.AmountFen, "openid": bill.OpenID, "update_time": time.Now().Format(time.RFC3339)}, time.Now())
	req, _ := http.NewRequest(http.MethodPost, e.api.URL+"/v1/callbacks/wechatpay/transfer", bytes.NewReader(late.Body))
	for k, vs := range late.Header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("late callback: %d", resp.StatusCode)
	}
	settlement := e.client.GetWorkflow(ctx, workflows.SettleWorkflowID(t1), "")

	// The payee taps again: bill T2, confirmed at once; WeChat Pay's callback tells the books it paid.
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	t2 := v.Payout.OutBillNo
	if t2 == t1 {
		t.Fatalf("no new bill: %+v", v.Payout)
	}
	if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); !res.OK() {
		t.Fatalf("confirm T2: %+v", res)
	}
	pay.Wait()
	if p, _ := e.deps.store.Payment(ctx, t2); p.State != store.PaymentPosted {
		t.Fatalf("T2 after its callback: %+v", p)
	}

	e.sb.SetOutage("transfer-bills.query", 0)
	var settled workflows.Settlement
	if err := settlement.Get(ctx, &settled); err != nil {
		t.Fatalf("settlement of T1: %v", err)
	}
	e.waitState(order, token, workflows.StatePaid)
	o, _ := e.deps.store.Order(ctx, order)
	payments, income, withheld := e.orderBooks(o)
	if o.State != store.OrderPaid || len(payments) != 2 || income != 150000 || withheld != 14000 {
		t.Fatalf("order %s, books %+v: paid %d, withheld %d", o.State, payments, income, withheld)
	}
	for _, p := range payments {
		if want := map[string]string{t1: store.PaymentVoided, t2: store.PaymentPosted}[p.OutBillNo]; p.State != want {
			t.Errorf("%s: %s, want %s", p.OutBillNo, p.State, want)
		}
	}
	// What the payee and the filing see agree with it.
	var income2 struct {
		GrossFen int64 `json:"grossFen"`
		TaxFen   int64 `json:"taxFen"`
	}
	e.must(e.call(http.MethodGet, fmt.Sprintf("/v1/me/income?year=%d", time.Now().In(beijingTime).Year()), token, nil, &income2), http.StatusOK)
	if income2.GrossFen != 150000 || income2.TaxFen != 14000 {
		t.Errorf("payee's income statement: %+v", income2)
	}
}

// crossingQuery is WeChat Pay whose callback lands while the payee's return is being taken in: the query the
// return makes signals the run (as the API does for a callback) before it answers, so the workflow task that
// completes the run fails on the new signal and the server aborts the return's update.
type crossingQuery struct {
	activities.Payout
	mu     sync.Mutex
	signal func() // armed: called once, by the next query
}

func (q *crossingQuery) Query(ctx context.Context, outBillNo string) (workflows.TransferStatus, error) {
	q.mu.Lock()
	signal := q.signal
	q.signal = nil
	q.mu.Unlock()
	if signal != nil {
		signal()
		time.Sleep(50 * time.Millisecond) // the signal is in history before the task completes
	}
	return q.Payout.Query(ctx, outBillNo)
}

// The payee comes back from WeChat's confirm page just as WeChat Pay's callback arrives: the task completing the
// run fails on the callback's signal and the server aborts the payee's update. The API waits for the run to
// complete and answers its last view (PAID), rather than sending the update again into the task that completes
// the run (which the server held 0.4 s and then refused).
func TestThePayeesReturnCrossingTheCallbackIsAnsweredWithTheEnd(t *testing.T) {
	crossing := &crossingQuery{}
	e := newEnv(t, wechatPay, func(a *activities.Activities) { crossing.Payout = a.Payout; a.Payout = crossing })
	order, token, v := e.awaitingTransfer()
	if res := e.payeeConfirms(v, sandbox.PayAccept, "none"); !res.OK() {
		t.Fatalf("confirm: %+v", res)
	}
	var updates atomic.Int64
	e.routeIntercepted(counting("UpdateWorkflowExecution", &updates))
	crossing.mu.Lock()
	crossing.signal = func() {
		if err := e.client.SignalWorkflow(context.Background(), workflows.WorkflowID(order), "", workflows.SignalTransferNotice, workflows.TransferNotice{}); err != nil {
			t.Error(err)
		}
	}
	crossing.mu.Unlock()
	var back workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/transfer/confirmed", token, nil, &back), http.StatusOK)
	if back.State != workflows.StatePaid {
		t.Fatalf("the return answered %+v", back)
	}
	if n := updates.Load(); n != 1 {
		t.Fatalf("the return's update was sent %d times, want once (the run completed meanwhile)", n)
	}
}
