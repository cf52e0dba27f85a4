package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/wechatpay"
)

// checkBooks fails the test on any broken invariant of the books.
func checkBooks(t *testing.T, s *store.Store) {
	t.Helper()
	broken, err := s.CheckBooks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range broken {
		t.Error("books: " + b)
	}
}

// bill makes the transfer record of a reserved payment, as the payout activity does before calling the channel.
func bill(t *testing.T, s *store.Store, p store.Payment) {
	t.Helper()
	_, _, err := s.PutTransfer(context.Background(), store.Transfer{OutBillNo: p.OutBillNo, OrderID: p.OrderID, Attempt: p.Attempt,
		PayeeID: p.PayeeID, OpenID: "o_alice", AmountFen: p.NetFen, Channel: "wechatpay"})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPaymentIsReservedOnceAndResolvedOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := seed(t, s, "o_alice", "11010519491231002X")
		o1 := newOrder(t, s, "o_alice", "M-1", 100000)
		o2 := newOrder(t, s, "o_alice", "M-2", 100000)

		preview, err := s.PreviewTax(ctx, tax.PerPayment, o1.ID)
		if err != nil || preview.Tax != 4000 {
			t.Fatalf("preview: %+v %v", preview, err)
		}
		p1, err := s.ReservePayment(ctx, tax.PerPayment, o1.ID, 1, o1.ID+"T1")
		if err != nil || p1.TaxFen != 4000 || p1.NetFen != 96000 || p1.State != store.PaymentPending {
			t.Fatalf("reserve 1: %+v %v", p1, err)
		}
		again, err := s.ReservePayment(ctx, tax.Cumulative, o1.ID, 1, o1.ID+"T1")
		if err != nil || again.TaxFen != 4000 || again.Method != tax.PerPayment {
			t.Fatalf("reserving the bill again must return its reservation: %+v %v", again, err)
		}
		if _, err := s.ReservePayment(ctx, tax.PerPayment, o1.ID, 2, o1.ID+"T2"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a second bill while the first stands: %v", err)
		}
		// A pending payment counts in the basis: 2,000 元 in the month → 240 元, less the 40 reserved.
		p2, err := s.ReservePayment(ctx, tax.PerPayment, o2.ID, 1, o2.ID+"T1")
		if err != nil || p2.TaxFen != 20000 {
			t.Fatalf("reserve 2: %+v %v", p2, err)
		}
		bill(t, s, p1)
		bill(t, s, p2)
		paidAt := time.Now().Add(-time.Minute).Truncate(time.Second)
		if _, err := s.UpdateTransfer(ctx, p1.OutBillNo, store.TransferUpdate{State: wechatpay.StateSuccess, TransferBillNo: "wx1", At: paidAt}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateTransfer(ctx, p2.OutBillNo, store.TransferUpdate{State: wechatpay.StateFail, FailReason: "PAYEE_ACCOUNT_ABNORMAL"}); err != nil {
			t.Fatal(err)
		}
		// The payee taps again: the next bill reserves afresh on the basis without the voided one.
		p3, err := s.ReservePayment(ctx, tax.PerPayment, o2.ID, 2, o2.ID+"T2")
		if err != nil || p3.TaxFen != 20000 {
			t.Fatalf("reserve after void: %+v %v", p3, err)
		}
		if voided, err := s.VoidPayment(ctx, p3.OutBillNo, "never sent"); err != nil || !voided {
			t.Fatalf("void unsent bill: %v %v", voided, err)
		}
		if voided, err := s.VoidPayment(ctx, p3.OutBillNo, "again"); err != nil || voided {
			t.Fatalf("void twice: %v %v", voided, err)
		}
		if _, err := s.VoidPayment(ctx, p1.OutBillNo, "paid already"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("voiding a bill that has a transfer must go through its transfer: %v", err)
		}

		got, _ := s.Payment(ctx, p1.OutBillNo)
		if got.State != store.PaymentPosted || !got.ResolvedAt.Equal(paidAt) || got.Period != tax.Period(paidAt) {
			t.Fatalf("posted payment: %+v", got)
		}
		posted, err := s.Payments(ctx, store.PaymentQuery{PayeeID: p.ID, States: []string{store.PaymentPosted}})
		if err != nil || len(posted) != 1 || posted[0].GrossFen != 100000 || posted[0].TaxFen != 4000 {
			t.Fatalf("posted: %+v %v", posted, err)
		}
		all, _ := s.Payments(ctx, store.PaymentQuery{PayeeID: p.ID})
		if len(all) != 3 {
			t.Fatalf("all payments: %+v", all)
		}
		if funds, _ := s.PayerFunds(ctx, "payer1"); funds != 100000 {
			t.Fatalf("payer funds %d, want 100000 (200000 remitted, 100000 paid)", funds)
		}
		checkBooks(t, s)
	})
}

