package workflows

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
)

func TestHighRiskFacePassThenPaid(t *testing.T) {
	s := newScenario(t, newFake().highRisk())
	first := open(s, 0)
	earlyConfirm := s.update(time.Second, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	start := s.update(2*time.Second, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	again := s.update(3*time.Second, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	submit := s.update(4*time.Second, UpdateFaceSubmit, FaceSubmitRequest{OpenID: "o_payee", VerifyResult: "vid-1"})
	conf := s.update(5*time.Second, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	v := s.run()

	if view := first.result.(View); view.State != StateFaceRequired || view.Face.AttemptsLeft != 3 || view.Face.Mode != "v2" {
		t.Fatalf("open answered %+v", view)
	}
	rejectedAs(t, earlyConfirm, RejectWrongState)
	accepted(t, start)
	accepted(t, again)
	// A fresh, unused credential is handed out again rather than issuing another.
	if a, b := start.result.(FaceStartResult), again.result.(FaceStartResult); a.VerifyID == "" || a.VerifyID != b.VerifyID {
		t.Fatalf("credentials %+v / %+v", a, b)
	}
	accepted(t, submit)
	if r := submit.result.(FaceSubmitResult); !r.Passed || r.State != StateAwaitingConfirmation {
		t.Fatalf("submit answered %+v", r)
	}
	accepted(t, conf)
	if v.State != StatePaid || !v.Face.Passed || s.fake.n(IssueFaceCredential) != 1 {
		t.Fatalf("result %+v, calls %v", v, s.fake.calls)
	}
	if want := []string{"FACE_REQUIRED", "AWAITING_CONFIRMATION", "PAID"}; !equal(s.state, want) {
		t.Fatalf("states %v", s.state)
	}
}

func TestFaceFailuresGoToManualReviewThenApproval(t *testing.T) {
	f := newFake().highRisk()
	f.verdicts = []FaceVerdict{
		{Outcome: FaceFail, Code: 10004},
		{Outcome: FaceRetry, Code: 90100}, // the payee cancelled: not counted
		{Outcome: FaceRefused, Code: 0, FailedCheck: "openid"},
		{Outcome: FaceFail, Code: 10003},
	}
	s := newScenario(t, f)
	open(s, 0)
	var submits []*outcome
	for i := range 4 {
		base := time.Duration(i+1) * time.Minute
		s.update(base, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
		submits = append(submits, s.update(base+time.Second, UpdateFaceSubmit, FaceSubmitRequest{OpenID: "o_payee", VerifyResult: "r"}))
	}
	badReview := s.update(6*time.Minute, UpdateReview, ReviewRequest{OperatorID: "op1", Approve: true})
	review := s.update(7*time.Minute, UpdateReview, ReviewRequest{OperatorID: "op1", Approve: true, Note: "called the payee, ID checked"})
	conf := s.update(8*time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	v := s.run()

	wantLeft := []int{2, 2, 1, 0}
	for i, o := range submits {
		accepted(t, o)
		if r := o.result.(FaceSubmitResult); r.AttemptsLeft != wantLeft[i] || r.Passed {
			t.Fatalf("submit %d answered %+v", i, r)
		}
	}
	if r := submits[3].result.(FaceSubmitResult); r.State != StateManualReview {
		t.Fatalf("last submit answered %+v", r)
	}
	// Each submit used its credential: four credentials issued.
	if f.n(IssueFaceCredential) != 4 {
		t.Fatalf("credentials issued %d", f.n(IssueFaceCredential))
	}
	rejectedAs(t, badReview, RejectBadRequest)
	accepted(t, review)
	accepted(t, conf)
	if v.State != StatePaid || v.Review == nil || v.Review.OperatorID != "op1" || !v.Review.Approved {
		t.Fatalf("result %+v", v)
	}
	if want := []string{"FACE_REQUIRED", "MANUAL_REVIEW", "AWAITING_CONFIRMATION", "PAID"}; !equal(s.state, want) {
		t.Fatalf("states %v", s.state)
	}
}

func TestManualReviewRejection(t *testing.T) {
	f := newFake().highRisk()
	f.verdicts = []FaceVerdict{{Outcome: FaceFail, Code: 10004}}
	s := newScenario(t, f)
	s.in.Settings.FaceAttempts = 1
	open(s, 0)
	s.update(time.Minute, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	s.update(time.Minute+time.Second, UpdateFaceSubmit, FaceSubmitRequest{OpenID: "o_payee", VerifyResult: "r"})
	review := s.update(time.Hour, UpdateReview, ReviewRequest{OperatorID: "op1", Approve: false, Note: "not the registered person"})
	v := s.run()
	accepted(t, review)
	if v.State != StateRejected || v.Reasons[0].Code != "REVIEW_REJECTED" {
		t.Fatalf("result %+v", v)
	}
	s.finished(StateRejected)
}

func TestFaceDeadlineExpires(t *testing.T) {
	s := newScenario(t, newFake().highRisk())
	open(s, 0)
	v := s.run()
	if v.State != StateExpired || v.Reasons[0].Code != "FACE_EXPIRED" || v.UpdatedAt.Sub(s.started) != 30*time.Minute {
		t.Fatalf("result %+v", v)
	}
	s.finished(StateExpired)
}

func TestConfigurableFaceDeadline(t *testing.T) {
	s := newScenario(t, newFake().highRisk())
	s.in.Settings.FaceDeadline = 5 * time.Minute
	open(s, 0)
	v := s.run()
	// Expired exactly when the configured 5 minutes were up, not the default 30.
	if v.State != StateExpired || v.Face.Deadline == nil || !v.Face.Deadline.Equal(v.UpdatedAt) || v.UpdatedAt.Sub(s.started) != 5*time.Minute {
		t.Fatalf("result %+v", v)
	}
}

func TestExpiredCredentialIsReissued(t *testing.T) {
	s := newScenario(t, newFake().highRisk())
	s.in.Settings.FaceDeadline = 3 * time.Hour
	open(s, 0)
	first := s.update(time.Minute, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	second := s.update(2*time.Hour, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	s.update(2*time.Hour+time.Minute, UpdateFaceSubmit, FaceSubmitRequest{OpenID: "o_payee", VerifyResult: "vid-2"})
	s.update(2*time.Hour+2*time.Minute, UpdateConfirm, ConfirmRequest{OpenID: "o_payee"})
	v := s.run()
	accepted(t, first)
	accepted(t, second)
	if first.result.(FaceStartResult).VerifyID == second.result.(FaceStartResult).VerifyID || s.fake.n(IssueFaceCredential) != 2 {
		t.Fatalf("expired credential reused: %+v / %+v", first.result, second.result)
	}
	if v.State != StatePaid {
		t.Fatalf("result %+v", v)
	}
}

func TestCredentialFailureIsReturnedToTheCaller(t *testing.T) {
	f := newFake().highRisk()
	f.credErr = errWeChatRefused
	s := newScenario(t, f)
	open(s, 0)
	start := s.update(time.Minute, UpdateFaceStart, FaceStartRequest{OpenID: "o_payee"})
	s.at(2*time.Minute, func() { s.env.SignalWorkflow(SignalCancel, CancelRequest{By: "test"}) })
	s.run()
	var ae *temporal.ApplicationError
	if !start.accepted || !errors.As(start.err, &ae) || ae.Type() != ErrTypeFaceUnusable {
		t.Fatalf("face start: %+v", start)
	}
	if f.n(IssueFaceCredential) != 1 {
		t.Fatalf("a non-retryable refusal was retried: %v", f.calls)
	}
}
