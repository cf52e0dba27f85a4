package activities

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechat"
	"github.com/receiptflow/receiptflow/workflows"
)

// fakeFace answers getinfo and queryverifyinfo with whatever the test put there.
type fakeFace struct {
	FaceAPI
	info      wechat.FaceInfo
	verifyRet int
	err       error
}

func (f *fakeFace) GetInfo(context.Context, string) (wechat.FaceInfo, error) { return f.info, f.err }

func (f *fakeFace) QueryVerifyInfo(context.Context, string, string, string, string) (int, error) {
	return f.verifyRet, f.err
}

type faceWorld struct {
	acts  *Activities
	face  *fakeFace
	store *store.Store
	payee store.Payee
	order string
}

func faceFixture(t *testing.T) *faceWorld {
	t.Helper()
	ctx := context.Background()
	ring, _ := keyring.Parse(keyring.Generate("k"))
	hasher, _ := pii.NewHasher([]byte("lookup-key-0123456789"))
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "rf.db"), ring, hasher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_ = st.PutPayer(ctx, store.Payer{ID: "payer1", Name: "示例公司", Secret: "merchant-secret-0123456789"})
	payee, err := st.VerifyIdentity(ctx, "o_payee", "王五", "440304199003070018", "")
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := st.CreateOrder(ctx, store.NewOrder{PayerID: "payer1", PayeeOpenID: "o_payee", MerchantOrderNo: "m1", ServiceItem: "x", GrossFen: 100})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFace{}
	acts := &Activities{Orders: st, Faces: st, WeChat: f, Hasher: hasher, Config: Config{FaceMode: FaceV1}}
	return &faceWorld{acts: acts, face: f, store: st, payee: payee, order: o.ID}
}

