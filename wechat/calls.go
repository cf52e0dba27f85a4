package wechat

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Session is what code2session returns. SessionKey must never leave the server.
type Session struct {
	OpenID     string `json:"openid"`
	UnionID    string `json:"unionid"`
	SessionKey string `json:"session_key"`
}

// Code2Session exchanges a wx.login code for the user's openid.
func (c *Client) Code2Session(ctx context.Context, code string) (Session, error) {
	q := url.Values{"appid": {c.cfg.AppID}, "secret": {c.cfg.Secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	var s Session
	if err := c.do(ctx, "jscode2session", http.MethodGet, "/sns/jscode2session", q, nil, &s); err != nil {
		return Session{}, err
	}
	if s.OpenID == "" {
		return Session{}, &Error{Op: "jscode2session", Message: "response without openid", Class: Fatal}
	}
	return s, nil
}

// UserIDKey is a face verification 1.0 credential.
type UserIDKey struct {
	Key       string `json:"user_id_key"`
	ExpiresIn int    `json:"expires_in"`
}

// GetUserIDKey asks for a face verification 1.0 credential for a real-name identity.
func (c *Client) GetUserIDKey(ctx context.Context, name, idNumber string) (UserIDKey, error) {
	body := map[string]string{"name": name, "id_card_number": idNumber}
	var k UserIDKey
	if err := c.callWithToken(ctx, "getuseridkey", "/cityservice/face/identify/getuseridkey", body, &k); err != nil {
		return UserIDKey{}, err
	}
	if k.Key == "" {
		return UserIDKey{}, &Error{Op: "getuseridkey", Message: "response without user_id_key", Class: Fatal}
	}
	return k, nil
}

// FaceInfo is getinfo's answer about one verify_result (face verification 1.0).
type FaceInfo struct {
	IdentifyRet     int    `json:"identify_ret"`
	IdentifyTime    int64  `json:"identify_time"`
	ValidateData    string `json:"validate_data"`
	OpenID          string `json:"openid"`
	UserIDKey       string `json:"user_id_key"`
	FinishTime      int64  `json:"finish_time"`
	IDCardNumberMD5 string `json:"id_card_number_md5"`
	NameUTF8MD5     string `json:"name_utf8_md5"`
}

// GetInfo asks WeChat for the real outcome of a face scan (the seed's 二次校验).
func (c *Client) GetInfo(ctx context.Context, verifyResult string) (FaceInfo, error) {
	var fi FaceInfo
	err := c.callWithToken(ctx, "getinfo", "/cityservice/face/identify/getinfo", map[string]string{"verify_result": verifyResult}, &fi)
	return fi, err
}

// VerifyID is a face verification 2.0 credential.
type VerifyID struct {
	ID        string `json:"verify_id"`
	ExpiresIn int    `json:"expires_in"`
}

// CertTypeIdentityCard is the only certificate type the project uses.
const CertTypeIdentityCard = "IDENTITY_CARD"

var outSeqNoPattern = regexp.MustCompile(`^[0-9A-Za-z_-]{5,32}$`)

// ValidOutSeqNo reports whether s is an acceptable out_seq_no: 5–32 of [0-9A-Za-z_-].
func ValidOutSeqNo(s string) bool { return outSeqNoPattern.MatchString(s) }

// GetVerifyID asks for a face verification 2.0 credential bound to the user's openid and identity.
func (c *Client) GetVerifyID(ctx context.Context, outSeqNo, name, idNumber, openid string) (VerifyID, error) {
	if !ValidOutSeqNo(outSeqNo) {
		return VerifyID{}, &Error{Op: "getverifyid", Message: "out_seq_no must be 5-32 of [0-9A-Za-z_-]", Class: Fatal}
	}
	body := map[string]any{
		"out_seq_no": outSeqNo,
		"cert_info":  map[string]string{"cert_type": CertTypeIdentityCard, "cert_name": name, "cert_no": idNumber},
		"openid":     openid,
	}
	var v VerifyID
	if err := c.callWithToken(ctx, "getverifyid", "/cityservice/face/identify/getverifyid", body, &v); err != nil {
		return VerifyID{}, err
	}
	if v.ID == "" {
		return VerifyID{}, &Error{Op: "getverifyid", Message: "response without verify_id", Class: Fatal}
	}
	return v, nil
}

// VerifyRetPass is queryverifyinfo's verify_ret for a passed verification.
const VerifyRetPass = 10000

// QueryVerifyInfo asks for the outcome of a face verification 2.0. Pass only when the call succeeds and the
// returned verify_ret is VerifyRetPass.
func (c *Client) QueryVerifyInfo(ctx context.Context, verifyID, outSeqNo, certHash, openid string) (int, error) {
	body := map[string]string{"verify_id": verifyID, "out_seq_no": outSeqNo, "cert_hash": certHash, "openid": openid}
	var out struct {
		VerifyRet int `json:"verify_ret"`
	}
	err := c.callWithToken(ctx, "queryverifyinfo", "/cityservice/face/identify/queryverifyinfo", body, &out)
	return out.VerifyRet, err
}

// CertHash is face verification 2.0's hash of the identity: each value base64 (standard) encoded, joined as
// cert_type=..&cert_name=..&cert_no=.., SHA-256, lower-case hex.
func CertHash(certType, name, idNumber string) string {
	b64 := base64.StdEncoding.EncodeToString
	s := "cert_type=" + b64([]byte(certType)) + "&cert_name=" + b64([]byte(name)) + "&cert_no=" + b64([]byte(idNumber))
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// IDNumberMD5 is getinfo's id_card_number_md5: md5 of the number with a trailing X upper case, lower-case hex.
func IDNumberMD5(idNumber string) string {
	sum := md5.Sum([]byte(strings.ToUpper(idNumber)))
	return hex.EncodeToString(sum[:])
}

// NameMD5 is getinfo's name_utf8_md5.
func NameMD5(name string) string {
	sum := md5.Sum([]byte(name))
	return hex.EncodeToString(sum[:])
}

// RiskRank asks WeChat how risky the user is in a scene: 0 (none) to 4 (highest). WeChat suggests a second
// verification at 3 and blocking at 4.
func (c *Client) RiskRank(ctx context.Context, openid string, scene int, clientIP string) (int, error) {
	body := map[string]any{"appid": c.cfg.AppID, "openid": openid, "scene": scene, "client_ip": clientIP}
	var out struct {
		RiskRank int `json:"risk_rank"`
	}
	err := c.callWithToken(ctx, "getuserriskrank", "/wxa/getuserriskrank", body, &out)
	return out.RiskRank, err
}
