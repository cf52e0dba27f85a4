// Package proof lets the API vouch, to the worker, that it authenticated whoever a workflow update speaks for: the
// payee (their session), the payer (its signature) or an operator (their token). A proof is an HMAC over the
// role, the actor's ID, the workflow and the run, the update's name and ID and an expiry, under a key the API and
// the worker share and Temporal never sees — so an update sent any other way (the Web UI, a script with Temporal
// access) carries none and is refused before the workflow accepts it, and one copied from a run's history into
// the order's next run (the same workflow ID; Temporal de-duplicates update IDs per run) names another run.
package proof

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Claim is what a proof vouches for.
type Claim struct {
	Role       string
	Subject    string // openid, payer ID or operator ID
	WorkflowID string
	// RunID is the run the update is for; empty only for the update that starts its run (update-with-start),
	// whose run does not exist when the proof is made.
	RunID    string
	Update   string // the update's name
	UpdateID string
}

// Errors Verify returns.
var (
	ErrMissing = errors.New("proof: missing")
	ErrInvalid = errors.New("proof: does not verify")
	ErrExpired = errors.New("proof: expired")
)

// Keys signs and verifies proofs. The first key signs; every key verifies, so keys can rotate.
type Keys struct {
	ids  []string
	keys map[string][]byte
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Parse reads "id:base64key[,id:base64key...]" (keys of at least 32 bytes), the format of RECEIPTFLOW_PROOF_KEYS.
func Parse(spec string) (*Keys, error) {
	k := &Keys{keys: map[string][]byte{}}
	for i, part := range strings.Split(strings.TrimSpace(spec), ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if !ok || !keyIDPattern.MatchString(id) || err != nil || len(raw) < 32 {
			return nil, fmt.Errorf("proof: entry %d: want id:base64key with a key of at least 32 bytes", i+1)
		}
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("proof: key %q listed twice", id)
		}
		k.ids = append(k.ids, id)
		k.keys[id] = raw
	}
	return k, nil
}

// Sign returns a proof of c valid until expires: "v2.<key id>.<unix expiry>.<mac>".
func (k *Keys) Sign(c Claim, expires time.Time) string {
	id := k.ids[0]
	exp := strconv.FormatInt(expires.Unix(), 10)
	return "v2." + id + "." + exp + "." + mac(k.keys[id], c, exp)
}

// Verify checks that token proves c at now.
func (k *Keys) Verify(c Claim, token string, now time.Time) error {
	if token == "" {
		return ErrMissing
	}
	parts := strings.Split(token, ".")
	if len(parts) != 4 || parts[0] != "v2" {
		return ErrInvalid
	}
	key, ok := k.keys[parts[1]]
	if !ok || !hmac.Equal([]byte(parts[3]), []byte(mac(key, c, parts[2]))) {
		return ErrInvalid
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return ErrInvalid
	}
	if !now.Before(time.Unix(exp, 0)) {
		return ErrExpired
	}
	return nil
}

func mac(key []byte, c Claim, exp string) string {
	m := hmac.New(sha256.New, key)
	for _, f := range []string{"receiptflow-proof-v2", c.Role, c.Subject, c.WorkflowID, c.RunID, c.Update, c.UpdateID, exp} {
		m.Write([]byte(f))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
