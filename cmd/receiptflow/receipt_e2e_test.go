package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

func perPayment(c *config.Config) { c.TaxMethod = string(tax.PerPayment) }

func v1PerPayment(c *config.Config) {
	c.TaxMethod = string(tax.PerPayment)
	c.FaceMode = "v1"
}

func TestLowRiskPayeeGoesStraightToPaid(t *testing.T) {
	e := newEnv(t, perPayment)
	order := e.payee("o_low", "李四", "110101200001010010", 150000) // 1,500 元: under every risk threshold
	token := e.login("o_low")

	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	if v.State != workflows.StateAwaitingConfirmation || v.Risk.Level != "LOW" || len(v.Risk.Rules) != 0 {
		t.Fatalf("after the tap: %+v", v)
	}
	// Per payment: (1,500 − 800) × 20% = 140 元.
	if v.Amounts.GrossFen != 150000 || v.Amounts.TaxFen != 14000 || v.Amounts.NetFen != 136000 || v.Amounts.Booked {
		t.Fatalf("amounts: %+v", v.Amounts)
	}
	// A second tap attaches to the same run.
	var again workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &again), http.StatusOK)
	if again.State != workflows.StateAwaitingConfirmation || again.UpdatedAt != v.UpdatedAt {
		t.Fatalf("second tap: %+v", again)
	}

	var paid workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &paid), http.StatusOK)
	if paid.State != workflows.StatePaid || !paid.Amounts.Booked || paid.Payout == nil || paid.Payout.State != wechatpay.StateSuccess {
		t.Fatalf("after confirm: %+v", paid)
	}
	e.assertPaidOnce(order, 136000, 14000)

	var read workflows.View
	e.must(e.call(http.MethodGet, "/v1/receipts/"+order, token, nil, &read), http.StatusOK)
	if read.State != workflows.StatePaid {
		t.Fatalf("GET: %+v", read)
	}
	// A tap on a paid order shows how it ended and starts nothing.
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &read), http.StatusOK)
	if read.State != workflows.StatePaid {
		t.Fatalf("tap after paid: %+v", read)
	}
	e.assertPaidOnce(order, 136000, 14000)
	e.assertSearchAttributes(order, "PAID", "LOW", 150000)
}

func TestHighRiskPayeePassesFaceV1AndIsPaidNetOfTax(t *testing.T) {
	e := newEnv(t, v1PerPayment)
	order := e.payee("o_high", "王五", "440304199003070018", 200000) // 2,000 元: a large single payment
	token := e.login("o_high")

	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	if v.State != workflows.StateFaceRequired || v.Risk.Level != "HIGH" || v.Risk.Rules[0] != "LARGE_SINGLE_PAYMENT" || v.Face == nil || v.Face.AttemptsLeft != 3 {
		t.Fatalf("after the tap: %+v", v)
	}
	// Confirming before the face step is refused and pays nothing.
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusConflict, "WRONG_STATE")

	// The seed's apiGetUserIdKey: {userIdKey, errcode, errmsg}.
	var key struct {
		UserIDKey string `json:"userIdKey"`
		ErrCode   *int   `json:"errcode"`
		ErrMsg    string `json:"errmsg"`
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/session", token, map[string]int{"source": 1}, &key), http.StatusOK)
	if key.UserIDKey == "" || key.ErrCode == nil || *key.ErrCode != 0 {
		t.Fatalf("face session: %+v", key)
	}
	scan, err := e.phone.ScanV1(context.Background(), key.UserIDKey, "o_high", sandbox.OutcomePass)
	if err != nil || scan.VerifyResult == "" {
		t.Fatalf("scan: %+v %v", scan, err)
	}
	// The seed's apiVerifyFace: {identifyRet, errcode, errmsg}, pass when both are 0.
	var res struct {
		IdentifyRet *int   `json:"identifyRet"`
		ErrCode     *int   `json:"errcode"`
		State       string `json:"state"`
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/result", token, map[string]any{"verifyResult": scan.VerifyResult, "source": 1}, &res), http.StatusOK)
	if res.IdentifyRet == nil || *res.IdentifyRet != 0 || res.ErrCode == nil || *res.ErrCode != 0 || res.State != string(workflows.StateAwaitingConfirmation) {
		t.Fatalf("face result: %+v", res)
	}

	var paid workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &paid), http.StatusOK)
	// 2,000 元 per payment → 240 元 tax (劳务报酬 per payment: (2,000 − 800) × 20%), 1,760 元 paid.
	if paid.State != workflows.StatePaid || paid.Amounts.TaxFen != 24000 || paid.Amounts.NetFen != 176000 {
		t.Fatalf("after confirm: %+v", paid)
	}
	e.assertPaidOnce(order, 176000, 24000)
	e.assertSearchAttributes(order, "PAID", "HIGH", 200000)

	attempts, err := e.deps.store.FaceAttempts(context.Background(), order)
	if err != nil || len(attempts) != 1 || attempts[0].Outcome != workflows.FacePass || attempts[0].Mode != "v1" {
		t.Fatalf("face audit: %+v %v", attempts, err)
	}
}

