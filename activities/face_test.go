package activities

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/wechat"
	"github.com/receiptflow/receiptflow/workflows"
)

// fakeFace answers getinfo with whatever the test put there; the other calls are not used here.
type fakeFace struct {
	FaceAPI
	info wechat.FaceInfo
	err  error
}

func (f *fakeFace) GetInfo(context.Context, string) (wechat.FaceInfo, error) { return f.info, f.err }

func faceFixture(t *testing.T) (*Activities, *fakeFace, store.Payee, string) {
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
	_ = st.PutPayer(ctx, store.Payer{ID: "payer1", Name: "p", Secret: "merchant-secret-0123456789"})
	payee, err := st.VerifyIdentity(ctx, "o_payee", "王五", "440304199003070018", "")
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := st.CreateOrder(ctx, store.NewOrder{PayerID: "payer1", PayeeOpenID: "o_payee", MerchantOrderNo: "m1", ServiceItem: "x", GrossFen: 100})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFace{}
	return &Activities{Orders: st, Faces: st, WeChat: f, Hasher: hasher, Config: Config{FaceMode: FaceV1}}, f, payee, o.ID
}

func TestVerifyFaceV1BindingChecks(t *testing.T) {
	acts, f, payee, order := faceFixture(t)
	now := time.Now()
	cred := workflows.FaceCredential{Mode: FaceV1, Seq: 1, UserIDKey: "uik1", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
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
		{"older than the credential's hour", "r5", func(i *wechat.FaceInfo) { i.IdentifyTime = now.Add(-2 * time.Hour).Unix() }, workflows.FaceRefused, checkStale},
		{"scanned before the credential was issued", "r6", func(i *wechat.FaceInfo) { i.IdentifyTime = now.Add(-10 * time.Minute).Unix() }, workflows.FaceRefused, checkStale},
		{"face mismatch", "r7", func(i *wechat.FaceInfo) { i.IdentifyRet = 10004 }, workflows.FaceFail, ""},
		{"pass", "r8", func(*wechat.FaceInfo) {}, workflows.FacePass, ""},
		{"the same result again", "r8", func(*wechat.FaceInfo) {}, workflows.FaceRefused, checkReplayed},
	}
	var suite testsuite.WorkflowTestSuite
	for i, c := range cases {
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(acts)
		f.info = genuine
		c.edit(&f.info)
		in := workflows.VerifyFaceInput{OrderID: order, PayeeID: payee.ID, OpenID: "o_payee", Credential: cred, VerifyResult: c.result}
		in.Credential.Seq = i + 1 // each case is its own attempt, as after a fresh face.start
		val, err := env.ExecuteActivity(acts.VerifyFace, in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var v workflows.FaceVerdict
		_ = val.Get(&v)
		if v.Outcome != c.outcome || v.FailedCheck != c.check || v.Message == "" {
			t.Errorf("%s: got %+v, want %s %s", c.name, v, c.outcome, c.check)
		}
	}
	audit, _ := acts.Orders.(*store.Store).FaceAttempts(context.Background(), order)
	if len(audit) != len(cases) {
		t.Fatalf("audit has %d attempts, want %d", len(audit), len(cases))
	}
}

func TestVerifyFaceTransientWeChatErrorIsRetryable(t *testing.T) {
	acts, f, payee, order := faceFixture(t)
	f.err = &wechat.Error{Op: "getinfo", Code: -1, Class: wechat.Retryable}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	_, err := env.ExecuteActivity(acts.VerifyFace, workflows.VerifyFaceInput{OrderID: order, PayeeID: payee.ID, OpenID: "o_payee",
		Credential: workflows.FaceCredential{Mode: FaceV1, Seq: 1, UserIDKey: "u"}, VerifyResult: "r"})
	if err == nil {
		t.Fatal("a busy WeChat produced a verdict")
	}
	// An expired result is the payee's to redo, not an error.
	f.err = &wechat.Error{Op: "getinfo", Code: wechat.CodeVerifyResultExpiry, Class: wechat.User}
	val, err := env.ExecuteActivity(acts.VerifyFace, workflows.VerifyFaceInput{OrderID: order, PayeeID: payee.ID, OpenID: "o_payee",
		Credential: workflows.FaceCredential{Mode: FaceV1, Seq: 2, UserIDKey: "u"}, VerifyResult: "r2"})
	var v workflows.FaceVerdict
	if err != nil || val.Get(&v) != nil || v.Outcome != workflows.FaceRetry || v.Code != wechat.CodeVerifyResultExpiry {
		t.Fatalf("expired: %+v %v", v, err)
	}
}
