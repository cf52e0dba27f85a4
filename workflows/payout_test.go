package workflows

import (
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/wechatpay"
)

func TestPayoutFailureReversesTax(t *testing.T) {
	f := newFake()
	f.created = []TransferStatus{{State: wechatpay.StateFail, FailReason: "PAYEE_ACCOUNT_ABNORMAL"}}
	s := newScenario(t, f)
	open(s, 0)
	conf := s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	v := s.run()
	accepted(t, conf)
	if v.State != StateFailed || v.Reasons[0].Code != "TRANSFER_FAIL" || v.Reasons[0].Message != transferFailMessages["PAYEE_ACCOUNT_ABNORMAL"] ||
		!v.Amounts.Reversed || v.Amounts.Booked {
		t.Fatalf("result %+v", v)
	}
	if !equal(f.released, []string{"ord1T1"}) {
		t.Fatalf("payments released: %v", f.released)
	}
	s.finished(StateFailed)
}

// A bill that cannot be created yet — the first try failed, then the first round — is retried in rounds, each
// failed round shown to operators (view, search attributes); the bill is still the same out_bill_no when it
// finally goes through.
func TestCreateRetriesInRoundsShowingRetrying(t *testing.T) {
	f := newFake()
	f.createErrs = []error{temporal.NewNonRetryableApplicationError("HTTP 503", "WeChatPay", nil), temporal.NewNonRetryableApplicationError("HTTP 503", "WeChatPay", nil)}
	s := newScenario(t, f)
	open(s, 0)
	s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	var during View
	s.query(time.Minute+15*time.Second, &during)
	v := s.run()
	if during.State != StatePaying || !during.Payout.Retrying || during.Payout.LastError != "HTTP 503" || during.Payout.Tries != 1+createTriesPerRound {
		t.Fatalf("while retrying: %+v", during.Payout)
	}
	if v.State != StatePaid || v.Payout.Retrying || f.n(CreateTransfer) != 3 || len(f.released) != 0 || len(f.bills) != 1 || f.bills[0] != "ord1T1" {
		t.Fatalf("result %+v, calls %v", v, f.calls)
	}
	// Written when it changes: the second round's "still retrying" only moves PayoutAttempt.
	if !equalBools(s.retrying, []bool{true, false}) {
		t.Fatalf("PayoutRetrying upserts %v", s.retrying)
	}
}

// When creating keeps failing for hours, the run stops and asks WeChat Pay about the same bill: one that exists
// is followed, never replaced.
func TestCreateGivesUpOnlyToTheSameBill(t *testing.T) {
	f := newFake()
	for range 40 {
		f.createErrs = append(f.createErrs, temporal.NewNonRetryableApplicationError("timeout", "Timeout", nil))
	}
	f.queried = []TransferStatus{{State: wechatpay.StateSuccess}}
	s := newScenario(t, f)
	s.env.SetTestTimeout(30 * time.Second)
	open(s, 0)
	s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	v := s.run()
	if v.State != StatePaid || f.n(QueryTransfer) != 1 || len(f.released) != 0 || len(f.bills) != 0 {
		t.Fatalf("result %+v, calls %v, bills %v", v, f.calls, f.bills)
	}
	if v.UpdatedAt.Sub(s.started) < createGiveUp {
		t.Fatalf("gave up after %s", v.UpdatedAt.Sub(s.started))
	}
}

func TestRejectedTransferParametersFailAndReverse(t *testing.T) {
	f := newFake()
	f.createErrs = []error{temporal.NewNonRetryableApplicationError("bad openid", ErrTypeTransferParam, nil)}
	s := newScenario(t, f)
	open(s, 0)
	s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	v := s.run()
	if v.State != StateFailed || len(f.released) != 1 || f.n(QueryTransfer) != 0 {
		t.Fatalf("result %+v, calls %v", v, f.calls)
	}
}

