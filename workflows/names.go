package workflows

import (
	"go.temporal.io/sdk/temporal"
)

// TaskQueue is where receipt workflows and their activities run.
const TaskQueue = "receiptflow"

// Registered workflow names.
const (
	WorkflowName       = "ConfirmReceipt"
	SettleWorkflowName = "SettleBill"
	// ReconcileWorkflowName compares our bills with WeChat Pay's; the daily Schedule ReconcileScheduleID starts it.
	ReconcileWorkflowName = "Reconcile"
	ReconcileScheduleID   = "reconcile-daily"
	// FilingWorkflowName writes the monthly withholding filing; the Schedule FilingScheduleID starts it.
	FilingWorkflowName = "MonthlyFiling"
	FilingScheduleID   = "withholding-daily"
	// ReportWorkflowName writes the quarterly platform report; the Schedule ReportScheduleID starts it.
	ReportWorkflowName = "QuarterlyReport"
	ReportScheduleID   = "platform-quarterly"
)

// ReportWorkflowID is the report run of a quarter.
func ReportWorkflowID(quarter string) string { return "report/" + quarter }

// FilingWorkflowID is the filing run of a month.
func FilingWorkflowID(period string) string { return "filing/" + period }

// ReconcileWorkflowID is the one run per reconciliation ID (a day, or an operator's range).
func ReconcileWorkflowID(id string) string { return "reconcile/" + id }

// WorkflowID is the one run per order: a second tap attaches to it.
func WorkflowID(orderID string) string { return "receipt/" + orderID }

// SettleWorkflowID is the one settlement per bill.
func SettleWorkflowID(outBillNo string) string { return "settle/" + outBillNo }

// Messages ConfirmReceipt handles.
const (
	QueryStatus = "status"

	UpdateOpen          = "open"           // the payee's tap, first message of update-with-start: the view once eligibility is known
	UpdateFaceStart     = "face.start"     // the payee asks for a face credential
	UpdateFaceSubmit    = "face.submit"    // the payee's face scan finished: verify it on the server (二次校验)
	UpdateConfirm       = "confirm"        // the payee taps 确认收款
	UpdateTransferCheck = "transfer.check" // the payee came back from WeChat's confirm page: look at the bill now
	UpdateReview        = "review"         // an operator decides a run in manual review
	UpdateCancel        = "cancel"         // the payer or an operator cancels, through the API

	SignalCancel         = "cancel"          // a cancel from the Temporal Web UI: a platform cancel, unverified
	SignalTransferNotice = "transfer.notice" // WeChat Pay called back: look at the bill now
)

// Roles a message may speak for. The API vouches for them with a proof (Actor.Proof) the worker checks before an
// update is accepted (worker.ProofInterceptor); the workflow itself trusts what passed.
const (
	RolePayee    = "payee"
	RolePayer    = "payer"
	RoleOperator = "operator"
	// RolePlatform is a cancel that came through Temporal itself (the Web UI's signal or Request Cancellation):
	// the platform's, by nobody the API authenticated.
	RolePlatform = "platform"
)

// UpdateRoles are the roles that may send each update. An update not listed needs no proof.
var UpdateRoles = map[string][]string{
	UpdateOpen:          {RolePayee},
	UpdateFaceStart:     {RolePayee},
	UpdateFaceSubmit:    {RolePayee},
	UpdateConfirm:       {RolePayee},
	UpdateTransferCheck: {RolePayee},
	UpdateReview:        {RoleOperator},
	UpdateCancel:        {RolePayer, RoleOperator},
}

// Error types activities return as non-retryable application errors, so the workflow can branch on them.
const (
	ErrTypeNotFound      = "NotFound"      // the order or payee does not exist
	ErrTypeFaceUnusable  = "FaceUnusable"  // WeChat cannot issue a face credential for this identity
	ErrTypeMisconfigured = "Misconfigured" // our WeChat / WeChat Pay credentials are wrong: an operator must act
	ErrTypeTransferParam = "TransferRejected"
	ErrTypeBillPending   = "TransferPending" // AwaitTransfer: the bill has not moved yet (benign, retried by the server)
)

// Error types of rejected updates, which the API maps to HTTP statuses.
const (
	RejectWrongState      = "WrongState"      // 409: the run is not waiting for this
	RejectNotYours        = "NotYourOrder"    // 404 to a payee (order IDs cannot be probed)
	RejectBadRequest      = "BadRequest"      // 400
	RejectUnauthenticated = "Unauthenticated" // 401: the message carries no valid proof from the API
)

// Search attributes (typed). Never PII: no name, ID number or openid.
var (
	SearchOrderID         = temporal.NewSearchAttributeKeyKeyword("OrderId")
	SearchState           = temporal.NewSearchAttributeKeyKeyword("ReceiptState")
	SearchRiskLevel       = temporal.NewSearchAttributeKeyKeyword("RiskLevel")
	SearchPayerID         = temporal.NewSearchAttributeKeyKeyword("PayerId")
	SearchAmountFen       = temporal.NewSearchAttributeKeyInt64("AmountFen")
	SearchMerchantOrderNo = temporal.NewSearchAttributeKeyKeyword("MerchantOrderNo")
	SearchStateSince      = temporal.NewSearchAttributeKeyTime("StateSince")
	SearchPayoutAttempt   = temporal.NewSearchAttributeKeyInt64("PayoutAttempt")
	SearchPayoutRetrying  = temporal.NewSearchAttributeKeyBool("PayoutRetrying")
)

// SearchAttributeKeys lists the custom attributes the namespace must have.
var SearchAttributeKeys = []temporal.SearchAttributeKey{SearchOrderID, SearchState, SearchRiskLevel, SearchPayerID, SearchAmountFen,
	SearchMerchantOrderNo, SearchStateSince, SearchPayoutAttempt, SearchPayoutRetrying}
