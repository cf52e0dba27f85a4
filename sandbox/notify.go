package sandbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"
)

// Callback deliveries the phone endpoint accepts.
const (
	callbackNormal    = "normal"    // once, right away
	callbackNone      = "none"      // lost: only a query finds the outcome
	callbackDuplicate = "duplicate" // twice
	callbackDelayed   = "delayed"   // after 2 seconds, out of order with whatever the run did meanwhile
)

// finish moves a bill to a state (final, or TRANSFERING) and calls back when it is final; p.mu is held.
func (p *Pay) finish(b *payBill, state, reason, delivery string) {
	b.State, b.FailReason = state, reason
	b.UpdateTime = p.now().In(beijing).Format(time.RFC3339)
	p.save()
	if state != "SUCCESS" && state != "FAIL" && state != "CANCELLED" {
		return // WeChat Pay calls back for final states only
	}
	resource := map[string]any{"mch_id": p.opts.MchID, "out_bill_no": b.OutBillNo, "transfer_bill_no": b.TransferBillNo, "state": b.State,
		"transfer_amount": b.AmountFen, "openid": b.OpenID, "create_time": b.CreateTime, "update_time": b.UpdateTime}
	if reason != "" {
		resource["fail_reason"] = reason
	}
	times := map[string]int{callbackNormal: 1, callbackDuplicate: 2, callbackDelayed: 1}[delivery]
	delay := time.Duration(0)
	if delivery == callbackDelayed {
		delay = 2 * time.Second
	}
	for range times {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			time.Sleep(delay)
			p.deliver(b.NotifyURL, resource)
		}()
	}
}

// deliver posts a MCHTRANSFER.BILL.FINISHED callback, signed and encrypted, retrying a few times like WeChat Pay.
func (p *Pay) deliver(url string, resource map[string]any) {
	body, err := p.Notification(resource, p.now())
	if err != nil {
		return
	}
	for attempt := range 3 {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body.Body))
		for k, vs := range body.Header {
			req.Header[k] = vs
		}
		resp, err := p.opts.CallbackClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return
			}
		}
		p.log.Warn("sandbox: callback not accepted", "url", url, "attempt", attempt+1)
		time.Sleep(time.Duration(200*(attempt+1)) * time.Millisecond)
	}
}

// SignedNotification is a callback ready to post.
type SignedNotification struct {
	Header http.Header
	Body   []byte
}

// Notification builds a transfer callback for resource (the plaintext), encrypted with the APIv3 key and signed
// at the given time. Tests use it to craft stale or tampered callbacks.
func (p *Pay) Notification(resource map[string]any, at time.Time) (SignedNotification, error) {
	plain, _ := json.Marshal(resource)
	nonce := randomID("", 6) // 12 characters
	block, err := aes.NewCipher([]byte(p.opts.APIv3Key))
	if err != nil {
		return SignedNotification{}, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return SignedNotification{}, err
	}
	ct := gcm.Seal(nil, []byte(nonce), plain, []byte("mch_payment"))
	body, _ := json.Marshal(map[string]any{
		"id": randomID("EV-", 10), "create_time": at.In(beijing).Format(time.RFC3339), "resource_type": "encrypt-resource",
		"event_type": "MCHTRANSFER.BILL.FINISHED", "summary": "商家转账单据终态通知",
		"resource": map[string]string{"original_type": "mch_payment", "algorithm": "AEAD_AES_256_GCM",
			"ciphertext": base64.StdEncoding.EncodeToString(ct), "associated_data": "mch_payment", "nonce": nonce},
	})
	h := p.signedHeaders(body, at)
	h.Del("Request-Id")
	h.Set("Content-Type", "application/json")
	h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	return SignedNotification{Header: h, Body: body}, nil
}
