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

// outcome is what an update came back with.
type outcome struct {
	accepted bool
	rejected error
	done     bool
	result   any
	err      error
}

func newScenario(t *testing.T, fake *fakeActivities) *scenario {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(10 * time.Second)
	fake.now = env.Now
	env.RegisterWorkflowWithOptions(ConfirmReceipt, workflow.RegisterOptions{Name: WorkflowName})
	fake.register(env)
	s := &scenario{t: t, env: env, fake: fake, in: Input{OrderID: "ord1", PayeeOpenID: "o_payee"}}
	t.Cleanup(func() { fake.checkEvents(t) })
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
