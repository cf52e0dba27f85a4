// Package workflows holds the ConfirmReceipt workflow: the payee's whole 确认收款 sequence as one durable run,
// its message names and payload types, search-attribute keys, task queue and workflow-ID helpers. Nothing here
// does I/O: every side effect is an activity (package activities), called by name.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// TaskQueue is where receipt workflows and their activities run.
const TaskQueue = "receiptflow"

// WorkflowName is the registered name of ConfirmReceipt.
const WorkflowName = "ConfirmReceipt"

// WorkflowID is the one run per order: a second tap attaches to it.
func WorkflowID(orderID string) string { return "receipt/" + orderID }

// Messages the workflow handles.
const (
	QueryStatus = "status"

	UpdateOpen       = "open"        // first message of update-with-start: returns the view once eligibility is known
	UpdateFaceStart  = "face.start"  // the payee asks for a face credential
	UpdateFaceSubmit = "face.submit" // the payee's face scan finished: verify it on the server (二次校验)
	UpdateConfirm    = "confirm"     // the payee taps 确认收款
	UpdateReview     = "review"      // an operator decides a run in manual review
	UpdateCancel     = "cancel"      // the payer cancels (merchant API); also a signal of the same name (operators)

	SignalCancel         = "cancel"
	SignalTransferNotice = "transfer.notice" // WeChat Pay called back, or the payee returned from the confirm page
)

// Activities the workflow calls, by registered name (methods of activities.Activities).
const (
	ActivityCheckEligibility    = "CheckEligibility"
	ActivityIssueFaceCredential = "IssueFaceCredential"
	ActivityVerifyFace          = "VerifyFace"
	ActivityPreparePayout       = "PreparePayout"
	ActivityCreateTransfer      = "CreateTransfer"
	ActivityQueryTransfer       = "QueryTransfer"
	ActivityCancelTransfer      = "CancelTransfer"
	ActivityReverseTax          = "ReverseTax"
	ActivityFinishOrder         = "FinishOrder"
)

// Error types activities return as non-retryable application errors, so the workflow can branch on them.
const (
	ErrTypeNotFound      = "NotFound"      // the order or payee does not exist
	ErrTypeFaceUnusable  = "FaceUnusable"  // WeChat cannot issue a face credential for this identity
	ErrTypeMisconfigured = "Misconfigured" // our WeChat / WeChat Pay credentials are wrong: an operator must act
	ErrTypeTransferParam = "TransferRejected"
)

// Search attributes (typed). Never PII: no name, ID number or openid.
var (
	SearchOrderID   = temporal.NewSearchAttributeKeyKeyword("OrderId")
	SearchState     = temporal.NewSearchAttributeKeyKeyword("ReceiptState")
	SearchRiskLevel = temporal.NewSearchAttributeKeyKeyword("RiskLevel")
	SearchPayerID   = temporal.NewSearchAttributeKeyKeyword("PayerId")
	SearchAmountFen = temporal.NewSearchAttributeKeyInt64("AmountFen")
)

// SearchAttributeKeys lists the custom attributes the namespace must have.
var SearchAttributeKeys = []temporal.SearchAttributeKey{SearchOrderID, SearchState, SearchRiskLevel, SearchPayerID, SearchAmountFen}

// State of a run.
type State string

const (
	StateChecking                State = "CHECKING"
	StateRejected                State = "REJECTED"
	StateFaceRequired            State = "FACE_REQUIRED"
	StateManualReview            State = "MANUAL_REVIEW"
	StateAwaitingConfirmation    State = "AWAITING_CONFIRMATION"
	StatePaying                  State = "PAYING"
	StateAwaitingTransferConfirm State = "AWAITING_TRANSFER_CONFIRM"
	StatePaid                    State = "PAID"
	StateFailed                  State = "FAILED"
	StateExpired                 State = "EXPIRED"
	StateCancelled               State = "CANCELLED"
)

// Final reports whether the run ends in s.
func (s State) Final() bool {
	switch s {
	case StateRejected, StatePaid, StateFailed, StateExpired, StateCancelled:
		return true
	}
	return false
}

// Settings are the run's limits, fixed at start so the run is deterministic; zero values take the defaults.
type Settings struct {
	FaceAttempts         int           `json:"faceAttempts"`
	FaceDeadline         time.Duration `json:"faceDeadline"`
	ConfirmDeadline      time.Duration `json:"confirmDeadline"`
	TransferPollInterval time.Duration `json:"transferPollInterval"`
}

// Defaults for Settings.
const (
	DefaultFaceAttempts         = 3
	DefaultFaceDeadline         = 30 * time.Minute
	DefaultConfirmDeadline      = 7 * 24 * time.Hour
	DefaultTransferPollInterval = 10 * time.Minute
)

