package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/receiptflow/receiptflow/wechat"
)

// The payee's session: wx.login's code exchanged for our token, and the middleware that checks it.

// login is the mini-program's wx.login exchange: POST /v1/session {code} → our own session token.
func (h *handlers) login(c *gin.Context) {
	var req struct {
		Code string `json:"code"`
	}
	if !bind(c, &req) {
		return
	}
	if req.Code = strings.TrimSpace(req.Code); !loginCodePattern.MatchString(req.Code) {
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "code: 缺少登录凭证（the code from wx.login）"))
		return
	}
	s, err := h.code2session(c.Request.Context(), req.Code)
	if err != nil {
		abort(c, wechatProblem(err, "登录失败，请重试"))
		return
	}
	token, exp := h.Sessions.Issue(s.OpenID)
	c.JSON(http.StatusOK, gin.H{"token": token, "expiresAt": exp})
}

// code2session retries transient WeChat trouble twice. A code is one-time, so a retry after an answer that was
// lost on the way may meet 40163; the front end then logs in again.
func (h *handlers) code2session(ctx context.Context, code string) (wechat.Session, error) {
	var err error
	for attempt := range 3 {
		var s wechat.Session
		if s, err = h.Login.Code2Session(ctx, code); err == nil || wechat.ClassOf(err) != wechat.Retryable {
			return s, err
		}
		select {
		case <-ctx.Done():
			return wechat.Session{}, err
		case <-time.After(time.Duration(100*(attempt+1)) * time.Millisecond):
		}
	}
	return wechat.Session{}, err
}

func (h *handlers) authenticate(c *gin.Context) {
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok {
		abort(c, errUnauthorized)
		return
	}
	openid, err := h.Sessions.Check(strings.TrimSpace(token))
	switch {
	case errors.Is(err, ErrSessionExpired):
		abort(c, errExpired)
	case err != nil:
		abort(c, errUnauthorized)
	default:
		c.Set("openid", openid)
		c.Next()
	}
}

// loginCodePattern is what a wx.login code may look like (printable, no spaces).
var loginCodePattern = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
