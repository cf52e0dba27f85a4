package workflows

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/wechatpay"
)

// scenario drives one ConfirmReceipt run in the SDK's test environment (time skips over timers).
type scenario struct {
	t        *testing.T
	env      *testsuite.TestWorkflowEnvironment
	fake     *fakeActivities
	in       Input
	state    []string // ReceiptState values upserted, in order
	retrying []bool   // PayoutRetrying values upserted, in order
	sa       []temporal.SearchAttributes
	started  time.Time
	updates  int
}

func newScenario(t *testing.T, fake *fakeActivities) *scenario {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(10 * time.Second)
	fake.now = env.Now
	env.RegisterWorkflowWithOptions(ConfirmReceipt, workflow.RegisterOptions{Name: WorkflowName})
	fake.register(env)
	s := &scenario{t: t, env: env, fake: fake, in: Input{OrderID: "ord1", PayeeOpenID: "o_payee"}}
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		s.sa = append(s.sa, sa)
		if v, ok := sa.GetKeyword(SearchState); ok {
			s.state = append(s.state, v)
		}
		if v, ok := sa.GetBool(SearchPayoutRetrying); ok {
			s.retrying = append(s.retrying, v)
		}
	}).Return(nil)
	return s
}

// outcome is what an update came back with.
type outcome struct {
	accepted bool
	rejected error
	done     bool
	result   any
	err      error
}

// at schedules fn at d after the start (test clock).
func (s *scenario) at(d time.Duration, fn func()) { s.env.RegisterDelayedCallback(fn, d) }

// update sends an update at d and returns where its outcome will be recorded.
func (s *scenario) update(d time.Duration, name string, arg any) *outcome {
	o := &outcome{}
	s.at(d, func() { s.send(o, name, arg) })
	return o
}

// send delivers an update now (from inside a delayed callback); each gets its own update ID.
func (s *scenario) send(o *outcome, name string, arg any) {
	s.updates++
	s.env.UpdateWorkflow(name, fmt.Sprintf("%s-%d", name, s.updates), &testsuite.TestUpdateCallback{
		OnAccept:   func() { o.accepted = true },
		OnReject:   func(err error) { o.rejected = err },
		OnComplete: func(r any, err error) { o.done, o.result, o.err = true, r, err },
	}, arg)
}

func (s *scenario) run() View {
	s.started = s.env.Now()
	s.env.ExecuteWorkflow(WorkflowName, s.in)
	if !s.env.IsWorkflowCompleted() {
		s.t.Fatal("workflow did not complete")
	}
	if err := s.env.GetWorkflowError(); err != nil {
		s.t.Fatalf("workflow error: %v", err)
	}
	var v View
	if err := s.env.GetWorkflowResult(&v); err != nil {
		s.t.Fatal(err)
	}
	return v
}

func (s *scenario) finished(state State) {
	s.t.Helper()
	if len(s.fake.finished) != 1 || s.fake.finished[0].State != state || s.fake.finished[0].OrderID != "ord1" {
		s.t.Fatalf("FinishOrder calls: %+v, want one with %s", s.fake.finished, state)
	}
	if last := s.state[len(s.state)-1]; last != string(state) {
		s.t.Fatalf("last ReceiptState upserted %s, want %s (all: %v)", last, state, s.state)
	}
}

func accepted(t *testing.T, o *outcome) {
	t.Helper()
	if !o.accepted || !o.done || o.err != nil {
		t.Fatalf("update: accepted=%v done=%v err=%v rejected=%v", o.accepted, o.done, o.err, o.rejected)
	}
}

func rejectedAs(t *testing.T, o *outcome, kind string) {
	t.Helper()
	var ae *temporal.ApplicationError
	if o.accepted || !errors.As(o.rejected, &ae) || ae.Type() != kind {
		t.Fatalf("want rejection %s, got accepted=%v rejected=%v", kind, o.accepted, o.rejected)
	}
}

func open(s *scenario, d time.Duration) *outcome {
	return s.update(d, UpdateOpen, OpenRequest{OpenID: "o_payee"})
}

