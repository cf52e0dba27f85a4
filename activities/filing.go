package activities

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/workflows"
)

// Filings is what the monthly withholding filing reads, and where it keeps the file.
type Filings interface {
	TaxEntriesOfPeriod(ctx context.Context, period string) ([]store.TaxEntry, error)
	TaxEntriesOfYear(ctx context.Context, payeeID string, year int) ([]store.TaxEntry, error)
	Identity(ctx context.Context, payeeID string) (store.Identity, error)
	PutExport(ctx context.Context, e store.Export) (store.Export, error)
	PayeesVerifiedBetween(ctx context.Context, from, to time.Time) ([]string, error)
}

// Columns of the filing, after the 劳务报酬所得 rows of the withholding client's (自然人电子税务局扣缴端) import
// template for 综合所得预扣预缴, as far as it is public: identity first, then the period's income and the
// method's figures, amounts in 元.
var (
	cumulativeColumns = []string{"工号", "姓名", "证件类型", "证件号码", "所得项目", "本期收入", "累计收入额", "累计费用", "累计减除费用",
		"累计连续月份数", "累计应纳税所得额", "累计应纳税额", "累计已预扣预缴税额", "本期应预扣预缴税额"}
	perPaymentColumns = []string{"工号", "姓名", "证件类型", "证件号码", "所得项目", "付款方", "服务项目", "本期收入", "减除费用",
		"应纳税所得额", "税率", "速算扣除数", "应纳税额", "已扣缴税额"}
)

// BuildWithholdingFiling writes the month's withholding filing (扣缴申报) from the ledger — one row per payee
// with income in the month (累计预扣法), or per payee, payer and service item (预扣率表二) — and stores it sealed.
// Names and ID numbers are opened only here; the workflow gets a reference, never the content.
func (a *Activities) BuildWithholdingFiling(ctx context.Context, in workflows.FilingInput) (workflows.FilingResult, error) {
	entries, err := a.Filings.TaxEntriesOfPeriod(ctx, in.Period)
	if err != nil {
		return workflows.FilingResult{}, err
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff") // the withholding client and spreadsheets read UTF-8 with a BOM
	w := csv.NewWriter(&buf)
	method := a.Config.TaxMethod
	if len(entries) > 0 {
		method = entries[0].Method
	}
	var rows [][]string
	if method == tax.PerPayment {
		rows, err = a.perPaymentRows(ctx, entries)
		_ = w.Write(perPaymentColumns)
	} else {
		rows, err = a.cumulativeRows(ctx, in.Period, entries)
		_ = w.Write(cumulativeColumns)
	}
	if err != nil {
		return workflows.FilingResult{}, err
	}
	_ = w.WriteAll(rows)
	var income, withheld int64
	for _, e := range entries {
		income += e.IncomeFen
		withheld += e.TaxFen
	}
	e, err := a.Filings.PutExport(ctx, store.Export{ID: in.ExportID, Kind: store.ExportWithholding, Period: in.Period,
		FileName: fmt.Sprintf("扣缴申报-劳务报酬-%s.csv", in.Period), ContentType: "text/csv; charset=utf-8", Rows: len(rows),
		IncomeFen: income, TaxFen: withheld, CreatedBy: in.RequestedBy, Content: buf.Bytes()})
	if err != nil {
		return workflows.FilingResult{}, err
	}
	return workflows.FilingResult{ExportID: e.ID, Rows: e.Rows, IncomeFen: e.IncomeFen, TaxFen: e.TaxFen, SHA256: e.SHA256}, nil
}

// monthSum is a payee's rows netted (a reversal cancels its withholding) for one period.
type monthSum struct{ income, tax int64 }

func (a *Activities) identityCells(ctx context.Context, payeeID string) ([]string, error) {
	id, err := a.Filings.Identity(ctx, payeeID)
	if err != nil {
		return nil, err
	}
	return []string{payeeID, id.Name, "居民身份证", id.IDNumber, "劳务报酬所得"}, nil
}

func (a *Activities) cumulativeRows(ctx context.Context, period string, entries []store.TaxEntry) ([][]string, error) {
	var rows [][]string
	for _, payee := range payeesOf(entries) {
		year := entries[0].Year
		all, err := a.Filings.TaxEntriesOfYear(ctx, payee, year)
		if err != nil {
			return nil, err
		}
		months := map[string]monthSum{}
		for _, e := range all {
			if e.Period <= period {
				m := months[e.Period]
				m.income, m.tax = m.income+e.IncomeFen, m.tax+e.TaxFen
				months[e.Period] = m
			}
		}
		if months[period].income <= 0 {
			continue // every payment of the month was reversed: no income to file
		}
		var withIncome []string
		var cumIncome, before int64
		for p, m := range months {
			cumIncome += m.income
			if p < period {
				before += m.tax
			}
			if m.income > 0 {
				withIncome = append(withIncome, p)
			}
		}
		n := tax.ConsecutiveMonths(withIncome, period)
		taxable, cumTax := tax.CumulativeFigures(cumIncome, n)
		cells, err := a.identityCells(ctx, payee)
		if err != nil {
			return nil, err
		}
		rows = append(rows, append(cells, tax.Yuan(months[period].income), tax.Yuan(cumIncome), tax.Yuan((cumIncome+2)/5), tax.Yuan(int64(n)*500000),
			strconv.Itoa(n), tax.Yuan(taxable), tax.Yuan(cumTax), tax.Yuan(before), tax.Yuan(months[period].tax)))
	}
	return rows, nil
}

func (a *Activities) perPaymentRows(ctx context.Context, entries []store.TaxEntry) ([][]string, error) {
	type key struct{ payee, payer, item string }
	sums, order := map[key]monthSum{}, []key{}
	for _, e := range entries {
		k := key{e.PayeeID, e.PayerID, e.ServiceItem}
		if _, ok := sums[k]; !ok {
			order = append(order, k)
		}
		m := sums[k]
		m.income, m.tax = m.income+e.IncomeFen, m.tax+e.TaxFen
		sums[k] = m
	}
	var rows [][]string
	for _, k := range order {
		m := sums[k]
		if m.income <= 0 {
			continue
		}
		deduction, taxable, rate, quick, due := tax.PerPaymentFigures(m.income)
		cells, err := a.identityCells(ctx, k.payee)
		if err != nil {
			return nil, err
		}
		rows = append(rows, append(cells, k.payer, k.item, tax.Yuan(m.income), tax.Yuan(deduction), tax.Yuan(taxable), strconv.FormatInt(rate, 10)+"%",
			tax.Yuan(quick), tax.Yuan(due), tax.Yuan(m.tax)))
	}
	return rows, nil
}

func payeesOf(entries []store.TaxEntry) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range entries {
		if !seen[e.PayeeID] {
			seen[e.PayeeID] = true
			out = append(out, e.PayeeID)
		}
	}
	sort.Strings(out)
	return out
}
