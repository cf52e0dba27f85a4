package workflows

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/wechatpay"
)

var waitingBill = TransferStatus{State: wechatpay.StateWaitUserConfirm, Confirm: &MerchantTransferParams{MchID: "1900000001", AppID: "wx1", Package: "pkg", OpenID: "o_payee"}}

func TestLowRiskConfirmPays(t *testing.T) {
	s := newScenario(t, newFake())
	first := open(s, 0)
	conf := s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	v := s.run()

	accepted(t, first)
	if view := first.result.(View); view.State != StateAwaitingConfirmation || view.Amounts.TaxFen != 24000 || view.Risk.Level != "LOW" {
		t.Fatalf("open answered %+v", view)
	}
	accepted(t, conf)
	if view := conf.result.(View); view.State != StatePaid || view.Payout.State != wechatpay.StateSuccess {
		t.Fatalf("confirm answered %+v", view)
	}
	if v.State != StatePaid || !v.Amounts.Booked || v.Payout.OutBillNo != "ord1T1" {
		t.Fatalf("result %+v", v)
	}
	s.finished(StatePaid)
	// The confirm's workflow task goes through PAYING to PAID, its local activities between: one upsert, not two.
	if want := []string{"AWAITING_CONFIRMATION", "PAID"}; !equal(s.state, want) {
		t.Fatalf("states %v, want %v", s.state, want)
	}
	// The first upsert adds the risk level to the state; the run's start carried the order, payer and amount (the
	// API's), so the run does not write them again. None holds PII.
	first0 := s.sa[0]
	if r, _ := first0.GetKeyword(SearchRiskLevel); r != "LOW" {
		t.Fatalf("RiskLevel %q", r)
	}
	for _, k := range []temporal.SearchAttributeKey{SearchOrderID, SearchPayerID, SearchAmountFen, SearchMerchantOrderNo} {
		if first0.ContainsKey(k) {
			t.Fatalf("the run wrote %s again", k.GetName())
		}
	}
	if since, ok := first0.GetTime(SearchStateSince); !ok || since.IsZero() {
		t.Fatal("StateSince not set")
	}
	if s.fake.n(CreateTransfer) != 1 || len(s.fake.released) != 0 {
		t.Fatalf("calls %v", s.fake.calls)
	}
}

func TestIneligibleIsRejectedWithReasons(t *testing.T) {
	f := newFake()
	f.elig.Eligible = false
	f.elig.Reasons = []Reason{{Code: "FUNDS_NOT_ARRIVED", Message: "付款企业的资金尚未到账，请稍后再试"}}
	s := newScenario(t, f)
	first := open(s, 0)
	v := s.run()
	accepted(t, first)
	if view := first.result.(View); view.State != StateRejected || view.Reasons[0].Code != "FUNDS_NOT_ARRIVED" {
		t.Fatalf("open answered %+v", view)
	}
	if v.State != StateRejected {
		t.Fatalf("result %+v", v)
	}
	s.finished(StateRejected)
	if f.n(PreparePayout) != 0 {
		t.Fatal("an ineligible run prepared a payout")
	}
}

func TestEligibilityUnavailableRejectsWithoutPaying(t *testing.T) {
	f := newFake()
	f.eligErr = temporal.NewNonRetryableApplicationError("order: not found", ErrTypeNotFound, nil)
	s := newScenario(t, f)
	first := open(s, 0)
	v := s.run()
	accepted(t, first)
	if v.State != StateRejected || v.Reasons[0].Code != "ORDER_NOT_FOUND" {
		t.Fatalf("result %+v", v)
	}
}

func TestConfirmDeadlineExpires(t *testing.T) {
	s := newScenario(t, newFake())
	open(s, 0)
	v := s.run()
	if v.State != StateExpired || v.Reasons[0].Code != "CONFIRM_EXPIRED" {
		t.Fatalf("result %+v", v)
	}
	if v.ConfirmDeadline == nil || v.UpdatedAt.Sub(*v.ConfirmDeadline) != 0 {
		t.Fatalf("expired at %s, deadline %v", v.UpdatedAt, v.ConfirmDeadline)
	}
	s.finished(StateExpired)
}

func TestValidatorsRejectBeforeHistory(t *testing.T) {
	s := newScenario(t, newFake().highRisk())
	open(s, 0)
	wrongPayee := s.update(time.Second, UpdateFaceStart, FaceStartRequest{OpenID: "o_other"})
	noCredential := s.update(2*time.Second, UpdateFaceSubmit, FaceSubmitRequest{OpenID: "o_payee", VerifyResult: "r"})
	s.update(3*time.Second, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	empty := s.update(4*time.Second, UpdateFaceSubmit, FaceSubmitRequest{OpenID: "o_payee", VerifyResult: " "})
	review := s.update(5*time.Second, UpdateReview, ReviewRequest{OperatorID: "op1", Approve: true, Note: "n"})
	otherOpen := s.update(6*time.Second, UpdateOpen, OpenRequest{OpenID: "o_other"})
	noBill := s.update(7*time.Second, UpdateTransferCheck, TransferCheckRequest{OpenID: "o_payee"})
	s.at(time.Minute, func() { s.env.SignalWorkflow(SignalCancel, CancelRequest{By: "test"}) })
	s.run()
	rejectedAs(t, noBill, RejectWrongState)
	rejectedAs(t, wrongPayee, RejectNotYours)
	rejectedAs(t, noCredential, RejectWrongState)
	rejectedAs(t, empty, RejectBadRequest)
	rejectedAs(t, review, RejectWrongState)
	rejectedAs(t, otherOpen, RejectNotYours)
	if s.fake.n(VerifyFace) != 0 {
		t.Fatal("a rejected submit reached the activity")
	}
}

func TestBadInputFailsTheRun(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ConfirmReceipt, workflow.RegisterOptions{Name: WorkflowName})
	env.ExecuteWorkflow(WorkflowName, Input{})
	var ae *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &ae) || ae.Type() != RejectBadRequest {
		t.Fatalf("error %v", err)
	}
}

// After the run ended every payee step is refused by its validator, whatever the final state.
func TestPayeeStepsAreRefusedOnceTheRunEnded(t *testing.T) {
	for _, final := range []State{StatePaid, StateFailed, StateExpired, StateCancelled, StateRejected} {
		r := &run{in: Input{OrderID: "ord1", PayeeOpenID: "o_payee"}, set: Settings{}.withDefaults(), view: View{State: final}}
		r.face.cred = &FaceCredential{VerifyID: "v"}
		r.pay.bill = TransferStatus{OutBillNo: "ord1T1", State: wechatpay.StateSuccess}
		for name, err := range map[string]error{
			"face.start":     r.validateFaceStart(FaceStartRequest{OpenID: "o_payee"}),
			"face.submit":    r.validateFaceSubmit(FaceSubmitRequest{OpenID: "o_payee", VerifyResult: "v"}),
			"confirm":        r.validateConfirm(ConfirmRequest{OpenID: "o_payee"}),
			"transfer.check": r.validateTransferCheck(TransferCheckRequest{OpenID: "o_payee"}),
			"cancel":         r.validateCancel(payerCancel("x")),
		} {
			if !isType(err, RejectWrongState) {
				t.Errorf("%s after %s: %v", name, final, err)
			}
		}
	}
}