func TestFaceFailureDoesNotPay(t *testing.T) {
	e := newEnv(t, v1PerPayment)
	order := e.payee("o_high", "王五", "440304199003070018", 200000)
	token := e.login("o_high")
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)

	var key struct {
		UserIDKey string `json:"userIdKey"`
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/session", token, nil, &key), http.StatusOK)
	scan, _ := e.phone.ScanV1(context.Background(), key.UserIDKey, "o_high", sandbox.OutcomeMismatchFace)
	var res struct {
		IdentifyRet  int    `json:"identifyRet"`
		ErrCode      int    `json:"errcode"`
		ErrMsg       string `json:"errmsg"`
		Passed       bool   `json:"passed"`
		AttemptsLeft int    `json:"attemptsLeft"`
		State        string `json:"state"`
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/result", token, map[string]string{"verifyResult": scan.VerifyResult}, &res), http.StatusOK)
	if res.IdentifyRet != 10004 || res.ErrCode != 0 || res.Passed || res.AttemptsLeft != 2 || res.State != string(workflows.StateFaceRequired) || res.ErrMsg == "" {
		t.Fatalf("face result: %+v", res)
	}
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusConflict, "WRONG_STATE")
	// The same scan result cannot be submitted twice: the credential it belonged to is used up.
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/result", token, map[string]string{"verifyResult": scan.VerifyResult}, nil), http.StatusConflict, "WRONG_STATE")

	var v workflows.View
	e.must(e.call(http.MethodGet, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	if v.State != workflows.StateFaceRequired || v.Face.AttemptsUsed != 1 || v.Face.LastCode != 10004 || v.Payout != nil {
		t.Fatalf("view: %+v", v)
	}
	bills, _ := e.deps.store.TransfersByOrder(context.Background(), order)
	if len(bills) != 0 {
		t.Fatalf("a face failure created bills: %+v", bills)
	}
}

func TestAnotherPayeeCannotSeeOrActOnAnOrder(t *testing.T) {
	e := newEnv(t, perPayment)
	order := e.payee("o_owner", "李四", "110101200001010010", 150000)
	e.payee("o_other", "赵六", "310101195501010088", 100000)
	owner, other := e.login("o_owner"), e.login("o_other")

	for _, r := range []struct{ method, path string }{
		{http.MethodPost, "/v1/receipts/" + order},
		{http.MethodGet, "/v1/receipts/" + order},
		{http.MethodPost, "/v1/receipts/" + order + "/face/session"},
		{http.MethodPost, "/v1/receipts/" + order + "/confirm"},
	} {
		// Answered as an unknown order would be: order IDs cannot be probed.
		e.problem(e.call(r.method, r.path, other, nil, nil), http.StatusNotFound, "ORDER_NOT_FOUND")
	}
	// Nothing was started for the other payee's taps: the owner's run starts fresh and is theirs.
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, owner, nil, &v), http.StatusOK)
	if v.State != workflows.StateAwaitingConfirmation {
		t.Fatalf("owner: %+v", v)
	}
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", other, nil, nil), http.StatusNotFound, "ORDER_NOT_FOUND")
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", owner, nil, &v), http.StatusOK)
	if v.State != workflows.StatePaid {
		t.Fatalf("owner confirm: %+v", v)
	}
}

