package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechat"
	"github.com/receiptflow/receiptflow/workflows"
)

// IssueFaceCredential asks WeChat for a face credential for the payee's real-name identity: v1 user_id_key, v2
// verify_id (idempotent on out_seq_no, derived from the order and the credential's sequence number).
func (a *Activities) IssueFaceCredential(ctx context.Context, in workflows.FaceCredentialInput) (workflows.FaceCredential, error) {
	id, err := a.Orders.Identity(ctx, in.PayeeID)
	if err != nil {
		return workflows.FaceCredential{}, classify(err)
	}
	now := a.now()
	cred := workflows.FaceCredential{Mode: a.Config.FaceMode, Seq: in.Seq, IssuedAt: now}
	log := activity.GetLogger(ctx)
	switch a.Config.FaceMode {
	case FaceV1:
		k, err := a.WeChat.GetUserIDKey(ctx, id.Name, id.IDNumber)
		if err != nil {
			log.Warn("getuseridkey failed", "orderId", in.OrderID, "name", pii.MaskName(id.Name), "idNumber", pii.MaskIDNumber(id.IDNumber), "error", err)
			return cred, credentialError(err)
		}
		cred.UserIDKey, cred.ExpiresAt = k.Key, now.Add(time.Duration(k.ExpiresIn)*time.Second)
	case FaceV2:
		cred.OutSeqNo = OutSeqNo(in.OrderID, in.Seq)
		v, err := a.WeChat.GetVerifyID(ctx, cred.OutSeqNo, id.Name, id.IDNumber, in.OpenID)
		if err != nil {
			log.Warn("getverifyid failed", "orderId", in.OrderID, "name", pii.MaskName(id.Name), "idNumber", pii.MaskIDNumber(id.IDNumber), "error", err)
			return cred, credentialError(err)
		}
		cred.VerifyID, cred.ExpiresAt = v.ID, now.Add(time.Duration(v.ExpiresIn)*time.Second)
	default:
		return cred, temporal.NewNonRetryableApplicationError("unknown face mode "+a.Config.FaceMode, workflows.ErrTypeMisconfigured, nil)
	}
	log.Info("face credential issued", "orderId", in.OrderID, "mode", cred.Mode, "seq", cred.Seq)
	return cred, nil
}

// OutSeqNo is face verification 2.0's out_seq_no for the seq-th credential of an order: unique per attempt,
// stable across retries of the same attempt.
func OutSeqNo(orderID string, seq int) string { return fmt.Sprintf("%sF%d", orderID, seq) }

// credentialError: WeChat refusing this identity (84006 and other non-transient codes) is a business failure the
// payee sees as 获取扫脸用户凭证失败; transport trouble is retried.
func credentialError(err error) error {
	var we *wechat.Error
	if errors.As(err, &we) && (we.Class == wechat.User || we.Class == wechat.Fatal) {
		return temporal.NewNonRetryableApplicationError(we.Error(), workflows.ErrTypeFaceUnusable, err, we.Code)
	}
	return classify(err)
}

// Binding checks a face result must pass besides WeChat's own verdict. Each names the audit's failed_check.
const (
	checkCredential = "credential" // the result is for another credential than the one we issued
	checkOpenID     = "openid"     // the scan was done by another WeChat user
	checkIdentity   = "identity"   // WeChat verified another name or ID number
	checkStale      = "stale"      // the result is older than the credential's lifetime
	checkReplayed   = "replayed"   // the result was already accepted once
)

// faceResultMaxAge is how old a scan may be: the credential's own lifetime.
const faceResultMaxAge = time.Hour

// VerifyFace asks WeChat for the real outcome of a scan (二次校验) and binds it to the payee: pass only when the
// call succeeded, WeChat says pass, the result is this payee's, for this credential, fresh, and never used before.
func (a *Activities) VerifyFace(ctx context.Context, in workflows.VerifyFaceInput) (workflows.FaceVerdict, error) {
	var v workflows.FaceVerdict
	var err error
	switch in.Credential.Mode {
	case FaceV1:
		v, err = a.verifyV1(ctx, in)
	case FaceV2:
		v, err = a.verifyV2(ctx, in)
	default:
		return v, temporal.NewNonRetryableApplicationError("unknown face mode "+in.Credential.Mode, workflows.ErrTypeMisconfigured, nil)
	}
	if err != nil {
		return v, err
	}
	// One result, one acceptance: the keyed hash of the result is unique in the audit.
	attempt := store.FaceAttempt{OrderID: in.OrderID, PayeeID: in.PayeeID, Attempt: in.Credential.Seq, Mode: in.Credential.Mode,
		Outcome: v.Outcome, Code: v.Code, FailedCheck: v.FailedCheck, ResultHash: a.Hasher.Token(in.Credential.Mode + ":" + in.VerifyResult)}
	recorded, err := a.Faces.ClaimFaceResult(ctx, attempt)
	switch {
	case errors.Is(err, store.ErrResultReused):
		v = refused(checkReplayed, v.Code)
		attempt.Outcome, attempt.FailedCheck = v.Outcome, v.FailedCheck
		key := fmt.Sprintf("%s-%d-%s", in.OrderID, in.Credential.Seq, checkReplayed)
		if err := a.Faces.RecordFaceAttempt(ctx, attempt, key); err != nil {
			return v, classify(err)
		}
	case err != nil:
		return v, classify(err)
	default:
		// A retried activity finds its own earlier claim: answer what was decided then.
		v.Outcome, v.FailedCheck, v.Code = recorded.Outcome, recorded.FailedCheck, recorded.Code
		if v.Outcome != workflows.FacePass && v.Message == "" {
			v.Message = faceMessage(v)
		}
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"mode": in.Credential.Mode, "outcome": v.Outcome}).Counter("receiptflow_face_attempts").Inc(1)
	activity.GetLogger(ctx).Info("face verified", "orderId", in.OrderID, "mode", in.Credential.Mode, "seq", in.Credential.Seq,
		"outcome", v.Outcome, "code", v.Code, "failedCheck", v.FailedCheck)
	return v, nil
}

