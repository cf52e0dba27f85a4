package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// runReference measures the reference: 20 flows one at a time (each update alone), then flows at concurrency (their
// CPU profile to cpuProfile, when given).
func runReference(ctx context.Context, hostPort, namespace string, concurrency, flows int, cpuProfile string) (referenceResult, error) {
	c, err := client.Dial(client.Options{HostPort: hostPort, Namespace: namespace, Logger: quietLogger{}})
	if err != nil {
		return referenceResult{}, err
	}
	defer c.Close()
	w := sdkworker.New(c, referenceQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(referenceFlow, workflow.RegisterOptions{Name: "BenchReference"})
	w.RegisterActivity(referenceStep)
	if err := w.Start(); err != nil {
		return referenceResult{}, err
	}
	defer w.Stop()
	run := func(id string, lat *latencies) error { return referenceRun(ctx, c, id, lat) }
	stamp := time.Now().UnixNano()
	// One at a time first: the per-update latency with nothing else running.
	alone := newLatencies()
	for i := range 20 {
		if err := run(fmt.Sprintf("bench-ref-%d-alone-%d", stamp, i), alone); err != nil {
			return referenceResult{}, err
		}
	}
	lat := newLatencies()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	next := make(chan int)
	stopProfile, err := startCPUProfile(cpuProfile)
	if err != nil {
		return referenceResult{}, err
	}
	defer stopProfile()
	cpu0, start := cpuSeconds(), time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := run(fmt.Sprintf("bench-ref-%d-%d", stamp, i), lat); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range flows {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuSeconds()-cpu0
	stopProfile()
	if len(errs) > 0 {
		return referenceResult{}, fmt.Errorf("%d reference flows failed: %w", len(errs), errors.Join(errs[:min(3, len(errs))]...))
	}
	all := lat.summary()
	res := referenceResult{Flows: flows, Seconds: elapsed.Seconds(), FlowsPerSecond: float64(flows) / elapsed.Seconds(), CPUSeconds: cpu,
		Updates: all["update"], OneAtATime: alone.summary()["update"], ByUpdate: map[string]endpointLatency{}}
	for _, name := range []string{"tap", "face", "confirm"} {
		res.ByUpdate[name] = all[name]
	}
	return res, nil
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
