package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/internal/bench"
	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/worker"
	"github.com/receiptflow/receiptflow/workflows"
)

type reconBody struct {
	ID, State    string
	Bills        int
	Findings     int
	OpenFindings int
	Ours         struct{ NetFen, TaxFen, GrossFen int64 }
	WeChatPay    struct{ NetFen int64 } `json:"wechatPay"`
	Account      struct{ BooksFen, FundFlowFen, DifferenceFen int64 }
}

type reconDetail struct {
	reconBody `json:"reconciliation"`
	List      []struct {
		OutBillNo, OrderID, Kind, OurState, WeChatState, ResolvedBy, Resolution string
		OurAmountFen, WeChatAmountFen                                           int64
	} `json:"findings"`
}

// settledBill runs payee i's order of gross fen on WeChat Pay to PAID (accept) or FAILED (the bill expires).
func (e *env) settledBill(i int, gross int64, accept bool) (order string, v workflows.View) {
	e.t.Helper()
	v = e.waitingBill(i, gross)
	token := e.login(fmt.Sprintf("o_recon_%d", i))
	if accept {
		if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); !res.OK() {
			e.t.Fatalf("confirm page: %+v", res)
		}
		return v.OrderID, e.waitState(v.OrderID, token, workflows.StatePaid)
	}
	if err := e.phone.ExpireTransfer(context.Background(), v.Payout.OutBillNo, "normal"); err != nil {
		e.t.Fatal(err)
	}
	return v.OrderID, e.waitState(v.OrderID, token, workflows.StateFailed)
}

// waitingBill runs payee i's order of gross fen on WeChat Pay to the bill waiting for the payee's confirm.
func (e *env) waitingBill(i int, gross int64) workflows.View {
	e.t.Helper()
	openid := fmt.Sprintf("o_recon_%d", i)
	order := e.payee(openid, "李四", bench.IDNumber(9000+i), gross)
	token := e.login(openid)
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, nil), http.StatusOK)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if v.State != workflows.StateAwaitingTransferConfirm {
		e.t.Fatalf("confirm: %+v", v)
	}
	return v
}

// reconcile asks for a reconciliation of [from, to) and waits for it to finish.
func (e *env) reconcile(from, to time.Time) reconDetail {
	e.t.Helper()
	var started struct{ ID string }
	e.must(e.call(http.MethodPost, "/v1/ops/reconciliations", opToken, map[string]time.Time{"from": from, "to": to}, &started), http.StatusAccepted)
	var d reconDetail
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r := e.call(http.MethodGet, "/v1/ops/reconciliations/"+started.ID, opToken, nil, &d); r.status == http.StatusOK && d.State == "DONE" {
			return d
		}
	}
	e.t.Fatalf("reconciliation %s did not finish: %+v", started.ID, d)
	return d
}

