package workflows

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// A delivery the endpoint takes at the third attempt is DELIVERED, each retry after the wait the attempt named; one
// that never takes it is given up when RetryFor runs out, and GiveUpWebhook marks it.
func TestDeliverWebhook(t *testing.T) {
	for _, tc := range []struct {
		name      string
		takesAt   int // 0: never
		want      string
		wantGiven int
	}{{"taken at the third attempt", 3, "DELIVERED", 0}, {"never taken", 0, "FAILED", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.RegisterWorkflowWithOptions(DeliverWebhook, workflow.RegisterOptions{Name: DeliveryWorkflowName})
			attempts, givenUp := 0, 0
			var at []time.Time
			SendWebhook.Register(env, func(context.Context, DeliveryInput) (Done, error) {
				attempts++
				at = append(at, env.Now())
				if attempts == tc.takesAt {
					return Done{}, nil
				}
				return Done{}, temporal.NewApplicationErrorWithOptions("500", "WebhookRefused", temporal.ApplicationErrorOptions{NextRetryDelay: 15 * time.Second})
			})
			GiveUpWebhook.Register(env, func(context.Context, DeliveryInput) (Done, error) { givenUp++; return Done{}, nil })
			env.ExecuteWorkflow(DeliveryWorkflowName, DeliveryInput{EventID: "evt_1", RetryFor: 10 * time.Minute})
			var got string
			if err := env.GetWorkflowResult(&got); err != nil || got != tc.want || givenUp != tc.wantGiven {
				t.Fatalf("result %q %v, given up %d times, %d attempts", got, err, givenUp, attempts)
			}
			if len(at) < 2 || at[1].Sub(at[0]) != 15*time.Second {
				t.Errorf("the retry did not wait what the attempt named: %v", at)
			}
			// (The test environment stops an unlimited retry policy at 10 attempts; the server does not.)
			if tc.takesAt == 0 && attempts != 10 {
				t.Errorf("%d attempts", attempts)
			}
		})
	}
}

func TestEventIDsAreOnePerRunAndType(t *testing.T) {
	a, b, c := EventID("run1", EventOrderPaid), EventID("run1", EventOrderPaid), EventID("run2", EventOrderPaid)
	if a != b || a == c || EventID("run1", EventOrderFailed) == a || len(a) != 28 {
		t.Fatalf("%s %s %s", a, b, c)
	}
}