// The late-callback hole: bill T1 of an order fails after T2 was reserved. T1's news moves only T1's money.
func TestAFailedBillsLateNewsLeavesTheNextBillAlone(t *testing.T) {
	eachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		seed(t, s, "o_alice", "11010519491231002X")
		o := newOrder(t, s, "o_alice", "M-1", 800000)
		t1, err := s.ReservePayment(ctx, tax.PerPayment, o.ID, 1, o.ID+"T1")
		if err != nil {
			t.Fatal(err)
		}
		bill(t, s, t1)
		// The workflow learnt T1 failed (a query) and released it; the payee confirmed T2.
		if _, err := s.UpdateTransfer(ctx, t1.OutBillNo, store.TransferUpdate{State: wechatpay.StateFail, FailReason: "TRANSFER_RISK"}); err != nil {
			t.Fatal(err)
		}
		t2, err := s.ReservePayment(ctx, tax.PerPayment, o.ID, 2, o.ID+"T2")
		if err != nil || t2.TaxFen != 128000 {
			t.Fatalf("T2: %+v %v", t2, err)
		}
		bill(t, s, t2)
		if _, err := s.UpdateTransfer(ctx, t2.OutBillNo, store.TransferUpdate{State: wechatpay.StateSuccess, TransferBillNo: "wx2"}); err != nil {
			t.Fatal(err)
		}
		// T1's callback arrives late, twice.
		for range 2 {
			if _, err := s.UpdateTransfer(ctx, t1.OutBillNo, store.TransferUpdate{State: wechatpay.StateFail, FailReason: "TRANSFER_RISK"}); err != nil {
				t.Fatal(err)
			}
		}
		if v, err := s.VoidPayment(ctx, t2.OutBillNo, "stale release"); !errors.Is(err, store.ErrConflict) || v {
			t.Fatalf("a paid bill cannot be voided: %v %v", v, err)
		}
		if err := s.SetOrderState(ctx, o.ID, store.OrderPaid, ""); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Payment(ctx, t2.OutBillNo)
		if got.State != store.PaymentPosted || got.GrossFen != 800000 || got.TaxFen != 128000 {
			t.Fatalf("T2 after T1's late news: %+v", got)
		}
		checkBooks(t, s)
	})
}

func TestAPayerCannotSpendMoreThanRemitted(t *testing.T) {
	eachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		seed(t, s, "o_alice", "11010519491231002X")
		o, _, err := s.CreateOrder(ctx, store.NewOrder{PayerID: "payer1", PayeeOpenID: "o_alice", MerchantOrderNo: "M-unfunded", ServiceItem: "delivery", Description: "配送费", GrossFen: 50000})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReservePayment(ctx, tax.PerPayment, o.ID, 1, o.ID+"T1"); !errors.Is(err, store.ErrInsufficientFunds) {
			t.Fatalf("unfunded: %v", err)
		}
		fund(t, s, o)
		if _, err := s.ReservePayment(ctx, tax.PerPayment, o.ID, 1, o.ID+"T1"); err != nil {
			t.Fatalf("funded: %v", err)
		}
		if funds, _ := s.PayerFunds(ctx, "payer1"); funds != 0 {
			t.Fatalf("funds after reserving all: %d", funds)
		}
		checkBooks(t, s)
		// The funds are the account's balance, kept beside its postings: a balance that drifts from them is named.
		if err := s.ExecForTest(ctx, `UPDATE ledger_balances SET balance_fen = balance_fen - 100 WHERE account = ?`, store.AccountPayerFunds("payer1")); err != nil {
			t.Fatal(err)
		}
		if funds, _ := s.PayerFunds(ctx, "payer1"); funds != 100 {
			t.Fatalf("funds read from the balance: %d", funds)
		}
		if broken, err := s.CheckBooks(ctx); err != nil || len(broken) != 1 || !strings.Contains(broken[0], "balance is not the sum") {
			t.Fatalf("books with a drifted balance: %q %v", broken, err)
		}
	})
}

