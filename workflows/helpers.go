package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/receiptflow/receiptflow/tax"
)

// waitFor blocks until done holds or d passes, and reports whether done won. The deadline is a timer named for
// operators, cancelled when done wins, so it never fires for nothing.
func waitFor(ctx workflow.Context, d time.Duration, summary string, done func() bool) bool {
	if done() {
		return true
	}
	tctx, cancelTimer := workflow.WithCancel(ctx)
	timer := workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: summary})
	_ = workflow.Await(ctx, func() bool { return done() || timer.IsReady() })
	if done() {
		cancelTimer()
		return true
	}
	return false
}

func reject(kind, msg string) error { return temporal.NewApplicationError(msg, kind) }

func isType(err error, t string) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == t
}

// reasonFor shows the payee a business error's own message, and fallback for anything else.
func reasonFor(err error, fallback Reason) Reason {
	if isType(err, ErrTypeNotFound) {
		return reasonOrderNotFound
	}
	return fallback
}

// errorText is what an operator reads of an activity's failure.
func errorText(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Message()
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "timeout: " + te.TimeoutType().String()
	}
	return err.Error()
}

// beijingTime is how the payee and operators read a time: China Standard Time, to the minute.
func beijingTime(t time.Time) string { return t.In(tax.Beijing).Format("2006-01-02 15:04") }

// searchAttrs gathers a run's search attribute changes until publish writes them as one upsert. A value set again
// before then replaces the earlier one; a value already published is not written again.
type searchAttrs struct {
	pending   []namedUpdate
	published map[string]string // by attribute name, the value written, as fmt prints it
	held      int               // local activities running (runLocal): nothing is published meanwhile
}

type namedUpdate struct {
	name, value string
	update      temporal.SearchAttributeUpdate
}

// settable is a typed search attribute key of values T (keyword, datetime, bool, int).
type settable[T any] interface {
	GetName() string
	ValueSet(T) temporal.SearchAttributeUpdate
}

// setAttr records key's new value in a.
func setAttr[T any](a *searchAttrs, key settable[T], value T) {
	a.set(namedUpdate{key.GetName(), fmt.Sprint(value), key.ValueSet(value)})
}

// set records n, replacing the update of the same attribute not published yet.
func (a *searchAttrs) set(n namedUpdate) {
	for i := range a.pending {
		if a.pending[i].name == n.name {
			a.pending[i] = n
			return
		}
	}
	a.pending = append(a.pending, n)
}

// changed: there is something to publish, and no local activity holds it back.
func (a *searchAttrs) changed() bool { return len(a.pending) > 0 && a.held == 0 }

func (a *searchAttrs) publish(ctx workflow.Context) {
	pending := a.pending
	a.pending = nil
	var updates []temporal.SearchAttributeUpdate
	for _, p := range pending {
		if v, ok := a.published[p.name]; !ok || v != p.value {
			updates = append(updates, p.update)
		}
	}
	if len(updates) == 0 {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
		return
	}
	if a.published == nil {
		a.published = map[string]string{}
	}
	for _, p := range pending {
		a.published[p.name] = p.value
	}
}
