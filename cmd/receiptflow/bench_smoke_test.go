package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// A short bench run: a few receipts of every kind through the real stack end PAID, and the JSON has every field the
// README's performance section reads. Speeds are not asserted here; they belong to the benchmark itself.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second embedded Temporal server")
	}
	dir := t.TempDir()
	out, plot := filepath.Join(dir, "bench.json"), filepath.Join(dir, "bench.svg")
	cpu, refCPU := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "ref.prof")
	var stdout, stderr bytes.Buffer
	err := runBench(context.Background(), []string{"--count", "4", "--concurrency", "2", "--mix", "0.5", "--channel", "wechatpay",
		"--data-dir", filepath.Join(dir, "data"), "--out", out, "--plot", plot, "--rounds", "2",
		"--cpuprofile", cpu, "--reference-cpuprofile", refCPU}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"receipts", "failed", "seconds", "receiptsPerSecond", "ratioToReference", "endpoints", "errors",
		"historyEvents", "rssMiB", "cpuSeconds", "reference", "options"} {
		if _, ok := res[field]; !ok {
			t.Errorf("JSON has no %q: %s", field, raw)
		}
	}
	if res["receipts"] != 4.0 || res["failed"] != 0.0 {
		t.Fatalf("receipts %v, failed %v: %s", res["receipts"], res["failed"], stderr.String())
	}
	endpoints, _ := res["endpoints"].(map[string]any)
	for _, e := range []string{"session", "tap", "face/session", "face/result", "confirm", "transfer/confirmed"} {
		ep, _ := endpoints[e].(map[string]any)
		if ep == nil || ep["count"].(float64) < 1 || ep["p50Ms"].(float64) <= 0 {
			t.Errorf("endpoint %s: %v", e, ep)
		}
	}
	history, _ := res["historyEvents"].(map[string]any)
	if history["face, wechatpay"] == nil || history["low risk, wechatpay"] == nil {
		t.Errorf("history events per branch: %v", history)
	}
	// The reference took its turns: as many flows as receipts, in the rounds asked for; each side's turns are
	// merged into one profile.
	if ref, _ := res["reference"].(map[string]any); ref["flows"] != 4.0 || ref["rounds"] != 2.0 {
		t.Errorf("reference: %v", ref)
	}
	for _, name := range []string{cpu, refCPU} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := profile.Parse(f)
		f.Close()
		if err != nil || len(p.Sample) == 0 {
			t.Errorf("profile %s: %v", name, err)
		}
	}
	svg, err := os.ReadFile(plot)
	if err != nil || !strings.Contains(string(svg), "<path") || !strings.Contains(string(svg), "face/result") {
		t.Errorf("plot: %v %.200s", err, svg)
	}
	if !strings.Contains(stdout.String(), "receipts PAID") {
		t.Errorf("table: %s", stdout.String())
	}
}
