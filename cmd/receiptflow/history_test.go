package main

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/codec"
	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/worker"
	"github.com/receiptflow/receiptflow/workflows"
)

var record = flag.Bool("record", false, "rewrite workflows/testdata/*.json with histories of these runs")

// historyScenario drives one branch of ConfirmReceipt (or SettleBill) through the HTTP API to its end.
type historyScenario struct {
	name string
	// maxEvents is the branch's event budget: what it costs today, measured, plus a little slack for the batching
	// of concurrent messages into workflow tasks. A change that makes a branch dearer fails here.
	maxEvents int
	// deadlineFires: the branch waits out a deadline, so one timer fires; every other branch cancels its timers.
	deadlineFires bool
	configure     func(*config.Config)
	adjust        []func(*activities.Activities)
	// inEndedQuarter runs the books in the quarter before this one, for the branches that file what has ended.
	inEndedQuarter bool
	drive          func(e *env) (workflowID string)
}

var historyScenarios = []historyScenario{
	{name: "low_risk_paid", maxEvents: 23, configure: perPayment, drive: func(e *env) string {
		order := e.payee("o_low", "李四", "110101200001010010", 150000)
		token := e.login("o_low")
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)
		return workflows.WorkflowID(order)
	}},
	{name: "face_pass_paid", maxEvents: 38, configure: perPayment, drive: func(e *env) string {
		order, token := highRiskOpened(e)
		e.passFaceV2(order, token)
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)
		return workflows.WorkflowID(order)
	}},
	{name: "face_fail_review_approved", maxEvents: 59, configure: func(c *config.Config) { perPayment(c); c.FaceAttempts = 2 }, drive: func(e *env) string {
		order, token := highRiskOpened(e)
		e.failFaceV2(order, token)
		e.failFaceV2(order, token)
		var v workflows.View
		e.must(e.call(http.MethodPost, "/v1/ops/receipts/"+order+"/review", opToken, map[string]any{"approve": true, "note": "ID checked by phone"}, &v), http.StatusOK)
		if v.State != workflows.StateAwaitingConfirmation {
			e.t.Fatalf("after review: %+v", v)
		}
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)
		return workflows.WorkflowID(order)
	}},
	{name: "face_expired", maxEvents: 19, deadlineFires: true, configure: func(c *config.Config) { perPayment(c); c.FaceDeadline = 2 * time.Second }, drive: func(e *env) string {
		order, _ := highRiskOpened(e)
		return workflows.WorkflowID(order)
	}},
	{name: "cancelled", maxEvents: 21, configure: perPayment, drive: func(e *env) string {
		order := e.payee("o_low", "李四", "110101200001010010", 150000)
		token := e.login("o_low")
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
		e.must(e.call(http.MethodPost, "/v1/ops/receipts/"+order+"/cancel", opToken, map[string]string{"reason": "payer withdrew the order"}, nil), http.StatusOK)
		return workflows.WorkflowID(order)
	}},
	{name: "wechatpay_confirmed_paid", maxEvents: 32, configure: wechatPay, drive: func(e *env) string {
		order, token, v := e.awaitingTransfer()
		if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); !res.OK() {
			e.t.Fatalf("confirm: %+v", res)
		}
		e.waitState(order, token, workflows.StatePaid)
		return workflows.WorkflowID(order)
	}},
	// The payee takes their time: WeChat Pay is looked at every second (TransferPollInterval) while they do, and
	// the history costs the same as when they confirm at once — the looks are the server's retries.
	{name: "wechatpay_slow_payee_paid", maxEvents: 31, configure: func(c *config.Config) { wechatPay(c); c.TransferPollInterval = time.Second }, drive: func(e *env) string {
		order, token, v := e.awaitingTransfer()
		time.Sleep(4 * time.Second)
		if res := e.payeeConfirms(v, sandbox.PayAccept, "none"); !res.OK() {
			e.t.Fatalf("confirm: %+v", res)
		}
		e.waitState(order, token, workflows.StatePaid)
		return workflows.WorkflowID(order)
	}},
	{name: "wechatpay_expired_failed", maxEvents: 33, configure: wechatPay, drive: func(e *env) string {
		order, token, v := e.awaitingTransfer()
		if err := e.phone.ExpireTransfer(context.Background(), v.Payout.OutBillNo, "normal"); err != nil {
			e.t.Fatal(err)
		}
		e.waitState(order, token, workflows.StateFailed)
		return workflows.WorkflowID(order)
	}},
	{name: "wechatpay_cancelled_while_waiting", maxEvents: 46, configure: wechatPay, drive: func(e *env) string {
		order, _, _ := e.awaitingTransfer()
		e.must(e.call(http.MethodPost, "/v1/ops/receipts/"+order+"/cancel", opToken, map[string]string{"reason": "payer withdrew"}, nil), http.StatusOK)
		return workflows.WorkflowID(order)
	}},
	{name: "payout_failed", maxEvents: 24, configure: perPayment, adjust: []func(*activities.Activities){failingPayout}, drive: func(e *env) string {
		order := e.payee("o_low", "李四", "110101200001010010", 150000)
		token := e.login("o_low")
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)
		return workflows.WorkflowID(order)
	}},
	// The run is terminated while the bill waits for the payee; the payee confirms anyway, and WeChat Pay's
	// callback settles the order through SettleBill.
	{name: "settle_after_terminate", maxEvents: 9, configure: wechatPay, drive: func(e *env) string {
		order, token, v := e.awaitingTransfer()
		if err := e.client.TerminateWorkflow(context.Background(), workflows.WorkflowID(order), "", "operator terminated"); err != nil {
			e.t.Fatal(err)
		}
		if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); !res.OK() {
			e.t.Fatalf("confirm: %+v", res)
		}
		e.sb.Pay().Wait()
		e.waitOrder(order, store.OrderPaid)
		_ = token
		return workflows.SettleWorkflowID(v.Payout.OutBillNo)
	}},
	{name: "reconcile_findings", maxEvents: 31, configure: wechatPay, drive: func(e *env) string {
		start := time.Now().Add(-time.Minute)
		_, paid := e.settledBill(1, 150000, true)
		_, _ = e.settledBill(2, 120000, false)
		if err := e.phone.TamperBill(context.Background(), paid.Payout.OutBillNo, "", paid.Amounts.NetFen+1); err != nil {
			e.t.Fatal(err)
		}
		d := e.reconcile(start, time.Now().Add(time.Minute))
		if d.Findings != 1 {
			e.t.Fatalf("reconciliation: %+v", d)
		}
		return workflows.ReconcileWorkflowID(d.ID)
	}},
	{name: "monthly_filing", maxEvents: 14, configure: wechatPay, inEndedQuarter: true, drive: func(e *env) string {
		e.payOnce(e.payee("o_file", "李四", "110101200001010010", 150000), "o_file", true)
		period := tax.Period(e.booksNow())
		e.must(e.call(http.MethodPost, "/v1/ops/filings", opToken, map[string]string{"period": period}, nil), http.StatusAccepted)
		return workflows.FilingWorkflowID(period)
	}},
	{name: "quarterly_report", maxEvents: 13, configure: wechatPay, inEndedQuarter: true, drive: func(e *env) string {
		e.payOnce(e.payee("o_rep", "李四", "110101200001010010", 150000), "o_rep", true)
		quarter, _ := store.QuarterOf(tax.Period(e.booksNow()))
		e.must(e.call(http.MethodPost, "/v1/ops/platform-reports", opToken, map[string]string{"quarter": quarter}, nil), http.StatusAccepted)
		return workflows.ReportWorkflowID(quarter)
	}},
	// One poll: the sandbox's receipt is made by the query after the first, so the run waits once (its one timer).
	{name: "bill_receipt_stored", maxEvents: 30, deadlineFires: true, configure: func(c *config.Config) { wechatPay(c); c.ReceiptPollInterval = 300 * time.Millisecond },
		drive: func(e *env) string {
			order := e.payee("o_rcpt", "李四", "110101200001010010", 150000)
			paid := e.payOnce(order, "o_rcpt", true)
			e.problem(e.call(http.MethodGet, "/v1/ops/orders/"+order+"/receipt", opToken, nil, nil), http.StatusAccepted, "RECEIPT_GENERATING")
			return workflows.ReceiptWorkflowID(paid.Payout.OutBillNo)
		}},
	// The endpoint refuses the first attempt and takes the second: one activity, retried by the server.
	{name: "webhook_delivered_after_retry", maxEvents: 13, configure: quickWebhooks, drive: func(e *env) string {
		rcv := newReceiver(e.t.(*testing.T), func(w http.ResponseWriter) { http.Error(w, "busy", http.StatusServiceUnavailable) })
		order := e.payee("o_hooked", "李四", "110101200001010010", 150000)
		e.must(e.signed(http.MethodPut, "/v1/merchant/webhook", "", map[string]any{"url": rcv.URL, "events": []string{"order.paid"}}, time.Now(), "", nil), http.StatusCreated)
		token := e.login("o_hooked")
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)
		got := rcv.waitFor(e.t.(*testing.T), 2, 20*time.Second)
		return workflows.DeliveryWorkflowID(got[0].id, 0)
	}},
}

