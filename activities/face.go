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
// verify_id. The credential is the run's seq-th; its out_seq_no carries a number that is unique per order for ever,
// so a later run never gets an earlier run's verification back, while a retried activity gets the same one
// (getverifyid is idempotent on out_seq_no).
func (a *Activities) IssueFaceCredential(ctx context.Context, in workflows.FaceCredentialInput) (workflows.FaceCredential, error) {
	id, err := a.Orders.Identity(ctx, in.PayeeID)
	if err != nil {
		return workflows.FaceCredential{}, classify(err)
	}
	now := a.now()
	cred := workflows.FaceCredential{Mode: a.Config.FaceMode, Seq: in.Seq, RunID: activity.GetInfo(ctx).WorkflowExecution.RunID, IssuedAt: now}
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
		number, err := a.Faces.FaceCredentialNumber(ctx, in.OrderID, cred.RunID, in.Seq)
		if err != nil {
			return cred, classify(err)
		}
		if cred.OutSeqNo, err = OutSeqNo(in.OrderID, number); err != nil {
			return cred, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeFaceUnusable, err)
		}
		v, err := a.WeChat.GetVerifyID(ctx, cred.OutSeqNo, id.Name, id.IDNumber, in.OpenID)
		if err != nil {
			log.Warn("getverifyid failed", "orderId", in.OrderID, "name", pii.MaskName(id.Name), "idNumber", pii.MaskIDNumber(id.IDNumber), "error", err)
			return cred, credentialError(err)
		}
		cred.VerifyID, cred.ExpiresAt = v.ID, now.Add(time.Duration(v.ExpiresIn)*time.Second)
	default:
		return cred, temporal.NewNonRetryableApplicationError("unknown face mode "+a.Config.FaceMode, workflows.ErrTypeMisconfigured, nil)
	}
	log.Info("face credential issued", "orderId", in.OrderID, "mode", cred.Mode, "seq", cred.Seq, "outSeqNo", cred.OutSeqNo)
	return cred, nil
}

// OutSeqNo is face verification 2.0's out_seq_no for an order's number-th credential: {order}_{number}. The
// underscore keeps it apart from the {order}F{n} numbers of earlier versions, which WeChat still remembers.
func OutSeqNo(orderID string, number int) (string, error) {
	s := fmt.Sprintf("%s_%d", orderID, number)
	if !wechat.ValidOutSeqNo(s) {
		return "", fmt.Errorf("out_seq_no %q is not 5-32 of [0-9A-Za-z_-]", s)
	}
	return s, nil
}

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
	checkCredential = "credential" // the result is for another credential than the one this run issued
	checkOpenID     = "openid"     // the scan was done by another WeChat user
	checkIdentity   = "identity"   // WeChat verified another name or ID number
	checkStale      = "stale"      // the result came after the credential's lifetime: scan again, not counted
	checkReplayed   = "replayed"   // the result was already accepted once, by another run or credential
	checkUnfinished = "unfinished" // WeChat has no usable outcome for it (not scanned, expired, unknown)
)

// VerifyFace asks WeChat for the real outcome of a scan (二次校验) and binds it to the payee: pass only when the
// call succeeded, WeChat says pass, and the result is this payee's, for this run's credential, in time, and never
// accepted before. A result that is not this payee's for this credential is refused without being claimed, so a
// third party submitting someone's genuine result cannot burn it for its owner.
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
	runID := in.Credential.RunID
	if runID == "" { // a credential issued before credentials named their run
		runID = activity.GetInfo(ctx).WorkflowExecution.RunID
	}
	attempt := store.FaceAttempt{OrderID: in.OrderID, PayeeID: in.PayeeID, RunID: runID, Attempt: in.Credential.Seq, Mode: in.Credential.Mode,
		Outcome: v.Outcome, Code: v.Code, FailedCheck: v.FailedCheck}
	if v.Outcome == workflows.FacePass || v.Outcome == workflows.FaceFail {
		// WeChat judged this payee's own credential: the result is used up, once, ever.
		attempt.ResultHash = a.Hasher.Token(in.Credential.Mode + ":" + in.VerifyResult)
		recorded, err := a.Faces.ClaimFaceResult(ctx, attempt)
		switch {
		case errors.Is(err, store.ErrResultReused):
			v = refused(checkReplayed, v.Code)
			attempt.Outcome, attempt.FailedCheck, attempt.ResultHash = v.Outcome, v.FailedCheck, ""
			if err := a.Faces.RecordFaceAttempt(ctx, attempt, fmt.Sprintf("%s-%d-%s", runID, in.Credential.Seq, checkReplayed)); err != nil {
				return v, classify(err)
			}
		case err != nil:
			return v, classify(err)
		default:
			// A retried activity finds its own earlier claim: answer what was decided then.
			v.Outcome, v.FailedCheck, v.Code = recorded.Outcome, recorded.FailedCheck, recorded.Code
			v.Message = faceMessage(v)
		}
	} else if err := a.Faces.RecordFaceAttempt(ctx, attempt, fmt.Sprintf("%s-%d-%s", runID, in.Credential.Seq, v.Outcome)); err != nil {
		return v, classify(err)
	}
	if v.Outcome == workflows.FacePass {
		// The registered name and ID number are now bound to the person holding this WeChat account.
		if err := a.Orders.MarkFaceVerified(ctx, in.PayeeID); err != nil {
			return v, classify(err)
		}
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"mode": in.Credential.Mode, "outcome": v.Outcome}).Counter("receiptflow_face_attempts").Inc(1)
	activity.GetLogger(ctx).Info("face verified", "orderId", in.OrderID, "mode", in.Credential.Mode, "seq", in.Credential.Seq,
		"outcome", v.Outcome, "code", v.Code, "failedCheck", v.FailedCheck)
	return v, nil
}

