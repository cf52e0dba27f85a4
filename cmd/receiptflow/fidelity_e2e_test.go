package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/risk"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechatpay"
	"github.com/receiptflow/receiptflow/workflows"
)

// WeChat Pay answers INVALID_REQUEST 「单号已存在但信息不一致」 when the out_bill_no exists with other data — here a
// bill of the order that WeChat Pay has and our store does not (a database restored from before it was made). It
// is not "no bill": the run asks about the same out_bill_no, finds a live bill nobody can confirm, withdraws it and
// pays with the next one. Reading it as "no bill" would fail the run and reverse the tax while that bill lives.
func TestInvalidRequestOnCreateIsResolvedByQuery(t *testing.T) {
	e := newEnv(t, wechatPay)
	order := e.payee("o_low", "李四", "110101200001010010", 150000)
	token := e.login("o_low")
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	// The bill WeChat Pay already has: same out_bill_no, another amount.
	if _, err := e.deps.pay.Create(context.Background(), wechatpay.BillRequest{OutBillNo: order + "T1", OpenID: "o_low", AmountFen: 99900, UserName: "李四"}); err != nil {
		t.Fatal(err)
	}
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if v.State != workflows.StateAwaitingTransferConfirm || v.Payout.OutBillNo != order+"T2" || v.Payout.Confirm == nil {
		t.Fatalf("after confirm: %+v (payout %+v)", v, v.Payout)
	}
	if old, _ := e.sb.Pay().Bill(order + "T1"); old.State != wechatpay.StateCancelled {
		t.Fatalf("the unconfirmable bill is %s", old.State)
	}
	if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); !res.OK() {
		t.Fatalf("confirm: %+v", res)
	}
	e.waitState(order, token, workflows.StatePaid)
}

// TRANSFERING: the payee confirmed and WeChat Pay is moving the money; WeChat lets the page be opened again, so the
// view keeps the confirm parameters until the bill ends.
func TestTransferringKeepsTheConfirmParameters(t *testing.T) {
	e := newEnv(t, wechatPay)
	order, token, v := e.awaitingTransfer()
	if res := e.payeeConfirms(v, sandbox.PayAcceptSlow, "none"); !res.OK() || res.State != wechatpay.StateTransfering {
		t.Fatalf("confirm: %+v", res)
	}
	var now workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/transfer/confirmed", token, nil, &now), http.StatusOK)
	if now.Payout == nil || now.Payout.State != wechatpay.StateTransfering || now.Payout.Confirm == nil || now.Payout.Confirm.Package != v.Payout.Confirm.Package {
		t.Fatalf("while transferring: %+v", now.Payout)
	}
	time.Sleep(2100 * time.Millisecond)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/transfer/confirmed", token, nil, &now), http.StatusOK)
	if now.State != workflows.StatePaid {
		t.Fatalf("after the transfer: %+v", now)
	}
}

// A transfer that fails after the payee's confirm shows WeChat Pay's reason in the payee's words — the merchant's
// reviewer's refusal is not the payee's.
func TestFailReasonReachesThePayeeInTheirWords(t *testing.T) {
	e := newEnv(t, wechatPay)
	order, token, v := e.awaitingTransfer()
	if res, err := e.phone.ConfirmTransfer(context.Background(), transferConfirm(v), sandbox.PayFail, "MERCHANT_REJECT", "normal"); err != nil || !res.OK() {
		t.Fatalf("confirm: %+v %v", res, err)
	}
	failed := e.waitState(order, token, workflows.StateFailed)
	if msg := failed.Reasons[0].Message; msg != "付款方审核人员驳回了本笔转账，款项已退回付款方" || strings.Contains(msg, "您已拒绝") {
		t.Fatalf("payee reads %q", msg)
	}
	e.assertNothingPaid(order)
}

