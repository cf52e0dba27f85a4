package main

import (
	"io"
	"testing"
	"time"
)

func TestChaosFlags(t *testing.T) {
	o, err := parseChaosFlags([]string{"--seed", "7", "--orders", "12", "--kills", "0"}, io.Discard)
	if err != nil || o.Seed != 7 || o.Orders != 12 || o.Kills != 0 || o.Faults != 0.2 || o.Concurrency != 6 || o.CheckEvery != 10*time.Second || o.KillEvery != 0 {
		t.Fatalf("%+v %v", o, err)
	}
	if o, err := parseChaosFlags([]string{"--kill-every", "10s", "--check-every", "3s", "--topology", "/tmp/topo", "--duration", "5m"}, io.Discard); err != nil ||
		o.Duration != 5*time.Minute || o.KillEvery != 10*time.Second || o.CheckEvery != 3*time.Second || o.Topology != "/tmp/topo" {
		t.Fatalf("--kill-every: %+v %v", o, err)
	}
	// No seed: a random one, which the run prints so that it can be run again.
	if o, err := parseChaosFlags(nil, io.Discard); err != nil || o.Seed == 0 {
		t.Fatalf("a random seed: %+v %v", o, err)
	}
	for _, bad := range [][]string{{"--orders", "0"}, {"--kills", "-1"}, {"--faults", "0.9"}, {"--kill-every", "1s"}, {"--check-every", "0s"}, {"--duration", "-1s"}, {"--port", "1"}, {"extra"}} {
		if _, err := parseChaosFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
