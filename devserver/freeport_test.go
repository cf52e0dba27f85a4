package devserver

import (
	"net"
	"strconv"
	"testing"
)

// The embedded server's ports must not come from the range the kernel gives outgoing connections, or a client's
// connection can take one between the probe and the bind (CI's "bind: address already in use").
func TestFreePortIsOutsideTheEphemeralRange(t *testing.T) {
	lo, hi := ephemeralRange()
	seen := map[int]bool{}
	for range 50 {
		port, err := FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if port >= lo && port <= hi {
			t.Fatalf("port %d is in the ephemeral range %d-%d", port, lo, hi)
		}
		if port < listenerPortLow {
			t.Fatalf("port %d is below %d", port, listenerPortLow)
		}
		seen[port] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("port %d was handed out but cannot be bound: %v", port, err)
		}
		_ = l.Close()
	}
	if len(seen) < 10 {
		t.Fatalf("50 calls gave only %d distinct ports; concurrent servers would collide", len(seen))
	}
}