func (s Settings) withDefaults() Settings {
	if s.FaceAttempts <= 0 {
		s.FaceAttempts = DefaultFaceAttempts
	}
	if s.FaceDeadline <= 0 {
		s.FaceDeadline = DefaultFaceDeadline
	}
	if s.ConfirmDeadline <= 0 {
		s.ConfirmDeadline = DefaultConfirmDeadline
	}
	if s.TransferPollInterval <= 0 {
		s.TransferPollInterval = DefaultTransferPollInterval
	}
	return s
}

// Input starts a run.
type Input struct {
	OrderID     string   `json:"orderId"`
	PayeeOpenID string   `json:"payeeOpenId"` // who tapped; must be the order's payee
	ClientIP    string   `json:"clientIp,omitempty"`
	Settings    Settings `json:"settings"`
}

// Reason explains a refusal or a failure with a code and a message the page can show.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Amounts for the 金额明细 page, in fen.
type Amounts struct {
	GrossFen  int64  `json:"grossFen"`
	TaxFen    int64  `json:"taxFen"`
	NetFen    int64  `json:"netFen"`
	TaxMethod string `json:"taxMethod"`
	Booked    bool   `json:"booked"`             // false: a preview; true: withheld and recorded in the ledger
	Reversed  bool   `json:"reversed,omitempty"` // the withholding was reversed because the payout failed
}

// Risk is the high-risk screening outcome: level and rule codes, no personal data.
type Risk struct {
	Level string   `json:"level"`
	Rules []string `json:"rules"`
}

// Eligibility is CheckEligibility's answer.
type Eligibility struct {
	Eligible bool     `json:"eligible"`
	Reasons  []Reason `json:"reasons,omitempty"`
	PayerID  string   `json:"payerId"`
	PayeeID  string   `json:"payeeId"`
	Amounts  Amounts  `json:"amounts"`
	Risk     Risk     `json:"risk"`
	FaceMode string   `json:"faceMode"` // v1 | v2, from configuration
}

// EligibilityInput asks whether openid may be paid for the order.
type EligibilityInput struct {
	OrderID  string `json:"orderId"`
	OpenID   string `json:"openId"`
	ClientIP string `json:"clientIp,omitempty"` // for WeChat's risk rank
}

// FaceCredentialInput asks for the seq-th face credential of a run.
type FaceCredentialInput struct {
	OrderID string `json:"orderId"`
	PayeeID string `json:"payeeId"`
	OpenID  string `json:"openId"`
	Seq     int    `json:"seq"`
}

