package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/receiptflow/receiptflow/compliance"
	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/risk"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/wechat"
	"github.com/receiptflow/receiptflow/workflows"
)

// Reasons a run can be refused at the door, besides the 三流合一 rules.
var (
	reasonNotYourOrder = workflows.Reason{Code: "LOGIN_MISMATCH", Message: "当前微信账号不是本笔款项的收款人"}
	reasonOrderClosed  = workflows.Reason{Code: "ORDER_CLOSED", Message: "本笔款项已结束，无需再次确认"}
	// The books refused to reserve the gross: the payer's funds are spent elsewhere (the funding of this order
	// covered it on paper, the books say otherwise).
	reasonFundsShort  = workflows.Reason{Code: compliance.FundsInsufficient, Message: "到账资金不足以支付本笔款项"}
	reasonRiskBlocked = workflows.Reason{Code: "RISK_BLOCKED", Message: "您的账户存在风险，暂时无法收款，请联系付款企业"}
)

// CheckEligibility answers the 金额明细 page: login binding, real-name, 三流合一, high-risk screening and the
// amounts (gross, tax preview, net).
func (a *Activities) CheckEligibility(ctx context.Context, in workflows.EligibilityInput) (workflows.Eligibility, error) {
	o, err := a.Orders.Order(ctx, in.OrderID)
	if err != nil {
		return workflows.Eligibility{}, classify(err)
	}
	out := workflows.Eligibility{PayerID: o.PayerID, PayeeID: o.PayeeID, MerchantOrderNo: o.MerchantOrderNo, FaceMode: a.Config.FaceMode,
		Amounts: workflows.Amounts{GrossFen: o.GrossFen, NetFen: o.GrossFen, TaxMethod: string(a.Config.TaxMethod)},
		Risk:    workflows.Risk{Level: string(risk.Low), Rules: []string{}}}
	if o.PayeeOpenID != in.OpenID {
		out.Reasons = []workflows.Reason{reasonNotYourOrder}
		return out, nil
	}
	if store.FinalOrderState(o.State) {
		out.Reasons = []workflows.Reason{reasonOrderClosed}
		return out, nil
	}
	payee, err := a.Orders.Payee(ctx, o.PayeeID)
	if err != nil {
		return workflows.Eligibility{}, classify(err)
	}

	w, err := a.Ledger.PreviewTax(ctx, a.Config.TaxMethod, o.ID)
	if err != nil {
		return workflows.Eligibility{}, classify(err)
	}
	out.Amounts = workflows.Amounts{GrossFen: w.Gross, TaxFen: w.Tax, NetFen: w.Net, TaxMethod: string(w.Method)}

	facts, err := a.complianceFacts(ctx, o, payee, w)
	if err != nil {
		return workflows.Eligibility{}, err
	}
	for _, v := range compliance.Check(facts) {
		out.Reasons = append(out.Reasons, workflows.Reason{Code: v.Code, Message: v.Message})
	}
	if len(out.Reasons) > 0 {
		return out, nil
	}

	assessment, err := a.assessRisk(ctx, o, payee, in.ClientIP)
	if err != nil {
		return workflows.Eligibility{}, err
	}
	out.Risk = workflows.Risk{Level: string(assessment.Level), Rules: assessment.Codes()}
	if assessment.Level == risk.Blocked {
		out.Reasons = []workflows.Reason{reasonRiskBlocked}
		return out, nil
	}
	if err := a.Orders.SetOrderState(ctx, o.ID, store.OrderProcessing, ""); err != nil {
		if errors.Is(err, store.ErrConflict) {
			out.Reasons = []workflows.Reason{reasonOrderClosed} // closed between our read and now
			return out, nil
		}
		return workflows.Eligibility{}, classify(err)
	}
	out.Eligible = true
	activity.GetLogger(ctx).Info("eligibility checked", "orderId", o.ID, "payee", pii.MaskOpenID(in.OpenID), "risk", out.Risk.Level, "rules", out.Risk.Rules)
	return out, nil
}

// complianceFacts gathers what 三流合一 needs: contract (agreement), fund (funding) and tax (amounts) flows.
func (a *Activities) complianceFacts(ctx context.Context, o store.Order, payee store.Payee, w tax.Withholding) (compliance.Facts, error) {
	f := compliance.Facts{PayeeVerified: payee.Verified, GrossFen: w.Gross, TaxFen: w.Tax, NetFen: w.Net,
		PayoutOpenID: o.PayeeOpenID, PayeeOpenID: payee.OpenID}
	ag, err := a.Orders.Agreement(ctx, o.PayerID, o.PayeeID)
	switch {
	case err == nil:
		f.AgreementFound = true
		f.AgreementActive = ag.Status == store.AgreementActive
		f.SignatoryIsPayee = payee.Verified && ag.SignatoryIDHash == payee.IDHash
	case !errors.Is(err, store.ErrNotFound):
		return f, classify(err)
	}
	fund, err := a.Orders.Funding(ctx, o.ID)
	switch {
	case err == nil:
		f.FundsArrived, f.FundsFen = true, fund.AmountFen
		// The money must come from the contracting payer's registered settlement account, as the bank statement
		// shows it; funding recorded without a remitter (before remitters were kept) proves nothing.
		registered, err := a.Orders.PayerAccountHash(ctx, o.PayerID)
		if err != nil {
			return f, classify(err)
		}
		f.FundsFromPayer = fund.PayerID == o.PayerID && registered != "" && fund.RemitterHash == registered
	case !errors.Is(err, store.ErrNotFound):
		return f, classify(err)
	}
	return f, nil
}

func (a *Activities) assessRisk(ctx context.Context, o store.Order, payee store.Payee, clientIP string) (risk.Assessment, error) {
	now := a.now()
	f := risk.Facts{GrossFen: o.GrossFen, Age: pii.AgeOn(payee.BirthDate, now), IDBound: payee.FaceVerified}
	if payee.IDExpiresOn != "" {
		if exp, err := time.Parse("2006-01-02", payee.IDExpiresOn); err == nil && now.After(exp.Add(24*time.Hour)) {
			f.IDExpired = true
		}
	}
	var err error
	if f.Blacklisted, err = a.Orders.Blacklisted(ctx, payee.IDHash); err != nil {
		return risk.Assessment{}, classify(err)
	}
	act, err := a.Orders.Activity(ctx, payee.ID, tax.Period(now), now)
	if err != nil {
		return risk.Assessment{}, classify(err)
	}
	f.MonthIncomeFen, f.YearIncomeFen, f.Payouts24h, f.Paid24hFen, f.FaceFailures30d = act.MonthIncomeFen, act.YearIncomeFen, act.PaidLast24h, act.PaidLast24hFen, act.FaceFailures30d
	if a.Risk != nil {
		// A risk service that does not answer must not block payouts, nor wave risky payees through: after a few
		// quick tries, ask for a face.
		for try := 0; try < 3; try++ {
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			f.RiskRank, err = a.Risk.RiskRank(rctx, payee.OpenID, a.Config.RiskScene, clientIP)
			cancel()
			if err == nil || wechat.ClassOf(err) != wechat.Retryable && wechat.ClassOf(err) != wechat.Token {
				break
			}
		}
		if ctx.Err() != nil {
			// The worker is stopping (or the attempt timed out): that says nothing about WeChat; try again.
			return risk.Assessment{}, ctx.Err()
		}
		if err != nil {
			activity.GetLogger(ctx).Warn("WeChat risk rank unavailable", "orderId", o.ID, "error", err)
			f.RiskRank, f.RiskRankUnknown = 0, true
		}
	}
	return risk.Assess(a.Config.Risk, f), nil
}
