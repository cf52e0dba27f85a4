// Package risk decides whether a payee belongs to the high-risk group (高风险人群) that must pass WeChat face
// verification before being paid, or must not be paid at all. It is a pure rule table whose thresholds come from
// configuration; every decision lists the rules that fired, by code, never with personal data.
package risk

import "fmt"

// Config holds the thresholds (RECEIPTFLOW_RISK_*).
type Config struct {
	MinWorkAge         int   `envconfig:"MIN_WORK_AGE" default:"16" desc:"below this age a payee is not paid at all (劳动法 第十五条)"`
	MinAge             int   `envconfig:"MIN_AGE" default:"18" desc:"younger payees (but of working age) need face verification"`
	MaxAge             int   `envconfig:"MAX_AGE" default:"65" desc:"older payees need face verification"`
	LargePaymentFen    int64 `envconfig:"LARGE_PAYMENT_FEN" default:"200000" desc:"a payment from this many fen needs face verification (2,000 元: also where WeChat Pay requires the name)"`
	MonthlyNearFen     int64 `envconfig:"MONTHLY_NEAR_FEN" default:"8000000" desc:"a month's income reaching this many fen (all payers) needs face verification"`
	MonthlyCapFen      int64 `envconfig:"MONTHLY_CAP_FEN" default:"10000000" desc:"income a payee may receive in a month (all payers); above it the payment is refused"`
	YearlyCapFen       int64 `envconfig:"YEARLY_CAP_FEN" default:"500000000" desc:"income a payee may receive in a tax year (all payers); above it the payment is refused"`
	RequireBoundID     bool  `envconfig:"REQUIRE_FACE_BOUND_ID" default:"true" desc:"until face verification has bound the payee's identity, every payout needs the face step"`
	MaxPayouts24h      int   `envconfig:"MAX_PAYOUTS_24H" default:"5" desc:"more payouts than this in 24 hours need face verification"`
	SplitWindowFen     int64 `envconfig:"SPLIT_WINDOW_FEN" default:"200000" desc:"small payouts in 24 hours adding up to this many fen (a large one split) need face verification"`
	RiskRankChallenge  int   `envconfig:"RANK_CHALLENGE" default:"3" desc:"WeChat getuserriskrank risk_rank from which face verification is needed"`
	RiskRankBlock      int   `envconfig:"RANK_BLOCK" default:"4" desc:"WeChat getuserriskrank risk_rank from which the payment is refused"`
	FaceFailuresLimit  int   `envconfig:"FACE_FAILURES" default:"3" desc:"failed face verifications in 30 days from which a payee is high risk"`
	BlockBlacklisted   bool  `envconfig:"BLOCK_BLACKLISTED" default:"true" desc:"a blacklisted person is refused (false: only face-verified)"`
	BlockExpiredIDCard bool  `envconfig:"BLOCK_EXPIRED_ID" default:"false" desc:"an expired ID card is refused (false: only face-verified)"`
}

// Validate rejects thresholds that make no sense.
func (c Config) Validate() error {
	switch {
	case c.MinWorkAge < 16 || c.MinAge < c.MinWorkAge || c.MaxAge <= c.MinAge:
		return fmt.Errorf("risk: age limits %d (work) / %d..%d; the working age is at least 16", c.MinWorkAge, c.MinAge, c.MaxAge)
	case c.LargePaymentFen <= 0 || c.MonthlyNearFen <= 0 || c.SplitWindowFen <= 0:
		return fmt.Errorf("risk: amount thresholds must be positive")
	case c.MonthlyCapFen < c.MonthlyNearFen || c.YearlyCapFen < c.MonthlyCapFen:
		return fmt.Errorf("risk: caps must be at least the thresholds they follow (monthly near ≤ monthly cap ≤ yearly cap)")
	case c.RiskRankChallenge < 0 || c.RiskRankBlock < c.RiskRankChallenge:
		return fmt.Errorf("risk: risk rank thresholds %d/%d", c.RiskRankChallenge, c.RiskRankBlock)
	case c.MaxPayouts24h < 0 || c.FaceFailuresLimit < 1:
		return fmt.Errorf("risk: counts must be positive")
	}
	return nil
}

// Facts about the payee and this payment. Age is derived from the ID number by the caller; nothing here is PII.
type Facts struct {
	Age             int
	IDBound         bool // face verification has bound the registered identity to this person
	IDExpired       bool
	Blacklisted     bool
	GrossFen        int64
	MonthIncomeFen  int64 // already booked this month, before this payment
	YearIncomeFen   int64 // already booked this tax year, before this payment
	Payouts24h      int
	Paid24hFen      int64
	RiskRank        int  // WeChat getuserriskrank, 0..4
	RiskRankUnknown bool // WeChat could not be asked: treated as a reason to verify the face
	FaceFailures30d int
}

// Level of a decision.
type Level string