// FaceCredential is what the front end needs to start the scan: v1 userIdKey, v2 verifyId. A result is accepted
// only for the credential, and the run (RunID), it was issued under.
type FaceCredential struct {
	Mode      string    `json:"mode"`
	Seq       int       `json:"seq"`
	RunID     string    `json:"runId,omitempty"`
	UserIDKey string    `json:"userIdKey,omitempty"`
	VerifyID  string    `json:"verifyId,omitempty"`
	OutSeqNo  string    `json:"outSeqNo,omitempty"`
	IssuedAt  time.Time `json:"issuedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// VerifyFaceInput asks WeChat for the real outcome of a scan and checks it is bound to the payee.
type VerifyFaceInput struct {
	OrderID      string         `json:"orderId"`
	PayeeID      string         `json:"payeeId"`
	OpenID       string         `json:"openId"`
	Credential   FaceCredential `json:"credential"`
	VerifyResult string         `json:"verifyResult"`
}

// Face verdict outcomes (also the audit's).
const (
	FacePass    = "PASS"
	FaceFail    = "FAIL"    // counts against the attempts
	FaceRetry   = "RETRY"   // cancelled, device trouble, result expired: try again, not counted
	FaceRefused = "REFUSED" // not this payee's result, or replayed: counts against the attempts
)

// FaceVerdict is VerifyFace's answer.
type FaceVerdict struct {
	Outcome     string `json:"outcome"`
	Code        int    `json:"code"` // identify_ret (v1) / verify_ret (v2) / errcode
	Message     string `json:"message"`
	FailedCheck string `json:"failedCheck,omitempty"`
}

// PayoutInput asks to prepare, create or follow the payout of an order.
type PayoutInput struct {
	OrderID string `json:"orderId"`
	PayeeID string `json:"payeeId"`
	OpenID  string `json:"openId"`
}

// PayoutPlan is PreparePayout's answer: 三流合一 re-checked and tax withheld.
type PayoutPlan struct {
	Approved  bool     `json:"approved"`
	Reasons   []Reason `json:"reasons,omitempty"`
	Amounts   Amounts  `json:"amounts"`
	OutBillNo string   `json:"outBillNo"`
	Attempt   int      `json:"attempt"`
}

// TransferInput identifies one bill.
type TransferInput struct {
	OrderID   string `json:"orderId"`
	PayeeID   string `json:"payeeId"`
	OpenID    string `json:"openId"`
	OutBillNo string `json:"outBillNo"`
	Attempt   int    `json:"attempt"`
	NetFen    int64  `json:"netFen"`
	Reason    string `json:"reason,omitempty"`
}

// MerchantTransferParams are wx.requestMerchantTransfer's arguments for the payee's own confirm.
type MerchantTransferParams struct {
	MchID   string `json:"mchId"`
	AppID   string `json:"appId"`
	Package string `json:"package"`
	OpenID  string `json:"openId"`
}

// TransferStatus is what the payout channel says about a bill.
type TransferStatus struct {
	OutBillNo      string                  `json:"outBillNo"`
	TransferBillNo string                  `json:"transferBillNo,omitempty"`
	State          string                  `json:"state"` // WeChat Pay's bill states
	FailReason     string                  `json:"failReason,omitempty"`
	Confirm        *MerchantTransferParams `json:"confirm,omitempty"` // when the payee must confirm in WeChat
}

// Transfer bill states the workflow branches on.
const (
	TransferSuccess         = "SUCCESS"
	TransferFail            = "FAIL"
	TransferCancelled       = "CANCELLED"
	TransferWaitUserConfirm = "WAIT_USER_CONFIRM"
	TransferTransfering     = "TRANSFERING"
	// TransferNotFound is the payout port's answer for a bill the channel does not have (never created).
	TransferNotFound = "NOT_FOUND"
)

func transferFinal(state string) bool {
	return state == TransferSuccess || state == TransferFail || state == TransferCancelled
}

// FinishInput records a run's end on the order.
type FinishInput struct {
	OrderID string `json:"orderId"`
	State   State  `json:"state"`
	Reason  string `json:"reason,omitempty"`
	PaidFen int64  `json:"paidFen,omitempty"` // net amount paid, when State is PAID
}

// --- update and signal payloads ---

// OpenRequest is the first tap (and every later one).
type OpenRequest struct {
	OpenID string `json:"openId"`
}

// FaceStartRequest asks for a face credential.
type FaceStartRequest struct {
	OpenID string `json:"openId"`
}

// FaceStartResult is the face credential for the front end.
type FaceStartResult struct {
	Mode         string    `json:"mode"`
	UserIDKey    string    `json:"userIdKey,omitempty"`
	VerifyID     string    `json:"verifyId,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt"`
	AttemptsLeft int       `json:"attemptsLeft"`
}

// FaceSubmitRequest reports a finished scan: v1 its verifyResult, v2 the verifyId it ran with.
type FaceSubmitRequest struct {
	OpenID       string `json:"openId"`
	VerifyResult string `json:"verifyResult"`
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

// ConfirmRequest is the payee's 确认收款.
type ConfirmRequest struct {
	OpenID string `json:"openId"`
}

// ReviewRequest is an operator's decision on a run in manual review.
type ReviewRequest struct {
	OperatorID string `json:"operatorId"`
	Approve    bool   `json:"approve"`
	Note       string `json:"note"`
}

// CancelRequest stops a run before the payee is paid.
type CancelRequest struct {
	By     string `json:"by"` // payer ID or operator ID
	Reason string `json:"reason"`
}

// TransferNotice tells the run to look at its bill now.
type TransferNotice struct {
	OutBillNo string `json:"outBillNo"`
}

// --- the view ---

// FaceView is the face step as the page shows it.
type FaceView struct {
	Mode            string     `json:"mode"`
	AttemptsAllowed int        `json:"attemptsAllowed"`
	AttemptsUsed    int        `json:"attemptsUsed"`
	AttemptsLeft    int        `json:"attemptsLeft"`
	Passed          bool       `json:"passed"`
	LastOutcome     string     `json:"lastOutcome,omitempty"`
	LastCode        int        `json:"lastCode,omitempty"`
	Deadline        *time.Time `json:"deadline,omitempty"`
}

// ReviewView is the operator's decision.
type ReviewView struct {
	OperatorID string    `json:"operatorId"`
	Approved   bool      `json:"approved"`
	Note       string    `json:"note"`
	At         time.Time `json:"at"`
}

// PayoutView is the payout's progress.
type PayoutView struct {
	OutBillNo  string                  `json:"outBillNo"`
	State      string                  `json:"state"`
	FailReason string                  `json:"failReason,omitempty"`
	Confirm    *MerchantTransferParams `json:"confirm,omitempty"`
}

// View is the whole page: what the status query, every update and the API return.
type View struct {
	OrderID         string      `json:"orderId"`
	State           State       `json:"state"`
	Reasons         []Reason    `json:"reasons,omitempty"`
	PayerID         string      `json:"payerId,omitempty"`
	Amounts         *Amounts    `json:"amounts,omitempty"`
	Risk            *Risk       `json:"risk,omitempty"`
	Face            *FaceView   `json:"face,omitempty"`
	ConfirmDeadline *time.Time  `json:"confirmDeadline,omitempty"`
	Review          *ReviewView `json:"review,omitempty"`
	Payout          *PayoutView `json:"payout,omitempty"`
	CancelledBy     string      `json:"cancelledBy,omitempty"`
	UpdatedAt       time.Time   `json:"updatedAt"`
}