// Reservations for one payee never share a basis, however they interleave.
func TestConcurrentReservationsForOnePayeeNeverShareABasis(t *testing.T) {
	eachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		seed(t, s, "o_alice", "11010519491231002X")
		var orders []store.Order
		for i := range 8 {
			orders = append(orders, newOrder(t, s, "o_alice", fmt.Sprintf("M-%d", i), 50000))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var total int64
		for _, o := range orders {
			wg.Go(func() {
				p, err := s.ReservePayment(ctx, tax.PerPayment, o.ID, 1, o.ID+"T1")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total += p.TaxFen
				mu.Unlock()
			})
		}
		wg.Wait()
		// 8 × 500 = 4,000 元 in one month → (4,000 − 800) × 20% = 640 元 in total.
		if total != 64000 {
			t.Fatalf("withheld %d fen in total, want 64000", total)
		}
		checkBooks(t, s)
	})
}

// A payment posted into a month already filed marks that month's filing and its quarter's report superseded.
func TestPostingIntoAFiledMonthSupersedesItsFiling(t *testing.T) {
	eachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		seed(t, s, "o_alice", "11010519491231002X")
		o := newOrder(t, s, "o_alice", "M-1", 100000)
		p, err := s.ReservePayment(ctx, tax.PerPayment, o.ID, 1, o.ID+"T1")
		if err != nil {
			t.Fatal(err)
		}
		bill(t, s, p)
		period := p.BookedIn
		quarter, _ := store.QuarterOf(period)
		for _, e := range []store.Export{
			{ID: "withholding-" + period + "-a", Kind: store.ExportWithholding, Period: period},
			{ID: "platform-income-" + quarter + "-a", Kind: store.ExportPlatformIncome, Period: quarter},
		} {
			e.FileName, e.ContentType, e.CreatedBy, e.Content = "f.csv", "text/csv", "schedule", []byte("x\n")
			if _, err := s.PutExport(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if filed, _ := s.Filed(ctx, period); !filed {
			t.Fatal("month not filed")
		}
		if _, err := s.UpdateTransfer(ctx, p.OutBillNo, store.TransferUpdate{State: wechatpay.StateSuccess, TransferBillNo: "wx1"}); err != nil {
			t.Fatal(err)
		}
		stale, err := s.SupersededFilings(ctx)
		if err != nil || len(stale) != 1 || stale[0].Period != period || stale[0].SupersededReason == "" {
			t.Fatalf("superseded: %+v %v", stale, err)
		}
		list, _ := s.Exports(ctx, 10)
		for _, e := range list {
			if e.SupersededAt.IsZero() {
				t.Errorf("export %s not superseded", e.ID)
			}
		}
		// The correction answers it.
		if _, err := s.PutExport(ctx, store.Export{ID: "withholding-" + period + "-b", Kind: store.ExportWithholding, Period: period, CorrectionOf: stale[0].ID,
			FileName: "f.csv", ContentType: "text/csv", CreatedBy: "schedule", Content: []byte("y\n")}); err != nil {
			t.Fatal(err)
		}
		if stale, _ := s.SupersededFilings(ctx); len(stale) != 0 {
			t.Fatalf("corrected filing still listed: %+v", stale)
		}
	})
}