func TestPayeeConfirmsInWeChatAfterNotice(t *testing.T) {
	f := newFake()
	f.created = []TransferStatus{waitingBill}
	f.queried = []TransferStatus{{State: wechatpay.StateSuccess}}
	s := newScenario(t, f)
	open(s, 0)
	conf := s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	s.at(time.Minute+5*time.Second, func() { s.env.SignalWorkflow(SignalTransferNotice, TransferNotice{OutBillNo: "ord1T1"}) })
	v := s.run()
	accepted(t, conf)
	// The confirm answers as soon as the payee has something to do: open WeChat's confirm page.
	if view := conf.result.(View); view.State != StateAwaitingTransferConfirm || view.Payout.Confirm == nil || view.Payout.Confirm.Package != "pkg" {
		t.Fatalf("confirm answered %+v", view)
	}
	if v.State != StatePaid || f.n(QueryTransfer) != 1 || f.n(AwaitTransfer) < 1 {
		t.Fatalf("result %+v, calls %v", v, f.calls)
	}
	if want := []string{"AWAITING_CONFIRMATION", "AWAITING_TRANSFER_CONFIRM", "PAID"}; !equal(s.state, want) {
		t.Fatalf("states %v", s.state)
	}
}

// No callback ever comes: the server's own looks at the bill (AwaitTransfer) find it closed after 24 hours.
func TestLostCallbackIsCoveredByTheServersLooks(t *testing.T) {
	f := newFake()
	f.created = []TransferStatus{waitingBill}
	f.awaited = []TransferStatus{{State: wechatpay.StateFail, FailReason: "OVERDUE_CLOSE"}}
	s := newScenario(t, f)
	open(s, 0)
	s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	v := s.run()
	if v.State != StateFailed || f.n(AwaitTransfer) != 1 || f.n(QueryTransfer) != 0 || len(f.released) != 1 || v.Reasons[0].Message != "超过24小时未确认收款，款项已退回" {
		t.Fatalf("result %+v, calls %v", v, f.calls)
	}
}

// Each of WeChat Pay's fail reasons has its own message: the payee is never told they refused what a merchant's
// reviewer refused.
func TestFailReasonsAreMappedExactly(t *testing.T) {
	for reason, want := range map[string]string{
		"MERCHANT_REJECT":        "付款方审核人员驳回了本笔转账，款项已退回付款方",
		"NAME_NOT_CORRECT":       "收款人姓名与微信实名信息不一致，款项已退回付款方",
		"PAYEE_ACCOUNT_ABNORMAL": "您的微信账户收款异常，请在微信支付中完善身份信息后重新收款",
		"SOMETHING_NEW":          "转账失败（SOMETHING_NEW），款项已退回付款方",
	} {
		if got := transferFailMessage(TransferStatus{State: wechatpay.StateFail, FailReason: reason}); got != want {
			t.Errorf("%s: %q, want %q", reason, got, want)
		}
	}
}

