package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Step is one activity the workflows call, typed by its input and result: the compiler checks every call, and the
// worker registers the implementation through the same value (Register), so a name and the types behind it cannot
// drift apart. The names are the ones running histories carry: never rename them.
type Step[I, O any] struct{ Name string }

// Register adds fn as the step's implementation.
func (s Step[I, O]) Register(r worker.ActivityRegistry, fn func(context.Context, I) (O, error)) {
	r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: s.Name})
}

// StepName names the step (for registration checks).
func (s Step[I, O]) StepName() string { return s.Name }

// Local runs the step as a local activity and waits for its result.
func (s Step[I, O]) Local(ctx workflow.Context, opts workflow.LocalActivityOptions, in I) (O, error) {
	var out O
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, opts), s.Name, in).Get(ctx, &out)
	return out, err
}

// Run runs the step as a regular activity and waits for its result.
func (s Step[I, O]) Run(ctx workflow.Context, opts workflow.ActivityOptions, in I) (O, error) {
	return s.Start(ctx, opts, in).Get(ctx)
}

// Start schedules the step as a regular activity.
func (s Step[I, O]) Start(ctx workflow.Context, opts workflow.ActivityOptions, in I) Pending[O] {
	return Pending[O]{workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), s.Name, in)}
}

// Pending is a started step's result to come.
type Pending[O any] struct{ f workflow.Future }

// IsReady reports whether the result is there.
func (p Pending[O]) IsReady() bool { return p.f.IsReady() }

// Get waits for the result.
func (p Pending[O]) Get(ctx workflow.Context) (O, error) {
	var out O
	err := p.f.Get(ctx, &out)
	return out, err
}

// The steps: every side effect of the workflows (methods of activities.Activities of the same names).
var (
	CheckEligibility    = Step[EligibilityInput, Eligibility]{"CheckEligibility"}
	IssueFaceCredential = Step[FaceCredentialInput, FaceCredential]{"IssueFaceCredential"}
	VerifyFace          = Step[VerifyFaceInput, FaceVerdict]{"VerifyFace"}
	PreparePayout       = Step[PayoutInput, PayoutPlan]{"PreparePayout"}
	CreateTransfer      = Step[TransferInput, TransferStatus]{"CreateTransfer"}
	QueryTransfer       = Step[TransferInput, TransferStatus]{"QueryTransfer"}
	AwaitTransfer       = Step[TransferInput, TransferStatus]{"AwaitTransfer"}
	CancelTransfer      = Step[TransferInput, TransferStatus]{"CancelTransfer"}
	ReleasePayment      = Step[TransferInput, Released]{"ReleasePayment"}
	FinishOrder         = Step[FinishInput, Done]{"FinishOrder"}
	Announce            = Step[AnnounceInput, Done]{"Announce"}
	SendWebhook         = Step[DeliveryInput, Done]{"SendWebhook"}
	GiveUpWebhook       = Step[DeliveryInput, Done]{"GiveUpWebhook"}
)

// Steps lists every step, so a test can hold the worker's registration against it.
var Steps = []interface{ StepName() string }{CheckEligibility, IssueFaceCredential, VerifyFace, PreparePayout, CreateTransfer,
	QueryTransfer, AwaitTransfer, CancelTransfer, ReleasePayment, FinishOrder, StartReconciliation, ReconcilePage, FinishReconciliation, ReconcileFundFlow,
	FilingsDue, OpenPayments, BuildWithholdingFiling, BuildPlatformReport, RequestBillReceipt, StoreBillReceipt, Announce, SendWebhook, GiveUpWebhook}

// How each step runs. Local activities are short steps, safe to re-run (store reads, idempotent writes, quick
// WeChat calls): one marker event each, no server round trip. Creating the bill is tried once locally; its
// retries, and waiting for the bill, are regular activities: operators see them, with their attempts and last
// failure, and the server schedules their retries.
var (
	checkOptions = workflow.LocalActivityOptions{
		Summary:             "资格校验 eligibility: 实名, 三流合一, risk",
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 5 * time.Second,
			NonRetryableErrorTypes: []string{ErrTypeNotFound, ErrTypeMisconfigured}},
	}
	// Credential issuance: a few quick tries, then tell the payee (获取扫脸用户凭证失败).
	credentialOptions = workflow.LocalActivityOptions{
		Summary:             "人脸核验凭证 face credential",
		StartToCloseTimeout: 8 * time.Second, ScheduleToCloseTimeout: 20 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 300 * time.Millisecond, BackoffCoefficient: 2, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{ErrTypeNotFound, ErrTypeMisconfigured, ErrTypeFaceUnusable}},
	}
	verifyOptions = workflow.LocalActivityOptions{
		Summary:             "人脸核验二次校验 face result check",
		StartToCloseTimeout: 8 * time.Second, ScheduleToCloseTimeout: 25 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 300 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 3 * time.Second,
			NonRetryableErrorTypes: []string{ErrTypeNotFound, ErrTypeMisconfigured}},
	}
	// Ledger writes retry until they land: they are idempotent on the order.
	ledgerOptions = workflow.LocalActivityOptions{
		Summary:             "税款与订单 ledger",
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			NonRetryableErrorTypes: []string{ErrTypeNotFound}},
	}
	// The first try at creating the bill, in the confirm's workflow task: one call (WeChat Pay's client gives up
	// after 10 s), no retry of its own — a failure goes on to the rounds below, which query before they create.
	createFirstOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout: 15 * time.Second, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	}
	// Creating the bill moves money: after the first try, a regular activity, a few tries a round (each round is visible as retrying
	// in the view, the search attributes and the current details); the activity resolves an unknown outcome by
	// querying the same out_bill_no. StartToClose fits one call (WeChat Pay's client gives up after 10 s), so a
	// worker that dies mid-call costs seconds, not minutes.
	createOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second, ScheduleToCloseTimeout: 2 * time.Minute, WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts: createTriesPerRound, NonRetryableErrorTypes: []string{ErrTypeTransferParam, ErrTypeNotFound}},
	}
	// A quick look at a bill (a callback arrived, the payee is back): a local activity, given up after a few
	// seconds — the workflow task waits for it, and so do queries of the view meanwhile.
	queryOptions = workflow.LocalActivityOptions{
		Summary:             "查询转账单 bill query",
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: 12 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 2 * time.Second},
	}
	// Resolving what a failed create left behind, while WeChat Pay may be down: a regular activity, so the
	// workflow stays responsive (views, updates) however long it takes.
	resolveOptions = workflow.ActivityOptions{
		Summary:             "查询转账单 resolve bill",
		StartToCloseTimeout: 15 * time.Second, ScheduleToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second},
	}
	// Waiting for the payee's confirm in WeChat: one activity for the whole wait, whatever its length. Each look
	// at the bill is an attempt the server schedules (the activity says when), so the history does not grow with
	// the wait; callbacks and the payee's return cut it short.
	awaitOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second, ScheduleToCloseTimeout: 26 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 30 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Hour},
	}
)

// createTriesPerRound is how often one round tries to create the bill before the workflow shows it retrying.
const createTriesPerRound = 4
