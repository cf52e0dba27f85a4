// Package webhook is the merchant-facing side of Standard Webhooks (https://www.standardwebhooks.com, the
// specification at github.com/standard-webhooks/standard-webhooks/spec/standard-webhooks.md): secrets, the
// signature, where a webhook may be sent, and the sending itself.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// secretPrefix marks a Standard Webhooks secret; the rest is the key, base64.
const secretPrefix = "whsec_"

// NewSecret is a fresh signing secret: whsec_ and 32 random bytes, base64.
func NewSecret() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// key is the secret's key bytes.
func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(k) == 0 {
		return nil, errors.New("webhook: not a whsec_ secret")
	}
	return k, nil
}

// Sign is the webhook-signature header for a message: "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" per
// secret, space-separated (during a rotation both the new and the old secret sign).
func Sign(secrets []string, id string, timestamp int64, body []byte) (string, error) {
	var sigs []string
	for _, s := range secrets {
		k, err := key(s)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, "v1,"+signature(k, id, timestamp, body))
	}
	return strings.Join(sigs, " "), nil
}

func signature(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify is the receiver's check: one of the header's v1 signatures is secret's. (Checking the timestamp against
// the receiver's clock, to refuse replays, is the receiver's; the sandbox's receiver and the README's snippets do.)
func Verify(secret, id string, timestamp int64, body []byte, header string) bool {
	k, err := key(secret)
	if err != nil {
		return false
	}
	want := signature(k, id, timestamp, body)
	for _, sig := range strings.Fields(header) {
		if v, ok := strings.CutPrefix(sig, "v1,"); ok && hmac.Equal([]byte(v), []byte(want)) {
			return true
		}
	}
	return false
}
