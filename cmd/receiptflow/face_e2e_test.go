package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/wechat"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/workflows"
)

func TestFaceV2MismatchThenPass(t *testing.T) {
	e := newEnv(t, perPayment)
	order, token := highRiskOpened(e)

	fail := e.failFaceV2(order, token)
	if fail.Passed || fail.IdentifyRet != 10004 || fail.ErrCode != 0 || fail.AttemptsLeft != 2 || fail.State != string(workflows.StateFaceRequired) {
		t.Fatalf("mismatch: %+v", fail)
	}
	pass := e.passFaceV2(order, token)
	if !pass.Passed || pass.IdentifyRet != 0 || pass.ErrCode != 0 || pass.State != string(workflows.StateAwaitingConfirmation) {
		t.Fatalf("pass: %+v", pass)
	}
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if v.State != workflows.StatePaid || v.Face.AttemptsUsed != 1 {
		t.Fatalf("after confirm: %+v", v)
	}
	audit, _ := e.deps.store.FaceAttempts(context.Background(), order)
	if len(audit) != 2 || audit[0].Outcome != workflows.FaceFail || audit[0].Code != 10004 || audit[1].Outcome != workflows.FacePass || audit[1].Mode != "v2" {
		t.Fatalf("audit: %+v", audit)
	}
}

