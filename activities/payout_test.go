package activities

import (
	"context"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

// fakeTransfers is the store's bills for one order.
type fakeTransfers struct {
	Transfers
	bills   []store.Transfer
	existed bool // PutTransfer finds the record there already
	updates []store.TransferUpdate
}

func (f *fakeTransfers) TransfersByOrder(context.Context, string) ([]store.Transfer, error) {
	return f.bills, nil
}

func (f *fakeTransfers) PutTransfer(_ context.Context, t store.Transfer) (store.Transfer, bool, error) {
	t.State = wechatpay.StateAccepted
	return t, !f.existed, nil
}

func (f *fakeTransfers) UpdateTransfer(_ context.Context, no string, u store.TransferUpdate) (store.Transfer, error) {
	f.updates = append(f.updates, u)
	return store.Transfer{OutBillNo: no, State: u.State}, nil
}

// fakePayout is a channel that knows some bills and counts creates.
type fakePayout struct {
	Payout
	known   map[string]string // out_bill_no → state
	creates []string
}

func (f *fakePayout) Channel() string { return "wechatpay" }

func (f *fakePayout) Query(_ context.Context, no string) (workflows.TransferStatus, error) {
	if s, ok := f.known[no]; ok {
		return workflows.TransferStatus{OutBillNo: no, State: s}, nil
	}
	return workflows.TransferStatus{OutBillNo: no, State: workflows.TransferNotFound}, nil
}

func (f *fakePayout) Create(_ context.Context, req TransferRequest) (workflows.TransferStatus, error) {
	f.creates = append(f.creates, req.OutBillNo)
	return workflows.TransferStatus{OutBillNo: req.OutBillNo, State: wechatpay.StateWaitUserConfirm}, nil
}

func (f *fakePayout) ConfirmParams(string, string) *workflows.MerchantTransferParams { return nil }

type fakeIdentity struct{ Orders }

func (fakeIdentity) Identity(context.Context, string) (store.Identity, error) {
	return store.Identity{Name: "张三", IDNumber: "11010519491231002X"}, nil
}

// A bill that is pending, or whose fate is unknown, is followed — never replaced by a new one; only a bill that
// ended without paying (FAIL, CANCELLED) makes way for the next attempt.
func TestNextAttemptFollowsABillThatMayStillPay(t *testing.T) {
	bill := func(attempt int, state string) store.Transfer {
		return store.Transfer{OutBillNo: OutBillNo("ord1", attempt), Attempt: attempt, State: state}
	}
	for _, c := range []struct {
		name  string
		bills []store.Transfer
		want  int
	}{
		{"no bill yet", nil, 1},
		{"the last failed", []store.Transfer{bill(1, wechatpay.StateFail)}, 2},
		{"the last was cancelled", []store.Transfer{bill(1, wechatpay.StateFail), bill(2, wechatpay.StateCancelled)}, 3},
		{"the last waits for the payee", []store.Transfer{bill(1, wechatpay.StateFail), bill(2, wechatpay.StateWaitUserConfirm)}, 2},
		{"the last is being paid", []store.Transfer{bill(1, wechatpay.StateTransfering)}, 1},
		{"the last never got an answer", []store.Transfer{bill(1, wechatpay.StateAccepted)}, 1},
		{"the last is in a state we do not know", []store.Transfer{bill(1, "SOMETHING_NEW")}, 1},
		{"the last paid", []store.Transfer{bill(1, wechatpay.StateSuccess)}, 1},
	} {
		a := &Activities{Transfers: &fakeTransfers{bills: c.bills}}
		if got, err := a.nextAttempt(context.Background(), "ord1"); err != nil || got != c.want {
			t.Errorf("%s: attempt %d (%v), want %d", c.name, got, err, c.want)
		}
	}
}

// CreateTransfer asks about a bill before creating it whenever it may have reached WeChat Pay already (the
// record existed, or this is a retry): a bill WeChat Pay has is recorded, not created again.
func TestCreateTransferQueriesBeforeItCreatesAgain(t *testing.T) {
	in := workflows.TransferInput{OrderID: "ord1", OutBillNo: "ord1T1", Attempt: 1, PayeeID: "pe1", OpenID: "o_a", NetFen: 96000}
	for _, c := range []struct {
		name        string
		existed     bool
		atWeChatPay string // the bill's state there; "" none
		creates     int
		want        string
	}{
		{"first create", false, "", 1, wechatpay.StateWaitUserConfirm},
		{"record existed, bill at WeChat Pay", true, wechatpay.StateWaitUserConfirm, 0, wechatpay.StateWaitUserConfirm},
		{"record existed, bill paid meanwhile", true, wechatpay.StateSuccess, 0, wechatpay.StateSuccess},
		{"record existed, WeChat Pay never got it", true, "", 1, wechatpay.StateWaitUserConfirm},
	} {
		t.Run(c.name, func(t *testing.T) {
			pay := &fakePayout{known: map[string]string{}}
			if c.atWeChatPay != "" {
				pay.known[in.OutBillNo] = c.atWeChatPay
			}
			a := &Activities{Transfers: &fakeTransfers{existed: c.existed}, Payout: pay, Orders: fakeIdentity{}}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.RegisterActivity(a.CreateTransfer)
			v, err := env.ExecuteActivity(a.CreateTransfer, in)
			if err != nil {
				t.Fatal(err)
			}
			var st workflows.TransferStatus
			if err := v.Get(&st); err != nil {
				t.Fatal(err)
			}
			if len(pay.creates) != c.creates || st.State != c.want {
				t.Fatalf("creates %v, state %s; want %d creates, %s", pay.creates, st.State, c.creates, c.want)
			}
		})
	}
}
