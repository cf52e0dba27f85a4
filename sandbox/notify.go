package sandbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Callback deliveries the phone endpoint accepts.
const (
	callbackNormal    = "normal"    // once, right away
	callbackNone      = "none"      // lost: only a query finds the outcome
	callbackDuplicate = "duplicate" // twice
	callbackDelayed   = "delayed"   // after 2 seconds, out of order with whatever the run did meanwhile
)

// CallbackSchedule is how WeChat Pay calls back a final state the merchant does not acknowledge: again after
// 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h (24 h 4 min in all), then never ("通知频率", 支付结果通知,
// https://pay.weixin.qq.com/doc/v3/merchant/4012791861; the same for 商家转账 callbacks,
// https://pay.weixin.qq.com/doc/v3/merchant/4012712115).
var CallbackSchedule = []time.Duration{15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 3 * time.Hour, 3 * time.Hour,
	6 * time.Hour, 6 * time.Hour}

// finish moves a bill to a state (final, or TRANSFERING) and, when it is final, owes its callbacks; p.mu is held.
func (p *Pay) finish(b *payBill, state, reason, delivery string) {
	if t := p.closings[b.OutBillNo]; t != nil { // the bill no longer waits for the payee: nothing left to close
		t.Stop()
		delete(p.closings, b.OutBillNo)
	}
	b.State, b.FailReason = state, reason
	b.UpdateTime = p.now().In(beijing).Format(time.RFC3339)
	if state == "SUCCESS" || state == "FAIL" || state == "CANCELLED" { // WeChat Pay calls back for final states only
		b.CallbacksOwed = map[string]int{callbackNormal: 1, callbackDuplicate: 2, callbackDelayed: 1}[delivery]
		b.CallbackAt, b.CallbackTries = p.now().Format(time.RFC3339Nano), 0
		if delivery == callbackDelayed {
			b.CallbackAt = p.now().Add(2 * time.Second).Format(time.RFC3339Nano)
		}
	}
	p.save(b.OutBillNo)
	p.callBack(b)
}

// callBack starts delivering the callbacks b owes unless that already runs; p.mu is held.
func (p *Pay) callBack(b *payBill) {
	if b.CallbacksOwed == 0 || p.delivering[b.OutBillNo] || p.closed {
		return
	}
	p.delivering[b.OutBillNo] = true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for p.deliverOwed(b) {
		}
	}()
}

// deliverOwed makes one attempt at b's owed callbacks when it is due (the copies of a duplicated one at once) —
// only once the final state is on disk, so nothing is called back that a kill -9 could make WeChat Pay forget —
// and reports whether callbacks are still owed.
func (p *Pay) deliverOwed(b *payBill) bool {
	p.mu.Lock()
	at, _ := time.Parse(time.RFC3339Nano, b.CallbackAt)
	if b.CallbacksOwed == 0 || p.closed {
		delete(p.delivering, b.OutBillNo)
		p.mu.Unlock()
		return false
	}
	p.mu.Unlock()
	select {
	case <-time.After(max(0, at.Sub(p.now()))):
	case <-p.quit:
		return false
	}
	_ = p.state.synced()
	p.mu.Lock()
	url, copies := b.NotifyURL, b.CallbacksOwed
	resource := map[string]any{"mch_id": p.opts.MchID, "out_bill_no": b.OutBillNo, "transfer_bill_no": b.TransferBillNo, "state": b.State,
		"transfer_amount": b.AmountFen, "openid": b.OpenID, "create_time": b.CreateTime, "update_time": b.UpdateTime}
	if b.FailReason != "" {
		resource["fail_reason"] = b.FailReason
	}
	p.mu.Unlock()
	var acked atomic.Int64
	var wg sync.WaitGroup
	for range copies {
		wg.Go(func() {
			if p.deliver(url, resource) {
				acked.Add(1)
			}
		})
	}
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	b.CallbacksOwed -= int(acked.Load())
	if b.CallbacksOwed > 0 {
		if b.CallbackTries >= len(p.opts.CallbackRetries) {
			p.log.Warn("sandbox: callback given up", "outBillNo", b.OutBillNo, "attempts", b.CallbackTries+1)
			b.CallbacksOwed = 0
		} else {
			p.log.Warn("sandbox: callback not accepted", "url", url, "attempt", b.CallbackTries+1)
			b.CallbackAt = p.now().Add(p.opts.CallbackRetries[b.CallbackTries]).Format(time.RFC3339Nano)
			b.CallbackTries++
		}
	}
	p.save(b.OutBillNo)
	return true
}

// deliver posts one MCHTRANSFER.BILL.FINISHED callback, signed and encrypted, and reports whether the merchant
// acknowledged it (any 2xx).
func (p *Pay) deliver(url string, resource map[string]any) bool {
	body, err := p.Notification(resource, p.now())
	if err != nil {
		return false
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body.Body))
	if err != nil {
		return false
	}
	for k, vs := range body.Header {
		req.Header[k] = vs
	}
	resp, err := p.opts.CallbackClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode/100 == 2
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
