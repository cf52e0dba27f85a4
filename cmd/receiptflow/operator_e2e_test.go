package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	updatepb "go.temporal.io/api/update/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/codec"
	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/proof"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// Someone with Temporal access but not the API's proof (the Web UI's Update form, a script) cannot perform the
// payee's steps: the confirm is refused before the workflow accepts it, and nothing moves.
func TestPayeeStepsWithoutTheAPIsProofAreRefused(t *testing.T) {
	e := newEnv(t, perPayment)
	order := e.payee("o_low", "李四", "110101200001010010", 150000)
	token := e.login("o_low")
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	ctx := context.Background()
	for name, req := range map[string]workflows.ConfirmRequest{
		"no proof":      {OpenID: "o_low"},
		"a forged one":  {OpenID: "o_low", Proof: "v1.proof1.9999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		"another's one": {OpenID: "o_low", Proof: e.deps.secrets.Proofs.Sign(proofFor(order, "o_low", "confirm/other"), time.Now().Add(time.Minute))},
	} {
		err := e.sendUpdate(order, "confirm/ui-"+strings.ReplaceAll(name, " ", "-"), workflows.UpdateConfirm, req)
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) || ae.Type() != workflows.RejectUnauthenticated {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The same holds for an operator's review and a cancel.
	err := e.sendUpdate(order, "cancel/ui", workflows.UpdateCancel, workflows.CancelRequest{Role: workflows.RoleOperator, By: "op-alice", Reason: "x"})
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != workflows.RejectUnauthenticated {
		t.Fatalf("a cancel without proof: %v", err)
	}
	var v workflows.View
	e.must(e.call(http.MethodGet, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	bills, _ := e.deps.store.TransfersByOrder(ctx, order)
	if v.State != workflows.StateAwaitingConfirmation || v.Cancel != nil || len(bills) != 0 {
		t.Fatalf("refused updates moved something: %+v, bills %v", v, bills)
	}
	// Through the API, the payee's confirm goes through.
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if v.State != workflows.StatePaid {
		t.Fatalf("confirm through the API: %+v", v)
	}
}

// A run terminated while its bill waits for the payee leaves no money in limbo: the callback of the payee's
// confirm (or of the bill's expiry) settles the order — PAID, or FAILED with the tax reversed.
func TestTerminatedRunsBillIsSettledByItsCallback(t *testing.T) {
	for _, outcome := range []string{"accepted", "expired"} {
		t.Run(outcome, func(t *testing.T) {
			e := newEnv(t, wechatPay)
			order, token, v := e.awaitingTransfer()
			ctx := context.Background()
			if err := e.client.TerminateWorkflow(ctx, workflows.WorkflowID(order), "", "terminated from the UI"); err != nil {
				t.Fatal(err)
			}
			if outcome == "accepted" {
				if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); !res.OK() {
					t.Fatalf("confirm: %+v", res)
				}
				e.sb.Pay().Wait()
				o := e.waitOrder(order, store.OrderPaid)
				_, income, withheld := e.orderBooks(o)
				if income != 150000 || withheld != 14000 {
					t.Fatalf("ledger %d/%d", income, withheld)
				}
			} else {
				if err := e.phone.ExpireTransfer(ctx, v.Payout.OutBillNo, "normal"); err != nil {
					t.Fatal(err)
				}
				e.sb.Pay().Wait()
				e.waitOrder(order, store.OrderFailed)
				e.assertNothingPaid(order)
			}
			// The payee's return answers from the order, not with an error.
			var after workflows.View
			e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/transfer/confirmed", token, nil, &after), http.StatusOK)
		})
	}
}

// A cancel while the bill is being created is accepted the same way through the API and through the Web UI's
// signal: the view shows it pending and what it waits for; no bill is created after it, and once WeChat Pay can
// be asked and has no such bill, the run ends cancelled with the tax reversed.
func TestCancelWhilePayingIsTheSameThroughTheAPIAndTheUI(t *testing.T) {
	for _, via := range []string{"api", "ui-signal"} {
		t.Run(via, func(t *testing.T) {
			down := &unreachablePayout{}
			e := newEnv(t, func(c *config.Config) { wechatPay(c); c.UpdateWait = 2 * time.Second }, func(a *activities.Activities) {
				down.Payout = a.Payout
				a.Payout = down
			})
			order := e.payee("o_low", "李四", "110101200001010010", 150000)
			token := e.login("o_low")
			e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
			// WeChat Pay is unreachable: the confirm answers 202 while the bill cannot be created.
			e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusAccepted)
			var v workflows.View
			if via == "api" {
				e.must(e.call(http.MethodPost, "/v1/ops/receipts/"+order+"/cancel", opToken, map[string]string{"reason": "wrong amount"}, &v), http.StatusAccepted)
			} else {
				if err := e.client.SignalWorkflow(context.Background(), workflows.WorkflowID(order), "", workflows.SignalCancel,
					workflows.CancelRequest{By: "ops-ui", Reason: "wrong amount"}); err != nil {
					t.Fatal(err)
				}
				v = e.waitFor(order, token, func(v workflows.View) bool { return v.Cancel != nil })
			}
			if v.State != workflows.StatePaying || v.Cancel == nil || !v.Cancel.Pending || v.Cancel.WaitingFor == "" {
				t.Fatalf("pending cancel: %+v (cancel %+v)", v, v.Cancel)
			}
			creates := down.creates()
			down.recover()
			final := e.waitState(order, token, workflows.StateCancelled)
			if final.Cancel.Pending || down.creates() != creates {
				t.Fatalf("after WeChat Pay came back: %+v, creates %d → %d", final.Cancel, creates, down.creates())
			}
			e.assertNothingPaid(order)
		})
	}
}

// unreachablePayout is WeChat Pay out of reach until recover: creates and queries fail as a network would.
type unreachablePayout struct {
	activities.Payout
	refusal   error // what a call answers while down (default: a refused connection)
	mu        sync.Mutex
	up        bool
	attempted int
}

func (u *unreachablePayout) recover() { u.mu.Lock(); u.up = true; u.mu.Unlock() }

func (u *unreachablePayout) creates() int { u.mu.Lock(); defer u.mu.Unlock(); return u.attempted }

func (u *unreachablePayout) isUp() bool { u.mu.Lock(); defer u.mu.Unlock(); return u.up }

func (u *unreachablePayout) Create(ctx context.Context, req activities.TransferRequest) (workflows.TransferStatus, error) {
	u.mu.Lock()
	u.attempted++
	u.mu.Unlock()
	if err := u.down(); err != nil {
		return workflows.TransferStatus{}, err
	}
	return u.Payout.Create(ctx, req)
}

func (u *unreachablePayout) Query(ctx context.Context, outBillNo string) (workflows.TransferStatus, error) {
	if err := u.down(); err != nil {
		return workflows.TransferStatus{}, err
	}
	return u.Payout.Query(ctx, outBillNo)
}

// down is what a call answers while WeChat Pay is out of reach, nil once it is back.
func (u *unreachablePayout) down() error {
	switch {
	case u.isUp():
		return nil
	case u.refusal != nil:
		return u.refusal
	}
	return errors.New("dial tcp: connection refused")
}

// What the Web UI shows an operator: the static summary, the current details saying why the run waits, named
// timers, and search attributes a saved query can list stuck payouts by.
func TestTheWebUIShowsWhyARunWaits(t *testing.T) {
	// Our merchant certificate is refused: no try can succeed until an operator acts, so each round is one try.
	down := &unreachablePayout{refusal: temporal.NewNonRetryableApplicationError("wechatpay: SIGN_ERROR merchant certificate revoked", workflows.ErrTypeMisconfigured, nil)}
	e := newEnv(t, func(c *config.Config) { wechatPay(c); c.UpdateWait = 2 * time.Second }, func(a *activities.Activities) { down.Payout = a.Payout; a.Payout = down })
	ctx := context.Background()
	order, token := highRiskOpened(e)
	id := workflows.WorkflowID(order)
	d, err := e.client.DescribeWorkflow(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	summary, _ := d.GetStaticSummary()
	if !strings.Contains(summary, order) || !strings.Contains(summary, "¥2,000.00") || !strings.Contains(summary, "payer1") {
		t.Fatalf("static summary %q", summary)
	}
	if details := e.currentDetails(id); !strings.Contains(details, "等待收款人人脸核验") {
		t.Fatalf("current details %q", details)
	}
	e.passFaceV2(order, token)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusAccepted)
	// The payout keeps failing: the details say why and how often, and a saved query finds it.
	deadline := time.Now().Add(20 * time.Second)
	for details := ""; !strings.Contains(details, "payout retrying"); details = e.currentDetails(id) {
		if time.Now().After(deadline) {
			t.Fatalf("current details never showed the retries: %q", details)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The first try and the first round's four.
	if details := e.currentDetails(id); !strings.Contains(details, "merchant certificate revoked") || !strings.Contains(details, "attempt 5") {
		t.Fatalf("current details %q", details)
	}
	stuck := fmt.Sprintf("PayoutRetrying = true AND MerchantOrderNo = '%s'", e.merchantOrderNo(order))
	for found := false; !found; {
		if time.Now().After(deadline) {
			t.Fatalf("the saved query %q never listed the run", stuck)
		}
		resp, err := e.client.ListWorkflow(ctx, listRequest(e.cfg.Temporal.Namespace, stuck))
		if err != nil {
			t.Fatal(err)
		}
		found = len(resp.GetExecutions()) == 1 && resp.GetExecutions()[0].GetExecution().GetWorkflowId() == id
		time.Sleep(200 * time.Millisecond)
	}
	// The face deadline's timer was named, and cancelled when the face passed.
	hist := e.client.GetWorkflowHistory(ctx, id, "", false, 0)
	named, cancelled := false, false
	for hist.HasNext() {
		ev, err := hist.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetTimerStartedEventAttributes() != nil && ev.GetUserMetadata().GetSummary() != nil {
			// Encrypted like every payload: the UI shows it through the codec.
			var s string
			if err := codec.DataConverter(e.deps.secrets.Payload).FromPayload(ev.GetUserMetadata().GetSummary(), &s); err != nil {
				t.Fatal(err)
			}
			named = named || strings.Contains(s, "face deadline")
		}
		cancelled = cancelled || ev.GetTimerCanceledEventAttributes() != nil
	}
	if !named || !cancelled {
		t.Fatalf("timer named %v, cancelled %v", named, cancelled)
	}
	down.recover()
}

// sendUpdate sends an update straight through Temporal, as the Web UI or a script would, and waits for its outcome.
func (e *env) sendUpdate(order, updateID, name string, arg any) error {
	h, err := e.client.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{WorkflowID: workflows.WorkflowID(order), UpdateID: updateID,
		UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return err
	}
	return h.Get(context.Background(), nil)
}

// currentDetails reads what the Web UI shows as the run's current details.
func (e *env) currentDetails(workflowID string) string {
	e.t.Helper()
	v, err := e.client.QueryWorkflow(context.Background(), workflowID, "", "__temporal_workflow_metadata")
	if err != nil {
		e.t.Fatal(err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		e.t.Fatal(err)
	}
	return md.GetCurrentDetails()
}

func (e *env) merchantOrderNo(order string) string {
	o, err := e.deps.store.Order(context.Background(), order)
	if err != nil {
		e.t.Fatal(err)
	}
	return o.MerchantOrderNo
}

// waitFor polls the receipt until ok.
func (e *env) waitFor(order, token string, ok func(workflows.View) bool) workflows.View {
	e.t.Helper()
	var v workflows.View
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		e.must(e.call(http.MethodGet, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
		if ok(v) {
			return v
		}
	}
	e.t.Fatalf("receipt never got there: %+v", v)
	return v
}

func listRequest(namespace, query string) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query}
}

func proofFor(order, openid, updateID string) proof.Claim {
	return proof.Claim{Role: workflows.RolePayee, Subject: openid, WorkflowID: workflows.WorkflowID(order), RunID: "", Update: workflows.UpdateConfirm, UpdateID: updateID}
}

// Issue 22's replay: someone with Temporal's gRPC alone — no keys, no codec — copies run 1's accepted face.submit
// and confirm (their still-encrypted input and update IDs, from the history) into run 2 of the same order. Both
// are refused before the workflow accepts them: the proof names run 1. Nothing is reserved or billed, no face
// attempt is counted, and the audit holds run 1's steps only.
func TestARunsAcceptedUpdatesReplayedIntoTheNextRunMoveNothing(t *testing.T) {
	e := newEnv(t, wechatPay)
	ctx := context.Background()
	order, token := highRiskOpened(e)
	e.passFaceV2(order, token)
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	run1, err := e.client.DescribeWorkflowExecution(ctx, workflows.WorkflowID(order), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.phone.ExpireTransfer(ctx, v.Payout.OutBillNo, "normal"); err != nil {
		t.Fatal(err)
	}
	e.waitState(order, token, workflows.StateFailed)
	accepted := map[string]*updatepb.Request{}
	iter := e.client.GetWorkflowHistory(ctx, workflows.WorkflowID(order), run1.GetWorkflowExecutionInfo().GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil {
			accepted[a.GetAcceptedRequest().GetInput().GetName()] = a.GetAcceptedRequest()
		}
	}
	if accepted[workflows.UpdateConfirm] == nil || accepted[workflows.UpdateFaceSubmit] == nil {
		t.Fatalf("run 1's history: %v", accepted)
	}

	// Run 2: the payee taps again and must pass the face again.
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	if v.State != workflows.StateFaceRequired || v.Face == nil {
		t.Fatalf("run 2: %+v", v)
	}
	used := v.Face.AttemptsUsed
	before, _ := e.deps.store.Payments(ctx, store.PaymentQuery{OrderID: order})
	for _, name := range []string{workflows.UpdateFaceSubmit, workflows.UpdateConfirm} {
		req := accepted[name]
		res, err := e.client.WorkflowService().UpdateWorkflowExecution(ctx, &workflowservice.UpdateWorkflowExecutionRequest{
			Namespace:         e.cfg.Temporal.Namespace,
			WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID(order)},
			Request:           &updatepb.Request{Meta: &updatepb.Meta{UpdateId: req.GetMeta().GetUpdateId(), Identity: "replayer"}, Input: req.GetInput()},
			WaitPolicy:        &updatepb.WaitPolicy{LifecycleStage: enumspb.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED},
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f := res.GetOutcome().GetFailure()
		if f == nil || f.GetApplicationFailureInfo().GetType() != workflows.RejectUnauthenticated {
			t.Errorf("run 1's %s replayed into run 2: %v", name, res.GetOutcome())
		}
	}
	e.must(e.call(http.MethodGet, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	after, _ := e.deps.store.Payments(ctx, store.PaymentQuery{OrderID: order})
	bills, _ := e.deps.store.TransfersByOrder(ctx, order)
	if v.State != workflows.StateFaceRequired || v.Face.AttemptsUsed != used || len(after) != len(before) || len(bills) != 1 {
		t.Fatalf("the replays moved something: %+v (face %+v), payments %d → %d, bills %d", v.State, v.Face, len(before), len(after), len(bills))
	}
	trail, _ := e.deps.store.AuditTrail(ctx, "order:"+order)
	steps := map[string]int{}
	for _, a := range trail {
		steps[a.Action]++
	}
	if steps["receipt."+workflows.UpdateConfirm] != 1 || steps["receipt."+workflows.UpdateFaceSubmit] != 1 {
		t.Errorf("audit of the payee's steps: %v", steps)
	}
}

// refusedFor refuses to create the bills of one order, as a revoked certificate would; other orders pay.
type refusedFor struct { // set order before the run creates its bill
	activities.Payout
	order string
}

func (r refusedFor) Create(ctx context.Context, req activities.TransferRequest) (workflows.TransferStatus, error) {
	if r.order != "" && strings.HasPrefix(req.OutBillNo, r.order) {
		return workflows.TransferStatus{}, temporal.NewNonRetryableApplicationError("wechatpay: SIGN_ERROR merchant certificate revoked", workflows.ErrTypeMisconfigured, nil)
	}
	return r.Payout.Create(ctx, req)
}

// Every query the README tells operators to save, run as printed against runs in each state, lists exactly the runs
// it promises (the date and the merchant's order number are the README's examples, put at this test's runs).
func TestTheREADMEsSavedQueriesListTheRightRuns(t *testing.T) {
	refuse := &refusedFor{}
	e := newEnv(t, func(c *config.Config) { wechatPay(c); c.UpdateWait = 2 * time.Second; c.FaceAttempts = 1 },
		func(a *activities.Activities) { refuse.Payout = a.Payout; a.Payout = refuse })
	waiting, _, _ := e.awaitingTransferOf("o_low", "李四", "110101200001010010", 150000)
	review, token := highRiskOpened(e)
	e.failFaceV2(review, token)
	stuck := e.payee("o_stuck", "赵六", "110101199003077715", 120000)
	refuse.order = stuck
	token = e.login("o_stuck")
	e.must(e.call(http.MethodPost, "/v1/receipts/"+stuck, token, nil, nil), http.StatusOK)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+stuck+"/confirm", token, nil, nil), http.StatusAccepted)

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)[strings.Index(string(readme), "The queries\noperators save:"):]
	section = section[:strings.Index(section, "\n\n|")+2+strings.Index(section[strings.Index(section, "\n\n|")+2:], "\n\n")]
	want := map[string]string{ // README query → the run it lists
		"PayoutRetrying = true":          stuck,
		"ReceiptState = 'MANUAL_REVIEW'": review,
		"ReceiptState = 'AWAITING_TRANSFER_CONFIRM' AND StateSince < '2026-11-23T00:00:00Z'": waiting,
		"MerchantOrderNo = 'M-2026-0001'": stuck,
	}
	rows := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(section, -1)
	if len(rows) != len(want) {
		t.Fatalf("the README's saved queries: %q, want the %d this test knows", rows, len(want))
	}
	for _, row := range rows {
		query := row[1]
		order, ok := want[query]
		if !ok {
			t.Fatalf("the README saves %q, which this test does not know", query)
		}
		asRun := strings.NewReplacer("2026-11-23T00:00:00Z", time.Now().Add(time.Minute).UTC().Format(time.RFC3339),
			"M-2026-0001", e.merchantOrderNo(stuck)).Replace(query)
		asRun = "(" + asRun + ") AND TaskQueue = '" + e.cfg.Temporal.TaskQueue + "'"
		var got []string
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			resp, err := e.client.ListWorkflow(context.Background(), listRequest(e.cfg.Temporal.Namespace, asRun))
			if err != nil {
				t.Fatalf("%s: %v", asRun, err)
			}
			got = got[:0]
			for _, x := range resp.GetExecutions() {
				got = append(got, x.GetExecution().GetWorkflowId())
			}
			if len(got) == 1 && got[0] == workflows.WorkflowID(order) || time.Now().After(deadline) {
				break
			}
		}
		if len(got) != 1 || got[0] != workflows.WorkflowID(order) {
			t.Errorf("%s lists %v, want %s", asRun, got, workflows.WorkflowID(order))
		}
	}
}
