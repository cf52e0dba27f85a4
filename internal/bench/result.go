package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Result is what bench prints and writes with --out.
type Result struct {
	Options           Options                    `json:"options"`
	Receipts          int                        `json:"receipts"` // ended PAID
	Failed            int                        `json:"failed"`
	Seconds           float64                    `json:"seconds"`
	ReceiptsPerSecond float64                    `json:"receiptsPerSecond"`
	RatioToReference  float64                    `json:"ratioToReference,omitempty"`
	Endpoints         map[string]endpointLatency `json:"endpoints"`
	Errors            map[string]int64           `json:"errors"` // "endpoint status" → count
	HistoryEvents     map[string]int             `json:"historyEvents"`
	RSSMiB            float64                    `json:"rssMiB"`
	CPUSeconds        float64                    `json:"cpuSeconds"`
	Reference         *referenceResult           `json:"reference,omitempty"`
	Park              *parkResult                `json:"park,omitempty"`
}

// endpointLatency summarises one endpoint's answers, in milliseconds; Samples keeps them for the plot.
type endpointLatency struct {
	Count   int       `json:"count"`
	P50     float64   `json:"p50Ms"`
	P95     float64   `json:"p95Ms"`
	P99     float64   `json:"p99Ms"`
	Max     float64   `json:"maxMs"`
	Samples []float64 `json:"-"`
}

type referenceResult struct {
	Flows          int                        `json:"flows"`
	Seconds        float64                    `json:"seconds"`
	FlowsPerSecond float64                    `json:"flowsPerSecond"`
	CPUSeconds     float64                    `json:"cpuSeconds"` // the process's, over the concurrent flows
	Rounds         int                        `json:"rounds"`     // turns taken with the receipts
	Updates        endpointLatency            `json:"updates"`
	OneAtATime     endpointLatency            `json:"oneAtATime"` // per-update latency with nothing else running
	ByUpdate       map[string]endpointLatency `json:"byUpdate"`   // tap (update-with-start), face, confirm
}

type parkResult struct {
	Parked        int     `json:"parked"`
	ParkSeconds   float64 `json:"parkSeconds"`
	RSSParkedMiB  float64 `json:"rssParkedMiB"`
	TemporalDBMiB float64 `json:"temporalDbMiB"`
	StoreDBMiB    float64 `json:"storeDbMiB"`
	FinishSeconds float64 `json:"finishSeconds"`
	Paid          int     `json:"paid"`
}

// latencies collects durations per endpoint from many goroutines.
type latencies struct {
	mu sync.Mutex
	by map[string][]time.Duration
}

func newLatencies() *latencies { return &latencies{by: map[string][]time.Duration{}} }

func (l *latencies) add(endpoint string, d time.Duration) {
	l.mu.Lock()
	l.by[endpoint] = append(l.by[endpoint], d)
	l.mu.Unlock()
}

func (l *latencies) summary() map[string]endpointLatency {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]endpointLatency{}
	for k, ds := range l.by {
		out[k] = summarise(ds)
	}
	return out
}

func summarise(ds []time.Duration) endpointLatency {
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d.Microseconds()) / 1000
	}
	sort.Float64s(ms)
	q := func(p float64) float64 {
		if len(ms) == 0 {
			return 0
		}
		return ms[min(len(ms)-1, int(math.Ceil(p*float64(len(ms))))-1)]
	}
	return endpointLatency{Count: len(ms), P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: q(1), Samples: ms}
}

// endpointOrder is the order a payee meets the endpoints in.
var endpointOrder = []string{"session", "tap", "face/session", "face/result", "confirm", "transfer/confirmed", "view"}

func sortedEndpoints(m map[string]endpointLatency) []string {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	rank := func(s string) int {
		if i := slices.Index(endpointOrder, s); i >= 0 {
			return i
		}
		return len(endpointOrder)
	}
	sort.Slice(names, func(i, j int) bool {
		if ri, rj := rank(names[i]), rank(names[j]); ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	return names
}

func printBench(w io.Writer, r Result) {
	o := r.Options
	fmt.Fprintf(w, "\nreceiptflow bench: %d receipts PAID (%d failed) in %.1f s — %.1f receipts/s at concurrency %d\n",
		r.Receipts, r.Failed, r.Seconds, r.ReceiptsPerSecond, o.Concurrency)
	fmt.Fprintf(w, "mix %s, channel %s, face mode %s; RSS %.0f MiB, CPU %.1f s\n\n", o.Mix, o.Channel, o.FaceMode, r.RSSMiB, r.CPUSeconds)
	fmt.Fprintf(w, "%-20s %7s %9s %9s %9s %9s\n", "endpoint", "count", "p50 ms", "p95 ms", "p99 ms", "max ms")
	for _, k := range sortedEndpoints(r.Endpoints) {
		e := r.Endpoints[k]
		fmt.Fprintf(w, "%-20s %7d %9.1f %9.1f %9.1f %9.1f\n", k, e.Count, e.P50, e.P95, e.P99, e.Max)
	}
	if ref := r.Reference; ref != nil {
		fmt.Fprintf(w, "\nreference (SDK, same shape, no-op local activities): %.1f flows/s, update p50 %.1f ms, p99 %.1f ms; one at a time p50 %.1f ms; CPU %.1f s\n",
			ref.FlowsPerSecond, ref.Updates.P50, ref.Updates.P99, ref.OneAtATime.P50, ref.CPUSeconds)
		for _, k := range []string{"tap", "face", "confirm"} {
			e := ref.ByUpdate[k]
			fmt.Fprintf(w, "%-20s %7d %9.1f %9.1f %9.1f %9.1f\n", "reference "+k, e.Count, e.P50, e.P95, e.P99, e.Max)
		}
		fmt.Fprintf(w, "ratio receipts/s to reference flows/s: %.2f\n", r.RatioToReference)
	}
	if len(r.HistoryEvents) > 0 {
		var parts []string
		for k, n := range r.HistoryEvents {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "history events per run: %s\n", strings.Join(parts, "; "))
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "errors: %v\n", r.Errors)
	}
	if p := r.Park; p != nil {
		fmt.Fprintf(w, "parked %d at the face step in %.0f s: RSS %.0f MiB, Temporal's SQLite %.0f MiB, store %.0f MiB; finished %d PAID in %.0f s\n",
			p.Parked, p.ParkSeconds, p.RSSParkedMiB, p.TemporalDBMiB, p.StoreDBMiB, p.Paid, p.FinishSeconds)
	}
}