const (
	Low     Level = "LOW"
	High    Level = "HIGH"    // pay only after face verification
	Blocked Level = "BLOCKED" // do not pay
)

// Rule codes.
const (
	UnderWorkAge  = "AGE_UNDER_WORKING_AGE"
	IDUnbound     = "IDENTITY_NOT_FACE_VERIFIED"
	Underage      = "AGE_UNDER_MIN"
	Overage       = "AGE_OVER_MAX"
	IDExpired     = "ID_EXPIRED"
	Blacklisted   = "BLACKLISTED"
	LargePayment  = "LARGE_SINGLE_PAYMENT"
	MonthlyNear   = "MONTHLY_INCOME_NEAR_LIMIT"
	MonthlyCap    = "MONTHLY_INCOME_CAP"
	YearlyCap     = "YEARLY_INCOME_CAP"
	FrequentPay   = "FREQUENT_PAYOUTS"
	SplitAmounts  = "SPLIT_AMOUNTS"
	WeChatRisky   = "WECHAT_RISK_RANK"
	WeChatBlocked = "WECHAT_RISK_RANK_BLOCK"
	WeChatUnknown = "WECHAT_RISK_RANK_UNAVAILABLE"
	FaceFailures  = "REPEATED_FACE_FAILURES"
)

// Fired is one rule that matched.
type Fired struct {
	Code  string `json:"code"`
	Level Level  `json:"level"`
}

// Assessment is the decision.
type Assessment struct {
	Level Level   `json:"level"`
	Rules []Fired `json:"rules"`
}

// Codes lists the fired rule codes.
func (a Assessment) Codes() []string {
	out := make([]string, len(a.Rules))
	for i, r := range a.Rules {
		out[i] = r.Code
	}
	return out
}

type rule struct {
	code  string
	level func(Config) Level
	fires func(Config, Facts) bool
}

func always(l Level) func(Config) Level { return func(Config) Level { return l } }

var rules = []rule{
	{UnderWorkAge, always(Blocked), func(c Config, f Facts) bool { return f.Age < c.MinWorkAge }},
	{IDUnbound, always(High), func(c Config, f Facts) bool { return c.RequireBoundID && !f.IDBound }},
	{Underage, always(High), func(c Config, f Facts) bool { return f.Age >= c.MinWorkAge && f.Age < c.MinAge }},
	{Overage, always(High), func(c Config, f Facts) bool { return f.Age > c.MaxAge }},
	{IDExpired, func(c Config) Level { return pick(c.BlockExpiredIDCard) }, func(c Config, f Facts) bool { return f.IDExpired }},
	{Blacklisted, func(c Config) Level { return pick(c.BlockBlacklisted) }, func(c Config, f Facts) bool { return f.Blacklisted }},
	{LargePayment, always(High), func(c Config, f Facts) bool { return f.GrossFen >= c.LargePaymentFen }},
	{MonthlyNear, always(High), func(c Config, f Facts) bool { return f.MonthIncomeFen+f.GrossFen >= c.MonthlyNearFen }},
	{MonthlyCap, always(Blocked), func(c Config, f Facts) bool { return f.MonthIncomeFen+f.GrossFen > c.MonthlyCapFen }},
	{YearlyCap, always(Blocked), func(c Config, f Facts) bool { return f.YearIncomeFen+f.GrossFen > c.YearlyCapFen }},
	{FrequentPay, always(High), func(c Config, f Facts) bool { return f.Payouts24h+1 > c.MaxPayouts24h }},
	// Several payments each under the large-payment line that together cross it: the classic split.
	{SplitAmounts, always(High), func(c Config, f Facts) bool {
		return f.GrossFen < c.LargePaymentFen && f.Payouts24h > 0 && f.Paid24hFen+f.GrossFen >= c.SplitWindowFen
	}},
	{WeChatBlocked, always(Blocked), func(c Config, f Facts) bool { return f.RiskRank >= c.RiskRankBlock }},
	{WeChatRisky, always(High), func(c Config, f Facts) bool { return f.RiskRank >= c.RiskRankChallenge && f.RiskRank < c.RiskRankBlock }},
	{WeChatUnknown, always(High), func(c Config, f Facts) bool { return f.RiskRankUnknown }},
	{FaceFailures, always(High), func(c Config, f Facts) bool { return f.FaceFailures30d >= c.FaceFailuresLimit }},
}

func pick(block bool) Level {
	if block {
		return Blocked
	}
	return High
}

// Assess runs every rule; the level is the worst one that fired.
func Assess(c Config, f Facts) Assessment {
	a := Assessment{Level: Low, Rules: []Fired{}}
	for _, r := range rules {
		if !r.fires(c, f) {
			continue
		}
		l := r.level(c)
		a.Rules = append(a.Rules, Fired{Code: r.code, Level: l})
		if l == Blocked || (l == High && a.Level == Low) {
			a.Level = l
		}
	}
	return a
}
