package record

import (
	"math/rand/v2"
	"testing"
)

// hasControl must agree with its definition, byte by byte, on every word:
// random ones and each byte value in each position.
func TestHasControlIsSomeByteBelow0x20(t *testing.T) {
	def := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 {
				return true
			}
		}
		return false
	}
	check := func(b []byte) {
		s := string(b)
		if got, want := hasControl(load8(s, 0)), def(s); got != want {
			t.Fatalf("hasControl(% x) = %v, want %v", b, got, want)
		}
	}
	for pos := range 8 {
		for v := range 256 {
			b := []byte("abcdefgh")
			b[pos] = byte(v)
			check(b)
			for i := range b { // the same byte among high bytes, which borrow differently
				if i != pos {
					b[i] = 0xff
				}
			}
			check(b)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var b [8]byte
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		check(b[:])
	}
}

// ControlFree finds a byte below 0x20 wherever it sits: in a whole word
// or in the tail after the last one, for every length up to three words.
func TestControlFree(t *testing.T) {
	for n := range 25 {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a' + byte(i%26)
		}
		if !ControlFree(b) {
			t.Fatalf("ControlFree(%q) = false", b)
		}
		for pos := range n {
			for _, c := range []byte{0, '\t', 0x1f} {
				b[pos] = c
				if ControlFree(b) {
					t.Fatalf("ControlFree(% x) = true", b)
				}
			}
			b[pos] = 0x20
		}
	}
}
