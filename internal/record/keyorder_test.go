package record

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestEncoderKeyOrder: an Encoder that remembers key orders writes what
// Record.AppendJSON writes, for recurring sets, sets whose signatures
// collide, more sets than it remembers, keys that need escaping or renaming,
// and keys whose memory is reused after the record was encoded.
func TestEncoderKeyOrder(t *testing.T) {
	sets := [][]string{
		{"a", "b", "c"},
		{"aXbc", "z"}, {"aYbc", "z"}, // equal signatures, different sets
		{"aXbc"}, {"aYbc"},
		{"service", "trace_id", "message", "agentobs.producer.seq"},    // typed-key conflict renamed
		{"quo\"te", "tab\tkey", "caf\u00e9", "bad\xffkey", "trace.id"}, // keys the remembered heads must escape
		{"k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11", "k12", "k13", "k14", "k15", "k16", "k17"},
	}
	for i := range 30 { // more distinct sets than the Encoder keeps
		sets = append(sets, []string{"x", string(rune('a' + i)), "y"})
	}
	var e Encoder
	rng := rand.New(rand.NewPCG(5, 6))
	keyMem := make([]byte, 0, 1024)
	for n := range 5000 {
		set := sets[rng.IntN(len(sets))]
		r := Record{Message: "m", Fields: map[string]any{}}
		keyMem = keyMem[:0]
		for i, k := range set {
			// Keys alias memory that is overwritten once the record is
			// encoded, as the plugin's keys alias the chunk.
			start := len(keyMem)
			keyMem = append(keyMem, k...)
			r.Fields[unsafe.String(&keyMem[start], len(k))] = i
		}
		if n%7 == 0 {
			r.Fields = map[string]any{}
		}
		want := r.AppendJSON(nil)
		got := e.AppendJSON([]byte("prefix"), &r)
		if !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("record %d: %s, want %s", n, got, want)
		}
		clear(r.Fields)
		for i := range keyMem {
			keyMem[i] = '?'
		}
	}
}
