package record

import "testing"

func TestEventID(t *testing.T) {
	a := EventID("fluentbit-node1/kube.agent", 1795687200123456789, []byte{0x81, 0xa3, 'l', 'o', 'g'})
	if len(a) != 32 || !isLowerHex(a) {
		t.Fatalf("not 32 lowercase hex: %q", a)
	}
	if a != EventID("fluentbit-node1/kube.agent", 1795687200123456789, []byte{0x81, 0xa3, 'l', 'o', 'g'}) {
		t.Error("not deterministic")
	}
	// Pinned so the id never changes silently between releases: a change
	// would duplicate every record replayed across an upgrade.
	// Cross-checked with Python's hashlib.
	if got := EventID("host|2049:1234|0", 42, nil); got != "b87543c1d4ca71d471d1937c0b613ffc" {
		t.Errorf("EventID changed: %s", got)
	}
	distinct := map[string]string{}
	for name, id := range map[string]string{
		"base":             EventID("ab", 1, []byte("c")),
		"shifted boundary": EventID("a", 1, []byte("bc")),
		"other position":   EventID("ab", 2, []byte("c")),
		"other source":     EventID("ab2", 1, []byte("c")),
		"nil content":      EventID("ab", 1, nil),
		"empty source":     EventID("", 1, []byte("abc")),
	} {
		if prev, dup := distinct[id]; dup {
			t.Errorf("%s and %s share id %s", name, prev, id)
		}
		distinct[id] = name
	}
}
