package wechatpay

import (
	"context"
	"crypto/sha1"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/receiptflow/receiptflow/tax"
)

// FundFlowRow is one money movement of the merchant's account on the fund-flow bill (资金账单).
type FundFlowRow struct {
	Time           string // 记账时间, Beijing time
	TransferBillNo string // 微信支付业务单号
	Business       string // 业务名称, e.g. 商家转账
	Direction      string // 收支类型: 收入 or 支出
	AmountFen      int64  // 收支金额
	OutBillNo      string // 业务凭证号: the merchant's own number (out_bill_no for a transfer)
}

// ErrBillFileHash: the downloaded bill is not the one WeChat Pay described.
var ErrBillFileHash = errors.New("wechatpay: the bill file does not match its hash")

// FundFlowAccount is the account 商家转账 pays from: the operation account (运营账户). WeChat Pay's own FAQ for
// 商家转账 (https://pay.weixin.qq.com/doc/v3/merchant/4012065176) says a transfer is paid from the 运营账户 — money
// in the basic account must be withdrawn and topped up into the operation account first — and a transfer accepted
// while the operation account is short closes after 24 hours; developers report failures refunded there too.
const FundFlowAccount = "OPERATION"

// FundFlow downloads the operation account's fund-flow bill (资金账单,
// https://pay.weixin.qq.com/docs/merchant/products/bill-download/structure/fund-bill.html) of a day (yyyy-MM-dd,
// Beijing time; ready from 10:00 the day after) and parses its rows. The file is checked against the SHA-1 the
// application gave.
func (c *Client) FundFlow(ctx context.Context, day string) ([]FundFlowRow, error) {
	res, err := c.core.Request(ctx, http.MethodGet, c.cfg.BaseURL+"/v3/bill/fundflowbill?bill_date="+url.QueryEscape(day)+"&account_type="+FundFlowAccount,
		nil, nil, nil, "")
	info, err := decodeAs[struct {
		HashType    string `json:"hash_type"`
		HashValue   string `json:"hash_value"`
		DownloadURL string `json:"download_url"`
	}](res, err)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(info.DownloadURL)
	if err != nil || !strings.HasPrefix(u.Path, "/v3/") || !strings.EqualFold(info.HashType, "SHA1") {
		return nil, fmt.Errorf("%w: bill download %q (%s)", ErrRejected, info.DownloadURL, info.HashType)
	}
	file, err := c.download.Request(ctx, http.MethodGet, c.cfg.BaseURL+u.RequestURI(), nil, nil, nil, "")
	if err != nil {
		_, err = decodeAs[struct{}](nil, err)
		return nil, err
	}
	defer file.Response.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(file.Response.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("wechatpay: bill download: %w", err)
	}
	if sum := sha1.Sum(raw); !strings.EqualFold(hex.EncodeToString(sum[:]), info.HashValue) {
		return nil, ErrBillFileHash
	}
	return parseFundFlow(raw)
}

// parseFundFlow reads the table: a header, one row per movement (cells prefixed with a backquote), then a summary
// header and its row.
func parseFundFlow(raw []byte) ([]FundFlowRow, error) {
	r := csv.NewReader(strings.NewReader(string(raw)))
	r.FieldsPerRecord = -1
	records, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("wechatpay: fund-flow bill: %w", err)
	}
	var rows []FundFlowRow
	for i, rec := range records {
		if i == 0 {
			continue
		}
		if len(rec) > 0 && strings.HasPrefix(rec[0], "资金流水总笔数") {
			break
		}
		if len(rec) < 11 {
			return nil, fmt.Errorf("wechatpay: fund-flow bill row %d has %d cells", i, len(rec))
		}
		for k := range rec {
			rec[k] = strings.TrimPrefix(rec[k], "`")
		}
		fen, err := tax.ParseYuan(rec[6])
		if err != nil {
			return nil, fmt.Errorf("wechatpay: fund-flow bill row %d: %w", i, err)
		}
		rows = append(rows, FundFlowRow{Time: rec[0], TransferBillNo: rec[1], Business: rec[3], Direction: rec[5], AmountFen: fen, OutBillNo: rec[10]})
	}
	return rows, nil
}
