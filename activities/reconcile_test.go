package activities

import (
	"testing"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// Every kind of difference, and the agreements that are none.
func TestReconFinding(t *testing.T) {
	ours := func(state, wxNo string) store.Transfer {
		return store.Transfer{OutBillNo: "o1T1", State: state, AmountFen: 1000, TransferBillNo: wxNo}
	}
	theirs := func(state string, amount int64) workflows.TransferStatus {
		return workflows.TransferStatus{OutBillNo: "o1T1", State: state, AmountFen: amount}
	}
	cases := []struct {
		name     string
		ours     store.Transfer
		theirs   workflows.TransferStatus
		standing bool
		want     string
	}{
		{"both paid", ours("SUCCESS", "w1"), theirs("SUCCESS", 1000), true, ""},
		{"both waiting for the payee", ours("WAIT_USER_CONFIRM", "w1"), theirs("WAIT_USER_CONFIRM", 1000), true, ""},
		{"both failed, tax reversed", ours("FAIL", "w1"), theirs("FAIL", 1000), false, ""},
		{"never reached WeChat Pay", ours("ACCEPTED", ""), theirs(workflows.TransferNotFound, 0), false, ""},
		{"paid here, unknown there", ours("SUCCESS", "w1"), theirs(workflows.TransferNotFound, 0), true, FindingPaidHereOnly},
		{"numbered there, gone now", ours("WAIT_USER_CONFIRM", "w1"), theirs(workflows.TransferNotFound, 0), true, FindingUnknownAtWeChat},
		{"paid there only", ours("FAIL", "w1"), theirs("SUCCESS", 1000), false, FindingPaidAtWeChatOnly},
		{"paid here only", ours("SUCCESS", "w1"), theirs("FAIL", 1000), true, FindingPaidHereOnly},
		{"amounts differ", ours("SUCCESS", "w1"), theirs("SUCCESS", 1001), true, FindingAmountDiffers},
		{"a final state we missed", ours("WAIT_USER_CONFIRM", "w1"), theirs("FAIL", 1000), true, FindingStateDiffers},
		{"tax stands on a failed bill", ours("FAIL", "w1"), theirs("FAIL", 1000), true, FindingTaxOnFailedBill},
	}
	for _, c := range cases {
		if got, detail := reconFinding(c.ours, c.theirs, c.standing); got != c.want || (got != "" && detail == "") {
			t.Errorf("%s: %q (%s), want %q", c.name, got, detail, c.want)
		}
	}
}