// query reads the view at d.
func (s *scenario) query(d time.Duration, into *View) {
	s.at(d, func() {
		v, err := s.env.QueryWorkflow(QueryStatus)
		if err != nil {
			s.t.Errorf("query at %s: %v", d, err)
			return
		}
		if err := v.Get(into); err != nil {
			s.t.Error(err)
		}
	})
}

func payerCancel(reason string) CancelRequest {
	return CancelRequest{Role: RolePayer, By: "payer1", Reason: reason}
}

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
	if want := []string{"AWAITING_CONFIRMATION", "PAYING", "PAID"}; !equal(s.state, want) {
		t.Fatalf("states %v, want %v", s.state, want)
	}
	// The first upsert also names the order, payer, amount and risk level; none holds PII.
	first0 := s.sa[0]
	if id, _ := first0.GetKeyword(SearchOrderID); id != "ord1" {
		t.Fatalf("OrderId %q", id)
	}
	if p, _ := first0.GetKeyword(SearchPayerID); p != "payer1" {
		t.Fatalf("PayerId %q", p)
	}
	if a, _ := first0.GetInt64(SearchAmountFen); a != 200000 {
		t.Fatalf("AmountFen %d", a)
	}
	if r, _ := first0.GetKeyword(SearchRiskLevel); r != "LOW" {
		t.Fatalf("RiskLevel %q", r)
	}
	if m, _ := first0.GetKeyword(SearchMerchantOrderNo); m != "M-1" {
		t.Fatalf("MerchantOrderNo %q", m)
	}
	if since, ok := first0.GetTime(SearchStateSince); !ok || since.IsZero() {
		t.Fatal("StateSince not set")
	}
	if s.fake.n(CreateTransfer) != 1 || s.fake.reversed != 0 {
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

func TestHighRiskFacePassThenPaid(t *testing.T) {
	s := newScenario(t, newFake().highRisk())
	first := open(s, 0)
	earlyConfirm := s.update(time.Second, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	start := s.update(2*time.Second, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	again := s.update(3*time.Second, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	submit := s.update(4*time.Second, UpdateFaceSubmit, FaceSubmitRequest{OpenID: "o_payee", VerifyResult: "vid-1"})
	conf := s.update(5*time.Second, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	v := s.run()

	if view := first.result.(View); view.State != StateFaceRequired || view.Face.AttemptsLeft != 3 || view.Face.Mode != "v2" {
		t.Fatalf("open answered %+v", view)
	}
	rejectedAs(t, earlyConfirm, RejectWrongState)
	accepted(t, start)
	accepted(t, again)
	// A fresh, unused credential is handed out again rather than issuing another.
	if a, b := start.result.(FaceStartResult), again.result.(FaceStartResult); a.VerifyID == "" || a.VerifyID != b.VerifyID {
		t.Fatalf("credentials %+v / %+v", a, b)
	}
	accepted(t, submit)
	if r := submit.result.(FaceSubmitResult); !r.Passed || r.State != StateAwaitingConfirmation {
		t.Fatalf("submit answered %+v", r)
	}
	accepted(t, conf)
	if v.State != StatePaid || !v.Face.Passed || s.fake.n(IssueFaceCredential) != 1 {
		t.Fatalf("result %+v, calls %v", v, s.fake.calls)
	}
	if want := []string{"FACE_REQUIRED", "AWAITING_CONFIRMATION", "PAYING", "PAID"}; !equal(s.state, want) {
		t.Fatalf("states %v", s.state)
	}
}

func TestFaceFailuresGoToManualReviewThenApproval(t *testing.T) {
	f := newFake().highRisk()
	f.verdicts = []FaceVerdict{
		{Outcome: FaceFail, Code: 10004},
		{Outcome: FaceRetry, Code: 90100}, // the payee cancelled: not counted
		{Outcome: FaceRefused, Code: 0, FailedCheck: "openid"},
		{Outcome: FaceFail, Code: 10003},
	}
	s := newScenario(t, f)
	open(s, 0)
	var submits []*outcome
	for i := range 4 {
		base := time.Duration(i+1) * time.Minute
		s.update(base, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
		submits = append(submits, s.update(base+time.Second, UpdateFaceSubmit, FaceSubmitRequest{OpenID: "o_payee", VerifyResult: "r"}))
	}
	badReview := s.update(6*time.Minute, UpdateReview, ReviewRequest{OperatorID: "op1", Approve: true})
	review := s.update(7*time.Minute, UpdateReview, ReviewRequest{OperatorID: "op1", Approve: true, Note: "called the payee, ID checked"})
	conf := s.update(8*time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	v := s.run()

	wantLeft := []int{2, 2, 1, 0}
	for i, o := range submits {
		accepted(t, o)
		if r := o.result.(FaceSubmitResult); r.AttemptsLeft != wantLeft[i] || r.Passed {
			t.Fatalf("submit %d answered %+v", i, r)
		}
	}
	if r := submits[3].result.(FaceSubmitResult); r.State != StateManualReview {
		t.Fatalf("last submit answered %+v", r)
	}
	// Each submit used its credential: four credentials issued.
	if f.n(IssueFaceCredential) != 4 {
		t.Fatalf("credentials issued %d", f.n(IssueFaceCredential))
	}
	rejectedAs(t, badReview, RejectBadRequest)
	accepted(t, review)
	accepted(t, conf)
	if v.State != StatePaid || v.Review == nil || v.Review.OperatorID != "op1" || !v.Review.Approved {
		t.Fatalf("result %+v", v)
	}
	if want := []string{"FACE_REQUIRED", "MANUAL_REVIEW", "AWAITING_CONFIRMATION", "PAYING", "PAID"}; !equal(s.state, want) {
		t.Fatalf("states %v", s.state)
	}
}

func TestManualReviewRejection(t *testing.T) {
	f := newFake().highRisk()
	f.verdicts = []FaceVerdict{{Outcome: FaceFail, Code: 10004}}
	s := newScenario(t, f)
	s.in.Settings.FaceAttempts = 1
	open(s, 0)
	s.update(time.Minute, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	s.update(time.Minute+time.Second, UpdateFaceSubmit, FaceSubmitRequest{OpenID: "o_payee", VerifyResult: "r"})
	review := s.update(time.Hour, UpdateReview, ReviewRequest{OperatorID: "op1", Approve: false, Note: "not the registered person"})
	v := s.run()
	accepted(t, review)
	if v.State != StateRejected || v.Reasons[0].Code != "REVIEW_REJECTED" {
		t.Fatalf("result %+v", v)
	}
	s.finished(StateRejected)
}

func TestFaceDeadlineExpires(t *testing.T) {
	s := newScenario(t, newFake().highRisk())
	open(s, 0)
	v := s.run()
	if v.State != StateExpired || v.Reasons[0].Code != "FACE_EXPIRED" || v.UpdatedAt.Sub(s.started) != 30*time.Minute {
		t.Fatalf("result %+v", v)
	}
	s.finished(StateExpired)
}

func TestConfigurableFaceDeadline(t *testing.T) {
	s := newScenario(t, newFake().highRisk())
	s.in.Settings.FaceDeadline = 5 * time.Minute
	open(s, 0)
	v := s.run()
	// Expired exactly when the configured 5 minutes were up, not the default 30.
	if v.State != StateExpired || v.Face.Deadline == nil || !v.Face.Deadline.Equal(v.UpdatedAt) || v.UpdatedAt.Sub(s.started) != 5*time.Minute {
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
	if f.reversed != 1 {
		t.Fatalf("tax reversed %d times", f.reversed)
	}
	s.finished(StateFailed)
}

// A bill that cannot be created yet is retried in rounds, each failed round shown to operators (view, search
// attributes); the bill is still the same out_bill_no when it finally goes through.
func TestCreateRetriesInRoundsShowingRetrying(t *testing.T) {
	f := newFake()
	f.createErrs = []error{temporal.NewNonRetryableApplicationError("HTTP 503", "WeChatPay", nil), temporal.NewNonRetryableApplicationError("HTTP 503", "WeChatPay", nil)}
	s := newScenario(t, f)
	open(s, 0)
	s.update(time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	var during View
	s.query(time.Minute+15*time.Second, &during)
	v := s.run()
	if during.State != StatePaying || !during.Payout.Retrying || during.Payout.LastError != "HTTP 503" || during.Payout.Tries != createTriesPerRound {
		t.Fatalf("while retrying: %+v", during.Payout)
	}
	if v.State != StatePaid || v.Payout.Retrying || f.n(CreateTransfer) != 3 || f.reversed != 0 || len(f.bills) != 1 || f.bills[0] != "ord1T1" {
		t.Fatalf("result %+v, calls %v", v, f.calls)
	}
	if !equalBools(s.retrying, []bool{true, true, false}) {
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
	if v.State != StatePaid || f.n(QueryTransfer) != 1 || f.reversed != 0 || len(f.bills) != 0 {
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
	if v.State != StateFailed || f.reversed != 1 || f.n(QueryTransfer) != 0 {
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
	if want := []string{"AWAITING_CONFIRMATION", "PAYING", "AWAITING_TRANSFER_CONFIRM", "PAID"}; !equal(s.state, want) {
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
	if v.State != StateFailed || f.n(AwaitTransfer) != 1 || f.n(QueryTransfer) != 0 || f.reversed != 1 || v.Reasons[0].Message != "超过24小时未确认收款，款项已退回" {
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
	if v.State != StateCancelled || f.n(CancelTransfer) != 1 || f.reversed != 1 {
		t.Fatalf("result %+v, calls %v", v, f.calls)
	}
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

func TestExpiredCredentialIsReissued(t *testing.T) {
	s := newScenario(t, newFake().highRisk())
	s.in.Settings.FaceDeadline = 3 * time.Hour
	open(s, 0)
	first := s.update(time.Minute, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	second := s.update(2*time.Hour, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	s.update(2*time.Hour+time.Minute, UpdateFaceSubmit, FaceSubmitRequest{OpenID: "o_payee", VerifyResult: "vid-2"})
	s.update(2*time.Hour+2*time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	v := s.run()
	accepted(t, first)
	accepted(t, second)
	if first.result.(FaceStartResult).VerifyID == second.result.(FaceStartResult).VerifyID || s.fake.n(IssueFaceCredential) != 2 {
		t.Fatalf("expired credential reused: %+v / %+v", first.result, second.result)
	}
	if v.State != StatePaid {
		t.Fatalf("result %+v", v)
	}
}

func TestCredentialFailureIsReturnedToTheCaller(t *testing.T) {
	f := newFake().highRisk()
	f.credErr = errWeChatRefused
	s := newScenario(t, f)
	open(s, 0)
	start := s.update(time.Minute, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	s.at(2*time.Minute, func() { s.env.SignalWorkflow(SignalCancel, CancelRequest{By: "test"}) })
	s.run()
	var ae *temporal.ApplicationError
	if !start.accepted || !errors.As(start.err, &ae) || ae.Type() != ErrTypeFaceUnusable {
		t.Fatalf("face start: %+v", start)
	}
	if f.n(IssueFaceCredential) != 1 {
		t.Fatalf("a non-retryable refusal was retried: %v", f.calls)
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

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
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
	if v.State != StateCancelled || f.reversed != 1 || f.n(CancelTransfer) != 0 {
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
	if f.n(CancelTransfer) != 1 || f.reversed != 1 {
		t.Fatalf("calls %v, reversed %d", f.calls, f.reversed)
	}
	s.finished(StateCancelled)
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
	if v.State != StatePaid || f.n(CancelTransfer) != 1 || f.reversed != 0 || f.n(PreparePayout) != 2 || !equal(f.bills, []string{"ord1T1", "ord1T2"}) {
		t.Fatalf("result %+v, calls %v, bills %v", v, f.calls, f.bills)
	}
}

// A cancel while the bill is being created (through the API's update or the UI's signal alike) is accepted and
// shown pending with what it waits for; once the bill exists and the payee has not confirmed it, it is withdrawn.
func TestCancelWhilePayingWaitsForTheBill(t *testing.T) {
	for _, via := range []string{"update", "signal"} {
		t.Run(via, func(t *testing.T) {
			f := newFake()
			f.createErrs = []error{temporal.NewNonRetryableApplicationError("HTTP 503", "WeChatPay", nil)}
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
			if v.State != StateCancelled || v.Cancel.Pending || f.n(CancelTransfer) != 1 || f.reversed != 1 || f.n(CreateTransfer) != 1 {
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
