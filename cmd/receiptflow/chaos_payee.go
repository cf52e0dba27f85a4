//go:build !nodev

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/workflows"
)

// What a payee (and the operators around them) was drawn to do at each step.
const (
	faceFailOut    = "fails every scan" // then an operator reviews
	walkAway       = "walks away"       // the step's deadline ends the run (EXPIRED)
	opsCancel      = "is cancelled"     // an operator cancels the order at the step
	billExpires    = "expire"           // on WeChat's confirm page: nobody confirms, WeChat Pay closes the bill
	cancelCrossing = "cancel_crossing"  // on WeChat's confirm page: an operator cancels while the payee accepts
)

// chaosOrder is one payee's receipt, how the payee, the operators and WeChat Pay will behave, and what it saw.
type chaosOrder struct {
	openid, id string
	grossFen   int64
	face       bool          // a newcomer: no face verification has bound their identity yet, so one is asked
	faceStory  string        // when a face is asked (a newcomer's, or for the risk): "" (passes), "misses once", faceFailOut, walkAway
	review     bool          // after faceFailOut, the operator approves (else rejects)
	cancelWins bool          // cancel_crossing: the operator's cancel goes first (else with the payee's accept)
	confirm    string        // before the bill: "" (confirms), walkAway, opsCancel
	plan       string        // what the payee was drawn to do on WeChat's confirm page
	action     string        // what it does next there: accept, accept_slow, decline (then accept), fail or expire (then tap again), cancel_crossing
	callback   string        // how WeChat Pay calls back
	reads      time.Duration // how long the payee reads WeChat's confirm page before acting on it
	final      workflows.State
	retapped   bool
	err        error

	mu    sync.Mutex
	trail []string // the states it saw and what it did, in order
}

// saw notes a state (once while it lasts) or an act.
func (o *chaosOrder) saw(what string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.trail); n == 0 || o.trail[n-1] != what {
		o.trail = append(o.trail, what)
	}
}

// story is the order's draw and its trail, for a violation's message.
func (o *chaosOrder) story() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	face := "returning payee"
	if o.face {
		face = "newcomer"
	}
	if o.faceStory != "" {
		face += ", face " + o.faceStory
	}
	plan := o.plan
	if plan == cancelCrossing && o.cancelWins {
		plan += " (cancel first)"
	}
	return fmt.Sprintf("%s, confirm %q, page %s, callback %s; saw %s", face, o.confirm, plan, o.callback, strings.Join(o.trail, " → "))
}

// drawOrder draws one payee's story from the seed.
func (c *chaos) drawOrder() *chaosOrder {
	actions := []string{sandbox.PayAccept, sandbox.PayAccept, sandbox.PayAccept, sandbox.PayAcceptSlow, sandbox.PayDecline, sandbox.PayFail, billExpires, cancelCrossing}
	callbacks := []string{"normal", "normal", "none", "duplicate", "delayed"}
	faces := []string{"", "", "", "misses once", "misses once", faceFailOut, faceFailOut, walkAway}
	confirms := []string{"", "", "", "", "", "", "", "", walkAway, opsCancel}
	o := &chaosOrder{face: c.draw(3) == 0, action: actions[c.draw(len(actions))], callback: callbacks[c.draw(len(callbacks))],
		grossFen: 10000 + int64(c.draw(190000)), confirm: confirms[c.draw(len(confirms))]}
	if c.draw(2) == 0 { // a large payment (from 2,000 元): a face is asked, and WeChat Pay wants the payee's name
		o.grossFen = 200000 + int64(c.draw(650000))
	}
	o.faceStory, o.review, o.cancelWins = faces[c.draw(len(faces))], c.draw(2) == 0, c.draw(2) == 0
	// While the bill waits the payee reads the page: a late callback of the order's last bill may land meanwhile.
	o.reads = time.Duration(c.draw(3000)) * time.Millisecond
	if c.o.Topology != "" {
		// Its deadlines are production's (30 minutes, 7 days): nobody walks away there. Onboarded there, everyone
		// is a newcomer: no face has bound anyone's identity yet.
		o.face = true
		o.confirm, o.faceStory = strings.Replace(o.confirm, walkAway, "", 1), strings.Replace(o.faceStory, walkAway, "", 1)
	}
	o.plan = o.action
	return o
}

