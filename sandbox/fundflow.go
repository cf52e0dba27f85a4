package sandbox

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// fundFlowHeader and the summary lines are the fund-flow bill's (资金账单) text table: every cell prefixed with a
// backquote so spreadsheets keep long numbers as text.
const fundFlowHeader = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号"

// applyFundFlow is 申请资金账单 (GET /v3/bill/fundflowbill?bill_date=YYYY-MM-DD): the day's file's SHA-1 and a
// download address.
func (p *Pay) applyFundFlow(w http.ResponseWriter, r *http.Request, _ []byte) {
	day, account := r.URL.Query().Get("bill_date"), r.URL.Query().Get("account_type")
	if _, err := time.Parse("2006-01-02", day); err != nil {
		p.fail(w, http.StatusBadRequest, "PARAM_ERROR", "bill_date must be yyyy-MM-DD")
		return
	}
	switch account {
	case "":
		account = "BASIC"
	case "BASIC", "OPERATION", "FEES":
	default:
		p.fail(w, http.StatusBadRequest, "PARAM_ERROR", "account_type must be BASIC, OPERATION or FEES")
		return
	}
	p.mu.Lock()
	file := p.fundFlowFile(day, account)
	p.mu.Unlock()
	sum := sha1.Sum(file)
	p.respond(w, http.StatusOK, map[string]any{"hash_type": "SHA1", "hash_value": hex.EncodeToString(sum[:]),
		"download_url": "https://api.mch.weixin.qq.com/v3/billdownload/file?token=" + url.QueryEscape("fundflow-"+account+"-"+day)})
}

// downloadBill serves a bill file (unsigned, like WeChat Pay's downloads).
func (p *Pay) downloadBill(w http.ResponseWriter, r *http.Request, _ []byte) {
	rest, ok := strings.CutPrefix(r.URL.Query().Get("token"), "fundflow-")
	account, day, _ := strings.Cut(rest, "-")
	if !ok || day == "" {
		p.fail(w, http.StatusNotFound, "NOT_FOUND", "账单文件不存在")
		return
	}
	p.mu.Lock()
	file := p.fundFlowFile(day, account)
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(file)
}

// fundFlowFile is an account's money out on a day (Beijing time): 商家转账 pays from the operation account, so its
// bill has one row per transfer that succeeded that day (debited when it succeeds) and the others none; p.mu is held.
func (p *Pay) fundFlowFile(day, account string) []byte {
	var paid []*payBill
	for _, b := range p.bills {
		if account == "OPERATION" && b.State == "SUCCESS" && strings.HasPrefix(b.UpdateTime, day) {
			paid = append(paid, b)
		}
	}
	sort.Slice(paid, func(i, j int) bool {
		return paid[i].UpdateTime+paid[i].OutBillNo < paid[j].UpdateTime+paid[j].OutBillNo
	})
	var out strings.Builder
	out.WriteString(fundFlowHeader + "\n")
	var total int64
	for i, b := range paid {
		at, _ := time.Parse(time.RFC3339, b.UpdateTime)
		total += b.AmountFen
		cells := []string{at.In(beijing).Format("2006-01-02 15:04:05"), b.TransferBillNo, fmt.Sprintf("%s%06d", strings.ReplaceAll(day, "-", ""), i+1),
			"商家转账", "商家转账", "支出", yuanOf(b.AmountFen), "0.00", "system", b.Remark, b.OutBillNo}
		out.WriteString("`" + strings.Join(cells, ",`") + "\n")
	}
	out.WriteString("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\n")
	fmt.Fprintf(&out, "`%d,`0,`0.00,`%d,`%s\n", len(paid), len(paid), yuanOf(total))
	return []byte(out.String())
}

func yuanOf(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }

// phantom is POST /sandbox/pay/phantom {amountFen, openid}: a transfer WeChat Pay paid today that the merchant
// never asked for (another system on the same merchant ID, a leaked key) — only the fund-flow bill shows it.
func (p *Pay) phantom(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AmountFen int64  `json:"amountFen"`
		OpenID    string `json:"openid"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.AmountFen <= 0 || !validOpenID(req.OpenID) {
		phoneFail(w, "amountFen and openid are required")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now().In(beijing).Format(time.RFC3339)
	b := &payBill{OutBillNo: randomID("PHANTOM", 12), TransferBillNo: randomID("1330000", 10), OpenID: req.OpenID, AmountFen: req.AmountFen,
		State: "SUCCESS", CreateTime: now, UpdateTime: now, Remark: "?"}
	p.bills[b.OutBillNo] = b
	p.save(b.OutBillNo)
	writeJSON(w, map[string]any{"outBillNo": b.OutBillNo})
}
