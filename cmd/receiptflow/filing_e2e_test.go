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

// The month's withholding filing, with both tax methods: a month of payouts — one failed and paid again — gives
// one row per payee (per payee, payer and service item with 预扣率表二) whose every figure follows from the
// ledger, totals equal to the ledger's to the fen, the file sealed at rest and its download audited.
func TestWithholdingFiling(t *testing.T) {
	for _, method := range []tax.Method{tax.Cumulative, tax.PerPayment} {
		t.Run(string(method), func(t *testing.T) {
			e := newEnv(t, func(c *config.Config) { c.TaxMethod = string(method); c.PayoutChannel = "wechatpay" })
			idA, idB := pii.WithCheckDigit("11010119900307002"), pii.WithCheckDigit("11010119920101003")
			big := e.payOnce(e.payee("o_file_a", "李四", idA, 800000), "o_file_a", true)
			again := e.payee("o_file_a", "李四", idA, 300000)
			e.payOnce(again, "o_file_a", false) // expired: its withholding reversed
			repaid := e.payOnce(again, "o_file_a", true)
			small := e.payOnce(e.payee("o_file_b", "王五", idB, 150000), "o_file_b", true)

			period := tax.Period(time.Now())
			e.must(e.call(http.MethodPost, "/v1/ops/filings", opToken, map[string]string{"period": period}, nil), http.StatusAccepted)
			var list struct{ Exports []store.Export }
			for deadline := time.Now().Add(30 * time.Second); len(list.Exports) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				e.must(e.call(http.MethodGet, "/v1/ops/exports", opToken, nil, &list), http.StatusOK)
			}
			if len(list.Exports) != 1 {
				t.Fatalf("exports: %+v", list)
			}
			x := list.Exports[0]
			taxA, taxB := big.Amounts.TaxFen+repaid.Amounts.TaxFen, small.Amounts.TaxFen
			if x.Period != period || x.Rows != 2 || x.IncomeFen != 1250000 || x.TaxFen != taxA+taxB || x.CreatedBy != "op-alice" {
				t.Fatalf("export: %+v (tax %d + %d)", x, taxA, taxB)
			}
			ledger, err := e.deps.store.TaxEntriesOfPeriod(context.Background(), period)
			if err != nil {
				t.Fatal(err)
			}
			var ledgerTax int64
			for _, en := range ledger {
				ledgerTax += en.TaxFen
			}
			if ledgerTax != x.TaxFen {
				t.Fatalf("filing tax %d, ledger %d", x.TaxFen, ledgerTax)
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
			trail, err := e.deps.store.AuditTrail(context.Background(), "export:"+x.ID)
			if err != nil || len(trail) != 1 || trail[0].Action != "export.download" || trail[0].Actor != "op-alice" {
				t.Fatalf("audit: %+v %v", trail, err)
			}
			e.problem(e.call(http.MethodPost, "/v1/ops/filings", opToken, map[string]string{"period": "2026-13"}, nil), http.StatusBadRequest, "BAD_REQUEST")
			e.problem(e.call(http.MethodGet, "/v1/ops/exports/nosuch", opToken, nil, nil), http.StatusNotFound, "EXPORT_NOT_FOUND")
			e.problem(e.call(http.MethodGet, "/v1/ops/exports/"+x.ID, "", nil, nil), http.StatusUnauthorized, "UNAUTHENTICATED")
		})
	}
}

// The quarterly platform report: the quarter's new identities, and each worker's income with a failed payout's
// reversal as a refund, to the fen; both files sealed and listed for operators.
func TestQuarterlyPlatformReport(t *testing.T) {
	e := newEnv(t, wechatPay)
	idA, idB := pii.WithCheckDigit("11010119900307004"), pii.WithCheckDigit("11010119920101005")
	e.payOnce(e.payee("o_rep_a", "李四", idA, 150000), "o_rep_a", true)
	again := e.payee("o_rep_a", "李四", idA, 50000)
	e.payOnce(again, "o_rep_a", false)
	e.payOnce(again, "o_rep_a", true)
	e.payOnce(e.payee("o_rep_b", "王五", idB, 100000), "o_rep_b", true)

	now := time.Now().In(time.FixedZone("CST", 8*3600))
	quarter := fmt.Sprintf("%d-Q%d", now.Year(), (int(now.Month())-1)/3+1)
	e.must(e.call(http.MethodPost, "/v1/ops/platform-reports", opToken, map[string]string{"quarter": quarter}, nil), http.StatusAccepted)
	files := map[string]store.Export{}
	for deadline := time.Now().Add(30 * time.Second); len(files) < 2 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var list struct{ Exports []store.Export }
		e.must(e.call(http.MethodGet, "/v1/ops/exports", opToken, nil, &list), http.StatusOK)
		for _, x := range list.Exports {
			files[x.Kind] = x
		}
	}
	read := func(kind string) map[string]map[string]string {
		x, ok := files[kind]
		if !ok || x.Period != quarter {
			t.Fatalf("no %s export for %s: %+v", kind, quarter, files)
		}
		rows, _ := e.exportRows(x.ID)
		return rows
	}
	identity := read(store.ExportPlatformIdentity)
	if len(identity) != 2 || identity[idA]["姓名"] != "李四" || identity[idA]["报送类型"] != "新增" || identity[idB]["证件类型"] != "居民身份证" {
		t.Fatalf("identity table: %v", identity)
	}
	income := read(store.ExportPlatformIncome)
	want := map[string]map[string]string{
		idA: {"收入类型": "劳务收入", "收入总额": "2500.00", "退款金额": "500.00", "收入净额": "2000.00", "笔数": "2"},
		idB: {"收入类型": "劳务收入", "收入总额": "1000.00", "退款金额": "0.00", "收入净额": "1000.00", "笔数": "1"},
	}
	if len(income) != 2 {
		t.Fatalf("income table: %v", income)
	}
	for id, cols := range want {
		for col, v := range cols {
			if income[id][col] != v {
				t.Errorf("%s: %s = %q, want %q", income[id]["姓名"], col, income[id][col], v)
			}
		}
	}
	if files[store.ExportPlatformIncome].IncomeFen != 300000 {
		t.Errorf("income export total: %+v", files[store.ExportPlatformIncome])
	}
	e.problem(e.call(http.MethodPost, "/v1/ops/platform-reports", opToken, map[string]string{"quarter": "2026-Q5"}, nil), http.StatusBadRequest, "BAD_REQUEST")
}