// receipt is one payee's whole 确认收款, through restarts: every call is retried while dev is down.
func (c *chaos) receipt(ctx context.Context, o *chaosOrder) error {
	// A lost callback after a slow confirm is found by the bill's polls, backing off from 30 s: minutes, not hours.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var err error
	if o.openid, o.id, err = c.stack.seed(ctx, c, o.grossFen, o.face); err != nil {
		return err
	}
	token, err := c.session(ctx, o.openid)
	if err != nil {
		return err
	}
	path := "/v1/receipts/" + o.id
	var v workflows.View
	if err := c.call(ctx, http.MethodPost, path, token, nil, &v); err != nil {
		return err
	}
	s := &payeeSteps{c: c, o: o, token: token, path: path}
	for {
		o.saw(string(v.State))
		switch {
		case v.State == workflows.StateFailed && !o.retapped:
			o.retapped, o.action = true, sandbox.PayAccept // tap again: a new run, a new bill
			o.saw("taps again")
			if err := c.call(ctx, http.MethodPost, path, token, nil, &v); err != nil {
				return err
			}
			s = &payeeSteps{c: c, o: o, token: token, path: path} // a new run: reviewed, cancelled and paged afresh
			continue
		case v.State.Final():
			o.final = v.State
			return nil
		}
		if err := s.act(ctx, v); err != nil && !strings.Contains(err.Error(), " 409 ") {
			return err
		}
		time.Sleep(300 * time.Millisecond)
		if err := c.call(ctx, http.MethodGet, path, token, nil, &v); err != nil {
			return err
		}
	}
}

// payeeSteps is what one payee (and the operators around them) did so far.
type payeeSteps struct {
	c                   *chaos
	o                   *chaosOrder
	token, path         string
	reviewed, cancelled bool
	page                string // the confirm page's package last acted on
}

// act does what the payee (or an operator) does in the state v shows; nothing while they wait for a deadline or
// for the run.
func (s *payeeSteps) act(ctx context.Context, v workflows.View) error {
	c, o := s.c, s.o
	switch {
	case v.State == workflows.StateFaceRequired && o.faceStory != walkAway:
		return c.face(ctx, o, s.token)
	case v.State == workflows.StateManualReview && !s.reviewed:
		s.reviewed = true
		o.saw(fmt.Sprintf("operator reviews (approve %v)", o.review))
		return c.call(ctx, http.MethodPost, "/v1/ops/receipts/"+o.id+"/review", "", map[string]any{"approve": o.review, "note": "chaos review"}, nil)
	case v.State == workflows.StateAwaitingConfirmation && o.confirm == opsCancel:
		return s.cancel(ctx)
	case v.State == workflows.StateAwaitingConfirmation && o.confirm != walkAway:
		return c.call(ctx, http.MethodPost, s.path+"/confirm", s.token, nil, nil)
	case v.State == workflows.StateAwaitingTransferConfirm && v.Payout != nil && v.Payout.Confirm != nil && s.page != v.Payout.Confirm.Package:
		s.page = v.Payout.Confirm.Package
		time.Sleep(o.reads)
		switch o.action {
		case billExpires:
			o.saw("WeChat Pay closes the bill")
			err := c.onPhone(ctx, func() error { return c.phone.ExpireTransfer(ctx, v.Payout.OutBillNo, o.callback) })
			if err != nil && strings.Contains(err.Error(), "no bill waiting") {
				return nil // the payee's page was quicker, or a retry after a lost answer: the view says which
			}
			return err
		case cancelCrossing:
			// The operator's cancel and the payee's accept cross: either may win, the money must agree.
			var wg sync.WaitGroup
			var cancelErr error
			if o.cancelWins {
				cancelErr = s.cancel(ctx)
			} else {
				wg.Go(func() { cancelErr = s.cancel(ctx) })
			}
			o.saw("page accept")
			cf := v.Payout.Confirm
			// A cancel that won leaves no bill to accept ("invalid package"): that answer is one of the two outcomes.
			err := c.onPhone(ctx, func() error {
				_, err := c.phone.ConfirmTransfer(ctx, sandbox.TransferConfirm{MchID: cf.MchID, AppID: cf.AppID, Package: cf.Package}, sandbox.PayAccept, "", o.callback)
				return err
			})
			wg.Wait()
			if err == nil {
				err = cancelErr
			}
			return err
		}
		if err := c.confirmPage(ctx, o, v.Payout.Confirm); err != nil {
			return err
		}
		return c.call(ctx, http.MethodPost, s.path+"/transfer/confirmed", s.token, nil, nil)
	}
	return nil
}

