// Package tax computes individual income tax withholding on 劳务报酬所得 (labour remuneration) in integer fen.
//
// Rounding rule: every intermediate value is kept exact as a fraction; the tax owed on a total is rounded half up
// (四舍五入) to the fen once, and a payment withholds that rounded total minus what was already withheld, never less
// than zero. Rounding the total rather than each payment keeps the month's or year's sum exactly equal to the tax on
// the sum.
package tax

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Method selects the withholding method; which one applies is the operator's decision.
type Method string

const (
	// Cumulative is 公告2025年第16号 (internet platforms paying platform workers, from 2025-10-01), 预扣率表一.
	Cumulative Method = "cumulative"
	// PerPayment is 公告2018年第61号, 预扣率表二, with all income of one service item in a month as one "次".
	PerPayment Method = "per_payment"
)

// ParseMethod validates a configured method name.
func ParseMethod(s string) (Method, error) {
	switch Method(s) {
	case Cumulative, PerPayment:
		return Method(s), nil
	}
	return "", fmt.Errorf("unknown tax method %q (want %q or %q)", s, Cumulative, PerPayment)
}

// Fen per yuan.
const yuan = 100

// Beijing is the time China's tax periods, bills and statements follow; a fixed zone avoids depending on the
// tzdata of the host.
var Beijing = time.FixedZone("CST", 8*60*60)

// Period is the tax month (YYYY-MM, Beijing time) of t.
func Period(t time.Time) string { return t.In(Beijing).Format("2006-01") }

// Year is the tax year (Beijing time) of t.
func Year(t time.Time) int { return t.In(Beijing).Year() }

// Yuan writes fen as 元 with two decimals and no separators, as filings and statements show amounts.
func Yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

// ParseYuan reads an amount in 元 with up to two decimals exactly (Yuan's inverse, and the fund-flow bill's); a leading '-' negates the whole amount (so -0.50
// is -50 fen, not 50, and -1.50 is -150, not -50).
func ParseYuan(s string) (int64, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if whole == "" || len(frac) > 2 || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("amount %q", s)
	}
	y, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || y > 1<<53 {
		return 0, fmt.Errorf("amount %q", s)
	}
	f, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
	if neg {
		return -(y*100 + f), nil
	}
	return y*100 + f, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Withholding is what one payment withholds.
type Withholding struct {
	Method Method `json:"method"`
	Gross  int64  `json:"grossFen"`
	Tax    int64  `json:"taxFen"`
	Net    int64  `json:"netFen"`
	// TaxableFen is the taxable income of the period the calculation covered (month or year to date), for audit.
	TaxableFen int64 `json:"taxableFen"`
	// TotalTaxFen is the rounded tax on the whole period including this payment.
	TotalTaxFen int64 `json:"totalTaxFen"`
}

// Basis is what the ledger already holds for the period this payment belongs to.
//   - per payment: this payee's income and tax withheld this month for the same payer and service item;
//   - cumulative: this payee's income and tax withheld this year on this platform, and the months of the
//     deduction (ConsecutiveMonths).
type Basis struct {
	PriorIncome   int64 `json:"priorIncomeFen"`
	PriorWithheld int64 `json:"priorWithheldFen"`
	Months        int   `json:"months"`
}

// ConsecutiveMonths is the number of months the cumulative method's 5,000 元 deduction counts for a payment in
// month current (YYYY-MM): 公告2025年第16号 一(一) says "5000元/月乘以纳税人当年截至本月在本互联网平台企业连续取得劳务
// 报酬的月份数" — months of this year, up to this month, in which the payee earned on this platform without a
// break. So it is the length of the unbroken run of months with income that ends with current (which counts:
// the payment is income in it); a month without income ends the run, and earlier months no longer count. The
// cumulative income, expenses and tax withheld stay those of the whole year, as 累计 means in the same formula.
// Example: income in January and March only → March counts 1 month, not 2.
func ConsecutiveMonths(periodsWithIncome []string, current string) int {
	have := map[string]bool{}
	for _, p := range periodsWithIncome {
		have[p] = true
	}
	t, err := time.Parse("2006-01", current)
	if err != nil {
		return 1
	}
	n := 1
	for m := t.AddDate(0, -1, 0); m.Year() == t.Year() && have[m.Format("2006-01")]; m = m.AddDate(0, -1, 0) {
		n++
	}
	return n
}

