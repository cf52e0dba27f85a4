package tax

import (
	"testing"
	"time"
)

func TestPerPayment(t *testing.T) {
	cases := []struct {
		name             string
		prior, withheld  int64
		gross            int64
		wantTax, wantNet int64
	}{
		{"official example 2,000 元 → 240 元", 0, 0, 200000, 24000, 176000},
		{"800 元 is fully deducted", 0, 0, 80000, 0, 80000},
		{"5 fen over 800 元: 1 fen taxable rounds to 1 fen", 0, 0, 80005, 1, 80004},
		{"2 fen over 800 元: 0.4 fen rounds down", 0, 0, 80002, 0, 80002},
		{"4,000 元: last income with the fixed 800 deduction", 0, 0, 400000, 64000, 336000},
		{"4,000.01 元: 20% deduction, 64,000.16 fen rounds down", 0, 0, 400001, 64000, 336001},
		{"taxable 20,000 (income 25,000) still 20%", 0, 0, 2500000, 400000, 2100000},
		{"taxable 50,000 (income 62,500) at 30% - 2,000", 0, 0, 6250000, 1300000, 4950000},
		{"income 100,000 → taxable 80,000 at 40% - 7,000", 0, 0, 10000000, 2500000, 7500000},
		{"second payment of a month taxes the month total", 100000, 4000, 100000, 20000, 80000},
		{"month already over-withheld never goes negative", 100000, 90000, 100, 0, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := Compute(PerPayment, Basis{PriorIncome: c.prior, PriorWithheld: c.withheld}, c.gross)
			if err != nil {
				t.Fatal(err)
			}
			if w.Tax != c.wantTax || w.Net != c.wantNet || w.Gross != c.gross {
				t.Fatalf("got gross %d tax %d net %d, want tax %d net %d", w.Gross, w.Tax, w.Net, c.wantTax, c.wantNet)
			}
		})
	}
}

func TestCumulative(t *testing.T) {
	cases := []struct {
		name     string
		basis    Basis
		gross    int64
		wantTax  int64
		taxable  int64
		totalTax int64
	}{
		// 10,000 × 80% − 5,000 = 3,000 taxable × 3% = 90 元.
		{"first month 10,000 元", Basis{Months: 1}, 1000000, 9000, 300000, 9000},
		// 20,000 × 80% − 2 × 5,000 = 6,000 × 3% = 180, minus 90 withheld = 90.
		{"second month 10,000 元", Basis{PriorIncome: 1000000, PriorWithheld: 9000, Months: 2}, 1000000, 9000, 600000, 18000},
		// Same month: months stays 1; 20,000 × 80% − 5,000 = 11,000 × 3% = 330 − 90 = 240.
		{"second payment same month", Basis{PriorIncome: 1000000, PriorWithheld: 9000, Months: 1}, 1000000, 24000, 1100000, 33000},
		{"income under the monthly deduction", Basis{Months: 1}, 500000, 0, 0, 0},
		{"zero months counts as this month", Basis{}, 1000000, 9000, 300000, 9000},
		// 51,250 × 80% − 5,000 = 36,000 exactly → 3% = 1,080.
		{"taxable 36,000 boundary at 3%", Basis{Months: 1}, 5125000, 108000, 3600000, 108000},
		// One fen more: 36,000.008 × 10% − 2,520 = 1,080.0008 → 1,080.00.
		{"just above 36,000 at 10% − 2,520", Basis{Months: 1}, 5125001, 108000, 3600001, 108000},
		// 186,250 × 80% − 5,000 = 144,000 → 10% − 2,520 = 11,880.
		{"taxable 144,000 boundary at 10%", Basis{Months: 1}, 18625000, 1188000, 14400000, 1188000},
		// 200,000 × 80% − 5,000 = 155,000 → 20% − 16,920 = 14,080.
		{"above 144,000 at 20% − 16,920", Basis{Months: 1}, 20000000, 1408000, 15500000, 1408000},
		// 2,000,000 × 80% − 12 × 5,000 = 1,540,000 → 45% − 181,920 = 511,080.
		{"top bracket", Basis{PriorIncome: 100000000, Months: 12}, 100000000, 51108000, 154000000, 51108000},
		// 10,100 × 80% − 5,000 = 3,080 × 3% = 92.40, less than the 500 already withheld.
		{"over-withheld never goes negative", Basis{PriorIncome: 1000000, PriorWithheld: 50000, Months: 1}, 10000, 0, 308000, 9240},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := Compute(Cumulative, c.basis, c.gross)
			if err != nil {
				t.Fatal(err)
			}
			if w.Tax != c.wantTax || w.Net != c.gross-c.wantTax || w.TaxableFen != c.taxable || w.TotalTaxFen != c.totalTax {
				t.Fatalf("got %+v, want tax %d taxable %d total %d", w, c.wantTax, c.taxable, c.totalTax)
			}
		})
	}
}

// Paying a month in pieces withholds exactly the tax on the whole month: the running sum never drifts by a fen.
func TestSplitPaymentsSumToTaxOnTotal(t *testing.T) {
	for _, m := range []Method{PerPayment, Cumulative} {
		var b Basis
		b.Months = 1
		pieces := []int64{33333, 77777, 123457, 99999, 250001, 1, 800000}
		var total int64
		for _, p := range pieces {
			w, err := Compute(m, b, p)
			if err != nil {
				t.Fatal(err)
			}
			b.PriorIncome += p
			b.PriorWithheld += w.Tax
			total += p
		}
		whole, _ := Compute(m, Basis{Months: 1}, total)
		if b.PriorWithheld != whole.Tax {
			t.Errorf("%s: pieces withheld %d, whole %d", m, b.PriorWithheld, whole.Tax)
		}
	}
}

