package wechat

import (
	"errors"
	"fmt"
)

// Class tells a caller what to do about an error.
type Class string

const (
	// Retryable: try the same call again later (busy, rate limit, network, 5xx, timeout).
	Retryable Class = "retryable"
	// Token: the access token was refused; the client refetches it and retries once by itself.
	Token Class = "token"
	// User: the user's input or situation is the problem (expired code or face result, mismatch, cancel); show it.
	User Class = "user"
	// Misconfigured: our appid, secret, IP whitelist or permissions are wrong; retrying cannot help, an operator must act.
	Misconfigured Class = "config"
	// Fatal: anything else WeChat refused; do not retry blindly.
	Fatal Class = "fatal"
)

// WeChat errcodes the project acts on (as each API's page in 微信开放文档 lists them).
const (
	CodeBusy               = -1
	CodeInvalidCredential  = 40001
	CodeInvalidAppID       = 40013
	CodeInvalidToken       = 40014
	CodeInvalidCode        = 40029
	CodeInvalidSecret      = 40125
	CodeCodeUsed           = 40163
	CodeIPNotWhitelisted   = 40164
	CodeHighRiskBlocked    = 40226
	CodeMissingToken       = 41001
	CodeExpiredToken       = 42001
	CodeDailyQuota         = 45009
	CodeMinuteQuota        = 45011
	CodeNoPermission       = 48001
	CodeVerifyResultBad    = 84001
	CodeVerifyResultExpiry = 84002
	CodeNameOrIDEmpty      = 84006
)

// Classify maps an errcode to what a caller should do about it.
func Classify(code int) Class {
	switch code {
	case CodeBusy, CodeMinuteQuota:
		return Retryable
	case CodeInvalidCredential, CodeInvalidToken, CodeExpiredToken, CodeMissingToken:
		return Token
	case CodeInvalidCode, CodeCodeUsed, CodeHighRiskBlocked, CodeVerifyResultBad, CodeVerifyResultExpiry:
		return User
	case CodeInvalidAppID, CodeInvalidSecret, CodeIPNotWhitelisted, CodeNoPermission, CodeDailyQuota:
		return Misconfigured
	}
	switch {
	case IsIdentityMismatch(code), IsDeviceOrCancel(code):
		return User
	}
	return Fatal
}

// IsIdentityMismatch: 100xx, the face or the ID did not match (10003 ID, 10004 face, ...).
func IsIdentityMismatch(code int) bool { return code >= 10001 && code <= 10099 }

// IsDeviceOrCancel: 9xxxx, the user cancelled or the device could not scan; the user may try again.
func IsDeviceOrCancel(code int) bool { return code >= 90000 && code <= 99999 }

// IsUserCancel: the user backed out — face 1.0's 90100; face 2.0's verify_ret 90002–90006 (cancelled on the
// tutorial page, at start, while scanning, while uploading, on release) and 90024 (left on the confirm page).
func IsUserCancel(code int) bool {
	return code == 90100 || code >= 90002 && code <= 90006 || code == 90024
}

// Error is a failed WeChat call. It never carries the appid secret or an access token.
type Error struct {
	Op         string // e.g. "getinfo"
	Code       int    // errcode, 0 when the failure is below WeChat (network, HTTP status, bad JSON)
	Message    string // errmsg or a description of the transport failure
	HTTPStatus int
	Class      Class
}

func (e *Error) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("wechat %s: errcode %d: %s (%s)", e.Op, e.Code, e.Message, e.Class)
	}
	return fmt.Sprintf("wechat %s: %s (%s)", e.Op, e.Message, e.Class)
}

// ClassOf returns the class of the *Error in err's chain, or "" when there is none.
func ClassOf(err error) Class {
	var we *Error
	if errors.As(err, &we) {
		return we.Class
	}
	return ""
}

// CodeOf returns the errcode of err, or 0.
func CodeOf(err error) int {
	var we *Error
	if errors.As(err, &we) {
		return we.Code
	}
	return 0
}
