package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Phone drives the sandbox-only endpoints the way the mini-program on a phone would; tests and the dev
// walkthrough use it in place of a real device.
type Phone struct {
	BaseURL string
	HTTP    *http.Client
}

// PhoneResult is what a wx.* face API hands the front end.
type PhoneResult struct {
	ErrCode      int    `json:"errCode"`
	ErrMsg       string `json:"errMsg"`
	VerifyResult string `json:"verifyResult"`
}

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
		return fmt.Errorf("sandbox %s: HTTP %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// ConfirmTransfer is wx.requestMerchantTransfer: the payee accepts, rejects or lets the bill expire; callback
// chooses how WeChat Pay's callback is delivered (normal, none, duplicate, delayed).
func (p Phone) ConfirmTransfer(ctx context.Context, outBillNo, action, callback string) error {
	var out struct {
		ErrMsg string `json:"errMsg"`
	}
	if err := p.post(ctx, "/sandbox/pay/confirm", map[string]any{"outBillNo": outBillNo, "action": action, "callback": callback}, &out); err != nil {
		return err
	}
	if !strings.HasSuffix(out.ErrMsg, ":ok") {
		return fmt.Errorf("sandbox: %s", out.ErrMsg)
	}
	return nil
}
