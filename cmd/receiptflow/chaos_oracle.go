//go:build !nodev

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/workflows"
)

func (c *chaos) outcomes() string {
	n := map[workflows.State]int{}
	for _, o := range c.orders {
		n[o.final]++
	}
	var parts []string
	for s, k := range n {
		if s == "" {
			s = "not ended"
		}
		parts = append(parts, fmt.Sprintf("%d %s", k, s))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// watch is the oracle during the run: every --check-every it asks dev to check the books' invariants
// (GET /v1/ops/books/check), which must hold at every moment, kills or not. A check dev cannot answer (it is down)
// is skipped.
func (c *chaos) watch(ctx context.Context, done <-chan struct{}) {
	seen := map[string]bool{}
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-time.After(c.o.CheckEvery):
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		var check struct{ Violations []string }
		err := c.call(cctx, http.MethodGet, "/v1/ops/books/check", "", nil, &check)
		cancel()
		if err != nil {
			continue
		}
		c.checks.Add(1)
		for _, v := range check.Violations {
			if !seen[v] {
				seen[v] = true
				c.mu.Lock()
				c.during = append(c.during, fmt.Sprintf("books during the run (%s in): %s", time.Since(c.began).Round(time.Second), v))
				c.mu.Unlock()
			}
		}
	}
}

// oracle checks, while dev still runs: no answer was a 500, and the product's own reconciliation of the run's
// window finds nothing.
func (c *chaos) oracle(ctx context.Context, began time.Time) []string {
	var bad []string
	if n := c.internalErrors.Load(); n > 0 {
		bad = append(bad, fmt.Sprintf("%d answers were 500", n))
	}
	var started struct{ ID string }
	if err := c.call(ctx, http.MethodPost, "/v1/ops/reconciliations", "", map[string]time.Time{"from": began.Add(-time.Minute), "to": time.Now().Add(time.Minute)}, &started); err != nil {
		return append(bad, "reconciliation: "+err.Error())
	}
	var d struct {
		Reconciliation struct {
			State    string `json:"state"`
			Bills    int    `json:"bills"`
			Findings int    `json:"findings"`
		} `json:"reconciliation"`
		Findings []store.Finding `json:"findings"`
	}
	// It must finish, and keep going until it does: every page of bills it checks (WeChat Pay answering a fault
	// rate's share late, or not at all) gives it reconStall more; a run stuck for that long is a violation.
	const reconStall = 2 * time.Minute
	checked := -1
	for deadline := time.Now().Add(reconStall); d.Reconciliation.State != "DONE"; time.Sleep(500 * time.Millisecond) {
		if d.Reconciliation.Bills > checked {
			checked, deadline = d.Reconciliation.Bills, time.Now().Add(reconStall)
		}
		if time.Now().After(deadline) {
			return append(bad, fmt.Sprintf("reconciliation %s stopped for %s before it finished: %+v", started.ID, reconStall, d.Reconciliation))
		}
		// (404 until the run has written its first page)
		if err := c.call(ctx, http.MethodGet, "/v1/ops/reconciliations/"+started.ID, "", nil, &d); err != nil && !strings.Contains(err.Error(), " 404 ") {
			return append(bad, "reconciliation: "+err.Error())
		}
	}
	for _, f := range d.Findings {
		bad = append(bad, fmt.Sprintf("order %s: reconciliation finding %s on bill %s: ours %s %d fen, WeChat Pay %s %d fen (%s)",
			f.OrderID, f.Kind, f.OutBillNo, f.OurState, f.OurAmountFen, f.WeChatState, f.WeChatAmountFen, f.Detail))
	}
	return bad
}

// books checks, with dev stopped, the store against the sandbox's own record of WeChat Pay: the books' invariants
// (each transaction balances, balances equal their postings, …), one SUCCESS bill and one posted payment per PAID
// order, and none for any other.
func (c *chaos) books(ctx context.Context, cfg config.Config, billsFile string) []string {
	st, _, _, err := openStore(ctx, cfg)
	if err != nil {
		return []string{"store: " + err.Error()}
	}
	defer st.Close()
	broken, err := st.CheckBooks(ctx)
	if err != nil {
		return []string{"books: " + err.Error()}
	}
	bad := append([]string(nil), broken...)
	bills, err := sandbox.ReadBills(billsFile)
	if err != nil {
		return append(bad, "the sandbox's bills: "+err.Error())
	}
	known := map[string]bool{}
	paid := map[*chaosOrder]store.Payment{} // each PAID order's one posted payment
	for _, o := range c.orders {
		if o.id == "" {
			continue
		}
		known[o.id] = true
		success := 0
		for no, b := range bills {
			if strings.HasPrefix(no, o.id+"T") && b.State == "SUCCESS" {
				success++
			}
		}
		posted, err := st.Payments(ctx, store.PaymentQuery{OrderID: o.id, States: []string{store.PaymentPosted}})
		if err != nil {
			return append(bad, "payments: "+err.Error())
		}
		want := 0
		if o.final == workflows.StatePaid {
			want = 1
		}
		if success != want || len(posted) != want {
			bad = append(bad, fmt.Sprintf("order %s ended %s (%s): %d SUCCESS bills at WeChat Pay, %d posted payments in the books, want %d",
				o.id, o.final, o.story(), success, len(posted), want))
		} else if want == 1 {
			paid[o] = posted[0]
			if posted[0].GrossFen != o.grossFen {
				bad = append(bad, fmt.Sprintf("order %s (%s): posted %d fen gross, the order was for %d", o.id, o.story(), posted[0].GrossFen, o.grossFen))
			}
		}
	}
	for no, b := range bills {
		if i := strings.LastIndex(no, "T"); b.State == "SUCCESS" && (i < 0 || !known[no[:i]]) && !c.earlier(ctx, st, no[:max(i, 0)]) {
			bad = append(bad, fmt.Sprintf("bill %s: SUCCESS at WeChat Pay for an order this run does not know", no))
		}
	}
	return append(bad, c.filing(ctx, st, cfg, paid)...)
}

// earlier reports whether an order is an earlier run's: a topology outlives runs, dev's data directory does not.
func (c *chaos) earlier(ctx context.Context, st *store.Store, orderID string) bool {
	if c.o.Topology == "" {
		return false
	}
	o, err := st.Order(ctx, orderID)
	return err == nil && o.CreatedAt.Before(c.began)
}

// filing builds each month's withholding filing from the books, as the filing run's step does, and checks it
// against what the run saw: one row per payee the run paid, with the income of the order it drove to PAID, none
// for anyone else, and the tax withheld in the rows equal to the posted ledger's. paid is each PAID order's posted
// payment, as books found it (an order books named is left out).
func (c *chaos) filing(ctx context.Context, st *store.Store, cfg config.Config, paid map[*chaosOrder]store.Payment) []string {
	method, err := tax.ParseMethod(cfg.TaxMethod)
	if err != nil {
		return []string{"tax method: " + err.Error()}
	}
	byPeriod := map[string]map[string]*chaosOrder{} // period → payee → order
	for o, p := range paid {
		if byPeriod[p.Period] == nil {
			byPeriod[p.Period] = map[string]*chaosOrder{}
		}
		byPeriod[p.Period][p.PayeeID] = o
	}
	ours := map[string]bool{} // on a topology: the run's payees, paid or not, and its orders
	if c.o.Topology != "" {
		for _, o := range c.orders {
			if order, err := st.Order(ctx, o.id); err == nil {
				ours[order.PayeeID], ours[o.id] = true, true
			}
		}
	}
	var bad []string
	for period, payees := range byPeriod {
		ledger, err := st.Payments(ctx, store.PaymentQuery{Period: period, States: []string{store.PaymentPosted}})
		if err != nil {
			return append(bad, "payments: "+err.Error())
		}
		var ledgerTax int64
		for _, p := range ledger {
			if ours[p.OrderID] || c.o.Topology == "" {
				ledgerTax += p.TaxFen
			}
		}
		rows, err := c.buildFiling(ctx, st, method, period)
		if err != nil {
			return append(bad, fmt.Sprintf("filing %s: %v", period, err))
		}
		var filedTax int64
		for _, r := range rows {
			if !ours[r.payeeID] && c.o.Topology != "" {
				continue // a payee of an earlier run on the same topology
			}
			filedTax += r.taxFen
			o := payees[r.payeeID]
			switch {
			case o == nil:
				bad = append(bad, fmt.Sprintf("filing %s: a row for payee %s, whom the run did not pay", period, r.payeeID))
			case r.income != tax.Yuan(o.grossFen):
				bad = append(bad, fmt.Sprintf("filing %s: payee %s's income %s 元, order %s paid %s 元 (%s)", period, r.payeeID, r.income, o.id, tax.Yuan(o.grossFen), o.story()))
			}
			delete(payees, r.payeeID)
		}
		for payee, o := range payees {
			bad = append(bad, fmt.Sprintf("filing %s: no row for payee %s, paid by order %s (%s)", period, payee, o.id, o.story()))
		}
		if filedTax != ledgerTax {
			bad = append(bad, fmt.Sprintf("filing %s: %s 元 withheld in its rows, the posted ledger %s 元", period, tax.Yuan(filedTax), tax.Yuan(ledgerTax)))
		}
	}
	return bad
}

// filedRow is what the oracle reads of a filing's row: whose, the period's income (元, as filed) and the tax
// withheld in the period (fen).
type filedRow struct {
	payeeID, income string
	taxFen          int64
}

// buildFiling runs the filing's own step (BuildWithholdingFiling) on the books and reads back its CSV files.
func (c *chaos) buildFiling(ctx context.Context, st *store.Store, method tax.Method, period string) ([]filedRow, error) {
	acts := &activities.Activities{Filings: st, Config: activities.Config{TaxMethod: method}}
	suite := &testsuite.WorkflowTestSuite{}
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	val, err := env.ExecuteActivity(acts.BuildWithholdingFiling, workflows.FilingInput{Period: period, ExportID: fmt.Sprintf("chaos-%d-%s", c.o.Seed, period), RequestedBy: "chaos"})
	var res workflows.FilingResult
	if err == nil {
		err = val.Get(&res)
	}
	if err != nil {
		return nil, err
	}
	var rows []filedRow
	for _, ref := range res.Exports {
		x, err := st.ExportContent(ctx, ref.ID, "chaos")
		if err != nil {
			return nil, err
		}
		if !strings.HasSuffix(x.FileName, ".csv") {
			continue
		}
		table, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(x.Content, []byte("\ufeff")))).ReadAll()
		if err != nil || len(table) == 0 {
			return nil, fmt.Errorf("%s: %v", x.FileName, err)
		}
		// 本期应预扣预缴税额 (累计预扣法) or 已扣缴税额 (预扣率表二) is the last column: the period's tax.
		payee, income := slices.Index(table[0], "工号"), slices.Index(table[0], "本期收入")
		if payee < 0 || income < 0 {
			return nil, fmt.Errorf("%s: no 工号 or 本期收入 column in %q", x.FileName, table[0])
		}
		for _, r := range table[1:] {
			withheld, err := tax.ParseYuan(r[len(r)-1])
			if err != nil {
				return nil, fmt.Errorf("%s: %v", x.FileName, err)
			}
			rows = append(rows, filedRow{payeeID: r[payee], income: r[income], taxFen: withheld})
		}
	}
	return rows, nil
}