// 实名: an identity typed in is bound to the person only by a passed face verification. Until then every payout
// needs the face step, however small; once bound, a small payout is low risk.
func TestFirstPayoutBindsTheIdentityByFace(t *testing.T) {
	e := newEnv(t, perPayment)
	first := e.newcomer("o_new", "李四", "110101200001010010", 10000) // 100 元
	token := e.login("o_new")
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+first, token, nil, &v), http.StatusOK)
	if v.State != workflows.StateFaceRequired || len(v.Risk.Rules) != 1 || v.Risk.Rules[0] != risk.IDUnbound {
		t.Fatalf("first payout: %+v", v.Risk)
	}
	e.passFaceV2(first, token)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+first+"/confirm", token, nil, &v), http.StatusOK)
	second, _, err := e.deps.store.CreateOrder(context.Background(), store.NewOrder{PayerID: "payer1", PayeeOpenID: "o_new", MerchantOrderNo: "M-2",
		ServiceItem: "delivery", GrossFen: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.deps.store.RecordFunding(context.Background(), store.Funding{OrderID: second.ID, PayerID: "payer1", AmountFen: 10000, Reference: "B-2", Remitter: testPayerAccount}); err != nil {
		t.Fatal(err)
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+second.ID, token, nil, &v), http.StatusOK)
	if v.State != workflows.StateAwaitingConfirmation || v.Risk.Level != "LOW" {
		t.Fatalf("second payout: %+v", v)
	}
}

// Under the working age of 16 a payee is not paid at all (劳动法 第十五条), not only asked for a face.
func TestUnderWorkingAgeIsBlocked(t *testing.T) {
	e := newEnv(t, perPayment)
	birth := time.Now().AddDate(-15, 0, 0)
	order := e.payee("o_young", "王小明", idBornOn(birth), 10000)
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, e.login("o_young"), nil, &v), http.StatusOK)
	if v.State != workflows.StateRejected || v.Reasons[0].Code != "RISK_BLOCKED" || v.Risk.Rules[0] != risk.UnderWorkAge {
		t.Fatalf("a 15-year-old: %+v (risk %+v)", v, v.Risk)
	}
}

// idBornOn makes a checksum-valid ID number of someone born on day.
func idBornOn(day time.Time) string {
	return pii.WithCheckDigit("110101" + day.Format("20060102") + "123")
}

// Text fields refuse control and bidirectional formatting characters with a 400 that names the field.
func TestControlCharactersAreRefusedByName(t *testing.T) {
	e := newEnv(t, perPayment)
	if err := e.deps.store.PutPayer(context.Background(), store.Payer{ID: "payer1", Name: "示例", Secret: testMerchantSecret, Account: testPayerAccount}); err != nil {
		t.Fatal(err)
	}
	base := map[string]any{"merchantOrderNo": "M-1", "payeeOpenId": "o_x", "serviceItem": "design", "description": "海报", "grossFen": 100}
	for field, bad := range map[string]any{"merchantOrderNo": "M\u202e1", "serviceItem": "a\u0000b", "description": "x\u2066y", "payeeOpenId": "o\u0085x"} {
		body := map[string]any{}
		for k, v := range base {
			body[k] = v
		}
		body[field] = bad
		r := e.signed(http.MethodPost, "/v1/merchant/orders", "idem-"+field, body, time.Now(), "", nil)
		e.problem(r, http.StatusBadRequest, "BAD_REQUEST")
		if !strings.Contains(string(r.body), field) {
			t.Errorf("%s: the error does not name the field: %s", field, r.body)
		}
	}
	order := e.payee("o_low", "李四", "110101200001010010", 150000)
	r := e.call(http.MethodPost, "/v1/ops/receipts/"+order+"/cancel", opToken, map[string]string{"reason": "wrong\u202eamount"}, nil)
	e.problem(r, http.StatusBadRequest, "BAD_REQUEST")
	if !strings.Contains(string(r.body), "reason") {
		t.Errorf("cancel reason: %s", r.body)
	}
}
