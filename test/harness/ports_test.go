package harness

import (
	"fmt"
	"net"
	"testing"
)

// TestFreePortNeverRepeats: a test that asks for two ports (Fluent Bit's
// HTTP server and its plugin's metrics listener) must get two, though the
// kernel may hand a just-closed port to the next bind of port 0.
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 3000; i++ {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("call %d returned port %d again", i, p)
		}
		seen[p] = true
	}
	ports, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("freePorts returned port %d, handed out before", p)
		}
	}
}

// TestFreePortRangeIsConsecutiveAndReserved: a rig that numbers ports from
// a base gets n free ones in a row that FreePort never hands out after.
func TestFreePortRangeIsConsecutiveAndReserved(t *testing.T) {
	base, err := FreePortRange(3)
	if err != nil {
		t.Fatal(err)
	}
	for p := base; p < base+3; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d of the range not free: %v", p, err)
		}
		l.Close()
	}
	for range 3000 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if p >= base && p < base+3 {
			t.Fatalf("FreePort handed out %d, in the range from %d", p, base)
		}
	}
}