// The 1.0 page (apiGetUserIdKey({source: 1})) on a v2 server gets a non-zero errcode and a message the payee can
// act on, never "ok"; the 2.0 kit (no source) gets its verifyId, and nothing was used up.
func TestFaceV1ClientOnAV2ServerIsToldToUpdate(t *testing.T) {
	e := newEnv(t, perPayment)
	order, token := highRiskOpened(e)
	var old struct {
		Code, Message, ErrMsg string
		ErrCode               int
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/session", token, map[string]int{"source": 1}, &old), http.StatusUpgradeRequired)
	if old.Code != "CLIENT_OUTDATED" || old.ErrCode == 0 || old.ErrMsg != "请更新小程序后重试" || old.Message != old.ErrMsg {
		t.Fatalf("1.0 client on v2: %+v", old)
	}
	// Decided before a credential was asked of WeChat (each costs quota), and the 426 says what to upgrade to.
	if n := e.sb.Stats().Calls["getverifyid"]; n != 0 {
		t.Fatalf("a v2 credential was issued for the 1.0 page: %d getverifyid calls", n)
	}
	req, _ := http.NewRequest(http.MethodPost, e.api.URL+"/v1/receipts/"+order+"/face/session", strings.NewReader(`{"source":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") == "" {
		t.Fatalf("426 without Upgrade: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if pass := e.passFaceV2(order, token); !pass.Passed || pass.AttemptsLeft != 3 {
		t.Fatalf("the kit afterwards: %+v", pass)
	}
}

func TestFaceV2DeviceCancelIsNotCounted(t *testing.T) {
	e := newEnv(t, perPayment)
	order, token := highRiskOpened(e)
	res := e.faceV2(order, token, sandbox.OutcomeCancel)
	if res.Passed || res.Outcome != workflows.FaceRetry || res.ErrCode != 90004 || res.AttemptsLeft != 3 || res.ErrMsg != "用户取消人脸识别，无法正常收款" {
		t.Fatalf("cancel: %+v", res)
	}
	if dev := e.faceV2(order, token, sandbox.OutcomeDevice); dev.Outcome != workflows.FaceRetry || dev.ErrCode != 90001 || dev.AttemptsLeft != 3 {
		t.Fatalf("device: %+v", dev)
	}
	if pass := e.passFaceV2(order, token); !pass.Passed {
		t.Fatalf("pass after cancel: %+v", pass)
	}
}

// Finding 2 of the face review: payee A submitting payee B's genuine, scanned verifyId on A's own order is
// refused — and claims nothing, so B still passes with it.
func TestFaceV2AnotherPayeesResultIsRefusedAndStaysTheirs(t *testing.T) {
	e := newEnv(t, perPayment)
	orderA, tokenA := highRiskOpened(e)
	orderB := e.payee("o_bee", "赵六", "310101195501010088", 200000)
	tokenB := e.login("o_bee")
	e.must(e.call(http.MethodPost, "/v1/receipts/"+orderB, tokenB, nil, nil), http.StatusOK)
	vidB := e.faceCredential(orderB, tokenB)
	if _, err := e.phone.VerifyV2(context.Background(), vidB, sandbox.OutcomePass); err != nil {
		t.Fatal(err)
	}

	e.faceCredential(orderA, tokenA)
	var stolen faceAnswerBody
	e.must(e.call(http.MethodPost, "/v1/receipts/"+orderA+"/face/result", tokenA, map[string]string{"verifyId": vidB}, &stolen), http.StatusOK)
	if stolen.Passed || stolen.Outcome != workflows.FaceRefused || stolen.ErrCode != 1 || stolen.IdentifyRet == 0 || stolen.AttemptsLeft != 2 {
		t.Fatalf("A with B's verifyId: %+v", stolen)
	}
	var own faceAnswerBody
	e.must(e.call(http.MethodPost, "/v1/receipts/"+orderB+"/face/result", tokenB, map[string]string{"verifyId": vidB}, &own), http.StatusOK)
	if !own.Passed || own.AttemptsLeft != 3 {
		t.Fatalf("B with B's own verifyId after A's attempt: %+v", own)
	}
	auditA, _ := e.deps.store.FaceAttempts(context.Background(), orderA)
	if len(auditA) != 1 || auditA[0].FailedCheck != "credential" || auditA[0].ResultHash != "" {
		t.Fatalf("A's audit: %+v", auditA)
	}
}

func TestFaceV1AnotherPayeesResultIsRefusedAndStaysTheirs(t *testing.T) {
	e := newEnv(t, v1PerPayment)
	orderA, tokenA := highRiskOpened(e)
	orderB := e.payee("o_bee", "赵六", "310101195501010088", 200000)
	tokenB := e.login("o_bee")
	e.must(e.call(http.MethodPost, "/v1/receipts/"+orderB, tokenB, nil, nil), http.StatusOK)
	scanB, _ := e.phone.ScanV1(context.Background(), e.userIDKey(orderB, tokenB), "o_bee", sandbox.OutcomePass)

	e.userIDKey(orderA, tokenA)
	stolen := e.submitV1(orderA, tokenA, scanB.VerifyResult)
	if stolen.Passed || stolen.Outcome != workflows.FaceRefused || stolen.ErrCode != 1 {
		t.Fatalf("A with B's verifyResult: %+v", stolen)
	}
	if own := e.submitV1(orderB, tokenB, scanB.VerifyResult); !own.Passed {
		t.Fatalf("B with B's own verifyResult after A's attempt: %+v", own)
	}
}

// Finding 1 of the face review: a pass belongs to one run. Run 1 passes, its payout fails (the bill expires); the
// payee taps again and run 2 gets a new credential, and run 1's verifyId does not pass it.
func TestFaceV2PassOfAnEarlierRunDoesNotPassTheNext(t *testing.T) {
	e := newEnv(t, wechatPay)
	order, token := highRiskOpened(e)
	vid1 := e.faceCredential(order, token)
	if _, err := e.phone.VerifyV2(context.Background(), vid1, sandbox.OutcomePass); err != nil {
		t.Fatal(err)
	}
	var res faceAnswerBody
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/result", token, map[string]string{"verifyId": vid1}, &res), http.StatusOK)
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if !res.Passed || v.State != workflows.StateAwaitingTransferConfirm {
		t.Fatalf("run 1: %+v / %+v", res, v)
	}
	if err := e.phone.ExpireTransfer(context.Background(), v.Payout.OutBillNo, "normal"); err != nil {
		t.Fatal(err)
	}
	e.waitState(order, token, workflows.StateFailed)

	// Run 2. The payee's identity is bound now, but 2,000 元 is still a large payment: face first.
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	if v.State != workflows.StateFaceRequired {
		t.Fatalf("run 2: %+v", v)
	}
	vid2 := e.faceCredential(order, token)
	if vid2 == vid1 {
		t.Fatal("run 2 was handed run 1's verifyId (out_seq_no repeated)")
	}
	var replay faceAnswerBody
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/result", token, map[string]string{"verifyId": vid1}, &replay), http.StatusOK)
	if replay.Passed || replay.Outcome != workflows.FaceRefused || replay.ErrCode == 0 {
		t.Fatalf("run 1's verifyId in run 2: %+v", replay)
	}
	// A fresh scan of run 2's own credential passes.
	if pass := e.passFaceV2(order, token); !pass.Passed {
		t.Fatalf("run 2's own scan: %+v", pass)
	}
}

func TestFaceV1PassOfAnEarlierRunDoesNotPassTheNextEvenWhenWeChatForgotIt(t *testing.T) {
	forgot := &forgetfulFace{}
	e := newEnv(t, func(c *config.Config) { wechatPay(c); c.FaceMode = "v1" }, func(a *activities.Activities) {
		forgot.FaceAPI = a.WeChat
		a.WeChat = forgot
	})
	order, token := highRiskOpened(e)
	scan, _ := e.phone.ScanV1(context.Background(), e.userIDKey(order, token), "o_high", sandbox.OutcomePass)
	if r := e.submitV1(order, token, scan.VerifyResult); !r.Passed {
		t.Fatalf("run 1: %+v", r)
	}
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if err := e.phone.ExpireTransfer(context.Background(), v.Payout.OutBillNo, "normal"); err != nil {
		t.Fatal(err)
	}
	e.waitState(order, token, workflows.StateFailed)
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	e.userIDKey(order, token)
	// While WeChat still knows run 1's result: another credential's.
	if r := e.submitV1(order, token, scan.VerifyResult); r.Passed || r.Outcome != workflows.FaceRefused {
		t.Fatalf("run 1's result in run 2: %+v", r)
	}
	// After WeChat forgot it (a restart, or its hour passed): still nothing.
	forgot.set(true)
	e.userIDKey(order, token)
	if r := e.submitV1(order, token, scan.VerifyResult); r.Passed || r.IdentifyRet == 0 && r.ErrCode == 0 {
		t.Fatalf("run 1's forgotten result in run 2: %+v", r)
	}
}

// forgetfulFace answers getinfo as WeChat does for a verify_result it no longer knows, once told to.
type forgetfulFace struct {
	activities.FaceAPI
	mu     sync.Mutex
	forgot bool
}

func (f *forgetfulFace) set(forgot bool) { f.mu.Lock(); f.forgot = forgot; f.mu.Unlock() }

func (f *forgetfulFace) GetInfo(ctx context.Context, verifyResult string) (wechat.FaceInfo, error) {
	f.mu.Lock()
	forgot := f.forgot
	f.mu.Unlock()
	if forgot {
		return wechat.FaceInfo{}, &wechat.Error{Op: "getinfo", Code: wechat.CodeVerifyResultBad, Message: "invalid verify_result", Class: wechat.User}
	}
	return f.FaceAPI.GetInfo(ctx, verifyResult)
}

// A result posted after its credential's hour is not used, even when WeChat passed it; it costs no attempt.
func TestFaceV1LateResultIsRefusedAndCostsNothing(t *testing.T) {
	clock := &testClock{}
	e := newEnv(t, v1PerPayment, func(a *activities.Activities) { a.Now = clock.now })
	order, token := highRiskOpened(e)
	scan, _ := e.phone.ScanV1(context.Background(), e.userIDKey(order, token), "o_high", sandbox.OutcomePass)
	clock.advance(61 * time.Minute)
	late := e.submitV1(order, token, scan.VerifyResult)
	if late.Passed || late.Outcome != workflows.FaceRetry || late.AttemptsLeft != 3 || late.ErrMsg != "人脸核验已超时，请重新扫脸" {
		t.Fatalf("late result: %+v", late)
	}
}

// testClock is time.Now, moved forward by the test.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) advance(d time.Duration) { c.mu.Lock(); c.offset += d; c.mu.Unlock() }

func (e *env) faceCredential(order, token string) string {
	e.t.Helper()
	var cred struct {
		VerifyID string `json:"verifyId"`
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/session", token, nil, &cred), http.StatusOK)
	if cred.VerifyID == "" {
		e.t.Fatal("no verifyId")
	}
	return cred.VerifyID
}

func TestFaceV1ResultBoundToThePayee(t *testing.T) {
	e := newEnv(t, v1PerPayment)
	order, token := highRiskOpened(e)
	ctx := context.Background()

	// The scan was done by another WeChat user: WeChat passed it, we do not.
	key := e.userIDKey(order, token)
	scan, _ := e.phone.ScanV1(ctx, key, "o_high", sandbox.OutcomeOtherOpenID)
	res := e.submitV1(order, token, scan.VerifyResult)
	if res.Passed || res.IdentifyRet == 0 && res.ErrCode == 0 || res.Outcome != workflows.FaceRefused {
		t.Fatalf("other openid: %+v", res)
	}

	// A failed scan, then the same result submitted again under a fresh credential: refused, it belongs to the
	// credential before (errcode 1 is ours: WeChat passed or failed it, we do not accept it).
	key = e.userIDKey(order, token)
	failed, _ := e.phone.ScanV1(ctx, key, "o_high", sandbox.OutcomeMismatchID)
	if r := e.submitV1(order, token, failed.VerifyResult); r.IdentifyRet != 10003 || r.Passed {
		t.Fatalf("mismatch: %+v", r)
	}
	e.userIDKey(order, token)
	replayed := e.submitV1(order, token, failed.VerifyResult)
	if replayed.Passed || replayed.Outcome != workflows.FaceRefused || replayed.ErrCode != 1 {
		t.Fatalf("replayed: %+v", replayed)
	}
	// Three refusals or failures: manual review, and the message says so (nothing to retry).
	if replayed.AttemptsLeft != 0 || replayed.State != string(workflows.StateManualReview) || strings.Contains(replayed.ErrMsg, "请稍后重试") {
		t.Fatalf("after three failures: %+v", replayed)
	}
	audit, _ := e.deps.store.FaceAttempts(ctx, order)
	checks := []string{}
	for _, a := range audit {
		checks = append(checks, a.Outcome+":"+a.FailedCheck)
	}
	if len(audit) != 3 || audit[2].FailedCheck != "credential" || audit[0].FailedCheck != "openid" {
		t.Fatalf("audit: %v", checks)
	}
}

func TestFaceV1ExpiredResultAsksForANewScan(t *testing.T) {
	e := newEnv(t, v1PerPayment)
	order, token := highRiskOpened(e)
	scan, _ := e.phone.ScanV1(context.Background(), e.userIDKey(order, token), "o_high", sandbox.OutcomeExpired)
	res := e.submitV1(order, token, scan.VerifyResult)
	if res.Passed || res.ErrCode != 84002 || res.Outcome != workflows.FaceRetry || res.AttemptsLeft != 3 {
		t.Fatalf("expired: %+v", res)
	}
	scan, _ = e.phone.ScanV1(context.Background(), e.userIDKey(order, token), "o_high", sandbox.OutcomePass)
	if r := e.submitV1(order, token, scan.VerifyResult); !r.Passed {
		t.Fatalf("pass: %+v", r)
	}
}

func TestFlowCompletesUnderInjectedWeChatFaults(t *testing.T) {
	// 30% of WeChat calls fail transiently: busy, minute quota, 503, dropped connections.
	e := newEnvWithFaults(t, sandboxFaults(0.10, 0.10, 0.05, 0.05), func(c *config.Config) {
		perPayment(c)
		c.WeChat.Timeout = time.Second
	})
	order := e.payee("o_high", "王五", "440304199003070018", 200000)
	// The mini-program retries what fails with 503/502 ("请稍后重试"), as the seed's page does.
	token := e.retrying(func() (string, bool) {
		code, err := e.phone.Login(context.Background(), "o_high")
		if err != nil {
			return "", false
		}
		var out struct{ Token string }
		r := e.call(http.MethodPost, "/v1/session", "", map[string]string{"code": code}, &out)
		return out.Token, r.status == http.StatusOK
	})
	var v workflows.View
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order, token, nil, &v), http.StatusOK)
	if v.State != workflows.StateFaceRequired {
		t.Fatalf("after the tap: %+v", v)
	}
	vid := e.retrying(func() (string, bool) {
		var cred struct {
			VerifyID string `json:"verifyId"`
		}
		r := e.call(http.MethodPost, "/v1/receipts/"+order+"/face/session", token, nil, &cred)
		return cred.VerifyID, r.status == http.StatusOK
	})
	if _, err := e.phone.VerifyV2(context.Background(), vid, sandbox.OutcomePass); err != nil {
		t.Fatal(err)
	}
	var res faceAnswerBody
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/result", token, map[string]string{"verifyId": vid}, &res), http.StatusOK)
	if !res.Passed {
		t.Fatalf("face result under faults: %+v", res)
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/confirm", token, nil, &v), http.StatusOK)
	if v.State != workflows.StatePaid {
		t.Fatalf("after confirm: %+v", v)
	}
	e.assertPaidOnce(order, 176000, 24000)
	if st := e.sb.Stats(); st.Faults == 0 {
		t.Fatalf("no fault was injected: %+v", st)
	}
}

func sandboxFaults(busy, quota, http5xx, drop float64) sandbox.Faults {
	return sandbox.Faults{Busy: busy, MinuteQuota: quota, HTTP5xx: http5xx, Drop: drop}
}

// retrying calls try until it reports success, as a front end retrying a failed request would.
func (e *env) retrying(try func() (string, bool)) string {
	e.t.Helper()
	for range 10 {
		if v, ok := try(); ok {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatal("still failing after 10 tries")
	return ""
}

func (e *env) userIDKey(order, token string) string {
	e.t.Helper()
	var key struct {
		UserIDKey string `json:"userIdKey"`
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/session", token, nil, &key), http.StatusOK)
	if key.UserIDKey == "" {
		e.t.Fatal("no userIdKey")
	}
	return key.UserIDKey
}

func (e *env) submitV1(order, token, verifyResult string) faceAnswerBody {
	e.t.Helper()
	var res faceAnswerBody
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/result", token, map[string]string{"verifyResult": verifyResult}, &res), http.StatusOK)
	return res
}
