package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Sessions issues and checks the payee's session tokens: an HMAC-signed, expiring claim of the openid
// code2session returned. The WeChat session_key never leaves the server; the API keeps no session state, so any
// instance can check any token.
type Sessions struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewSessions needs a secret of at least 32 bytes.
func NewSessions(secret []byte, ttl time.Duration) (*Sessions, error) {
	if len(secret) < 32 {
		return nil, errors.New("session secret must be at least 32 bytes")
	}
	if ttl <= 0 {
		ttl = 2 * time.Hour
	}
	return &Sessions{secret: secret, ttl: ttl, now: time.Now}, nil
}

type claims struct {
	Version int    `json:"v"`
	Subject string `json:"sub"`
	Expires int64  `json:"exp"`
}

// Session errors.
var (
	ErrSessionInvalid = errors.New("invalid session token")
	ErrSessionExpired = errors.New("session expired")
)

// Issue returns a token for openid and when it expires.
func (s *Sessions) Issue(openid string) (string, time.Time) {
	exp := s.now().Add(s.ttl).Truncate(time.Second)
	body, _ := json.Marshal(claims{Version: 1, Subject: openid, Expires: exp.Unix()})
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + s.sign(payload), exp
}

// Check returns the openid a token was issued for.
func (s *Sessions) Check(token string) (string, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.sign(payload))) {
		return "", ErrSessionInvalid
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", ErrSessionInvalid
	}
	var c claims
	if json.Unmarshal(body, &c) != nil || c.Version != 1 || c.Subject == "" {
		return "", ErrSessionInvalid
	}
	if !s.now().Before(time.Unix(c.Expires, 0)) {
		return "", ErrSessionExpired
	}
	return c.Subject, nil
}

func (s *Sessions) sign(payload string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("receiptflow-session\x00"))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
