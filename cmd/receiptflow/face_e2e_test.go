package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/sandbox"
	"github.com/receiptflow/receiptflow/store"
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
	if len(audit) != 2 || audit[0].Outcome != store.FaceFail || audit[0].Code != 10004 || audit[1].Outcome != store.FacePass || audit[1].Mode != "v2" {
		t.Fatalf("audit: %+v", audit)
	}
}

func TestFaceV2DeviceCancelIsNotCounted(t *testing.T) {
	e := newEnv(t, perPayment)
	order, token := highRiskOpened(e)
	res := e.faceV2(order, token, sandbox.OutcomeCancel)
	if res.Passed || res.Outcome != workflows.FaceRetry || res.ErrCode != 90100 || res.AttemptsLeft != 3 || res.ErrMsg != "用户取消人脸识别，无法正常收款" {
		t.Fatalf("cancel: %+v", res)
	}
	if pass := e.passFaceV2(order, token); !pass.Passed {
		t.Fatalf("pass after cancel: %+v", pass)
	}
}

func TestFaceV2ResultOfAnotherUserIsRefused(t *testing.T) {
	e := newEnv(t, perPayment)
	order, token := highRiskOpened(e)
	res := e.faceV2(order, token, sandbox.OutcomeOtherOpenID)
	if res.Passed || res.Outcome != workflows.FaceRefused || res.ErrCode == 0 || res.AttemptsLeft != 2 {
		t.Fatalf("other user's verification: %+v", res)
	}
	// A verifyId that is not the one this run issued is refused too, before any WeChat call could pass it.
	var cred struct {
		VerifyID string `json:"verifyId"`
	}
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/session", token, nil, &cred), http.StatusOK)
	var forged faceAnswerBody
	e.must(e.call(http.MethodPost, "/v1/receipts/"+order+"/face/result", token, map[string]string{"verifyId": "vid_made_up"}, &forged), http.StatusOK)
	if forged.Passed || forged.Outcome != workflows.FaceRefused {
		t.Fatalf("forged verifyId: %+v", forged)
	}
	audit, _ := e.deps.store.FaceAttempts(context.Background(), order)
	if len(audit) != 2 || audit[0].FailedCheck != "openid" || audit[1].FailedCheck != "credential" {
		t.Fatalf("audit: %+v", audit)
	}
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

	// A failed scan, then the same result submitted again under a fresh credential: refused as replayed
	// (errcode 1 is ours: WeChat passed or failed it, we do not accept it).
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
	// Three refusals or failures: manual review.
	if replayed.AttemptsLeft != 0 || replayed.State != string(workflows.StateManualReview) {
		t.Fatalf("after three failures: %+v", replayed)
	}
	audit, _ := e.deps.store.FaceAttempts(ctx, order)
	checks := []string{}
	for _, a := range audit {
		checks = append(checks, a.Outcome+":"+a.FailedCheck)
	}
	if len(audit) != 3 || audit[2].FailedCheck != "replayed" || audit[0].FailedCheck != "openid" {
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
