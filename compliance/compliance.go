// Package compliance checks 三流合一 before a payout: the contract flow, the invoice (tax) flow and the fund flow
// agree. It is a pure rule table over facts the caller gathers; every failure has a code and a message the
// payee's page can show.
package compliance

// Facts about one order, gathered from the store.
type Facts struct {
	PayeeVerified    bool // real-name verification done
	AgreementFound   bool // the payee signed a service agreement with this order's payer
	AgreementActive  bool
	SignatoryIsPayee bool // the agreement's signatory is the verified person being paid
	FundsArrived     bool // the payer's funds for this order are on the platform (no advance)
	FundsFromPayer   bool // ... and came from the payer that signed the contract
	FundsFen         int64
	GrossFen         int64
	TaxFen           int64
	NetFen           int64
	PayoutOpenID     string // where the money will go
	PayeeOpenID      string // the verified payee's own WeChat account
}

// Violation is one failed rule.
type Violation struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Rule codes.
const (
	NotVerified        = "PAYEE_NOT_VERIFIED"
	NoAgreement        = "AGREEMENT_MISSING"
	AgreementInactive  = "AGREEMENT_INACTIVE"
	SignatoryMismatch  = "AGREEMENT_SIGNATORY_MISMATCH"
	FundsNotArrived    = "FUNDS_NOT_ARRIVED"
	FundsPayerMismatch = "FUNDS_PAYER_MISMATCH"
	FundsInsufficient  = "FUNDS_INSUFFICIENT"
	AccountNotOwn      = "ACCOUNT_NOT_PAYEES_OWN"
	AmountsMismatch    = "AMOUNTS_DO_NOT_RECONCILE"
)

type rule struct {
	code, message string
	fails         func(Facts) bool
}

// rules is the table, in the order a payee should fix things.
var rules = []rule{
	{NotVerified, "请先完成实名认证", func(f Facts) bool { return !f.PayeeVerified }},
	{NoAgreement, "您尚未与付款企业签署服务协议", func(f Facts) bool { return !f.AgreementFound }},
	{AgreementInactive, "您与付款企业的服务协议已终止", func(f Facts) bool { return f.AgreementFound && !f.AgreementActive }},
	{SignatoryMismatch, "服务协议签署人与实名收款人不一致", func(f Facts) bool { return f.AgreementFound && !f.SignatoryIsPayee }},
	{FundsNotArrived, "付款企业的资金尚未到账，请稍后再试", func(f Facts) bool { return !f.FundsArrived }},
	{FundsPayerMismatch, "到账资金并非来自签约企业", func(f Facts) bool { return f.FundsArrived && !f.FundsFromPayer }},
	{FundsInsufficient, "到账资金不足以支付本笔款项", func(f Facts) bool { return f.FundsArrived && f.FundsFen < f.GrossFen }},
	{AccountNotOwn, "收款账户必须是实名收款人本人的微信账户", func(f Facts) bool { return f.PayoutOpenID == "" || f.PayoutOpenID != f.PayeeOpenID }},
	{AmountsMismatch, "应发金额与税额、实发金额不一致", func(f Facts) bool {
		return f.GrossFen <= 0 || f.TaxFen < 0 || f.NetFen <= 0 || f.GrossFen != f.TaxFen+f.NetFen
	}},
}

// Check returns every rule the facts break; none means the flows agree.
func Check(f Facts) []Violation {
	var out []Violation
	for _, r := range rules {
		if r.fails(f) {
			out = append(out, Violation{Code: r.code, Message: r.message})
		}
	}
	return out
}
