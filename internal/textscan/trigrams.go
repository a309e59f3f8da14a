package textscan

import (
	"bytes"
	"slices"
	"unsafe"
)

// Trigrams is a prefilter for a set of literals of at least three bytes,
// ASCII case ignored: it finds the positions of a string where one of the
// literals' first three bytes may start, 32 positions a step. Each literal
// puts its three bytes, folded with |0x20 (an ASCII letter of either case
// to its lower case, other bytes to some byte), in one of eight buckets,
// and a position passes when its three bytes so folded are each in some
// literal's place in a common bucket: a byte is looked up by its two
// halves in two 16-entry tables per place (the "Teddy" scheme of
// Hyperscan). It may pass positions where no literal starts (the caller
// checks each exactly), never miss one.
type Trigrams struct {
	// t[2k][n] (lo) has bit b when a literal of bucket b has a byte at place k
	// whose low half (folded) is n, t[2k+1][n] (hi) for the high half. Each
	// 16-entry table is written twice: the vector shuffle works on the two
	// 16-byte halves of its 32-byte register alike.
	t [6][32]byte // lo0, hi0, lo1, hi1, lo2, hi2
}

// NewTrigrams builds the prefilter of lits (each at least three bytes;
// shorter ones are left out, and the caller must look for them itself).
// The trigrams are dealt to the buckets in turn, sorted, so those with the
// same first byte land in different buckets: a bucket's tables mix the
// bytes of all its trigrams, and trigrams alike in their first byte but
// not in the others would pass many mixtures of them.
func NewTrigrams(lits []string) *Trigrams {
	var gs [][3]byte
	for _, l := range lits {
		if len(l) < 3 {
			continue
		}
		if g := [3]byte{l[0] | 0x20, l[1] | 0x20, l[2] | 0x20}; !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	slices.SortFunc(gs, func(a, b [3]byte) int { return bytes.Compare(a[:], b[:]) })
	t := new(Trigrams)
	for i, g := range gs {
		b := byte(1) << (i % 8)
		for k, c := range g {
			for half := range 2 {
				t.t[2*k][c&15+byte(16*half)] |= b
				t.t[2*k+1][c>>4+byte(16*half)] |= b
			}
		}
	}
	return t
}

// Scans reports whether Next looks at strings of n bytes (a vector
// version is there and n >= 34); otherwise the caller scans s itself.
func Scans(n int) bool { return useAVX2 && n >= 34 }

// Next looks at the positions of s from from on, 32 at a time while 34
// bytes are left from the first of them, and returns the first position at
// which a literal may start (see Trigrams) and true, or, when none of them
// passes, the first position it did not look at and false; the caller
// checks the positions from there on itself. With fewer than 34 bytes
// left, or no vector version, it looks at none (from, false).
func (t *Trigrams) Next(s string, from int) (int, bool) {
	n := len(s) - from
	if !Scans(n) {
		return from, false
	}
	end := from + ((n-34)/32+1)*32 // the blocks' end
	i := from + trigramsAVX2(unsafe.StringData(s[from:]), n, &t.t)
	return i, i < end
}