// cancel is an operator cancelling the order, once.
func (s *payeeSteps) cancel(ctx context.Context) error {
	if s.cancelled {
		return nil
	}
	s.cancelled = true
	s.o.saw("operator cancels")
	return s.c.call(ctx, http.MethodPost, "/v1/ops/receipts/"+s.o.id+"/cancel", "", map[string]string{"reason": "chaos cancel"}, nil)
}

func (c *chaos) session(ctx context.Context, openid string) (string, error) {
	for {
		code, err := c.phone.Login(ctx, openid)
		if err == nil {
			var s struct{ Token string }
			if err = c.call(ctx, http.MethodPost, "/v1/session", "", map[string]string{"code": code}, &s); err == nil {
				return s.Token, nil
			}
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("session: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// face is one face verification: a scan that misses when the story says so, and its result sent.
func (c *chaos) face(ctx context.Context, o *chaosOrder, token string) error {
	var cred struct {
		VerifyID string `json:"verifyId"`
	}
	path := "/v1/receipts/" + o.id + "/face"
	if err := c.call(ctx, http.MethodPost, path+"/session", token, nil, &cred); err != nil {
		return err
	}
	outcome := sandbox.OutcomePass
	switch o.faceStory {
	case "misses once":
		outcome, o.faceStory = "mismatch_face", "missed once"
	case faceFailOut:
		outcome = "mismatch_face"
	}
	o.saw("face " + outcome)
	if err := c.onPhone(ctx, func() error { _, err := c.phone.VerifyV2(ctx, cred.VerifyID, outcome); return err }); err != nil {
		return err
	}
	return c.call(ctx, http.MethodPost, path+"/result", token, map[string]string{"verifyId": cred.VerifyID}, nil)
}

// confirmPage is the payee on WeChat's confirm page: a decline is followed by an accept on the next look.
func (c *chaos) confirmPage(ctx context.Context, o *chaosOrder, cf *workflows.MerchantTransferParams) error {
	action, reason := o.action, ""
	if action == sandbox.PayFail {
		reason = "ACCOUNT_FROZEN"
	}
	page := sandbox.TransferConfirm{MchID: cf.MchID, AppID: cf.AppID, Package: cf.Package}
	var res sandbox.PhoneResult
	tap := func(action, reason string) error {
		o.saw("page " + action)
		return c.onPhone(ctx, func() (err error) {
			res, err = c.phone.ConfirmTransfer(ctx, page, action, reason, o.callback)
			return err
		})
	}
	err := tap(action, reason)
	if err == nil && action == sandbox.PayDecline {
		o.action = sandbox.PayAccept
		err = tap(o.action, "")
	}
	switch {
	case err != nil:
		return err
	case !res.OK() && strings.Contains(res.ErrMsg, "invalid package"):
		return nil // the bill no longer waits (an answer lost to a kill, then the retry): the view says how it ended
	case !res.OK():
		return fmt.Errorf("confirm page: %s", res.ErrMsg)
	}
	return nil
}

// onPhone makes one of the phone's calls to the sandbox, again while it cannot be reached (dev is down: the
// sandbox with it). Answers, even refusals, are returned.
func (c *chaos) onPhone(ctx context.Context, call func() error) error {
	for {
		err := call()
		var unreachable *url.Error
		if err == nil || !errors.As(err, &unreachable) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}
