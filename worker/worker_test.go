package worker

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/activities"
	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/proof"
	"github.com/receiptflow/receiptflow/workflows"
)

// recordingRegistry keeps what Register registers.
type recordingRegistry struct {
	sdkworker.Registry
	activities map[string]bool
	workflows  map[string]bool
}

func (r *recordingRegistry) RegisterActivityWithOptions(_ any, o activity.RegisterOptions) {
	r.activities[o.Name] = true
}
func (r *recordingRegistry) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r.workflows[o.Name] = true
}

// The worker registers every step the workflows call and nothing else, under the step's own name (the compiler
// already holds each implementation's signature to its step).
func TestRegistrationCoversEveryStep(t *testing.T) {
	r := &recordingRegistry{activities: map[string]bool{}, workflows: map[string]bool{}}
	Register(r, &activities.Activities{})
	if len(r.activities) != len(workflows.Steps) {
		t.Fatalf("registered %d activities for %d steps: %v", len(r.activities), len(workflows.Steps), r.activities)
	}
	for _, s := range workflows.Steps {
		if !r.activities[s.StepName()] {
			t.Errorf("step %s is not registered", s.StepName())
		}
	}
	for _, name := range []string{workflows.WorkflowName, workflows.SettleWorkflowName, workflows.ReconcileWorkflowName,
		workflows.FilingWorkflowName, workflows.ReportWorkflowName} {
		if !r.workflows[name] {
			t.Errorf("workflow %s is not registered: %v", name, r.workflows)
		}
	}
	// Every Schedule starts a registered workflow.
	for _, s := range Schedules {
		if !r.workflows[s.Workflow] {
			t.Errorf("schedule %s starts %s, which is not registered", s.ID, s.Workflow)
		}
	}
}

// An update that speaks for a payee, payer or operator is refused before the workflow accepts it unless the API's
// proof for that very update of this very run comes with it, for a role that may send it.
func TestUpdatesWithoutTheAPIsProofAreRefused(t *testing.T) {
	keys, err := proof.Parse(keyring.Generate("p1"))
	if err != nil {
		t.Fatal(err)
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(sdkworker.Options{Interceptors: Options(keys).Interceptors})
	confirmed := 0
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		if err := workflow.SetUpdateHandler(ctx, workflows.UpdateConfirm, func(ctx workflow.Context, req workflows.ConfirmRequest) error {
			confirmed++
			return nil
		}); err != nil {
			return err
		}
		if err := workflow.SetUpdateHandler(ctx, workflows.UpdateCancel, func(ctx workflow.Context, req workflows.CancelRequest) error {
			t.Errorf("cancel by %s accepted", req.Role)
			return nil
		}); err != nil {
			return err
		}
		return workflow.Await(ctx, func() bool { return confirmed == 1 })
	}, workflow.RegisterOptions{Name: "Probe"})
	wfID, runID := "default-test-workflow-id", "default-test-run-id"
	signedFor := func(run, openid, updateID string) workflows.ConfirmRequest {
		return workflows.ConfirmRequest{OpenID: openid, Proof: keys.Sign(proof.Claim{Role: workflows.RolePayee, Subject: openid, WorkflowID: wfID,
			RunID: run, Update: workflows.UpdateConfirm, UpdateID: updateID}, env.Now().Add(time.Hour))}
	}
	signed := func(openid, updateID string) workflows.ConfirmRequest { return signedFor(runID, openid, updateID) }
	// A cancel validly signed for a role that may not cancel (the payee; the platform, which nobody authenticates).
	wronglyRoled := func(role, updateID string) workflows.CancelRequest {
		return workflows.CancelRequest{Role: role, By: "someone", Reason: "x", Proof: keys.Sign(proof.Claim{Role: role, Subject: "someone", WorkflowID: wfID,
			RunID: runID, Update: workflows.UpdateCancel, UpdateID: updateID}, env.Now().Add(time.Hour))}
	}
	results := map[string]error{}
	send := func(at time.Duration, updateID string, req any) {
		name := workflows.UpdateConfirm
		if _, ok := req.(workflows.CancelRequest); ok {
			name = workflows.UpdateCancel
		}
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(name, updateID, &testsuite.TestUpdateCallback{
				OnAccept:   func() { results[updateID] = nil },
				OnReject:   func(err error) { results[updateID] = err },
				OnComplete: func(any, error) {},
			}, req)
		}, at)
	}
	send(time.Second, "none", workflows.ConfirmRequest{OpenID: "o_payee"})
	send(2*time.Second, "forged", workflows.ConfirmRequest{OpenID: "o_payee", Proof: "v1.p1.9999999999.AAAA"})
	send(3*time.Second, "another-update", signed("o_payee", "some-other-update"))
	send(3*time.Second, "another-run", signedFor("run-of-yesterday", "o_payee", "another-run"))
	send(3*time.Second, "no-run", signedFor("", "o_payee", "no-run"))
	send(3*time.Second, "payee-cancel", wronglyRoled(workflows.RolePayee, "payee-cancel"))
	send(3*time.Second, "platform-cancel", wronglyRoled(workflows.RolePlatform, "platform-cancel"))
	send(4*time.Second, "genuine", signed("o_payee", "genuine"))
	env.ExecuteWorkflow("Probe")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"none", "forged", "another-update", "another-run", "no-run", "payee-cancel", "platform-cancel"} {
		var ae *temporal.ApplicationError
		if err := results[id]; !errors.As(err, &ae) || ae.Type() != workflows.RejectUnauthenticated {
			t.Errorf("%s: %v", id, err)
		}
	}
	if err, ok := results["genuine"]; !ok || err != nil || confirmed != 1 {
		t.Fatalf("genuine: accepted=%v %v, confirmed %d", ok, err, confirmed)
	}
}
