package main

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/internal/bench"
)

// BenchmarkLowRiskReceipt runs whole low-risk receipts through HTTP on the embedded server — tap (update-with-
// start), confirm (update), payout through the ledger — and reports the updates' latency. Run with
// `go test ./cmd/receiptflow -run ^$ -bench LowRisk`; -cpu sets how many payees tap at once.
func BenchmarkLowRiskReceipt(b *testing.B) {
	e := newEnv(b, perPayment)
	type payee struct{ order, token string }
	payees := make([]payee, b.N)
	for i := range payees {
		openid := fmt.Sprintf("o_bench_%d", i)
		payees[i] = payee{e.payee(openid, "李四", bench.IDNumber(i), 150000), e.login(openid)}
	}
	var mu sync.Mutex
	var latencies []time.Duration
	next := 0
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			p := payees[next]
			next++
			mu.Unlock()
			for _, path := range []string{"/v1/receipts/" + p.order, "/v1/receipts/" + p.order + "/confirm"} {
				start := time.Now()
				if r := e.call(http.MethodPost, path, p.token, nil, nil); r.status != http.StatusOK {
					b.Errorf("%s: %d %s", path, r.status, r.body)
					return
				}
				mu.Lock()
				latencies = append(latencies, time.Since(start))
				mu.Unlock()
			}
		}
	})
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if n := len(latencies); n > 0 {
		b.ReportMetric(float64(latencies[n/2].Microseconds())/1000, "update-p50-ms")
		b.ReportMetric(float64(latencies[n*99/100].Microseconds())/1000, "update-p99-ms")
	}
}
