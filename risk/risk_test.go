package risk

import (
	"reflect"
	"testing"

	"github.com/kelseyhightower/envconfig"
)

func defaults(t *testing.T) Config {
	t.Helper()
	var c Config
	if err := envconfig.Process("RISKTEST_UNSET", &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func plain() Facts { return Facts{Age: 30, GrossFen: 150000, IDBound: true} }

func TestRules(t *testing.T) {
	c := defaults(t)
	if a := Assess(c, plain()); a.Level != Low || len(a.Rules) != 0 {
		t.Fatalf("plain payee: %+v", a)
	}
	cases := []struct {
		name  string
		edit  func(*Facts)
		level Level
		codes []string
	}{
		{"15 years old is below the working age", func(f *Facts) { f.Age = 15 }, Blocked, []string{UnderWorkAge}},
		{"16 years old", func(f *Facts) { f.Age = 16 }, High, []string{Underage}},
		{"17 years old", func(f *Facts) { f.Age = 17 }, High, []string{Underage}},
		{"identity typed in, never bound by a face", func(f *Facts) { f.IDBound = false }, High, []string{IDUnbound}},
		{"18 is fine", func(f *Facts) { f.Age = 18 }, Low, []string{}},
		{"66 years old", func(f *Facts) { f.Age = 66 }, High, []string{Overage}},
		{"ID expired", func(f *Facts) { f.IDExpired = true }, High, []string{IDExpired}},
		{"blacklisted", func(f *Facts) { f.Blacklisted = true }, Blocked, []string{Blacklisted}},
		{"2,000 元 exactly", func(f *Facts) { f.GrossFen = 200000 }, High, []string{LargePayment}},
		{"month near the limit", func(f *Facts) { f.MonthIncomeFen = 7900000 }, High, []string{MonthlyNear}},
		{"month at the cap exactly", func(f *Facts) { f.MonthIncomeFen = 9850000 }, High, []string{MonthlyNear}},
		{"month over the cap", func(f *Facts) { f.MonthIncomeFen = 9850001 }, Blocked, []string{MonthlyNear, MonthlyCap}},
		{"year over the cap", func(f *Facts) { f.YearIncomeFen = 499900000 }, Blocked, []string{YearlyCap}},
		{"sixth payout in 24 h", func(f *Facts) { f.Payouts24h = 5; f.GrossFen = 100; f.Paid24hFen = 500 }, High, []string{FrequentPay}},
		{"split under the line", func(f *Facts) { f.Payouts24h = 1; f.Paid24hFen = 60000 }, High, []string{SplitAmounts}},
		{"risk rank 3", func(f *Facts) { f.RiskRank = 3 }, High, []string{WeChatRisky}},
		{"risk rank 4", func(f *Facts) { f.RiskRank = 4 }, Blocked, []string{WeChatBlocked}},
		{"risk rank unavailable", func(f *Facts) { f.RiskRankUnknown = true }, High, []string{WeChatUnknown}},
		{"face failures", func(f *Facts) { f.FaceFailures30d = 3 }, High, []string{FaceFailures}},
		{"several at once keep the worst level", func(f *Facts) { f.Age = 70; f.RiskRank = 4; f.GrossFen = 300000 }, Blocked, []string{Overage, LargePayment, WeChatBlocked}},
	}
	for _, tc := range cases {
		f := plain()
		tc.edit(&f)
		a := Assess(c, f)
		if a.Level != tc.level || !reflect.DeepEqual(a.Codes(), tc.codes) {
			t.Errorf("%s: got %s %v, want %s %v", tc.name, a.Level, a.Codes(), tc.level, tc.codes)
		}
	}
}

func TestThresholdsComeFromConfig(t *testing.T) {
	c := defaults(t)
	c.LargePaymentFen = 100000
	c.BlockExpiredIDCard = true
	f := plain()
	f.IDExpired = true
	if a := Assess(c, f); a.Level != Blocked || !reflect.DeepEqual(a.Codes(), []string{IDExpired, LargePayment}) {
		t.Fatalf("got %+v", a)
	}
	bad := c
	bad.MaxAge = 10
	if bad.Validate() == nil {
		t.Error("max age below min age accepted")
	}
	bad = c
	bad.MinWorkAge = 14
	if bad.Validate() == nil {
		t.Error("a working age under 16 accepted")
	}
	bad = c
	bad.MonthlyCapFen = c.MonthlyNearFen - 1
	if bad.Validate() == nil {
		t.Error("a monthly cap below the near-limit signal accepted")
	}
	bad = c
	bad.RiskRankBlock = 2
	if bad.Validate() == nil {
		t.Error("block rank below challenge rank accepted")
	}
}
