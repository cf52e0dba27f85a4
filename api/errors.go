package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/workflows"
)

// Problem is every error answer: {code, message}, plus the seed's errcode/errmsg on the face endpoints.
type Problem struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	ErrCode *int   `json:"errcode,omitempty"`
	ErrMsg  string `json:"errmsg,omitempty"`
	// RetryAfter, in seconds, is sent as the Retry-After header when set.
	RetryAfter int `json:"-"`
}

func (p *Problem) Error() string { return p.Code + ": " + p.Message }

func problem(status int, code, msg string) *Problem {
	return &Problem{Status: status, Code: code, Message: msg}
}

func abort(c *gin.Context, p *Problem) {
	if p.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	c.AbortWithStatusJSON(p.Status, p)
}

// ErrCrossOrigin refuses a write that did not come from the server's own pages (SameOrigin): the API's doors and
// the servers beside it answer it alike.
var ErrCrossOrigin = problem(http.StatusForbidden, "CROSS_ORIGIN", "writes come from this server's own pages only")

// Common problems. Messages a payee's page may show are Chinese.
var (
	errBadJSON       = problem(http.StatusBadRequest, "BAD_JSON", "请求格式错误（request body is not valid JSON）")
	errUnauthorized  = problem(http.StatusUnauthorized, "UNAUTHENTICATED", "请先登录（a session token is required: POST /v1/session）")
	errExpired       = problem(http.StatusUnauthorized, "SESSION_EXPIRED", "登录已过期，请重新登录")
	errOrderNotFound = problem(http.StatusNotFound, "ORDER_NOT_FOUND", "订单不存在")
	errNotStarted    = problem(http.StatusNotFound, "RECEIPT_NOT_STARTED", "请先点击确认收款（POST /v1/receipts/{orderId}）")
	errUnavailable   = problem(http.StatusServiceUnavailable, "UNAVAILABLE", "服务暂时不可用，请稍后重试")
	errTimeout       = problem(http.StatusGatewayTimeout, "TIMEOUT", "正在处理，请稍后查看结果")
)

// fromError maps what the workflow, Temporal or the store said to an HTTP problem. Client mistakes get 4xx;
// trouble on our side 503/504 — never a 500 for something the caller did.
func fromError(err error) *Problem {
	var p *Problem
	var closed *closedRunError
	var ae *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &closed):
		return closed.problem
	case errors.Is(err, context.DeadlineExceeded):
		return errTimeout
	case errors.As(err, &ae):
		switch ae.Type() {
		case workflows.RejectWrongState:
			return problem(http.StatusConflict, "WRONG_STATE", ae.Message())
		case workflows.RejectNotYours:
			return errOrderNotFound // to a payee, another's order is as good as unknown
		case workflows.RejectUnauthenticated:
			return problem(http.StatusUnauthorized, "UNAUTHENTICATED", ae.Message())
		case workflows.RejectBadRequest:
			return problem(http.StatusBadRequest, "BAD_REQUEST", ae.Message())
		case workflows.ErrTypeNotFound:
			return errOrderNotFound
		case workflows.ErrTypeFaceUnusable:
			return &Problem{Status: http.StatusBadGateway, Code: "FACE_CREDENTIAL_FAILED", Message: "获取扫脸用户凭证失败", ErrCode: detailCode(ae)}
		}
		return errUnavailable
	case errors.As(err, &notFound):
		return errNotStarted
	case errors.Is(err, store.ErrNotFound):
		return errOrderNotFound
	case errors.As(err, new(*store.InputError)):
		return problem(http.StatusBadRequest, "BAD_REQUEST", err.Error())
	case errors.Is(err, store.ErrConflict):
		return problem(http.StatusConflict, "CONFLICT", err.Error())
	}
	return errUnavailable
}

// detailCode is the WeChat errcode an activity attached to its error, or -1.
func detailCode(ae *temporal.ApplicationError) *int {
	code := -1
	if ae.HasDetails() {
		_ = ae.Details(&code)
	}
	return &code
}
