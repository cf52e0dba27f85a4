package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/api"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

const testMerchantSecret = "merchant-secret-0123456789"

// signed sends a merchant request signed as payer1; at shifts the timestamp, nonce "" picks a fresh one.
func (e *env) signed(method, path, idemKey string, body any, at time.Time, nonce string, out any) response {
	e.t.Helper()
	return e.signedAs("payer1", testMerchantSecret, method, path, idemKey, body, at, nonce, out)
}

// signedAs is a merchant request of payer, signed with secret.
func (e *env) signedAs(payer, secret, method, path, idemKey string, body any, at time.Time, nonce string, out any) response {
	e.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	if nonce == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		nonce = hex.EncodeToString(b)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	req, _ := http.NewRequest(method, e.api.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.HeaderPayer, payer)
	req.Header.Set(api.HeaderTimestamp, ts)
	req.Header.Set(api.HeaderNonce, nonce)
	req.Header.Set(api.HeaderSignature, api.SignMerchantRequest(secret, method, path, ts, nonce, raw))
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return response{status: resp.StatusCode, body: b}
}

type merchantOrderBody struct {
	store.Order
	Receipt *workflows.View `json:"receipt"`
}

func TestMerchantOrderOnboardingAndPayout(t *testing.T) {
	e := newEnv(t, perPayment)
	ctx := context.Background()
	if err := e.deps.store.PutPayer(ctx, store.Payer{ID: "payer1", Name: "示例科技有限公司", Secret: testMerchantSecret, Account: testPayerAccount}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	create := map[string]any{"merchantOrderNo": "M-2026-0001", "payeeOpenId": "o_new", "serviceItem": "design", "description": "海报设计", "grossFen": 500000}

	var created merchantOrderBody
	e.must(e.signed(http.MethodPost, "/v1/merchant/orders", "idem-key-0001", create, now, "", &created), http.StatusCreated)
	if created.ID == "" || created.State != store.OrderCreated || created.GrossFen != 500000 {
		t.Fatalf("created: %+v", created)
	}
	// Same key, same body: the same answer. Same key, other body: 409. Missing key: 400.
	var again merchantOrderBody
	e.must(e.signed(http.MethodPost, "/v1/merchant/orders", "idem-key-0001", create, now, "", &again), http.StatusCreated)
	if again.ID != created.ID {
		t.Fatalf("replayed create gave another order: %s vs %s", again.ID, created.ID)
	}
	create["grossFen"] = 600000
	e.problem(e.signed(http.MethodPost, "/v1/merchant/orders", "idem-key-0001", create, now, "", nil), http.StatusConflict, "IDEMPOTENCY_KEY_REUSED")
	e.problem(e.signed(http.MethodPost, "/v1/merchant/orders", "", create, now, "", nil), http.StatusBadRequest, "IDEMPOTENCY_KEY_REQUIRED")
	e.problem(e.signed(http.MethodPost, "/v1/merchant/orders", "idem-key-0002", map[string]any{"payeeOpenId": "o_new", "merchantOrderNo": "x", "serviceItem": "s", "grossFen": -5}, now, "", nil), http.StatusBadRequest, "BAD_REQUEST")

	// The payee taps before onboarding: refused with the 三流合一 reasons the page shows.
	token := e.login("o_new")
	order := created.ID
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	if v.State != workflows.StateRejected || !hasReason(v, "PAYEE_NOT_VERIFIED") || !hasReason(v, "AGREEMENT_MISSING") || !hasReason(v, "FUNDS_NOT_ARRIVED") {
		t.Fatalf("before onboarding: %+v", v)
	}

	// Onboarding: real name (validated, sealed), then the agreement with the payer.
	e.problem(e.call(http.MethodPost, "/v1/me/agreements/payer1", token, nil, nil), http.StatusConflict, "NOT_VERIFIED")
	e.problem(e.call(http.MethodPost, "/v1/me/identity", token, map[string]string{"name": "周七", "idNumber": "310101199801011234"}, nil), http.StatusBadRequest, "ID_CHECKSUM")
	// Names that are spreadsheet formulas, or read otherwise than they are, are no names (issue 22).
	for _, name := range []string{"=cmd|'/C calc'!A", "+SUM(A:A)", "@SUM(A:A)", "周\u202e七", "周\u200b七"} {
		r := e.call(http.MethodPost, "/v1/me/identity", token, map[string]string{"name": name, "idNumber": "110101200001010010"}, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "name") {
			t.Errorf("name %q: %d %s", name, r.status, r.body)
		}
	}
	var id struct {
		Verified bool   `json:"verified"`
		Name     string `json:"name"`
		IDNumber string `json:"idNumber"`
	}
	e.must(e.call(http.MethodPost, "/v1/me/identity", token, map[string]string{"name": "周七", "idNumber": "110101200001010010"}, &id), http.StatusOK)
	if !id.Verified || id.Name != "周*" || id.IDNumber != "1101**********0010" {
		t.Fatalf("identity answer: %+v", id)
	}
	e.problem(e.call(http.MethodPost, "/v1/me/agreements/nopayer", token, nil, nil), http.StatusNotFound, "PAYER_NOT_FOUND")
	e.must(e.call(http.MethodPost, "/v1/me/agreements/payer1", token, nil, nil), http.StatusOK)

	// Funds arrive (operators reconcile the bank statement, remitting account and all), then the payee taps
	// again: a new run, eligible.
	funding := map[string]any{"amountFen": 500000, "reference": "BANK-1", "remitter": map[string]string{"name": testPayerAccount.Name, "account": testPayerAccount.Number}}
	e.problem(e.call(http.MethodPost, "/v1/ops/orders/"+order+"/funding", "", funding, nil), http.StatusUnauthorized, "UNAUTHENTICATED")
	e.problem(e.call(http.MethodPost, "/v1/ops/orders/"+order+"/funding", opToken, map[string]any{"amountFen": 500000, "reference": "BANK-1"}, nil), http.StatusBadRequest, "BAD_REQUEST")
	e.must(e.call(http.MethodPost, "/v1/ops/orders/"+order+"/funding", opToken, funding, nil), http.StatusOK)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	// 5,000 元 is a large payment: face first.
	if v.State != workflows.StateFaceRequired {
		t.Fatalf("after onboarding: %+v", v)
	}
	e.passFaceV2(order, token)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	// Per payment: 5,000 × 80% = 4,000 taxable × 20% = 800 元.
	if v.State != workflows.StatePaid || v.Amounts.TaxFen != 80000 || v.Amounts.NetFen != 420000 {
		t.Fatalf("paid: %+v", v)
	}
	e.assertPaidOnce(order, 420000, 80000)

	var got merchantOrderBody
	e.must(e.signed(http.MethodGet, "/v1/merchant/orders/"+order, "", nil, now, "", &got), http.StatusOK)
	if got.State != store.OrderPaid || got.Receipt == nil || got.Receipt.State != workflows.StatePaid {
		t.Fatalf("merchant view: %+v", got)
	}
	e.problem(e.signed(http.MethodPost, "/v1/merchant/orders/"+order+"/cancel", "", map[string]string{"reason": "too late"}, now, "", nil), http.StatusConflict, "ORDER_CLOSED")

	var list struct {
		Receipts []struct {
			OrderID string `json:"orderId"`
			State   string `json:"state"`
		} `json:"receipts"`
	}
	e.must(e.call(http.MethodGet, "/v1/me/receipts", token, nil, &list), http.StatusOK)
	if len(list.Receipts) != 1 || list.Receipts[0].OrderID != order || list.Receipts[0].State != store.OrderPaid {
		t.Fatalf("my receipts: %+v", list)
	}
	// The books: one payment posted, 800 元 withheld of 5,000 元.
	o, _ := e.deps.store.Order(ctx, order)
	payments, _ := e.deps.store.Payments(ctx, store.PaymentQuery{PayeeID: o.PayeeID})
	if len(payments) != 1 || payments[0].State != store.PaymentPosted || payments[0].TaxFen != 80000 || payments[0].GrossFen != 500000 {
		t.Fatalf("books: %+v", payments)
	}
}

func TestMerchantSignatureChecks(t *testing.T) {
	e := newEnv(t, perPayment)
	if err := e.deps.store.PutPayer(context.Background(), store.Payer{ID: "payer1", Name: "示例", Secret: testMerchantSecret}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	path := "/v1/merchant/orders/nosuchorder1"
	e.problem(e.signed(http.MethodGet, path, "", nil, now.Add(-6*time.Minute), "", nil), http.StatusUnauthorized, "STALE_REQUEST")
	e.problem(e.signed(http.MethodGet, path, "", nil, now.Add(6*time.Minute), "", nil), http.StatusUnauthorized, "STALE_REQUEST")
	e.must(e.signed(http.MethodGet, path, "", nil, now, "nonce-reused-000001", nil), http.StatusNotFound)
	e.problem(e.signed(http.MethodGet, path, "", nil, now, "nonce-reused-000001", nil), http.StatusUnauthorized, "REPLAYED")
	e.problem(e.call(http.MethodGet, path, "", nil, nil), http.StatusUnauthorized, "UNSIGNED")

	// A signature over other content, or by another secret, does not verify.
	req, _ := http.NewRequest(http.MethodGet, e.api.URL+path, nil)
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set(api.HeaderPayer, "payer1")
	req.Header.Set(api.HeaderTimestamp, ts)
	req.Header.Set(api.HeaderNonce, "nonce-forged-0000001")
	req.Header.Set(api.HeaderSignature, api.SignMerchantRequest("another-secret-0123456", http.MethodGet, path, ts, "nonce-forged-0000001", nil))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e.problem(response{status: resp.StatusCode, body: raw}, http.StatusUnauthorized, "BAD_SIGNATURE")
}

func TestMerchantCancelStopsTheRun(t *testing.T) {
	e := newEnv(t, perPayment)
	order := e.payee("o_low", "李四", "110101200001010010", 150000)
	now := time.Now()
	// No run yet: the order itself is cancelled, and a later tap is refused.
	other := e.payee("o_low", "李四", "110101200001010010", 120000)
	var cancelled merchantOrderBody
	e.must(e.signed(http.MethodPost, "/v1/merchant/orders/"+other+"/cancel", "", map[string]string{"reason": "duplicate"}, now, "", &cancelled), http.StatusOK)
	if cancelled.State != store.OrderCancelled {
		t.Fatalf("cancel without run: %+v", cancelled)
	}
	token := e.login("o_low")
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+other, token, nil, &v), http.StatusOK)
	if v.State != workflows.State(store.OrderCancelled) {
		t.Fatalf("tap on a cancelled order: %+v", v)
	}

	// A run waiting for the payee's confirm: the run is cancelled, nothing paid.
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	var res merchantOrderBody
	e.must(e.signed(http.MethodPost, "/v1/merchant/orders/"+order+"/cancel", "", map[string]string{"reason": "order withdrawn"}, now, "", &res), http.StatusOK)
	if res.Receipt == nil || res.Receipt.State != workflows.StateCancelled || res.State != store.OrderCancelled {
		t.Fatalf("cancel with run: %+v", res)
	}
	e.problem(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, nil), http.StatusConflict, "RECEIPT_CLOSED")
	bills, _ := e.deps.store.TransfersByOrder(context.Background(), order)
	if len(bills) != 0 {
		t.Fatalf("a cancelled order paid: %+v", bills)
	}
}

