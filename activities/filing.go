package activities

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"go.temporal.io/sdk/activity"

	"github.com/receiptflow/receiptflow/sheet"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/workflows"
)

// Filings is what the filing and the quarterly report read from the books, and where they keep their files.
type Filings interface {
	Payments(ctx context.Context, q store.PaymentQuery) ([]store.Payment, error)
	Identity(ctx context.Context, payeeID string) (store.Identity, error)
	PutExport(ctx context.Context, e store.Export) (store.Export, error)
	ReportIdentities(ctx context.Context, quarter, exportID string, payeeIDs []string) ([]store.IdentityLine, error)
	SupersededFilings(ctx context.Context) ([]store.Export, error)
	Filed(ctx context.Context, period string) (bool, error)
}

// Columns of the filing, after the 劳务报酬所得 rows of the withholding client's (自然人电子税务局扣缴端) import
// template for 综合所得预扣预缴, as far as it is public (the official template file was not available here):
// identity first, then the period's income and the method's figures, amounts in 元.
var (
	cumulativeColumns = []string{"工号", "姓名", "证件类型", "证件号码", "所得项目", "本期收入", "累计收入额", "累计费用", "累计减除费用",
		"累计连续月份数", "累计应纳税所得额", "累计应纳税额", "累计已预扣预缴税额", "本期应预扣预缴税额"}
	perPaymentColumns = []string{"工号", "姓名", "证件类型", "证件号码", "所得项目", "付款方", "服务项目", "本期收入", "减除费用",
		"应纳税所得额", "税率", "速算扣除数", "应纳税额", "已扣缴税额"}
)

// posted is the books' paid income that q selects (q's state is set here).
func (a *Activities) posted(ctx context.Context, q store.PaymentQuery) ([]store.Payment, error) {
	q.States = []string{store.PaymentPosted}
	return a.Filings.Payments(ctx, q)
}

// BuildWithholdingFiling writes the month's withholding filing (扣缴申报) from the books' posted payments — income
// is declared in the month it was paid (支付所得时扣缴), never while its bill waits — one row per payee
// (累计预扣法, 公告2025年第16号) or per payee, payer and service item (预扣率表二, 公告2018年第61号), each method
// that withheld in the month in its own file, as CSV and XLSX, stored sealed. A correction (更正) names the
// filing it corrects. Names and ID numbers are opened only here; the workflow gets references, never content.
func (a *Activities) BuildWithholdingFiling(ctx context.Context, in workflows.FilingInput) (workflows.FilingResult, error) {
	payments, err := a.posted(ctx, store.PaymentQuery{Period: in.Period})
	if err != nil {
		return workflows.FilingResult{}, err
	}
	byMethod := map[tax.Method][]store.Payment{}
	for _, p := range payments {
		byMethod[p.Method] = append(byMethod[p.Method], p)
	}
	methods := []tax.Method{a.Config.TaxMethod}
	if len(byMethod) > 0 {
		methods = nil
		for _, m := range []tax.Method{tax.Cumulative, tax.PerPayment} {
			if len(byMethod[m]) > 0 {
				methods = append(methods, m)
			}
		}
	}
	var out workflows.FilingResult
	for _, m := range methods {
		table := sheet.Table{Name: "劳务报酬所得", Header: cumulativeColumns}
		if m == tax.PerPayment {
			table.Header = perPaymentColumns
			table.Rows, err = a.perPaymentRows(ctx, byMethod[m])
		} else {
			table.Rows, err = a.cumulativeRows(ctx, in.Period, byMethod[m])
		}
		if err != nil {
			return workflows.FilingResult{}, err
		}
		var income, withheld int64
		for _, p := range byMethod[m] {
			income, withheld = income+p.GrossFen, withheld+p.TaxFen
		}
		id, name := in.ExportID, "扣缴申报-劳务报酬-"+in.Period
		if len(methods) > 1 {
			id, name = id+"-"+string(m), name+"-"+methodName(m)
		}
		if in.CorrectionOf != "" {
			name += "-更正"
		}
		x := store.Export{ID: id, Kind: store.ExportWithholding, Period: in.Period, FileName: name, Rows: len(table.Rows), IncomeFen: income,
			TaxFen: withheld, CreatedBy: in.RequestedBy, CorrectionOf: in.CorrectionOf}
		kept, err := a.putTable(ctx, x, table)
		if err != nil {
			return workflows.FilingResult{}, err
		}
		out.Exports = append(out.Exports, kept...)
		out.Rows += len(table.Rows)
		out.IncomeFen += income
		out.TaxFen += withheld
	}
	out.ExportID, out.SHA256 = out.Exports[0].ID, out.Exports[0].SHA256
	return out, nil
}

func methodName(m tax.Method) string {
	if m == tax.PerPayment {
		return "预扣率表二"
	}
	return "累计预扣法"
}

// putTable keeps a table as CSV (under x.ID) and XLSX (x.ID-xlsx) and answers both references.
func (a *Activities) putTable(ctx context.Context, x store.Export, t sheet.Table) ([]workflows.ExportRef, error) {
	book, err := sheet.XLSX(t)
	if err != nil {
		return nil, err
	}
	var refs []workflows.ExportRef
	for _, f := range []struct {
		suffix, ext, contentType string
		content                  []byte
	}{
		{"", ".csv", "text/csv; charset=utf-8", sheet.CSV(t)},
		{"-xlsx", ".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", book},
	} {
		e := x
		e.ID, e.FileName, e.ContentType, e.Content = x.ID+f.suffix, x.FileName+f.ext, f.contentType, f.content
		kept, err := a.Filings.PutExport(ctx, e)
		if err != nil {
			return nil, err
		}
		refs = append(refs, workflows.ExportRef{ID: kept.ID, SHA256: kept.SHA256})
	}
	return refs, nil
}