func TestBadInputGetsClearErrorsAndPaysNothing(t *testing.T) {
	e := newEnv(t, perPayment)
	order := e.payee("o_low", "李四", "110101200001010010", 150000)
	token := e.login("o_low")

	e.problem(e.call(http.MethodPost, "/v1/session", "", `{"code":`, nil), http.StatusBadRequest, "BAD_JSON")
	e.problem(e.call(http.MethodPost, "/v1/session", "", `{}`, nil), http.StatusBadRequest, "BAD_REQUEST")
	e.problem(e.call(http.MethodPost, "/v1/session", "", `{"code":"never-issued"}`, nil), http.StatusBadRequest, "WECHAT_REFUSED")
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order, "", nil, nil), http.StatusUnauthorized, "UNAUTHENTICATED")
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order, "not-a-token", nil, nil), http.StatusUnauthorized, "UNAUTHENTICATED")
	forged := token[:strings.Index(token, ".")] + ".AAAA"
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order, forged, nil, nil), http.StatusUnauthorized, "UNAUTHENTICATED")
	e.problem(e.call(http.MethodPost, "/v1/receipts/nosuchorder1", token, nil, nil), http.StatusNotFound, "ORDER_NOT_FOUND")
	e.problem(e.call(http.MethodPost, "/v1/receipts/bad-id!", token, nil, nil), http.StatusBadRequest, "BAD_ORDER_ID")
	e.problem(e.call(http.MethodGet, "/v1/receipts/"+order, token, nil, nil), http.StatusNotFound, "RECEIPT_NOT_STARTED")
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusNotFound, "RECEIPT_NOT_STARTED")
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/result", token, `{"verifyResult":`, nil), http.StatusBadRequest, "BAD_JSON")
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, strings.Repeat("x", 70<<10), nil), http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE")
	e.problem(e.call(http.MethodDelete, "/v1/receipts/"+order, token, nil, nil), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
	e.problem(e.call(http.MethodGet, "/v1/nothing-here", token, nil, nil), http.StatusNotFound, "NOT_FOUND")

	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	// Face steps for a low-risk run: wrong state. An empty verify result: bad request, before reaching the run.
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/session", token, nil, nil), http.StatusConflict, "WRONG_STATE")
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/result", token, `{"verifyResult":"  "}`, nil), http.StatusBadRequest, "BAD_REQUEST")

	bills, _ := e.deps.store.TransfersByOrder(context.Background(), order)
	if len(bills) != 0 {
		t.Fatalf("bad input paid: %+v", bills)
	}
}

// assertPaidOnce checks the money: one successful bill of net, one standing withholding of tax.
func (e *env) assertPaidOnce(order string, net, taxFen int64) {
	e.t.Helper()
	ctx := context.Background()
	bills, err := e.deps.store.TransfersByOrder(ctx, order)
	if err != nil || len(bills) != 1 || bills[0].State != wechatpay.StateSuccess || bills[0].AmountFen != net {
		e.t.Fatalf("bills: %+v %v", bills, err)
	}
	o, _ := e.deps.store.Order(ctx, order)
	if o.State != store.OrderPaid {
		e.t.Fatalf("order state %s", o.State)
	}
	_, income, withheld := e.orderLedger(o, o.UpdatedAt)
	if income != o.GrossFen || withheld != taxFen {
		e.t.Fatalf("ledger: income %d tax %d, want %d / %d", income, withheld, o.GrossFen, taxFen)
	}
}

// orderLedger sums an order's ledger rows in the tax month of at.
func (e *env) orderLedger(o store.Order, at time.Time) (rows int, income, withheld int64) {
	e.t.Helper()
	entries, err := e.deps.store.TaxEntries(context.Background(), o.PayeeID, tax.Period(at))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, en := range entries {
		if en.OrderID == o.ID {
			rows++
			income += en.IncomeFen
			withheld += en.TaxFen
		}
	}
	return rows, income, withheld
}

// assertSearchAttributes checks what operators see in the UI: the run's attributes, and no PII among them.
func (e *env) assertSearchAttributes(order, state, riskLevel string, amount int64) {
	e.t.Helper()
	desc, err := e.client.DescribeWorkflow(context.Background(), workflows.WorkflowID(order), "")
	if err != nil {
		e.t.Fatal(err)
	}
	sa := desc.TypedSearchAttributes
	if v, _ := sa.GetKeyword(workflows.SearchOrderID); v != order {
		e.t.Errorf("OrderId = %q", v)
	}
	if v, _ := sa.GetKeyword(workflows.SearchState); v != state {
		e.t.Errorf("ReceiptState = %q, want %s", v, state)
	}
	if v, _ := sa.GetKeyword(workflows.SearchRiskLevel); v != riskLevel {
		e.t.Errorf("RiskLevel = %q, want %s", v, riskLevel)
	}
	if v, _ := sa.GetKeyword(workflows.SearchPayerID); v != "payer1" {
		e.t.Errorf("PayerId = %q", v)
	}
	if v, _ := sa.GetInt64(workflows.SearchAmountFen); v != amount {
		e.t.Errorf("AmountFen = %d, want %d", v, amount)
	}
	raw, err := e.client.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(order), "")
	if err != nil {
		e.t.Fatal(err)
	}
	dump := raw.GetWorkflowExecutionInfo().GetSearchAttributes().String()
	for _, secret := range []string{"o_high", "o_low", "王五", "李四", "440304199003070018", "110101200001010010"} {
		if strings.Contains(dump, secret) {
			e.t.Errorf("search attributes contain %q", secret)
		}
	}
}
