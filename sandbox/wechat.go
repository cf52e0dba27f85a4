package sandbox

import (
	"net/http"
	"time"
)

type loginCode struct {
	OpenID  string    `json:"openid"`
	Expires time.Time `json:"expires"`
	Used    bool      `json:"used"`
}

func (s *Sandbox) routeWeChat() {
	s.mux.HandleFunc("POST /cgi-bin/stable_token", s.wechatEndpoint("stable_token", s.stableToken))
	s.mux.HandleFunc("GET /sns/jscode2session", s.wechatEndpoint("jscode2session", s.jscode2session))
	s.mux.HandleFunc("POST /wxa/getuserriskrank", s.wechatEndpoint("getuserriskrank", s.withToken(s.riskRank)))
	s.routeFace()

	s.mux.HandleFunc("POST /sandbox/wx/login", s.phoneLogin)
	s.mux.HandleFunc("POST /sandbox/risk", s.setRisk)
	s.mux.HandleFunc("POST /sandbox/outage", s.setOutage)
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
	c, found := s.state.Codes[q.Get("js_code")]
	switch {
	case !found || s.opts.Now().After(c.Expires):
		writeErr(w, 40029, "invalid code")
	case c.Used:
		writeErr(w, 40163, "code been used")
	default:
		c.Used = true
		s.state.Codes[q.Get("js_code")] = c
		s.save("codes", q.Get("js_code"))
		writeJSON(w, map[string]any{"openid": c.OpenID, "session_key": randomID("", 12), "unionid": "u" + c.OpenID})
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
	rank := s.state.RiskRanks[req.OpenID]
	s.mu.Unlock()
	writeJSON(w, ok(map[string]any{"risk_rank": rank, "unoin_id": 0}))
}

// phoneLogin is wx.login: it returns a one-time code for openid, valid five minutes.
func (s *Sandbox) phoneLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OpenID string `json:"openid"`
	}
	if !decode(w, r, &req) {
		return
	}
	if !validOpenID(req.OpenID) {
		phoneFail(w, "login:fail openid must be 1-64 of [0-9A-Za-z_-]")
		return
	}
	code := randomID("code_", 12)
	s.mu.Lock()
	s.state.Codes[code] = loginCode{OpenID: req.OpenID, Expires: s.opts.Now().Add(5 * time.Minute)}
	s.save("codes", code)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"code": code, "errMsg": "login:ok"})
}

func (s *Sandbox) setRisk(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OpenID   string `json:"openid"`
		RiskRank int    `json:"riskRank"`
	}
	if !decode(w, r, &req) {
		return
	}
	if !validOpenID(req.OpenID) || req.RiskRank < 0 || req.RiskRank > 4 {
		phoneFail(w, "openid and riskRank 0..4 are required")
		return
	}
	s.SetRiskRank(req.OpenID, req.RiskRank)
	writeJSON(w, map[string]any{"ok": true})
}

// setOutage is POST /sandbox/outage {endpoint, seconds}: that endpoint answers HTTP 503 for so long (0 ends it).
func (s *Sandbox) setOutage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Endpoint string `json:"endpoint"`
		Seconds  int    `json:"seconds"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Endpoint == "" || len(req.Endpoint) > 64 || req.Seconds < 0 || req.Seconds > 86400 {
		phoneFail(w, "endpoint (e.g. transfer-bills) and seconds 0..86400 are required")
		return
	}
	s.SetOutage(req.Endpoint, time.Duration(req.Seconds)*time.Second)
	writeJSON(w, map[string]any{"ok": true})
}