func (a *Activities) verifyV1(ctx context.Context, in workflows.VerifyFaceInput) (workflows.FaceVerdict, error) {
	now := a.now()
	if now.After(in.Credential.ExpiresAt) {
		// Past the credential's hour: whatever the result says, it is too late to use, even if WeChat forgot it.
		return retry(checkStale, 0), nil
	}
	info, err := a.WeChat.GetInfo(ctx, in.VerifyResult)
	if err != nil {
		if wechat.ClassOf(err) == wechat.User {
			return retry(checkUnfinished, wechat.CodeOf(err)), nil
		}
		return workflows.FaceVerdict{}, classify(err)
	}
	id, err := a.Orders.Identity(ctx, in.PayeeID)
	if err != nil {
		return workflows.FaceVerdict{}, classify(err)
	}
	identified := time.Unix(info.IdentifyTime, 0)
	switch {
	case info.UserIDKey != in.Credential.UserIDKey:
		return refused(checkCredential, info.IdentifyRet), nil
	case info.OpenID != in.OpenID:
		return refused(checkOpenID, info.IdentifyRet), nil
	case info.IDCardNumberMD5 != wechat.IDNumberMD5(id.IDNumber) || info.NameUTF8MD5 != wechat.NameMD5(id.Name):
		return refused(checkIdentity, info.IdentifyRet), nil
	case identified.Before(in.Credential.IssuedAt.Add(-time.Minute)) || now.Sub(identified) > faceResultMaxAge:
		return retry(checkStale, info.IdentifyRet), nil
	case info.IdentifyRet != 0:
		return failed(info.IdentifyRet), nil
	}
	return workflows.FaceVerdict{Outcome: workflows.FacePass, Code: 0, Message: "ok"}, nil
}

// faceResultMaxAge is how old a scan may be when it is checked: the credential's own lifetime.
const faceResultMaxAge = time.Hour

func (a *Activities) verifyV2(ctx context.Context, in workflows.VerifyFaceInput) (workflows.FaceVerdict, error) {
	// The front end reports the verifyId it ran with; anything else is not this run's verification.
	if in.VerifyResult != in.Credential.VerifyID {
		return refused(checkCredential, 0), nil
	}
	if a.now().After(in.Credential.ExpiresAt) {
		return retry(checkStale, 0), nil
	}
	id, err := a.Orders.Identity(ctx, in.PayeeID)
	if err != nil {
		return workflows.FaceVerdict{}, classify(err)
	}
	// Asked with our own out_seq_no, openid and identity hash: WeChat answers only for the verification bound to them.
	hash := wechat.CertHash(wechat.CertTypeIdentityCard, id.Name, id.IDNumber)
	ret, err := a.WeChat.QueryVerifyInfo(ctx, in.Credential.VerifyID, in.Credential.OutSeqNo, hash, in.OpenID)
	if err != nil {
		// WeChat's documentation gives no errcode a meaning beyond "not usable": scan again, not counted.
		if wechat.ClassOf(err) == wechat.User {
			return retry(checkUnfinished, wechat.CodeOf(err)), nil
		}
		return workflows.FaceVerdict{}, classify(err)
	}
	switch {
	case ret == wechat.VerifyRetPass:
		return workflows.FaceVerdict{Outcome: workflows.FacePass, Code: ret, Message: "ok"}, nil
	case wechat.IsDeviceOrCancel(ret):
		return retry("", ret), nil
	case wechat.IsIdentityMismatch(ret):
		return failed(ret), nil
	}
	// Not in WeChat's verify_ret table (0 before the scan finished, say): no verdict yet.
	return retry(checkUnfinished, ret), nil
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

func retry(check string, code int) workflows.FaceVerdict {
	v := workflows.FaceVerdict{Outcome: workflows.FaceRetry, Code: code, FailedCheck: check}
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
	case v.FailedCheck == checkStale:
		return "人脸核验已超时，请重新扫脸"
	case v.FailedCheck == checkUnfinished:
		return "人脸核验未完成或已失效，请重新扫脸"
	case wechat.IsUserCancel(v.Code):
		return "用户取消人脸识别，无法正常收款"
	case wechat.IsDeviceOrCancel(v.Code):
		return "当前设备无法完成人脸识别，请检查相机权限和网络后重试"
	case v.Code == 10003:
		return "身份信息与实名信息不一致"
	}
	return "人脸识别失败，请稍后重试"
}