func TestComplianceRejectionsEachRule(t *testing.T) {
	e := newEnv(t, perPayment)
	ctx := context.Background()
	st := e.deps.store
	if err := st.PutPayer(ctx, store.Payer{ID: "payer1", Name: "示例", Secret: testMerchantSecret, Account: testPayerAccount}); err != nil {
		t.Fatal(err)
	}
	fund := func(order string, fen int64, remitter store.Account) {
		if err := st.RecordFunding(ctx, store.Funding{OrderID: order, PayerID: "payer1", AmountFen: fen, Reference: "B-" + order, Remitter: remitter}); err != nil {
			t.Fatal(err)
		}
	}
	newOrder := func(openid string, gross int64) string {
		o, _, err := st.CreateOrder(ctx, store.NewOrder{PayerID: "payer1", PayeeOpenID: openid, MerchantOrderNo: store.NewID("m"), ServiceItem: "x", GrossFen: gross})
		if err != nil {
			t.Fatal(err)
		}
		return o.ID
	}
	tap := func(openid, order string) workflows.View {
		var v workflows.View
		e.must(e.call(http.MethodPost, "/v1/receipts/"+order, e.login(openid), nil, &v), http.StatusOK)
		return v
	}

	// Verified, but no agreement with this payer.
	p1, _ := st.VerifyIdentity(ctx, "o_noagree", "李四", "110101200001010010", "")
	o1 := newOrder("o_noagree", 10000)
	fund(o1, 10000, testPayerAccount)
	if v := tap("o_noagree", o1); v.State != workflows.StateRejected || !onlyReason(v, "AGREEMENT_MISSING") {
		t.Fatalf("no agreement: %+v", v)
	}
	// Agreement terminated.
	_, _ = st.SignAgreement(ctx, "payer1", p1.ID)
	_ = st.TerminateAgreement(ctx, "payer1", p1.ID)
	o2 := newOrder("o_noagree", 10000)
	fund(o2, 10000, testPayerAccount)
	if v := tap("o_noagree", o2); !onlyReason(v, "AGREEMENT_INACTIVE") {
		t.Fatalf("terminated agreement: %+v", v)
	}
	// Funds short of the gross amount, and funds not arrived at all.
	p3, _ := st.VerifyIdentity(ctx, "o_short", "赵六", "310101195501010088", "")
	_, _ = st.SignAgreement(ctx, "payer1", p3.ID)
	o3 := newOrder("o_short", 10000)
	fund(o3, 9999, testPayerAccount)
	if v := tap("o_short", o3); !onlyReason(v, "FUNDS_INSUFFICIENT") {
		t.Fatalf("funds short: %+v", v)
	}
	o4 := newOrder("o_short", 10000)
	if v := tap("o_short", o4); !onlyReason(v, "FUNDS_NOT_ARRIVED") || v.Reasons[0].Message == "" {
		t.Fatalf("no funds: %+v", v)
	}
	// Funds from another account than the payer's registered settlement account: not the contracting payer's.
	o6 := newOrder("o_short", 10000)
	fund(o6, 10000, store.Account{Name: "某某贸易有限公司", Number: "6217000011112222"})
	if v := tap("o_short", o6); !onlyReason(v, "FUNDS_PAYER_MISMATCH") {
		t.Fatalf("funds from another account: %+v", v)
	}
	// Not verified at all.
	o5 := newOrder("o_anon", 10000)
	if v := tap("o_anon", o5); !hasReason(v, "PAYEE_NOT_VERIFIED") {
		t.Fatalf("not verified: %+v", v)
	}
	for _, o := range []string{o1, o2, o3, o4, o5, o6} {
		if bills, _ := st.TransfersByOrder(ctx, o); len(bills) != 0 {
			t.Fatalf("rejected order %s paid", o)
		}
	}
}

func hasReason(v workflows.View, code string) bool {
	for _, r := range v.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

func onlyReason(v workflows.View, code string) bool {
	return v.State == workflows.StateRejected && len(v.Reasons) == 1 && v.Reasons[0].Code == code
}