func (a *Activities) verifyV1(ctx context.Context, in workflows.VerifyFaceInput) (workflows.FaceVerdict, error) {
	info, err := a.WeChat.GetInfo(ctx, in.VerifyResult)
	if err != nil {
		if v, ok := userFacing(err); ok {
			return v, nil
		}
		return workflows.FaceVerdict{}, classify(err)
	}
	id, err := a.Orders.Identity(ctx, in.PayeeID)
	if err != nil {
		return workflows.FaceVerdict{}, classify(err)
	}
	now := a.now()
	identified := time.Unix(info.IdentifyTime, 0)
	switch {
	case info.UserIDKey != in.Credential.UserIDKey:
		return refused(checkCredential, info.IdentifyRet), nil
	case info.OpenID != in.OpenID:
		return refused(checkOpenID, info.IdentifyRet), nil
	case info.IDCardNumberMD5 != wechat.IDNumberMD5(id.IDNumber) || info.NameUTF8MD5 != wechat.NameMD5(id.Name):
		return refused(checkIdentity, info.IdentifyRet), nil
	case now.Sub(identified) > faceResultMaxAge || identified.Before(in.Credential.IssuedAt.Add(-time.Minute)):
		return refused(checkStale, info.IdentifyRet), nil
	case info.IdentifyRet != 0:
		return failed(info.IdentifyRet), nil
	}
	return workflows.FaceVerdict{Outcome: workflows.FacePass, Code: 0, Message: "ok"}, nil
}

func (a *Activities) verifyV2(ctx context.Context, in workflows.VerifyFaceInput) (workflows.FaceVerdict, error) {
	// The front end reports the verifyId it ran with; anything else is not this run's verification.
	if in.VerifyResult != in.Credential.VerifyID {
		return refused(checkCredential, 0), nil
	}
	if a.now().After(in.Credential.ExpiresAt) {
		return refused(checkStale, 0), nil
	}
	id, err := a.Orders.Identity(ctx, in.PayeeID)
	if err != nil {
		return workflows.FaceVerdict{}, classify(err)
	}
	// Asked with our own openid and identity hash: WeChat answers pass only for the verification bound to them.
	hash := wechat.CertHash(wechat.CertTypeIdentityCard, id.Name, id.IDNumber)
	ret, err := a.WeChat.QueryVerifyInfo(ctx, in.Credential.VerifyID, in.Credential.OutSeqNo, hash, in.OpenID)
	if err != nil {
		if wechat.CodeOf(err) == wechat.CodeVerifyResultBad {
			return refused(checkOpenID, wechat.CodeVerifyResultBad), nil
		}
		if v, ok := userFacing(err); ok {
			return v, nil
		}
		return workflows.FaceVerdict{}, classify(err)
	}
	switch {
	case ret == wechat.VerifyRetPass:
		return workflows.FaceVerdict{Outcome: workflows.FacePass, Code: ret, Message: "ok"}, nil
	case wechat.IsDeviceOrCancel(ret):
		return retry(ret), nil
	}
	return failed(ret), nil
}

// userFacing turns WeChat's "this result is expired or unknown" into a verdict the payee can act on.
func userFacing(err error) (workflows.FaceVerdict, bool) {
	var we *wechat.Error
	if errors.As(err, &we) && we.Class == wechat.User {
		return retry(we.Code), true
	}
	return workflows.FaceVerdict{}, false
}

func refused(check string, code int) workflows.FaceVerdict {
	v := workflows.FaceVerdict{Outcome: workflows.FaceRefused, Code: code, FailedCheck: check}
	v.Message = faceMessage(v)
	return v
}

func failed(code int) workflows.FaceVerdict {
	v := workflows.FaceVerdict{Outcome: workflows.FaceFail, Code: code}
	v.Message = faceMessage(v)
	return v
}

func retry(code int) workflows.FaceVerdict {
	v := workflows.FaceVerdict{Outcome: workflows.FaceRetry, Code: code}
	v.Message = faceMessage(v)
	return v
}

// faceMessage is what the page shows for a verdict (the seed's wording where it has one).
func faceMessage(v workflows.FaceVerdict) string {
	switch {
	case v.Outcome == workflows.FacePass:
		return "ok"
	case v.Outcome == workflows.FaceRefused && v.FailedCheck == checkReplayed:
		return "该人脸核验结果已使用，请重新扫脸"
	case v.Outcome == workflows.FaceRefused:
		return "人脸核验结果与收款人不符"
	case v.Code == 90100:
		return "用户取消人脸识别，无法正常收款"
	case v.Code == wechat.CodeVerifyResultExpiry || v.Code == wechat.CodeVerifyResultBad:
		return "人脸核验结果已失效，请重新扫脸"
	case v.Code == 10003:
		return "身份信息与实名信息不一致"
	}
	return "人脸识别失败，请稍后重试"
}
