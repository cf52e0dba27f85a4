package wechatpay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/wechatpay-apiv3/wechatpay-go/core"

	"github.com/receiptflow/receiptflow/sm3"
)

// Receipt is a bill's electronic receipt (电子回单) application as WeChat Pay reports it.
type Receipt struct {
	State       string `json:"state"` // GENERATING, FINISHED, FAILED
	HashType    string `json:"hash_type,omitempty"`
	HashValue   string `json:"hash_value,omitempty"`
	DownloadURL string `json:"download_url,omitempty"`
	FailReason  string `json:"fail_reason,omitempty"`
	CreateTime  string `json:"create_time,omitempty"`
	UpdateTime  string `json:"update_time,omitempty"`
}

// Receipt states.
const (
	ReceiptGenerating = "GENERATING"
	ReceiptFinished   = "FINISHED"
	ReceiptFailed     = "FAILED"
)

// ErrReceiptHash: the downloaded file is not the one WeChat Pay described.
var ErrReceiptHash = errors.New("wechatpay: the receipt file does not match its hash")

// ApplyReceipt applies for a successful bill's receipt (商户单号申请电子回单); applying again is harmless.
// Only a bill that was paid and sent with the payee's name has one (ErrInvalidRequest otherwise).
func (c *Client) ApplyReceipt(ctx context.Context, outBillNo string) (Receipt, error) {
	if !outBillNoPattern.MatchString(outBillNo) {
		return Receipt{}, fmt.Errorf("%w: bad out_bill_no", ErrRejected)
	}
	res, err := c.core.Request(ctx, http.MethodPost, c.cfg.BaseURL+"/v3/fund-app/mch-transfer/elecsign/out-bill-no", nil, nil,
		map[string]string{"out_bill_no": outBillNo}, "application/json")
	return decodeAs[Receipt](res, err)
}

// QueryReceipt reports how a receipt application stands; found is false when there is none.
func (c *Client) QueryReceipt(ctx context.Context, outBillNo string) (r Receipt, found bool, err error) {
	if !outBillNoPattern.MatchString(outBillNo) {
		return Receipt{}, false, fmt.Errorf("%w: bad out_bill_no", ErrRejected)
	}
	res, err := c.core.Request(ctx, http.MethodGet, c.cfg.BaseURL+"/v3/fund-app/mch-transfer/elecsign/out-bill-no/"+url.PathEscape(outBillNo), nil, nil, nil, "")
	var apiErr *core.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
		return Receipt{}, false, nil
	}
	r, err = decodeAs[Receipt](res, err)
	return r, err == nil, err
}

// DownloadReceipt fetches a finished receipt's file and checks it against the hash the query gave. The request
// goes to our configured WeChat Pay address with download_url's path and query — a signed request is never sent
// to a host named in an answer.
func (c *Client) DownloadReceipt(ctx context.Context, r Receipt) ([]byte, error) {
	u, err := url.Parse(r.DownloadURL)
	if err != nil || r.State != ReceiptFinished || !strings.HasPrefix(u.Path, "/v3/") {
		return nil, fmt.Errorf("%w: no download address", ErrRejected)
	}
	// hash_type is SHA256 or SM3 (https://pay.weixin.qq.com/doc/v3/merchant/4012716455).
	var digest func([]byte) []byte
	switch strings.ToUpper(r.HashType) {
	case "SHA256":
		digest = func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
	case "SM3":
		digest = func(b []byte) []byte { s := sm3.Sum(b); return s[:] }
	default:
		return nil, fmt.Errorf("%w: hash type %q", ErrRejected, r.HashType)
	}
	res, err := c.download.Request(ctx, http.MethodGet, c.cfg.BaseURL+u.RequestURI(), nil, nil, nil, "")
	if err != nil {
		_, err = decodeAs[Receipt](nil, err)
		return nil, err
	}
	defer res.Response.Body.Close()
	file, err := io.ReadAll(io.LimitReader(res.Response.Body, 20<<20))
	if err != nil {
		return nil, fmt.Errorf("wechatpay: download: %w", err)
	}
	if !strings.EqualFold(hex.EncodeToString(digest(file)), r.HashValue) {
		return nil, ErrReceiptHash
	}
	return file, nil
}