// A database left by the tax-ledger release carries its money into the books: withholdings whose bill paid are
// posted, reversed ones voided, the late-callback victims (a standing withholding on a failed bill) voided, and a
// bill still open stays pending.
func TestMigrationCarriesTheTaxLedgerIntoTheBooks(t *testing.T) {
	eachEmptyDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.MigrateTo(ctx, 5); err != nil {
			t.Fatal(err)
		}
		seed(t, s, "o_alice", "11010519491231002X")
		var orders []store.Order
		for i := range 4 {
			o, _, err := s.CreateOrder(ctx, store.NewOrder{PayerID: "payer1", PayeeOpenID: "o_alice", MerchantOrderNo: fmt.Sprintf("M-%d", i), ServiceItem: "delivery", Description: "配送费", GrossFen: 100000})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ExecForTest(ctx, `INSERT INTO funding (order_id, payer_id, amount_fen, reference, arrived_at) VALUES (?, 'payer1', 100000, ?, '2026-10-19T10:00:00.000000Z')`, o.ID, "BANK-"+o.ID); err != nil {
				t.Fatal(err)
			}
			orders = append(orders, o)
		}
		payee, _ := s.PayeeByOpenID(ctx, "o_alice")
		at := "2026-10-20T10:00:00.000000Z"
		row := func(o store.Order, booking int, kind string, attempt int, income, taxFen int64) {
			t.Helper()
			if err := s.ExecForTest(ctx, `INSERT INTO tax_ledger (order_id, booking, kind, attempt, payee_id, payer_id, service_item, period, tax_year, method, income_fen, tax_fen, detail, reason, created_at)
				VALUES (?, ?, ?, ?, ?, 'payer1', 'delivery', '2026-10', 2026, 'PER_PAYMENT', ?, ?, '{}', '', ?)`, o.ID, booking, kind, attempt, payee.ID, income, taxFen, at); err != nil {
				t.Fatal(err)
			}
		}
		transfer := func(o store.Order, attempt int, state string) {
			t.Helper()
			tr := store.Transfer{OutBillNo: fmt.Sprintf("%sT%d", o.ID, attempt), OrderID: o.ID, Attempt: attempt, PayeeID: payee.ID, OpenID: "o_alice", AmountFen: 96000, Channel: "wechatpay"}
			if _, _, err := s.PutTransfer(ctx, tr); err != nil {
				t.Fatal(err)
			}
			if state != "" {
				if err := s.ExecForTest(ctx, `UPDATE transfers SET state = ?, updated_at = ? WHERE out_bill_no = ?`, state, "2026-10-21T10:00:00.000000Z", tr.OutBillNo); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Order 0 paid. Order 1 booked, reversed, booked again on attempt 2, paid. Order 2: the hole — its bill failed,
		// its withholding stood. Order 3: still waiting for the payee.
		row(orders[0], 1, "WITHHOLD", 1, 100000, 4000)
		transfer(orders[0], 1, wechatpay.StateSuccess)
		row(orders[1], 1, "WITHHOLD", 1, 100000, 4000)
		row(orders[1], 1, "REVERSAL", 1, -100000, -4000)
		transfer(orders[1], 1, wechatpay.StateFail)
		row(orders[1], 2, "WITHHOLD", 2, 100000, 4000)
		transfer(orders[1], 2, wechatpay.StateSuccess)
		row(orders[2], 1, "WITHHOLD", 1, 100000, 4000)
		transfer(orders[2], 1, wechatpay.StateFail)
		row(orders[3], 1, "WITHHOLD", 1, 100000, 4000)
		transfer(orders[3], 1, "")

		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			orders[0].ID + "T1": store.PaymentPosted, orders[1].ID + "T1": store.PaymentVoided, orders[1].ID + "T2": store.PaymentPosted,
			orders[2].ID + "T1": store.PaymentVoided, orders[3].ID + "T1": store.PaymentPending,
		}
		all, err := s.Payments(ctx, store.PaymentQuery{PayeeID: payee.ID})
		if err != nil || len(all) != len(want) {
			t.Fatalf("payments: %+v %v", all, err)
		}
		for _, p := range all {
			if want[p.OutBillNo] != p.State || p.GrossFen != 100000 || p.TaxFen != 4000 {
				t.Errorf("%s: %s %d/%d, want %s", p.OutBillNo, p.State, p.GrossFen, p.TaxFen, want[p.OutBillNo])
			}
		}
		if p, _ := s.Payment(ctx, orders[0].ID+"T1"); p.Period != "2026-10" || p.ResolvedAt.Format(time.DateOnly) != "2026-10-21" {
			t.Errorf("posted when WeChat Pay answered: %+v", p)
		}
		if funds, _ := s.PayerFunds(ctx, "payer1"); funds != 400000-200000-100000 {
			t.Errorf("payer funds %d: 4 remitted, 2 paid, 1 reserved", funds)
		}
		if err := s.ExecForTest(ctx, `SELECT 1 FROM tax_ledger`); err == nil {
			t.Error("tax_ledger not dropped")
		}
		checkBooks(t, s)
	})
}

// The quarterly identity table (公告2025年第15号: information already reported need not be reported again): a worker
// is listed 新增 the first quarter they earn in, the same again when that quarter is reported again, and not in a
// later quarter while their identity is unchanged.
func TestIdentitiesAreReportedOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := seed(t, s, "o_alice", "11010519491231002X")
		for _, c := range []struct {
			quarter string
			want    []store.IdentityLine
		}{
			{"2026-Q3", []store.IdentityLine{{PayeeID: p.ID, Type: store.IdentityNew}}},
			{"2026-Q3", []store.IdentityLine{{PayeeID: p.ID, Type: store.IdentityNew}}}, // the same quarter again
			{"2026-Q4", nil},
		} {
			got, err := s.ReportIdentities(ctx, c.quarter, "export-"+c.quarter, []string{p.ID})
			if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("%s: %+v %v, want %+v", c.quarter, got, err, c.want)
			}
		}
	})
}
