package workflows

import "time"

// Actor is whom a message speaks for: a role, who in it (openid, payer ID or operator ID), and the API's proof
// that it authenticated them for this very update.
type Actor struct {
	Role  string `json:"role"`
	ID    string `json:"id"`
	Proof string `json:"proof,omitempty"`
}

// OpenRequest is the payee's tap (the first, and every later one).
type OpenRequest struct {
	OpenID string `json:"openId"`
	Proof  string `json:"proof,omitempty"`
}

// FaceStartRequest asks for a face credential.
type FaceStartRequest struct {
	OpenID string `json:"openId"`
	Proof  string `json:"proof,omitempty"`
}

// FaceSubmitRequest reports a finished scan: v1 its verifyResult, v2 the verifyId it ran with.
type FaceSubmitRequest struct {
	OpenID       string `json:"openId"`
	VerifyResult string `json:"verifyResult"`
	Proof        string `json:"proof,omitempty"`
}

// ConfirmRequest is the payee's 确认收款.
type ConfirmRequest struct {
	OpenID string `json:"openId"`
	Proof  string `json:"proof,omitempty"`
}

// TransferCheckRequest is the payee back from WeChat's confirm page.
type TransferCheckRequest struct {
	OpenID string `json:"openId"`
	Proof  string `json:"proof,omitempty"`
}

// ReviewRequest is an operator's decision on a run in manual review.
type ReviewRequest struct {
	OperatorID string `json:"operatorId"`
	Approve    bool   `json:"approve"`
	Note       string `json:"note"`
	Proof      string `json:"proof,omitempty"`
}

// CancelRequest stops a run before the payee is paid: the payer's (Role payer, By its ID) or an operator's (Role
// operator, By their ID) through the API, or the platform's through Temporal (Role platform).
type CancelRequest struct {
	Role   string `json:"role"`
	By     string `json:"by"`
	Reason string `json:"reason"`
	Proof  string `json:"proof,omitempty"`
}

// TransferNotice tells the run to look at its bill now.
type TransferNotice struct {
	OutBillNo string `json:"outBillNo"`
}

// Actor implementations: who each message speaks for.
func (r OpenRequest) Actor() Actor       { return Actor{Role: RolePayee, ID: r.OpenID, Proof: r.Proof} }
func (r FaceStartRequest) Actor() Actor  { return Actor{Role: RolePayee, ID: r.OpenID, Proof: r.Proof} }
func (r FaceSubmitRequest) Actor() Actor { return Actor{Role: RolePayee, ID: r.OpenID, Proof: r.Proof} }
func (r ConfirmRequest) Actor() Actor    { return Actor{Role: RolePayee, ID: r.OpenID, Proof: r.Proof} }
func (r TransferCheckRequest) Actor() Actor {
	return Actor{Role: RolePayee, ID: r.OpenID, Proof: r.Proof}
}
func (r ReviewRequest) Actor() Actor {
	return Actor{Role: RoleOperator, ID: r.OperatorID, Proof: r.Proof}
}
func (r CancelRequest) Actor() Actor { return Actor{Role: r.Role, ID: r.By, Proof: r.Proof} }

// FaceStartResult is the face credential for the front end.
type FaceStartResult struct {
	Mode         string    `json:"mode"`
	UserIDKey    string    `json:"userIdKey,omitempty"`
	VerifyID     string    `json:"verifyId,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt"`
	AttemptsLeft int       `json:"attemptsLeft"`
}

// FaceSubmitResult is the server-side verdict on a scan.
type FaceSubmitResult struct {
	Passed       bool   `json:"passed"`
	Outcome      string `json:"outcome"`
	Code         int    `json:"code"`
	Message      string `json:"message"`
	AttemptsLeft int    `json:"attemptsLeft"`
	State        State  `json:"state"`
}