func TestConcurrentConfirmsPayOnce(t *testing.T) {
	s := newScenario(t, newFake())
	open(s, 0)
	// Two confirms delivered together. Whether the second is validated before the first handler runs depends on
	// scheduling: it is then accepted and answers the same outcome; otherwise it is rejected as already confirmed.
	// Either way the payee is paid once.
	a, b := &outcome{}, &outcome{}
	s.at(time.Minute, func() {
		s.send(a, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
		s.send(b, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	})
	v := s.run()
	accepted(t, a)
	if a.result.(View).State != StatePaid {
		t.Fatalf("first confirm answered %+v", a.result)
	}
	if b.accepted {
		accepted(t, b)
		if b.result.(View).State != StatePaid {
			t.Fatalf("second confirm answered %+v", b.result)
		}
	} else {
		rejectedAs(t, b, RejectWrongState)
	}
	if v.State != StatePaid || s.fake.n(CreateTransfer) != 1 || s.fake.n(PreparePayout) != 1 {
		t.Fatalf("calls %v", s.fake.calls)
	}
}

// The create's answer was lost with the confirm parameters: the payee could never confirm that bill. It is
// withdrawn and the payout goes out on the next bill, with the tax booked once.
func TestBillWithoutConfirmParametersIsReplaced(t *testing.T) {
	f := newFake()
	lost := TransferStatus{State: wechatpay.StateWaitUserConfirm}
	f.created = []TransferStatus{lost, waitingBill}
	f.cancelled = TransferStatus{State: wechatpay.StateCancelled}
	amounts := Amounts{GrossFen: 200000, TaxFen: 24000, NetFen: 176000, TaxMethod: "per_payment", Booked: true}
	f.plans = []PayoutPlan{{Approved: true, OutBillNo: "ord1T1", Attempt: 1, Amounts: amounts}, {Approved: true, OutBillNo: "ord1T2", Attempt: 2, Amounts: amounts}}
	f.queried = []TransferStatus{{State: wechatpay.StateSuccess}}
	s := newScenario(t, f)
	open(s, 0)
	conf := s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	s.at(2*time.Minute, func() { s.env.SignalWorkflow(SignalTransferNotice, TransferNotice{OutBillNo: "ord1T2"}) })
	v := s.run()
	accepted(t, conf)
	// The confirm answers with a bill the payee can confirm: the second one, with its parameters.
	if view := conf.result.(View); view.Payout.OutBillNo != "ord1T2" || view.Payout.Confirm == nil || view.Payout.Attempt != 2 {
		t.Fatalf("confirm answered %+v", view.Payout)
	}
	if v.State != StatePaid || f.n(CancelTransfer) != 1 || len(f.released) != 0 || f.n(PreparePayout) != 2 || !equal(f.bills, []string{"ord1T1", "ord1T2"}) {
		t.Fatalf("result %+v, calls %v, bills %v", v, f.calls, f.bills)
	}
}

// The payee back from WeChat's confirm page: the run looks now and answers with where the bill went.
func TestTransferCheckLooksAtTheBillNow(t *testing.T) {
	f := newFake()
	f.created = []TransferStatus{waitingBill}
	f.queried = []TransferStatus{{State: wechatpay.StateSuccess}}
	s := newScenario(t, f)
	open(s, 0)
	s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	check := s.update(2*time.Minute, UpdateTransferCheck, TransferCheckRequest{OpenID: "o_payee"})
	v := s.run()
	accepted(t, check)
	if view := check.result.(View); view.State != StatePaid {
		t.Fatalf("check answered %+v", view)
	}
	if v.State != StatePaid || v.UpdatedAt.Sub(s.started) != 2*time.Minute {
		t.Fatalf("result %+v", v)
	}
}

// TRANSFERING (the payee confirmed, WeChat Pay is moving the money) keeps the confirm parameters: WeChat lets the
// page be opened again.
func TestTransferringKeepsTheConfirmParameters(t *testing.T) {
	f := newFake()
	f.created = []TransferStatus{waitingBill}
	f.queried = []TransferStatus{{State: wechatpay.StateTransfering}, {State: wechatpay.StateSuccess}}
	s := newScenario(t, f)
	open(s, 0)
	s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	s.at(2*time.Minute, func() { s.env.SignalWorkflow(SignalTransferNotice, TransferNotice{}) })
	var transferring View
	s.query(3*time.Minute, &transferring)
	s.at(4*time.Minute, func() { s.env.SignalWorkflow(SignalTransferNotice, TransferNotice{}) })
	v := s.run()
	if transferring.Payout == nil || transferring.Payout.State != wechatpay.StateTransfering || transferring.Payout.Confirm == nil || transferring.Payout.Confirm.Package != "pkg" {
		t.Fatalf("while transferring: %+v", transferring.Payout)
	}
	if v.State != StatePaid {
		t.Fatalf("result %+v", v)
	}
}
