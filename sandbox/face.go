package sandbox

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

type userIDKey struct {
	NameMD5 string    `json:"nameMd5"`
	IDMD5   string    `json:"idMd5"`
	Expires time.Time `json:"expires"`
}

type faceResult struct {
	UserIDKey    string    `json:"userIdKey"`
	OpenID       string    `json:"openid"`
	IdentifyRet  int       `json:"identifyRet"`
	IdentifyTime time.Time `json:"identifyTime"`
	Expired      bool      `json:"expired"`
}

type verifyID struct {
	OutSeqNo  string    `json:"outSeqNo"`
	CertHash  string    `json:"certHash"`
	OpenID    string    `json:"openid"`
	Expires   time.Time `json:"expires"`
	Scanned   bool      `json:"scanned"`
	VerifyRet int       `json:"verifyRet"`
	QueryErr  int       `json:"queryErr,omitempty"` // an errcode queryverifyinfo answers instead of a result
}

// Face outcomes the phone endpoints accept.
const (
	OutcomePass         = "pass"
	OutcomeMismatchID   = "mismatch_id"   // 10003
	OutcomeMismatchFace = "mismatch_face" // 10004
	OutcomeCancel       = "cancel"        // the user backed out: 1.0 errCode 90100, 2.0 verify_ret 90004
	OutcomeDevice       = "device"        // the device could not scan: 1.0 errCode 90101, 2.0 verify_ret 90001
	OutcomeExpired      = "expired"       // the result is already expired when the server asks (84002)
	OutcomeOtherOpenID  = "other_openid"  // the scan was done by another WeChat user
)

// Face 2.0 verify_ret values, as WeChat's queryVerifyInfo documents them.
const (
	verifyRetPass          = 10000
	verifyRetIDMismatch    = 10003
	verifyRetFaceMismatch  = 10004
	verifyRetNoFaceSupport = 90001 // 设备不支持人脸检测
	verifyRetCancelled     = 90004 // 用户在识别过程中取消
)

// OtherOpenID is the openid a 1.0 result reports for OutcomeOtherOpenID.
const OtherOpenID = "o_sandbox_someone_else"

// faceCredentialLife is WeChat's expires_in for user_id_key and verify_id.
const faceCredentialLife = time.Hour

func (s *Sandbox) routeFace() {
	s.mux.HandleFunc("POST /cityservice/face/identify/getuseridkey", s.wechatEndpoint("getuseridkey", s.withToken(s.getUserIDKey)))
	s.mux.HandleFunc("POST /cityservice/face/identify/getinfo", s.wechatEndpoint("getinfo", s.withToken(s.getInfo)))
	s.mux.HandleFunc("POST /cityservice/face/identify/getverifyid", s.wechatEndpoint("getverifyid", s.withToken(s.getVerifyID)))
	s.mux.HandleFunc("POST /cityservice/face/identify/queryverifyinfo", s.wechatEndpoint("queryverifyinfo", s.withToken(s.queryVerifyInfo)))

	s.mux.HandleFunc("POST /sandbox/face/v1/scan", s.phoneScanV1)
	s.mux.HandleFunc("POST /sandbox/face/v2/verify", s.phoneVerifyV2)
}

