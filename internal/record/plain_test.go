package record

import (
	"strings"
	"testing"
)

// plainRef is plainBlocks' contract written plainly: the index of the first
// byte that is not safeASCII when a whole 32-byte block from the start
// holds it, else the offset where fewer than 32 bytes are left.
func plainRef(s string) int {
	i := 0
	for ; i+32 <= len(s); i += 32 {
		for j := i; j < i+32; j++ {
			if s[j] >= 0x80 || !safeASCII[s[j]] {
				return j
			}
		}
	}
	return i
}

// TestPlainBlocksEveryByte puts every byte value at every position of
// strings of 0 to 100 bytes (so every place in a block and the tail after
// the blocks) and compares plainBlocks with plainRef. Where the processor
// has no vector version plainBlocks is 0 and appendString's own tests
// cover the rest.
func TestPlainBlocksEveryByte(t *testing.T) {
	if plainBlocks(strings.Repeat("a", 64)) == 0 {
		t.Skip("no vector version on this processor")
	}
	for n := 0; n <= 100; n++ {
		base := []byte(strings.Repeat("a", n))
		if got, want := plainBlocks(string(base)), plainRef(string(base)); got != want && n >= 32 {
			t.Fatalf("len %d all plain: got %d, want %d", n, got, want)
		}
		for pos := range n {
			for c := range 256 {
				b := append([]byte(nil), base...)
				b[pos] = byte(c)
				s := string(b)
				want := plainRef(s)
				if n < 32 {
					want = 0
				}
				if got := plainBlocks(s); got != want {
					t.Fatalf("len %d, byte %#02x at %d: got %d, want %d", n, c, pos, got, want)
				}
			}
		}
	}
}

// TestAppendStringLongMixed runs appendString against its reference over
// long strings with an escape, a control byte or a multi-byte rune at every
// position, so the vector step hands over to the word and byte steps at
// each place in a block.
func TestAppendStringLongMixed(t *testing.T) {
	for _, odd := range []string{`"`, `\`, "\n", "\x01", "\x7f", "é", "\u2028", "\xff"} {
		for n := 32; n <= 80; n++ {
			for pos := 0; pos+len(odd) <= n; pos++ {
				s := strings.Repeat("x", pos) + odd + strings.Repeat("y", n-pos-len(odd))
				checkAppendString(t, s)
			}
		}
	}
}

func BenchmarkAppendStringLong(b *testing.B) {
	s := strings.Repeat("above summary tokens threshold of response and retrieved ", 12)
	dst := make([]byte, 0, 4096)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		dst = appendString(dst[:0], s)
	}
}
