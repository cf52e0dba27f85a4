package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/workflows"
)

// payOnce runs one run of an order on WeChat Pay to PAID (the payee accepts) or FAILED (the bill expires),
// passing face verification when the run asks for it.
func (e *env) payOnce(order, openid string, accept bool) workflows.View {
	e.t.Helper()
	token := e.login(openid)
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	if v.State == workflows.StateFaceRequired {
		e.passFaceV2(order, token)
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if !accept {
		if err := e.phone.ExpireTransfer(context.Background(), v.Payout.OutBillNo, "normal"); err != nil {
			e.t.Fatal(err)
		}
		return e.waitState(order, token, workflows.StateFailed)
	}
	if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); !res.OK() {
		e.t.Fatalf("confirm page: %+v", res)
	}
	return e.waitState(order, token, workflows.StatePaid)
}

// exportRows downloads an export as an operator and returns its rows by 证件号码, each as column → cell, and the
// response's headers.
func (e *env) exportRows(id string) (map[string]map[string]string, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.api.URL+"/v1/ops/exports/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+opToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("download %s: %d %s", id, resp.StatusCode, raw)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\ufeff")))).ReadAll()
	if err != nil || len(rows) == 0 {
		e.t.Fatalf("csv: %v %q", err, raw)
	}
	out := map[string]map[string]string{}
	for _, r := range rows[1:] {
		cells := map[string]string{}
		for i, h := range rows[0] {
			cells[h] = r[i]
		}
		out[cells["证件号码"]] = cells
	}
	return out, resp.Header
}

// waitExport waits for the newest export of kind for period whose file name ends in ext.
func (e *env) waitExport(kind, period, ext string) store.Export {
	e.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var list struct{ Exports []store.Export }
		e.must(e.call(http.MethodGet, "/v1/ops/exports", opToken, nil, &list), http.StatusOK)
		for _, x := range list.Exports {
			if x.Kind == kind && x.Period == period && strings.HasSuffix(x.FileName, ext) {
				return x
			}
		}
	}
	e.t.Fatalf("no %s export of %s (%s)", kind, period, ext)
	return store.Export{}
}

// xlsxRows downloads an XLSX export and returns its first sheet's rows as exportRows does.
func (e *env) xlsxRows(id string) map[string]map[string]string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.api.URL+"/v1/ops/exports/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+opToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	book, err := excelize.OpenReader(resp.Body)
	if err != nil {
		e.t.Fatalf("xlsx %s: %v", id, err)
	}
	rows, err := book.GetRows(book.GetSheetName(0))
	if err != nil || len(rows) == 0 {
		e.t.Fatalf("xlsx rows: %v", err)
	}
	out := map[string]map[string]string{}
	for _, r := range rows[1:] {
		cells := map[string]string{}
		for i, h := range rows[0] {
			if i < len(r) {
				cells[h] = r[i]
			} else {
				cells[h] = ""
			}
		}
		out[cells["证件号码"]] = cells
	}
	return out
}

