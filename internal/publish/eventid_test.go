package publish

import (
	"strings"
	"testing"
	"time"
)

func TestEventID(t *testing.T) {
	a := EventID("fluentbit-node1/kube.agent", 1795687200123456789, []byte{0x81, 0xa3, 'l', 'o', 'g'})
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" {
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

// TestEventIDPinned pins each front door's scheme for fixed inputs (values
// cross-checked with Python's hashlib, and by the front doors' own pin
// tests through their real code paths).
func TestEventIDPinned(t *testing.T) {
	for name, tc := range map[string]struct{ got, want string }{
		"file":   {LineEventID(FileSource("host", 2049, 1234, 1), 42), "abb2583ca10a1435cd0a0443cc16e758"},
		"http":   {LineEventID(HTTPSource("req-1"), 1), "f2048e4a19bbb3723a66c8262f488da5"},
		"stdin":  {LineEventID(StdinSource("host", "00112233aabb"), 0), "c18f38537759eefc6eb21a732b681af2"},
		"kafka":  {OffsetEventID("agentobs-logs", 3, 7), "909cad925192ef0b1d0cbaaf2f520a94"},
		"source": {FileSource("host", 2049, 1234, 0), "host|2049:1234|0"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %s, want %s", name, tc.got, tc.want)
		}
	}
	if a, b := HTTPSource(""), HTTPSource(""); a == b || !strings.HasPrefix(a, "http|random:") {
		t.Errorf("requests without a key must get distinct random sources: %q %q", a, b)
	}
}

func TestChunkIDs(t *testing.T) {
	var c ChunkIDs
	ts := time.Unix(0, 1795687200123456789)
	a1, a2, b := c.Next("s/t", ts, []byte("a")), c.Next("s/t", ts, []byte("a")), c.Next("s/t", ts, []byte("b"))
	if a1 == a2 || a1 == b || a2 == b {
		t.Errorf("ids collide: %s %s %s", a1, a2, b)
	}
	if want := EventID("s/t", uint64(ts.UnixNano()), []byte{'a', 0, 0, 0, 0, 0, 0, 0, 1}); a2 != want {
		t.Errorf("second occurrence %s, want %s", a2, want)
	}
	c.Reset()
	if again := c.Next("s/t", ts, []byte("a")); again != a1 {
		t.Errorf("after Reset the first occurrence is %s, want %s", again, a1)
	}
}

// TestChunkIDsInChunk: the allocation-free ids are Next's ids, and every id
// handed out in a chunk keeps its bytes until Reset, also when the chunk
// outgrows the ids' memory.
func TestChunkIDsInChunk(t *testing.T) {
	var plain, inChunk ChunkIDs
	ts := time.Unix(0, 1795687200123456789)
	for round := range 2 {
		var want, got []string
		for i := range 300 {
			raw := []byte{byte(i % 7)} // repeats: occurrence indexes > 0
			want = append(want, plain.Next("s/t", ts, raw))
			got = append(got, inChunk.NextInChunk("s/t", ts, raw))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("round %d, id %d: %s, want %s", round, i, got[i], want[i])
			}
		}
		plain.Reset()
		inChunk.Reset()
	}
}

// TestLineIDs: LineIDs.Next gives LineEventID's id for every source and
// position (long sources included, past its first buffer), without an
// allocation once its buffer is grown; each id is valid until the next.
func TestLineIDs(t *testing.T) {
	var ids LineIDs
	for i, source := range []string{"host|2049:1234|1", "h", strings.Repeat("long-host|", 40) + "9:9|0", FileSource("host", 2049, 1234, 1)} {
		for _, pos := range []int64{0, 1, 42, 1 << 40, int64(i) * 1000003} {
			if got, want := ids.Next(source, pos), LineEventID(source, pos); got != want {
				t.Fatalf("(%q, %d): %s, want %s", source, pos, got, want)
			}
		}
	}
	if got := ids.Next(FileSource("host", 2049, 1234, 1), 42); got != "abb2583ca10a1435cd0a0443cc16e758" {
		t.Errorf("pinned id: %s", got)
	}
	if n := testing.AllocsPerRun(100, func() { ids.Next("host|2049:1234|1", 4242) }); n != 0 {
		t.Errorf("%.0f allocations per id, want 0", n)
	}
}
