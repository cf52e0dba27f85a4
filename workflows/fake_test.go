package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/receiptflow/receiptflow/wechatpay"
)

// fakeActivities is a scripted stand-in for activities.Activities: registered through the same typed steps, with
// outcomes each test sets up and counters it asserts on.
type fakeActivities struct {
	mu sync.Mutex

	elig       Eligibility
	eligErr    error
	credErr    error
	verdicts   []FaceVerdict // VerifyFace answers, in order; PASS when exhausted
	plans      []PayoutPlan  // PreparePayout answers, in order; the last repeats; attempt 1 approved when none
	created    []TransferStatus
	createErrs []error          // CreateTransfer fails with these first, in order
	queryErrs  int              // QueryTransfer fails this many times first
	queried    []TransferStatus // QueryTransfer answers, in order; the last repeats
	awaited    []TransferStatus // AwaitTransfer answers, in order; "still waiting" when exhausted
	cancelled  TransferStatus

	now func() time.Time // the test environment's clock

	calls    map[string]int
	finished []FinishInput
	released []string // bills whose payment the workflow released
	creds    []FaceCredentialInput
	bills    []string // out_bill_no of each create
	events   []AnnounceInput
}

func newFake() *fakeActivities {
	return &fakeActivities{
		elig: Eligibility{Eligible: true, PayerID: "payer1", PayeeID: "pe1", MerchantOrderNo: "M-1", FaceMode: "v2",
			Amounts: Amounts{GrossFen: 200000, TaxFen: 24000, NetFen: 176000, TaxMethod: "per_payment"},
			Risk:    Risk{Level: "LOW", Rules: []string{}}},
		created: []TransferStatus{{State: wechatpay.StateSuccess}},
		calls:   map[string]int{},
	}
}

// register adds the fake to a test environment through the typed steps, as worker.Register does.
func (f *fakeActivities) register(r worker.ActivityRegistry) {
	CheckEligibility.Register(r, f.CheckEligibility)
	IssueFaceCredential.Register(r, f.IssueFaceCredential)
	VerifyFace.Register(r, f.VerifyFace)
	PreparePayout.Register(r, f.PreparePayout)
	CreateTransfer.Register(r, f.CreateTransfer)
	QueryTransfer.Register(r, f.QueryTransfer)
	AwaitTransfer.Register(r, f.AwaitTransfer)
	CancelTransfer.Register(r, f.CancelTransfer)
	ReleasePayment.Register(r, f.ReleasePayment)
	FinishOrder.Register(r, f.FinishOrder)
	Announce.Register(r, f.Announce)
}

func (f *fakeActivities) highRisk() *fakeActivities {
	f.elig.Risk = Risk{Level: riskHigh, Rules: []string{"LARGE_SINGLE_PAYMENT"}}
	return f
}

func (f *fakeActivities) count(name string) {
	f.mu.Lock()
	f.calls[name]++
	f.mu.Unlock()
}

func (f *fakeActivities) n(s interface{ StepName() string }) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[s.StepName()]
}

// next pops the first of a scripted list, repeating the last.
func next[T any](list *[]T) (T, bool) {
	var zero T
	if len(*list) == 0 {
		return zero, false
	}
	v := (*list)[0]
	if len(*list) > 1 {
		*list = (*list)[1:]
	}
	return v, true
}

func (f *fakeActivities) CheckEligibility(_ context.Context, in EligibilityInput) (Eligibility, error) {
	f.count(CheckEligibility.Name)
	return f.elig, f.eligErr
}