// The month's withholding filing, with both tax methods: a month of payouts — one failed and paid again — gives
// one row per payee (per payee, payer and service item with 预扣率表二) whose every figure follows from the
// ledger, totals equal to the ledger's to the fen, the file sealed at rest and its download audited.
func TestWithholdingFiling(t *testing.T) {
	for _, method := range []tax.Method{tax.Cumulative, tax.PerPayment} {
		t.Run(string(method), func(t *testing.T) {
			e := newWorld(t, world{books: lastQuarter()}, func(c *config.Config) { c.TaxMethod = string(method); c.PayoutChannel = "wechatpay" })
			idA, idB := pii.WithCheckDigit("11010119900307002"), pii.WithCheckDigit("11010119920101003")
			big := e.payOnce(e.payee("o_file_a", "李四", idA, 800000), "o_file_a", true)
			again := e.payee("o_file_a", "李四", idA, 300000)
			e.payOnce(again, "o_file_a", false) // expired: its withholding reversed
			repaid := e.payOnce(again, "o_file_a", true)
			small := e.payOnce(e.payee("o_file_b", "王五", idB, 150000), "o_file_b", true)

			period := tax.Period(e.booksNow())
			e.must(e.call(http.MethodPost, "/v1/ops/filings", opToken, map[string]string{"period": period}, nil), http.StatusAccepted)
			x := e.waitExport(store.ExportWithholding, period, ".csv")
			taxA, taxB := big.Amounts.TaxFen+repaid.Amounts.TaxFen, small.Amounts.TaxFen
			if x.Period != period || x.Rows != 2 || x.IncomeFen != 1250000 || x.TaxFen != taxA+taxB || x.CreatedBy != "op-alice" {
				t.Fatalf("export: %+v (tax %d + %d)", x, taxA, taxB)
			}
			paid, err := e.deps.store.Payments(context.Background(), store.PaymentQuery{Period: period, States: []string{store.PaymentPosted}})
			if err != nil {
				t.Fatal(err)
			}
			var booksTax int64
			for _, p := range paid {
				booksTax += p.TaxFen
			}
			if booksTax != x.TaxFen {
				t.Fatalf("filing tax %d, books %d", x.TaxFen, booksTax)
			}
			if sheetRows := e.xlsxRows(x.ID + "-xlsx"); len(sheetRows) != 2 {
				t.Fatalf("xlsx: %v", sheetRows)
			} else if csvRows, _ := e.exportRows(x.ID); fmt.Sprint(sheetRows) != fmt.Sprint(csvRows) {
				t.Fatalf("the XLSX says other than the CSV:\n%v\n%v", sheetRows, csvRows)
			}

			byID, header := e.exportRows(x.ID)
			if header.Get("X-Content-SHA256") != x.SHA256 || !strings.HasPrefix(header.Get("Content-Type"), "text/csv") || len(byID) != 2 {
				t.Fatalf("download: %v %v", header, byID)
			}
			a, b := byID[idA], byID[idB]
			if a == nil || b == nil || a["姓名"] != "李四" || b["姓名"] != "王五" || a["证件类型"] != "居民身份证" || a["所得项目"] != "劳务报酬所得" {
				t.Fatalf("rows: %v", byID)
			}
			y := func(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }
			if method == tax.Cumulative {
				// The only month of the year with income: cumulative = this month, one month's 5,000 元.
				for _, c := range []struct {
					row      map[string]string
					gross, t int64
				}{{a, 1100000, taxA}, {b, 150000, taxB}} {
					taxable, due := tax.CumulativeFigures(c.gross, 1)
					want := map[string]string{"本期收入": y(c.gross), "累计收入额": y(c.gross), "累计费用": y(c.gross / 5), "累计减除费用": "5000.00",
						"累计连续月份数": "1", "累计应纳税所得额": y(taxable), "累计应纳税额": y(due), "累计已预扣预缴税额": "0.00", "本期应预扣预缴税额": y(c.t)}
					for col, v := range want {
						if c.row[col] != v {
							t.Errorf("%s: %s = %s, want %s", c.row["姓名"], col, c.row[col], v)
						}
					}
				}
			} else {
				for _, c := range []struct {
					row      map[string]string
					gross, t int64
				}{{a, 1100000, taxA}, {b, 150000, taxB}} {
					deduction, taxable, rate, quick, due := tax.PerPaymentFigures(c.gross)
					want := map[string]string{"付款方": "payer1", "服务项目": "delivery", "本期收入": y(c.gross), "减除费用": y(deduction),
						"应纳税所得额": y(taxable), "税率": fmt.Sprintf("%d%%", rate), "速算扣除数": y(quick), "应纳税额": y(due), "已扣缴税额": y(c.t)}
					for col, v := range want {
						if c.row[col] != v {
							t.Errorf("%s: %s = %s, want %s", c.row["姓名"], col, c.row[col], v)
						}
					}
					if due != c.t {
						t.Errorf("%s: tax due %d, withheld %d", c.row["姓名"], due, c.t)
					}
				}
			}
			// Two downloads of the CSV above (one compared with the XLSX), each audited.
			trail, err := e.deps.store.AuditTrail(context.Background(), "export:"+x.ID)
			if err != nil || len(trail) != 2 || trail[0].Action != "export.download" || trail[0].Actor != "op-alice" {
				t.Fatalf("audit: %+v %v", trail, err)
			}
			e.problem(e.call(http.MethodPost, "/v1/ops/filings", opToken, map[string]string{"period": "2026-13"}, nil), http.StatusBadRequest, "BAD_REQUEST")
			e.problem(e.call(http.MethodPost, "/v1/ops/filings", opToken, map[string]string{"period": tax.Period(time.Now())}, nil), http.StatusBadRequest, "PERIOD_NOT_ENDED")
			e.problem(e.call(http.MethodGet, "/v1/ops/exports/nosuch", opToken, nil, nil), http.StatusNotFound, "EXPORT_NOT_FOUND")
			e.problem(e.call(http.MethodGet, "/v1/ops/exports/"+x.ID, "", nil, nil), http.StatusUnauthorized, "UNAUTHENTICATED")
		})
	}
}