func (a *Activities) identityCells(ctx context.Context, payeeID string) ([]string, error) {
	id, err := a.Filings.Identity(ctx, payeeID)
	if err != nil {
		return nil, err
	}
	return []string{payeeID, id.Name, "居民身份证", id.IDNumber, "劳务报酬所得"}, nil
}

// cumulativeRows: per payee paid in the period, the year's posted cumulative-method income up to the period.
func (a *Activities) cumulativeRows(ctx context.Context, period string, month []store.Payment) ([][]string, error) {
	var rows [][]string
	for i, payee := range payeesOf(month) {
		activity.RecordHeartbeat(ctx, i)
		year := month[0].Year
		all, err := a.posted(ctx, store.PaymentQuery{PayeeID: payee, Year: year, UpToPeriod: period, Method: tax.Cumulative})
		if err != nil {
			return nil, err
		}
		income := map[string]int64{}
		var cumIncome, before, thisMonth int64
		for _, p := range all {
			income[p.Period] += p.GrossFen
			cumIncome += p.GrossFen
			if p.Period < period {
				before += p.TaxFen
			} else {
				thisMonth += p.TaxFen
			}
		}
		var withIncome []string
		for p := range income {
			withIncome = append(withIncome, p)
		}
		n := tax.ConsecutiveMonths(withIncome, period)
		taxable, cumTax := tax.CumulativeFigures(cumIncome, n)
		cells, err := a.identityCells(ctx, payee)
		if err != nil {
			return nil, err
		}
		rows = append(rows, append(cells, tax.Yuan(income[period]), tax.Yuan(cumIncome), tax.Yuan((cumIncome+2)/5), tax.Yuan(int64(n)*500000),
			strconv.Itoa(n), tax.Yuan(taxable), tax.Yuan(cumTax), tax.Yuan(before), tax.Yuan(thisMonth)))
	}
	return rows, nil
}

// perPaymentRows: one 次 per payee, payer and service item in the month.
func (a *Activities) perPaymentRows(ctx context.Context, month []store.Payment) ([][]string, error) {
	type key struct{ payee, payer, item string }
	type sum struct{ income, tax int64 }
	sums, order := map[key]sum{}, []key{}
	for _, p := range month {
		k := key{p.PayeeID, p.PayerID, p.ServiceItem}
		if _, ok := sums[k]; !ok {
			order = append(order, k)
		}
		s := sums[k]
		s.income, s.tax = s.income+p.GrossFen, s.tax+p.TaxFen
		sums[k] = s
	}
	sort.Slice(order, func(i, j int) bool {
		return fmt.Sprint(order[i]) < fmt.Sprint(order[j])
	})
	var rows [][]string
	for i, k := range order {
		activity.RecordHeartbeat(ctx, i)
		s := sums[k]
		deduction, taxable, rate, quick, due := tax.PerPaymentFigures(s.income)
		cells, err := a.identityCells(ctx, k.payee)
		if err != nil {
			return nil, err
		}
		rows = append(rows, append(cells, k.payer, k.item, tax.Yuan(s.income), tax.Yuan(deduction), tax.Yuan(taxable), strconv.FormatInt(rate, 10)+"%",
			tax.Yuan(quick), tax.Yuan(due), tax.Yuan(s.tax)))
	}
	return rows, nil
}

func payeesOf(payments []store.Payment) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range payments {
		if !seen[p.PayeeID] {
			seen[p.PayeeID] = true
			out = append(out, p.PayeeID)
		}
	}
	sort.Strings(out)
	return out
}

// FilingsDue is what the filing run has to do now: the month before now, unless it is filed, and every month whose
// filing the books have changed under (a correction each). It also tells operators how many filings are
// superseded (receiptflow_filings_superseded).
func (a *Activities) FilingsDue(ctx context.Context, in workflows.FilingsDueInput) ([]workflows.FilingInput, error) {
	var due []workflows.FilingInput
	filed, err := a.Filings.Filed(ctx, in.LastMonth)
	if err != nil {
		return nil, err
	}
	if !filed {
		due = append(due, workflows.FilingInput{Period: in.LastMonth})
	}
	superseded, err := a.Filings.SupersededFilings(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, x := range superseded {
		if !seen[x.Period] {
			seen[x.Period] = true
			due = append(due, workflows.FilingInput{Period: x.Period, CorrectionOf: x.ID})
		}
	}
	activity.GetMetricsHandler(ctx).Gauge("receiptflow_filings_superseded").Update(float64(len(seen)))
	return due, nil
}

// OpenPayments counts the payments reserved in period (or before) whose bills have not ended: a month is filed
// once they have (a bill waits for its payee at most 24 hours).
func (a *Activities) OpenPayments(ctx context.Context, period string) (int, error) {
	open, err := a.Filings.Payments(ctx, store.PaymentQuery{States: []string{store.PaymentPending}, BookedUpTo: period})
	return len(open), err
}
