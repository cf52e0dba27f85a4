package compliance

import "testing"

func good() Facts {
	return Facts{PayeeVerified: true, AgreementFound: true, AgreementActive: true, SignatoryIsPayee: true, FundsArrived: true,
		FundsFromPayer: true, FundsFen: 200000, GrossFen: 200000, TaxFen: 24000, NetFen: 176000, PayoutOpenID: "o_a", PayeeOpenID: "o_a"}
}

func TestEachRuleFailsAlone(t *testing.T) {
	if v := Check(good()); len(v) != 0 {
		t.Fatalf("good facts break %v", v)
	}
	cases := map[string]func(*Facts){
		NotVerified:        func(f *Facts) { f.PayeeVerified = false },
		NoAgreement:        func(f *Facts) { f.AgreementFound, f.AgreementActive, f.SignatoryIsPayee = false, false, false },
		AgreementInactive:  func(f *Facts) { f.AgreementActive = false },
		SignatoryMismatch:  func(f *Facts) { f.SignatoryIsPayee = false },
		FundsNotArrived:    func(f *Facts) { f.FundsArrived, f.FundsFromPayer, f.FundsFen = false, false, 0 },
		FundsPayerMismatch: func(f *Facts) { f.FundsFromPayer = false },
		FundsInsufficient:  func(f *Facts) { f.FundsFen = 199999 },
		AccountNotOwn:      func(f *Facts) { f.PayoutOpenID = "o_b" },
		AmountsMismatch:    func(f *Facts) { f.NetFen = 176001 },
	}
	for code, breakIt := range cases {
		f := good()
		breakIt(&f)
		v := Check(f)
		if len(v) != 1 || v[0].Code != code || v[0].Message == "" {
			t.Errorf("%s: got %v", code, v)
		}
	}
}

func TestZeroNetIsNotPayable(t *testing.T) {
	f := good()
	f.TaxFen, f.NetFen = 200000, 0
	if v := Check(f); len(v) != 1 || v[0].Code != AmountsMismatch {
		t.Fatalf("got %v", v)
	}
}
