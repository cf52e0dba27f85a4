package proof

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

func key(id string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

func TestProofsBindEveryFieldAndExpire(t *testing.T) {
	old, cur := key("k1"), key("k2")
	signer, err := Parse(cur + "," + old)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := Claim{Role: "payee", Subject: "o_payee", WorkflowID: "receipt/ord1", RunID: "run-1", Update: "confirm", UpdateID: "confirm/abc"}
	token := signer.Sign(c, now.Add(time.Minute))
	if err := signer.Verify(c, token, now); err != nil {
		t.Fatalf("genuine proof: %v", err)
	}
	for name, other := range map[string]Claim{
		"another role":     {Role: "operator", Subject: c.Subject, WorkflowID: c.WorkflowID, RunID: c.RunID, Update: c.Update, UpdateID: c.UpdateID},
		"another payee":    {Role: c.Role, Subject: "o_other", WorkflowID: c.WorkflowID, RunID: c.RunID, Update: c.Update, UpdateID: c.UpdateID},
		"another order":    {Role: c.Role, Subject: c.Subject, WorkflowID: "receipt/ord2", RunID: c.RunID, Update: c.Update, UpdateID: c.UpdateID},
		"another run":      {Role: c.Role, Subject: c.Subject, WorkflowID: c.WorkflowID, RunID: "run-2", Update: c.Update, UpdateID: c.UpdateID},
		"no run":           {Role: c.Role, Subject: c.Subject, WorkflowID: c.WorkflowID, Update: c.Update, UpdateID: c.UpdateID},
		"another step":     {Role: c.Role, Subject: c.Subject, WorkflowID: c.WorkflowID, RunID: c.RunID, Update: "face.submit", UpdateID: c.UpdateID},
		"another update":   {Role: c.Role, Subject: c.Subject, WorkflowID: c.WorkflowID, RunID: c.RunID, Update: c.Update, UpdateID: "confirm/xyz"},
		"fields run apart": {Role: c.Role + c.Subject, Subject: "", WorkflowID: c.WorkflowID, RunID: c.RunID, Update: c.Update, UpdateID: c.UpdateID},
	} {
		if err := signer.Verify(other, token, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := signer.Verify(c, token, now.Add(2*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	if err := signer.Verify(c, "", now); !errors.Is(err, ErrMissing) {
		t.Errorf("missing: %v", err)
	}
	// Rotation: a proof signed with the old primary key still verifies while the key is in the ring; a ring
	// without it refuses.
	previous, _ := Parse(old)
	if err := signer.Verify(c, previous.Sign(c, now.Add(time.Minute)), now); err != nil {
		t.Errorf("old key: %v", err)
	}
	stranger, _ := Parse(key("k1"))
	if err := stranger.Verify(c, token, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("other keys: %v", err)
	}
	for _, bad := range []string{"", "k", "k:short", "k:" + base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
