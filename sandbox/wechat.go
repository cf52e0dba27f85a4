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

type loginCode struct {
	openid  string
	expires time.Time
	used    bool
}

type userIDKey struct {
	nameMD5, idMD5 string
	expires        time.Time
}

type faceResult struct {
	userIDKey    string
	openid       string
	identifyRet  int
	identifyTime time.Time
	expired      bool
}

type verifyID struct {
	outSeqNo, certHash, openid string
	expires                    time.Time
	scanned                    bool
	verifyRet                  int
	queryErr                   int // an errcode queryverifyinfo answers instead of a result
}

// Face outcomes the phone endpoints accept.
const (
	OutcomePass         = "pass"
	OutcomeMismatchID   = "mismatch_id"   // 10003
	OutcomeMismatchFace = "mismatch_face" // 10004
	OutcomeCancel       = "cancel"        // 90100, the user backed out
	OutcomeDevice       = "device"        // 90004, the device could not scan
	OutcomeExpired      = "expired"       // the result is already expired when the server asks (84002)
	OutcomeOtherOpenID  = "other_openid"  // the scan was done by another WeChat user
)

// OtherOpenID is the openid a result reports for OutcomeOtherOpenID.
const OtherOpenID = "o_sandbox_someone_else"

// faceCredentialLife is WeChat's expires_in for user_id_key and verify_id.
const faceCredentialLife = time.Hour

func (s *Sandbox) routeWeChat() {
	s.mux.HandleFunc("POST /cgi-bin/stable_token", s.wechatEndpoint("stable_token", s.stableToken))
	s.mux.HandleFunc("GET /sns/jscode2session", s.wechatEndpoint("jscode2session", s.jscode2session))
	s.mux.HandleFunc("POST /cityservice/face/identify/getuseridkey", s.wechatEndpoint("getuseridkey", s.withToken(s.getUserIDKey)))
	s.mux.HandleFunc("POST /cityservice/face/identify/getinfo", s.wechatEndpoint("getinfo", s.withToken(s.getInfo)))
	s.mux.HandleFunc("POST /cityservice/face/identify/getverifyid", s.wechatEndpoint("getverifyid", s.withToken(s.getVerifyID)))
	s.mux.HandleFunc("POST /cityservice/face/identify/queryverifyinfo", s.wechatEndpoint("queryverifyinfo", s.withToken(s.queryVerifyInfo)))
	s.mux.HandleFunc("POST /wxa/getuserriskrank", s.wechatEndpoint("getuserriskrank", s.withToken(s.riskRank)))

	s.mux.HandleFunc("POST /sandbox/wx/login", s.phoneLogin)
	s.mux.HandleFunc("POST /sandbox/face/v1/scan", s.phoneScanV1)
	s.mux.HandleFunc("POST /sandbox/face/v2/verify", s.phoneVerifyV2)
	s.mux.HandleFunc("POST /sandbox/risk", s.setRisk)
}

func (s *Sandbox) stableToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if !decode(w, r, &req) {
		return
	}
	switch {
	case req.GrantType != "client_credential":
		writeErr(w, 40002, "invalid grant_type")
		return
	case req.AppID != s.opts.AppID:
		writeErr(w, 40013, "invalid appid")
		return
	case req.Secret != s.opts.Secret:
		writeErr(w, 40125, "invalid appsecret")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if req.ForceRefresh || s.token == "" || !now.Before(s.tokenExpiry) {
		s.token = randomID("sandbox_token_", 16)
		s.tokenExpiry = now.Add(s.opts.TokenTTL)
		s.stats.TokenFetches++
	}
	// Normal mode answers the same token with the time it has left, like WeChat; TokenTTL may make it die sooner.
	writeJSON(w, map[string]any{"access_token": s.token, "expires_in": 7200})
}

// withToken checks access_token as WeChat does: 41001 missing, 42001 expired, 40001 unknown.
func (s *Sandbox) withToken(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("access_token")
		s.mu.Lock()
		current, expiry := s.token, s.tokenExpiry
		s.mu.Unlock()
		switch {
		case tok == "":
			writeErr(w, 41001, "access_token missing")
		case tok != current:
			writeErr(w, 40001, "invalid credential, access_token is invalid or not latest")
		case !s.opts.Now().Before(expiry):
			writeErr(w, 42001, "access_token expired")
		default:
			h(w, r)
		}
	}
}