func (f *fakeActivities) IssueFaceCredential(_ context.Context, in FaceCredentialInput) (FaceCredential, error) {
	f.count(IssueFaceCredential.Name)
	f.mu.Lock()
	f.creds = append(f.creds, in)
	f.mu.Unlock()
	if f.credErr != nil {
		return FaceCredential{}, f.credErr
	}
	now := f.now()
	return FaceCredential{Mode: "v2", Seq: in.Seq, VerifyID: "vid-" + string(rune('0'+in.Seq)), OutSeqNo: in.OrderID + "_1",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, nil
}

func (f *fakeActivities) VerifyFace(_ context.Context, in VerifyFaceInput) (FaceVerdict, error) {
	f.count(VerifyFace.Name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.verdicts) == 0 {
		return FaceVerdict{Outcome: FacePass, Code: 10000, Message: "ok"}, nil
	}
	v := f.verdicts[0]
	f.verdicts = f.verdicts[1:]
	return v, nil
}

func (f *fakeActivities) PreparePayout(_ context.Context, in PayoutInput) (PayoutPlan, error) {
	f.count(PreparePayout.Name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := next(&f.plans); ok {
		return p, nil
	}
	return PayoutPlan{Approved: true, OutBillNo: in.OrderID + "T1", Attempt: 1,
		Amounts: Amounts{GrossFen: 200000, TaxFen: 24000, NetFen: 176000, TaxMethod: "per_payment", Booked: true}}, nil
}

func (f *fakeActivities) CreateTransfer(_ context.Context, in TransferInput) (TransferStatus, error) {
	f.count(CreateTransfer.Name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.createErrs) > 0 {
		err := f.createErrs[0]
		f.createErrs = f.createErrs[1:]
		return TransferStatus{}, err
	}
	f.bills = append(f.bills, in.OutBillNo)
	st, _ := next(&f.created)
	st.OutBillNo = in.OutBillNo
	return st, nil
}

func (f *fakeActivities) QueryTransfer(_ context.Context, in TransferInput) (TransferStatus, error) {
	f.count(QueryTransfer.Name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.queryErrs > 0 {
		f.queryErrs--
		return TransferStatus{}, temporal.NewNonRetryableApplicationError("WeChat Pay unreachable", "Network", nil)
	}
	st, ok := next(&f.queried)
	if !ok {
		return TransferStatus{}, errors.New("no scripted query answer")
	}
	st.OutBillNo = in.OutBillNo
	return st, nil
}

func (f *fakeActivities) AwaitTransfer(_ context.Context, in TransferInput) (TransferStatus, error) {
	f.count(AwaitTransfer.Name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.awaited) > 0 {
		st := f.awaited[0]
		f.awaited = f.awaited[1:]
		st.OutBillNo = in.OutBillNo
		return st, nil
	}
	return TransferStatus{}, temporal.NewApplicationErrorWithOptions("still "+in.Since, ErrTypeBillPending,
		temporal.ApplicationErrorOptions{Category: temporal.ApplicationErrorCategoryBenign, NextRetryDelay: time.Hour})
}

func (f *fakeActivities) CancelTransfer(_ context.Context, in TransferInput) (TransferStatus, error) {
	f.count(CancelTransfer.Name)
	st := f.cancelled
	st.OutBillNo = in.OutBillNo
	return st, nil
}

func (f *fakeActivities) ReleasePayment(_ context.Context, in TransferInput) (Released, error) {
	f.count(ReleasePayment.Name)
	f.mu.Lock()
	f.released = append(f.released, in.OutBillNo)
	f.mu.Unlock()
	return Released{State: paymentVoided}, nil
}

func (f *fakeActivities) FinishOrder(_ context.Context, in FinishInput) (Done, error) {
	f.count(FinishOrder.Name)
	f.mu.Lock()
	f.finished = append(f.finished, in)
	f.mu.Unlock()
	return Done{}, nil
}

func (f *fakeActivities) Announce(_ context.Context, in AnnounceInput) (Done, error) {
	f.count(Announce.Name)
	f.mu.Lock()
	f.events = append(f.events, in)
	f.mu.Unlock()
	return Done{}, nil
}

// checkEvents holds a run's webhook events to their rule: each type at most once, with an ID of its own, and the
// event of the state the run finished in among them.
func (f *fakeActivities) checkEvents(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	types, ids := map[string]int{}, map[string]bool{}
	for _, e := range f.events {
		types[e.Type]++
		if types[e.Type] > 1 {
			t.Errorf("webhook event %s announced twice in one run: %+v", e.Type, f.events)
		}
		if ids[e.EventID] || e.EventID == "" {
			t.Errorf("webhook event ID %q reused: %+v", e.EventID, f.events)
		}
		ids[e.EventID] = true
	}
	if n := len(f.finished); n > 0 {
		end := f.finished[n-1].State
		if want := finalEvents[end]; types[want] != 1 {
			t.Errorf("the run finished %s without announcing %s once: %+v", end, want, f.events)
		}
	}
}

var errWeChatRefused = temporal.NewNonRetryableApplicationError("getverifyid: 84006", ErrTypeFaceUnusable, nil, 84006)