// The quarterly platform report (国务院令第810号): the identity of every worker paid in the quarter — one
// registered in an earlier quarter too — and each worker's paid income only, to the fen; a failed payout is
// neither income nor a refund. Both files sealed and listed for operators.
func TestQuarterlyPlatformReport(t *testing.T) {
	clock := lastQuarter()
	e := newWorld(t, world{books: clock}, wechatPay)
	idA, idB, idC := pii.WithCheckDigit("11010119900307004"), pii.WithCheckDigit("11010119920101005"), pii.WithCheckDigit("11010119930101006")
	// Worker C registered half a year before the quarter and earns in it.
	inQuarter := clock.Now()
	clock.Set(inQuarter.AddDate(0, -6, 0))
	orderC := e.payee("o_rep_c", "赵六", idC, 70000)
	clock.Set(inQuarter)
	e.payOnce(e.payee("o_rep_a", "李四", idA, 150000), "o_rep_a", true)
	again := e.payee("o_rep_a", "李四", idA, 50000)
	e.payOnce(again, "o_rep_a", false)
	e.payOnce(again, "o_rep_a", true)
	e.payOnce(e.payee("o_rep_b", "王五", idB, 100000), "o_rep_b", true)
	e.payOnce(orderC, "o_rep_c", true)

	quarter, _ := store.QuarterOf(tax.Period(e.booksNow()))
	e.must(e.call(http.MethodPost, "/v1/ops/platform-reports", opToken, map[string]string{"quarter": quarter}, nil), http.StatusAccepted)
	files := map[string]store.Export{}
	read := func(kind string) map[string]map[string]string {
		files[kind] = e.waitExport(kind, quarter, ".csv")
		rows, _ := e.exportRows(files[kind].ID)
		return rows
	}
	identity := read(store.ExportPlatformIdentity)
	if len(identity) != 3 || identity[idA]["姓名"] != "李四" || identity[idA]["报送类型"] != "新增" || identity[idB]["证件类型"] != "居民身份证" ||
		identity[idC]["姓名"] != "赵六" || identity[idC]["报送类型"] != "新增" {
		t.Fatalf("identity table: %v", identity)
	}
	income := read(store.ExportPlatformIncome)
	want := map[string]map[string]string{
		idA: {"收入类型": "劳务收入", "收入总额": "2000.00", "收入净额": "2000.00", "笔数": "2"},
		idB: {"收入类型": "劳务收入", "收入总额": "1000.00", "收入净额": "1000.00", "笔数": "1"},
		idC: {"收入类型": "劳务收入", "收入总额": "700.00", "收入净额": "700.00", "笔数": "1"},
	}
	if len(income) != 3 {
		t.Fatalf("income table: %v", income)
	}
	for id, cols := range want {
		for col, v := range cols {
			if income[id][col] != v {
				t.Errorf("%s: %s = %q, want %q", income[id]["姓名"], col, income[id][col], v)
			}
		}
	}
	if files[store.ExportPlatformIncome].IncomeFen != 370000 {
		t.Errorf("income export total: %+v", files[store.ExportPlatformIncome])
	}
	e.problem(e.call(http.MethodPost, "/v1/ops/platform-reports", opToken, map[string]string{"quarter": "2026-Q5"}, nil), http.StatusBadRequest, "BAD_REQUEST")
	thisQuarter, _ := store.QuarterOf(tax.Period(time.Now()))
	e.problem(e.call(http.MethodPost, "/v1/ops/platform-reports", opToken, map[string]string{"quarter": thisQuarter}, nil), http.StatusBadRequest, "PERIOD_NOT_ENDED")
}

