package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// The payee's face verification: the credential (the seed's apiGetUserIdKey) and the server's second check of
// the result (apiVerifyFace), in the seed's wire shape.

// startFace is the seed's apiGetUserIdKey: a face credential for the payee's real-name identity.
func (h *handlers) startFace(c *gin.Context) {
	o, ok := h.ownOrder(c)
	if !ok {
		return
	}
	var req struct {
		Source int `json:"source"` // the 1.0 page sends source: 1
	}
	if !bind(c, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	if req.Source == legacyFaceSource {
		// The 1.0 page (apiGetUserIdKey({source: 1})) cannot run a v2 credential: say so before one is issued (each
		// costs WeChat quota).
		if v, err := h.queryView(ctx, o.ID); err == nil && v.Face != nil && v.Face.Mode != faceModeV1 {
			c.Header("Upgrade", upgradeTo)
			abort(c, withSeedCode(errClientOutdated))
			return
		}
	}
	var res workflows.FaceStartResult
	openid, id := c.GetString("openid"), updateID(c, workflows.UpdateFaceStart)
	if err := h.update(ctx, o.ID, workflows.UpdateFaceStart, id, actor{workflows.RolePayee, openid}, func(proof string) any {
		return workflows.FaceStartRequest{OpenID: openid, Proof: proof}
	}, &res); err != nil {
		abort(c, withSeedCode(fromError(err)))
		return
	}
	if req.Source == legacyFaceSource && res.UserIDKey == "" {
		c.Header("Upgrade", upgradeTo) // the run's mode changed between the look and the credential
		abort(c, withSeedCode(errClientOutdated))
		return
	}
	body := gin.H{"errcode": 0, "errmsg": "ok", "mode": res.Mode, "expiresAt": res.ExpiresAt, "attemptsLeft": res.AttemptsLeft}
	if res.UserIDKey != "" {
		body["userIdKey"] = res.UserIDKey
	}
	if res.VerifyID != "" {
		body["verifyId"] = res.VerifyID
	}
	c.JSON(http.StatusOK, body)
}

// legacyFaceSource is the source the 1.0 page sends with apiGetUserIdKey; it only knows face verification 1.0.
// Clients that can run 2.0 (the kit) send no source.
const legacyFaceSource = 1

var errClientOutdated = &Problem{Status: http.StatusUpgradeRequired, Code: "CLIENT_OUTDATED", Message: "请更新小程序后重试"}

// faceModeV1 is the face verification the 1.0 page runs; upgradeTo, what a 426 asks the client to become (RFC 9110
// §15.5.22: a 426 sends Upgrade).
const (
	faceModeV1 = "v1"
	upgradeTo  = "receiptflow-face/2"
)

// submitFace is the seed's apiVerifyFace (二次校验): pass only when identifyRet and errcode are both 0.
func (h *handlers) submitFace(c *gin.Context) {
	o, ok := h.ownOrder(c)
	if !ok {
		return
	}
	var req struct {
		VerifyResult string `json:"verifyResult"` // v1: wx.startFacialRecognitionVerify's verifyResult
		VerifyID     string `json:"verifyId"`     // v2: the verifyId wx.requestFacialVerify ran with
		Source       int    `json:"source"`
	}
	if !bind(c, &req) {
		return
	}
	result := strings.TrimSpace(req.VerifyResult)
	if result == "" {
		result = strings.TrimSpace(req.VerifyID)
	}
	if result == "" || len(result) > 1024 || store.CheckText("verifyResult", result, 1, 1024) != nil {
		abort(c, withSeedCode(problem(http.StatusBadRequest, "BAD_REQUEST", "缺少人脸核验结果（verifyResult (v1) or verifyId (v2) is required）")))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.UpdateWait)
	defer cancel()
	var res workflows.FaceSubmitResult
	openid, id := c.GetString("openid"), updateID(c, workflows.UpdateFaceSubmit)
	if err := h.update(ctx, o.ID, workflows.UpdateFaceSubmit, id, actor{workflows.RolePayee, openid}, func(proof string) any {
		return workflows.FaceSubmitRequest{OpenID: openid, VerifyResult: result, Proof: proof}
	}, &res); err != nil {
		abort(c, withSeedCode(fromError(err)))
		return
	}
	c.JSON(http.StatusOK, faceAnswer(res))
}

// faceAnswer keeps the seed's contract: identifyRet == 0 && errcode == 0 means pass, and never otherwise.
func faceAnswer(res workflows.FaceSubmitResult) gin.H {
	identifyRet, errcode := res.Code, 0
	switch res.Outcome {
	case workflows.FacePass:
		identifyRet = 0
	case workflows.FaceFail:
		if identifyRet == 0 {
			identifyRet = -1
		}
	case workflows.FaceRetry:
		errcode, identifyRet = res.Code, -1
	case workflows.FaceRefused:
		errcode, identifyRet = faceRefusedErrCode, -1
	}
	return gin.H{"identifyRet": identifyRet, "errcode": errcode, "errmsg": res.Message, "passed": res.Passed,
		"outcome": res.Outcome, "attemptsLeft": res.AttemptsLeft, "state": res.State}
}

// faceRefusedErrCode is our errcode for a result WeChat passed but we refused (another payee's, replayed, stale).
const faceRefusedErrCode = 1

// withSeedCode adds the seed's errcode/errmsg to a problem so its front end can keep checking errcode.
func withSeedCode(p *Problem) *Problem {
	if p.ErrCode != nil {
		q := *p
		q.ErrMsg = p.Message
		return &q
	}
	code := -1
	q := *p
	q.ErrCode, q.ErrMsg = &code, p.Message
	return &q
}
