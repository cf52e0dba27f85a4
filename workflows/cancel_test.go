package workflows

import (
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/wechatpay"
)

func TestPayerCancelBeforeConfirm(t *testing.T) {
	s := newScenario(t, newFake())
	open(s, 0)
	badCancel := s.update(time.Minute, UpdateCancel, CancelRequest{})
	cancel := s.update(2*time.Minute, UpdateCancel, payerCancel("order withdrawn"))
	v := s.run()
	rejectedAs(t, badCancel, RejectBadRequest)
	accepted(t, cancel)
	view := cancel.result.(View)
	if view.State != StateCancelled || view.CancelledBy != "payer:payer1" || view.Cancel == nil || view.Cancel.Pending || view.Cancel.Reason != "order withdrawn" {
		t.Fatalf("cancel answered %+v (cancel %+v)", view, view.Cancel)
	}
	// The payee reads who cancelled by role, never by person.
	if view.Reasons[0].Message != "付款方已取消本笔款项" {
		t.Fatalf("payee's message %q", view.Reasons[0].Message)
	}
	if v.State != StateCancelled || s.fake.n(PreparePayout) != 0 {
		t.Fatalf("result %+v, calls %v", v, s.fake.calls)
	}
	s.finished(StateCancelled)
}

func TestOperatorCancelSignalDuringFace(t *testing.T) {
	s := newScenario(t, newFake().highRisk())
	open(s, 0)
	// Whatever the Web UI's signal claims, nobody vouched for it: the platform's cancel, the claim kept as a note.
	s.at(time.Minute, func() {
		s.env.SignalWorkflow(SignalCancel, CancelRequest{Role: RolePayer, By: "op-mallory", Reason: "fraud report"})
	})
	v := s.run()
	if v.State != StateCancelled || v.Cancel.Role != RolePlatform || v.Cancel.By != "temporal-ui (unverified: op-mallory)" || v.Reasons[0].Message != "平台已取消本笔款项" {
		t.Fatalf("result %+v (cancel %+v)", v, v.Cancel)
	}
	s.finished(StateCancelled)
}

func TestWorkflowCancellationBeforeConfirm(t *testing.T) {
	s := newScenario(t, newFake())
	open(s, 0)
	s.at(time.Minute, s.env.CancelWorkflow)
	s.env.ExecuteWorkflow(WorkflowName, s.in)
	var v View
	if err := s.env.GetWorkflowResult(&v); err != nil || v.State != StateCancelled || v.Cancel.Role != RolePlatform {
		t.Fatalf("result %+v %v", v, err)
	}
	s.finished(StateCancelled)
}

func TestPayerCancelWhileWaitingForThePayeeCancelsTheBill(t *testing.T) {
	f := newFake()
	f.created = []TransferStatus{waitingBill}
	f.cancelled = TransferStatus{State: wechatpay.StateCancelled}
	s := newScenario(t, f)
	open(s, 0)
	s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	cancel := s.update(2*time.Minute, UpdateCancel, payerCancel(""))
	v := s.run()
	accepted(t, cancel)
	if v.State != StateCancelled || f.n(CancelTransfer) != 1 || len(f.released) != 1 {
		t.Fatalf("result %+v, calls %v", v, f.calls)
	}
}

// The server can drop a cancel update whose workflow task failed after the bill was already cancelled: the run
// still ends CANCELLED, since only the payer's request cancels bills.
func TestBillCancelledWithoutAKnownRequestEndsCancelled(t *testing.T) {
	f := newFake()
	f.created = []TransferStatus{waitingBill}
	f.queried = []TransferStatus{{State: wechatpay.StateCancelled}}
	s := newScenario(t, f)
	open(s, 0)
	s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	s.at(2*time.Minute, func() { s.env.SignalWorkflow(SignalTransferNotice, TransferNotice{}) })
	v := s.run()
	if v.State != StateCancelled || len(f.released) != 1 || f.n(CancelTransfer) != 0 {
		t.Fatalf("result %+v, calls %v", v, f.calls)
	}
	s.finished(StateCancelled)
}

