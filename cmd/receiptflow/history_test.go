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
	"github.com/receiptflow/receiptflow/worker"
	"github.com/receiptflow/receiptflow/workflows"
)

var record = flag.Bool("record", false, "rewrite workflows/testdata/*.json with histories of these runs")

// historyScenario drives one branch of ConfirmReceipt through the HTTP API to its end.
type historyScenario struct {
	name      string
	maxEvents int // 0: no budget for this branch
	configure func(*config.Config)
	adjust    []func(*activities.Activities)
	drive     func(e *env) string // returns the order ID
}

var historyScenarios = []historyScenario{
	{name: "low_risk_paid", maxEvents: 25, configure: perPayment, drive: func(e *env) string {
		order := e.payee("o_low", "李四", "110101200001010010", 150000)
		token := e.login("o_low")
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)
		return order
	}},
	{name: "face_pass_paid", maxEvents: 40, configure: perPayment, drive: func(e *env) string {
		order, token := highRiskOpened(e)
		e.passFaceV2(order, token)
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)
		return order
	}},
	{name: "face_fail_review_approved", configure: func(c *config.Config) { perPayment(c); c.FaceAttempts = 2 }, drive: func(e *env) string {
		order, token := highRiskOpened(e)
		e.failFaceV2(order, token)
		e.failFaceV2(order, token)
		var v workflows.View
		e.must(e.call(http.MethodPost, "/v1/ops/receipts/"+order+"/review", opToken, map[string]any{"approve": true, "note": "ID checked by phone"}, &v), http.StatusOK)
		if v.State != workflows.StateAwaitingConfirmation {
			e.t.Fatalf("after review: %+v", v)
		}
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)
		return order
	}},
	{name: "face_expired", configure: func(c *config.Config) { perPayment(c); c.FaceDeadline = 2 * time.Second }, drive: func(e *env) string {
		order, _ := highRiskOpened(e)
		return order
	}},
	{name: "cancelled", configure: perPayment, drive: func(e *env) string {
		order := e.payee("o_low", "李四", "110101200001010010", 150000)
		token := e.login("o_low")
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
		e.must(e.call(http.MethodPost, "/v1/ops/receipts/"+order+"/cancel", opToken, map[string]string{"reason": "payer withdrew the order"}, nil), http.StatusOK)
		return order
	}},
	{name: "wechatpay_confirmed_paid", configure: wechatPay, drive: func(e *env) string {
		order, token, v := e.awaitingTransfer()
		if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); !res.OK() {
			e.t.Fatalf("confirm: %+v", res)
		}
		e.waitState(order, token, workflows.StatePaid)
		return order
	}},
	{name: "wechatpay_rejected_failed", configure: wechatPay, drive: func(e *env) string {
		order, token, v := e.awaitingTransfer()
		if err := e.phone.ExpireTransfer(context.Background(), v.Payout.OutBillNo, "normal"); err != nil {
			e.t.Fatal(err)
		}
		e.waitState(order, token, workflows.StateFailed)
		return order
	}},
	{name: "wechatpay_cancelled_while_waiting", configure: wechatPay, drive: func(e *env) string {
		order, _, _ := e.awaitingTransfer()
		e.must(e.call(http.MethodPost, "/v1/ops/receipts/"+order+"/cancel", opToken, map[string]string{"reason": "payer withdrew"}, nil), http.StatusOK)
		return order
	}},
	{name: "payout_failed", configure: perPayment, adjust: []func(*activities.Activities){failingPayout}, drive: func(e *env) string {
		order := e.payee("o_low", "李四", "110101200001010010", 150000)
		token := e.login("o_low")
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusOK)
		return order
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
			e := newEnv(t, sc.configure, sc.adjust...)
			order := sc.drive(e)
			hist := e.closedHistory(order)
			if sc.maxEvents > 0 && len(hist.Events) > sc.maxEvents {
				t.Errorf("%d events, budget %d", len(hist.Events), sc.maxEvents)
			}
			t.Logf("%s: %d events", sc.name, len(hist.Events))
			replayer, err := sdkworker.NewWorkflowReplayerWithOptions(sdkworker.WorkflowReplayerOptions{DataConverter: codec.DataConverter(ring)})
			if err != nil {
				t.Fatal(err)
			}
			worker.RegisterWorkflow(replayer)
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

// closedHistory waits for the order's run to close and returns its full history.
func (e *env) closedHistory(order string) *historypb.History {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		d, err := e.client.DescribeWorkflowExecution(ctx, workflows.WorkflowID(order), "")
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
	it := e.client.GetWorkflowHistory(ctx, workflows.WorkflowID(order), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
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
	return workflows.TransferStatus{OutBillNo: req.OutBillNo, State: workflows.TransferFail, FailReason: "PAYEE_ACCOUNT_ABNORMAL"}, nil
}

func (failChannel) Query(_ context.Context, outBillNo string) (workflows.TransferStatus, error) {
	return workflows.TransferStatus{OutBillNo: outBillNo, State: workflows.TransferFail, FailReason: "PAYEE_ACCOUNT_ABNORMAL"}, nil
}

func (failChannel) Cancel(ctx context.Context, outBillNo string) (workflows.TransferStatus, error) {
	return failChannel{}.Query(ctx, outBillNo)
}

func (failChannel) ConfirmParams(string, string) *workflows.MerchantTransferParams { return nil }