// A month is filed once its bills have ended: a bill still waiting for its payee holds the filing (operators see
// why in the run's current details); when the payee accepts, the filing declares it — and never a bill unpaid.
func TestFilingWaitsForTheMonthsBillsToSettle(t *testing.T) {
	e := newWorld(t, world{books: lastQuarter()}, wechatPay)
	e.payOnce(e.payee("o_wait_a", "李四", pii.WithCheckDigit("11010119900307008"), 100000), "o_wait_a", true)
	order, token, v := e.awaitingTransferOf("o_wait_b", "王五", pii.WithCheckDigit("11010119920101009"), 200000)
	unpaid := e.payee("o_wait_c", "赵六", pii.WithCheckDigit("11010119930101001"), 300000)
	e.payOnce(unpaid, "o_wait_c", false)

	period := tax.Period(e.booksNow())
	e.must(e.call(http.MethodPost, "/v1/ops/filings", opToken, map[string]string{"period": period}, nil), http.StatusAccepted)
	id := workflows.FilingWorkflowID(period)
	var details string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(details, "等待 1 笔") && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		details = e.currentDetails(id)
	}
	if !strings.Contains(details, "等待 1 笔") {
		t.Fatalf("the filing does not say it waits: %q", details)
	}
	var list struct{ Exports []store.Export }
	e.must(e.call(http.MethodGet, "/v1/ops/exports", opToken, nil, &list), http.StatusOK)
	if len(list.Exports) != 0 {
		t.Fatalf("filed with a bill open: %+v", list.Exports)
	}
	if res := e.payeeConfirms(v, sandbox.PayAccept, "normal"); !res.OK() {
		t.Fatalf("confirm: %+v", res)
	}
	e.waitState(order, token, workflows.StatePaid)
	x := e.waitExport(store.ExportWithholding, period, ".csv")
	if x.Rows != 2 || x.IncomeFen != 300000 {
		t.Fatalf("filing: %+v, want the two paid bills (1,000 + 2,000 元) and not the expired 3,000 元", x)
	}
	// Filing it again at once writes a new file, not the old one under its name.
	if err := e.client.GetWorkflow(context.Background(), id, "").Get(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	e.must(e.call(http.MethodPost, "/v1/ops/filings", opToken, map[string]string{"period": period}, nil), http.StatusAccepted)
	if err := e.client.GetWorkflow(context.Background(), id, "").Get(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	e.must(e.call(http.MethodGet, "/v1/ops/exports", opToken, nil, &list), http.StatusOK)
	csvs := map[string]bool{}
	for _, f := range list.Exports {
		if strings.HasSuffix(f.FileName, ".csv") {
			csvs[f.ID] = true
		}
	}
	if len(csvs) != 2 {
		t.Fatalf("filed twice, %d CSV exports: %+v", len(csvs), list.Exports)
	}
}

// awaitingTransferOf is awaitingTransfer for a payee of one's own.
func (e *env) awaitingTransferOf(openid, name, idNumber string, gross int64) (order, token string, v workflows.View) {
	e.t.Helper()
	order = e.payee(openid, name, idNumber, gross)
	token = e.login(openid)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	if v.State == workflows.StateFaceRequired {
		e.passFaceV2(order, token)
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if v.State != workflows.StateAwaitingTransferConfirm {
		e.t.Fatalf("after confirm: %+v", v)
	}
	return order, token, v
}