// A day of mixed outcomes reconciles clean, with both sides' totals; then WeChat Pay's records are changed behind
// our back and each difference becomes its finding; an operator resolves one, once, audited.
func TestReconciliationWithWeChatPay(t *testing.T) {
	e := newEnv(t, wechatPay)
	start := time.Now().Add(-time.Minute)
	paid, pv := e.settledBill(1, 150000, true)
	_, _ = e.settledBill(2, 120000, false)

	clean := e.reconcile(start, time.Now().Add(time.Minute))
	if clean.Bills != 2 || clean.Findings != 0 || len(clean.List) != 0 {
		t.Fatalf("clean day: %+v", clean)
	}
	if clean.Ours.NetFen != pv.Amounts.NetFen || clean.Ours.TaxFen != pv.Amounts.TaxFen || clean.Ours.GrossFen != 150000 || clean.WeChatPay.NetFen != pv.Amounts.NetFen {
		t.Fatalf("clean totals: %+v (paid %s: %+v)", clean.reconBody, paid, pv.Amounts)
	}

	// WeChat Pay disagrees: an amount changed, a paid bill it now calls failed, a failed bill it now calls paid.
	_, changed := e.settledBill(3, 130000, true)
	_, unpaid := e.settledBill(4, 110000, true)
	_, repaid := e.settledBill(5, 100000, false)
	for _, c := range []struct {
		v      workflows.View
		state  string
		amount int64
	}{{changed, "", changed.Amounts.NetFen + 100}, {unpaid, "FAIL", 0}, {repaid, "SUCCESS", 0}} {
		if err := e.phone.TamperBill(context.Background(), c.v.Payout.OutBillNo, c.state, c.amount); err != nil {
			t.Fatal(err)
		}
	}

	// Two bills still waiting for their payees: WeChat Pay fails one without telling us (a lost callback) and loses
	// the other.
	missed := e.waitingBill(6, 90000)
	lost := e.waitingBill(7, 80000)
	if err := e.phone.TamperBill(context.Background(), missed.Payout.OutBillNo, "FAIL", 0); err != nil {
		t.Fatal(err)
	}
	if err := e.phone.ForgetBill(context.Background(), lost.Payout.OutBillNo); err != nil {
		t.Fatal(err)
	}
	// And a transfer paid from our account that we never created: only WeChat Pay's fund-flow bill shows it.
	phantom, err := e.phone.PhantomTransfer(context.Background(), "o_stranger", 66600)
	if err != nil {
		t.Fatal(err)
	}

	d := e.reconcile(start.Add(-time.Second), time.Now().Add(time.Minute))
	want := map[string]string{changed.Payout.OutBillNo: "AMOUNT_DIFFERS", unpaid.Payout.OutBillNo: "PAID_HERE_NOT_AT_WECHAT",
		repaid.Payout.OutBillNo: "PAID_AT_WECHAT_NOT_HERE", phantom: "UNKNOWN_HERE", missed.Payout.OutBillNo: "STATE_DIFFERS",
		lost.Payout.OutBillNo: "UNKNOWN_AT_WECHAT"}
	if d.Bills != 7 || d.Findings != 6 || d.OpenFindings != 6 || len(d.List) != 6 {
		t.Fatalf("findings: %+v", d)
	}
	for _, f := range d.List {
		if want[f.OutBillNo] != f.Kind {
			t.Errorf("bill %s: %s, want %s (%+v)", f.OutBillNo, f.Kind, want[f.OutBillNo], f)
		}
		if f.OutBillNo == changed.Payout.OutBillNo && (f.OurAmountFen != changed.Amounts.NetFen || f.WeChatAmountFen != changed.Amounts.NetFen+100) {
			t.Errorf("amount evidence: %+v", f)
		}
	}

	path := "/v1/ops/reconciliations/" + d.ID + "/findings/" + unpaid.Payout.OutBillNo + "/resolve"
	var resolved struct{ ResolvedBy, Resolution string }
	e.must(e.call(http.MethodPost, path, opToken, map[string]string{"resolution": "WeChat Pay refunded it; payee paid again by hand"}, &resolved), http.StatusOK)
	if resolved.ResolvedBy != "op-alice" || resolved.Resolution == "" {
		t.Fatalf("resolved: %+v", resolved)
	}
	e.problem(e.call(http.MethodPost, path, opToken, map[string]string{"resolution": "again"}, nil), http.StatusConflict, "CONFLICT")
	e.problem(e.call(http.MethodPost, path, "", map[string]string{"resolution": "x"}, nil), http.StatusUnauthorized, "UNAUTHENTICATED")
	trail, err := e.deps.store.AuditTrail(context.Background(), "reconciliation:"+d.ID)
	if err != nil || len(trail) != 1 || trail[0].Actor != "op-alice" || trail[0].Action != "reconciliation.resolve" {
		t.Fatalf("audit: %+v %v", trail, err)
	}
	e.problem(e.call(http.MethodPost, "/v1/ops/reconciliations", opToken, map[string]string{"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, nil), http.StatusBadRequest, "BAD_REQUEST")
	e.problem(e.call(http.MethodGet, "/v1/ops/reconciliations/nosuch", opToken, nil, nil), http.StatusNotFound, "RECONCILIATION_NOT_FOUND")
}

// A bill is checked in the window it changed in, not only the one it was made in: a bill waiting across the day's
// end is checked again when it settles — and WeChat Pay's record of it changed behind our back is found then.
// With WeChat Pay failing a few percent of calls the run still finishes, every bill checked, and the books'
// movement on the WeChat Pay account equals its fund-flow bill to the fen.
func TestReconciliationFollowsBillsAcrossDaysUnderFaults(t *testing.T) {
	e := newEnvWithFaults(t, sandbox.Faults{HTTP5xx: 0.05}, wechatPay)
	dayOne := time.Now().Add(-time.Second)
	late := e.waitingBill(1, 150000)
	var paid []workflows.View
	for i := 2; i <= 6; i++ {
		_, v := e.settledBill(i, int64(100000+i*1000), true)
		paid = append(paid, v)
	}
	dayTwo := time.Now()
	first := e.reconcile(dayOne, dayTwo)
	if first.Bills != 6 || first.Findings != 0 {
		t.Fatalf("day one: %+v", first)
	}
	if res := e.payeeConfirms(late, sandbox.PayAccept, "normal"); !res.OK() {
		t.Fatalf("confirm: %+v", res)
	}
	e.waitState(late.OrderID, e.login("o_recon_1"), workflows.StatePaid)
	if err := e.phone.TamperBill(context.Background(), late.Payout.OutBillNo, "", late.Amounts.NetFen-100); err != nil {
		t.Fatal(err)
	}
	second := e.reconcile(dayTwo, time.Now().Add(time.Minute))
	if second.Bills != 1 || second.Findings != 1 || len(second.List) != 1 || second.List[0].OutBillNo != late.Payout.OutBillNo || second.List[0].Kind != "AMOUNT_DIFFERS" {
		t.Fatalf("day two must re-check the bill that settled on it: %+v", second)
	}
	// The fund flow is whole-day: both runs see the same days' movement on the account, ours and WeChat Pay's.
	var net int64
	for _, v := range append(paid, late) {
		net += v.Amounts.NetFen
	}
	if want := -(net - late.Amounts.NetFen); first.Account.BooksFen != want || first.Account.FundFlowFen != want || first.Account.DifferenceFen != 0 {
		t.Errorf("day one's account: %+v, want %d on both sides", first.Account, want)
	}
	// Day two includes the tampered bill: WeChat Pay moved 1 元 less than the books say, and the finding names it.
	if second.Account.BooksFen != -net || second.Account.FundFlowFen != -net+100 {
		t.Errorf("day two's account: %+v, want books %d, fund flow %d", second.Account, -net, -net+100)
	}
	for _, f := range append(first.List, second.List...) {
		if f.Kind == "UNCHECKED" {
			t.Errorf("a bill went unchecked under 5%% faults: %+v", f)
		}
	}
}

// The daily Schedule exists once however often it is ensured, and an operator's "run now" reconciles yesterday
// (Beijing time) under the schedule's name.
func TestReconciliationSchedule(t *testing.T) {
	e := newEnv(t, wechatPay)
	ctx := context.Background()
	for range 2 {
		if err := worker.EnsureSchedules(ctx, e.client, e.cfg.Temporal.TaskQueue); err != nil {
			t.Fatal(err)
		}
	}
	// Another test's environment may have created it on its own task queue: point it at this one.
	h := e.client.ScheduleClient().GetHandle(ctx, workflows.ReconcileScheduleID)
	if err := h.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := worker.EnsureSchedules(ctx, e.client, e.cfg.Temporal.TaskQueue); err != nil {
		t.Fatal(err)
	}
	e.must(e.call(http.MethodPost, "/v1/ops/schedules/"+workflows.ReconcileScheduleID+"/run", opToken, nil, nil), http.StatusAccepted)
	e.problem(e.call(http.MethodPost, "/v1/ops/schedules/nosuch/run", opToken, nil, nil), http.StatusNotFound, "SCHEDULE_NOT_FOUND")
	yesterday := time.Now().In(time.FixedZone("CST", 8*3600)).AddDate(0, 0, -1).Format("2006-01-02")
	var d reconDetail
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && d.State != "DONE"; time.Sleep(200 * time.Millisecond) {
		e.call(http.MethodGet, "/v1/ops/reconciliations/"+yesterday, opToken, nil, &d)
	}
	if d.State != "DONE" || d.ID != yesterday {
		t.Fatalf("the scheduled reconciliation of %s: %+v", yesterday, d)
	}
}

// The payee's income statement: per month what was paid, withheld and received, order by order; a payout that
// failed (its withholding reversed) is not income; another payee sees only their own.
func TestPayeeIncomeStatement(t *testing.T) {
	e := newEnv(t, wechatPay)
	id := pii.WithCheckDigit("11010119900307001")
	settle := func(gross int64, accept bool) workflows.View {
		return e.payOnce(e.payee("o_income", "李四", id, gross), "o_income", accept)
	}
	big, small := settle(500000, true), settle(100000, true)
	failed := settle(80000, false)

	type statement struct {
		Year                     int
		GrossFen, TaxFen, NetFen int64
		Months                   []struct {
			Period                   string
			GrossFen, TaxFen, NetFen int64
			Orders                   []struct {
				OrderID                  string
				GrossFen, TaxFen, NetFen int64
			}
		}
	}
	var s statement
	e.must(e.call(http.MethodGet, "/v1/me/income", e.login("o_income"), nil, &s), http.StatusOK)
	tax := big.Amounts.TaxFen + small.Amounts.TaxFen
	if s.GrossFen != 600000 || s.TaxFen != tax || s.NetFen != 600000-tax || len(s.Months) != 1 || len(s.Months[0].Orders) != 2 || tax == 0 {
		t.Fatalf("statement: %+v (taxes %d + %d)", s, big.Amounts.TaxFen, small.Amounts.TaxFen)
	}
	for i, v := range []workflows.View{big, small} {
		o := s.Months[0].Orders[i]
		if o.OrderID != v.OrderID || o.GrossFen != v.Amounts.GrossFen || o.TaxFen != v.Amounts.TaxFen || o.NetFen != v.Amounts.NetFen {
			t.Errorf("order %d: %+v, view %+v", i, o, v.Amounts)
		}
		if o.OrderID == failed.OrderID {
			t.Errorf("the failed payout is in the statement")
		}
	}
	var other statement
	e.must(e.call(http.MethodGet, "/v1/me/income", e.login("o_stranger"), nil, &other), http.StatusOK)
	if other.GrossFen != 0 || len(other.Months) != 0 {
		t.Fatalf("another payee's statement: %+v", other)
	}
	// The same statement as a one-page PDF (name and ID masked), when a CJK font is set up.
	pdf := e.call(http.MethodGet, fmt.Sprintf("/v1/me/income/%d.pdf", s.Year), e.login("o_income"), nil, nil)
	if _, err := os.Stat(e.cfg.PDFFont); err == nil {
		if pdf.status != http.StatusOK || !bytes.HasPrefix(pdf.body, []byte("%PDF-1.")) || len(pdf.body) < 2000 {
			t.Fatalf("PDF statement: %d, %d bytes", pdf.status, len(pdf.body))
		}
	} else {
		e.problem(pdf, http.StatusServiceUnavailable, "STATEMENT_UNAVAILABLE")
	}
	e.problem(e.call(http.MethodGet, "/v1/me/income/26.pdf", e.login("o_income"), nil, nil), http.StatusBadRequest, "BAD_REQUEST")
	e.problem(e.call(http.MethodGet, "/v1/me/income?year=26", e.login("o_income"), nil, nil), http.StatusBadRequest, "BAD_REQUEST")
	e.problem(e.call(http.MethodGet, "/v1/me/income", "", nil, nil), http.StatusUnauthorized, "UNAUTHENTICATED")
}

// GET /v1/ops/books/check answers the ledger's invariants as they stand: nothing after a payout, and a balance that
// drifted from its postings by name.
func TestOpsCheckBooks(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.PayoutChannel = "wechatpay" })
	e.settledBill(1, 150000, true)
	var check struct {
		CheckedAt  time.Time
		Violations []string
	}
	e.must(e.call(http.MethodGet, "/v1/ops/books/check", opToken, nil, &check), http.StatusOK)
	if len(check.Violations) != 0 || check.CheckedAt.IsZero() {
		t.Fatalf("books after a payout: %+v", check)
	}
	db, err := sql.Open("sqlite", e.cfg.DatabaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	drift := func(fen int64) {
		if _, err := db.Exec(`UPDATE ledger_balances SET balance_fen = balance_fen + ? WHERE account = ?`, fen, store.AccountPayerFunds("payer1")); err != nil {
			t.Fatal(err)
		}
	}
	drift(-100)
	defer drift(100) // the harness checks the books the test leaves
	e.must(e.call(http.MethodGet, "/v1/ops/books/check", opToken, nil, &check), http.StatusOK)
	if len(check.Violations) != 1 || !strings.Contains(check.Violations[0], "balance is not the sum of the account's postings: "+store.AccountPayerFunds("payer1")) {
		t.Fatalf("books with a drifted balance: %q", check.Violations)
	}
	e.problem(e.call(http.MethodGet, "/v1/ops/books/check", "", nil, nil), http.StatusUnauthorized, "UNAUTHENTICATED")
}
