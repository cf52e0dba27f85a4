package workflows

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"
)

// fakeActivities is a scripted stand-in for activities.Activities: same method names and signatures, so the
// workflow calls it by the same registered names, with outcomes each test sets up and counters it asserts on.
type fakeActivities struct {
	mu sync.Mutex

	elig      Eligibility
	eligErr   error
	credErr   error
	verdicts  []FaceVerdict // VerifyFace answers, in order; PASS when exhausted
	plan      *PayoutPlan
	created   TransferStatus
	createErr error
	queried   []TransferStatus // QueryTransfer answers, in order; the last repeats
	cancelled TransferStatus

	now func() time.Time // the test environment's clock

	calls    map[string]int
	finished []FinishInput
	reversed int
	creds    []FaceCredentialInput
}

func newFake() *fakeActivities {
	return &fakeActivities{
		elig: Eligibility{Eligible: true, PayerID: "payer1", PayeeID: "pe1", FaceMode: "v2",
			Amounts: Amounts{GrossFen: 200000, TaxFen: 24000, NetFen: 176000, TaxMethod: "per_payment"},
			Risk:    Risk{Level: "LOW", Rules: []string{}}},
		created: TransferStatus{State: TransferSuccess},
		calls:   map[string]int{},
	}
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

func (f *fakeActivities) n(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func (f *fakeActivities) CheckEligibility(_ context.Context, in EligibilityInput) (Eligibility, error) {
	f.count(ActivityCheckEligibility)
	return f.elig, f.eligErr
}

func (f *fakeActivities) IssueFaceCredential(_ context.Context, in FaceCredentialInput) (FaceCredential, error) {
	f.count(ActivityIssueFaceCredential)
	f.mu.Lock()
	f.creds = append(f.creds, in)
	f.mu.Unlock()
	if f.credErr != nil {
		return FaceCredential{}, f.credErr
	}
	now := f.now()
	return FaceCredential{Mode: "v2", Seq: in.Seq, VerifyID: "vid-" + string(rune('0'+in.Seq)), OutSeqNo: in.OrderID + "F",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, nil
}

func (f *fakeActivities) VerifyFace(_ context.Context, in VerifyFaceInput) (FaceVerdict, error) {
	f.count(ActivityVerifyFace)
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
	f.count(ActivityPreparePayout)
	if f.plan != nil {
		return *f.plan, nil
	}
	return PayoutPlan{Approved: true, OutBillNo: in.OrderID + "T1", Attempt: 1,
		Amounts: Amounts{GrossFen: 200000, TaxFen: 24000, NetFen: 176000, TaxMethod: "per_payment", Booked: true}}, nil
}

func (f *fakeActivities) CreateTransfer(_ context.Context, in TransferInput) (TransferStatus, error) {
	f.count(ActivityCreateTransfer)
	if f.createErr != nil {
		return TransferStatus{}, f.createErr
	}
	st := f.created
	st.OutBillNo = in.OutBillNo
	return st, nil
}

func (f *fakeActivities) QueryTransfer(_ context.Context, in TransferInput) (TransferStatus, error) {
	f.count(ActivityQueryTransfer)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queried) == 0 {
		return TransferStatus{}, errors.New("no scripted query answer")
	}
	st := f.queried[0]
	if len(f.queried) > 1 {
		f.queried = f.queried[1:]
	}
	st.OutBillNo = in.OutBillNo
	return st, nil
}

func (f *fakeActivities) CancelTransfer(_ context.Context, in TransferInput) (TransferStatus, error) {
	f.count(ActivityCancelTransfer)
	st := f.cancelled
	st.OutBillNo = in.OutBillNo
	return st, nil
}

func (f *fakeActivities) ReverseTax(_ context.Context, in TransferInput) error {
	f.count(ActivityReverseTax)
	f.mu.Lock()
	f.reversed++
	f.mu.Unlock()
	return nil
}

func (f *fakeActivities) FinishOrder(_ context.Context, in FinishInput) error {
	f.count(ActivityFinishOrder)
	f.mu.Lock()
	f.finished = append(f.finished, in)
	f.mu.Unlock()
	return nil
}

var errWeChatRefused = temporal.NewNonRetryableApplicationError("getverifyid: 84006", ErrTypeFaceUnusable, nil, 84006)
