package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The reference is the engine's own ceiling for a flow shaped like a receipt: started by an update (the tap), two
// more updates (face result, confirm), six steps in all, here no-op local activities, through a plain SDK client
// on the same server. A receipt does real work in each step; the difference is what the project costs.

const referenceQueue = "bench-reference"

func referenceStep(context.Context) error { return nil }

func referenceFlow(ctx workflow.Context) error {
	steps := func(ctx workflow.Context) error {
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
		for range 2 {
			if err := workflow.ExecuteLocalActivity(ctx, referenceStep).Get(ctx, nil); err != nil {
				return err
			}
		}
		return nil
	}
	done := 0
	for _, name := range []string{"tap", "face", "confirm"} {
		if err := workflow.SetUpdateHandler(ctx, name, func(ctx workflow.Context) error {
			defer func() { done++ }()
			return steps(ctx)
		}); err != nil {
			return err
		}
	}
	return workflow.Await(ctx, func() bool { return done == 3 })
}

// reference is the reference's own client and worker on the system's server, and what its turns measured.
type reference struct {
	c       client.Client
	w       sdkworker.Worker
	profile cpuProfile // --reference-cpuprofile

	alone   *latencies // 20 flows one at a time, each update alone (the first turn)
	lat     *latencies // the flows of every turn, at the bench's concurrency
	flows   int
	elapsed time.Duration
	cpu     float64
	stamp   int64
}

func startReference(hostPort, namespace, cpuProfilePath string) (*reference, error) {
	c, err := client.Dial(client.Options{HostPort: hostPort, Namespace: namespace, Logger: quietLogger{}})
	if err != nil {
		return nil, err
	}
	w := sdkworker.New(c, referenceQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(referenceFlow, workflow.RegisterOptions{Name: "BenchReference"})
	w.RegisterActivity(referenceStep)
	if err := w.Start(); err != nil {
		c.Close()
		return nil, err
	}
	return &reference{c: c, w: w, profile: cpuProfile{path: cpuProfilePath}, alone: newLatencies(), lat: newLatencies(), stamp: time.Now().UnixNano()}, nil
}

func (r *reference) close() {
	r.w.Stop()
	r.c.Close()
}

// turn runs n reference flows at the bench's concurrency (the first turn begins with the 20 flows one at a time).
func (r *reference) turn(ctx context.Context, b *bencher, n int) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("reference: %w", err)
		}
	}()
	if r.flows == 0 {
		b.progress("reference: the same shape straight through the SDK")
		for i := range 20 {
			if err := referenceRun(ctx, r.c, fmt.Sprintf("bench-ref-%d-alone-%d", r.stamp, i), r.alone); err != nil {
				return err
			}
		}
	}
	b.progress("reference: %d flows, %d at a time", n, b.o.Concurrency)
	stopProfile, err := r.profile.start()
	if err != nil {
		return err
	}
	first := r.flows
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	cpu0, start := cpuSeconds(), time.Now()
	b.each(n, func(i int) {
		if err := referenceRun(ctx, r.c, fmt.Sprintf("bench-ref-%d-%d", r.stamp, first+i), r.lat); err != nil {
			failed.Add(1)
			once.Do(func() { firstErr = err })
		}
	})
	r.elapsed += time.Since(start)
	r.cpu += cpuSeconds() - cpu0
	r.flows += n
	if err := stopProfile(); err != nil {
		return err
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d flows failed: %w", n, firstErr)
	}
	return nil
}

// result is what the turns measured, in as many rounds.
func (r *reference) result(rounds int) *referenceResult {
	all := r.lat.summary()
	res := &referenceResult{Flows: r.flows, Seconds: r.elapsed.Seconds(), FlowsPerSecond: float64(r.flows) / r.elapsed.Seconds(), CPUSeconds: r.cpu,
		Rounds: rounds, Updates: all["update"], OneAtATime: r.alone.summary()["update"], ByUpdate: map[string]endpointLatency{}}
	for _, name := range []string{"tap", "face", "confirm"} {
		res.ByUpdate[name] = all[name]
	}
	return res
}

// referenceRun is one reference flow: update-with-start "tap", then "face" and "confirm", each a two-step update;
// each update's latency goes to lat under its name and under "update".
func referenceRun(ctx context.Context, c client.Client, id string, lat *latencies) error {
	start := time.Now()
	op := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: id, TaskQueue: referenceQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL}, "BenchReference")
	upd, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: "tap", WaitForStage: client.WorkflowUpdateStageCompleted}})
	if err == nil {
		err = upd.Get(ctx, nil)
	}
	if err != nil {
		return err
	}
	lat.add("update", time.Since(start))
	lat.add("tap", time.Since(start))
	for _, name := range []string{"face", "confirm"} {
		start := time.Now()
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: name, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			return err
		}
		lat.add("update", time.Since(start))
		lat.add(name, time.Since(start))
	}
	return c.GetWorkflow(ctx, id, "").Get(ctx, nil)
}

// quietLogger keeps the reference client's SDK logs out of the bench's output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
