package activities

import (
	"testing"
	"time"
)

// The first retry comes within the configured wait (20 s: within the 30 s merchants are promised), each next up to
// twice as long, never more than an hour, and never less than half of its bound (jitter, not zero).
func TestRetryDelayBackOffWithJitter(t *testing.T) {
	for n, bound := range map[int]time.Duration{1: 20 * time.Second, 2: 40 * time.Second, 3: 80 * time.Second, 8: 2560 * time.Second, 9: time.Hour, 40: time.Hour} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := retryDelay(20*time.Second, n)
			if d < bound/2 || d > bound {
				t.Fatalf("attempt %d: %v outside [%v, %v]", n, d, bound/2, bound)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("attempt %d: %d distinct waits in 200: no jitter", n, len(seen))
		}
	}
	if d := retryDelay(0, 1); d < 10*time.Second || d > 20*time.Second {
		t.Errorf("no configured first retry: %v", d)
	}
}
