package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// A call whose answer is lost was carried out all the same: the login code it used is used, and asking again
// says so (40163), as WeChat would.
func TestALostAnswerWasCarriedOut(t *testing.T) {
	s, err := New(Options{Faults: Faults{Lost: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s)
	defer srv.Close()
	code, _ := call(t, s, "/sandbox/wx/login", map[string]string{"openid": "o_payee"})["code"].(string)
	q := url.Values{"appid": {s.AppID()}, "secret": {s.Secret()}, "js_code": {code}, "grant_type": {"authorization_code"}}
	if resp, err := http.Get(srv.URL + "/sns/jscode2session?" + q.Encode()); err == nil {
		resp.Body.Close()
		t.Fatalf("the answer came: %d", resp.StatusCode)
	}

	s.mu.Lock()
	s.opts.Faults = Faults{}
	s.mu.Unlock()
	resp, err := http.Get(srv.URL + "/sns/jscode2session?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var again struct {
		ErrCode int `json:"errcode"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&again); err != nil || again.ErrCode != 40163 {
		t.Fatalf("asked again: %+v %v", again, err)
	}
}
