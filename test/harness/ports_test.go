package harness

import "testing"

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
