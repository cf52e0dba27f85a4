package workflows

import (
	"time"
)

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
	TransferPollInterval time.Duration `json:"transferPollInterval"` // the longest wait between looks at a bill
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

// riskHigh is the level that needs face verification (risk.High; the workflow does not import the rule package).
const riskHigh = "HIGH"

// --- activity inputs and results ---

// EligibilityInput asks whether openid may be paid for the order.
type EligibilityInput struct {
	OrderID  string `json:"orderId"`
	OpenID   string `json:"openId"`
	ClientIP string `json:"clientIp,omitempty"` // for WeChat's risk rank
}

// Eligibility is CheckEligibility's answer.
type Eligibility struct {
	Eligible        bool     `json:"eligible"`
	Reasons         []Reason `json:"reasons,omitempty"`
	PayerID         string   `json:"payerId"`
	PayeeID         string   `json:"payeeId"`
	MerchantOrderNo string   `json:"merchantOrderNo,omitempty"`
	Amounts         Amounts  `json:"amounts"`
	Risk            Risk     `json:"risk"`
	FaceMode        string   `json:"faceMode"` // v1 | v2, from configuration
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
	FaceFail    = "FAIL"    // WeChat judged this payee's own scan a mismatch: counts against the attempts
	FaceRetry   = "RETRY"   // cancelled, device trouble, unfinished or late: scan again, not counted
	FaceRefused = "REFUSED" // not this payee's result for this credential, or replayed: counts against the attempts
)

// FaceVerdict is VerifyFace's answer.
type FaceVerdict struct {
	Outcome     string `json:"outcome"`
	Code        int    `json:"code"` // identify_ret (v1) / verify_ret (v2) / errcode
	Message     string `json:"message"`
	FailedCheck string `json:"failedCheck,omitempty"`
}

// PayoutInput asks to prepare the payout of an order.
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
	// Since is the state the bill was last seen in: AwaitTransfer returns when it has moved on.
	Since string `json:"since,omitempty"`
	// MaxLookInterval bounds how long AwaitTransfer lets pass between two looks.
	MaxLookInterval time.Duration `json:"maxLookInterval,omitempty"`
}

// MerchantTransferParams are wx.requestMerchantTransfer's arguments for the payee's own confirm.
type MerchantTransferParams struct {
	MchID   string `json:"mchId"`
	AppID   string `json:"appId"`
	Package string `json:"package"`
	OpenID  string `json:"openId"`
}

// TransferStatus is what the payout channel says about a bill (State: WeChat Pay's bill states, package
// wechatpay, or TransferNotFound).
type TransferStatus struct {
	OutBillNo      string                  `json:"outBillNo"`
	TransferBillNo string                  `json:"transferBillNo,omitempty"`
	State          string                  `json:"state"`
	FailReason     string                  `json:"failReason,omitempty"`
	AmountFen      int64                   `json:"amountFen,omitempty"`
	Confirm        *MerchantTransferParams `json:"confirm,omitempty"` // while the payee can (re)open WeChat's confirm page
	// UpdatedAt is when the bill reached its state at WeChat Pay (its update_time): a success counts as income
	// in that month.
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// TransferNotFound is the payout port's answer for a bill the channel does not have (never created).
const TransferNotFound = "NOT_FOUND"

// FinishInput records a run's end on the order.
type FinishInput struct {
	OrderID string `json:"orderId"`
	State   State  `json:"state"`
	Reason  string `json:"reason,omitempty"`
	PaidFen int64  `json:"paidFen,omitempty"` // net amount paid, when State is PAID
	// OutBillNo, for a settlement: the order is finished only when this is its latest bill.
	OutBillNo string `json:"outBillNo,omitempty"`
}

// Done is the result of a step that answers nothing but success.
type Done struct{}

// Released is ReleasePayment's answer: where the bill's payment stands in the books (VOIDED: released; POSTED:
// the bill paid after all; empty: nothing was reserved for it).
type Released struct {
	State string `json:"state,omitempty"`
}
