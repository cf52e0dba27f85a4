package sandbox

import (
	"net/http"
	"regexp"
	"time"
)

// What the payee does on WeChat's confirm page (wx.requestMerchantTransfer), as the phone endpoint accepts it.
const (
	PayAccept     = "accept"      // confirms: the transfer succeeds (SUCCESS)
	PayAcceptSlow = "accept_slow" // confirms, and WeChat Pay takes a while: TRANSFERING, SUCCESS two seconds later
	PayDecline    = "decline"     // closes the page without confirming: "fail cancel", the bill keeps waiting
	PayFail       = "fail"        // confirms, and the transfer fails for reason (an official fail_reason code)
)

var failReasonPattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{2,63}$`)

// phoneConfirm plays wx.requestMerchantTransfer({mchId, appId, package}): like WeChat, it knows the bill only by
// the package the create answered with, so a payee (or a test) without it cannot confirm anything. Then it plays
// WeChat Pay's callback, delivered as asked (normal, none, duplicate, delayed).
func (p *Pay) phoneConfirm(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MchID    string `json:"mchId"`
		AppID    string `json:"appId"`
		Package  string `json:"package"`
		Action   string `json:"action"`
		Reason   string `json:"reason"`
		Callback string `json:"callback"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Callback == "" {
		req.Callback = callbackNormal
	}
	switch {
	case req.Action != PayAccept && req.Action != PayAcceptSlow && req.Action != PayDecline && req.Action != PayFail:
		phoneFail(w, "requestMerchantTransfer:fail action must be accept, accept_slow, decline or fail")
		return
	case req.Action == PayFail && !failReasonPattern.MatchString(req.Reason):
		phoneFail(w, "requestMerchantTransfer:fail a fail needs an official fail_reason code")
		return
	case !validDelivery(req.Callback):
		phoneFail(w, "requestMerchantTransfer:fail callback must be normal, none, duplicate or delayed")
		return
	case req.MchID != p.opts.MchID || (p.opts.AppID != "" && req.AppID != p.opts.AppID):
		writeJSON(w, map[string]any{"errMsg": "requestMerchantTransfer:fail mchId or appId does not match"})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var b *payBill
	for _, c := range p.bills {
		if req.Package != "" && c.PackageInfo == req.Package {
			b = c
			break
		}
	}
	if b == nil || b.State != "WAIT_USER_CONFIRM" {
		writeJSON(w, map[string]any{"errMsg": "requestMerchantTransfer:fail invalid package"})
		return
	}
	switch req.Action {
	case PayDecline:
		writeJSON(w, map[string]any{"errMsg": "requestMerchantTransfer:fail cancel"})
		return
	case PayAccept:
		p.finish(b, "SUCCESS", "", req.Callback)
	case PayAcceptSlow:
		b.SettlesAt, b.SettleCallback = p.now().Add(slowSettle).Format(time.RFC3339Nano), req.Callback
		p.finish(b, "TRANSFERING", "", req.Callback)
		p.resumeSettlement(b)
	case PayFail:
		p.finish(b, "FAIL", req.Reason, req.Callback)
	}
	writeJSON(w, map[string]any{"errMsg": "requestMerchantTransfer:ok", "state": b.State})
}

// slowSettle is how long WeChat Pay takes with an accept_slow confirm.
const slowSettle = 2 * time.Second

// resumeSettlement turns a TRANSFERING bill SUCCESS when its SettlesAt comes (at once if it passed while the
// sandbox was down); p.mu is held.
func (p *Pay) resumeSettlement(b *payBill) {
	at, err := time.Parse(time.RFC3339Nano, b.SettlesAt)
	if b.State != "TRANSFERING" || err != nil {
		return
	}
	p.wg.Add(1)
	time.AfterFunc(max(0, at.Sub(p.now())), func() {
		defer p.wg.Done()
		p.mu.Lock()
		defer p.mu.Unlock()
		if b.State == "TRANSFERING" {
			b.SettlesAt = ""
			p.finish(b, "SUCCESS", "", b.SettleCallback)
		}
	})
}

// closeWhenOverdue closes b (FAIL, OVERDUE_CLOSE) when ConfirmWindow has passed since it was created and nobody
// confirmed it — at once if that was while the sandbox was down; p.mu is held. The time comes from the bill's
// create time, which is kept: a restart schedules the close again.
func (p *Pay) closeWhenOverdue(b *payBill) {
	created, err := time.Parse(time.RFC3339, b.CreateTime)
	if b.State != "WAIT_USER_CONFIRM" || err != nil || p.closed || p.closings[b.OutBillNo] != nil {
		return
	}
	p.closings[b.OutBillNo] = time.AfterFunc(max(0, created.Add(p.opts.ConfirmWindow).Sub(p.now())), func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.closings, b.OutBillNo)
		if !p.closed && b.State == "WAIT_USER_CONFIRM" {
			p.finish(b, "FAIL", "OVERDUE_CLOSE", callbackNormal)
		}
	})
}

// expire plays 24 hours passing without the payee's confirm: WeChat Pay closes the bill (FAIL, OVERDUE_CLOSE) and
// the money returns to the merchant.
func (p *Pay) expire(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OutBillNo string `json:"outBillNo"`
		Callback  string `json:"callback"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Callback == "" {
		req.Callback = callbackNormal
	}
	if !validDelivery(req.Callback) {
		phoneFail(w, "callback must be normal, none, duplicate or delayed")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.bills[req.OutBillNo]
	if !ok || b.State != "WAIT_USER_CONFIRM" {
		phoneFail(w, "no bill waiting for the payee with that out_bill_no")
		return
	}
	p.finish(b, "FAIL", "OVERDUE_CLOSE", req.Callback)
	writeJSON(w, map[string]any{"state": b.State, "failReason": b.FailReason})
}

func validDelivery(d string) bool {
	return d == callbackNormal || d == callbackNone || d == callbackDuplicate || d == callbackDelayed
}

// tamper is POST /sandbox/pay/tamper {outBillNo, state, amountFen, forget}: WeChat Pay's record of a bill changes
// behind the merchant's back (no callback) — a bill it says succeeded that we think failed, a different amount, a
// bill it no longer knows — so a reconciliation has something to find. Empty state or zero amount leaves that
// part as it is.
func (p *Pay) tamper(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OutBillNo string `json:"outBillNo"`
		State     string `json:"state"`
		AmountFen int64  `json:"amountFen"`
		Forget    bool   `json:"forget"` // WeChat Pay no longer knows the bill at all
	}
	if !decode(w, r, &req) {
		return
	}
	if req.State != "" && req.State != "SUCCESS" && req.State != "FAIL" && req.State != "CANCELLED" || req.AmountFen < 0 {
		phoneFail(w, "state must be SUCCESS, FAIL or CANCELLED; amountFen positive")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.bills[req.OutBillNo]
	if !ok {
		phoneFail(w, "no bill with that out_bill_no")
		return
	}
	if req.Forget {
		delete(p.bills, req.OutBillNo)
		p.save(req.OutBillNo)
		writeJSON(w, map[string]any{"forgotten": true})
		return
	}
	if req.State != "" {
		b.State = req.State
	}
	if req.AmountFen > 0 {
		b.AmountFen = req.AmountFen
	}
	b.UpdateTime = p.now().In(beijing).Format(time.RFC3339)
	p.save(b.OutBillNo)
	writeJSON(w, map[string]any{"state": b.State, "transferAmount": b.AmountFen})
}
