package textscan

import (
	"math/rand/v2"
	"strings"
	"testing"
)

var testLits = []string{"authorization", "bearer", "eyj", "sk-", "sk_", "rk_", "akia", "asia", "ghp_", "gho_", "github_pat_",
	"xox", "private key", "://", "password=", "pwd=", "secret=", "token=", "api_key=", "apikey=", "api-key=", `password"`, `token"`}

// nextRef is Next's contract written plainly, with the same tables.
func nextRef(t *Trigrams, s string, from int) (int, bool) {
	n := len(s) - from
	end := from + ((n-34)/32+1)*32
	for i := from; i < end; i++ {
		if t.pass(s, i) {
			return i, true
		}
	}
	return end, false
}

// TestTrigramsNext holds the vector scan to its contract on random strings
// over an alphabet dense in the literals' bytes, both cases, from every
// start; and holds the tables to never missing a literal: every literal,
// in any case, at every position of a long string, passes there.
func TestTrigramsNext(t *testing.T) {
	if !useAVX2 {
		t.Skip("no vector version on this processor")
	}
	tg := NewTrigrams(testLits)
	const alphabet = "abegiknoprstwxyzABEGKPRSTXYZ:/-_=\" \xc3\xa9\x00\xff\x7f\x5f"
	rng := rand.New(rand.NewPCG(1, 2))
	var b []byte
	for range 20000 {
		b = b[:0]
		for range 34 + rng.IntN(90) {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		s := string(b)
		for from := 0; Scans(len(s) - from); from++ {
			gi, gok := tg.Next(s, from)
			wi, wok := nextRef(tg, s, from)
			if gi != wi || gok != wok {
				t.Fatalf("Next(%q, %d) = %d, %v; want %d, %v", s, from, gi, gok, wi, wok)
			}
		}
	}
	for _, l := range testLits {
		for _, v := range []string{l, strings.ToUpper(l)} {
			for pos := 0; pos < 70; pos++ {
				s := strings.Repeat(".", pos) + v + strings.Repeat(".", 40)
				found := false
				for from := 0; Scans(len(s)-from) && !found; {
					i, ok := tg.Next(s, from)
					if !ok {
						break
					}
					found, from = i == pos, i+1
				}
				if !found && pos <= len(s)-34 {
					t.Fatalf("%q at %d not found", v, pos)
				}
			}
		}
	}
}

// BenchmarkTrigrams: the prefilter over 684 bytes of prose.
func BenchmarkTrigrams(b *testing.B) {
	s := strings.Repeat("above summary tokens threshold of response and retrieved ", 12)
	tg := NewTrigrams(testLits)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		for from := 0; Scans(len(s) - from); {
			i, ok := tg.Next(s, from)
			if !ok {
				break
			}
			from = i + 1
		}
	}
}

// pass reports whether the three bytes at s[i:] pass the tables: Next's
// test for one position.
func (t *Trigrams) pass(s string, i int) bool {
	m := byte(0xff)
	for k := range 3 {
		c := s[i+k] | 0x20
		m &= t.t[2*k][c&15] & t.t[2*k+1][c>>4]
	}
	return m != 0
}
