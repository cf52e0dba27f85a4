package activities

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"

	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/workflows"
)

// Columns of the two tables of 公告2025年第15号's platform report, as far as their public descriptions go: the
// identity table lists workers whose identity is new (or changed) this quarter, the income table each worker's
// income of the quarter — 劳务收入 here, a failed payout's reversal counted as a refund.
var (
	identityColumns = []string{"序号", "姓名", "证件类型", "证件号码", "国家或地区", "人员类型", "报送类型"}
	incomeColumns   = []string{"序号", "姓名", "证件类型", "证件号码", "收入类型", "收入总额", "退款金额", "收入净额", "笔数"}
)

// BuildPlatformReport writes the quarter's identity and income tables and stores both sealed.
func (a *Activities) BuildPlatformReport(ctx context.Context, in workflows.ReportInput) (workflows.ReportResult, error) {
	from, to, periods, err := workflows.QuarterBounds(in.Quarter)
	if err != nil {
		return workflows.ReportResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadInput", err)
	}
	newPayees, err := a.Filings.PayeesVerifiedBetween(ctx, from, to)
	if err != nil {
		return workflows.ReportResult{}, err
	}
	identity := [][]string{identityColumns}
	for i, p := range newPayees {
		id, err := a.Filings.Identity(ctx, p)
		if err != nil {
			return workflows.ReportResult{}, err
		}
		identity = append(identity, []string{strconv.Itoa(i + 1), id.Name, "居民身份证", id.IDNumber, "中国", "从业人员", "新增"})
	}

	type sums struct {
		gross, refunds int64
		orders         map[string]bool
	}
	byPayee, order := map[string]*sums{}, []string{}
	for _, period := range periods {
		entries, err := a.Filings.TaxEntriesOfPeriod(ctx, period)
		if err != nil {
			return workflows.ReportResult{}, err
		}
		for _, e := range entries {
			s := byPayee[e.PayeeID]
			if s == nil {
				s = &sums{orders: map[string]bool{}}
				byPayee[e.PayeeID] = s
				order = append(order, e.PayeeID)
			}
			if e.IncomeFen >= 0 {
				s.gross += e.IncomeFen
			} else {
				s.refunds -= e.IncomeFen
			}
			s.orders[e.OrderID] = true
		}
	}
	income := [][]string{incomeColumns}
	var total int64
	for _, p := range order {
		s := byPayee[p]
		if s.gross == s.refunds {
			continue // nothing was paid in the end
		}
		id, err := a.Filings.Identity(ctx, p)
		if err != nil {
			return workflows.ReportResult{}, err
		}
		income = append(income, []string{strconv.Itoa(len(income)), id.Name, "居民身份证", id.IDNumber, "劳务收入", tax.Yuan(s.gross), tax.Yuan(s.refunds),
			tax.Yuan(s.gross - s.refunds), strconv.Itoa(len(s.orders))})
		total += s.gross - s.refunds
	}

	out := workflows.ReportResult{NewIdentities: len(identity) - 1, Workers: len(income) - 1, IncomeFen: total}
	for _, f := range []struct {
		kind, name string
		rows       [][]string
		id         *string
	}{
		{store.ExportPlatformIdentity, "平台内从业人员身份信息报送表-" + in.Quarter + ".csv", identity, &out.IdentityExportID},
		{store.ExportPlatformIncome, "平台内从业人员收入信息报送表-" + in.Quarter + ".csv", income, &out.IncomeExportID},
	} {
		var buf bytes.Buffer
		buf.WriteString("\ufeff")
		w := csv.NewWriter(&buf)
		_ = w.WriteAll(f.rows)
		e, err := a.Filings.PutExport(ctx, store.Export{ID: f.kind + "-" + in.Quarter + "-" + in.ExportSuffix, Kind: f.kind, Period: in.Quarter,
			FileName: f.name, ContentType: "text/csv; charset=utf-8", Rows: len(f.rows) - 1, IncomeFen: total, CreatedBy: in.RequestedBy,
			Content: buf.Bytes()})
		if err != nil {
			return workflows.ReportResult{}, err
		}
		*f.id = e.ID
	}
	return out, nil
}
