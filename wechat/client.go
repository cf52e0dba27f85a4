// Package wechat is a client for the WeChat mini-program server API: stable access token, code2session, face
// verification 1.0 and 2.0, and the user risk rank. Wire formats and codes: 微信开放文档 (developers.weixin.qq.com),
// 小程序服务端: getStableAccessToken, code2Session, 人脸核验 (getuseridkey / checkverifyinfo / getverifyid /
// queryverifyinfo) and getUserRiskRank.
package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Config is read from the environment (RECEIPTFLOW_WECHAT_*).
type Config struct {
	BaseURL string        `envconfig:"BASE_URL" default:"https://api.weixin.qq.com" desc:"WeChat server API (the sandbox's address in dev and staging)"`
	AppID   string        `envconfig:"APPID" desc:"the mini-program's appid"`
	Secret  string        `envconfig:"SECRET" desc:"the mini-program's appsecret"`
	Timeout time.Duration `envconfig:"TIMEOUT" default:"5s" desc:"timeout of each WeChat call"`
}

// Client is safe for concurrent use; share one per process so the token is fetched once.
type Client struct {
	cfg  Config
	http *http.Client
	now  func() time.Time

	mu        sync.Mutex
	token     string
	expiresAt time.Time
	fetches   singleflight.Group
}

// Tokens live expires_in minus this margin, so a token is never used in its last minutes.
const tokenMargin = 300 * time.Second

// New returns a client; httpClient may be nil.
func New(cfg Config, httpClient *http.Client) (*Client, error) {
	if cfg.AppID == "" || cfg.Secret == "" {
		return nil, errors.New("wechat: appid and secret are required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("wechat: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	return &Client{cfg: cfg, http: httpClient, now: time.Now}, nil
}

// AppID is the mini-program's appid.
func (c *Client) AppID() string { return c.cfg.AppID }

// AccessToken returns the cached stable token, fetching it when missing or near expiry. Concurrent callers share
// one fetch. force_refresh is never sent: several instances may hold the same token (stable_token's normal mode).
func (c *Client) AccessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.token != "" && c.now().Before(c.expiresAt) {
		t := c.token
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()
	// The fetch runs on its own context so one caller's cancellation does not fail the others sharing it.
	ch := c.fetches.DoChan("token", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		defer cancel()
		return c.fetchToken(fctx)
	})
	select {
	case <-ctx.Done():
		return "", &Error{Op: "stable_token", Message: ctx.Err().Error(), Class: Retryable}
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	}
}

func (c *Client) fetchToken(ctx context.Context) (string, error) {
	body := map[string]any{"grant_type": "client_credential", "appid": c.cfg.AppID, "secret": c.cfg.Secret, "force_refresh": false}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := c.do(ctx, "stable_token", http.MethodPost, "/cgi-bin/stable_token", nil, body, &out); err != nil {
		return "", err
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return "", &Error{Op: "stable_token", Message: "response without access_token", Class: Retryable}
	}
	life := time.Duration(out.ExpiresIn)*time.Second - tokenMargin
	if life < time.Duration(out.ExpiresIn)*time.Second/2 {
		life = time.Duration(out.ExpiresIn) * time.Second / 2 // very short-lived tokens: use half their life
	}
	c.mu.Lock()
	c.token, c.expiresAt = out.AccessToken, c.now().Add(life)
	c.mu.Unlock()
	return out.AccessToken, nil
}

// dropToken forgets token if it is still the cached one, so the next call fetches a fresh one.
func (c *Client) dropToken(token string) {
	c.mu.Lock()
	if c.token == token {
		c.token = ""
	}
	c.mu.Unlock()
}

// callWithToken makes a business call with the access token, refetching it and retrying once when WeChat says the
// token is invalid or expired.
func (c *Client) callWithToken(ctx context.Context, op, path string, body, out any) error {
	for attempt := 0; ; attempt++ {
		token, err := c.AccessToken(ctx)
		if err != nil {
			return err
		}
		err = c.do(ctx, op, http.MethodPost, path, url.Values{"access_token": {token}}, body, out)
		if ClassOf(err) == Token && attempt == 0 {
			c.dropToken(token)
			continue
		}
		return err
	}
}

// envelope is what every WeChat response carries.
type envelope struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// do performs one HTTP exchange and decodes the JSON answer into out. Errors never include the query string,
// which holds the secret or the access token.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := c.cfg.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &Error{Op: op, Message: "encode request: " + err.Error(), Class: Fatal}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return &Error{Op: op, Message: "build request", Class: Fatal}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &Error{Op: op, Message: transportMessage(err), Class: Retryable}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &Error{Op: op, Message: "read response: " + transportMessage(err), HTTPStatus: resp.StatusCode, Class: Retryable}
	}
	if resp.StatusCode != http.StatusOK {
		class := Fatal
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			class = Retryable
		}
		return &Error{Op: op, Message: "HTTP " + resp.Status, HTTPStatus: resp.StatusCode, Class: class}
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return &Error{Op: op, Message: "response is not JSON", HTTPStatus: resp.StatusCode, Class: Retryable}
	}
	if env.ErrCode != 0 {
		return &Error{Op: op, Code: env.ErrCode, Message: env.ErrMsg, HTTPStatus: resp.StatusCode, Class: Classify(env.ErrCode)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return &Error{Op: op, Message: "decode response: " + err.Error(), HTTPStatus: resp.StatusCode, Class: Fatal}
		}
	}
	return nil
}

// transportMessage describes a transport error without the URL (and so without secrets in its query).
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}