func (s *Sandbox) getUserIDKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name     string `json:"name"`
		IDNumber string `json:"id_card_number"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Name == "" || req.IDNumber == "" {
		writeErr(w, 84006, "name or id_card_number is empty")
		return
	}
	key := randomID("uik_", 16)
	s.mu.Lock()
	s.state.UserIDKeys[key] = &userIDKey{NameMD5: md5hex(req.Name), IDMD5: md5hex(strings.ToUpper(req.IDNumber)), Expires: s.opts.Now().Add(faceCredentialLife)}
	s.save("userIdKeys", key)
	s.mu.Unlock()
	writeJSON(w, ok(map[string]any{"user_id_key": key, "expires_in": int(faceCredentialLife.Seconds())}))
}

func (s *Sandbox) getInfo(w http.ResponseWriter, r *http.Request) {
	var req struct {
		VerifyResult string `json:"verify_result"`
	}
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, found := s.state.Results[req.VerifyResult]
	if !found {
		writeErr(w, 84001, "invalid verify_result")
		return
	}
	if res.Expired || s.opts.Now().Sub(res.IdentifyTime) > faceCredentialLife {
		writeErr(w, 84002, "verify_result expired")
		return
	}
	key := s.state.UserIDKeys[res.UserIDKey]
	writeJSON(w, ok(map[string]any{
		"identify_ret":       res.IdentifyRet,
		"identify_time":      res.IdentifyTime.Unix(),
		"validate_data":      "sandbox",
		"openid":             res.OpenID,
		"user_id_key":        res.UserIDKey,
		"finish_time":        res.IdentifyTime.Unix(),
		"id_card_number_md5": key.IDMD5,
		"name_utf8_md5":      key.NameMD5,
	}))
}

func (s *Sandbox) getVerifyID(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OutSeqNo string `json:"out_seq_no"`
		CertInfo struct {
			CertType string `json:"cert_type"`
			CertName string `json:"cert_name"`
			CertNo   string `json:"cert_no"`
		} `json:"cert_info"`
		OpenID string `json:"openid"`
	}
	if !decode(w, r, &req) {
		return
	}
	if !validOutSeqNo(req.OutSeqNo) || req.OpenID == "" || req.CertInfo.CertType != "IDENTITY_CARD" {
		writeErr(w, 40097, "invalid args")
		return
	}
	if req.CertInfo.CertName == "" || req.CertInfo.CertNo == "" {
		writeErr(w, 84006, "cert_name or cert_no is empty")
		return
	}
	hash := certHash(req.CertInfo.CertType, req.CertInfo.CertName, req.CertInfo.CertNo)
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, dup := s.state.OutSeqNos[req.OutSeqNo]; dup {
		v := s.state.VerifyIDs[id]
		if v.CertHash != hash || v.OpenID != req.OpenID {
			writeErr(w, 40097, "out_seq_no already used with other parameters")
			return
		}
		// Same request again: out_seq_no makes the call idempotent, unique per appid for ever.
		writeJSON(w, ok(map[string]any{"verify_id": id, "expires_in": max(0, int(v.Expires.Sub(s.opts.Now()).Seconds()))}))
		return
	}
	id := randomID("vid_", 16)
	s.state.VerifyIDs[id] = &verifyID{OutSeqNo: req.OutSeqNo, CertHash: hash, OpenID: req.OpenID, Expires: s.opts.Now().Add(faceCredentialLife)}
	s.state.OutSeqNos[req.OutSeqNo] = id
	s.save("verifyIds", id)
	s.save("outSeqNos", req.OutSeqNo)
	writeJSON(w, ok(map[string]any{"verify_id": id, "expires_in": int(faceCredentialLife.Seconds())}))
}

func (s *Sandbox) queryVerifyInfo(w http.ResponseWriter, r *http.Request) {
	var req struct {
		VerifyID string `json:"verify_id"`
		OutSeqNo string `json:"out_seq_no"`
		CertHash string `json:"cert_hash"`
		OpenID   string `json:"openid"`
	}
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, found := s.state.VerifyIDs[req.VerifyID]
	switch {
	case !found || v.OutSeqNo != req.OutSeqNo || v.CertHash != req.CertHash || v.OpenID != req.OpenID:
		writeErr(w, 84001, "invalid verify_id or parameters do not match it")
	case v.QueryErr != 0:
		writeErr(w, v.QueryErr, "verification cannot be used")
	case !v.Scanned:
		// WeChat does not document the answer before the user finished: the sandbox answers no verify_ret at all,
		// which is no verdict.
		writeJSON(w, ok(nil))
	default:
		writeJSON(w, ok(map[string]any{"verify_ret": v.VerifyRet}))
	}
}

// phoneScanV1 is wx.startFacialRecognitionVerify: the user scans their face against a user_id_key.
func (s *Sandbox) phoneScanV1(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserIDKey string `json:"userIdKey"`
		OpenID    string `json:"openid"`
		Outcome   string `json:"outcome"`
	}
	if !decode(w, r, &req) {
		return
	}
	outcome := phoneOutcome(req.Outcome)
	s.mu.Lock()
	defer s.mu.Unlock()
	key, found := s.state.UserIDKeys[req.UserIDKey]
	switch {
	case !found || s.opts.Now().After(key.Expires):
		writeJSON(w, map[string]any{"errCode": 10041, "errMsg": "startFacialRecognitionVerify:fail invalid user_id_key"})
		return
	case !validOpenID(req.OpenID):
		phoneFail(w, "startFacialRecognitionVerify:fail openid is required")
		return
	case outcome == OutcomeCancel:
		writeJSON(w, map[string]any{"errCode": 90100, "errMsg": "startFacialRecognitionVerify:fail cancel"})
		return
	case outcome == OutcomeDevice:
		writeJSON(w, map[string]any{"errCode": 90101, "errMsg": "startFacialRecognitionVerify:fail device error"})
		return
	}
	res := &faceResult{UserIDKey: req.UserIDKey, OpenID: req.OpenID, IdentifyTime: s.opts.Now()}
	switch outcome {
	case OutcomePass:
	case OutcomeMismatchID:
		res.IdentifyRet = 10003
	case OutcomeMismatchFace:
		res.IdentifyRet = 10004
	case OutcomeExpired:
		res.Expired = true
	case OutcomeOtherOpenID:
		res.OpenID = OtherOpenID
	default:
		phoneFail(w, "startFacialRecognitionVerify:fail unknown outcome")
		return
	}
	token := randomID("vr_", 20)
	s.state.Results[token] = res
	s.save("results", token)
	// The phone reports errCode 0 whenever the scan ran: the real result is only what the server asks getinfo.
	writeJSON(w, map[string]any{"errCode": 0, "errMsg": "startFacialRecognitionVerify:ok", "verifyResult": token})
}

// phoneVerifyV2 is wx.requestFacialVerify: the user runs a verification against a verify_id. openid, when given,
// is the WeChat user holding the phone; WeChat runs the verification only for the user the verify_id is bound to.
func (s *Sandbox) phoneVerifyV2(w http.ResponseWriter, r *http.Request) {
	var req struct {
		VerifyID string `json:"verifyId"`
		OpenID   string `json:"openid"`
		Outcome  string `json:"outcome"`
	}
	if !decode(w, r, &req) {
		return
	}
	outcome := phoneOutcome(req.Outcome)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, found := s.state.VerifyIDs[req.VerifyID]
	switch {
	case !found || s.opts.Now().After(v.Expires):
		writeJSON(w, map[string]any{"errCode": 10041, "errMsg": "requestFacialVerify:fail invalid verifyId"})
		return
	case outcome == OutcomeOtherOpenID || req.OpenID != "" && req.OpenID != v.OpenID:
		writeJSON(w, map[string]any{"errCode": -1, "errMsg": "requestFacialVerify:fail verifyId belongs to another user"})
		return
	}
	switch outcome {
	case OutcomePass:
		v.VerifyRet = verifyRetPass
	case OutcomeMismatchID:
		v.VerifyRet = verifyRetIDMismatch
	case OutcomeMismatchFace:
		v.VerifyRet = verifyRetFaceMismatch
	case OutcomeCancel:
		v.VerifyRet = verifyRetCancelled
	case OutcomeDevice:
		v.VerifyRet = verifyRetNoFaceSupport
	case OutcomeExpired:
		v.QueryErr = 84002
	default:
		phoneFail(w, "requestFacialVerify:fail unknown outcome")
		return
	}
	v.Scanned = true
	s.save("verifyIds", req.VerifyID)
	writeJSON(w, map[string]any{"errCode": 0, "errMsg": "requestFacialVerify:ok"})
}

// phoneOutcome is the outcome a phone request wants, "pass" when it names none.
func phoneOutcome(s string) string {
	if o := trimLower(s); o != "" {
		return o
	}
	return OutcomePass
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// certHash is computed here independently of the client, so a client bug cannot hide behind a shared helper.
func certHash(certType, name, no string) string {
	enc := base64.StdEncoding.EncodeToString
	sum := sha256.Sum256([]byte("cert_type=" + enc([]byte(certType)) + "&cert_name=" + enc([]byte(name)) + "&cert_no=" + enc([]byte(no))))
	return hex.EncodeToString(sum[:])
}

func validOutSeqNo(s string) bool {
	return len(s) >= 5 && len(s) <= 32 && onlyRunes(s, "_-")
}

func validOpenID(s string) bool {
	return len(s) >= 1 && len(s) <= 64 && onlyRunes(s, "_-")
}

// onlyRunes: letters, digits and the extra characters only.
func onlyRunes(s, extra string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
}