func (w *faceWorld) verify(t *testing.T, cred workflows.FaceCredential, result string) workflows.FaceVerdict {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(w.acts)
	val, err := env.ExecuteActivity(w.acts.VerifyFace, workflows.VerifyFaceInput{OrderID: w.order, PayeeID: w.payee.ID, OpenID: "o_payee", Credential: cred, VerifyResult: result})
	if err != nil {
		t.Fatalf("VerifyFace: %v", err)
	}
	var v workflows.FaceVerdict
	if err := val.Get(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyFaceV1BindingChecks(t *testing.T) {
	w := faceFixture(t)
	now := time.Now()
	genuine := wechat.FaceInfo{IdentifyRet: 0, IdentifyTime: now.Unix(), OpenID: "o_payee", UserIDKey: "uik1",
		IDCardNumberMD5: wechat.IDNumberMD5("440304199003070018"), NameUTF8MD5: wechat.NameMD5("王五")}
	cases := []struct {
		name, result string
		edit         func(*wechat.FaceInfo)
		outcome      string
		check        string
	}{
		{"another person's ID", "r1", func(i *wechat.FaceInfo) { i.IDCardNumberMD5 = wechat.IDNumberMD5("110101200001010010") }, workflows.FaceRefused, checkIdentity},
		{"another name", "r2", func(i *wechat.FaceInfo) { i.NameUTF8MD5 = wechat.NameMD5("王六") }, workflows.FaceRefused, checkIdentity},
		{"another WeChat user", "r3", func(i *wechat.FaceInfo) { i.OpenID = "o_other" }, workflows.FaceRefused, checkOpenID},
		{"another credential", "r4", func(i *wechat.FaceInfo) { i.UserIDKey = "uik_other" }, workflows.FaceRefused, checkCredential},
		{"older than the credential's hour: scan again, not counted", "r5", func(i *wechat.FaceInfo) { i.IdentifyTime = now.Add(-2 * time.Hour).Unix() }, workflows.FaceRetry, checkStale},
		{"scanned before the credential was issued", "r6", func(i *wechat.FaceInfo) { i.IdentifyTime = now.Add(-10 * time.Minute).Unix() }, workflows.FaceRetry, checkStale},
		{"face mismatch", "r7", func(i *wechat.FaceInfo) { i.IdentifyRet = 10004 }, workflows.FaceFail, ""},
		// The result refused above as another WeChat user's is its owner's to use: refusing it claimed nothing.
		{"pass, with the result refused before", "r3", func(*wechat.FaceInfo) {}, workflows.FacePass, ""},
		{"the same result again", "r3", func(*wechat.FaceInfo) {}, workflows.FaceRefused, checkReplayed},
	}
	for i, c := range cases {
		w.face.info = genuine
		c.edit(&w.face.info)
		cred := workflows.FaceCredential{Mode: FaceV1, Seq: i + 1, RunID: "run1", UserIDKey: "uik1", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
		v := w.verify(t, cred, c.result)
		if v.Outcome != c.outcome || v.FailedCheck != c.check || v.Message == "" {
			t.Errorf("%s: got %+v, want %s %s", c.name, v, c.outcome, c.check)
		}
	}
	audit, _ := w.store.FaceAttempts(context.Background(), w.order)
	if len(audit) != len(cases) {
		t.Fatalf("audit has %d attempts, want %d", len(audit), len(cases))
	}
	if p, _ := w.store.Payee(context.Background(), w.payee.ID); !p.FaceVerified {
		t.Fatal("a passed face verification did not bind the identity")
	}
}

// A v1 result posted after its credential's hour is refused even when WeChat no longer knows it, and costs nothing.
func TestVerifyFaceLateResultIsNotUsedEvenWhenWeChatForgotIt(t *testing.T) {
	w := faceFixture(t)
	issued := time.Now().Add(-2 * time.Hour)
	w.face.err = &wechat.Error{Op: "getinfo", Code: wechat.CodeVerifyResultBad, Class: wechat.User}
	v := w.verify(t, workflows.FaceCredential{Mode: FaceV1, Seq: 1, RunID: "run1", UserIDKey: "uik1", IssuedAt: issued, ExpiresAt: issued.Add(time.Hour)}, "r1")
	if v.Outcome != workflows.FaceRetry || v.FailedCheck != checkStale {
		t.Fatalf("late result: %+v", v)
	}
}

// Face 2.0: the verify_ret table decides; a result from another run's credential never passes in this one.
func TestVerifyFaceV2(t *testing.T) {
	w := faceFixture(t)
	now := time.Now()
	cred := func(run string, seq int, vid string) workflows.FaceCredential {
		return workflows.FaceCredential{Mode: FaceV2, Seq: seq, RunID: run, VerifyID: vid, OutSeqNo: w.order + "_1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	cases := []struct {
		name      string
		cred      workflows.FaceCredential
		result    string
		verifyRet int
		err       error
		outcome   string
		check     string
	}{
		{"someone else's verifyId", cred("run1", 1, "vid_mine"), "vid_theirs", 10000, nil, workflows.FaceRefused, checkCredential},
		{"cancelled (90004)", cred("run1", 2, "vid_a"), "vid_a", 90004, nil, workflows.FaceRetry, ""},
		{"device (90001)", cred("run1", 3, "vid_b"), "vid_b", 90001, nil, workflows.FaceRetry, ""},
		{"not scanned yet: no verify_ret", cred("run1", 4, "vid_c"), "vid_c", 0, nil, workflows.FaceRetry, checkUnfinished},
		{"an errcode is not read as another user", cred("run1", 5, "vid_d"), "vid_d", 0, &wechat.Error{Op: "queryverifyinfo", Code: 84001, Class: wechat.User}, workflows.FaceRetry, checkUnfinished},
		{"ID mismatch", cred("run1", 6, "vid_e"), "vid_e", 10003, nil, workflows.FaceFail, ""},
		{"pass", cred("run1", 7, "vid_f"), "vid_f", 10000, nil, workflows.FacePass, ""},
		{"the same verifyId, next run, same sequence number", cred("run2", 7, "vid_f"), "vid_f", 10000, nil, workflows.FaceRefused, checkReplayed},
		{"late: after the verifyId's expires_in", workflows.FaceCredential{Mode: FaceV2, Seq: 8, RunID: "run2", VerifyID: "vid_g", IssuedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}, "vid_g", 10000, nil, workflows.FaceRetry, checkStale},
	}
	for _, c := range cases {
		w.face.verifyRet, w.face.err = c.verifyRet, c.err
		v := w.verify(t, c.cred, c.result)
		if v.Outcome != c.outcome || v.FailedCheck != c.check || v.Message == "" {
			t.Errorf("%s: got %+v, want %s %s", c.name, v, c.outcome, c.check)
		}
	}
}

func TestVerifyFaceTransientWeChatErrorIsRetryable(t *testing.T) {
	w := faceFixture(t)
	w.face.err = &wechat.Error{Op: "getinfo", Code: -1, Class: wechat.Retryable}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(w.acts)
	now := time.Now()
	_, err := env.ExecuteActivity(w.acts.VerifyFace, workflows.VerifyFaceInput{OrderID: w.order, PayeeID: w.payee.ID, OpenID: "o_payee",
		Credential: workflows.FaceCredential{Mode: FaceV1, Seq: 1, RunID: "run1", UserIDKey: "u", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, VerifyResult: "r"})
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.NonRetryable() || ae.Type() != "WeChatTransient" {
		t.Fatalf("a busy WeChat must be a retryable WeChatTransient error, got %v", err)
	}
	// An expired result is the payee's to redo, not an error.
	w.face.err = &wechat.Error{Op: "getinfo", Code: wechat.CodeVerifyResultExpiry, Class: wechat.User}
	v := w.verify(t, workflows.FaceCredential{Mode: FaceV1, Seq: 2, RunID: "run1", UserIDKey: "u", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, "r2")
	if v.Outcome != workflows.FaceRetry || v.Code != wechat.CodeVerifyResultExpiry {
		t.Fatalf("expired: %+v", v)
	}
}
