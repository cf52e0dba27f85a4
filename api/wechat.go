package api

import (
	"net/http"

	"github.com/receiptflow/receiptflow/wechat"
)

// wechatProblem tells the caller what a failed WeChat call means for them.
func wechatProblem(err error, userMessage string) *Problem {
	code := wechat.CodeOf(err)
	switch wechat.ClassOf(err) {
	case wechat.User:
		return &Problem{Status: http.StatusBadRequest, Code: "WECHAT_REFUSED", Message: userMessage, ErrCode: &code}
	case wechat.Retryable, wechat.Token:
		return problem(http.StatusServiceUnavailable, "WECHAT_UNAVAILABLE", "微信服务繁忙，请稍后重试")
	}
	return problem(http.StatusBadGateway, "WECHAT_ERROR", userMessage)
}