const opToken = "operator-token-0123456789"

// TestHistories runs every branch on the embedded server, checks the history stays within its event budget and
// replays against the current workflow code; with -record it also rewrites workflows/testdata, which the
// workflows package replays on every go test.
func TestHistories(t *testing.T) {
	ring, _ := keyring.Parse(payloadKeys)
	for _, sc := range historyScenarios {
		t.Run(sc.name, func(t *testing.T) {
			w := world{}
			if sc.inEndedQuarter {
				w.books = lastQuarter()
			}
			e := newWorld(t, w, sc.configure, sc.adjust...)
			hist := e.closedHistory(sc.drive(e))
			if len(hist.Events) > sc.maxEvents {
				t.Errorf("%d events, budget %d", len(hist.Events), sc.maxEvents)
			}
			fired := 0
			for _, ev := range hist.Events {
				if ev.GetEventType() == enumspb.EVENT_TYPE_TIMER_FIRED {
					fired++
				}
			}
			// The bill is created by the confirm's workflow task (a local activity): no branch here fails the first
			// try, so none schedules CreateTransfer as an activity, a second round trip through the server.
			for _, ev := range hist.Events {
				if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == workflows.CreateTransfer.Name {
					t.Errorf("event %d schedules %s as an activity: the first try is a local activity", ev.GetEventId(), workflows.CreateTransfer.Name)
				}
			}
			// A workflow task writes its search attributes once at most, however many states it passes through.
			upserts := 0
			for _, ev := range hist.Events {
				switch ev.GetEventType() {
				case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
					upserts = 0
				case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
					if upserts++; upserts > 1 {
						t.Errorf("event %d: a second search-attribute upsert in one workflow task", ev.GetEventId())
					}
				}
			}
			if want := map[bool]int{true: 1, false: 0}[sc.deadlineFires]; fired != want {
				t.Errorf("%d timers fired, want %d: a deadline must be cancelled when its step is done", fired, want)
			}
			t.Logf("%s: %d events", sc.name, len(hist.Events))
			replayer, err := sdkworker.NewWorkflowReplayerWithOptions(sdkworker.WorkflowReplayerOptions{DataConverter: codec.DataConverter(ring)})
			if err != nil {
				t.Fatal(err)
			}
			worker.RegisterWorkflows(replayer)
			if err := replayer.ReplayWorkflowHistory(nil, hist); err != nil {
				t.Fatalf("replay: %v", err)
			}
			if *record {
				raw, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join("../../workflows/testdata", sc.name+".json"), append(raw, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// closedHistory waits for a workflow to close and returns its full history.
func (e *env) closedHistory(workflowID string) *historypb.History {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		d, err := e.client.DescribeWorkflowExecution(ctx, workflowID, "")
		if err != nil {
			e.t.Fatal(err)
		}
		if d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			break
		}
		select {
		case <-ctx.Done():
			e.t.Fatal("run did not close")
		case <-time.After(100 * time.Millisecond):
		}
	}
	it := e.client.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			e.t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	return hist
}

func highRiskOpened(e *env) (order, token string) {
	e.t.Helper()
	order = e.payee("o_high", "王五", "440304199003070018", 200000)
	token = e.login("o_high")
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	if v.State != workflows.StateFaceRequired {
		e.t.Fatalf("after the tap: %+v", v)
	}
	return order, token
}

// passFaceV2 / failFaceV2: credential, the phone's scan with an outcome, the server-side check.
func (e *env) passFaceV2(order, token string) faceAnswerBody {
	return e.faceV2(order, token, sandbox.OutcomePass)
}

func (e *env) failFaceV2(order, token string) faceAnswerBody {
	return e.faceV2(order, token, sandbox.OutcomeMismatchFace)
}

type faceAnswerBody struct {
	IdentifyRet  int    `json:"identifyRet"`
	ErrCode      int    `json:"errcode"`
	ErrMsg       string `json:"errmsg"`
	Passed       bool   `json:"passed"`
	Outcome      string `json:"outcome"`
	AttemptsLeft int    `json:"attemptsLeft"`
	State        string `json:"state"`
}

func (e *env) faceV2(order, token, outcome string) faceAnswerBody {
	e.t.Helper()
	var cred struct {
		VerifyID string `json:"verifyId"`
		ErrCode  int    `json:"errcode"`
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/session", token, nil, &cred), http.StatusOK)
	if cred.VerifyID == "" || cred.ErrCode != 0 {
		e.t.Fatalf("face session: %+v", cred)
	}
	if _, err := e.phone.VerifyV2(context.Background(), cred.VerifyID, outcome); err != nil {
		e.t.Fatal(err)
	}
	var res faceAnswerBody
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/result", token, map[string]string{"verifyId": cred.VerifyID}, &res), http.StatusOK)
	return res
}

// failingPayout swaps in a channel whose every bill fails, as WeChat Pay's do for an abnormal account.
func failingPayout(a *activities.Activities) { a.Payout = failChannel{} }

type failChannel struct{}

func (failChannel) Channel() string { return "test" }

func (failChannel) Create(_ context.Context, req activities.TransferRequest) (workflows.TransferStatus, error) {
	return workflows.TransferStatus{OutBillNo: req.OutBillNo, State: wechatpay.StateFail, FailReason: "PAYEE_ACCOUNT_ABNORMAL"}, nil
}

func (failChannel) Query(_ context.Context, outBillNo string) (workflows.TransferStatus, error) {
	return workflows.TransferStatus{OutBillNo: outBillNo, State: wechatpay.StateFail, FailReason: "PAYEE_ACCOUNT_ABNORMAL"}, nil
}

func (failChannel) Cancel(ctx context.Context, outBillNo string) (workflows.TransferStatus, error) {
	return failChannel{}.Query(ctx, outBillNo)
}

func (failChannel) ConfirmParams(string, string) *workflows.MerchantTransferParams { return nil }