// Compute returns the withholding for a payment of gross fen on top of basis.
func Compute(m Method, b Basis, gross int64) (Withholding, error) {
	if gross <= 0 {
		return Withholding{}, fmt.Errorf("gross must be positive, got %d fen", gross)
	}
	if b.PriorIncome < 0 || b.PriorWithheld < 0 {
		return Withholding{}, fmt.Errorf("negative basis %+v", b)
	}
	total := b.PriorIncome + gross
	var taxable, totalTax int64
	switch m {
	case PerPayment:
		taxable, totalTax = perPayment(total)
	case Cumulative:
		months := b.Months
		if months < 1 {
			months = 1
		}
		taxable, totalTax = cumulative(total, months)
	default:
		return Withholding{}, fmt.Errorf("unknown tax method %q", m)
	}
	t := totalTax - b.PriorWithheld
	if t < 0 {
		t = 0
	}
	if t > gross {
		// Cannot happen with these tables (top marginal rate < 100%), but never withhold more than is paid.
		t = gross
	}
	return Withholding{Method: m, Gross: gross, Tax: t, Net: gross - t, TaxableFen: taxable, TotalTaxFen: totalTax}, nil
}

// perPayment applies 预扣率表二 to one "次" of income (fen). Returns taxable income (rounded, for audit) and tax.
func perPayment(income int64) (taxable, tax int64) {
	// Work in fifths of a fen so that "80% of income" stays exact.
	var taxable5 int64
	if income <= 4000*yuan {
		taxable5 = max(0, income-800*yuan) * 5
	} else {
		taxable5 = income * 4
	}
	var rate, quick int64 // percent, fen
	switch {
	case taxable5 <= 20000*yuan*5:
		rate, quick = 20, 0
	case taxable5 <= 50000*yuan*5:
		rate, quick = 30, 2000*yuan
	default:
		rate, quick = 40, 7000*yuan
	}
	return roundHalfUp(taxable5, 5), roundHalfUp(taxable5*rate-quick*5*100, 5*100)
}

// cumulativeBrackets is 预扣率表一: upper bound of cumulative taxable income (fen), rate (%), quick deduction (fen).
var cumulativeBrackets = []struct{ upTo, rate, quick int64 }{
	{36000 * yuan, 3, 0},
	{144000 * yuan, 10, 2520 * yuan},
	{300000 * yuan, 20, 16920 * yuan},
	{420000 * yuan, 25, 31920 * yuan},
	{660000 * yuan, 30, 52920 * yuan},
	{960000 * yuan, 35, 85920 * yuan},
	{-1, 45, 181920 * yuan},
}

// cumulative applies 预扣率表一 to the year-to-date income with expenses of 20% and 5,000 元 per month with income.
func cumulative(income int64, months int) (taxable, tax int64) {
	taxable5 := income*4 - int64(months)*5000*yuan*5
	if taxable5 <= 0 {
		return 0, 0
	}
	for _, br := range cumulativeBrackets {
		if br.upTo < 0 || taxable5 <= br.upTo*5 {
			t := taxable5*br.rate - br.quick*5*100
			return roundHalfUp(taxable5, 5), max(0, roundHalfUp(t, 5*100))
		}
	}
	panic("unreachable: the last bracket is open")
}

// roundHalfUp divides a non-negative numerator, rounding halves up (四舍五入).
func roundHalfUp(num, den int64) int64 {
	if num <= 0 {
		return 0
	}
	return (num*2 + den) / (den * 2)
}

// CumulativeFigures are 预扣率表一's figures for year-to-date income (fen) with months of the 5,000 元 deduction:
// the cumulative taxable income and the cumulative tax, as the withholding filing reports them.
func CumulativeFigures(incomeFen int64, months int) (taxableFen, taxFen int64) {
	return cumulative(incomeFen, max(months, 1))
}

// PerPaymentFigures are 预扣率表二's figures for one 次 of income (fen): the deduction (800 元, or 20% above
// 4,000 元), the taxable income, the rate (percent), the quick deduction and the tax.
func PerPaymentFigures(incomeFen int64) (deductionFen, taxableFen, ratePercent, quickFen, taxFen int64) {
	taxableFen, taxFen = perPayment(incomeFen)
	deductionFen = incomeFen - taxableFen
	switch {
	case taxableFen <= 20000*yuan:
		ratePercent, quickFen = 20, 0
	case taxableFen <= 50000*yuan:
		ratePercent, quickFen = 30, 2000*yuan
	default:
		ratePercent, quickFen = 40, 7000*yuan
	}
	return deductionFen, taxableFen, ratePercent, quickFen, taxFen
}