func (s *Sandbox) jscode2session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("appid") != s.opts.AppID {
		writeErr(w, 40013, "invalid appid")
		return
	}
	if q.Get("secret") != s.opts.Secret {
		writeErr(w, 40125, "invalid appsecret")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, found := s.codes[q.Get("js_code")]
	switch {
	case !found || s.opts.Now().After(c.expires):
		writeErr(w, 40029, "invalid code")
	case c.used:
		writeErr(w, 40163, "code been used")
	default:
		c.used = true
		s.codes[q.Get("js_code")] = c
		writeJSON(w, map[string]any{"openid": c.openid, "session_key": randomID("", 12), "unionid": "u" + c.openid})
	}
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
	s.userIDKeys[key] = &userIDKey{nameMD5: md5hex(req.Name), idMD5: md5hex(strings.ToUpper(req.IDNumber)), expires: s.opts.Now().Add(faceCredentialLife)}
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
	res, found := s.results[req.VerifyResult]
	if !found {
		writeErr(w, 84001, "invalid verify_result")
		return
	}
	if res.expired || s.opts.Now().Sub(res.identifyTime) > faceCredentialLife {
		writeErr(w, 84002, "verify_result expired")
		return
	}
	key := s.userIDKeys[res.userIDKey]
	writeJSON(w, ok(map[string]any{
		"identify_ret":       res.identifyRet,
		"identify_time":      res.identifyTime.Unix(),
		"validate_data":      "sandbox",
		"openid":             res.openid,
		"user_id_key":        res.userIDKey,
		"finish_time":        res.identifyTime.Unix(),
		"id_card_number_md5": key.idMD5,
		"name_utf8_md5":      key.nameMD5,
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
	if id, dup := s.outSeqNos[req.OutSeqNo]; dup {
		v := s.verifyIDs[id]
		if v.certHash != hash || v.openid != req.OpenID {
			writeErr(w, 40097, "out_seq_no already used with other parameters")
			return
		}
		// Same request again: WeChat's out_seq_no makes the call idempotent.
		writeJSON(w, ok(map[string]any{"verify_id": id, "expires_in": int(v.expires.Sub(s.opts.Now()).Seconds())}))
		return
	}
	id := randomID("vid_", 16)
	s.verifyIDs[id] = &verifyID{outSeqNo: req.OutSeqNo, certHash: hash, openid: req.OpenID, expires: s.opts.Now().Add(faceCredentialLife)}
	s.outSeqNos[req.OutSeqNo] = id
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
	v, found := s.verifyIDs[req.VerifyID]
	switch {
	case !found || v.outSeqNo != req.OutSeqNo || v.certHash != req.CertHash || v.openid != req.OpenID:
		writeErr(w, 84001, "invalid verify_id or parameters do not match it")
	case s.opts.Now().After(v.expires):
		writeErr(w, 84002, "verify_id expired")
	case v.queryErr != 0:
		writeErr(w, v.queryErr, "verification cannot be used")
	case !v.scanned:
		// The user has not finished requestFacialVerify: a device/user-side state the front end may retry.
		writeJSON(w, ok(map[string]any{"verify_ret": 90001}))
	default:
		writeJSON(w, ok(map[string]any{"verify_ret": v.verifyRet}))
	}
}

func (s *Sandbox) riskRank(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID    string `json:"appid"`
		OpenID   string `json:"openid"`
		Scene    *int   `json:"scene"`
		ClientIP string `json:"client_ip"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.AppID != s.opts.AppID || req.OpenID == "" || req.Scene == nil {
		writeErr(w, 40097, "invalid args")
		return
	}
	s.mu.Lock()
	rank := s.riskRanks[req.OpenID]
	s.mu.Unlock()
	writeJSON(w, ok(map[string]any{"risk_rank": rank, "unoin_id": 0}))
}

// --- the phone's part ---

// phoneLogin is wx.login: it returns a one-time code for openid, valid five minutes.
func (s *Sandbox) phoneLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OpenID string `json:"openid"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.OpenID == "" {
		http.Error(w, `{"errMsg":"openid is required"}`, http.StatusBadRequest)
		return
	}
	code := randomID("code_", 12)
	s.mu.Lock()
	s.codes[code] = loginCode{openid: req.OpenID, expires: s.opts.Now().Add(5 * time.Minute)}
	s.mu.Unlock()
	writeJSON(w, map[string]any{"code": code, "errMsg": "login:ok"})
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
	key, found := s.userIDKeys[req.UserIDKey]
	switch {
	case !found || s.opts.Now().After(key.expires):
		writeJSON(w, map[string]any{"errCode": 10041, "errMsg": "startFacialRecognitionVerify:fail invalid user_id_key"})
		return
	case req.OpenID == "":
		http.Error(w, `{"errMsg":"openid is required"}`, http.StatusBadRequest)
		return
	case outcome == OutcomeCancel:
		writeJSON(w, map[string]any{"errCode": 90100, "errMsg": "startFacialRecognitionVerify:fail cancel"})
		return
	case outcome == OutcomeDevice:
		writeJSON(w, map[string]any{"errCode": 90004, "errMsg": "startFacialRecognitionVerify:fail device error"})
		return
	}
	res := &faceResult{userIDKey: req.UserIDKey, openid: req.OpenID, identifyTime: s.opts.Now()}
	switch outcome {
	case OutcomePass:
	case OutcomeMismatchID:
		res.identifyRet = 10003
	case OutcomeMismatchFace:
		res.identifyRet = 10004
	case OutcomeExpired:
		res.expired = true
	case OutcomeOtherOpenID:
		res.openid = OtherOpenID
	default:
		http.Error(w, `{"errMsg":"unknown outcome"}`, http.StatusBadRequest)
		return
	}
	token := randomID("vr_", 20)
	s.results[token] = res
	// The phone reports errCode 0 whenever the scan ran: the real result is only what the server asks getinfo.
	writeJSON(w, map[string]any{"errCode": 0, "errMsg": "startFacialRecognitionVerify:ok", "verifyResult": token})
}

// phoneVerifyV2 is wx.requestFacialVerify: the user runs a verification against a verify_id.
func (s *Sandbox) phoneVerifyV2(w http.ResponseWriter, r *http.Request) {
	var req struct {
		VerifyID string `json:"verifyId"`
		Outcome  string `json:"outcome"`
	}
	if !decode(w, r, &req) {
		return
	}
	outcome := phoneOutcome(req.Outcome)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, found := s.verifyIDs[req.VerifyID]
	if !found || s.opts.Now().After(v.expires) {
		writeJSON(w, map[string]any{"errCode": 10041, "errMsg": "requestFacialVerify:fail invalid verifyId"})
		return
	}
	v.scanned = true
	switch outcome {
	case OutcomePass:
		v.verifyRet = 10000
	case OutcomeMismatchID:
		v.verifyRet = 10003
	case OutcomeMismatchFace:
		v.verifyRet = 10004
	case OutcomeCancel:
		v.verifyRet = 90100
	case OutcomeDevice:
		v.verifyRet = 90004
	case OutcomeExpired:
		v.queryErr = 84002
	case OutcomeOtherOpenID:
		v.queryErr = 84001
	default:
		v.scanned = false
		http.Error(w, `{"errMsg":"unknown outcome"}`, http.StatusBadRequest)
		return
	}
	writeJSON(w, map[string]any{"errCode": 0, "errMsg": "requestFacialVerify:ok"})
}

func (s *Sandbox) setRisk(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OpenID   string `json:"openid"`
		RiskRank int    `json:"riskRank"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.OpenID == "" || req.RiskRank < 0 || req.RiskRank > 4 {
		http.Error(w, `{"errMsg":"openid and riskRank 0..4 are required"}`, http.StatusBadRequest)
		return
	}
	s.SetRiskRank(req.OpenID, req.RiskRank)
	writeJSON(w, map[string]any{"ok": true})
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
	if len(s) < 5 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
