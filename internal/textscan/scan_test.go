package textscan

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// blocksRef is the contract of Plain and of asciiAVX2 written plainly: the
// index of the first byte that fails ok when a whole 32-byte block from the
// start holds it, else the offset where fewer than 32 bytes are left.
func blocksRef(s string, ok func(byte) bool) int {
	i := 0
	for ; i+32 <= len(s); i += 32 {
		for j := i; j < i+32; j++ {
			if !ok(s[j]) {
				return j
			}
		}
	}
	return i
}

func isPlain(c byte) bool    { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
func isASCII(c byte) bool    { return c < 0x80 }
func notControl(c byte) bool { return c >= 0x20 }

// everyByte calls f with every byte value at every position of strings of
// 0 to 100 bytes of 'a' (so every place in a block, and the tail after the
// blocks).
func everyByte(f func(s string)) {
	for n := 0; n <= 100; n++ {
		base := []byte(strings.Repeat("a", n))
		f(string(base))
		for pos := range n {
			for c := range 256 {
				b := append([]byte(nil), base...)
				b[pos] = byte(c)
				f(string(b))
			}
		}
	}
}

// TestBlocksEveryByte compares Plain and NoControl with their contract for
// every byte value at every position; without a vector version both must
// be 0.
func TestBlocksEveryByte(t *testing.T) {
	for _, tc := range []struct {
		name string
		scan func(string) int
		ok   func(byte) bool
	}{{"Plain", Plain, isPlain}, {"NoControl", NoControl, notControl}} {
		everyByte(func(s string) {
			want := blocksRef(s, tc.ok)
			if !useAVX2 || len(s) < 32 {
				want = 0
			}
			if got := tc.scan(s); got != want {
				t.Fatalf("%q: %s %d, want %d", s, tc.name, got, want)
			}
		})
	}
}

// TestASCIIEveryByte does the same for the ASCII scan under ValidUTF8.
func TestASCIIEveryByte(t *testing.T) {
	if !useAVX2 {
		t.Skip("no vector version on this processor")
	}
	everyByte(func(s string) {
		if len(s) < 32 {
			return
		}
		if got, want := asciiAVX2(&[]byte(s)[0], len(s)), blocksRef(s, isASCII); got != want {
			t.Fatalf("%q: ascii %d, want %d", s, got, want)
		}
	})
}

// TestValidUTF8 checks ValidUTF8 against the standard library over long
// strings with a multi-byte rune, a broken one or a stray byte at every
// position.
func TestValidUTF8(t *testing.T) {
	for _, odd := range []string{"é", "€", "𝄞", "\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\x80"} {
		for n := 0; n <= 90; n++ {
			for pos := 0; pos+len(odd) <= n; pos++ {
				s := strings.Repeat("x", pos) + odd + strings.Repeat("y", n-pos-len(odd))
				if got, want := ValidUTF8([]byte(s)), utf8.ValidString(s); got != want {
					t.Fatalf("%q: ValidUTF8 %v, want %v", s, got, want)
				}
			}
		}
	}
}

func BenchmarkPlain(b *testing.B) {
	s := strings.Repeat("above summary tokens threshold of response and retrieved ", 12)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if Plain(s) == 0 && useAVX2 {
			b.Fatal("not plain")
		}
	}
}

func BenchmarkValidUTF8(b *testing.B) {
	s := []byte(strings.Repeat("above summary tokens threshold of response and retrieved ", 12))
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if !ValidUTF8(s) {
			b.Fatal("invalid")
		}
	}
}
