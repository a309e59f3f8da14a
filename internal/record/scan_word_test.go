package record

import (
	"math/rand/v2"
	"strings"
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

// ControlFree finds a byte below 0x20 wherever it sits: in a whole 32-byte
// block, in a whole word or in the tail after the last one, for every
// length up to three blocks.
func TestControlFree(t *testing.T) {
	for n := range 100 {
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

// TestStringControlEveryPosition: the scanner refuses a string with a
// control byte wherever it sits (in a vector block, a word or the tail),
// before or after an escape, and takes the same string without it.
func TestStringControlEveryPosition(t *testing.T) {
	for n := 1; n <= 90; n++ {
		for _, esc := range []string{"", `\n`} {
			body := []byte(strings.Repeat("a", n))
			sc := scanner{buf: `"` + esc + string(body) + `"`}
			if _, err := sc.string(); err != nil {
				t.Fatalf("%q: %v", sc.buf, err)
			}
			for pos := range n {
				for _, c := range []byte{0, '\t', 0x1f} {
					body[pos] = c
					sc := scanner{buf: `"` + esc + string(body) + `"`}
					if _, err := sc.string(); err == nil || !strings.Contains(err.Error(), "control character") {
						t.Fatalf("%q: error %v, want a control character", sc.buf, err)
					}
				}
				body[pos] = 'a'
			}
		}
	}
}
