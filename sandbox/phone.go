package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Phone drives the sandbox-only endpoints the way the mini-program on a phone would; tests, the bench and the dev
// walkthrough use it in place of a real device.
type Phone struct {
	BaseURL string
	HTTP    *http.Client
}

// PhoneResult is what a wx.* API hands the front end.
type PhoneResult struct {
	ErrCode      int    `json:"errCode"`
	ErrMsg       string `json:"errMsg"`
	VerifyResult string `json:"verifyResult"`
	State        string `json:"state"`
}

// OK reports whether the wx.* call succeeded (its errMsg ends in ":ok").
func (r PhoneResult) OK() bool { return strings.HasSuffix(r.ErrMsg, ":ok") }

// Login is wx.login for openid.
func (p Phone) Login(ctx context.Context, openid string) (string, error) {
	var out struct {
		Code string `json:"code"`
	}
	err := p.post(ctx, "/sandbox/wx/login", map[string]any{"openid": openid}, &out)
	return out.Code, err
}

// ScanV1 is wx.startFacialRecognitionVerify with the outcome the test wants.
func (p Phone) ScanV1(ctx context.Context, userIDKey, openid, outcome string) (PhoneResult, error) {
	var out PhoneResult
	err := p.post(ctx, "/sandbox/face/v1/scan", map[string]any{"userIdKey": userIDKey, "openid": openid, "outcome": outcome}, &out)
	return out, err
}

// VerifyV2 is wx.requestFacialVerify with the outcome the test wants.
func (p Phone) VerifyV2(ctx context.Context, verifyID, outcome string) (PhoneResult, error) {
	var out PhoneResult
	err := p.post(ctx, "/sandbox/face/v2/verify", map[string]any{"verifyId": verifyID, "outcome": outcome}, &out)
	return out, err
}

// TransferConfirm are wx.requestMerchantTransfer's arguments, as the receipt view's payout.confirm carries them.
type TransferConfirm struct {
	MchID   string `json:"mchId"`
	AppID   string `json:"appId"`
	Package string `json:"package"`
}

// ConfirmTransfer is wx.requestMerchantTransfer: the payee accepts (PayAccept, PayAcceptSlow), declines
// (PayDecline) or the transfer fails after the confirm (PayFail with an official reason); callback chooses how
// WeChat Pay's callback is delivered (normal, none, duplicate, delayed).
func (p Phone) ConfirmTransfer(ctx context.Context, c TransferConfirm, action, reason, callback string) (PhoneResult, error) {
	var out PhoneResult
	err := p.post(ctx, "/sandbox/pay/confirm", map[string]any{"mchId": c.MchID, "appId": c.AppID, "package": c.Package,
		"action": action, "reason": reason, "callback": callback}, &out)
	return out, err
}

// ExpireTransfer plays 24 hours passing without the payee's confirm.
func (p Phone) ExpireTransfer(ctx context.Context, outBillNo, callback string) error {
	var out map[string]any
	return p.post(ctx, "/sandbox/pay/expire", map[string]any{"outBillNo": outBillNo, "callback": callback}, &out)
}

// TamperBill changes WeChat Pay's record of a bill without telling the merchant (state "" or amountFen 0 leave
// that part), for reconciliation to find.
func (p Phone) TamperBill(ctx context.Context, outBillNo, state string, amountFen int64) error {
	var out map[string]any
	return p.post(ctx, "/sandbox/pay/tamper", map[string]any{"outBillNo": outBillNo, "state": state, "amountFen": amountFen}, &out)
}

// ForgetBill makes WeChat Pay lose a bill entirely (its query answers 404), for reconciliation to find.
func (p Phone) ForgetBill(ctx context.Context, outBillNo string) error {
	var out map[string]any
	return p.post(ctx, "/sandbox/pay/tamper", map[string]any{"outBillNo": outBillNo, "forget": true}, &out)
}

// PhantomTransfer has WeChat Pay pay a transfer from the merchant's account that the merchant never created;
// it returns its out_bill_no.
func (p Phone) PhantomTransfer(ctx context.Context, openid string, amountFen int64) (string, error) {
	var out struct {
		OutBillNo string `json:"outBillNo"`
	}
	err := p.post(ctx, "/sandbox/pay/phantom", map[string]any{"openid": openid, "amountFen": amountFen}, &out)
	return out.OutBillNo, err
}

func (p Phone) post(ctx context.Context, path string, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(p.BaseURL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := p.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			ErrMsg string `json:"errMsg"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("sandbox %s: HTTP %d %s", path, resp.StatusCode, e.ErrMsg)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