// Cancelling the workflow itself (the UI's Cancel) while the payee has not confirmed the bill still cancels the
// bill and reverses the tax: money steps run on a disconnected context.
func TestWorkflowCancellationWhileTheBillWaits(t *testing.T) {
	f := newFake()
	f.created = []TransferStatus{waitingBill}
	f.cancelled = TransferStatus{State: wechatpay.StateCancelled}
	s := newScenario(t, f)
	open(s, 0)
	s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	s.at(2*time.Minute, s.env.CancelWorkflow)
	s.env.ExecuteWorkflow(WorkflowName, s.in)
	var v View
	if err := s.env.GetWorkflowResult(&v); err != nil || v.State != StateCancelled || v.CancelledBy != "platform:temporal" {
		t.Fatalf("result %+v %v", v, err)
	}
	if f.n(CancelTransfer) != 1 || len(f.released) != 1 {
		t.Fatalf("calls %v, released %v", f.calls, f.released)
	}
	s.finished(StateCancelled)
}

// A cancel while the bill is being created (through the API's update or the UI's signal alike) is accepted and
// shown pending with what it waits for; once the bill exists and the payee has not confirmed it, it is withdrawn.
func TestCancelWhilePayingWaitsForTheBill(t *testing.T) {
	for _, via := range []string{"update", "signal"} {
		t.Run(via, func(t *testing.T) {
			f := newFake()
			// The first try and the first round fail.
			unavailable := temporal.NewNonRetryableApplicationError("HTTP 503", "WeChatPay", nil)
			f.createErrs = []error{unavailable, unavailable}
			// When the cancel comes, WeChat Pay cannot be asked at once: the cancel waits for the bill.
			f.queryErrs = 1
			f.queried = []TransferStatus{waitingBill}
			f.cancelled = TransferStatus{State: wechatpay.StateCancelled}
			s := newScenario(t, f)
			open(s, 0)
			s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
			var cancel *outcome
			// The first round failed at 1m; the cancel comes during its backoff.
			s.at(time.Minute+10*time.Second, func() {
				if via == "update" {
					cancel = &outcome{}
					s.send(cancel, UpdateCancel, payerCancel("wrong amount"))
				} else {
					s.env.SignalWorkflow(SignalCancel, CancelRequest{By: "someone", Reason: "wrong amount"})
				}
			})
			var pending View
			s.query(time.Minute+30*time.Second, &pending)
			v := s.run()
			if via == "update" {
				accepted(t, cancel)
			}
			if pending.State != StatePaying || pending.Cancel == nil || !pending.Cancel.Pending || pending.Cancel.WaitingFor == "" {
				t.Fatalf("while paying: %+v (cancel %+v)", pending, pending.Cancel)
			}
			// No bill was created after the cancel: WeChat Pay was asked about the same one, which existed.
			if v.State != StateCancelled || v.Cancel.Pending || f.n(CancelTransfer) != 1 || len(f.released) != 1 || f.n(CreateTransfer) != 2 {
				t.Fatalf("result %+v, calls %v", v, f.calls)
			}
		})
	}
}

// A cancel that comes after the payee confirmed in WeChat is too late: the run ends PAID and says so.
func TestCancelTooLateEndsPaid(t *testing.T) {
	f := newFake()
	f.created = []TransferStatus{{State: wechatpay.StateTransfering}}
	f.queried = []TransferStatus{{State: wechatpay.StateSuccess}}
	s := newScenario(t, f)
	open(s, 0)
	s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	cancel := s.update(time.Minute+time.Second, UpdateCancel, payerCancel("late"))
	s.at(2*time.Minute, func() { s.env.SignalWorkflow(SignalTransferNotice, TransferNotice{}) })
	v := s.run()
	accepted(t, cancel)
	if v.State != StatePaid || v.Cancel == nil || v.Cancel.Pending || v.Cancel.WaitingFor == "" || f.n(CancelTransfer) != 0 {
		t.Fatalf("result %+v (cancel %+v), calls %v", v, v.Cancel, f.calls)
	}
	if view := cancel.result.(View); view.State != StatePaid {
		t.Fatalf("cancel answered %+v", view)
	}
}
