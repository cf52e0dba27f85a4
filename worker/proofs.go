package worker

import (
	"errors"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/proof"
	"github.com/receiptflow/receiptflow/workflows"
)

// NewProofInterceptor refuses, before the workflow accepts it, every update that speaks for a payee, a payer or
// an operator (workflows.UpdateRoles) without the API's proof that it authenticated them for this very update of
// this very run: a proof copied from one run's history into the order's next run is refused and logged. The key
// never enters the workflow's history; validation does not run on replay, so keys may rotate freely.
func NewProofInterceptor(keys *proof.Keys) interceptor.WorkerInterceptor {
	return &proofInterceptor{keys: keys}
}

type proofInterceptor struct {
	interceptor.WorkerInterceptorBase
	keys *proof.Keys
}

func (p *proofInterceptor) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	i := &proofInbound{keys: p.keys}
	i.Next = next
	return i
}

type proofInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	keys *proof.Keys
}

func (i *proofInbound) ValidateUpdate(ctx workflow.Context, in *interceptor.UpdateInput) error {
	if err := i.check(ctx, in); err != nil {
		workflow.GetLogger(ctx).Warn("update refused: no valid proof", "update", in.Name, "updateId", workflow.GetCurrentUpdateInfo(ctx).ID, "error", err)
		return temporal.NewApplicationError(err.Error(), workflows.RejectUnauthenticated)
	}
	return i.Next.ValidateUpdate(ctx, in)
}

func (i *proofInbound) check(ctx workflow.Context, in *interceptor.UpdateInput) error {
	roles, guarded := workflows.UpdateRoles[in.Name]
	if !guarded {
		return nil
	}
	if i.keys == nil {
		return errors.New("this worker has no proof keys: it accepts no " + in.Name)
	}
	var msg interface{ Actor() workflows.Actor }
	if len(in.Args) > 0 {
		msg, _ = in.Args[0].(interface{ Actor() workflows.Actor })
	}
	if msg == nil {
		return errors.New(in.Name + " carries no actor")
	}
	a := msg.Actor()
	allowed := false
	for _, r := range roles {
		allowed = allowed || a.Role == r
	}
	if !allowed {
		return errors.New(a.Role + " may not send " + in.Name)
	}
	run := workflow.GetInfo(ctx).WorkflowExecution
	claim := proof.Claim{Role: a.Role, Subject: a.ID, WorkflowID: run.ID, RunID: run.RunID, Update: in.Name, UpdateID: workflow.GetCurrentUpdateInfo(ctx).ID}
	if in.Name == workflows.UpdateOpen {
		claim.RunID = "" // it starts the run: its proof cannot name it (opening an open run again only shows it)
	}
	if err := i.keys.Verify(claim, a.Proof, workflow.Now(ctx)); err != nil {
		return errors.New(in.Name + ": " + err.Error() + " (send it through the API)")
	}
	return nil
}