func TestComputeRejectsBadInput(t *testing.T) {
	if _, err := Compute(PerPayment, Basis{}, 0); err == nil {
		t.Error("zero gross accepted")
	}
	if _, err := Compute(PerPayment, Basis{PriorIncome: -1}, 100); err == nil {
		t.Error("negative basis accepted")
	}
	if _, err := Compute("flat", Basis{}, 100); err == nil {
		t.Error("unknown method accepted")
	}
	if _, err := ParseMethod("flat"); err == nil {
		t.Error("ParseMethod accepted an unknown method")
	}
	if m, err := ParseMethod("per_payment"); err != nil || m != PerPayment {
		t.Errorf("ParseMethod(per_payment) = %q, %v", m, err)
	}
}

func TestPeriodUsesBeijingTime(t *testing.T) {
	// 2026-01-31 17:00 UTC is already February 1st in Beijing.
	ts := time.Date(2026, 1, 31, 17, 0, 0, 0, time.UTC)
	if got := Period(ts); got != "2026-02" {
		t.Errorf("Period = %s, want 2026-02", got)
	}
	if got := Year(time.Date(2026, 12, 31, 16, 30, 0, 0, time.UTC)); got != 2027 {
		t.Errorf("Year = %d, want 2027", got)
	}
}

// 公告2025年第16号 counts 5,000 元 for each month of the unbroken run of months with income ending with this one.
func TestConsecutiveMonths(t *testing.T) {
	cases := []struct {
		name    string
		periods []string
		current string
		want    int
	}{
		{"first income of the year", nil, "2026-03", 1},
		{"January and February, then March", []string{"2026-01", "2026-02"}, "2026-03", 3},
		{"January, a gap in February, then March", []string{"2026-01"}, "2026-03", 1},
		{"a second payment in the same month", []string{"2026-02", "2026-03"}, "2026-03", 2},
		{"last December is another tax year", []string{"2025-12"}, "2026-01", 1},
		{"a run after a gap", []string{"2026-01", "2026-03", "2026-04"}, "2026-05", 3},
	}
	for _, c := range cases {
		if got := ConsecutiveMonths(c.periods, c.current); got != c.want {
			t.Errorf("%s: %d months, want %d", c.name, got, c.want)
		}
	}
}

// The gap case of the issue, both ways: January 3,000 元 then March 8,000 元 (nothing in February).
func TestCumulativeAfterAGapCountsOnlyTheUnbrokenRun(t *testing.T) {
	jan, _ := Compute(Cumulative, Basis{Months: ConsecutiveMonths(nil, "2026-01")}, 300000)
	if jan.Tax != 0 {
		t.Fatalf("January withholds %d", jan.Tax)
	}
	// The reading implemented: cumulative income 11,000, expenses 2,200, one month's 5,000 → 3,800 × 3% = 114.00.
	mar, _ := Compute(Cumulative, Basis{PriorIncome: 300000, Months: ConsecutiveMonths([]string{"2026-01"}, "2026-03")}, 800000)
	if mar.Tax != 11400 || mar.TaxableFen != 380000 {
		t.Fatalf("March after a gap: %+v, want 114.00 on 3,800 taxable", mar)
	}
	// Counting every month with income (the code before) would deduct 10,000 and withhold nothing in March.
	everyMonth, _ := Compute(Cumulative, Basis{PriorIncome: 300000, Months: 2}, 800000)
	if everyMonth.Tax != 0 {
		t.Fatalf("every-month reading: %+v", everyMonth)
	}
	// Restarting the whole calculation after the gap (not the text's 累计收入) would give 8,000 × 80% − 5,000 → 42.00.
	restart, _ := Compute(Cumulative, Basis{Months: 1}, 800000)
	if restart.Tax != 4200 {
		t.Fatalf("restart reading: %+v", restart)
	}
}

func TestYuan(t *testing.T) {
	for fen, want := range map[int64]string{0: "0.00", 5: "0.05", 795800: "7958.00", 123456789: "1234567.89", -4200: "-42.00"} {
		if got := Yuan(fen); got != want {
			t.Errorf("Yuan(%d) = %s, want %s", fen, got, want)
		}
	}
}

// Amounts in filings and the fund-flow bill are 元 with up to two decimals; a negative one keeps its sign in every
// part (an old parser turned -0.50 into +0.50 and -12.34 into -11.66); ParseYuan reads back what Yuan writes.
func TestParseYuan(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1234.56": 123456, "1.5": 150, "-0.50": -50, "-12.34": -1234, "-7": -700, " 8.00 ": 800} {
		if got, err := ParseYuan(in); err != nil || got != want {
			t.Errorf("ParseYuan(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, fen := range []int64{0, 1, 99, 150000, -50, -123456} {
		if got, err := ParseYuan(Yuan(fen)); err != nil || got != fen {
			t.Errorf("ParseYuan(Yuan(%d)) = %d, %v", fen, got, err)
		}
	}
	for _, bad := range []string{"", "-", "abc", "1.234", "+1", "--1", "1.-5", "1e3", "1,000.00"} {
		if got, err := ParseYuan(bad); err == nil {
			t.Errorf("ParseYuan(%q) = %d, want an error", bad, got)
		}
	}
}
